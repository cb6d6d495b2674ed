"""Site-by-arm interaction: a sensitivity analysis of the ANCOVA by site.

The ANCOVA of the primary analysis (and of each continuous clinical endpoint)
is refitted with an arm-by-site interaction::

    y_followup ~ baseline + adjustment + site + treated + treated:site

(OLS, HC3 standard errors like the main ANCOVA, t-based CIs on the residual
degrees of freedom). The arm effect within site ``k`` is the contrast
``b_treated + b_treated:site_k`` (the reference site: ``b_treated``), with its
HC3 standard error from the full covariance matrix. The interaction test is
the Wald F test (same HC3 covariance) that every ``treated:site`` coefficient
is zero, on (number of sites - 1, residual df) degrees of freedom. A
``pooled`` row repeats the model without the interaction on the same
participants (site as a factor), for comparison.

Only sites with at least ``min_per_arm`` participants in each arm enter the
model; any other site gets a row that says so (a site with one arm only has no
within-site arm effect; in the main ANCOVA with ``site_id`` as a stratum such a
site's participants inform only the baseline slope and their site's level).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exomir.stats.models import NotEstimable, drop_collinear

SITE_BY_ARM_COLUMNS = [
    "analysis",
    "endpoint",
    "label",
    "population",
    "row_type",
    "site",
    "site_name",
    "n_treated",
    "n_reference",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "scale",
    "back_transformed",
    "bt_ci_low",
    "bt_ci_high",
    "statistic",
    "df_num",
    "df_den",
    "p_value",
    "model",
    "covariates",
    "note",
]

TREATED = "treated"


@dataclass(frozen=True)
class SiteFit:
    """Result of :func:`site_by_arm_fit`.

    Attributes
    ----------
    per_site
        One row per site in the model: ``site``, ``n_treated``,
        ``n_reference``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``p_value`` (treated - reference within the site).
    pooled
        Arm effect of the model without interaction on the same participants
        (``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p_value``).
    f_stat, df_num, df_den, p_interaction
        Wald F test of the interaction terms.
    cov_type
        Covariance used (HC1 when a participant has leverage 1).
    df
        Residual degrees of freedom of the interaction model.
    columns
        Adjustment columns kept (collinear ones dropped with a note).
    notes
        Notes of the fit.
    """

    per_site: pd.DataFrame
    pooled: dict[str, float]
    f_stat: float
    df_num: int
    df_den: int
    p_interaction: float
    cov_type: str
    df: int
    columns: tuple[str, ...]
    notes: tuple[str, ...]


def _fit(y: np.ndarray, x: pd.DataFrame, cov_type: str, notes: list[str]) -> Any:
    """OLS with a HC covariance; HC1 when HC2/HC3 are undefined (leverage 1)."""
    import statsmodels.api as sm

    xv = x.to_numpy(dtype=float)
    leverage = np.einsum("ij,jk,ik->i", xv, np.linalg.pinv(xv.T @ xv), xv)
    if cov_type in ("HC2", "HC3") and leverage.max() > 1 - 1e-8:
        notes.append(f"{cov_type} undefined (a participant has leverage 1); HC1 used")
        cov_type = "HC1"
    return sm.OLS(y, x).fit(cov_type=cov_type, use_t=True)


def _contrast(fit: Any, weights: pd.Series, level: float) -> dict[str, float]:
    """Estimate, SE, t CI and p of a linear combination of coefficients."""
    w = weights.reindex(fit.params.index).fillna(0.0).to_numpy()
    est = float(w @ fit.params.to_numpy())
    se = float(math.sqrt(w @ fit.cov_params().to_numpy() @ w))
    df = float(fit.df_resid)
    q = float(stats.t.ppf(0.5 + level / 2, df))
    p = float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else math.nan
    return {
        "df": df,
        "estimate": est,
        "se": se,
        "ci_low": est - q * se,
        "ci_high": est + q * se,
        "p_value": p,
    }


def site_by_arm_fit(
    y: pd.Series,
    treated: pd.Series,
    baseline: pd.Series,
    site: pd.Series,
    adjust: pd.DataFrame,
    *,
    sites: Sequence[str],
    cov_type: str = "HC3",
    ci_level: float = 0.95,
) -> SiteFit:
    """Fit the ANCOVA with a site-by-arm interaction.

    Parameters
    ----------
    y, treated, baseline, site
        Follow-up value, 0/1 treated indicator, baseline value and site code
        per participant (complete cases, same index).
    adjust
        Further numeric design columns (strata other than site, covariates).
    sites
        Sites in the model, in report order; the first is the reference of the
        dummy coding (the estimates do not depend on it).
    cov_type
        statsmodels covariance type (``HC3`` like the main ANCOVA).
    ci_level
        Confidence level.

    Returns
    -------
    SiteFit
        Per-site arm effects, the pooled effect and the interaction F test.

    Raises
    ------
    NotEstimable
        Fewer than two sites, or no residual degree of freedom.
    """
    if len(sites) < 2:
        raise NotEstimable("fewer than two sites with both arms")
    notes: list[str] = []
    base = pd.DataFrame({"Intercept": 1.0, "baseline": baseline}, index=y.index)
    base = pd.concat([base, adjust], axis=1)
    site_cols = {f"site[T.{s}]": (site == s).astype(float) for s in sites[1:]}
    inter_cols = {
        f"{TREATED}:site[T.{s}]": treated * (site == s).astype(float) for s in sites[1:]
    }
    main = pd.concat(
        [base, pd.DataFrame(site_cols, index=y.index), treated.rename(TREATED)],
        axis=1,
    )
    protect = [*site_cols, TREATED, *inter_cols]
    x_main = drop_collinear(main, protect, notes)
    x = pd.concat([x_main, pd.DataFrame(inter_cols, index=y.index)], axis=1)
    x = drop_collinear(x, protect, notes)
    if len(x) - x.shape[1] < 1:
        raise NotEstimable("no residual df for the site-by-arm model")
    yv = y.to_numpy(dtype=float)
    fit = _fit(yv, x, cov_type, notes)
    rows = []
    for s in sites:
        w = pd.Series({TREATED: 1.0})
        if s != sites[0]:
            w[f"{TREATED}:site[T.{s}]"] = 1.0
        in_site = site == s
        rows.append(
            {
                "site": s,
                "n_treated": int((treated[in_site] == 1).sum()),
                "n_reference": int((treated[in_site] == 0).sum()),
                **_contrast(fit, w, ci_level),
            }
        )
    r = np.zeros((len(inter_cols), len(x.columns)))
    for i, c in enumerate(inter_cols):
        r[i, list(x.columns).index(c)] = 1.0
    wald = fit.wald_test(r, use_f=True, scalar=True)
    pooled_fit = _fit(yv, x_main, cov_type, [])
    pooled = _contrast(pooled_fit, pd.Series({TREATED: 1.0}), ci_level)
    return SiteFit(
        per_site=pd.DataFrame(rows),
        pooled=pooled,
        f_stat=float(np.squeeze(wald.statistic)),
        df_num=round(float(wald.df_num)),
        df_den=round(float(wald.df_denom)),
        p_interaction=float(np.squeeze(wald.pvalue)),
        cov_type=str(fit.cov_type),
        df=int(fit.df_resid),
        columns=tuple(c for c in x_main.columns if c not in ("Intercept", TREATED)),
        notes=tuple(notes),
    )


def eligible_sites(
    site: pd.Series, treated: pd.Series, sites: Sequence[str], min_per_arm: int
) -> tuple[list[str], dict[str, str]]:
    """Sites with at least ``min_per_arm`` participants per arm, and why others not.

    Returns
    -------
    tuple
        The eligible sites (in ``sites`` order) and ``site -> reason`` for the
        others.
    """
    keep: list[str] = []
    why: dict[str, str] = {}
    for s in sites:
        n_t = int(((site == s) & (treated == 1)).sum())
        n_r = int(((site == s) & (treated == 0)).sum())
        if n_t >= min_per_arm and n_r >= min_per_arm:
            keep.append(s)
        elif n_t == 0 and n_r == 0:
            why[s] = "no participant with the needed values at this site"
        elif n_t == 0 or n_r == 0:
            why[s] = (
                "one arm only at this site: no within-site arm effect (left out of "
                "the interaction model; in the main ANCOVA its participants inform "
                "only the baseline slope and the site level)"
            )
        else:
            why[s] = (
                f"fewer than {min_per_arm} participants in an arm ({n_t} treated, "
                f"{n_r} reference): left out of the interaction model"
            )
    return keep, why


def _back(v: float, back: str) -> float:
    """Back-transform a log-scale estimate (``exp2``, ``exp``; NaN otherwise)."""
    if back == "exp2":
        return float(2.0**v)
    if back == "exp":
        return float(math.exp(v))
    return math.nan


def _rows(
    fit: SiteFit | None,
    sites: Mapping[str, str],
    site: pd.Series,
    treated: pd.Series,
    inside: pd.Series,
    why: Mapping[str, str],
    pre: list[str],
    blank: dict[str, Any],
) -> list[dict[str, Any]]:
    """Site, pooled and interaction rows of one endpoint from its fit."""
    rows: list[dict[str, Any]] = []
    per = fit.per_site.set_index("site") if fit is not None else pd.DataFrame()
    model = (
        f"OLS with site x arm, {fit.cov_type} SE, t({fit.df}) CI"
        if fit is not None
        else ""
    )
    cov = ", ".join(fit.columns) if fit is not None else ""
    for code, name in sites.items():
        row = dict(blank, row_type="site", site=code, site_name=name)
        in_site = site == code
        row["n_treated"] = int((treated[in_site] == 1).sum())
        row["n_reference"] = int((treated[in_site] == 0).sum())
        if fit is not None and code in per.index:
            r = per.loc[code]
            row.update(
                {k: float(r[k]) for k in ("estimate", "se", "ci_low", "ci_high")},
                p_value=float(r["p_value"]),
                df=fit.df,
                model=model,
                covariates=cov,
            )
        else:
            row["note"] = why.get(code, "; ".join(pre) or "not estimable")
        rows.append(row)
    if fit is not None:
        rows.append(
            dict(
                blank,
                row_type="pooled",
                site="all",
                site_name="sites in the model (no interaction)",
                n_treated=int((treated[inside] == 1).sum()),
                n_reference=int((treated[inside] == 0).sum()),
                model=f"OLS with site, {fit.cov_type} SE",
                covariates=cov,
                **fit.pooled,
            )
        )
        rows.append(
            dict(
                blank,
                row_type="interaction",
                site="all",
                site_name="site x arm interaction (Wald F)",
                n_treated=int((treated[inside] == 1).sum()),
                n_reference=int((treated[inside] == 0).sum()),
                statistic=fit.f_stat,
                df_num=fit.df_num,
                df_den=fit.df_den,
                p_value=fit.p_interaction,
                model=model,
                covariates=cov,
                note="; ".join([*pre, *fit.notes]),
            )
        )
    else:
        rows.append(
            dict(
                blank,
                row_type="interaction",
                site="all",
                site_name="site x arm interaction (Wald F)",
                note="not computed: " + "; ".join(pre),
            )
        )
    return rows


def site_rows(
    *,
    frame: pd.DataFrame,
    outcome: str,
    baseline: str,
    adjust: pd.DataFrame,
    sites: Mapping[str, str],
    labels: Mapping[str, str],
    back: str,
    cov_type: str,
    ci_level: float,
    min_per_arm: int,
    notes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Output rows of one endpoint: per site, pooled and the interaction test.

    Parameters
    ----------
    frame
        One row per participant: ``treated``, ``site_id``, ``outcome`` and
        ``baseline`` (on the model scale).
    outcome, baseline
        Column names.
    adjust
        Further design columns (same index as ``frame``).
    sites
        ``design.sites`` (code -> name), in report order.
    labels
        ``analysis``, ``endpoint``, ``label``, ``population`` and ``scale``
        of every row.
    back
        Back-transformation of the estimate: ``exp2`` (log2 scale, ratio),
        ``exp`` (natural log, ratio of geometric means) or ``""`` (none).
    cov_type, ci_level, min_per_arm
        Model settings (``site_analysis``).
    notes
        Notes of the data preparation (participants left out...).

    Returns
    -------
    list[dict]
        Rows with :data:`SITE_BY_ARM_COLUMNS`.
    """
    used = [outcome, baseline, TREATED, "site_id"]
    ok = frame[used].notna().all(axis=1) & adjust.notna().all(axis=1)
    ok &= frame["site_id"].astype(str).isin(list(sites))
    d, a = frame[ok], adjust[ok]
    pre = list(notes)
    if int((~ok).sum()):
        pre.append(f"{int((~ok).sum())} participant(s) without the needed values")
    site = d["site_id"].astype(str)
    treated = d[TREATED].astype(float)
    keep, why = eligible_sites(site, treated, list(sites), min_per_arm)
    blank: dict[str, Any] = {c: np.nan for c in SITE_BY_ARM_COLUMNS}
    blank.update({k: v for k, v in labels.items()}, model="", covariates="", note="")

    inside = site.isin(keep)
    try:
        fit = site_by_arm_fit(
            d.loc[inside, outcome].astype(float),
            treated[inside],
            d.loc[inside, baseline].astype(float),
            site[inside],
            a[inside],
            sites=keep,
            cov_type=cov_type,
            ci_level=ci_level,
        )
    except NotEstimable as exc:
        fit = None
        pre.append(str(exc))
    rows = _rows(fit, sites, site, treated, inside, why, pre, blank)
    for row in rows:
        if row["row_type"] != "interaction" and np.isfinite(row["estimate"]):
            row["back_transformed"] = _back(row["estimate"], back)
            row["bt_ci_low"] = _back(row["ci_low"], back)
            row["bt_ci_high"] = _back(row["ci_high"], back)
    return rows
