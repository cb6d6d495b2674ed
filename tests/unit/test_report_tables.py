"""Reader items of the report tables and figures (issue 19, branch h19-tables).

Expected values are computed here independently (numpy on the fixture's
inputs) or written by hand; the report code is only asked for its output.
"""

from __future__ import annotations

import base64
import html as htmllib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _report_fixture import build_tree

from exomir.clinical.baseline import baseline_table, geo_mean_gsd
from exomir.clinical.settings import ClinicalSettings, ParamSpec
from exomir.report import figures
from exomir.report.builder import build_report, format_cell
from exomir.report.consort_figure import consort_svg
from exomir.report.context import ReportContext
from exomir.report.labels import (
    better_direction,
    contrast_label,
    method_label,
    param_label,
    yes_no,
)
from exomir.report.model import Section, Table, Text
from exomir.report.sections.baseline import baseline
from exomir.report.sections.clinical import clinical, favours_labels
from exomir.report.sections.mirnaome import mirnaome


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("tables")
    return root, build_tree(root, hostile=False)


def _ctx(tree, audience: str) -> ReportContext:
    root, cfg = tree
    return ReportContext(root=root, config=cfg, audience=audience)


def _tables(sec: Section) -> list[Table]:
    return [b for b in sec.blocks if isinstance(b, Table)]


def _svg_text(uri: str) -> str:
    """Text of an SVG data URI (fonttype none keeps labels as text)."""
    head, data = uri.split(",", 1)
    assert head == "data:image/svg+xml;base64"
    return htmllib.unescape(base64.b64decode(data).decode("utf-8"))


# ---------------------------------------------------------------- baseline


def test_geometric_mean_of_log_analysed_variable_matches_numpy():
    x = pd.Series([12.0, 30.0, 55.0, 8.0, np.nan])
    logs = np.log(np.array([12.0, 30.0, 55.0, 8.0]))
    gm, gsd = np.exp(logs.mean()), np.exp(logs.std(ddof=1))
    assert geo_mean_gsd(x) == f"{gm:.1f} (×/÷ {gsd:.2f})"
    # by hand: the 4th root of the product 12 * 30 * 55 * 8 = 158400 is 19.95
    assert geo_mean_gsd(x).startswith(f"{158400**0.25:.1f} (")


def test_baseline_table_uses_geometric_mean_for_log_parameters():
    """UPCR (transform log) gets the geometric mean, SYSBP the mean (SD)."""
    par = pd.DataFrame(
        {"participant_id": ["P1", "P2", "P3", "P4"], "arm": ["a", "b", "a", "b"]}
    )
    ds = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4"] * 2,
            "param": ["UPCR"] * 4 + ["SYSBP"] * 4,
            "bl": [10.0, 40.0, 90.0, np.nan, 150.0, 160.0, 140.0, 170.0],
            "bl_cat": "",
        }
    )
    st = ClinicalSettings(
        arm="b",
        reference_arm="a",
        baseline_visit="baseline",
        followup_visit="week1",
        params={
            "UPCR": ParamSpec(
                "UPCR", "UPCR", "UR", "mg/mmol", "continuous", "ancova", "log"
            ),
            "SYSBP": ParamSpec("SYSBP", "SBP", "VS", "mm[Hg]", "continuous", "ancova"),
        },
    )
    bt = baseline_table(par, ds, st).set_index(["variable", "arm"])
    row = bt.loc[("UPCR", "all")]
    gm = np.exp(np.log([10.0, 40.0, 90.0]).mean())  # 33.02
    assert row["n"] == 3  # participants with a value, not the arm size
    assert row["statistic"] == "geometric mean (×/÷ GSD)"
    assert row["summary"].startswith(f"{gm:.1f} ")
    sbp = bt.loc[("SYSBP", "all")]
    assert sbp["statistic"] == "mean (SD)"
    assert sbp["summary"] == f"155 ({np.std([150, 160, 140, 170], ddof=1):.0f})"


