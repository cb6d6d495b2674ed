"""Kaplan-Meier, log-rank, stratified Cox and Aalen-Johansen with lifelines.

Every estimate comes from :mod:`lifelines` (Efron ties in the Cox model, like
R's ``coxph``; exponential-Greenwood, i.e. log-log, Kaplan-Meier intervals,
like ``survfit(conf.type = "log-log")``). The stratified log-rank test sums,
over the strata, the observed-minus-expected events and hypergeometric
variances of lifelines' survival tables (lifelines has no stratified
log-rank); it equals R's ``survdiff(... + strata(...))`` (tested against R on
committed fixtures, tests/data/survival/).

An arm without events makes the hazard ratio not estimable (the partial
likelihood has no maximum): :func:`cox_arm_effect` then returns NaN with the
reason instead of a diverged fit.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import AalenJohansenFitter, CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import logrank_test, proportional_hazard_test
from lifelines.utils import survival_table_from_events
from scipy import stats

LOG = logging.getLogger("exomir.survival")


@dataclass(frozen=True)
class CoxResult:
    """Arm effect of a Cox model (treated vs reference).

    Attributes
    ----------
    hazard_ratio, ci_low, ci_high
        Hazard ratio of the treated arm and its Wald confidence interval
        (NaN when not estimable).
    p_value
        Wald test of the arm coefficient.
    ph_p_value
        Proportional-hazards test of the arm (scaled Schoenfeld residuals
        against rank-transformed time, :func:`lifelines.statistics.proportional_hazard_test`).
    n, events
        Participants and events in the model.
    coef, se
        Log hazard ratio and its standard error.
    note
        Why the model was not estimable, or fit warnings; empty otherwise.
    """

    hazard_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    ph_p_value: float
    n: int
    events: int
    coef: float = math.nan
    se: float = math.nan
    note: str = ""


def _warning_note(caught: Sequence[warnings.WarningMessage]) -> str:
    """Collapse warnings raised by a lifelines fit into one note (logged too)."""
    texts = []
    for w in caught:
        text = " ".join(str(w.message).split())
        LOG.warning("lifelines: %s", text)
        if text not in texts:
            texts.append(text)
    return "; ".join(texts)


#: Largest |log HR| + z x SE reported: beyond it the fit diverged (monotone
#: likelihood) and exp() of the CI bound is meaningless (or overflows).
MAX_LOG_HR = 50.0


def cox_arm_effect(
    frame: pd.DataFrame,
    *,
    duration: str,
    event: str,
    arm: str,
    treated: str,
    strata: Sequence[str] = (),
    ci_level: float = 0.95,
) -> CoxResult:
    """Fit a Cox model with the arm (stratified by ``strata``) and test PH.

    Parameters
    ----------
    frame
        One row per participant.
    duration, event
        Columns of the follow-up time and the event indicator (1 = event,
        anything else censored).
    arm
        Column of the arm; rows of ``treated`` are coded 1, all others 0.
    treated
        The treated arm.
    strata
        Columns of the randomisation strata (baseline hazard per stratum).
    ci_level
        Confidence level of the hazard-ratio interval.

    Returns
    -------
    CoxResult
        NaN estimates with a note when an arm has no events or the fit fails.
    """
    df = pd.DataFrame(
        {
            "T": frame[duration].astype(float).to_numpy(),
            "E": (frame[event].to_numpy() == 1).astype(int),
            "treated": (frame[arm].astype(str).to_numpy() == str(treated)).astype(
                float
            ),
        }
    )
    for i, s in enumerate(strata):
        df[f"stratum_{i}"] = frame[s].astype(str).to_numpy()
    n, events = len(df), int(df["E"].sum())
    nan = math.nan
    by_arm = df.groupby("treated")["E"].sum()
    if len(by_arm) < 2 or (by_arm == 0).any():
        return CoxResult(
            nan, nan, nan, nan, nan, n, events,
            note="hazard ratio not estimable: an arm has no events",
        )  # fmt: skip
    cols = [c for c in df.columns if c.startswith("stratum_")]
    cph = CoxPHFitter(alpha=1 - ci_level, strata=cols or None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph.fit(df, duration_col="T", event_col="E")
        except (ConvergenceError, np.linalg.LinAlgError) as exc:
            msg = " ".join(str(exc).split())
            return CoxResult(
                nan, nan, nan, nan, nan, n, events,
                note=f"Cox model not estimable: {msg}",
            )  # fmt: skip
        ph = proportional_hazard_test(cph, df, time_transform="rank")
    note = _warning_note(caught)
    coef = float(cph.params_["treated"])
    se = float(cph.standard_errors_["treated"])
    z = stats.norm.ppf(0.5 + ci_level / 2)
    if (
        not (math.isfinite(coef) and math.isfinite(se))
        or abs(coef) + z * se > MAX_LOG_HR
    ):
        # Monotone likelihood: within every stratum the events fall in one arm
        # only (relative to its risk sets), so the estimate diverges.
        return CoxResult(
            nan, nan, nan, nan, nan, n, events,
            note="hazard ratio not estimable: monotone likelihood (within the "
            "strata the events occur in one arm only); see the log-rank test",
        )  # fmt: skip
    return CoxResult(
        hazard_ratio=math.exp(coef),
        ci_low=math.exp(coef - z * se),
        ci_high=math.exp(coef + z * se),
        p_value=float(cph.summary.loc["treated", "p"]),
        ph_p_value=float(np.asarray(ph.p_value).ravel()[0]),
        n=n,
        events=events,
        coef=coef,
        se=se,
        note=note,
    )


def logrank(
    frame: pd.DataFrame,
    *,
    duration: str,
    event: str,
    arm: str,
    treated: str,
    strata: Sequence[str] = (),
) -> tuple[float, float]:
    """Log-rank test of the arm, stratified when ``strata`` are given.

    Returns
    -------
    tuple of float
        Chi-square statistic (1 df) and p-value; NaN without events.
    """
    t = frame[duration].astype(float).to_numpy()
    e = (frame[event].to_numpy() == 1).astype(int)
    g = frame[arm].astype(str).to_numpy() == str(treated)
    if e.sum() == 0 or g.all() or not g.any():
        return math.nan, math.nan
    if not strata:
        res = logrank_test(t[g], t[~g], e[g], e[~g])
        return float(res.test_statistic), float(res.p_value)
    keys = frame[list(strata)].astype(str).agg("\x1f".join, axis=1).to_numpy()
    o_minus_e = var = 0.0
    for key in sorted(set(keys)):
        m = keys == key
        if not (m & g).any() or not (m & ~g).any():
            continue  # one arm only: no information on the arm (O - E = V = 0)
        table = survival_table_from_events(t[m], e[m])
        treated_table = survival_table_from_events(t[m & g], e[m & g])
        joined = table.join(treated_table, rsuffix="_t", how="left").fillna(0.0)
        # at risk in the treated arm at each time: drop the rows of earlier removals
        n_t = float((m & g).sum()) - joined["removed_t"].cumsum().shift(fill_value=0.0)
        n_all, d_all = joined["at_risk"], joined["observed"]
        expected = d_all * n_t / n_all
        o_minus_e += float(joined["observed_t"].sum() - expected.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            v = (
                d_all
                * (n_t / n_all)
                * (1 - n_t / n_all)
                * (n_all - d_all)
                / (n_all - 1)
            )
        var += float(v.where(n_all > 1, 0.0).sum())
    if var <= 0:
        return math.nan, math.nan
    chi2 = o_minus_e**2 / var
    return chi2, float(stats.chi2.sf(chi2, 1))


def kaplan_meier(
    time: np.ndarray, event: np.ndarray, ci_level: float = 0.95
) -> KaplanMeierFitter:
    """Fit lifelines' Kaplan-Meier estimator (status other than 1 censored)."""
    kmf = KaplanMeierFitter(alpha=1 - ci_level)
    kmf.fit(np.asarray(time, dtype=float), (np.asarray(event) == 1).astype(int))
    return kmf


