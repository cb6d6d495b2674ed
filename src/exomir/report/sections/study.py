"""Section 1, the study overview, and the study facts other sections quote."""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd

from exomir.report.context import ReportContext
from exomir.report.model import KeyValues, Section, Table, Text

#: Packages whose versions the overview lists (python itself is added).
VERSIONED = [
    "exomir",
    "snakemake",
    "pydeseq2",
    "decoupler",
    "statsmodels",
    "scipy",
    "numpy",
    "pandas",
    "matplotlib",
    "jinja2",
    "cutadapt",
]


POPULATIONS = [
    ("mITT", "randomised and dosed, with baseline and at least one post-dose value"),
    ("Per-protocol", "no major deviation; week-1 visit within +/- 2 days"),
    ("Safety", "all dosed participants, analysed as treated"),
]


def software_versions() -> pd.DataFrame:
    """Versions of python and the analysis packages in this environment."""
    rows = [("python", platform.python_version())]
    for pkg in VERSIONED:
        try:
            rows.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            rows.append((pkg, "not installed"))
    return pd.DataFrame(rows, columns=["package", "version"])


def config_hash(path: Path) -> str:
    """sha256 of the config file as written."""
    return (
        hashlib.sha256(path.read_bytes()).hexdigest()
        if path.is_file()
        else "config file not found"
    )


def data_cut(ctx: ReportContext) -> str:
    """Return the data cut date: config ``trial.data_cut`` or the last visit date."""
    cut = str(ctx.config.get("trial", {}).get("data_cut") or "")
    if cut:
        return cut
    clin = ctx.sheet("clinical_measurements")
    if clin is not None and "visit_date" in clin:
        dates = sorted(d for d in clin["visit_date"] if d)
        if dates:
            return f"{dates[-1]} (last visit date in the clinical sheet; trial.data_cut not set)"
    return "not set (trial.data_cut)"


def overview(ctx: ReportContext, sec: Section) -> Section:
    """§1: trial, audience, data cut, populations, software and config hash."""
    trial = ctx.config.get("trial", {})
    samples = ctx.sheet("samples")
    participants = ctx.sheet("participants")
    kv = [
        ("Trial", str(trial.get("id", "not configured"))),
        ("Data cut", data_cut(ctx)),
        ("Report", "closed (DSMB, by arm)" if ctx.closed else "open (pooled)"),
        ("Arms", ", ".join(ctx.arms)),
        ("Timepoints", ", ".join(ctx.timepoints)),
    ]
    if participants is not None:
        kv.append(("Participants in sheet", str(len(participants))))
    if samples is not None:
        kv.append(("Libraries in sheet", str(len(samples))))
    sec.add(
        KeyValues(
            kv,
            source=[
                "config/config.yaml",
                *[
                    s
                    for s in ("config/participants.tsv", "config/samples.tsv")
                    if s in ctx.sources
                ],
            ],
        )
    )
    if ctx.closed:
        sec.add(
            Text(
                "CLOSED REPORT: arm-level efficacy and safety results for the Data and Safety Monitoring Board only. Do not distribute.",
                kind="warn",
            )
        )
    else:
        sec.add(
            Text(
                "Open report: pooled data only (recruitment, data completeness, quality control, product). Results by arm are in the closed DSMB report.",
                kind="note",
            )
        )
    sec.add(
        Table(
            "Analysis populations",
            pd.DataFrame(POPULATIONS, columns=["population", "definition"]),
            source=["analysis_spec.md §3"],
        )
    )
    cfg_path = ctx.root / "config" / "config.yaml"
    versions = software_versions()
    versions = pd.concat(
        [
            versions,
            pd.DataFrame(
                [("config sha256", config_hash(cfg_path))],
                columns=["package", "version"],
            ),
        ]
    )
    sec.add(
        Table(
            "Software versions and config hash",
            versions,
            source=["config/config.yaml", "python environment"],
        )
    )
    return sec
