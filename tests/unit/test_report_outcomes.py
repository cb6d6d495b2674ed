"""The long-term outcomes section: by arm in the closed report, pooled in the open one.

The section is rendered from the stage's real outputs (synthetic trial) and,
for the open report, passed through the builder's open filter (the step that
drops arm-level blocks), without building whole reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_survival import ARMS, _trial

from exomir.report.builder import _open_filter
from exomir.report.context import ReportContext
from exomir.report.model import Figure, NotRun, Section, Table, Text
from exomir.report.sections.outcomes import outcomes
from exomir.survival.data import SurvivalSettings
from exomir.survival.stage import time_to_event_step

LABEL = "Major adverse cardiovascular event"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("outcomes")
    parts, events = _trial(120, 0.5, seed=5)
    parts.to_csv(root / "parts.tsv", sep="\t", index=False)
    events.to_csv(root / "events.tsv", sep="\t", index=False)
    s = SurvivalSettings(
        endpoints=(("MACE", LABEL),), data_cut="2028-06-30", arms=ARMS,
        strata=("stratum",),
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
    return root


def _render(root: Path, audience: str) -> Section:
    cfg = {
        "sheets": {"events": "config/events.tsv"},
        "design": {"arms": list(ARMS), "strata": ["stratum"]},
        "time_to_event": {"endpoints": {"MACE": {"label": LABEL}}, "horizon_days": 730},
    }
    ctx = ReportContext(root=root, config=cfg, audience=audience)  # type: ignore[arg-type]
    sec = outcomes(ctx, Section(key="outcomes", number=10, title="Long-term outcomes"))
    return _open_filter(sec, ctx) if audience == "open" else sec


def _tables(sec: Section) -> dict[str, Table]:
    return {b.title: b for b in sec.blocks if isinstance(b, Table)}


def test_closed_report_shows_hazard_ratio_and_curves(root: Path) -> None:
    sec = _render(root, "closed")
    tables = _tables(sec)
    cox = tables["Cox proportional-hazards model of the arm"].data.iloc[0]
    assert cox["comparison"] == "exosome vs placebo"
    hr = float(
        (root / "results/events/cox.tsv").read_text().splitlines()[1].split("\t")[4]
    )
    assert cox["HR (95% CI)"].startswith(f"{hr:.2f}")
    assert (
        "Stratified by stratum"
        in tables["Cox proportional-hazards model of the arm"].note
    )
    km = tables["Kaplan-Meier estimates by arm"].data
    assert list(km["arm"]) == list(ARMS)
    figs = [b for b in sec.blocks if isinstance(b, Figure)]
    assert len(figs) == 1 and figs[0].uri.startswith("data:image/png;base64,")
    texts = " ".join(b.text for b in sec.blocks if isinstance(b, Text))
    assert "Competing deaths (arms pooled)" in texts and "730 days" in texts


def test_open_report_shows_pooled_counts_only(root: Path) -> None:
    sec = _render(root, "open")
    assert set(_tables(sec)) == {"Events by endpoint, arms pooled"}
    pooled = _tables(sec)["Events by endpoint, arms pooled"].data.iloc[0]
    assert pooled["endpoint"] == LABEL and int(pooled["participants"]) == 120
    assert not any(isinstance(b, Figure) for b in sec.blocks)
    assert not any(b.arm_level for b in sec.blocks)
    texts = " ".join(b.text for b in sec.blocks if isinstance(b, Text))
    assert "Results by arm are in the closed DSMB report." in texts
    assert not any(a in texts.split() for a in ARMS)


def test_section_says_not_run_without_events(tmp_path: Path) -> None:
    ctx = ReportContext(root=tmp_path, config={"sheets": {}}, audience="closed")
    sec = outcomes(ctx, Section(key="outcomes", number=10, title="x"))
    assert sec.not_run_only
    block = sec.blocks[0]
    assert isinstance(block, NotRun) and "needs sheets.events" in block.what
