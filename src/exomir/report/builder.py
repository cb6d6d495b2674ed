"""Build the open and the closed (DSMB) HTML report from the results tree.

The report is one HTML file with inline CSS and figures embedded as data URIs;
it contains no script and its Content-Security-Policy forbids every request,
so it works offline and cannot leak. All text from input files goes through
Jinja2 autoescaping (``autoescape=True``), so an ID such as
``<img src=x onerror=alert(1)>`` is shown as text.

The open report shows pooled data only (analysis_spec §3.5): every block a
section marks ``arm_level`` is removed, and a remaining table with an arm
column holding a configured arm name stops the build.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from exomir.atomic import atomic_open
from exomir.report.context import ReportContext
from exomir.report.labels import fmt_num
from exomir.report.model import (
    AUDIENCES,
    Figure,
    KeyValues,
    NotRun,
    Section,
    Table,
    Text,
)
from exomir.report.sections import SECTIONS

LOG = logging.getLogger("exomir.report")
TEMPLATES = Path(__file__).parent / "templates"
#: Columns that, in the open report, must not hold an arm name.
ARM_COLUMNS = ("arm", "treated_arm", "reference_arm", "group")
#: Size the report must stay under (bytes).
MAX_BYTES = 10 * 1024 * 1024
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)")


class ReportError(RuntimeError):
    """The report would break one of its rules (arm-level data in the open report)."""


def format_cell(value: Any) -> str:
    """Text of one table cell: decimals to 3 significant digits, the rest as is."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        value = repr(value)
    s = str(value)
    if _FLOAT.fullmatch(s.strip()):
        return fmt_num(s)
    if s.strip().lower() in ("nan", "none"):
        return ""
    return s


def _as_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _is_numeric(col: pd.Series) -> bool:
    vals = [str(v) for v in col if str(v) not in ("", "nan")]
    return bool(vals) and all(
        _FLOAT.fullmatch(v) or v.lstrip("-").isdigit() for v in vals
    )


@dataclass
class RenderedTable:
    """A table ready for the template (all cells text)."""

    block: Table
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    nowrap: list[bool]


def _prepare(block: Any) -> Any:
    if isinstance(block, Table):
        df = block.data.reset_index(drop=True)
        header = [str(c).replace("_", " ") for c in df.columns]
        fmt = _as_text if block.preformatted else format_cell
        rows = [[fmt(v) for v in row] for row in df.itertuples(index=False)]
        numeric = [_is_numeric(df[c].astype(str)) for c in df.columns]
        nowrap = ["95% CI" in h for h in header]
        return RenderedTable(block, header, rows, numeric, nowrap)
    return block


def _open_filter(section: Section, arms: Iterable[str]) -> Section:
    """Drop arm-level blocks and check what remains (open report)."""
    arm_set = {str(a) for a in arms}
    kept = [b for b in section.blocks if not b.arm_level]
    mentions_closed = any(
        isinstance(b, Text) and "closed DSMB report" in b.text for b in kept
    )
    if len(kept) < len(section.blocks) and not mentions_closed:
        kept.append(Text("Results by arm are in the closed DSMB report.", kind="note"))
    for b in kept:
        if isinstance(b, Table):
            for col in ARM_COLUMNS:
                if col in b.data.columns and arm_set & set(b.data[col].astype(str)):
                    raise ReportError(
                        f"open report, section {section.number} ({section.title}): table '{b.title}' shows the arm column '{col}'; mark it arm_level or pool it"
                    )
    section.blocks = kept
    return section


