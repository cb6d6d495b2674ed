"""Helpers shared by the integration tests: copy a scenario, run Snakemake."""

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SNAKEMAKE = BIN / "snakemake"
RUN_DIRS = ("results", "logs", "benchmarks", ".snakemake")


def copy_scenario(name: str, dest: Path) -> Path:
    """Copy a shipped scenario (without run outputs) and the real FASTQs it uses."""
    scn = dest / "scenarios" / name
    shutil.copytree(
        REPO / "tests" / "scenarios" / name,
        scn,
        ignore=shutil.ignore_patterns(*RUN_DIRS),
    )
    if not (dest / "data").exists():
        shutil.copytree(REPO / "tests" / "data", dest / "data")
    return scn


def snakemake_cmd(scn: Path, *extra: str) -> list[str]:
    """The command a user runs on scenario ``scn`` (2 cores, default profile)."""
    return [
        str(SNAKEMAKE),
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(scn),
        "--cores",
        "2",
        "--workflow-profile",
        str(REPO / "profiles" / "default"),
        *extra,
    ]


def run_checked(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a command; fail with its name and output if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_snakemake(
    scn: Path, *extra: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the workflow; with ``check``, fail with its output if it fails."""
    proc = subprocess.run(
        snakemake_cmd(scn, *extra), capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


#: Results that are not byte-reproducible between runs, and why
#: (docs/determinism.md): MultiQC writes its run time into the report and its
#: data folder; HDF5 files may differ in internal layout metadata.
#: The reports (HTML, PDF, provenance) state when they were written.
NOT_REPRODUCIBLE = (
    "results/multiqc/",
    ".h5ad",
    "results/report/exomir_report.",
    "results/report/dsmb_closed.",
    "results/report/provenance.json",
)


def result_digests(scn: Path) -> dict[str, str]:
    """SHA-256 of every reproducible file under ``scn/results`` (relative paths)."""
    import hashlib

    out = {}
    for p in sorted((scn / "results").rglob("*")):
        rel = str(p.relative_to(scn))
        if p.is_file() and not any(x in rel for x in NOT_REPRODUCIBLE):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def copy_run(scn: Path, dest: Path) -> Path:
    """Copy a scenario copied by :func:`copy_scenario`, run outputs and all.

    File times are kept (``shutil.copy2``), so Snakemake sees the copy as
    exactly as up to date as the original.
    """
    root = scn.parents[1]
    shutil.copytree(root, dest, symlinks=True)
    return dest / scn.relative_to(root)


def shared_once(
    factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]
) -> Path:
    """Build something once per test session, shared by every xdist worker.

    ``build(root)`` makes it under the empty folder ``root`` and returns its
    path; the first worker to ask builds it while holding a lock, the others
    wait and reuse it. Users of the result must not change it (copy it first
    with :func:`copy_run`).
    """
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the folder every worker's basetemp sits in
    root = base / f"shared-{name}"
    with (base / f"shared-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = root / ".built"
        if not marker.exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            made = build(root)
            marker.write_text(str(made.relative_to(root)))
        return root / marker.read_text()
