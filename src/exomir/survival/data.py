"""Time-to-event data: settings and one row per participant and endpoint.

Time zero is the participant's ``randomization_date`` (config
``time_to_event.origin``). Follow-up ends at the earliest of

* the **last contact**: ``participants.last_contact_date``; when it is empty,
  the latest ``visit_date`` of the participant in ``clinical_measurements.tsv``;
  when there is none, the data cut (complete follow-up assumed). A recorded
  event or death later than this fallback moves it to that date (the
  participant was known to be alive and followed then);
* the **data cut** (config ``trial.data_cut``);
* the **horizon** (``time_to_event.horizon_days`` after time zero);
* **death** (``time_to_event.death_endpoint``): for any other endpoint a death
  before the event is a competing event.

Each participant and endpoint then has a time in days and a status: 1 = the
event within follow-up, 2 = a competing death first, 0 = censored. An event
on the day of death counts as the event. The Kaplan-Meier and Cox analyses
treat status 2 as censored; the Aalen-Johansen cumulative incidence treats it
as a competing event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from exomir.validate_events import parse_date

#: Days per month used for the fixed reporting times (month m = floor(m x 365/12) days,
#: so 3, 6, 12 and 24 months are days 91, 182, 365 and 730 as in design.schedule).
DAYS_PER_MONTH = 365 / 12
#: Months at which numbers at risk are shown (those within the horizon).
AT_RISK_MONTHS = (0, 3, 6, 12, 18, 24)
#: Months of the event-free probabilities in summary.tsv.
SUMMARY_MONTHS = (12, 24)
#: Status codes of the analysis data.
CENSORED, EVENT, COMPETING = 0, 1, 2


def month_day(month: float) -> int:
    """Day since time zero of a reporting month (floor of month x 365/12)."""
    return int(month * DAYS_PER_MONTH + 1e-9)


@dataclass(frozen=True)
class SurvivalSettings:
    """Settings of the time-to-event stage, built at workflow parse time.

    Attributes
    ----------
    endpoints
        ``(code, label)`` of each configured endpoint, in config order.
    death_endpoint
        Code of deaths in ``events.tsv``.
    horizon_days
        Follow-up horizon from time zero.
    data_cut
        ``trial.data_cut`` as ``YYYY-MM-DD``.
    arms
        Configured arms, reference (control) first.
    strata
        Participants columns of the randomisation strata (Cox model strata,
        stratified log-rank).
    ci_level
        Confidence level of the intervals.
    ph_alpha
        A proportional-hazards test p-value below this sets ``ph_flag``.
    seed
        Seed of lifelines' tie-breaking jitter in the Aalen-Johansen fit.
    """

    endpoints: tuple[tuple[str, str], ...]
    death_endpoint: str = "death"
    horizon_days: float = 730.0
    data_cut: str = ""
    arms: tuple[str, ...] = ()
    strata: tuple[str, ...] = ()
    ci_level: float = 0.95
    ph_alpha: float = 0.05
    seed: int = 20261207

    @property
    def at_risk_months(self) -> tuple[int, ...]:
        """Reporting months within the horizon."""
        return tuple(m for m in AT_RISK_MONTHS if month_day(m) <= self.horizon_days)


def survival_settings(config: Mapping[str, Any]) -> SurvivalSettings:
    """Read config ``time_to_event``, ``trial.data_cut`` and the design (validated)."""
    tte = dict(config.get("time_to_event") or {})
    design = dict(config.get("design") or {})
    endpoints = tuple(
        (str(code), str(spec["label"]))
        for code, spec in (tte.get("endpoints") or {}).items()
    )
    return SurvivalSettings(
        endpoints=endpoints,
        death_endpoint=str(tte.get("death_endpoint", "death")),
        horizon_days=float(tte.get("horizon_days", 730)),
        data_cut=str((config.get("trial") or {}).get("data_cut") or "")[:10],
        arms=tuple(str(a) for a in design.get("arms", [])),
        strata=tuple(str(s) for s in design.get("strata", []) or []),
    )


def _last_visit(clinical: pd.DataFrame | None) -> dict[str, date]:
    """Latest visit date of each participant in the clinical sheet."""
    if clinical is None or "visit_date" not in clinical.columns:
        return {}
    out: dict[str, date] = {}
    for pid, value in zip(
        clinical["participant_id"], clinical["visit_date"], strict=True
    ):
        d = parse_date(value)
        if d is not None and (str(pid) not in out or d > out[str(pid)]):
            out[str(pid)] = d
    return out


def _strata_value(value: Any) -> str:
    """Return a stratum level as text; an empty cell is its own level ``missing``."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return "missing"
    return str(value)


def time_to_event_data(
    participants: pd.DataFrame,
    events: pd.DataFrame,
    settings: SurvivalSettings,
    clinical: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Build the analysis data: one row per participant and configured endpoint.

    Parameters
    ----------
    participants
        Validated participants sheet (``participant_id``, ``arm``,
        ``randomization_date``, optional ``last_contact_date``, strata columns).
    events
        Validated events sheet (one row per participant and endpoint).
    settings
        Stage settings.
    clinical
        Clinical measurements (``visit_date``), for the last-contact fallback.

    Returns
    -------
    pandas.DataFrame
        Columns ``endpoint, participant_id, arm, <strata>, time, status,
        follow_up_end`` (time in days from randomisation; status 0 censored,
        1 event, 2 competing death), sorted by endpoint (config order) and
        participant.
    """
    cut = parse_date(settings.data_cut)
    if cut is None:
        raise ValueError("trial.data_cut is not a date; the validation requires it")
    last_visit = _last_visit(clinical)
    when: dict[tuple[str, str], date] = {}
    for pid, ep, d in zip(
        events["participant_id"], events["endpoint"], events["event_date"], strict=True
    ):
        parsed = parse_date(d)
        if parsed is not None:
            when.setdefault((str(pid), str(ep)), parsed)
    latest_event: dict[str, date] = {}
    for (pid, _), d in when.items():
        latest_event[pid] = max(d, latest_event.get(pid, d))
    rows = []
    for _, p in participants.sort_values("participant_id").iterrows():
        pid = str(p["participant_id"])
        t0 = parse_date(p.get("randomization_date"))
        if t0 is None:
            raise ValueError(f"participant {pid} has no randomization_date")
        contact = parse_date(p.get("last_contact_date"))
        if contact is None:
            contact = last_visit.get(pid, cut)
            if pid in latest_event:
                contact = max(contact, latest_event[pid])
        end_day = min((min(contact, cut) - t0).days, settings.horizon_days)
        died = when.get((pid, settings.death_endpoint))
        death_day = (died - t0).days if died is not None else None
        base = {"participant_id": pid, "arm": str(p["arm"])}
        base.update({s: _strata_value(p.get(s)) for s in settings.strata})
        for code, _ in settings.endpoints:
            ev = when.get((pid, code))
            ev_day = (ev - t0).days if ev is not None else None
            time, status = float(end_day), CENSORED
            if (
                death_day is not None
                and death_day <= end_day
                and code != settings.death_endpoint
            ):
                time, status = float(death_day), COMPETING
            if ev_day is not None and ev_day <= time:
                time, status = float(ev_day), EVENT
            rows.append({"endpoint": code, **base, "time": time, "status": status})
    out = pd.DataFrame(rows)
    order = {code: i for i, (code, _) in enumerate(settings.endpoints)}
    if out.empty:
        return out
    out["_o"] = out["endpoint"].map(order)
    return (
        out.sort_values(["_o", "participant_id"])
        .drop(columns="_o")
        .reset_index(drop=True)
    )
