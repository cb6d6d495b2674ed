"""The open report's job reads no closed file (checked on the planned DAG).

A simulated trial with clinical, safety, EV and pathway stages is planned with
``snakemake --dry-run --detailed-summary``; every input of the job that writes
the open report must be open-safe or a blinded copy, and no blinded copy may
hold an arm column or a by-arm row.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from _workflow import copy_run, run_checked, snakemake_cmd

from exomir.report.firewall import (
    ARM_COLUMNS,
    BLINDED,
    OPEN_DIR,
    POOLED,
    POOLED_BY_BLINDING,
    is_open_safe,
)


@pytest.fixture(scope="module")
def trial(small_trial_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared small trial (these tests run report rules in it)."""
    return copy_run(small_trial_run, tmp_path_factory.mktemp("firewall") / "scn")


def planned_inputs(scn: Path) -> dict[str, list[str]]:
    """Rule -> input files of its job, as a dry run of both reports plans them."""
    proc = subprocess.run(
        snakemake_cmd(
            scn,
            "--dry-run",
            "results/report/exomir_report.html",
            "results/report/dsmb_closed.html",
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    jobs = re.findall(r"^rule (\w+):\n    input: (.*)$", proc.stdout, re.M)
    return {rule: files.split(", ") for rule, files in jobs}


def test_open_report_job_has_no_closed_input(trial: Path) -> None:
    plan = planned_inputs(trial)
    open_in, closed_in = plan["report_open"], plan["report_closed"]
    results = [f for f in open_in if f.startswith("results/")]
    assert results, open_in
    bad = [f for f in results if not (is_open_safe(f) or f.startswith(OPEN_DIR + "/"))]
    assert bad == []
    assert not set(BLINDED) & set(open_in)
    assert "config/participants.tsv" not in open_in  # the sheet names the arm
    # the closed report does read the closed files the open one may not
    withheld = {f for f in closed_in if f.startswith("results/")} - set(results)
    assert {"results/clinical/endpoints.tsv", "results/primary/mir126_ancova.tsv"} <= (
        withheld
    )


@pytest.mark.slow
def test_blinded_copies_hold_no_arm(trial: Path) -> None:
    blinded = [
        f for f in planned_inputs(trial)["report_open"] if f.startswith(OPEN_DIR + "/")
    ]
    run_checked(snakemake_cmd(trial, *blinded))
    arms = set(pd.read_csv(trial / "config/participants.tsv", sep="\t")["arm"])
    for rel in blinded:
        df = pd.read_csv(trial / rel, sep="\t", dtype=str, keep_default_na=False)
        for col in ARM_COLUMNS:
            if col in df:
                assert set(df[col].str.lower()) <= POOLED | {POOLED_BY_BLINDING}, rel
        assert not (arms & set(df.to_numpy().ravel())), rel
