"""The primary ANCOVA, its cLDA sensitivity analysis and the output rows.

The models themselves are :func:`exomir.stats.models.ols_effect` and
:func:`exomir.stats.models.mixed_effect`, shared with the clinical endpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exomir.primary.settings import (
    BASELINE,
    FOLLOWUP,
    RESULT_COLUMNS,
    TREATED,
    PrimarySettings,
)
from exomir.stats.models import (
    CollinearError,
    FitError,
    NotEstimable,
    level_dummies,
    mixed_effect,
    ols_effect,
)

log = logging.getLogger("exomir.primary")


def estimate_fields(est: float, se: float, lo: float, hi: float) -> dict[str, float]:
    """Log2 estimate, SE and CI with the matching ratio scale."""
    return {
        "estimate_log2": est,
        "se_log2": se,
        "ci_low_log2": lo,
        "ci_high_log2": hi,
        "ratio": 2.0**est,
        "ratio_ci_low": 2.0**lo,
        "ratio_ci_high": 2.0**hi,
    }


def blank_row(
    analysis: str, description: str, settings: PrimarySettings, note: str
) -> dict[str, Any]:
    """Output row with the labels filled and empty estimates (reason in note)."""
    row: dict[str, Any] = {c: np.nan for c in RESULT_COLUMNS}
    row.update(
        analysis=analysis,
        description=description,
        mirna=settings.mirna,
        treated_arm=settings.arm,
        reference_arm=settings.reference_arm,
        timepoint=settings.timepoint,
        reference_timepoint=settings.reference_timepoint,
        model="",
        covariates="",
        note=note,
    )
    return row


def strata_columns(
    df: pd.DataFrame, strata: Sequence[str], notes: list[str]
) -> pd.DataFrame:
    """Treatment-coded dummies of the strata; levels with < 2 participants pooled."""
    cols: dict[str, pd.Series] = {}
    for s in strata:
        if s not in df.columns:
            notes.append(f"stratum column {s} not available")
            continue
        values = df[s].map(lambda v: "(missing)" if v is None or v != v else str(v))
        dummies, ref, small = level_dummies(values, s)
        if small:
            notes.append(
                f"{s} level(s) {', '.join(small)} with one participant pooled "
                f"with {ref}"
            )
        cols.update(dummies)
    return pd.DataFrame(cols, index=df.index)


def ancova(
    data: pd.DataFrame,
    settings: PrimarySettings,
    covariates: Sequence[str] = (),
    analysis: str = "primary_ancova",
    description: str = "",
) -> dict[str, Any]:
    """ANCOVA of the follow-up level on arm, baseline, strata and covariates.

    Parameters
    ----------
    data
        From :func:`~exomir.primary.data.participant_table` (rows with missing
        values in the used columns are dropped and counted in ``note``).
    settings
        Primary settings.
    covariates
        Extra numeric columns of ``data``.
    analysis, description
        Labels of the output row.

    Returns
    -------
    dict
        One output row (see ``RESULT_COLUMNS``).
    """
    notes: list[str] = []
    used = [FOLLOWUP, TREATED, BASELINE, *covariates, *settings.covariates]
    missing = [c for c in used if c not in data.columns]
    if missing:
        return blank_row(
            analysis, description, settings, f"missing: {', '.join(missing)}"
        )
    ok = data[used].notna().all(axis=1)
    n_drop = int((~ok).sum())
    d = data[ok]
    if n_drop:
        notes.append(f"{n_drop} participant(s) without the needed values left out")
    n_t = int((d[TREATED] == 1).sum())
    n_r = int((d[TREATED] == 0).sum())
    if n_t < 2 or n_r < 2:
        too_few = f"too few participants ({n_t} treated, {n_r} reference)"
        return blank_row(analysis, description, settings, "; ".join([*notes, too_few]))
    x = pd.DataFrame({"Intercept": 1.0}, index=d.index)
    x[TREATED] = d[TREATED]
    x[BASELINE] = d[BASELINE]
    for c in [*covariates, *settings.covariates]:
        x[c] = d[c].astype(float)
    x = pd.concat([x, strata_columns(d, settings.strata, notes)], axis=1)
    try:
        e = ols_effect(
            d[FOLLOWUP].astype(float),
            x,
            TREATED,
            settings.cov_type,
            settings.ci_level,
            notes,
        )
    except CollinearError as exc:
        return blank_row(analysis, description, settings, str(exc))
    except NotEstimable as exc:
        return blank_row(analysis, description, settings, "; ".join([*notes, str(exc)]))
    row = blank_row(analysis, description, settings, "; ".join(notes))
    row.update(
        model=f"OLS, {e.cov_type} SE, t({int(e.df)}) CI",
        covariates=", ".join(c for c in e.columns if c not in ("Intercept", TREATED)),
        n=len(d),
        n_treated=n_t,
        n_reference=n_r,
        **estimate_fields(e.estimate, e.se, e.ci_low, e.ci_high),
        pvalue=e.pvalue,
        df=e.df,
    )
    return row


def clda(
    values: pd.DataFrame,
    data: pd.DataFrame,
    settings: PrimarySettings,
    analysis: str = "clda_mixed",
    description: str = "",
) -> dict[str, Any]:
    """Constrained longitudinal data analysis (linear mixed model).

    Parameters
    ----------
    values
        From :func:`~exomir.primary.data.sample_values` (all usable libraries).
    data
        From :func:`~exomir.primary.data.participant_table` (arms and strata).
    settings
        Primary settings.
    analysis, description
        Labels of the output row.

    Returns
    -------
    dict
        One output row; the estimate is the ``followup:treated`` coefficient.
    """
    notes: list[str] = []
    tps = [settings.reference_timepoint, settings.timepoint]
    info = data.set_index("participant_id")
    v = values[
        values["timepoint"].isin(tps) & values["participant_id"].isin(info.index)
    ]
    v = (
        v[v["y"].notna()]
        .sort_values(["participant_id", "timepoint"])
        .reset_index(drop=True)
    )
    fu = (v["timepoint"] == settings.timepoint).astype(float)
    treated = info.loc[v["participant_id"], TREATED].to_numpy()
    x = pd.DataFrame({"Intercept": 1.0, "followup": fu})
    x["followup:treated"] = fu * treated
    strata = info.loc[v["participant_id"]].reset_index()
    x = pd.concat([x, strata_columns(strata, settings.strata, notes)], axis=1)
    n_part = v.groupby("participant_id").size()
    n_single = int((n_part == 1).sum())
    n_t = int(info.loc[n_part.index, TREATED].sum())
    n_r = len(n_part) - n_t
    if n_t < 2 or n_r < 2:
        return blank_row(
            analysis, description, settings, f"too few participants ({n_t}, {n_r})"
        )
    k = "followup:treated"
    try:
        e = mixed_effect(
            v["y"].to_numpy(),
            x,
            v["participant_id"].to_numpy(),
            k,
            settings.ci_level,
            notes,
        )
    except CollinearError as exc:
        return blank_row(analysis, description, settings, str(exc))
    except FitError as exc:
        return blank_row(analysis, description, settings, f"fit failed: {exc}")
    for message in e.warnings:
        # Boundary random-effect variance, Hessian not positive definite.
        notes.append(f"statsmodels: {message}")
        log.info("cLDA: %s", message)
    if n_single:
        notes.append(f"{n_single} participant(s) with one visit included (MAR)")
    row = blank_row(analysis, description, settings, "; ".join(notes))
    row.update(
        model="MixedLM (REML), random participant intercept, Wald z CI",
        covariates=", ".join(c for c in e.columns if c not in ("Intercept", k)),
        n=len(n_part),
        n_treated=n_t,
        n_reference=n_r,
        **estimate_fields(e.estimate, e.se, e.ci_low, e.ci_high),
        pvalue=e.pvalue,
        df=np.nan,
    )
    return row
