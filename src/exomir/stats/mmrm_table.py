"""Repeated-measures output tables and figure shared by the clinical and primary stages.

:func:`mmrm_rows` fits :func:`exomir.stats.mmrm.fit_mmrm` to one outcome in
one population and returns the rows of ``results/clinical/mmrm.tsv`` /
``results/primary/mmrm.tsv`` (:data:`MMRM_COLUMNS`): one per post-dose visit
and one ``overall`` (equal-weight average of the visit effects). A model that
cannot be fitted gives one ``overall`` row with empty estimates and the reason
in ``notes``, never a silent gap. :func:`mmrm_figure` draws the arm difference
over the visits with its 95% CI, one panel per outcome.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exomir.stats.mmrm import DEFAULT_COVARIANCE, fit_mmrm
from exomir.stats.models import NotEstimable

#: Columns of ``mmrm.tsv`` (clinical and primary).
MMRM_COLUMNS = [
    "endpoint",
    "population",
    "visit",
    "day",
    "estimate",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "p_value",
    "n_control",
    "n_treated",
    "covariance",
    "fallback_reason",
    "notes",
]

OVERALL = "overall"


@dataclass(frozen=True)
class LongitudinalSettings:
    """Settings of the repeated-measures analyses, built when the workflow is parsed.

    Attributes
    ----------
    clinical_visits
        Post-dose clinical visits (``exomir.config.post_dose_visits``).
    mirna_visits
        Post-dose small-RNA blood draws (``design.timepoints[1:]``).
    days
        Visit -> (planned day since dosing, window) from ``design.schedule``.
    covariance
        Covariance structures in the fallback order.
    ci_level
        Confidence level.
    """

    clinical_visits: tuple[str, ...]
    mirna_visits: tuple[str, ...]
    days: Mapping[str, tuple[float, float]]
    covariance: tuple[str, ...] = DEFAULT_COVARIANCE
    ci_level: float = 0.95

    @property
    def clinical(self) -> bool:
        """Whether the clinical endpoints have repeated measures (>= 2 visits)."""
        return len(self.clinical_visits) >= 2

    @property
    def mirna(self) -> bool:
        """Whether the primary miRNA has repeated measures (>= 2 post-dose draws)."""
        return len(self.mirna_visits) >= 2


def longitudinal_settings(config: Mapping[str, Any]) -> LongitudinalSettings:
    """Build the repeated-measures settings from a validated configuration."""
    from exomir.config import post_dose_visits, scheduled_days

    design = config["design"]
    clin = dict(config.get("clinical") or {})
    return LongitudinalSettings(
        clinical_visits=tuple(post_dose_visits(dict(config))),
        mirna_visits=tuple(str(t) for t in list(design["timepoints"])[1:]),
        days=scheduled_days(dict(config)),
        ci_level=float(clin.get("ci_level", 0.95)),
    )


def participant_covariates(
    long: pd.DataFrame,
    participants: pd.DataFrame,
    columns: Sequence[str],
    notes: list[str],
) -> tuple[pd.DataFrame, list[str]]:
    """Add numeric covariate columns, coded once per participant, to the long rows.

    Text covariates become treatment-coded dummies as in the week-1 models
    (:func:`exomir.clinical.endpoints.covariate_columns`), with the levels
    counted over participants (not visits), so that a level of a single
    participant is pooled as it is there.

    Parameters
    ----------
    long
        Rows with ``participant_id``.
    participants
        Participant-level table indexed by ``participant_id``.
    columns
        Covariate columns.
    notes
        Receives notes (pooled levels, absent columns).
    """
    from exomir.clinical.endpoints import covariate_columns

    ids = sorted(set(long["participant_id"]))
    cov = covariate_columns(participants.reindex(ids), list(columns), notes)
    mapped = cov.reindex(long["participant_id"].to_numpy())
    mapped.index = long.index
    return pd.concat([long, mapped], axis=1), list(cov.columns)


def _fmt_day(days: Mapping[str, tuple[float, float]], visit: str) -> float:
    return float(days[visit][0]) if visit in days else math.nan


def mmrm_rows(
    long: pd.DataFrame,
    *,
    endpoint: str,
    population: str,
    visits: Sequence[str],
    arms: Sequence[str],
    covariates: Sequence[str],
    settings: LongitudinalSettings,
    notes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Fit the MMRM of one outcome in one population; the output rows.

    Parameters
    ----------
    long
        One row per participant x post-dose visit: ``participant_id``, ``arm``,
        ``visit``, ``value``, ``baseline`` and the (numeric) ``covariates``.
    endpoint, population
        Labels of the rows.
    visits
        Post-dose visits in order.
    arms
        ``(control, treated)``.
    covariates
        Numeric covariate columns of ``long``.
    settings
        Repeated-measures settings.
    notes
        Notes of the data preparation (e.g. values outside the visit window),
        repeated on every row.
    """
    base: dict[str, Any] = {"endpoint": endpoint, "population": population}
    try:
        res = fit_mmrm(
            long,
            outcome="value",
            subject="participant_id",
            visit="visit",
            visits=list(visits),
            arm="arm",
            arms=tuple(arms),
            baseline="baseline",
            covariates=tuple(covariates),
            covariance=settings.covariance,
            ci_level=settings.ci_level,
        )
    except NotEstimable as exc:
        row = {c: math.nan for c in MMRM_COLUMNS} | base
        row |= {
            "visit": OVERALL,
            "covariance": "",
            "fallback_reason": "",
            "notes": "; ".join([*notes, f"not computed: {exc}"]),
        }
        return [row]
    text = "; ".join([*notes, *res.notes])
    common = base | {
        "covariance": res.covariance,
        "fallback_reason": res.fallback_reason or "",
        "notes": text,
    }
    rows = []
    for r in res.visit_effects.to_dict("records"):
        rows.append(common | r | {"day": _fmt_day(settings.days, str(r["visit"]))})
    rows.append(
        common
        | res.overall
        | {
            "visit": OVERALL,
            "day": math.nan,
            "n_control": res.n_by_arm[0],
            "n_treated": res.n_by_arm[1],
        }
    )
    return rows


