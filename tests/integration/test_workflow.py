"""Whole-workflow runs: dry run, a bad sheet stopping the run, and determinism.

These tests run Snakemake as a user would (`snakemake -s Snakefile --directory
DIR --cores 2`) on the shipped real-data scenarios, copied to a temporary
directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from _workflow import copy_scenario, result_digests, run_snakemake

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
def test_two_runs_identical(real_human_run: Path, tmp_path: Path) -> None:
    """Two runs give byte-identical results (docs/determinism.md lists exceptions).

    The killed-and-restarted run is tested in test_faults.py, with proof that
    the kill landed mid-job.
    """
    second = copy_scenario("real_human", tmp_path / "b")
    run_snakemake(second)
    for rel in DETERMINISTIC:
        assert digest(real_human_run / rel) == digest(second / rel), rel
    first_all, second_all = result_digests(real_human_run), result_digests(second)
    assert set(first_all) == set(second_all)
    differ = [r for r in first_all if first_all[r] != second_all[r]]
    assert not differ, f"not byte-identical between two runs: {differ}"
