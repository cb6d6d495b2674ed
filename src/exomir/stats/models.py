"""Regression models of a two-arm comparison, shared by every stage.

One implementation each of the models the analysis plan uses for the effect of
the treated arm: ANCOVA (OLS with HC standard errors and a t-based CI), the
constrained longitudinal (cLDA) linear mixed model (REML, Wald z CI), logistic
regression with the Mantel-Haenszel fallback, and the proportional-odds model.
The primary stage (:mod:`exomir.primary`) and the clinical endpoints
(:mod:`exomir.clinical.endpoints`) build their design matrices and output rows;
the fitting and the inference live here.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

LOG = logging.getLogger(__name__)


class CollinearError(ValueError):
    """The tested column is collinear with the columns before it."""


class NotEstimable(ValueError):
    """The model cannot be estimated (the message says why)."""


class FitError(ValueError):
    """The fitting routine failed (the message is the routine's)."""


@dataclass(frozen=True)
class Effect:
    """Estimate of one coefficient with its inference.

    ``df`` is the residual degrees of freedom of a t-based CI (NaN for a
    z-based one); ``columns`` are the design columns kept; ``warnings`` are
    the convergence messages of the fit.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    df: float
    cov_type: str
    columns: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def wald_z(est: float, se: float, level: float) -> tuple[float, float, float]:
    """Wald z confidence interval and two-sided p (NaN p when ``se <= 0``)."""
    z = stats.norm.ppf(0.5 + level / 2)
    p = float(2 * stats.norm.sf(abs(est / se))) if se > 0 else math.nan
    return est - z * se, est + z * se, p


def level_dummies(
    text: pd.Series, name: str
) -> tuple[dict[str, pd.Series], str, list[str]]:
    """Treatment-coded dummies of a text factor.

    The reference is the most frequent level (ties: first by name); levels
    with one participant are pooled with it, since their own dummy would give
    that participant leverage 1.

    Parameters
    ----------
    text
        Level of each row (missing values already given a label).
    name
        Factor name; dummies are named ``name[T.level]``.

    Returns
    -------
    tuple
        The dummies, the reference level and the pooled small levels.
    """
    counts = text.value_counts()
    levels = sorted(counts.index)
    ref = max(levels, key=lambda lvl: (counts[lvl], -levels.index(lvl)))
    small = [lvl for lvl in levels if counts[lvl] < 2 and lvl != ref]
    cols = {
        f"{name}[T.{lvl}]": (text == lvl).astype(float)
        for lvl in levels
        if lvl != ref and lvl not in small
    }
    return cols, ref, small


def drop_collinear(
    x: pd.DataFrame, protect: Sequence[str], notes: list[str]
) -> pd.DataFrame:
    """Drop design columns that are constant or collinear with earlier ones.

    Columns are tried in order; one that does not raise the rank is dropped
    and a note says so. A protected column (the tested effect) that would be
    dropped is an error instead.

    Parameters
    ----------
    x
        Design matrix (intercept first).
    protect
        Columns that must stay.
    notes
        Receives one note per dropped column.

    Returns
    -------
    pandas.DataFrame
        ``x`` restricted to a full-rank set of columns.

    Raises
    ------
    CollinearError
        If a protected column is collinear with the columns before it.
    """
    keep: list[str] = []
    for c in x.columns:
        trial = [*keep, c]
        if np.linalg.matrix_rank(x[trial].to_numpy(dtype=float)) == len(trial):
            keep.append(c)
        elif c in protect:
            raise CollinearError(
                f"the tested column {c} is collinear with {', '.join(keep)}"
            )
        else:
            notes.append(f"column {c} dropped (constant or collinear)")
    return x[keep]


def ols_effect(
    y: pd.Series,
    x: pd.DataFrame,
    effect: str,
    cov_type: str,
    ci_level: float,
    notes: list[str],
) -> Effect:
    """ANCOVA: OLS with a heteroscedasticity-consistent SE and a t-based CI.

    HC2/HC3 divide by ``1 - leverage``; when a row has leverage 1 (a design
    column only it has) HC1 is used instead and a note says so.

    Parameters
    ----------
    y
        Outcome.
    x
        Design (intercept first); collinear columns are dropped with a note.
    effect
        Column whose coefficient is reported.
    cov_type
        statsmodels covariance type (``HC3``, ``HC1``, ``nonrobust``...).
    ci_level
        Confidence level.
    notes
        Receives the notes of the fit.

    Raises
    ------
    CollinearError
        If ``effect`` is collinear with the columns before it.
    NotEstimable
        If no residual degree of freedom is left.
    """
    import statsmodels.api as sm

    x = drop_collinear(x, [effect], notes)
    df_resid = len(x) - x.shape[1]
    if df_resid < 1:
        raise NotEstimable("no residual df")
    xv = x.to_numpy(dtype=float)
    leverage = np.einsum("ij,jk,ik->i", xv, np.linalg.pinv(xv.T @ xv), xv)
    if cov_type in ("HC2", "HC3") and leverage.max() > 1 - 1e-8:
        notes.append(f"{cov_type} undefined (a participant has leverage 1); HC1 used")
        cov_type = "HC1"
    fit = sm.OLS(y, x).fit(cov_type=cov_type, use_t=True)
    lo, hi = (float(v) for v in fit.conf_int(alpha=1 - ci_level).loc[effect])
    return Effect(
        estimate=float(fit.params[effect]),
        se=float(fit.bse[effect]),
        ci_low=lo,
        ci_high=hi,
        pvalue=float(fit.pvalues[effect]),
        df=float(df_resid),
        cov_type=str(fit.cov_type),
        columns=tuple(map(str, x.columns)),
    )


def mixed_effect(
    y: Any,
    x: pd.DataFrame,
    groups: Any,
    effect: str,
    ci_level: float,
    notes: list[str],
) -> Effect:
    """cLDA: linear mixed model with a random intercept per group (REML, Wald z).

    Convergence warnings are returned in ``Effect.warnings``; any other
    warning of the fit (statsmodels' numerical notes) goes to the log.

    Parameters
    ----------
    y
        Outcome of every visit (long format).
    x
        Fixed-effects design; collinear columns are dropped with a note.
    groups
        Participant of each row.
    effect
        Column whose coefficient is reported (``followup:treated``).
    ci_level
        Confidence level.
    notes
        Receives the notes of the design.

    Raises
    ------
    CollinearError
        If ``effect`` is collinear with the columns before it.
    FitError
        If statsmodels fails (singular matrix, bad start values).
    """
    from statsmodels.regression.mixed_linear_model import MixedLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    x = drop_collinear(x, [effect], notes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = MixedLM(y, x, groups=groups).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise FitError(str(exc)) from exc
    messages = []
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            messages.append(str(w.message))
        else:  # statsmodels' numerical notes (e.g. log(0) at a zero variance)
            LOG.info("mixed model: %s: %s", w.category.__name__, w.message)
    est, se = float(fit.params[effect]), float(fit.bse[effect])
    lo, hi, p = wald_z(est, se, ci_level)
    return Effect(
        estimate=est,
        se=se,
        ci_low=lo,
        ci_high=hi,
        pvalue=p,
        df=math.nan,
        cov_type="REML",
        columns=tuple(map(str, x.columns)),
        warnings=tuple(messages),
    )


def _separated(fit: Any, caught: list[Any]) -> bool:
    """Whether a logistic fit shows (quasi-)separation."""
    names = {w.category.__name__ for w in caught}
    if names & {
        "PerfectSeparationWarning",
        "ConvergenceWarning",
        "HessianInversionWarning",
    }:
        return True
    bse = np.asarray(fit.bse, dtype=float)
    params = np.asarray(fit.params, dtype=float)
    return bool(
        (~np.isfinite(bse)).any() or (bse > 50).any() or (np.abs(params) > 15).any()
    )


def logistic_effect(
    y: pd.Series, x: pd.DataFrame, effect: str, notes: list[str]
) -> tuple[float, float, float, tuple[str, ...]] | None:
    """Logistic regression by ML; ``None`` on (quasi-)separation.

    Parameters
    ----------
    y
        0/1 outcome.
    x
        Design (intercept first); collinear columns are dropped with a note.
    effect
        Column whose log odds ratio is reported.
    notes
        Receives the notes of the design (and a collinear tested column).

    Returns
    -------
    tuple or None
        Log odds ratio, its SE, the Wald p-value and the design columns; or
        ``None`` when the model is not estimable.
    """
    import statsmodels.api as sm

    try:
        x = drop_collinear(x, [effect], notes)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = sm.Logit(y, x).fit(disp=0, maxiter=200)
        if _separated(fit, caught):
            return None
    except ValueError as exc:
        notes.append(str(exc))
        return None
    except np.linalg.LinAlgError:
        return None
    except Exception as exc:  # statsmodels PerfectSeparationError (older versions)
        if type(exc).__name__ != "PerfectSeparationError":
            raise
        return None
    return (
        float(fit.params[effect]),
        float(fit.bse[effect]),
        float(fit.pvalues[effect]),
        tuple(map(str, x.columns)),
    )


def mantel_haenszel(
    tables: Sequence[np.ndarray], ci_level: float
) -> tuple[float, float, float, float, float] | None:
    """Mantel-Haenszel pooled odds ratio of 2x2 tables (RBG CI, CMH test).

    Returns
    -------
    tuple or None
        Odds ratio, CI limits, the SE of its log and the CMH p-value (no
        continuity correction); ``None`` when it is 0 or infinite.
    """
    from statsmodels.stats.contingency_tables import StratifiedTable

    st = StratifiedTable(list(tables))
    num = sum(t[0, 0] * t[1, 1] / t.sum() for t in tables)
    den = sum(t[0, 1] * t[1, 0] / t.sum() for t in tables)
    if num == 0 or den == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = st.oddsratio_pooled_confint(alpha=1 - ci_level)
        p = float(st.test_null_odds(correction=False).pvalue)
    return (
        float(st.oddsratio_pooled),
        float(lo),
        float(hi),
        float(st.logodds_pooled_se),
        p,
    )


def _logit_ordered_model() -> Any:
    """Return statsmodels' ``OrderedModel`` with a logit cdf free of scipy.stats' dispatch.

    The likelihood, its numerical gradient and Hessian call the latent cdf
    hundreds of thousands of times per endpoint; ``scipy.stats.logistic.cdf``
    spends nearly all of that in argument checking. Its value is
    ``scipy.special.expit`` of the argument (location 0, scale 1: the same
    bits, including at the infinite outer thresholds), which is computed here
    directly, so the fits and every digit of their results are unchanged.
    """
    from scipy.special import expit
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    class LogitOrderedModel(OrderedModel):
        def cdf(self, x: Any) -> np.ndarray:
            return np.asarray(expit(np.asarray(x, dtype=float)))

    return LogitOrderedModel


def ordinal_fit(endog: pd.Series, x: pd.DataFrame) -> tuple[Any, bool]:
    """Proportional-odds (logit link) model by ML (BFGS).

    Returns
    -------
    tuple
        The statsmodels result and whether a convergence warning was raised.

    Raises
    ------
    FitError
        If statsmodels fails.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = _logit_ordered_model()(endog, x, distr="logit").fit(
                method="bfgs", disp=False, maxiter=500
            )
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise FitError(str(exc)) from exc
    converge = bool(caught) and any(
        "converge" in str(w.message).lower() for w in caught
    )
    return fit, converge
