"""Damaged per-library files are never used, and a plain rerun rebuilds them.

One real-data run (``tests/scenarios/real_human``, read stage: counts and read
QC), then three kinds of damage to its per-library files, each followed by
plain reruns. The truth is the clean run itself: after each recovery every
cohort table and the rebuilt file must be byte-identical to what the clean
run wrote.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from _workflow import copy_scenario, run_snakemake

#: Targets of the runs: the read stage (what the per-library files feed).
TARGETS = (
    "results/counts/mirna_counts.tsv",
    "results/counts/isomir_counts.tsv",
    "results/qc/read_funnel.tsv",
    "results/qc/library_qc.tsv",
    "results/qc/length_distribution.tsv",
)
PER_LIBRARY = (
    "results/annotate/H01_BL.mirna.tsv",
    "results/annotate/H02_BL.mirna.tsv",
    "results/collapsed/H02_W1.fa.gz",
    "results/annotate/H01_BL.json",
)


def _digests(scn: Path) -> dict[str, str]:
    return {
        rel: hashlib.sha256((scn / rel).read_bytes()).hexdigest()
        for rel in (*TARGETS, *PER_LIBRARY)
    }


def _keep_mtime(path: Path, data: bytes) -> None:
    """Rewrite ``path`` with ``data`` and put its old times back (a silent cut)."""
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    scn = copy_scenario("real_human", tmp_path_factory.mktemp("damage"))
    run_snakemake(scn, *TARGETS)
    return scn, _digests(scn)


@pytest.mark.slow
def test_truncated_files_are_rebuilt_by_the_same_run(
    clean: tuple[Path, dict[str, str]],
) -> None:
    """A count table and a .fa.gz cut with their mtime kept: found, rebuilt, same bytes."""
    scn, want = clean
    table = scn / "results/annotate/H01_BL.mirna.tsv"
    lines = table.read_bytes().splitlines(keepends=True)
    _keep_mtime(table, b"".join(lines[: len(lines) // 2]))  # at a line boundary
    fagz = scn / "results/collapsed/H02_W1.fa.gz"
    _keep_mtime(fagz, fagz.read_bytes()[:-100])
    stale = scn / "results/counts/.tmp-mirna_counts.tsv.x1y2z3"
    stale.write_text("half a table")

    proc = run_snakemake(scn, *TARGETS)
    err = proc.stderr
    assert (
        "exomir: results/annotate/H01_BL.mirna.tsv is damaged (" in err
        and "rule library (sample H01_BL) rebuilds it" in err
    ), err
    assert "exomir: results/collapsed/H02_W1.fa.gz is damaged (" in err, err
    assert "removed results/counts/.tmp-mirna_counts.tsv.x1y2z3" in err, err
    assert not stale.exists()
    assert _digests(scn) == want


@pytest.mark.slow
def test_same_size_damage_stops_the_consumer_and_a_rerun_recovers(
    clean: tuple[Path, dict[str, str]],
) -> None:
    """A changed digit (same size) is caught by merge_counts' checksum; rerun heals."""
    scn, want = clean
    table = scn / "results/annotate/H02_BL.mirna.tsv"
    text = table.read_bytes()
    i = text.index(b"\t", text.index(b"\n") + 1) + 1  # first count of row 1
    digit = text[i : i + 1]
    table.write_bytes(text[:i] + (b"1" if digit != b"1" else b"2") + text[i + 1 :])
    # newer than the cohort table: merge_counts reruns and reads it

    failed = run_snakemake(scn, *TARGETS, check=False)
    assert failed.returncode != 0
    assert (
        "exomir error: results/annotate/H02_BL.mirna.tsv is damaged (content differs "
        "from what the job wrote" in failed.stderr
    ), failed.stderr
    assert "made by rule library (sample H02_BL)" in failed.stderr
    assert not table.exists()
    assert "Traceback" not in failed.stderr  # the traceback is in the rule's log

    run_snakemake(scn, *TARGETS)
    assert _digests(scn) == want
