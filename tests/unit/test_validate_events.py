"""The events sheet and the follow-up dates: each bad input gives a located message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_validate import _errors, scenario  # noqa: F401  (fixture)

from exomir.validate import validate_scenario

PARTS = (
    "participant_id\tarm\tstratum\tev_lot_id\ted_reference\trandomization_date"
    "\tlast_contact_date\n"
    "P1\tplacebo\tS1\t\t1\t2025-01-10\t2026-06-01\n"
    "P2\texosome\tS1\tL1\t0\t2025-02-01\t\n"
)
EVENTS_HEADER = "participant_id\tendpoint\tevent_date\tdescription\n"


def _with_events(d: Path, rows: str, data_cut: str | None = "2026-09-01") -> Path:
    """Add an events sheet, the time_to_event block and dates to the scenario."""
    cfg_path = d / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["sheets"]["events"] = "config/events.tsv"
    cfg["time_to_event"] = {
        "endpoints": {
            "CHTN": {"label": "New chronic hypertension"},
            "MACE": {"label": "MACE"},
        }
    }
    if data_cut is not None:
        cfg["trial"]["data_cut"] = data_cut
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    (d / "config" / "participants.tsv").write_text(PARTS)
    (d / "config" / "events.tsv").write_text(EVENTS_HEADER + rows)
    return d


def test_valid_events_load(scenario: Path) -> None:  # noqa: F811
    """Events on the day of randomisation and on the last contact are accepted."""
    _with_events(
        scenario,
        "P1\tCHTN\t2025-01-10\tday 0\nP1\tMACE\t2026-06-01\t\nP2\tdeath\t2026-01-05\t\n",
    )
    scn = validate_scenario(scenario)
    assert list(scn.tables["events"]["endpoint"]) == ["CHTN", "MACE", "death"]


def test_each_bad_event_row_is_located(scenario: Path) -> None:  # noqa: F811
    """Unknown participant and endpoint, dates out of range, duplicate, after death."""
    _with_events(
        scenario,
        "P9\tCHTN\t2025-05-01\t\n"  # line 2: unknown participant
        "P2\tSTROKE\t2025-05-01\t\n"  # line 3: unknown endpoint
        "P2\tCHTN\t2025-01-31\t\n"  # line 4: before randomisation (2025-02-01)
        "P2\tMACE\t2026-09-02\t\n"  # line 5: after the data cut
        "P1\tCHTN\t2025-03-01\t\n"  # line 6: first CHTN of P1
        "P1\tCHTN\t2025-04-01\t\n"  # line 7: second CHTN of P1
        "P1\tMACE\t2026-06-02\t\n"  # line 8: after P1's last contact
        "P2\tdeath\t2025-06-01\t\n"  # line 9
        "P2\tREHOSP\t2025-07-01\t\n",  # line 10: unknown endpoint, after death
    )
    errs = _errors(scenario)
    f = "config/events.tsv"
    assert errs == [
        f"{f} line 2 (participant_id=P9, endpoint=CHTN), column 'participant_id': "
        "participant 'P9' is not in config/participants.tsv",
        f"{f} line 3 (participant_id=P2, endpoint=STROKE), column 'endpoint': "
        "'STROKE' is not a time-to-event endpoint; use one of: CHTN, MACE, death "
        "(config time_to_event.endpoints and time_to_event.death_endpoint)",
        f"{f} line 4 (participant_id=P2, endpoint=CHTN), column 'event_date': "
        "event_date 2025-01-31 is before the participant's randomisation on "
        "2025-02-01 (config/participants.tsv randomization_date)",
        f"{f} line 5 (participant_id=P2, endpoint=MACE), column 'event_date': "
        "event_date 2026-09-02 is after the data cut 2026-09-01 (config "
        "trial.data_cut); events after the cut belong to a later analysis",
        f"{f} line 5 (participant_id=P2, endpoint=MACE), column 'event_date': "
        "event_date 2026-09-02 is after the participant's death on 2025-06-01 "
        "(endpoint death in this sheet)",
        f"{f} line 7 (participant_id=P1, endpoint=CHTN), column 'endpoint': a second "
        "row for participant P1 and endpoint CHTN (the first is on line 6); record "
        "only the first occurrence of each endpoint",
        f"{f} line 8 (participant_id=P1, endpoint=MACE), column 'event_date': "
        "event_date 2026-06-02 is after the participant's last contact on 2026-06-01 "
        "(config/participants.tsv line 2, last_contact_date); the last contact "
        "cannot precede a recorded event: correct one of the dates",
        f"{f} line 10 (participant_id=P2, endpoint=REHOSP), column 'endpoint': "
        "'REHOSP' is not a time-to-event endpoint; use one of: CHTN, MACE, death "
        "(config time_to_event.endpoints and time_to_event.death_endpoint)",
        f"{f} line 10 (participant_id=P2, endpoint=REHOSP), column 'event_date': "
        "event_date 2025-07-01 is after the participant's death on 2025-06-01 "
        "(endpoint death in this sheet)",
    ]


def test_last_contact_out_of_range(scenario: Path) -> None:  # noqa: F811
    """A last contact before randomisation or after the data cut is an error."""
    _with_events(scenario, "")
    p = scenario / "config" / "participants.tsv"
    p.write_text(
        p.read_text()
        .replace("2025-01-10\t2026-06-01", "2025-01-10\t2024-12-31")
        .replace("2025-02-01\t\n", "2025-02-01\t2026-10-01\n")
    )
    errs = _errors(scenario)
    f = "config/participants.tsv"
    assert errs == [
        f"{f} line 2 (participant_id=P1), column 'last_contact_date': "
        "last_contact_date 2024-12-31 is before the randomisation on 2025-01-10",
        f"{f} line 3 (participant_id=P2), column 'last_contact_date': "
        "last_contact_date 2026-10-01 is after the data cut 2026-09-01 (config "
        "trial.data_cut); contacts after the cut are not part of this analysis: "
        "give the last contact up to the cut",
    ]


def test_events_need_data_cut_endpoints_and_randomisation(
    scenario: Path,  # noqa: F811
) -> None:
    """Without a data cut, endpoints or time zero nothing can be analysed."""
    _with_events(scenario, "P1\tCHTN\t2025-03-01\t\n", data_cut=None)
    cfg_path = scenario / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["time_to_event"]["endpoints"] = {}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    p = scenario / "config" / "participants.tsv"
    p.write_text(p.read_text().replace("\t2025-02-01\t", "\t\t"))
    errs = _errors(scenario)
    assert (
        "config/config.yaml, column 'trial.data_cut': sheets.events needs the data "
        "cut as a date (YYYY-MM-DD) and it is not set; participants without a later "
        "contact are censored at the data cut"
    ) in errs
    assert any("column 'time_to_event.endpoints'" in e for e in errs)
    assert (
        "config/participants.tsv line 3 (participant_id=P2), column "
        "'randomization_date': randomization_date is empty; the time-to-event "
        "analyses (sheets.events) count time from randomisation"
    ) in errs
    assert any("'CHTN' is not a time-to-event endpoint" in e for e in errs)


@pytest.mark.parametrize("bad", ["2025-13-01", "01/03/2025"])
def test_malformed_event_date(scenario: Path, bad: str) -> None:  # noqa: F811
    """A date that is not YYYY-MM-DD is a schema error on its row and column."""
    _with_events(scenario, f"P1\tCHTN\t{bad}\t\n")
    errs = _errors(scenario)
    assert len(errs) == 1
    assert errs[0].startswith("config/events.tsv line 2")
    assert "column 'event_date'" in errs[0]


def test_without_events_last_contact_alone_is_checked(
    scenario: Path,  # noqa: F811
) -> None:
    """No events sheet: randomization_date stays optional; last contact still checked."""
    (scenario / "config" / "participants.tsv").write_text(
        "participant_id\tarm\tstratum\tev_lot_id\ted_reference\tlast_contact_date\n"
        "P1\tplacebo\tS1\t\t1\t2026-06-01\nP2\texosome\tS1\tL1\t0\t\n"
    )
    validate_scenario(scenario)


def test_randomised_after_cut_and_unsafe_code(scenario: Path) -> None:  # noqa: F811
    """Randomisation after the data cut; an endpoint code that cannot name a file."""
    _with_events(scenario, "", data_cut="2025-01-31")
    cfg_path = scenario / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["time_to_event"]["endpoints"]["MACE/3"] = {"label": "3-point MACE"}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    p = scenario / "config" / "participants.tsv"
    p.write_text(p.read_text().replace("2026-06-01", ""))
    errs = _errors(scenario)
    assert sorted(errs) == [
        "config/config.yaml, column 'time_to_event.endpoints': endpoint code "
        "'MACE/3' may hold only letters, digits, '_', '.' and '-' (it names the "
        "endpoint's figure file)",
        "config/participants.tsv line 3 (participant_id=P2), column "
        "'randomization_date': randomization_date 2025-02-01 is after the data cut "
        "2025-01-31 (config trial.data_cut); a participant randomised after the cut "
        "has no follow-up in this analysis",
    ]