def test_report_baseline_has_n_per_row_and_one_mirna_summary(tree):
    root, _ = tree
    sec = baseline(_ctx(tree, "closed"), Section("baseline", 3, "Baseline"))
    tab = _tables(sec)[0].data.set_index("characteristic")
    upcr = tab.loc["Urine protein/creatinine ratio (mg/mmol)"]
    assert upcr["statistic"] == "geometric mean (×/÷ GSD)"
    assert (upcr["placebo n"], upcr["exosome n"], upcr["all participants n"]) == (
        "3",
        "2",
        "5",
    )
    # one miR-126-3p row, on the primary ANCOVA's scale, computed here with numpy
    mir = [r for r in tab.index if "miR-126" in r]
    assert mir == ["hsa-miR-126-3p (log2 normalised count, primary-analysis scale)"]
    vals = pd.read_csv(root / "results/primary/mir126_values.tsv", sep="\t")
    y = vals["y_baseline"].to_numpy()
    expect = f"{y.mean():.2f} ({y.std(ddof=1):.2f})"
    assert tab.loc[mir[0], "all participants (N = 6)"] == expect
    ex = vals[vals["arm"] == "exosome"]["y_baseline"].to_numpy()
    assert (
        tab.loc[mir[0], "exosome (N = 3)"] == f"{ex.mean():.2f} ({ex.std(ddof=1):.2f})"
    )
    assert "11.11 (0.5)" not in tab.to_string()  # the VST row is not shown
    # open report: pooled, same single row and n column
    sec = baseline(_ctx(tree, "open"), Section("baseline", 3, "Baseline"))
    pooled = _tables(sec)[0].data.set_index("characteristic")
    assert pooled.loc[mir[0], "all participants (N = 6)"] == expect
    assert pooled.loc["Urine protein/creatinine ratio (mg/mmol)", "n"] == "5"


# ------------------------------------------------------ secondary endpoints


def test_endpoints_show_mean_changes_blinding_and_multiplicity(tree):
    sec = clinical(_ctx(tree, "closed"), Section("clinical", 9, "Clinical"))
    tab = next(t for t in _tables(sec) if t.title.startswith("Endpoint results"))
    df = tab.data.set_index("endpoint")
    sbp = df.loc["Systolic blood pressure (mmHg)"]
    # both arms of a row with the same decimals (3 digits of the largest, 15.25)
    assert sbp["mean change (SD), exosome"] == "-15.2 (6.5)"
    assert sbp["mean change (SD), placebo"] == "-6.5 (5.2)"
    # odds ratio: 2 decimals at least, the same for the bounds
    assert df.loc["Lower-limb edema", "estimate (95% CI)"] == "0.50 (0.10 to 2.50)"
    assert sbp["estimate (95% CI)"] == "-8.8 (-12.1 to -3.2)"
    assert df.loc["Lower-limb edema", "assessor blinding"] == (
        "0% blinded; AT RISK of detection bias"
    )
    assert "3 p-values of the secondary endpoints are nominal" in tab.note
    assert "2 did" in tab.note  # p = 0.004 and p = 0.036 below 0.05
    warn = [b.text for b in sec.blocks if isinstance(b, Text) and b.kind == "warn"]
    assert any("Lower-limb edema: at risk" in w for w in warn)


def test_forest_plots_carry_favours_labels(tree):
    ctx = _ctx(tree, "closed")
    # blood pressure and edema: lower is better -> favours the arm that is lower
    assert favours_labels(ctx, ["SYSBP", "EDEMA_LE"]) == (
        "favours exosome",
        "favours placebo",
    )
    # haemoglobin: no known direction -> by arm
    assert favours_labels(ctx, ["SYSBP", "HGB"]) == (
        "higher in placebo",
        "higher in exosome",
    )
    sec = clinical(ctx, Section("clinical", 9, "Clinical"))
    forests = [b for b in sec.blocks if getattr(b, "alt", "") == "forest plot"]
    texts = [_svg_text(f.uri) for f in forests]
    assert any("favours exosome" in t and "favours placebo" in t for t in texts)
    assert any("higher in placebo" in t and "higher in exosome" in t for t in texts)


def test_better_direction_from_config_wins():
    cfg = {"clinical_parameters": {"PLAT": {"better": "higher"}}}
    assert better_direction("PLAT", cfg) == "higher"
    assert better_direction("PLAT", {}) is None
    assert better_direction("EDEMA_FACE", {}) == "lower"
    # the schema default "unknown" falls back to the report's list
    cfg = {"clinical_parameters": {"SYSBP": {"better": "unknown"}}}
    assert better_direction("SYSBP", cfg) == "lower"


# ---------------------------------------------------------------- miRNAome


def test_volcano_uses_the_mle_lfc(tree):
    root, _ = tree
    tab = pd.read_csv(root / "results/de/treatment_effect.tsv", sep="\t")
    d = figures.volcano_data(tab, 0.05, ["hsa-miR-101-3p"])
    hit = d.set_index("mirna").loc["hsa-miR-101-3p"]
    assert hit["lfc"] == pytest.approx(1.2345)  # MLE, not the shrunken -4.3e-06
    assert hit["neglog10p"] == pytest.approx(-np.log10(2e-6))
    assert hit["significant"] and hit["label"]
    svg = _svg_text(figures.volcano(tab, 0.05))
    assert "MLE, unshrunken" in svg


