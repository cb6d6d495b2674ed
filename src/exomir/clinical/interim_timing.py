"""Interim by information time: when the planned information fraction was reached.

With config ``interim.look_timing: information_time`` the interim look is
placed where the protocol puts it, at the planned information fraction ``f``
(the first of ``interim.information_fractions`` below 1 and after the
``previous_fractions``), rather than at whatever the sheets hold today:

* each evaluable participant (a follow-up value of the primary miRNA,
  ``mir126_values.tsv``) is dated by the blood draw of the primary-visit
  library (samples.tsv ``collection_datetime``, its calendar day; the sheets
  record no assay date);
* the look date is the day the number of evaluable participants reached
  ``ceil(f x interim.planned_evaluable)``; when ``trial.data_cut`` is set and
  earlier, the look is at the data cut (the target was not reached by then);
  when the data never reach the target, the look is at the last dated draw
  (or the data cut) and the table says the target was not reached;
* the interim dataset is every participant evaluable on or before the look
  date (a tie on the look day can take the count past the target: the whole
  day is in). Participants evaluable later are left out of the interim
  ANCOVA, and so are undated ones (counted in ``n_undated``);
* the boundary is recomputed at the actual fraction of that dataset
  (``n_evaluable_at_look / planned_evaluable``) with the existing Lan-DeMets
  code (:func:`exomir.clinical.interim.run_interim`).

When the interim dataset holds every evaluable participant, the primary
ANCOVA row as the primary stage wrote it is used, so ``interim.tsv`` is
byte-identical to ``look_timing: data``; otherwise the ANCOVA is refitted on
the interim dataset with :func:`exomir.primary.analyses.ancova`. The planned
versus actual look goes to ``results/clinical/interim_looks.tsv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

LOOKS_COLUMNS = [
    "look",
    "planned_fraction",
    "planned_evaluable",
    "target_evaluable",
    "planned_look_date",
    "look_date",
    "look_date_rule",
    "data_cut",
    "target_reached",
    "n_evaluable_in_data",
    "n_undated",
    "n_evaluable_at_look",
    "actual_fraction",
    "z_boundary_planned",
    "nominal_p_planned",
    "z_boundary_actual",
    "nominal_p_actual",
    "interim_dataset",
    "note",
]


@dataclass(frozen=True)
class LookTiming:
    """Where the look falls in calendar time.

    Attributes
    ----------
    look
        1-based index of the look in ``information_fractions``.
    planned_fraction, target
        Planned information fraction and ``ceil(f x planned_evaluable)``.
    look_date
        Day of the look (``None``: no dated participant).
    rule
        How the date was found.
    reached
        Whether the target was reached by the look date.
    included
        Participants in the interim dataset.
    n_in_data, n_undated
        Evaluable participants in the sheets; those without a draw date.
    """

    look: int
    planned_fraction: float
    target: int
    look_date: pd.Timestamp | None
    rule: str
    reached: bool
    included: frozenset[str]
    n_in_data: int
    n_undated: int


def current_planned_look(
    fractions: tuple[float, ...], previous: tuple[float, ...]
) -> tuple[int, float] | None:
    """Return the planned look to time: first fraction < 1 after previous looks.

    Returns ``(look index, fraction)``, or ``None`` when only the final
    analysis is left.
    """
    done = max(previous, default=0.0)
    for i, f in enumerate(fractions, start=1):
        if f < 1.0 - 1e-9 and f > done + 1e-9:
            return i, f
    return None


def primary_visit_dates(samples: pd.DataFrame, timepoint: str) -> pd.Series:
    """Calendar day of each participant's primary-visit blood draw.

    Parameters
    ----------
    samples
        samples.tsv (``participant_id``, ``timepoint``, ``collection_datetime``).
    timepoint
        The primary visit (``design.primary_visit``).

    Returns
    -------
    pandas.Series
        participant_id -> day (NaT when not recorded); the earliest draw when
        a participant has several libraries at the visit.
    """
    s = samples[samples["timepoint"].astype(str) == timepoint]
    if "collection_datetime" not in s.columns:
        dt = pd.Series(pd.NaT, index=s.index)
    else:
        dt = pd.to_datetime(s["collection_datetime"], errors="coerce").dt.normalize()
    return (
        pd.DataFrame({"participant_id": s["participant_id"].astype(str), "d": dt})
        .groupby("participant_id")["d"]
        .min()
    )


def find_look(
    evaluable: list[str],
    dates: pd.Series,
    look: int,
    fraction: float,
    planned_evaluable: int,
    data_cut: pd.Timestamp | None,
) -> LookTiming:
    """Date the planned fraction was reached and the participants evaluable by then.

    Parameters
    ----------
    evaluable
        Participants with a follow-up primary value.
    dates
        From :func:`primary_visit_dates`.
    look, fraction
        The planned look (index, fraction).
    planned_evaluable
        ``interim.planned_evaluable``.
    data_cut
        ``trial.data_cut`` (``None`` when not set).
    """
    target = math.ceil(fraction * planned_evaluable - 1e-9)
    d = dates.reindex(evaluable)
    undated = int(d.isna().sum())
    d = d.dropna().sort_values()
    if data_cut is not None:
        d = d[d <= data_cut]
    if len(d) >= target:
        when = d.iloc[target - 1]
        rule = (
            f"day the {target}th evaluable participant's primary-visit draw was taken"
        )
        reached = True
    elif data_cut is not None:
        when = data_cut
        rule = "trial.data_cut (the target was not reached by then)"
        reached = False
    elif len(d):
        when = d.iloc[-1]
        rule = "last dated primary-visit draw (the target is not reached yet)"
        reached = False
    else:
        when = None
        rule = "no dated primary-visit draw (samples.tsv collection_datetime)"
        reached = False
    included = frozenset(d[d <= when].index) if when is not None else frozenset()
    return LookTiming(
        look=look,
        planned_fraction=fraction,
        target=target,
        look_date=when,
        rule=rule,
        reached=reached,
        included=included,
        n_in_data=len(evaluable),
        n_undated=undated,
    )


def interim_dataset_statistic(
    values: pd.DataFrame, timing: LookTiming, primary: Any
) -> tuple[float, float | None, str]:
    """Refit the primary ANCOVA on the participants evaluable at the look.

    Returns
    -------
    tuple
        ``t = estimate / SE`` (NaN if not estimable), its residual df and a
        note.
    """
    from exomir.primary.analyses import ancova

    v = values.copy()
    late = ~v["participant_id"].astype(str).isin(timing.included)
    v.loc[late, "y_followup"] = np.nan
    row = ancova(v, primary, (), "primary_ancova", "interim dataset")
    est, se = float(row["estimate_log2"]), float(row["se_log2"])
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        return math.nan, None, f"interim ANCOVA not estimable ({row['note']})"
    return est / se, float(row["df"]), ""


def looks_table(
    timing: LookTiming | None,
    closed: pd.DataFrame,
    planned_evaluable: int,
    planned_look_date: str | None,
    data_cut: pd.Timestamp | None,
    dataset_note: str,
    note: str = "",
) -> pd.DataFrame:
    """One row: the planned versus the actual look (``interim_looks.tsv``).

    Parameters
    ----------
    timing
        From :func:`find_look` (``None``: only the final analysis is left).
    closed
        The interim table of :func:`exomir.clinical.interim.run_interim`.
    planned_evaluable, planned_look_date, data_cut
        Settings.
    dataset_note
        Which ANCOVA the look used.
    note
        Further text.
    """
    cur = closed[closed["look_role"] == "current"].iloc[0]
    row: dict[str, Any] = {c: np.nan for c in LOOKS_COLUMNS}
    row.update(
        planned_evaluable=planned_evaluable,
        planned_look_date=planned_look_date or "not given (interim.planned_look_date)",
        data_cut=data_cut.date().isoformat() if data_cut is not None else "not set",
        n_evaluable_at_look=int(cur["n_evaluable"]),
        actual_fraction=float(cur["information_fraction"]),
        z_boundary_actual=float(cur["z_boundary"]),
        nominal_p_actual=float(cur["nominal_p"]),
        interim_dataset=dataset_note,
        note=note,
    )
    if timing is None:
        row.update(look=int(cur["look"]), look_date_rule="final analysis: all data")
        return pd.DataFrame([row], columns=LOOKS_COLUMNS)
    planned = closed[
        (closed["schedule"] == "planned") & (closed["look"] == timing.look)
    ].iloc[0]
    row.update(
        look=timing.look,
        planned_fraction=timing.planned_fraction,
        target_evaluable=timing.target,
        look_date=timing.look_date.date().isoformat()
        if timing.look_date is not None
        else "",
        look_date_rule=timing.rule,
        target_reached=timing.reached,
        n_evaluable_in_data=timing.n_in_data,
        n_undated=timing.n_undated,
        z_boundary_planned=float(planned["z_boundary"]),
        nominal_p_planned=float(planned["nominal_p"]),
    )
    return pd.DataFrame([row], columns=LOOKS_COLUMNS)


def parse_data_cut(data_cut: str | None) -> pd.Timestamp | None:
    """``trial.data_cut`` as a day (``None`` when not set).

    Raises
    ------
    ValidationError
        If it is not a date.
    """
    if not data_cut:
        return None
    try:
        return pd.Timestamp(str(data_cut)).normalize()
    except ValueError as exc:
        from exomir.errors import Issue, ValidationError

        raise ValidationError(
            [
                Issue(
                    "config/config.yaml",
                    f"'{data_cut}' is not a date (YYYY-MM-DD); the interim look "
                    "(interim.look_timing: information_time) needs it",
                    column="trial.data_cut",
                )
            ]
        ) from exc


def timed_look(
    values: pd.DataFrame,
    samples: pd.DataFrame,
    settings: Any,
    primary: Any,
    data_cut: str | None,
) -> tuple[LookTiming | None, int, tuple[float, float | None, str] | None, str]:
    """Place the look in information time and decide which statistic it uses.

    Parameters
    ----------
    values
        ``mir126_values.tsv``.
    samples
        samples.tsv.
    settings
        :class:`exomir.clinical.interim.InterimSettings`.
    primary
        :class:`exomir.primary.settings.PrimarySettings` (the visit and the
        ANCOVA to refit).
    data_cut
        ``trial.data_cut`` (empty: not set).

    Returns
    -------
    tuple
        The timing (``None`` when only the final analysis is left), the
        number evaluable at the look, the refitted ``(t, df, note)`` or
        ``None`` when the primary stage's row applies unchanged, and a note
        naming the interim dataset.
    """
    evaluable = sorted(
        values.loc[
            pd.to_numeric(values["y_followup"], errors="coerce").notna(),
            "participant_id",
        ].astype(str)
    )
    planned = current_planned_look(settings.fractions, settings.previous_fractions)
    if planned is None:
        return None, len(evaluable), None, "all evaluable participants (final analysis)"
    cut = parse_data_cut(data_cut)
    dates = primary_visit_dates(samples, primary.timepoint)
    timing = find_look(
        evaluable, dates, planned[0], planned[1], settings.planned_evaluable, cut
    )
    n = len(timing.included)
    if n == 0:
        return (
            timing,
            len(evaluable),
            None,
            "all evaluable participants: no primary-visit draw is dated, so the "
            "look cannot be placed in time",
        )
    if n == len(evaluable):
        return (
            timing,
            n,
            None,
            "every evaluable participant was evaluable at the look: the primary "
            "ANCOVA as run",
        )
    refit = interim_dataset_statistic(values, timing, primary)
    return (
        timing,
        n,
        refit,
        f"primary ANCOVA refitted on the {n} participants evaluable by "
        f"{timing.look_date.date().isoformat() if timing.look_date is not None else ''}"
        f" ({len(evaluable) - n} later or undated left out)",
    )
