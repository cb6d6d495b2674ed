"""Tests of the across-visits blocks of the closed report (exomir.report.sections.visits)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from exomir.report.context import ReportContext
from exomir.report.model import NotRun, Section, Table, Text
from exomir.report.sections.mirnaome import mirnaome
from exomir.report.sections.visits import mirna_visits, pathway_visits

TPS = ["baseline", "week1", "month3"]


def _cfg(tps: list[str]) -> dict:
    return {
        "trial": {"primary_mirna": "hsa-miR-126-3p"},
        "design": {"arms": ["placebo", "exosome"], "timepoints": tps},
        "pathways": {"primary": ["WP4172"]},
    }


def _de_table(padj: list[float]) -> pd.DataFrame:
    n = len(padj)
    return pd.DataFrame(
        {
            "mirna": [f"hsa-miR-{i}" for i in range(n)],
            "baseMean": [100.0] * n,
            "log2FoldChange": [1.0] * n,
            "stat": [2.0] * n,
            "pvalue": [p / 2 for p in padj],
            "padj": padj,
        }
    )


def _write(root: Path, rel: str, df: pd.DataFrame) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False)


def _tree(root: Path) -> None:
    _write(root, "results/de/treatment_effect.tsv", _de_table([0.01, 0.02, 0.5, 0.9]))
    _write(
        root,
        "results/de/treatment_effect_month3.tsv",
        _de_table([0.001, 0.01, 0.03, 0.04, 0.6]),
    )
    lrt = _de_table([0.001, 0.2, 0.04]).drop(columns="log2FoldChange")
    lrt["log2FoldChange_week1"] = [0.1, 0.2, 0.3]
    lrt["log2FoldChange_month3"] = [2.25, -1.0, 0.5]
    lrt["df"] = 2
    _write(root, "results/de/lrt_arm_by_time.tsv", lrt)
    _write(
        root,
        "results/pathways/ancova_by_visit.tsv",
        pd.DataFrame(
            {
                "visit": ["week1", "month3", "month3"],
                "pathway": ["WP4172", "WP4172", "WP382"],
                "method": ["waggr"] * 3,
                "analysis": ["ancova"] * 3,
                "contrast": ["exosome-placebo@week1", "exosome-placebo@month3"] * 1
                + ["exosome-placebo@month3"],
                "estimate": [0.1, 0.777, 0.2],
                "ci_low": [-0.1, 0.5, 0.0],
                "ci_high": [0.3, 1.05, 0.4],
                "p_value": [0.3, 0.001, 0.05],
                "p_adjusted": [0.3, 0.001, 0.05],
                "n": [40, 38, 38],
            }
        ),
    )


def _tables(sec: Section) -> dict[str, Table]:
    return {b.title: b for b in sec.blocks if isinstance(b, Table)}


def test_closed_report_shows_hits_per_visit_and_the_lrt(tmp_path: Path) -> None:
    _tree(tmp_path)
    ctx = ReportContext(tmp_path, _cfg(TPS), "closed")
    sec = mirnaome(ctx, Section("mirnaome", 6, "miRNAome"))
    tables = _tables(sec)
    hits = tables["Arm x time interaction at each visit (change from baseline)"].data
    assert list(hits["contrast"]) == ["treatment_effect", "treatment_effect_month3"]
    assert list(hits["visit"]) == ["week1 (primary)", "month3"]
    assert list(hits["miRNAs at FDR < 0.05"]) == [2, 4]
    text = " ".join(b.text for b in sec.blocks if isinstance(b, Text))
    assert "week1, month3 (2 df): 2 of 3 miRNAs at FDR < 0.05" in text
    top = tables["Top miRNAs, likelihood-ratio test across visits"].data
    assert list(top["miRNA"]) == ["hsa-miR-0", "hsa-miR-2", "hsa-miR-1"]
    assert top["log2 FC month3"].iloc[0] == "2.25"
    psec = Section("pathways", 7, "pathways")
    pathway_visits(ctx, psec)
    anc = _tables(psec)[
        "Pathway score ANCOVA at each visit (weighted aggregate, treated - reference)"
    ].data
    assert list(anc["visit"]) == ["week1", "month3"]  # primary pathway only
    assert anc["estimate (95% CI)"].iloc[1] == "0.78 (0.50 to 1.05)"


def test_two_timepoints_add_nothing_and_missing_lrt_is_not_run(tmp_path: Path) -> None:
    _tree(tmp_path)
    sec = Section("mirnaome", 6, "miRNAome")
    cfg = _cfg(["baseline", "week1"])
    contrasts = {"treatment_effect": {"kind": "interaction", "timepoint": "week1"}}
    mirna_visits(ReportContext(tmp_path, cfg, "closed"), sec, contrasts, 0.05)
    pathway_visits(ReportContext(tmp_path, cfg, "closed"), sec)
    assert sec.blocks == []
    (tmp_path / "results/de/lrt_arm_by_time.tsv").unlink()
    sec = Section("mirnaome", 6, "miRNAome")
    contrasts["treatment_effect_month3"] = {
        "kind": "interaction",
        "timepoint": "month3",
    }
    mirna_visits(ReportContext(tmp_path, _cfg(TPS), "closed"), sec, contrasts, 0.05)
    assert any(isinstance(b, NotRun) for b in sec.blocks)


def test_open_report_withholds_the_across_visit_tables(tmp_path: Path) -> None:
    _tree(tmp_path)
    ctx = ReportContext(tmp_path, _cfg(TPS), "open")
    for rel in (
        "results/de/lrt_arm_by_time.tsv",
        "results/pathways/ancova_by_visit.tsv",
    ):
        assert ctx.table(rel) is None
        assert ctx.is_withheld(rel)
    sec = mirnaome(ctx, Section("mirnaome", 6, "miRNAome"))
    assert not _tables(sec)
