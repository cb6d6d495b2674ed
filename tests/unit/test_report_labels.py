"""Reader-facing labels, number formats and the polished report blocks.

Expected texts are written by hand from the inputs given here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from exomir.report.consort_figure import consort_svg
from exomir.report.context import ReportContext
from exomir.report.labels import (
    consort_label,
    fmt_ci,
    fmt_num,
    fmt_p,
    param_label,
    pathway_label,
    pool_reasons,
    split_reasons,
    ucum,
)
from exomir.report.model import Section, Table, Text
from exomir.report.sections.baseline import baseline_row_label
from exomir.report.sections.interim import alpha_convention
from exomir.report.sections.pathways import pathways, sign_note
from exomir.report.sections.primary import tipping_text


@pytest.mark.parametrize(
    ("unit", "shown"),
    [("mm[Hg]", "mmHg"), ("10*9/L", "×10⁹/L"), ("1", ""), ("g/dL", "g/dL")],
)
def test_ucum_units_as_written_by_readers(unit, shown):
    assert ucum(unit) == shown


def test_param_and_participant_labels():
    cfg = {
        "clinical_parameters": {"DIABP": {"label": "Diastolic BP", "unit": "mm[Hg]"}}
    }
    assert param_label("DIABP", cfg) == "Diastolic BP (mmHg)"
    assert param_label("age_years", cfg) == "Age (years)"
    assert baseline_row_label("pe_early_onset", "true", cfg) == (
        "Pre-eclampsia",
        "Early-onset PE",
    )
    assert baseline_row_label("DIABP", "", cfg) == (
        "Baseline labs and vitals",
        "Diastolic BP (mmHg)",
    )


def test_pathway_and_consort_labels():
    assert pathway_label("WP4172") == "PI3K-Akt signalling (WikiPathways WP4172)"
    assert pathway_label("WP382") == "MAPK signalling (WP382)"
    assert (
        pathway_label("HALLMARK_PI3K_AKT_MTOR_SIGNALING")
        == "PI3K-Akt-mTOR signalling (Hallmark)"
    )
    assert (
        pathway_label("REACTOME_MAPK_FAMILY_SIGNALING_CASCADES")
        == "MAPK family signalling cascades (Reactome)"
    )
    assert consort_label("assessed_for_eligibility") == "Assessed for eligibility"
    assert consort_label("allocated", "exosome") == "Allocated to exosome"
    assert consort_label("allocated") == "Allocated"
    assert consort_label("analysed_mitt") == "Analysed (mITT)"


def test_number_formats():
    assert fmt_num(0.672707) == "0.673"
    assert fmt_num(1538.7) == "1539"
    assert fmt_num(3.298e11) == "3.3e+11"
    assert fmt_p(0.00012) == "< 0.001"
    # same decimals for estimate and bounds: 3 significant digits of the
    # largest absolute value (1.45 -> 2 decimals)
    assert fmt_ci(0.256772, -0.934566, 1.44811) == "0.26 (-0.93 to 1.45)"
    assert fmt_ci(0.7712, -1.46, 3.0) == "0.77 (-1.46 to 3.00)"
    assert fmt_ci(-8.7654, -12.1, -3.2) == "-8.8 (-12.1 to -3.2)"
    assert fmt_ci(0.792, 0.70, 0.89) == "0.792 (0.700 to 0.890)"
    # a small estimate next to a large bound keeps 2 significant digits
    assert fmt_ci(0.012, -0.5, 3.1) == "0.012 (-0.500 to 3.100)"
    assert fmt_ci("", "", "") == ""


def test_reasons_split_and_pooled():
    cell = "raw reads 5,180 < 20,000 (gate a); mirna reads 1,841 < 2,000 (gate b): 1; no library: 1"
    assert split_reasons(cell) == [
        "raw reads 5,180 < 20,000 (gate a); mirna reads 1,841 < 2,000 (gate b): 1",
        "no library: 1",
    ]
    assert pool_reasons(["IV: 11; IM: 2", "IV: 11"]) == "IV: 22; IM: 2"


def test_consort_boxes_wrap_their_text():
    long = "sequencing analysed at all timepoints and then some more words"
    svg = consort_svg(
        [("Assessed for eligibility", "30", "")],
        {"a": [(long, "11", "x: 1; " + "y" * 120 + ": 2")]},
        box_w=300,
    )
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    # 300 px box: at most (300 - 16) / 7.6 = 37 title characters per line
    assert all(len(t) <= 45 for t in texts), texts
    heights = [int(h) for h in re.findall(r'height="(\d+)" rx', svg)]
    assert max(heights) > min(heights)  # the long box grew


def _ctx(root: Path, files: dict[str, pd.DataFrame], cfg: dict | None = None):
    for rel, df in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(root / rel, sep="\t", index=False)
    base = {"design": {"arms": ["placebo", "exosome"]}, "trial": {}}
    return ReportContext(root=root, config={**base, **(cfg or {})}, audience="closed")


def test_sign_note_reads_the_signed_weight(tmp_path):
    net = pd.DataFrame(
        {
            "pathway": ["WP4172"],
            "mirna": ["hsa-miR-126-3p"],
            "n_targets_in_pathway": [3],
            "n_targets_total": [9],
            "weight": [1.0],
            "signed_weight": [1 / 3],
            "n_negative_regulators": [1],
            "targets": ["AKT1;PIK3R2;KRAS"],
        }
    )
    ctx = _ctx(tmp_path, {})
    text = sign_note(ctx, net, "hsa-miR-126-3p")
    assert "signed weight 0.333 (unsigned 1)" in text
    assert "positive in 1 of 1 pathways" in text
    assert "PIK3R2" in text  # the listed brake, from the shipped roles file
    assert "encode that direction" not in text


def _grid(ps: list[float]) -> pd.DataFrame:
    rows = [
        {
            "row_type": "grid",
            "delta_log2": 0.5 * i,
            "imputations": 50,
            "estimate_log2": 0.5,
            "ci_low_log2": -0.1,
            "ci_high_log2": 1.1,
            "pvalue": p,
        }
        for i, p in enumerate(ps)
    ]
    return pd.DataFrame(rows)


def test_tipping_point_in_words(tmp_path):
    res = pd.DataFrame({"analysis": ["primary_ancova"], "note": [""]})
    rel = "results/primary/tipping_point.tsv"
    ctx = _ctx(tmp_path, {rel: _grid([0.2, 0.09, 0.04, 0.01])})
    text = tipping_text(ctx, res)
    assert "p falls below 0.05 at delta = 1 log2 (p = 0.04)" in text
    ctx = _ctx(tmp_path, {rel: _grid([0.4, 0.3, 0.2])})
    text = tipping_text(ctx, res)
    assert "no tipping point within the searched range" in text
    assert "smallest p 0.2 at delta = 1" in text


def test_pathway_tables_are_compact(tmp_path):
    rows = []
    for pw in ("WP4172", "WP382", "HALLMARK_X"):
        for method in ("waggr", "ulm"):
            rows.append(
                dict(
                    pathway=pw,
                    method=method,
                    analysis="ancova",
                    contrast="exosome-placebo@week1",
                    estimate=0.256772,
                    ci_low=-0.934566,
                    ci_high=1.44811,
                    statistic=0.42,
                    p_value=0.672707,
                    p_adjusted=1,
                    adjustment="holm",
                    n=18,
                    note="x" * 300,
                )
            )
            rows.append(
                {**rows[-1], "analysis": "contrast_enrichment", "contrast": "c1"}
            )
    ctx = _ctx(
        tmp_path,
        {"results/pathways/tests.tsv": pd.DataFrame(rows)},
        {"pathways": {"primary": ["WP4172", "WP382"]}},
    )
    sec = pathways(ctx, Section("pathways", 8, "Pathways"))
    tables = [b for b in sec.blocks if isinstance(b, Table)]
    compact = tables[0].data
    assert list(compact["pathway"].unique()) == [
        "PI3K-Akt signalling (WikiPathways WP4172)",
        "MAPK signalling (WP382)",
    ]
    assert list(compact["method"])[:2] == [
        "weighted aggregate (waggr), primary",
        "univariate linear model (ulm), sensitivity",
    ]
    assert compact["estimate (95% CI)"].iloc[0] == "0.26 (-0.93 to 1.45)"
    assert compact["contrast"].iloc[0] == "exosome vs placebo at week 1"
    assert compact["p"].iloc[0] == "0.673"
    enrich = tables[1].data
    assert len(enrich) == 3 and list(enrich.columns) == ["pathway", "c1"]
    full = tables[-1]
    # model warnings are shown whole (wrapped by the wide table), not cut
    assert full.collapsed and full.wide
    assert full.data["note"].str.len().max() == 300
    assert "weighted aggregate (waggr)" in set(full.data["method"])
    assert "HALLMARK_X" not in set(full.data["pathway"])
    assert "X (Hallmark)" in set(full.data["pathway"])
    assert "exosome vs placebo at week 1" in set(full.data["contrast"])
    assert not any(isinstance(b, Text) and "encode" in b.text for b in sec.blocks)


def test_alpha_convention_is_stated():
    assert "alpha_split = total" in alpha_convention({})
    assert "2.772" in alpha_convention({})
    text = alpha_convention({"interim": {"alpha_split": "per_side"}})
    assert "alpha/2 = 0.025 per side" in text and "2.963" in text
