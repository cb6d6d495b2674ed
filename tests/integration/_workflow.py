"""Helpers shared by the integration tests: copy a scenario, run Snakemake."""

import shutil
import subprocess
import sys
from pathlib import Path

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
