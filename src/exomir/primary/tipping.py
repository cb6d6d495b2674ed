"""Delta-adjusted multiple imputation and the tipping point (analysis_spec.md §1.3)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exomir.primary.analyses import blank_row, estimate_fields, strata_columns
from exomir.primary.settings import (
    BASELINE,
    FOLLOWUP,
    TIPPING_COLUMNS,
    TREATED,
    PrimarySettings,
)
from exomir.stats.imputation import coef_var, impute, rubin
from exomir.stats.models import drop_collinear


def _impute_arms(
    d: pd.DataFrame,
    x: pd.DataFrame,
    settings: PrimarySettings,
    notes: list[str],
) -> np.ndarray | None:
    """Completed follow-up values (m x n): MAR imputations within each arm.

    ``None`` (with a note) when an arm has too few complete participants for
    its imputation model.
    """
    obs = d[FOLLOWUP].notna().to_numpy()
    treated = (d[TREATED] == 1).to_numpy()
    rng = np.random.default_rng(settings.tipping_seed)
    m = settings.tipping_imputations
    y0 = np.tile(d[FOLLOWUP].to_numpy(dtype=float), (m, 1))
    zcols = [c for c in x.columns if c != TREATED]
    for arm_mask, arm in ((treated, settings.arm), (~treated, settings.reference_arm)):
        mis = arm_mask & ~obs
        if not mis.any():
            continue
        zx = x.loc[arm_mask, zcols]
        zx = zx.loc[:, [c == "Intercept" or zx[c].std() > 0 for c in zx.columns]]
        zo = zx.to_numpy(dtype=float)[obs[arm_mask]]
        if len(zo) < zo.shape[1] + 2 or np.linalg.matrix_rank(zo) < zo.shape[1]:
            notes.append(
                f"not estimable: too few complete {arm} participants for the "
                "imputation model"
            )
            return None
        draws = impute(
            zx.to_numpy(dtype=float),
            d.loc[arm_mask, FOLLOWUP].to_numpy(dtype=float),
            obs[arm_mask],
            m,
            rng,
        )
        y0[:, mis] = draws
    return y0


def _analyser(
    x: pd.DataFrame, y0: np.ndarray, shift: np.ndarray, settings: PrimarySettings
) -> tuple[Callable[[float], dict[str, Any]], list[str]]:
    """Analysis of the completed data sets at a given ``delta`` (Rubin's rules).

    Returns the function and a one-element list holding the covariance type
    last used (HC2/HC3 fall back to HC1 at leverage 1).
    """
    xv = x.to_numpy(dtype=float)
    df_complete = len(xv) - xv.shape[1]
    j = list(x.columns).index(TREATED)
    alpha = 1 - settings.ci_level
    cov_used = [settings.cov_type]

    def analyse(delta: float) -> dict[str, Any]:
        est, var, cov_used[0] = coef_var(xv, y0 + delta * shift, j, settings.cov_type)
        q, t, df = rubin(est, var, df_complete)
        se = float(np.sqrt(t))
        tq = stats.t.ppf(0.5 + settings.ci_level / 2, df)
        p = float(2 * stats.t.sf(abs(q / se), df)) if se > 0 else np.nan
        return {
            "delta_log2": float(delta),
            "estimate_log2": q,
            "se_log2": se,
            "ci_low_log2": q - tq * se,
            "ci_high_log2": q + tq * se,
            "ratio": 2.0**q,
            "pvalue": p,
            "df": df,
            "significant": bool(p < alpha),
        }

    return analyse, cov_used


def _search(
    analyse: Callable[[float], dict[str, Any]],
    base: dict[str, Any],
    settings: PrimarySettings,
) -> tuple[list[dict[str, Any]], float | None]:
    """Grid of deltas and the tipping point refined by bisection (or ``None``).

    The search goes towards the null when the MAR result is significant and
    away from it otherwise.
    """
    sig0 = base["significant"]
    sign = float(np.sign(base["estimate_log2"]) or 1.0) * (-1.0 if sig0 else 1.0)
    steps = int(np.floor(settings.tipping_max_delta / settings.tipping_step + 1e-9))
    grid = [analyse(sign * i * settings.tipping_step) for i in range(steps + 1)]
    for lo, hi in itertools.pairwise(grid):
        if hi["significant"] != sig0:
            a, b = lo["delta_log2"], hi["delta_log2"]
            for _ in range(40):
                mid = (a + b) / 2
                if analyse(mid)["significant"] == sig0:
                    a = mid
                else:
                    b = mid
                if abs(b - a) < 1e-5:
                    break
            return grid, b
    return grid, None


def _tipping_table(
    grid: list[dict[str, Any]],
    tip: float | None,
    analyse: Callable[[float], dict[str, Any]],
    common: dict[str, Any],
    sig0: bool,
    settings: PrimarySettings,
) -> tuple[pd.DataFrame, str]:
    """``tipping_point.tsv`` (grid rows, then the tipping point) and its note."""
    alpha = 1 - settings.ci_level
    rows = [{"row_type": "grid", **common, **g, "note": ""} for g in grid]
    if tip is None:
        tip_note = (
            f"p does not cross {alpha:g} for |delta| <= "
            f"{settings.tipping_max_delta:g} log2 "
            f"({'towards' if sig0 else 'away from'} the null)"
        )
        rows.append(
            {
                "row_type": "tipping_point",
                **common,
                "delta_log2": np.nan,
                "note": tip_note,
            }
        )
    else:
        at = analyse(tip)
        tip_note = (
            f"tipping point: p crosses {alpha:g} at delta = {tip:+.3f} log2 "
            f"(imputed {settings.arm} values x {2.0**tip:.3g})"
        )
        rows.append({"row_type": "tipping_point", **common, **at, "note": tip_note})
    return pd.DataFrame(rows, columns=TIPPING_COLUMNS), tip_note


def tipping_point(
    data: pd.DataFrame, settings: PrimarySettings, description: str = ""
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Delta-adjusted multiple imputation of missing follow-up values.

    See ``tipping_point`` in :mod:`exomir.primary` for the method.

    Parameters
    ----------
    data
        From :func:`~exomir.primary.data.participant_table`.
    settings
        Primary settings (``tipping_*``, ``cov_type``, ``ci_level``, strata
        and covariates).
    description
        Description of the output row.

    Returns
    -------
    tuple
        The ``tipping_point`` row of the results table and the table of
        ``TIPPING_COLUMNS`` (grid rows, then one ``tipping_point`` row; only
        the header when not estimable).
    """
    name = "tipping_point"
    empty = pd.DataFrame(columns=TIPPING_COLUMNS)
    notes: list[str] = []
    covs = list(settings.covariates)
    missing_cols = [c for c in [BASELINE, FOLLOWUP, TREATED, *covs] if c not in data]
    if missing_cols:
        why = f"missing: {', '.join(missing_cols)}"
        return blank_row(name, description, settings, why), empty
    base_ok = data[[BASELINE, *covs]].notna().all(axis=1)
    n_no_base = int((~base_ok).sum())
    if n_no_base:
        notes.append(f"{n_no_base} participant(s) without a baseline value left out")
    d = data[base_ok].reset_index(drop=True)
    obs = d[FOLLOWUP].notna().to_numpy()
    treated = (d[TREATED] == 1).to_numpy()
    n_mis_t = int((~obs & treated).sum())
    n_mis_r = int((~obs & ~treated).sum())
    share = {
        settings.arm: n_mis_t / max(int(treated.sum()), 1),
        settings.reference_arm: n_mis_r / max(int((~treated).sum()), 1),
    }
    trigger = any(v > 0.10 for v in share.values())
    notes.append(
        f"{n_mis_t} of {int(treated.sum())} {settings.arm} and {n_mis_r} of "
        f"{int((~treated).sum())} {settings.reference_arm} participants lack the "
        f"{settings.timepoint} value (spec trigger > 10% in an arm: "
        f"{'yes' if trigger else 'no'})"
    )
    if n_mis_t + n_mis_r == 0:
        notes.append("not estimable: nothing to impute")
        return blank_row(name, description, settings, "; ".join(notes)), empty
    x = pd.DataFrame({"Intercept": 1.0, TREATED: d[TREATED].astype(float)})
    x[BASELINE] = d[BASELINE].astype(float)
    for c in covs:
        x[c] = d[c].astype(float)
    x = pd.concat([x, strata_columns(d, settings.strata, notes)], axis=1)
    try:
        x = drop_collinear(x, [TREATED], notes)
    except ValueError as exc:
        return blank_row(name, description, settings, str(exc)), empty
    y0 = _impute_arms(d, x, settings, notes)
    if y0 is None:
        return blank_row(name, description, settings, "; ".join(notes)), empty
    shift = (~obs & treated).astype(float)
    analyse, cov_used = _analyser(x, y0, shift, settings)
    base = analyse(0.0)
    grid, tip = _search(analyse, base, settings)
    common = {
        "imputations": settings.tipping_imputations,
        "n": len(d),
        "n_treated": int(treated.sum()),
        "n_reference": int((~treated).sum()),
        "n_imputed_treated": n_mis_t,
        "n_imputed_reference": n_mis_r,
    }
    table, tip_note = _tipping_table(
        grid, tip, analyse, common, base["significant"], settings
    )
    notes.append(tip_note)
    row = blank_row(name, description, settings, "; ".join(notes))
    row.update(
        model=(
            f"MI under MAR (m = {settings.tipping_imputations}, per-arm Bayesian "
            f"regression), OLS {cov_used[0]} SE, Rubin's rules, t({base['df']:.1f}) CI"
        ),
        covariates=", ".join(c for c in x.columns if c not in ("Intercept", TREATED)),
        n=len(d),
        n_treated=int(treated.sum()),
        n_reference=int((~treated).sum()),
        **estimate_fields(
            base["estimate_log2"],
            base["se_log2"],
            base["ci_low_log2"],
            base["ci_high_log2"],
        ),
        pvalue=base["pvalue"],
        df=base["df"],
    )
    return row, table
