"""The set-up script is idempotent and explains what it cannot install."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_second_setup_run_installs_nothing() -> None:
    """With everything in place, set-up only reports that it is ready."""
    # The first run brings the set-up up to date (a no-op after `make setup`).
    subprocess.run(
        ["bash", str(REPO / "scripts" / "setup.sh")], capture_output=True, check=True
    )
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "setup.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "installing" not in proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(
        "setup: ready (tools: bowtie bowtie-build samtools bedtools pigz fastp; python: .venv)"
    )


def test_missing_tools_without_root_names_them_and_the_conda_route(
    tmp_path: Path,
) -> None:
    """Not root and tools missing: stop, name each missing tool, point to conda."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake / "id").chmod(0o755)
    for tool in ("dirname", "samtools", "pigz"):
        found = shutil.which(tool)
        assert found, tool
        (fake / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(fake)}
    proc = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(REPO / "scripts" / "setup.sh")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert (
        "setup: missing command-line tools: bowtie bowtie-build bedtools fastp"
        in proc.stderr
    )
    assert "conda env create -f environment.yml" in proc.stderr
