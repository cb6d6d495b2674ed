"""The time-to-event stage in a workflow run (a copy of the shared small trial).

An events sheet written here (the simulator does not write one yet) is added
to a copy of the small simulated trial with ``time_to_event`` and a data cut;
only the stage's targets are built. The reports' jobs are planned with a dry
run: the closed report reads the stage's tables and figures, the open report
only the pooled counts.
"""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _workflow import copy_run, run_checked, snakemake_cmd

EVENTS_TARGETS = (
    "results/events/summary.tsv",
    "results/events/km.tsv",
    "results/events/at_risk.tsv",
    "results/events/cox.tsv",
    "results/events/events_open.tsv",
    "results/events/km_CHTN.png",
    "results/events/km_MACE.png",
)


def _add_events(scn: Path) -> pd.DataFrame:
    """Write events.tsv and the config keys; return the planted events."""
    parts = pd.read_csv(scn / "config/participants.tsv", sep="\t", dtype=str)
    rows = []
    for i, (pid, rand) in enumerate(
        zip(parts["participant_id"], parts["randomization_date"], strict=True)
    ):
        t0 = date.fromisoformat(rand)
        if i % 3 == 0:
            rows.append((pid, "CHTN", t0 + timedelta(days=60 + 10 * i)))
        if i == 4:
            rows.append((pid, "death", t0 + timedelta(days=200)))
    placebo = parts.loc[parts["arm"] == parts["arm"].iloc[0], "participant_id"]
    first = parts.set_index("participant_id").loc[placebo.iloc[-1]]
    rows.append(
        (
            placebo.iloc[-1],
            "MACE",
            date.fromisoformat(first["randomization_date"]) + timedelta(days=30),
        )
    )
    ev = pd.DataFrame(rows, columns=["participant_id", "endpoint", "event_date"])
    ev["event_date"] = ev["event_date"].map(date.isoformat)
    ev.to_csv(scn / "config/events.tsv", sep="\t", index=False)
    cfg_path = scn / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["sheets"]["events"] = "config/events.tsv"
    cfg["trial"]["data_cut"] = "2027-06-30"
    cfg["time_to_event"] = {
        "endpoints": {
            "CHTN": {"label": "New chronic hypertension"},
            "MACE": {"label": "Major adverse cardiovascular event"},
        }
    }
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return ev.merge(parts[["participant_id", "arm"]], on="participant_id")


@pytest.fixture(scope="module")
def events_run(
    small_trial_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, pd.DataFrame]:
    scn = copy_run(small_trial_run, tmp_path_factory.mktemp("events") / "scn")
    planted = _add_events(scn)
    run_checked(snakemake_cmd(scn, *EVENTS_TARGETS))
    return scn, planted


def _tsv(scn: Path, rel: str) -> pd.DataFrame:
    return pd.read_csv(scn / rel, sep="\t", keep_default_na=False)


@pytest.mark.slow
def test_stage_counts_the_planted_events(events_run: tuple[Path, pd.DataFrame]) -> None:
    scn, planted = events_run
    parts = pd.read_csv(scn / "config/participants.tsv", sep="\t")
    summary = _tsv(scn, "results/events/summary.tsv")
    for (code, arm), sub in summary.groupby(["endpoint", "arm"]):
        assert int(sub["n"].iloc[0]) == int((parts["arm"] == arm).sum())
        want = planted[(planted["endpoint"] == code) & (planted["arm"] == arm)]
        # the death (participant index 4) has no CHTN planted, so none is lost
        assert int(sub["events"].iloc[0]) == len(want), (code, arm)
    assert summary["competing_deaths"].sum() == 2  # the death, for CHTN and MACE
    cox = _tsv(scn, "results/events/cox.tsv").set_index("endpoint")
    assert cox.loc["MACE", "note"] == "hazard ratio not estimable: an arm has no events"
    assert cox.loc["CHTN", "hazard_ratio"] != "" and cox.loc["CHTN", "strata"] != ""
    pooled = _tsv(scn, "results/events/events_open.tsv")
    assert "arm" not in pooled.columns
    assert list(pooled["events"]) == [
        int((planted["endpoint"] == c).sum()) for c in ("CHTN", "MACE")
    ]
    for fig in ("km_CHTN.png", "km_MACE.png"):
        assert (scn / "results/events" / fig).read_bytes()[:4] == b"\x89PNG"
    assert (scn / "logs/time_to_event/time_to_event.log").is_file()


@pytest.mark.slow
def test_reports_read_the_stage_through_the_firewall(
    events_run: tuple[Path, pd.DataFrame],
) -> None:
    scn, _ = events_run
    proc = subprocess.run(
        snakemake_cmd(
            scn,
            "--dry-run",
            "results/report/exomir_report.html",
            "results/report/dsmb_closed.html",
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    jobs = dict(re.findall(r"^rule (\w+):\n    input: (.*)$", proc.stdout, re.M))
    open_in = set(jobs["report_open"].split(", "))
    closed_in = set(jobs["report_closed"].split(", "))
    assert {f for f in open_in if f.startswith("results/events/")} == {
        "results/events/events_open.tsv"
    }
    assert set(EVENTS_TARGETS) <= closed_in
