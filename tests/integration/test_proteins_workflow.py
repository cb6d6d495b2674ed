"""Protein quantification through the workflow on the small simulated trial.

The demo preset writes six ELISA plates (one per analyte for 16 participants);
rule ``protein_quant`` turns them into results/proteins/. The tables are checked
against the simulator's truth/protein_*.tsv: concentrations, the planted
outlier well, the out-of-range sample and the failing plate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _workflow import copy_run, run_checked, snakemake_cmd

pytestmark = pytest.mark.slow

AGREED = [
    "protein_sample_id",
    "participant_id",
    "visit",
    "analyte",
    "concentration",
    "unit",
    "flag",
    "plate_id",
    "cv",
]


@pytest.fixture(scope="module")
def scn(small_trial_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = copy_run(small_trial_run, tmp_path_factory.mktemp("proteins") / "scn")
    run_checked(snakemake_cmd(d, "results/proteins/concentrations.tsv"))
    return d


def _tsv(d: Path, rel: str) -> pd.DataFrame:
    return pd.read_csv(d / rel, sep="\t", keep_default_na=False, na_values=[""])


def test_concentrations_table_against_truth(scn: Path) -> None:
    conc = _tsv(scn, "results/proteins/concentrations.tsv")
    assert list(conc.columns[: len(AGREED)]) == AGREED
    samples = _tsv(scn, "config/protein_samples.tsv")
    assert len(conc) == len(samples) * 6
    assert not conc.duplicated(["protein_sample_id", "analyte"]).any()
    truth = _tsv(scn, "truth/protein_concentrations.tsv")
    m = conc.merge(truth, on=["protein_sample_id", "analyte"])
    ok = m[m["flag"].isin(["ok", "high_cv"])]
    ape = (ok["concentration"] / ok["true_conc"] - 1).abs()
    assert ape.median() < 0.10
    assert m.loc[~m["flag"].isin(["ok", "high_cv"]), "concentration"].isna().all()
    assert (m.loc[m["planted"] == "above_uloq", "flag"] == "above_uloq").all()
    assert (m.loc[m["planted"] == "outlier_well", "flag"] == "high_cv").all()
    below = m[m["flag"] == "below_lloq"]
    assert (below["true_conc"] < below["lloq"] * 1.3).all()


def test_failing_plate_marks_only_its_samples(scn: Path) -> None:
    qc = _tsv(scn, "results/proteins/plate_qc.tsv")
    truth = _tsv(scn, "truth/protein_plates.tsv")
    planted = set(
        truth.loc[truth["planted"].str.startswith("failing", na=False), "plate_id"]
    )
    assert set(qc.loc[qc["verdict"] == "fail", "plate_id"]) == planted
    assert (
        qc.loc[qc["verdict"] == "fail", "reasons"]
        .str.contains("QC levels within")
        .all()
    )
    conc = _tsv(scn, "results/proteins/concentrations.tsv")
    failed = conc["flag"] == "plate_failed"
    assert set(conc.loc[failed, "plate_id"]) == planted
    assert (
        not conc.loc[~conc["plate_id"].isin(planted), "flag"].eq("plate_failed").any()
    )


def test_curves_standards_and_figures(scn: Path) -> None:
    curves = _tsv(scn, "results/proteins/curves.tsv")
    assert set(curves["model"]) <= {"4pl", "5pl"} and (curves["r2"] > 0.98).all()
    assert (curves["lloq"] < curves["uloq"]).all()
    std = _tsv(scn, "results/proteins/standards.tsv")
    inside = std[std["in_range"]]
    assert np.all((inside["recovery"] >= 0.8) & (inside["recovery"] <= 1.2))
    figs = sorted(
        p.name for p in (scn / "results/proteins/standard_curves").glob("*.png")
    )
    assert figs == sorted(f"{r.plate_id}_{r.analyte}.png" for r in curves.itertuples())
