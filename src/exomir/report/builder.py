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

import json
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
from exomir.report.labels import fmt_num, yes_no
from exomir.report.model import (
    AUDIENCES,
    Figure,
    KeyValues,
    NotRun,
    Section,
    Table,
    Text,
)
from exomir.report.provenance import provenance_record
from exomir.report.sections import SECTIONS
from exomir.report.sections.study import data_cut
from exomir.report.settings import ReportSettings

LOG = logging.getLogger("exomir.report")
TEMPLATES = Path(__file__).parent / "templates"
#: Columns that, in the open report, must not hold an arm name.
ARM_COLUMNS = ("arm", "treated_arm", "reference_arm", "group")
#: What the open report says where results by arm were left out.
CLOSED_NOTE = "Results by arm are in the closed DSMB report."
#: Size the report must stay under (bytes).
MAX_BYTES = 10 * 1024 * 1024
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)")


class ReportError(RuntimeError):
    """The report would break one of its rules (arm-level data in the open report)."""


def format_cell(value: Any) -> str:
    """Text of one table cell: decimals to 3 significant digits, the rest as is.

    Booleans (``true``/``false`` as written in the TSVs) read ``yes``/``no``;
    the word ``none`` (an AE's action, a transform) is shown, not blanked.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        value = repr(value)
    s = str(value)
    if _FLOAT.fullmatch(s.strip()):
        return fmt_num(s)
    if s.strip().lower() == "nan":
        return ""
    return yes_no(s)


def _as_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return yes_no(str(value))


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


def _open_filter(section: Section, ctx: ReportContext) -> Section:
    """Drop arm-level blocks and check what remains (open report).

    A "not run" block whose missing files are all closed files of this run
    (withheld by the firewall) becomes a note pointing to the closed report.
    """
    arm_set = {str(a) for a in ctx.arms}
    kept = []
    for b in section.blocks:
        if b.arm_level:
            continue
        if isinstance(b, NotRun) and b.missing:
            if all(ctx.is_withheld(m) for m in b.missing):
                what = b.what[:1].upper() + b.what[1:]
                b = Text(
                    f"{what}: results by arm are in the closed DSMB report.",
                    kind="note",
                )
        kept.append(b)
    mentions_closed = any(
        isinstance(b, Text) and "closed DSMB report" in b.text for b in kept
    )
    if len(kept) < len(section.blocks) and not mentions_closed:
        kept.append(Text(CLOSED_NOTE, kind="note"))
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
            _open_filter(sec, ctx)
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


def css_string(text: str) -> str:
    """Quote text as a CSS string (for the page-margin boxes of the print style)."""
    out = []
    for ch in text:
        if ch in '"\\<>' or ord(ch) < 32:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def page_css(audience: str, trial_id: str, cut: str) -> str:
    """Print style of one report: banner and data cut on every page, page numbers."""
    if audience == "closed":
        banner = f"CLOSED: DSMB members only | {trial_id} | data cut {cut}"
        colour = "#b3261e"
    else:
        banner = (
            f"OPEN report (pooled, no results by arm) | {trial_id} | data cut {cut}"
        )
        colour = "#1f4e9c"
    return (
        "@page { size: A4; margin: 16mm 11mm 15mm 11mm;"
        f" @top-center {{ content: {css_string(banner)}; color: {colour};"
        " font: bold 9px sans-serif; }"
        ' @bottom-right { content: "Page " counter(page) " of " counter(pages);'
        " font: 9px sans-serif; color: #5b6673; }"
        f" @bottom-left {{ content: {css_string(trial_id + ' ' + audience + ' report')};"
        " font: 9px sans-serif; color: #5b6673; } }"
    )


def provenance_section(number: int, prov: dict[str, Any]) -> Section:
    """Last section: what produced the report and the sha256 of every file it read."""
    sec = Section(key="provenance", number=number, title="Provenance")
    modified = prov.get("exomir_modified")
    commit = str(prov["exomir_commit"])
    if modified:
        commit += " (with local changes)"
    sec.add(
        KeyValues(
            [
                ("exomir version", str(prov["exomir_version"])),
                ("exomir commit", commit),
                ("Config sha256", str(prov["config_sha256"])),
                ("Workflow run started", str(prov["workflow_run_started"])),
                ("Report written (UTC)", str(prov["report_finished"])),
                ("Host", str(prov["host"])),
            ],
            source=["results/report/provenance.json"],
        )
    )
    files = pd.DataFrame(
        [(f["path"], f["sha256"], str(f["bytes"])) for f in prov["files_read"]],
        columns=["file read", "sha256", "bytes"],
    )
    sec.add(
        Table(
            f"Files this report read ({len(files)})",
            files,
            source=["results/report/provenance.json"],
            note="Recompute with `sha256sum FILE` in the run directory to check that a filed report matches its results.",
            preformatted=True,
            wide=True,
        )
    )
    return sec


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


def render_html(
    ctx: ReportContext,
    strict: bool = False,
    started: float | None = None,
) -> tuple[str, dict[str, Any]]:
    """Render the report as an HTML string.

    Returns
    -------
    tuple
        The HTML and its provenance record (:func:`provenance_record`).
    """
    t0 = time.time() if started is None else started
    sections = render_sections(ctx, strict=strict)
    trial = ctx.config.get("trial", {})
    cut = data_cut(ctx)
    prov = provenance_record(
        ctx.root, ctx.audience, ctx.sources, t0, time.time(), data_cut=cut
    )
    sections.append(provenance_section(len(sections) + 1, prov))
    for sec in sections:
        sec.blocks = [_prepare(b) for b in sec.blocks]
    trial_id = str(trial.get("id", ""))
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    css += "\n" + page_css(ctx.audience, trial_id, cut)
    not_run = [(s, b) for s in sections for b in s.blocks if isinstance(b, NotRun)]
    notes = study_notes(ctx)
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            trial_id=trial_id,
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
    return html, prov


def build_report(
    root: str | Path,
    config: dict[str, Any],
    audience: str,
    out: str | Path,
    available: Iterable[str] | None = None,
    strict: bool = False,
    provenance: dict[str, Any] | None = None,
    withheld: Iterable[str] | None = None,
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
    provenance
        When given, filled with the build's provenance record
        (:func:`exomir.report.provenance.provenance_record`).
    withheld
        Open report: the closed results files of this run (never read; the
        sections that need them point to the closed report). ``None``: the
        closed files that exist.

    Returns
    -------
    Path
        The written file.
    """
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, got {audience!r}")
    t0 = time.perf_counter()
    started = time.time()
    avail = None if available is None else {str(Path(p)) for p in available}
    ctx = ReportContext(
        root=Path(root),
        config=config,
        audience=audience,  # type: ignore[arg-type]
        available=avail,
        withheld=None if withheld is None else {str(Path(p)) for p in withheld},
    )
    html, prov = render_html(ctx, strict=strict, started=started)
    if provenance is not None:
        provenance.update(prov)
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


def report_step(
    html: str | Path,
    provenance: str | Path,
    results: Iterable[str | Path],
    settings: ReportSettings,
    root: str | Path = ".",
) -> Path:
    """Build one report in a workflow job and write its provenance record.

    Parameters
    ----------
    html, provenance
        The report and its provenance JSON (rule outputs).
    results
        The results files the rule declares; the report reads no other one.
    settings
        Audience, quoted config and withheld files (built at parse time).
    root
        The workflow's working directory.
    """
    record: dict[str, Any] = {}
    out = build_report(
        root,
        settings.config,
        settings.audience,
        html,
        [str(p) for p in results],
        provenance=record,
        withheld=list(settings.withheld),
    )
    with atomic_open(provenance, "w") as fh:
        json.dump({"report": str(html), **record}, fh, indent=2)
        fh.write("\n")
    return out
