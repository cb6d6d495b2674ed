"""Clinical endpoint models (analysis_spec §3.1).

Per endpoint and population (mITT, PP), one or more rows of
``results/clinical/endpoints.tsv``:

continuous (``model: ancova``)
    ``primary``: ANCOVA ``y_wk1 ~ arm + y_bl + strata + covariates``, OLS with
    HC3 standard errors and a t-based CI. ``transform: log`` fits log values
    and reports the ratio of geometric means (treated / reference).
    ``sensitivity_mixedlm``: cLDA linear mixed model over both visits,
    ``y ~ followup + followup:treated + strata + covariates`` with a random
    participant intercept (REML, Wald z CI); participants with one visit
    contribute under MAR.
binary (``model: logistic``)
    ``primary``: logistic ``present_wk1 ~ arm + present_bl (+ covariates)``,
    odds ratio with a Wald CI. On (quasi-)separation the Mantel-Haenszel odds
    ratio stratified by baseline status (Robins-Breslow-Greenland CI, CMH test)
    replaces it and ``model``/``note`` say so.
    ``risk_difference``: difference of week-1 proportions (treated minus
    reference, unadjusted) with the Newcombe hybrid score CI (Newcombe 1998,
    method 10).
ordinal (``model: proportional_odds``)
    ``primary``: proportional-odds logistic model of the week-1 category on arm
    and the baseline category (as a score); odds ratio of a higher category.

A row that cannot be estimated is still written, with empty estimates and the
reason in ``note``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exomir.clinical.plausibility import sensitivity_label
from exomir.clinical.settings import ClinicalSettings, ParamSpec
from exomir.stats.intervals import newcombe_diff_ci
from exomir.stats.models import (
    FitError,
    level_dummies,
    logistic_effect,
    mantel_haenszel,
    mixed_effect,
    ols_effect,
    ordinal_fit,
    wald_z,
)

log = logging.getLogger(__name__)

TREATED = "treated"

ENDPOINT_COLUMNS = [
    "param",
    "label",
    "domain",
    "kind",
    "model",
    "analysis",
    "population",
    "effect_measure",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "n_treatment",
    "n_control",
    "transform",
    "estimate_model_scale",
    "se_model_scale",
    "covariates",
    "mean_chg_treatment",
    "sd_chg_treatment",
    "mean_chg_control",
    "sd_chg_control",
    "assessor_blinded_fraction",
    "detection_bias",
    "note",
]


# ---------------------------------------------------------------------------
# Proportions


# ---------------------------------------------------------------------------
# Design helpers


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def covariate_columns(
    d: pd.DataFrame, columns: Sequence[str], notes: list[str]
) -> pd.DataFrame:
    """Numeric design columns of participant covariates and strata.

    Booleans become 0/1, numbers stay, text becomes treatment-coded dummies
    (reference = the most frequent level; levels with one participant are
    pooled with it, since their own dummy would have leverage 1).
    """
    cols: dict[str, pd.Series] = {}
    for c in columns:
        if c not in d.columns:
            notes.append(f"covariate {c} not in participants.tsv")
            continue
        s = d[c]
        if s.map(_missing).all():
            notes.append(f"covariate {c} empty")
            continue
        vals = s.dropna()
        if vals.map(lambda v: isinstance(v, bool | np.bool_)).all():
            cols[c] = s.map(lambda v: np.nan if _missing(v) else float(bool(v)))
            continue
        num = pd.to_numeric(s, errors="coerce")
        if num.notna().sum() == s.map(lambda v: not _missing(v)).sum():
            cols[c] = num.astype(float)
            continue
        text = s.map(lambda v: "(missing)" if _missing(v) else str(v))
        dummies, ref, small = level_dummies(text, c)
        if small:
            notes.append(f"{c} level(s) {', '.join(small)} pooled with {ref}")
        cols.update(dummies)
    return pd.DataFrame(cols, index=d.index)


def _blank(spec: ParamSpec, analysis: str, population: str, note: str) -> dict:
    row: dict[str, Any] = {c: np.nan for c in ENDPOINT_COLUMNS}
    row.update(
        param=spec.code,
        label=spec.label,
        domain=spec.domain,
        kind=spec.kind,
        model=spec.model,
        analysis=analysis,
        population=population,
        effect_measure="",
        transform=spec.transform,
        covariates="",
        detection_bias="",
        note=note,
    )
    return row


# ---------------------------------------------------------------------------
# Continuous


def _log_values(d: pd.DataFrame, cols: Sequence[str], notes: list[str]) -> pd.DataFrame:
    d = d.copy()
    for c in cols:
        bad = d[c].notna() & ~(d[c] > 0)
        if bad.any():
            notes.append(f"{int(bad.sum())} non-positive {c} value(s) cannot be logged")
            d.loc[bad, c] = np.nan
        d[c] = np.log(d[c])
    return d


def ancova(
    d: pd.DataFrame,
    spec: ParamSpec,
    settings: ClinicalSettings,
    population: str,
) -> dict[str, Any]:
    """ANCOVA of the follow-up value on arm, baseline, strata and covariates.

    Parameters
    ----------
    d
        One row per participant of the population: ``treated``, ``bl``,
        ``wk1`` and the participant covariates/strata.
    spec
        The endpoint.
    settings
        Clinical settings.
    population
        Population label.

    Returns
    -------
    dict
        One output row.
    """
    notes: list[str] = []
    if spec.transform == "log":
        d = _log_values(d, ["bl", "wk1"], notes)
    ok = d[["bl", "wk1"]].notna().all(axis=1)
    if (~ok).sum():
        notes.append(f"{int((~ok).sum())} participant(s) without both visits left out")
    d = d[ok]
    x = pd.DataFrame({"Intercept": 1.0, TREATED: d[TREATED], "baseline": d["bl"]})
    x = pd.concat(
        [x, covariate_columns(d, [*settings.strata, *spec.covariates], notes)], axis=1
    )
    cc = x.notna().all(axis=1)
    if (~cc).sum():
        notes.append(
            f"{int((~cc).sum())} participant(s) with a missing covariate left out"
        )
    x, d = x[cc], d[cc]
    n_t, n_c = int((d[TREATED] == 1).sum()), int((d[TREATED] == 0).sum())
    if n_t < 2 or n_c < 2:
        return _blank(
            spec,
            "primary",
            population,
            "; ".join([*notes, f"too few participants ({n_t} treated, {n_c} control)"]),
        )
    try:
        e = ols_effect(
            d["wk1"].astype(float),
            x,
            TREATED,
            settings.cov_type,
            settings.ci_level,
            notes,
        )
    except ValueError as exc:
        return _blank(spec, "primary", population, "; ".join([*notes, str(exc)]))
    row = _blank(spec, "primary", population, "; ".join(notes))
    row.update(
        model=f"ANCOVA (OLS, {e.cov_type} SE, t({int(e.df)}) CI)",
        covariates=", ".join(c for c in e.columns if c not in ("Intercept", TREATED)),
        estimate_model_scale=e.estimate,
        se_model_scale=e.se,
        p_value=e.pvalue,
        n_treatment=n_t,
        n_control=n_c,
    )
    row.update(_scale(spec, e.estimate, e.ci_low, e.ci_high))
    return row


def _scale(spec: ParamSpec, est: float, lo: float, hi: float) -> dict[str, Any]:
    if spec.transform == "log":
        return {
            "effect_measure": "ratio of geometric means",
            "estimate": math.exp(est),
            "ci_low": math.exp(lo),
            "ci_high": math.exp(hi),
        }
    return {
        "effect_measure": "mean difference",
        "estimate": est,
        "ci_low": lo,
        "ci_high": hi,
    }


def clda(
    d: pd.DataFrame,
    spec: ParamSpec,
    settings: ClinicalSettings,
    population: str,
) -> dict[str, Any]:
    """Constrained longitudinal (cLDA) mixed model over both visits.

    Parameters
    ----------
    d
        As for :func:`ancova`; participants with one visit are kept.
    spec, settings, population
        As for :func:`ancova`.

    Returns
    -------
    dict
        One output row (``analysis = sensitivity_mixedlm``).
    """
    analysis = "sensitivity_mixedlm"
    notes: list[str] = []
    if spec.transform == "log":
        d = _log_values(d, ["bl", "wk1"], notes)
    cov = covariate_columns(d, [*settings.strata, *spec.covariates], notes)
    rows = []
    for k, col in ((0.0, "bl"), (1.0, "wk1")):
        part = pd.DataFrame(
            {
                "pid": d["participant_id"],
                "y": d[col].astype(float),
                "followup": k,
                "fu_treated": k * d[TREATED],
            },
            index=d.index,
        )
        rows.append(pd.concat([part, cov], axis=1))
    long = pd.concat(rows, ignore_index=True).dropna()
    n_t = long.loc[long["fu_treated"] == 1, "pid"].nunique()
    n_c = long.loc[(long["followup"] == 1) & (long["fu_treated"] == 0), "pid"].nunique()
    if n_t < 2 or n_c < 2:
        return _blank(spec, analysis, population, "too few participants at follow-up")
    x = pd.concat(
        [
            pd.DataFrame({"Intercept": 1.0}, index=long.index),
            long[["followup", "fu_treated"]],
            long[[c for c in cov.columns]],
        ],
        axis=1,
    )
    try:
        e = mixed_effect(
            long["y"], x, long["pid"], "fu_treated", settings.ci_level, notes
        )
    except FitError as exc:
        return _blank(spec, analysis, population, f"mixed model failed: {exc}")
    except ValueError as exc:
        return _blank(spec, analysis, population, str(exc))
    if e.warnings:
        notes.append(
            "mixed model: convergence warning (estimate shown, interpret with care)"
        )
    if not np.isfinite(e.se):
        return _blank(spec, analysis, population, "mixed model: SE not estimable")
    row = _blank(spec, analysis, population, "; ".join(notes))
    row.update(
        model="cLDA MixedLM (random participant intercept, REML, Wald z CI)",
        covariates=", ".join(
            c for c in e.columns if c not in ("Intercept", "fu_treated")
        ),
        estimate_model_scale=e.estimate,
        se_model_scale=e.se,
        p_value=e.pvalue,
        n_treatment=int(n_t),
        n_control=int(n_c),
    )
    row.update(_scale(spec, e.estimate, e.ci_low, e.ci_high))
    return row


# ---------------------------------------------------------------------------
# Binary


def _risk_difference(
    d: pd.DataFrame, spec: ParamSpec, settings: ClinicalSettings, population: str
) -> dict[str, Any]:
    """Unadjusted difference of week-1 proportions with the Newcombe CI."""
    n_t, n_c = int((d[TREATED] == 1).sum()), int((d[TREATED] == 0).sum())
    rd = _blank(spec, "risk_difference", population, "unadjusted for baseline status")
    if n_t and n_c:
        x1 = int(d.loc[d[TREATED] == 1, "wk1"].sum())
        x2 = int(d.loc[d[TREATED] == 0, "wk1"].sum())
        diff, lo, hi = newcombe_diff_ci(x1, n_t, x2, n_c, settings.ci_level)
        rd.update(
            model="difference of proportions, Newcombe hybrid score CI",
            effect_measure="risk difference",
            estimate=diff,
            ci_low=lo,
            ci_high=hi,
            n_treatment=n_t,
            n_control=n_c,
            note=f"unadjusted for baseline status; {x1}/{n_t} vs {x2}/{n_c}",
        )
    return rd


def _cmh_update(
    primary: dict[str, Any],
    d: pd.DataFrame,
    settings: ClinicalSettings,
    notes: list[str],
) -> None:
    """Fill ``primary`` with the Mantel-Haenszel OR stratified by baseline status."""
    notes.append(
        "logistic model not estimable (separation); CMH stratified by baseline"
    )
    tables = []
    for b in (0.0, 1.0):
        s = d[d["bl"] == b]
        t = np.array(
            [
                [
                    ((s[TREATED] == 1) & (s["wk1"] == 1)).sum(),
                    ((s[TREATED] == 1) & (s["wk1"] == 0)).sum(),
                ],
                [
                    ((s[TREATED] == 0) & (s["wk1"] == 1)).sum(),
                    ((s[TREATED] == 0) & (s["wk1"] == 0)).sum(),
                ],
            ],
            dtype=float,
        )
        if t.sum(axis=1).min() > 0:
            tables.append(t)
    primary.update(
        model="Mantel-Haenszel OR stratified by baseline (RBG CI, CMH test)",
        effect_measure="odds ratio",
    )
    if not tables:
        primary["note"] = "; ".join([*notes, "no stratum has both arms"])
        return
    mh = mantel_haenszel(tables, settings.ci_level)
    if mh is None:
        primary["note"] = "; ".join(
            [
                *notes,
                "Mantel-Haenszel odds ratio is 0 or infinite (empty cells); see the risk difference",
            ]
        )
        return
    orv, lo, hi, se, p = mh
    primary.update(
        estimate=orv,
        ci_low=lo,
        ci_high=hi,
        estimate_model_scale=math.log(orv),
        se_model_scale=se,
        p_value=p,
        covariates="baseline (strata)",
        note="; ".join(notes),
    )


def logistic(
    d: pd.DataFrame,
    spec: ParamSpec,
    settings: ClinicalSettings,
    population: str,
) -> list[dict[str, Any]]:
    """Logistic model with CMH fallback, and the Newcombe risk difference.

    Parameters
    ----------
    d
        One row per participant: ``treated``, ``bl`` and ``wk1`` coded 0/1.
    spec, settings, population
        As for :func:`ancova`.

    Returns
    -------
    list of dict
        The ``primary`` (odds ratio) and ``risk_difference`` rows.
    """
    notes: list[str] = []
    ok = d[["bl", "wk1"]].notna().all(axis=1)
    if (~ok).sum():
        notes.append(f"{int((~ok).sum())} participant(s) without both visits left out")
    d = d[ok]
    n_t, n_c = int((d[TREATED] == 1).sum()), int((d[TREATED] == 0).sum())
    rd = _risk_difference(d, spec, settings, population)
    primary = _blank(spec, "primary", population, "")
    if n_t < 2 or n_c < 2:
        primary["note"] = "; ".join([*notes, f"too few participants ({n_t}, {n_c})"])
        return [primary, rd]
    y = d["wk1"].astype(float)
    if y.nunique() < 2:
        primary["note"] = "; ".join(
            [
                *notes,
                f"every participant {'present' if y.iloc[0] else 'absent'} at follow-up",
            ]
        )
        return [primary, rd]
    x = pd.DataFrame({"Intercept": 1.0, TREATED: d[TREATED], "baseline": d["bl"]})
    x = pd.concat([x, covariate_columns(d, list(spec.covariates), notes)], axis=1)
    cc = x.notna().all(axis=1)
    x, d, y = x[cc], d[cc], y[cc]
    primary.update(n_treatment=n_t, n_control=n_c)
    fit = logistic_effect(y, x, TREATED, notes)
    if fit is None:
        _cmh_update(primary, d, settings, notes)
        return [primary, rd]
    est, se, p, columns = fit
    lo, hi, _p = wald_z(est, se, settings.ci_level)
    primary.update(
        model="logistic (ML, Wald CI)",
        covariates=", ".join(c for c in columns if c not in ("Intercept", TREATED)),
        effect_measure="odds ratio",
        estimate=math.exp(est),
        ci_low=math.exp(lo),
        ci_high=math.exp(hi),
        estimate_model_scale=est,
        se_model_scale=se,
        p_value=p,
        note="; ".join(notes),
    )
    return [primary, rd]


# ---------------------------------------------------------------------------
# Ordinal


def proportional_odds(
    d: pd.DataFrame,
    spec: ParamSpec,
    settings: ClinicalSettings,
    population: str,
) -> dict[str, Any]:
    """Proportional-odds model of the follow-up category on arm and baseline.

    Parameters
    ----------
    d
        One row per participant: ``treated``, ``bl`` and ``wk1`` as category
        positions (0, 1, ...).
    spec, settings, population
        As for :func:`ancova`.

    Returns
    -------
    dict
        One output row; the odds ratio is of a higher (worse) category.
    """
    notes: list[str] = []
    ok = d[["bl", "wk1"]].notna().all(axis=1)
    if (~ok).sum():
        notes.append(f"{int((~ok).sum())} participant(s) without both visits left out")
    d = d[ok]
    n_t, n_c = int((d[TREATED] == 1).sum()), int((d[TREATED] == 0).sum())
    row = _blank(spec, "primary", population, "")
    row.update(n_treatment=n_t, n_control=n_c)
    observed = sorted(d["wk1"].unique())
    if n_t < 2 or n_c < 2 or len(observed) < 2:
        row["note"] = "; ".join(
            [
                *notes,
                f"not estimable ({n_t} treated, {n_c} control, {len(observed)} follow-up categories)",
            ]
        )
        return row
    if len(observed) < len(spec.categories):
        notes.append(
            f"{len(observed)} of {len(spec.categories)} categories observed at follow-up"
        )
    codes = d["wk1"].map({v: i for i, v in enumerate(observed)}).astype(int)
    endog = pd.Series(
        pd.Categorical(codes, categories=list(range(len(observed))), ordered=True),
        index=d.index,
    )
    x = pd.DataFrame(
        {TREATED: d[TREATED].astype(float), "baseline": d["bl"].astype(float)}
    )
    x = pd.concat([x, covariate_columns(d, list(spec.covariates), notes)], axis=1)
    x = x.loc[:, x.std(ddof=0) > 0] if (x.std(ddof=0) > 0)[TREATED] else x
    if "baseline" not in x.columns:
        notes.append("baseline constant; dropped")
    try:
        fit, converge_warning = ordinal_fit(endog, x)
    except FitError as exc:
        row["note"] = "; ".join([*notes, f"proportional-odds fit failed: {exc}"])
        return row
    est = float(fit.params[TREATED])
    se = float(fit.bse[TREATED])
    if converge_warning:
        notes.append("convergence warning")
    if not np.isfinite(se) or se > 50 or abs(est) > 15:
        row["note"] = "; ".join([*notes, "not estimable (separation)"])
        return row
    lo, hi, _p = wald_z(est, se, settings.ci_level)
    row.update(
        model="proportional odds (logit link, ML, Wald CI)",
        covariates=", ".join(c for c in x.columns if c != TREATED),
        effect_measure="odds ratio (higher category)",
        estimate=math.exp(est),
        ci_low=math.exp(lo),
        ci_high=math.exp(hi),
        estimate_model_scale=est,
        se_model_scale=se,
        p_value=float(fit.pvalues[TREATED]),
        note="; ".join(notes),
    )
    return row


# ---------------------------------------------------------------------------
# Heavily tied continuous endpoints


def tie_share(d: pd.DataFrame) -> float:
    """Share of follow-up values equal to another participant's value."""
    w = d["wk1"].dropna()
    if w.empty:
        return 0.0
    return float(w.duplicated(keep=False).mean())