def km_steps(kmf: KaplanMeierFitter) -> pd.DataFrame:
    """Kaplan-Meier curve steps: time, at risk, events, censored, S(t) and CI."""
    et = kmf.event_table
    ci = kmf.confidence_interval_
    return pd.DataFrame(
        {
            "time_days": et.index.to_numpy(dtype=float),
            "at_risk": et["at_risk"].to_numpy(dtype=int),
            "events": et["observed"].to_numpy(dtype=int),
            "censored": et["censored"].to_numpy(dtype=int),
            "survival": kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float),
            "ci_low": ci.iloc[:, 0].to_numpy(dtype=float),
            "ci_high": ci.iloc[:, 1].to_numpy(dtype=float),
        }
    )


def km_at(kmf: KaplanMeierFitter, day: float) -> tuple[float, float, float]:
    """S(day) and its confidence interval (the step in force at ``day``)."""
    steps = km_steps(kmf)
    row = steps[steps["time_days"] <= day].iloc[-1]
    return float(row["survival"]), float(row["ci_low"]), float(row["ci_high"])


def cumulative_incidence(
    time: np.ndarray, status: np.ndarray, days: Sequence[float], seed: int
) -> list[float]:
    """Aalen-Johansen cumulative incidence of status 1 with status 2 competing.

    lifelines breaks tied event times by a seeded jitter of at most 1e-4 day
    (it warns; the warning is logged, not raised).
    """
    ajf = AalenJohansenFitter(seed=seed, calculate_variance=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ajf.fit(
            np.asarray(time, dtype=float),
            np.asarray(status, dtype=int),
            event_of_interest=1,
        )
    for w in caught:
        LOG.info("lifelines Aalen-Johansen: %s", " ".join(str(w.message).split()))
    cif = ajf.cumulative_density_.iloc[:, 0]
    out = []
    for d in days:
        before = cif[cif.index <= d + 1e-3]
        out.append(float(before.iloc[-1]) if len(before) else 0.0)
    return out
