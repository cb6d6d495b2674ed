"""Result tables of the time-to-event stage, one endpoint at a time.

:func:`analyse_endpoint` turns the analysis data of one endpoint
(:func:`exomir.survival.data.time_to_event_data`) into the rows of the stage's
tables: the summary by arm, the Kaplan-Meier steps, the numbers at risk at the
reporting months and the Cox model (with the log-rank test and the
proportional-hazards check) of each treated arm against the reference arm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from exomir.survival.analysis import (
    cox_arm_effect,
    cumulative_incidence,
    kaplan_meier,
    km_at,
    km_steps,
    logrank,
)
from exomir.survival.data import (
    COMPETING,
    EVENT,
    SUMMARY_MONTHS,
    SurvivalSettings,
    month_day,
)

SUMMARY_COLUMNS = [
    "endpoint", "label", "arm", "n", "events", "competing_deaths", "censored",
    "median_days", "surv_12m", "surv_12m_ci_low", "surv_12m_ci_high",
    "surv_24m", "surv_24m_ci_low", "surv_24m_ci_high", "cif_12m", "cif_24m",
]  # fmt: skip
KM_COLUMNS = [
    "endpoint", "arm", "time_days", "at_risk", "events", "censored",
    "survival", "ci_low", "ci_high",
]  # fmt: skip
AT_RISK_COLUMNS = [
    "endpoint", "arm", "month", "time_days", "at_risk", "events_cumulative",
    "censored_cumulative",
]  # fmt: skip
COX_COLUMNS = [
    "endpoint", "label", "arm", "reference_arm", "hazard_ratio", "ci_low", "ci_high",
    "p_value", "logrank_p", "ph_p_value", "ph_flag", "strata", "n", "events",
    "competing_deaths", "note",
]  # fmt: skip
OPEN_COLUMNS = ["endpoint", "label", "n", "events", "competing_deaths", "censored"]


@dataclass(frozen=True)
class EndpointResults:
    """Rows of each table for one endpoint."""

    summary: pd.DataFrame
    km: pd.DataFrame
    at_risk: pd.DataFrame
    cox: pd.DataFrame
    pooled: pd.DataFrame


def _arm_summary(
    code: str, label: str, arm: str, sub: pd.DataFrame, s: SurvivalSettings
) -> dict[str, object]:
    """Summary row of one arm: counts, median, S(12, 24 months), CIF."""
    row: dict[str, object] = {
        "endpoint": code,
        "label": label,
        "arm": arm,
        "n": len(sub),
    }
    row["events"] = int((sub["status"] == EVENT).sum())
    row["competing_deaths"] = int((sub["status"] == COMPETING).sum())
    row["censored"] = row["n"] - row["events"] - row["competing_deaths"]  # type: ignore[operator]
    if sub.empty:
        return row
    kmf = kaplan_meier(sub["time"].to_numpy(), sub["status"].to_numpy(), s.ci_level)
    med = float(kmf.median_survival_time_)
    row["median_days"] = med if math.isfinite(med) else math.nan
    days = [month_day(m) for m in SUMMARY_MONTHS]
    for m, d in zip(SUMMARY_MONTHS, days, strict=True):
        if d <= s.horizon_days:
            est, lo, hi = km_at(kmf, d)
            row[f"surv_{m}m"], row[f"surv_{m}m_ci_low"], row[f"surv_{m}m_ci_high"] = (
                est,
                lo,
                hi,
            )
    if row["competing_deaths"] and row["events"]:
        cifs = cumulative_incidence(
            sub["time"].to_numpy(), sub["status"].to_numpy(), days, s.seed
        )
        for m, d, c in zip(SUMMARY_MONTHS, days, cifs, strict=True):
            if d <= s.horizon_days:
                row[f"cif_{m}m"] = c
    return row


def _at_risk_rows(code: str, arm: str, sub: pd.DataFrame, s: SurvivalSettings) -> list:
    """Numbers at risk (time >= day) and cumulative events/censored before the day."""
    rows = []
    t, st = sub["time"].to_numpy(), sub["status"].to_numpy()
    for m in s.at_risk_months:
        d = month_day(m)
        rows.append(
            {
                "endpoint": code,
                "arm": arm,
                "month": m,
                "time_days": d,
                "at_risk": int((t >= d).sum()),
                "events_cumulative": int(((t < d) & (st == EVENT)).sum()),
                "censored_cumulative": int(((t < d) & (st != EVENT)).sum()),
            }
        )
    return rows


def _flag(p: float, alpha: float) -> str:
    """``true``/``false`` for a PH test p-value below ``alpha``; empty when not tested."""
    return "" if not math.isfinite(p) else ("true" if p < alpha else "false")


def _cox_rows(
    code: str, label: str, data: pd.DataFrame, s: SurvivalSettings
) -> list[dict[str, object]]:
    """Cox model and log-rank of each treated arm against the reference arm."""
    rows = []
    ref = s.arms[0]
    for treated in s.arms[1:]:
        pair = data[data["arm"].isin([ref, treated])]
        res = cox_arm_effect(
            pair, duration="time", event="status", arm="arm", treated=treated,
            strata=s.strata, ci_level=s.ci_level,
        )  # fmt: skip
        _, lr_p = logrank(
            pair, duration="time", event="status", arm="arm", treated=treated,
            strata=s.strata,
        )  # fmt: skip
        rows.append(
            {
                "endpoint": code,
                "label": label,
                "arm": treated,
                "reference_arm": ref,
                "hazard_ratio": res.hazard_ratio,
                "ci_low": res.ci_low,
                "ci_high": res.ci_high,
                "p_value": res.p_value,
                "logrank_p": lr_p,
                "ph_p_value": res.ph_p_value,
                "ph_flag": _flag(res.ph_p_value, s.ph_alpha),
                "strata": ";".join(s.strata),
                "n": res.n,
                "events": res.events,
                "competing_deaths": int((pair["status"] == COMPETING).sum()),
                "note": res.note,
            }
        )
    return rows


def analyse_endpoint(
    code: str, label: str, data: pd.DataFrame, s: SurvivalSettings
) -> EndpointResults:
    """Analyse one endpoint: summary, KM steps, at risk and Cox per treated arm.

    Parameters
    ----------
    code, label
        Endpoint code and its label.
    data
        Analysis data of this endpoint (``time``, ``status``, ``arm``, strata).
    s
        Stage settings (arms, strata, horizon, levels).
    """
    summary, km, at_risk = [], [], []
    for arm in s.arms:
        sub = data[data["arm"] == arm]
        summary.append(_arm_summary(code, label, arm, sub, s))
        at_risk += _at_risk_rows(code, arm, sub, s)
        if len(sub):
            steps = km_steps(
                kaplan_meier(
                    sub["time"].to_numpy(), sub["status"].to_numpy(), s.ci_level
                )
            )
            km.append(steps.assign(endpoint=code, arm=arm))
    pooled = {
        "endpoint": code,
        "label": label,
        "n": len(data),
        "events": int((data["status"] == EVENT).sum()),
        "competing_deaths": int((data["status"] == COMPETING).sum()),
    }
    pooled["censored"] = pooled["n"] - pooled["events"] - pooled["competing_deaths"]  # type: ignore[operator]
    km_df = pd.concat(km, ignore_index=True) if km else pd.DataFrame(columns=KM_COLUMNS)
    return EndpointResults(
        summary=pd.DataFrame(summary).reindex(columns=SUMMARY_COLUMNS),
        km=km_df.reindex(columns=KM_COLUMNS),
        at_risk=pd.DataFrame(at_risk, columns=AT_RISK_COLUMNS),
        cox=pd.DataFrame(_cox_rows(code, label, data, s), columns=COX_COLUMNS),
        pooled=pd.DataFrame([pooled], columns=OPEN_COLUMNS),
    )