def ties_sensitivity(
    d: pd.DataFrame,
    spec: ParamSpec,
    settings: ClinicalSettings,
    population: str,
    tied: float,
) -> dict[str, Any]:
    """Proportional-odds model for a continuous endpoint with many ties.

    analysis_spec §3.1 (respiratory rate): when at least
    ``clinical.ties_threshold`` of the follow-up values are tied, the
    distinct follow-up values are treated as ordered categories and the
    baseline value enters as a covariate.
    """
    row = proportional_odds(d, spec, settings, population)
    row["analysis"] = "sensitivity_proportional_odds"
    row["note"] = "; ".join(
        x for x in (f"{tied:.0%} of follow-up values tied", row.get("note", "")) if x
    )
    return row


# ---------------------------------------------------------------------------
# All endpoints


def _describe_change(d: pd.DataFrame) -> dict[str, float]:
    out = {}
    for name, sel in (("treatment", d[TREATED] == 1), ("control", d[TREATED] == 0)):
        chg = (d.loc[sel, "wk1"] - d.loc[sel, "bl"]).dropna().astype(float)
        out[f"mean_chg_{name}"] = float(chg.mean()) if len(chg) else np.nan
        out[f"sd_chg_{name}"] = float(chg.std(ddof=1)) if len(chg) > 1 else np.nan
    return out


