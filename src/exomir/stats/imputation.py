"""Multiple imputation: proper Bayesian-regression draws and Rubin's rules.

Used by the delta-adjusted tipping-point analysis of the primary stage
(:func:`exomir.primary.tipping.tipping_point`). :func:`coef_var` gives the
OLS coefficient and its HC variance for many completed data sets at once,
with the same formulas as statsmodels (checked in tests/unit/test_primary.py).
"""

from __future__ import annotations

import numpy as np


def coef_var(
    x: np.ndarray, y: np.ndarray, j: int, cov_type: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """OLS coefficient ``j`` and its variance for many outcome vectors at once.

    Parameters
    ----------
    x
        Design (n x k, full rank).
    y
        Outcomes (m x n), one row per completed data set.
    j
        Column of the coefficient.
    cov_type
        ``nonrobust``, ``HC0``, ``HC1``, ``HC2`` or ``HC3`` (as statsmodels).

    Returns
    -------
    tuple
        Estimates (m,), variances (m,) and the covariance type used (HC2/HC3
        fall back to HC1 when a participant has leverage 1, as in
        :func:`exomir.stats.models.ols_effect`).
    """
    n, k = x.shape
    bread = np.linalg.inv(x.T @ x)
    beta = y @ (x @ bread)  # m x k
    resid = y - beta @ x.T
    a = x @ bread[:, j]  # d beta_j / d y
    h = np.einsum("ij,jk,ik->i", x, bread, x)
    if cov_type in ("HC2", "HC3") and h.max() > 1 - 1e-8:
        cov_type = "HC1"
    e2 = resid**2
    if cov_type == "nonrobust":
        var = e2.sum(axis=1) / (n - k) * bread[j, j]
    else:
        w = {
            "HC0": np.ones(n),
            "HC1": np.full(n, n / (n - k)),
            "HC2": 1.0 / (1.0 - h),
            "HC3": 1.0 / (1.0 - h) ** 2,
        }[cov_type]
        var = (e2 * w) @ (a**2)
    return beta[:, j], var, cov_type


def rubin(
    est: np.ndarray, var: np.ndarray, df_complete: float
) -> tuple[float, float, float]:
    """Combine multiply-imputed estimates with Rubin's rules.

    Parameters
    ----------
    est, var
        Estimates and their variances, one per completed data set.
    df_complete
        Residual degrees of freedom of the complete-data analysis.

    Returns
    -------
    tuple
        Pooled estimate, total variance and the Barnard-Rubin (1999)
        degrees of freedom.
    """
    m = len(est)
    qbar = float(est.mean())
    w = float(var.mean())
    b = float(est.var(ddof=1)) if m > 1 else 0.0
    t = w + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / t if t > 0 else 0.0
    nu_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
    if lam <= 0:
        return qbar, t, float(nu_obs)
    nu_old = (m - 1) / lam**2
    return qbar, t, float(1 / (1 / nu_old + 1 / nu_obs))


def impute(
    z: np.ndarray,
    y: np.ndarray,
    observed: np.ndarray,
    m: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw ``m`` proper imputations of ``y[~observed]`` (Bayesian regression).

    The residual variance is drawn from its scaled inverse chi-square
    posterior, the coefficients from their normal posterior given it, and
    each missing value as prediction plus a normal residual.
    """
    zo, yo = z[observed], y[observed]
    zm = z[~observed]
    n, k = zo.shape
    g = np.linalg.inv(zo.T @ zo)
    bhat = g @ zo.T @ yo
    rss = float(((yo - zo @ bhat) ** 2).sum())
    chol = np.linalg.cholesky(g)
    out = np.empty((m, len(zm)))
    for i in range(m):
        sigma2 = rss / rng.chisquare(n - k)
        b = bhat + np.sqrt(sigma2) * chol @ rng.standard_normal(k)
        out[i] = zm @ b + np.sqrt(sigma2) * rng.standard_normal(len(zm))
    return out
