"""Whole-workflow runs: dry run, determinism, and a killed-then-restarted run.

These tests run Snakemake as a user would (`snakemake -s Snakefile --directory
DIR --cores 2`) on the shipped real-data scenarios, copied to a temporary
directory.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _workflow import copy_scenario, run_snakemake, snakemake_cmd

#: Outputs whose bytes must be identical between runs (no timestamps inside).
DETERMINISTIC = [
    "results/counts/mirna_counts.tsv",
    "results/counts/isomir_counts.tsv",
    "results/qc/read_funnel.tsv",
    "results/qc/library_qc.tsv",
    "results/qc/length_distribution.tsv",
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dry_run_lists_every_stage(tmp_path: Path) -> None:
    """The workflow loads, validates and plans every rule on an example scenario."""
    scn = copy_scenario("real_human", tmp_path)
    proc = run_snakemake(scn, "--dry-run")
    out = proc.stdout + proc.stderr
    for rule in (
        "build_reference",
        "library",
        "merge_counts",
        "read_qc",
    ):
        assert rule in out, f"rule {rule} missing from the dry run:\n{out}"


def test_invalid_sheet_stops_before_running(tmp_path: Path) -> None:
    """A bad sheet stops the workflow at load time with the file, line and column."""
    scn = copy_scenario("real_human", tmp_path)
    p = scn / "config" / "samples.tsv"
    p.write_text(p.read_text().replace("H01_W1\tH01\tweek1", "H01_W1\tH01\twk1"))
    proc = run_snakemake(scn, "--dry-run", check=False)
    assert proc.returncode != 0
    assert (
        "config/samples.tsv line 3 (sample_id=H01_W1), column 'timepoint': 'wk1' is not "
        "a timepoint of this trial" in proc.stdout + proc.stderr
    )
    assert not (scn / "results").exists()


@pytest.mark.slow
def test_two_runs_identical_and_restart_after_kill(tmp_path: Path) -> None:
    """Two runs give identical tables; a killed run, restarted, gives the same."""
    first = copy_scenario("real_human", tmp_path / "a")
    run_snakemake(first)
    second = copy_scenario("real_human", tmp_path / "b")
    run_snakemake(second)
    for rel in DETERMINISTIC:
        assert digest(first / rel) == digest(second / rel), rel

    killed = copy_scenario("real_human", tmp_path / "c")
    proc = subprocess.Popen(
        snakemake_cmd(killed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Kill the whole process group as soon as the first per-library output exists.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list((killed / "results" / "preprocess").glob("*.json")):
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # No half-written final outputs may be left under their final names.
    for rel in DETERMINISTIC:
        assert not (killed / rel).exists() or proc.returncode == 0
    # Snakemake's lock is stale after SIGKILL; unlock, then run again.
    run_snakemake(killed, "--unlock")
    run_snakemake(killed)
    for rel in DETERMINISTIC:
        assert digest(first / rel) == digest(killed / rel), rel