def render_sections(ctx: ReportContext, strict: bool = False) -> list[Section]:
    """Run every section renderer for the context's audience.

    Parameters
    ----------
    ctx
        What to read and for whom.
    strict
        Re-raise a renderer's exception (tests) instead of showing it in the
        section (workflow runs: one malformed table does not lose the report).
    """
    out = []
    for number, key, title, renderer in SECTIONS:
        sec = Section(key=key, number=number, title=title)
        try:
            renderer(ctx, sec)
        except Exception as exc:
            if strict:
                raise
            LOG.exception("report section %s (%s) failed", number, title)
            sec.blocks = [
                Text(
                    f"This section could not be rendered: {type(exc).__name__}: {exc}",
                    kind="warn",
                )
            ]
        if ctx.audience == "open":
            _open_filter(sec, ctx.arms)
        out.append(sec)
    return out


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        Table=RenderedTable,
        Figure=Figure,
        Text=Text,
        NotRun=NotRun,
        KeyValues=KeyValues,
    )
    env.tests["kind"] = lambda obj, name: type(obj).__name__ == name
    return env


def study_notes(ctx: ReportContext) -> list[str]:
    """Return the notes at the top of the report on what was not computed.

    Two cases are stated in words: a QC-only study (no participants sheet:
    the trial stages are not part of it) and stages whose outputs were
    written as "not computed" (e.g. no library passed QC), with the reason.

    Parameters
    ----------
    ctx
        The report context after the sections were rendered.

    Returns
    -------
    list[str]
        One sentence per note, in a fixed order.
    """
    notes = []
    if "participants" not in ctx.config.get("sheets", {}):
        notes.append(
            "QC-only study: the config names no participants sheet, so this run "
            "covers reads, counts, read QC and MultiQC only. Normalisation, "
            "differential expression, the primary biomarker, pathways, clinical, "
            "EV, safety and interim stages are not part of this study; add "
            "sheets.participants (with trial and design) to run them."
        )
    # one note per root cause (the upstream chain is shown at each part)
    root = {r: v.split(" (upstream: ")[0] for r, v in ctx.not_computed.items()}
    for reason in sorted(set(root.values())):
        files = sorted(r for r, v in root.items() if v == reason)
        notes.append(f"Not computed: {reason}. Affected outputs: {', '.join(files)}.")
    return notes


def render_html(ctx: ReportContext, strict: bool = False) -> str:
    """Render the report as an HTML string."""
    sections = render_sections(ctx, strict=strict)
    for sec in sections:
        sec.blocks = [_prepare(b) for b in sec.blocks]
    trial = ctx.config.get("trial", {})
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    not_run = [(s, b) for s in sections for b in s.blocks if isinstance(b, NotRun)]
    notes = study_notes(ctx)
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            trial_id=str(trial.get("id", "")),
            trial_title=str(trial.get("title", "")),
            audience=ctx.audience,
            sections=sections,
            not_run=not_run,
            not_computed=dict(ctx.not_computed),
            study_notes=notes,
            css=Markup(css),
            Markup=Markup,
        )
    )
    return html


def build_report(
    root: str | Path,
    config: dict[str, Any],
    audience: str,
    out: str | Path,
    available: Iterable[str] | None = None,
    strict: bool = False,
) -> Path:
    """Build one report file.

    Parameters
    ----------
    root
        Working directory of the workflow (holds ``results/`` and ``config/``).
    config
        Validated config mapping.
    audience
        ``"open"`` or ``"closed"``.
    out
        Destination HTML path.
    available
        Results files to use (the report rule's inputs); ``None``: every
        existing file.
    strict
        Re-raise section errors instead of showing them in the report.

    Returns
    -------
    Path
        The written file.
    """
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, got {audience!r}")
    t0 = time.perf_counter()
    avail = None if available is None else {str(Path(p)) for p in available}
    ctx = ReportContext(
        root=Path(root), config=config, audience=audience, available=avail
    )  # type: ignore[arg-type]
    html = render_html(ctx, strict=strict)
    data = html.encode("utf-8")
    if len(data) > MAX_BYTES:
        LOG.warning(
            "the %s report is %.1f MB, over the %d MB target",
            audience,
            len(data) / 1e6,
            MAX_BYTES // 2**20,
        )
    with atomic_open(out, "wb") as fh:
        fh.write(data)
    LOG.info(
        "%s report: %s (%.2f MB, %.1f s, %d source files)",
        audience,
        out,
        len(data) / 1e6,
        time.perf_counter() - t0,
        len(ctx.sources),
    )
    return Path(out)