def test_de_table_prints_no_scientific_shrunken_lfc(tree):
    sec = mirnaome(_ctx(tree, "closed"), Section("mirnaome", 7, "miRNAome"))
    top = _tables(sec)[0]
    df = top.data.set_index("miRNA")
    assert df.loc["hsa-miR-101-3p", "log2 FC (shrunken, for ranking)"] == "0.00"
    assert df.loc["hsa-miR-101-3p", "log2 FC (MLE, unshrunken)"] == "1.23"
    assert "e-0" not in top.data.to_string()
    assert "MLE" in top.note and "shrunk" in top.note
    vol = next(b for b in sec.blocks if getattr(b, "alt", "").startswith("volcano"))
    assert "unshrunken" in vol.title


# -------------------------------------------------------------- haemolysis


def test_hemolysis_plot_draws_the_a414_gate_and_labels_points(tree):
    root, _ = tree
    qc = pd.read_csv(root / "results/qc/library_qc.tsv", sep="\t", dtype=str)
    pts = figures.hemolysis_points(qc, 0.3).set_index("sample_id")
    sids = list(qc["sample_id"])
    # by hand from the fixture: library 3 has A414 0.45 > 0.3, library 4 is
    # flagged by the ratio, library 2 failed the depth gate
    assert pts.loc[sids[3], "status"] == "excluded (A414 above gate)"
    assert pts.loc[sids[4], "status"] == "flagged (ratio above warning threshold)"
    assert pts.loc[sids[2], "status"] == "failed QC (other gate)"
    assert pts.loc[sids[0], "status"] == "passed"
    assert set(pts[pts["label"] != ""].index) == {sids[2], sids[3], sids[4]}
    svg = _svg_text(figures.hemolysis_plot(qc, 0.3))
    assert "exclusion gate A414 = 0.3 (qc.max_a414)" in svg
    assert "warning threshold 10.50" in svg
    for s in (sids[2], sids[3], sids[4]):
        assert s in svg


# ------------------------------------------------------------- readability


@pytest.mark.parametrize(
    ("raw", "text"),
    [("true", "yes"), ("False", "no"), (True, "yes"), ("trueish", "trueish")],
)
def test_booleans_read_yes_no(raw, text):
    assert format_cell(raw) == text
    if isinstance(raw, str):
        assert yes_no(raw) == text


def test_ratio_cis_keep_the_digits_of_the_small_bound():
    from exomir.report.labels import fmt_ci

    assert fmt_ci(1.52, 0.13, 40.6, ratio=True) == "1.52 (0.13 to 40.60)"
    assert fmt_ci(0.5, 0.012, 2.5, ratio=True) == "0.500 (0.012 to 2.500)"


def test_codes_become_labels():
    assert method_label("waggr") == "weighted aggregate (waggr)"
    assert contrast_label("exosome-placebo@week1") == "exosome vs placebo at week 1"
    assert (
        contrast_label("high-dose-placebo@week12", ["placebo", "high-dose"])
        == "high-dose vs placebo at week 12"
    )
    # MAP, a derived parameter, with its unit (config clinical.derived or default)
    assert param_label("MAP", {}) == "Mean arterial pressure (mmHg)"
    cfg = {"clinical": {"derived": {"MAP": {"label": "MAP", "unit": "mm[Hg]"}}}}
    assert param_label("MAP", cfg) == "MAP (mmHg)"


def test_closed_report_html_has_the_reader_items(tree):
    root, cfg = tree
    out = root / "results" / "report" / "closed_tables.html"
    build_report(root, cfg, "closed", out, strict=True)
    html = htmllib.unescape(out.read_text(encoding="utf-8"))
    assert "-8.8 (-12.1 to -3.2)" in html
    assert "-4.3e-06" not in html
    assert not re.search(r">\s*(true|false)\s*<", html)


# ----------------------------------------------------------------- CONSORT


def _disposition() -> pd.DataFrame:
    """Three dosed exosome participants: P1 completes, P2 withdraws (no week-1
    library), P3 completes but its week-1 library fails QC."""
    return pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3"],
            "eligible": True,
            "exclusion_reason": None,
            "randomized": True,
            "arm": "exosome",
            "dosed": True,
            "not_dosed_reason": None,
            "completed_week1": [True, False, True],
            "discontinued_reason": [None, "withdrew consent", None],
            "in_mitt": True,
            "in_pp": [True, False, True],
            "major_deviation": None,
        }
    )


