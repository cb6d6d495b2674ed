"""The long-term outcomes section: by arm in the closed report, pooled in the open one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _report_fixture import build_tree
from test_survival import ARMS, _trial

from exomir.report.builder import build_report
from exomir.report.context import ReportContext
from exomir.report.model import Section
from exomir.report.sections.outcomes import outcomes
from exomir.survival.data import SurvivalSettings
from exomir.survival.stage import time_to_event_step


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("outcomes")
    cfg = build_tree(root, hostile=False)
    parts, events = _trial(120, 0.5, seed=5)
    parts.to_csv(root / "parts.tsv", sep="\t", index=False)
    events.to_csv(root / "events.tsv", sep="\t", index=False)
    s = SurvivalSettings(
        endpoints=(("MACE", "Major adverse cardiovascular event"),),
        data_cut="2028-06-30", arms=ARMS, strata=("stratum",),
    )  # fmt: skip
    out = root / "results" / "events"
    time_to_event_step(
        participants=root / "parts.tsv",
        events=root / "events.tsv",
        clinical=None,
        outputs={
            k: out / f"{k}.tsv" if k != "pooled" else out / "events_open.tsv"
            for k in ("summary", "km", "at_risk", "cox", "pooled")
        },
        figures=[out / "km_MACE.png"],
        settings=s,
    )
    cfg["sheets"]["events"] = "config/events.tsv"
    cfg["time_to_event"] = {"endpoints": {"MACE": {"label": s.endpoints[0][1]}}}
    html = {}
    for aud in ("open", "closed"):
        dest = root / "results" / "report" / f"{aud}.html"
        build_report(root, cfg, aud, dest, strict=True)
        page = dest.read_text(encoding="utf-8")
        start = page.index('data-section="outcomes"')
        html[aud] = page[start : page.index("</section>", start)]
    html["cox"] = (out / "cox.tsv").read_text()
    return html


def test_closed_report_shows_hazard_ratio_and_curves(reports: dict[str, str]) -> None:
    closed = reports["closed"]
    assert "Cox proportional-hazards model of the arm" in closed
    assert "exosome vs placebo" in closed and "Stratified by stratum" in closed
    hr = float(reports["cox"].splitlines()[1].split("\t")[4])
    assert f"{hr:.2f}" in closed
    assert "Kaplan-Meier estimates by arm" in closed
    assert closed.count("data:image/png;base64,") == 1
    assert "Competing deaths (arms pooled)" in closed


def test_open_report_shows_pooled_counts_only(reports: dict[str, str]) -> None:
    opened = reports["open"]
    assert "Events by endpoint, arms pooled" in opened
    assert "Results by arm are in the closed DSMB report." in opened
    assert (
        "Cox proportional-hazards model" not in opened and "HR (95% CI)" not in opened
    )
    assert "Kaplan-Meier estimates by arm" not in opened
    assert "data:image" not in opened
    cells = set(re.findall(r"<td[^>]*>([^<]*)</td>", opened))
    assert not set(ARMS) & cells


def test_section_says_not_run_without_events(tmp_path: Path) -> None:
    ctx = ReportContext(root=tmp_path, config={"sheets": {}}, audience="closed")
    sec = outcomes(ctx, Section(key="outcomes", number=10, title="x"))
    assert sec.not_run_only and "needs sheets.events" in sec.blocks[0].what
