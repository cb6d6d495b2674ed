"""The site stage and the interim by information time, run on the shared small trial.

A copy of the small simulated trial gets ``design.sites`` (its two sites) and
``interim.look_timing: information_time``; the site tables, the site-by-arm
analyses, the batch/site check and the planned-versus-actual look are run and
checked against the trial's own sheets. The open report's planned inputs must
stay open-safe with the site stage on.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _workflow import copy_run, run_checked, snakemake_cmd

from exomir.report.firewall import OPEN_DIR, is_open_safe

pytestmark = pytest.mark.slow

TARGETS = (
    "results/primary/site_by_arm.tsv",
    "results/clinical/site_by_arm.tsv",
    "results/qc/batch_site.tsv",
    "results/clinical/sites_closed.tsv",
    "results/clinical/sites_open.tsv",
    "results/clinical/interim_looks.tsv",
)


@pytest.fixture(scope="module")
def trial(small_trial_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    scn = copy_run(small_trial_run, tmp_path_factory.mktemp("sites") / "scn")
    cfg_path = scn / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    par = pd.read_csv(scn / "config" / "participants.tsv", sep="\t")
    codes = sorted(par["site_id"].dropna().unique())
    assert len(codes) >= 2
    cfg["design"]["sites"] = {c: f"Hospital {c}" for c in codes}
    cfg.setdefault("interim", {}).update(
        look_timing="information_time", planned_evaluable=16
    )
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    run_checked(snakemake_cmd(scn, *TARGETS))
    return scn


def _tsv(scn: Path, rel: str) -> pd.DataFrame:
    return pd.read_csv(scn / rel, sep="\t", dtype={"participant_id": str})


def test_site_by_arm_tables(trial: Path) -> None:
    par = _tsv(trial, "config/participants.tsv")
    vals = _tsv(trial, "results/primary/mir126_values.tsv")
    tab = _tsv(trial, "results/primary/site_by_arm.tsv")
    sites = tab[tab["row_type"] == "site"]
    assert list(sites["site"]) == sorted(par["site_id"].unique())
    both = vals.dropna(subset=["y_baseline", "y_followup"])
    site_of = par.set_index("participant_id")["site_id"]
    for _, r in sites.iterrows():
        at = both[both["participant_id"].map(site_of) == r["site"]]
        assert r["n_treated"] == int((at["treated"] == 1).sum())
        assert r["n_reference"] == int((at["treated"] == 0).sum())
    inter = tab[tab["row_type"] == "interaction"].iloc[0]
    assert 0 <= inter["p_value"] <= 1 or inter["note"].startswith("not computed")
    assert (trial / "results/primary/site_by_arm.png").stat().st_size > 0
    clin = _tsv(trial, "results/clinical/site_by_arm.tsv")
    assert set(clin["row_type"]) >= {"site", "interaction"}


def test_batch_and_site_tables(trial: Path) -> None:
    batch = _tsv(trial, "results/qc/batch_site.tsv")
    summary = batch[batch["table"] == "summary"]
    assert "library_batch" in set(summary["batch_column"])
    v = summary["cramers_v"].dropna()
    assert ((v >= 0) & (v <= 1)).all()
    closed = _tsv(trial, "results/clinical/sites_closed.tsv")
    par = _tsv(trial, "config/participants.tsv")
    rand = closed[(closed["item"] == "randomised") & (closed["arm"] == "all")]
    assert (
        dict(zip(rand["site"], rand["n"], strict=True))
        == par["site_id"].value_counts().to_dict()
    )
    opened = _tsv(trial, "results/clinical/sites_open.tsv")
    assert "arm" not in opened.columns
    assert "adverse_events" not in set(opened["table"])


def test_interim_looks(trial: Path) -> None:
    looks = _tsv(trial, "results/clinical/interim_looks.tsv").iloc[0]
    assert looks["target_evaluable"] == math.ceil(0.5 * 16)
    cur = _tsv(trial, "results/clinical/interim.tsv")
    cur = cur[cur["look_role"] == "current"].iloc[0]
    assert cur["n_evaluable"] == looks["n_evaluable_at_look"]
    assert looks["actual_fraction"] == pytest.approx(cur["information_fraction"])
    if bool(looks["target_reached"]):
        assert looks["n_evaluable_at_look"] >= looks["target_evaluable"]


def test_open_report_inputs_stay_open_safe(trial: Path) -> None:
    proc = subprocess.run(
        snakemake_cmd(trial, "--dry-run", "results/report/exomir_report.html"),
        capture_output=True,
        text=True,
        check=True,
    )
    jobs = dict(re.findall(r"^rule (\w+):\n    input: (.*)$", proc.stdout, re.M))
    open_in = jobs["report_open"].split(", ")
    bad = [
        f
        for f in open_in
        if f.startswith("results/")
        and not (is_open_safe(f) or f.startswith(OPEN_DIR + "/"))
    ]
    assert bad == []
    assert "results/clinical/sites_open.tsv" in open_in
    assert "results/clinical/sites_closed.tsv" not in open_in
