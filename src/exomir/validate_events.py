"""Checks of the long-term events sheet and of the participants' follow-up dates.

Part of the scenario validation (:func:`exomir.validate.validate_config_and_tables`),
so ``exomir validate`` and the workflow (at parse time) both run them. A
time-to-event analysis is only as good as its dates, so every inconsistency is
an error naming the file, line, row and column:

* ``events.tsv``: a participant not in ``participants.tsv``; an endpoint that is
  neither a ``time_to_event.endpoints`` code nor the death code; an event before
  the participant's randomisation or after ``trial.data_cut``; a second row for
  the same participant and endpoint (only the first occurrence is recorded); an
  event after the participant's death; an event after the participant's
  ``last_contact_date``.
* ``participants.tsv``: ``last_contact_date`` before randomisation or after the
  data cut (checked whenever the column is filled); with an events sheet, every
  participant needs a ``randomization_date`` (time zero).
* ``config.yaml``: with an events sheet, ``trial.data_cut`` must be a date and
  ``time_to_event.endpoints`` must name at least one endpoint.

An event after the last contact is an **error**, not a warning: the last
contact is the latest date the participant's status is known, so an event
recorded later means one of the two dates is wrong, and guessing which would
silently change the censoring. An event on the day of randomisation is
allowed (time 0).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pandas as pd

from exomir.errors import Issue
from exomir.preflight import CONFIG_LABEL

#: Endpoint codes name files (results/events/km_<code>.png).
SAFE_CODE = re.compile(r"[A-Za-z0-9_.-]+")


def parse_date(value: Any) -> date | None:
    """Return a date from a ``YYYY-MM-DD`` cell (or ISO date-time), else ``None``.

    The sheets' schemas already check the format; this only turns the text
    into a :class:`datetime.date` (empty or malformed cells give ``None``).
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def data_cut_date(cfg: dict[str, Any]) -> date | None:
    """Return config ``trial.data_cut`` as a date (``None`` when unset or not a date)."""
    return parse_date((cfg.get("trial") or {}).get("data_cut") or None)


def _config_issues(cfg: dict[str, Any]) -> list[Issue]:
    """With an events sheet: a data cut date and at least one endpoint."""
    issues: list[Issue] = []
    raw = str((cfg.get("trial") or {}).get("data_cut") or "")
    if data_cut_date(cfg) is None:
        what = f"'{raw}' is not a date" if raw else "it is not set"
        issues.append(
            Issue(
                CONFIG_LABEL,
                f"sheets.events needs the data cut as a date (YYYY-MM-DD) and {what}; "
                "participants without a later contact are censored at the data cut",
                column="trial.data_cut",
            )
        )
    for code in (cfg.get("time_to_event") or {}).get("endpoints") or {}:
        if not SAFE_CODE.fullmatch(str(code)):
            issues.append(
                Issue(
                    CONFIG_LABEL,
                    f"endpoint code '{code}' may hold only letters, digits, '_', "
                    "'.' and '-' (it names the endpoint's figure file)",
                    column="time_to_event.endpoints",
                )
            )
    if not (cfg.get("time_to_event") or {}).get("endpoints"):
        issues.append(
            Issue(
                CONFIG_LABEL,
                "sheets.events is given but no endpoint is configured; name the "
                "endpoint codes of events.tsv, e.g. CHTN: {label: New chronic "
                "hypertension}",
                column="time_to_event.endpoints",
            )
        )
    return issues


def check_last_contact(
    parts: pd.DataFrame, cfg: dict[str, Any], label: str, events_given: bool
) -> list[Issue]:
    """Check ``last_contact_date`` (and, with events, ``randomization_date``).

    Parameters
    ----------
    parts
        Participants table (with ``_line``).
    cfg
        Validated configuration.
    label
        File name of the participants sheet for messages.
    events_given
        Whether the config names an events sheet (then time zero is required).

    Returns
    -------
    list[Issue]
        Problems found.
    """
    issues: list[Issue] = []
    cut = data_cut_date(cfg)
    for _, row in parts.iterrows():
        rid = f"participant_id={row['participant_id']}"
        line = int(row["_line"])
        rand = parse_date(row.get("randomization_date"))
        if events_given and rand is None:
            issues.append(
                Issue(
                    label,
                    "randomization_date is empty; the time-to-event analyses "
                    "(sheets.events) count time from randomisation",
                    line=line,
                    column="randomization_date",
                    row_id=rid,
                )
            )
        if events_given and rand is not None and cut is not None and rand > cut:
            issues.append(
                Issue(
                    label,
                    f"randomization_date {rand} is after the data cut {cut} (config "
                    "trial.data_cut); a participant randomised after the cut has no "
                    "follow-up in this analysis",
                    line=line,
                    column="randomization_date",
                    row_id=rid,
                )
            )
        last = parse_date(row.get("last_contact_date"))
        if last is None:
            continue
        if rand is not None and last < rand:
            issues.append(
                Issue(
                    label,
                    f"last_contact_date {last} is before the randomisation on {rand}",
                    line=line,
                    column="last_contact_date",
                    row_id=rid,
                )
            )
        if cut is not None and last > cut:
            issues.append(
                Issue(
                    label,
                    f"last_contact_date {last} is after the data cut {cut} "
                    "(config trial.data_cut); contacts after the cut are not part "
                    "of this analysis: give the last contact up to the cut",
                    line=line,
                    column="last_contact_date",
                    row_id=rid,
                )
            )
    return issues


