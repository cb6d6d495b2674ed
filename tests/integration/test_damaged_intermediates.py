"""Damaged per-library files are never used, and plain reruns rebuild them.

One real-data run of the whole workflow (``tests/scenarios/real_human``), then
three kinds of damage to its per-library files and a leftover temporary file,
followed by plain reruns (``snakemake`` with no target, as a user runs it).
The truth is the clean run itself: after recovery, every cohort table and
every damaged file must be byte-identical to what the clean run wrote.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from _workflow import copy_run, run_snakemake

#: Cohort tables compared with the clean run.
TABLES = (
    "results/counts/mirna_counts.tsv",
    "results/counts/isomir_counts.tsv",
    "results/qc/read_funnel.tsv",
    "results/qc/library_qc.tsv",
    "results/qc/length_distribution.tsv",
    "results/de/treatment_effect.tsv",
    "results/primary/mir126_ancova.tsv",
)
CUT_TABLE = "results/annotate/H01_BL.mirna.tsv"
CUT_GZIP = "results/collapsed/H02_W1.fa.gz"
EDITED = "results/annotate/H02_BL.mirna.tsv"
STALE = "results/counts/.tmp-mirna_counts.tsv.x1y2z3"


def _digests(scn: Path) -> dict[str, str]:
    return {
        rel: hashlib.sha256((scn / rel).read_bytes()).hexdigest()
        for rel in (*TABLES, CUT_TABLE, CUT_GZIP, EDITED)
    }


def _keep_mtime(path: Path, data: bytes) -> None:
    """Rewrite ``path`` with ``data`` and put its old times back (a silent cut)."""
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.slow
def test_damaged_intermediates_are_refused_and_rebuilt(
    real_human_run: Path, tmp_path: Path
) -> None:
    """Cut table, cut .fa.gz, same-size edit and a stale .tmp: refused, then healed."""
    scn = copy_run(real_human_run, tmp_path / "run")
    want = _digests(scn)

    # a count table cut at a line boundary and a cut .fa.gz, old mtimes kept
    table = scn / CUT_TABLE
    lines = table.read_bytes().splitlines(keepends=True)
    _keep_mtime(table, b"".join(lines[: len(lines) // 2]))
    fagz = scn / CUT_GZIP
    _keep_mtime(fagz, fagz.read_bytes()[:-100])
    # one count changed (same size): only the checksum can tell
    edited = scn / EDITED
    text = edited.read_bytes()
    i = text.index(b"\t", text.index(b"\n") + 1) + 1  # first count of row 1
    new = b"1" if text[i : i + 1] != b"1" else b"2"
    _keep_mtime(edited, text[:i] + new + text[i + 1 :])
    (scn / STALE).write_text("half a table")

    # run 1: the cut files are removed at start and rebuilt; the edited one is
    # found by merge_counts' checksum, removed, and stops the run
    failed = run_snakemake(scn, check=False)
    err = failed.stderr
    assert failed.returncode != 0
    assert (
        f"exomir: {CUT_TABLE} is damaged (1," in err
        and "removed, so that rule library (sample H01_BL) rebuilds it" in err
    ), err
    assert f"exomir: {CUT_GZIP} is damaged (" in err, err
    assert f"exomir: removed {STALE}, left by an interrupted run" in err, err
    assert not (scn / STALE).exists()
    assert (
        f"exomir error: DamagedIntermediateError: {EDITED} is damaged (content "
        "differs from what the job wrote" in err
    ), err
    assert "made by rule library (sample H02_BL)" in err
    # the one-line message comes first; the traceback is in the rule's log
    # (shown after it because the default profile sets show-failed-logs)
    tb = err.find("Traceback")
    assert tb == -1 or err.index("exomir error: DamagedIntermediateError") < tb
    assert not edited.exists()

    # run 2, a plain rerun: everything rebuilt, byte-identical to the clean run
    run_snakemake(scn)
    assert _digests(scn) == want