def mmrm_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as the ``mmrm.tsv`` table (column order fixed, row order as given)."""
    df = pd.DataFrame(list(rows), columns=MMRM_COLUMNS)
    for c in ("n_control", "n_treated"):
        df[c] = df[c].astype("Int64")
    return df


def mmrm_figure(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str,
    ylabel: str,
    labels: Mapping[str, str] | None = None,
    population: str = "mITT",
) -> None:
    """Arm difference (treated - control) by visit with its CI, one panel per outcome.

    The x axis is the planned day of the visit when every visit has one (log
    scale, since the schedule runs from day 1 to month 24), else the visit
    order. Matplotlib object interface on an Agg canvas; PNG without a date.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from exomir.atomic import atomic_open

    t = table[(table["population"] == population) & (table["visit"] != OVERALL)]
    t = t[t["estimate"].notna()]
    endpoints = list(dict.fromkeys(t["endpoint"]))
    n = max(len(endpoints), 1)
    ncol = min(3, n)
    nrow = math.ceil(n / ncol)
    fig = Figure(figsize=(4.2 * ncol, 3.0 * nrow + 0.6))
    FigureCanvasAgg(fig)
    for i, ep in enumerate(endpoints):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        d = t[t["endpoint"] == ep]
        days = d["day"].astype(float).to_numpy()
        use_day = bool(np.isfinite(days).all() and (days > 0).all())
        x = days if use_day else np.arange(1, len(d) + 1, dtype=float)
        est = d["estimate"].to_numpy(dtype=float)
        ax.errorbar(
            x,
            est,
            yerr=[
                est - d["ci_low"].to_numpy(float),
                d["ci_high"].to_numpy(float) - est,
            ],
            fmt="o-",
            color="#1f4e9c",
            ms=4,
            capsize=3,
            lw=1,
        )
        ax.axhline(0, color="black", lw=0.8)
        if use_day:
            ax.set_xscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels(list(d["visit"]), fontsize=7, rotation=45)
        ax.minorticks_off()
        name = (labels or {}).get(ep, ep)
        cov = str(d["covariance"].iloc[0]).replace("_", " ")
        ax.set_title(f"{name}\n({cov})", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=7)
        ax.tick_params(labelsize=7)
    if not endpoints:
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, "no repeated-measures estimate", ha="center", va="center")
    fig.suptitle(f"{title}, {population} (95% CI)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=130, metadata={"Software": "exomir"})