def _event_row_issues(
    row: pd.Series,
    part: pd.Series | None,
    allowed: list[str],
    cut: date | None,
    label: str,
    parts_label: str,
) -> list[Issue]:
    """Check one event row against its participant, the endpoints and the cut."""
    issues: list[Issue] = []
    line = int(row["_line"])
    rid = f"participant_id={row['participant_id']}, endpoint={row['endpoint']}"
    if part is None:
        issues.append(
            Issue(
                label,
                f"participant '{row['participant_id']}' is not in {parts_label}",
                line=line,
                column="participant_id",
                row_id=rid,
            )
        )
    if row["endpoint"] not in allowed:
        issues.append(
            Issue(
                label,
                f"'{row['endpoint']}' is not a time-to-event endpoint; use one of: "
                f"{', '.join(allowed)} (config time_to_event.endpoints and "
                "time_to_event.death_endpoint)",
                line=line,
                column="endpoint",
                row_id=rid,
            )
        )
    when = parse_date(row["event_date"])
    if when is None:
        return issues
    rand = parse_date(part.get("randomization_date")) if part is not None else None
    if rand is not None and when < rand:
        issues.append(
            Issue(
                label,
                f"event_date {when} is before the participant's randomisation on "
                f"{rand} ({parts_label} randomization_date)",
                line=line,
                column="event_date",
                row_id=rid,
            )
        )
    if cut is not None and when > cut:
        issues.append(
            Issue(
                label,
                f"event_date {when} is after the data cut {cut} (config "
                "trial.data_cut); events after the cut belong to a later analysis",
                line=line,
                column="event_date",
                row_id=rid,
            )
        )
    last = parse_date(part.get("last_contact_date")) if part is not None else None
    if part is not None and last is not None and when > last:
        issues.append(
            Issue(
                label,
                f"event_date {when} is after the participant's last contact on {last} "
                f"({parts_label} line {int(part['_line'])}, last_contact_date); the "
                "last contact cannot precede a recorded event: correct one of the dates",
                line=line,
                column="event_date",
                row_id=rid,
            )
        )
    return issues


def check_events(
    events: pd.DataFrame,
    parts: pd.DataFrame | None,
    cfg: dict[str, Any],
    label: str,
    parts_label: str = "participants.tsv",
) -> list[Issue]:
    """Check the events sheet against the participants and the configuration.

    Parameters
    ----------
    events
        Events table from :func:`exomir.tables.read_table` (with ``_line``).
    parts
        Participants table, or ``None`` when it failed to load (then the
        participant-level checks are skipped; its own errors are reported).
    cfg
        Validated configuration.
    label
        File name of the events sheet for messages.
    parts_label
        File name of the participants sheet for messages.

    Returns
    -------
    list[Issue]
        Problems found, in file order.
    """
    issues = _config_issues(cfg)
    tte = cfg.get("time_to_event") or {}
    death = str(tte.get("death_endpoint", "death"))
    allowed = [*(tte.get("endpoints") or {}), death]
    allowed = list(dict.fromkeys(allowed))
    cut = data_cut_date(cfg)
    by_id = (
        {str(r["participant_id"]): r for _, r in parts.iterrows()}
        if parts is not None
        else None
    )
    first_line: dict[tuple[str, str], int] = {}
    death_of: dict[str, date] = {}
    for _, row in events[events["endpoint"] == death].iterrows():
        when = parse_date(row["event_date"])
        if when is not None:
            death_of.setdefault(str(row["participant_id"]), when)
    for _, row in events.iterrows():
        pid, ep, line = (
            str(row["participant_id"]),
            str(row["endpoint"]),
            int(row["_line"]),
        )
        rid = f"participant_id={pid}, endpoint={ep}"
        if (pid, ep) in first_line:
            issues.append(
                Issue(
                    label,
                    f"a second row for participant {pid} and endpoint {ep} (the first "
                    f"is on line {first_line[pid, ep]}); record only the first "
                    "occurrence of each endpoint",
                    line=line,
                    column="endpoint",
                    row_id=rid,
                )
            )
            continue
        first_line[pid, ep] = line
        if by_id is None:
            part = pd.Series({"randomization_date": None, "_line": 0})
        else:
            part = by_id.get(pid)
        issues += _event_row_issues(row, part, allowed, cut, label, parts_label)
        when = parse_date(row["event_date"])
        died = death_of.get(pid)
        if ep != death and when is not None and died is not None and when > died:
            issues.append(
                Issue(
                    label,
                    f"event_date {when} is after the participant's death on {died} "
                    f"(endpoint {death} in this sheet)",
                    line=line,
                    column="event_date",
                    row_id=rid,
                )
            )
    return issues