def blinding(
    clin: pd.DataFrame, spec: ParamSpec, assessor_domains: Sequence[str]
) -> tuple[float, str]:
    """Share of readings with a blinded assessor and the detection-bias note."""
    codes = [k for k, _ in spec.weights] or [spec.code]
    c = clin[clin["param"].isin(codes)]
    if "assessor_blinded" not in c.columns or c.empty:
        return np.nan, ""
    b = (
        c["assessor_blinded"]
        .map(lambda v: np.nan if _missing(v) else float(bool(v)))
        .dropna()
    )
    if b.empty:
        return np.nan, ""
    frac = float(b.mean())
    note = ""
    if spec.domain in assessor_domains and frac < 1:
        note = (
            f"at risk: assessor not blinded in {1 - frac:.0%} of readings (open-label)"
        )
    return frac, note


def _endpoint_rows(
    dataset: pd.DataFrame, spec: ParamSpec, settings: ClinicalSettings
) -> pd.DataFrame:
    return dataset[
        (dataset["param"] == spec.code)
        & dataset["arm"].isin([settings.arm, settings.reference_arm])
    ]


def _implausible_sensitivity(
    d: pd.DataFrame,
    alt: pd.DataFrame,
    par: pd.DataFrame,
    spec: ParamSpec,
    settings: ClinicalSettings,
    population: str,
) -> dict[str, Any] | None:
    """ANCOVA on the dataset with the opposite handling of implausible values.

    Returns ``None`` when no baseline or follow-up value differs (no
    implausible value of this endpoint in this population).
    """
    both = d[["participant_id", "bl", "wk1"]].merge(
        alt[["participant_id", "bl", "wk1"]],
        on="participant_id",
        how="outer",
        suffixes=("", "_alt"),
    )
    changed = 0
    for c in ("bl", "wk1"):
        x, y = both[c].astype(float), both[f"{c}_alt"].astype(float)
        changed += int((~(np.isclose(x, y) | (x.isna() & y.isna()))).sum())
    if not changed:
        return None
    a = alt.copy()
    a[TREATED] = (a["arm"] == settings.arm).astype(float)
    a = a.join(par, on="participant_id")
    a = a.sort_values("participant_id").reset_index(drop=True)
    row = ancova(a, spec, settings, population)
    row["analysis"] = sensitivity_label(settings.soft_limit_action)
    what = "included" if settings.soft_limit_action == "exclude" else "excluded"
    row["note"] = "; ".join(
        x
        for x in (
            f"implausible values (outside the soft limits) {what}: "
            f"{changed} visit value(s) differ from the primary analysis",
            row.get("note", ""),
        )
        if x
    )
    row.update(_describe_change(a))
    return row


