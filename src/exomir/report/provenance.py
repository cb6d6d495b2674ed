"""Traceability of a report: what produced it and exactly which files it read.

An auditor must be able to tie a filed report to one run: the exomir version
and commit, the config it ran with (sha256), the sha256 of every results file
and sheet the report read, when the run started and when the report was
written, and on which host. :func:`provenance_record` collects this for one
report build; the report shows it in its last section and the workflow writes
it to ``results/report/provenance.json``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import socket
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from exomir.atomic import atomic_open

#: Snakemake names each run's log after its start time.
_SMK_LOG = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})\.\d+\.snakemake\.log$"
)


def sha256_file(path: Path) -> str:
    """Return the sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def exomir_commit() -> dict[str, Any]:
    """Git commit of the exomir source tree, if it is a checkout.

    Returns
    -------
    dict
        ``commit`` (40 hex digits, or ``"not a git checkout"``) and
        ``modified`` (tracked files differ from the commit; ``None`` when
        unknown).
    """
    src = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": "not a git checkout", "modified": None}
    return {"commit": head, "modified": bool(status.strip())}


def workflow_started(root: Path) -> str:
    """Start time of the newest Snakemake run in ``root`` (UTC), or ``"unknown"``.

    Snakemake writes one log per run under ``.snakemake/log/``, named after the
    run's start time in local time; the name is read as written.
    """
    logs = sorted(
        m.groups()
        for p in (root / ".snakemake" / "log").glob("*.snakemake.log")
        if (m := _SMK_LOG.match(p.name))
    )
    if not logs:
        return "unknown (not run by Snakemake)"
    day, hh, mm, ss = logs[-1]
    return f"{day}T{hh}:{mm}:{ss} (local time of the host)"


def provenance_record(
    root: Path,
    audience: str,
    sources: Iterable[str],
    started: float,
    finished: float,
    data_cut: str,
) -> dict[str, Any]:
    """Provenance of one report build.

    Parameters
    ----------
    root
        The workflow's working directory.
    audience
        ``"open"`` or ``"closed"``.
    sources
        Relative paths of every file the report read (``ReportContext.sources``).
    started, finished
        Start and end of the report build (``time.time()``).
    data_cut
        The data cut the report states.

    Returns
    -------
    dict
        JSON-ready record; files sorted by path.
    """
    cfg = root / "config" / "config.yaml"
    files = []
    for rel in sorted(set(sources)):
        path = root / rel
        if path.is_file():
            st = path.stat()
            files.append(
                {
                    "path": rel,
                    "sha256": sha256_file(path),
                    "bytes": st.st_size,
                    "modified": _iso(st.st_mtime),
                }
            )
    try:
        version = metadata.version("exomir")
    except metadata.PackageNotFoundError:
        version = "not installed"
    return {
        "audience": audience,
        "data_cut": data_cut,
        "exomir_version": version,
        **{f"exomir_{k}": v for k, v in exomir_commit().items()},
        "config": "config/config.yaml",
        "config_sha256": sha256_file(cfg) if cfg.is_file() else "config file not found",
        "workflow_run_started": workflow_started(root),
        "report_started": _iso(started),
        "report_finished": _iso(finished),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "files_read": files,
    }


def merge_provenance(
    open_record: str | Path, closed_record: str | Path, out: str | Path
) -> None:
    """Write both reports' provenance records into one file (``reports`` by audience)."""
    reports = {}
    for audience, path in (("open", open_record), ("closed", closed_record)):
        with open(path, encoding="utf-8") as fh:
            reports[audience] = json.load(fh)
    with atomic_open(out, "w") as fh:
        json.dump({"reports": reports}, fh, indent=2, sort_keys=True)
        fh.write("\n")
