"""Section 15: methods and the provenance of the reference files."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from exomir.config import resources_dir
from exomir.report.context import ReportContext
from exomir.report.model import KeyValues, Section, Table, Text


def _provenance_table(text: str) -> pd.DataFrame:
    """Parse the first markdown table of PROVENANCE.md into a DataFrame."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            if not re.match(r"^\|[-:| ]+\|$", line.strip()):  # not the separator
                rows.append(
                    [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
                )
        elif rows:
            break
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows[1:], columns=rows[0])
    sums = dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r"^([0-9a-f]{64})\s+(\S+)$", text, re.M)
    )
    if "file" in table and "sha256" in table:
        table["sha256"] = [
            sums.get(f, s) for f, s in zip(table["file"], table["sha256"], strict=True)
        ]
    return table


def provenance(resources: Path) -> pd.DataFrame:
    """Read the shipped references' provenance and check every file's sha256.

    Parameters
    ----------
    resources
        The resources folder (holds PROVENANCE.md).

    Returns
    -------
    pandas.DataFrame
        The provenance table with a ``check`` column: ``sha256 ok``,
        ``sha256 MISMATCH`` or ``file missing``.
    """
    table = _provenance_table((resources / "PROVENANCE.md").read_text(encoding="utf-8"))
    if "file" not in table:
        return table
    checks = []
    for name, listed in zip(
        table["file"], table.get("sha256", [""] * len(table)), strict=True
    ):
        path = resources / name
        if not path.is_file():
            checks.append("file missing")
        else:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            checks.append("sha256 ok" if actual == listed else "sha256 MISMATCH")
    table["check"] = checks
    return table


def methods(ctx: ReportContext, sec: Section) -> Section:
    """§13: designs, filters, control miRNAs, QC gates, network, provenance."""
    _de_settings(ctx, sec)
    filt_path = "results/de/mirna_filter.tsv"
    mf = ctx.table(filt_path)
    if mf is not None:
        n_ctl = int(mf["control"].str.lower().eq("true").sum())
        n_kept = int(mf["kept"].str.lower().eq("true").sum())
        sec.add(
            KeyValues(
                [
                    ("miRNAs detected", str(len(mf))),
                    ("kept after filter", str(n_kept)),
                    ("used as size-factor controls", str(n_ctl)),
                ],
                source=[filt_path],
            )
        )
    pw = ctx.config.get("pathways")
    if pw:
        sec.add(
            Text(
                "Pathway network: miRNA -> pathway weights = validated targets in the pathway / sqrt(total validated targets); scores by decoupler waggr (wmean) with ulm and signed variants as sensitivity; Holm across the pathway scores."
            )
        )
    prov = resources_dir() / "PROVENANCE.md"
    if prov.is_file():
        table = provenance(resources_dir())
        if len(table):
            sec.add(
                Table(
                    "Reference provenance (resources/PROVENANCE.md)",
                    table,
                    source=["resources/PROVENANCE.md"],
                    wide=True,
                )
            )
    ref = ctx.config.get("reference", {})
    if ref:
        sec.add(
            Table(
                "Configured references",
                pd.DataFrame(
                    [(k, str(v)) for k, v in ref.items()], columns=["setting", "value"]
                ),
                source=["config/config.yaml"],
            )
        )
    if ctx.sources:
        listing = pd.DataFrame({"file": list(ctx.sources)})
        sec.add(
            Table(
                "Every results file this report read",
                listing,
                source=["this report"],
                collapsed=True,
            )
        )
    return sec


def _de_settings(ctx: ReportContext, sec: Section) -> None:
    """Add the DE contrasts, the model, the filters and QC gates, the controls."""
    de = ctx.config.get("de", {})
    rows = []
    for name, c in (de.get("contrasts") or {}).items():
        rows.append(
            (
                name,
                c.get("kind", ""),
                c.get("description", ""),
                c.get("arm", ""),
                c.get("reference_arm", ""),
                c.get("timepoint", ""),
                c.get("reference_timepoint", ""),
                ", ".join(c.get("covariates", []) or []),
            )
        )
    if rows:
        sec.add(
            Table(
                "Differential-expression contrasts (config de.contrasts)",
                pd.DataFrame(
                    rows,
                    columns=[
                        "contrast",
                        "kind",
                        "description",
                        "compared arm",
                        "reference arm",
                        "timepoint",
                        "reference timepoint",
                        "covariates",
                    ],
                ),
                source=["config/config.yaml"],
            )
        )
    sec.add(
        Text(
            "Key treatment effect: arm x time interaction fitted in pydeseq2 as ~ participant + timepoint + exo_week1 on paired participants, Wald test, apeGLM-type shrinkage of the interaction LFC, BH-FDR within each contrast. The primary miRNA test is an ANCOVA of the week-1 log2 level on arm + baseline level + strata (OLS, HC3 SE)."
        )
    )
    filt = [(k, str(v)) for k, v in de.items() if k not in ("contrasts", "control")]
    filt += [(f"qc.{k}", str(v)) for k, v in (ctx.config.get("qc") or {}).items()]
    if filt:
        sec.add(
            Table(
                "Filters and QC gates",
                pd.DataFrame(filt, columns=["setting", "value"]),
                source=["config/config.yaml"],
                collapsed=True,
            )
        )
    control = de.get("control") or {}
    if control:
        ctl = [
            ("excluded names", ", ".join(control.get("exclude_names", []))),
            ("excluded patterns", "; ".join(control.get("exclude_regex", []))),
            ("min base mean", str(control.get("min_base_mean", ""))),
            ("min control miRNAs", str(control.get("min_mirnas", ""))),
        ]
        sec.add(
            Table(
                "Size-factor control miRNAs (median-of-ratios over miRNAs only)",
                pd.DataFrame(ctl, columns=["setting", "value"]),
                source=["config/config.yaml"],
            )
        )