def test_consort_does_not_count_a_withdrawal_again_as_a_sequencing_loss():
    from exomir.clinical.consort import consort_table

    samples = pd.DataFrame(
        {
            "sample_id": ["P1_BL", "P1_W1", "P2_BL", "P3_BL", "P3_W1"],
            "participant_id": ["P1", "P1", "P2", "P3", "P3"],
            "timepoint": ["baseline", "week1", "baseline", "baseline", "week1"],
        }
    )
    qc = pd.DataFrame(
        {
            "sample_id": ["P1_BL", "P1_W1", "P2_BL", "P3_BL", "P3_W1"],
            "pass": [True, True, True, True, False],
            "reasons": ["", "", "", "", "low reads"],
        }
    )
    tab = consort_table(
        _disposition(), ["placebo", "exosome"], None, samples, qc, ["baseline", "week1"]
    )
    n = {(r.node, r.arm): r.n for r in tab.itertuples()}
    why = {(r.node, r.arm): r.reasons for r in tab.itertuples()}
    assert n[("discontinued", "exosome")] == 1  # P2, counted once ...
    assert n[("sequencing_qc_failed_week1", "exosome")] == 1  # ... not here: P3 only
    assert why[("sequencing_qc_failed_week1", "exosome")] == "low reads: 1"
    assert n[("sequencing_analysed_all_timepoints", "exosome")] == 1  # P1
    # every dosed participant is in exactly one box at the end of the flow
    ends = [
        "lost_to_follow_up",
        "discontinued",
        "sequencing_qc_failed_baseline",
        "sequencing_qc_failed_week1",
        "sequencing_analysed_all_timepoints",
    ]
    assert sum(n[(e, "exosome")] for e in ends) == n[("received_allocated", "exosome")]


def test_report_consort_shows_sequencing_apart_from_the_flow(tree):
    from exomir.report.sections.consort import consort as consort_section

    root, _ = tree
    extra = pd.DataFrame(
        [
            ("sequencing_qc_failed_baseline", arm, 1, "hemolysis A414 0.45: 1")
            for arm in ("placebo", "exosome")
        ]
        + [
            ("sequencing_analysed_all_timepoints", arm, 2, "")
            for arm in ("placebo", "exosome")
        ],
        columns=["node", "arm", "n", "reasons"],
    )
    path = root / "results/clinical/consort.tsv"
    orig = path.read_text(encoding="utf-8")
    try:
        base = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        pd.concat([base, extra.astype(str)]).to_csv(path, sep="\t", index=False)
        for audience in ("closed", "open"):
            if audience == "open":
                from _report_fixture import blind

                blind(root)
            sec = consort_section(
                _ctx(tree, audience), Section("consort", 2, "CONSORT")
            )
            fig = next(b for b in sec.blocks if getattr(b, "svg", ""))
            assert "Sequencing" not in fig.svg  # not in the participant flow
            seq = next(t for t in _tables(sec) if "small-RNA" in t.title)
            cells = seq.data.to_string()
            assert "Sequencing QC failed at baseline" in cells
            if audience == "closed":
                assert set(seq.data["arm"]) == {"placebo", "exosome"}
                assert list(seq.data["n"])[:1] == ["1"]
            else:
                assert "arm" not in seq.data
                row = seq.data.set_index("analysis population")
                assert row.loc["Sequencing QC failed at baseline", "n"] == "2"
                assert row.loc["Sequencing analysed at all timepoints", "n"] == "4"
    finally:
        path.write_text(orig, encoding="utf-8")
        from _report_fixture import blind

        blind(root)


def test_consort_stages_share_one_box():
    from exomir.report.sections.consort import stage_boxes

    col = [
        ("Allocated to exosome", "9", ""),
        ("Received allocated intervention", "9", "IV: 8; IM: 1"),
        ("Did not receive allocated intervention", "0", ""),
        ("Lost to follow-up", "0", ""),
        ("Discontinued intervention", "1", "withdrew consent: 1"),
        ("Completed follow-up", "8", ""),
        ("Analysed (mITT)", "9", ""),
        ("Excluded from analysis (mITT)", "0", ""),
        ("Something else", "2", ""),
    ]
    boxes = stage_boxes(col)
    assert [len(b) if isinstance(b, list) else 0 for b in boxes] == [3, 3, 2, 0]
    svg = consort_svg([("Randomised", "16", "")], {"exosome": boxes})
    # 1 pooled box + 4 boxes in the column, every count still written
    assert svg.count('class="cbox"') == 5
    # titles may wrap over lines: join the text elements
    text = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg)).replace(
        "\u00a0", " "
    )
    for label, n, _ in col:
        assert f"{label} (n = {n})" in text


def test_endpoint_table_codes_and_blank_counts(tree):
    from exomir.report.sections.clinical import endpoint_table

    df = pd.DataFrame(
        {
            "param": ["PROT_DIP"],
            "label": ["Proteinuria"],
            "analysis": ["primary"],
            "population": ["mITT"],
            "model": ["proportional_odds"],
            "effect_measure": ["odds ratio"],
            "estimate": [""],
            "ci_low": [""],
            "ci_high": [""],
            "p_value": [""],
            "n_treatment": [""],
            "n_control": [""],
        }
    )
    out = endpoint_table(_ctx(tree, "closed"), df).iloc[0]
    assert out["model"] == "proportional odds"
    assert out["estimate (95% CI)"] == "not estimable"
    assert out["n (exosome / placebo)"] == ""  # not "/"