def analyse_endpoints(
    dataset: pd.DataFrame,
    participants: pd.DataFrame,
    settings: ClinicalSettings,
    clin: pd.DataFrame | None = None,
    assessor_domains: Sequence[str] = ("EDEMA", "IMG"),
    alternative: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Fit every endpoint in every population.

    Parameters
    ----------
    dataset
        From :func:`exomir.clinical.dataset.analysis_dataset`.
    participants
        participants.tsv (covariates and strata).
    settings
        Clinical settings.
    clin
        Clinical measurements (long) for the blinding columns, or ``None``.
    assessor_domains
        Domains whose grading depends on the assessor (detection bias).
    alternative
        The dataset with the opposite handling of implausible (soft-limit)
        values (``analysis_dataset(..., invert=True)``). Where it differs from
        ``dataset`` for a continuous endpoint and population, an ANCOVA row
        ``excluding_implausible`` (soft_limit_action flag) or
        ``including_implausible`` (exclude) is added.

    Returns
    -------
    pandas.DataFrame
        :data:`ENDPOINT_COLUMNS`, endpoints in config order, then population
        and analysis.
    """
    par = participants.drop_duplicates("participant_id").set_index("participant_id")
    par = par.drop(columns=[c for c in ("arm", "_line") if c in par.columns])
    rows: list[dict[str, Any]] = []
    pop_col = {"mITT": "in_mitt", "PP": "in_pp"}
    for spec in settings.endpoints:
        sub = _endpoint_rows(dataset, spec, settings)
        alt = (
            _endpoint_rows(alternative, spec, settings)
            if alternative is not None
            else None
        )
        frac, bias = (
            blinding(clin, spec, assessor_domains) if clin is not None else (np.nan, "")
        )
        for pop in settings.populations:
            d = sub[sub[pop_col[pop]].astype(bool)].copy()
            d[TREATED] = (d["arm"] == settings.arm).astype(float)
            d = d.join(par, on="participant_id")
            d = d.sort_values("participant_id").reset_index(drop=True)
            desc = _describe_change(d)
            if d.empty:
                new = [_blank(spec, "primary", pop, "no data in this population")]
            elif spec.model == "ancova":
                new = [ancova(d, spec, settings, pop)]
                if settings.mixedlm_sensitivity:
                    new.append(clda(d, spec, settings, pop))
                tied = tie_share(d)
                if (
                    settings.ties_threshold is not None
                    and tied >= settings.ties_threshold
                ):
                    new.append(ties_sensitivity(d, spec, settings, pop, tied))
                if alt is not None:
                    a = alt[alt[pop_col[pop]].astype(bool)].copy()
                    row = _implausible_sensitivity(d, a, par, spec, settings, pop)
                    if row is not None:
                        new.append(row)
            elif spec.model == "logistic":
                new = logistic(d, spec, settings, pop)
            else:
                new = [proportional_odds(d, spec, settings, pop)]
            for r in new:
                if spec.kind == "continuous":
                    r.update(desc)
                r["assessor_blinded_fraction"] = frac
                r["detection_bias"] = bias
            rows.extend(new)
    out = pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)
    for c in ("n_treatment", "n_control"):
        out[c] = out[c].astype("Int64")
    return out
