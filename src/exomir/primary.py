"""Primary biomarker analysis: ANCOVA of the primary miRNA, with sensitivity analyses.

The confirmatory test of the trial (analysis_spec.md §0 and §1.2) is an
ANCOVA of the follow-up log2 normalised level of the primary miRNA
(``trial.primary_mirna``, miR-126-3p by default) on arm and the baseline
level, adjusted for the stratification factors::

    y_followup ~ treated + y_baseline + strata          (OLS, HC3 SE, t-based CI)

``y`` is ``log2(normalised count + pseudocount)`` with the DE stage's
size factors (median-of-ratios over control miRNAs, which never include the
primary miRNA). The treated-arm coefficient is reported on the log2 scale and
as the treated/reference ratio ``2**estimate`` with its confidence interval.
The analysis is unadjusted for multiplicity (single pre-specified primary).

Sensitivity analyses, one row each in the output (same order always):

``clda_mixed``
    Constrained longitudinal data analysis: a linear mixed model over all
    usable libraries at both timepoints (participants with one visit only
    contribute under MAR), ``y ~ followup + followup:treated + strata`` with a
    random participant intercept and no arm main effect (baseline means are
    equal by randomisation). REML; Wald z CI.
``hemolysis_adjusted``
    The ANCOVA plus the haemolysis ratio ``log2((n_marker+1)/(n_ref+1))``
    (miR-451a / miR-23a-3p by default) at both timepoints.
``platelet_count_adjusted``
    The ANCOVA plus the platelet count (clinical parameter ``PLAT``, mean of
    replicates) at both timepoints; needs ``clinical_measurements``.
``platelet_mirna_adjusted``
    The ANCOVA plus a platelet-miRNA score (mean z-score of the log2 levels of
    miR-223-3p, miR-197-3p and miR-24-3p by default) at both timepoints.
``dose_adjusted``
    The ANCOVA plus the administered dose: ``log10(dose_particles)`` of
    participants.tsv, centred on the mean of the treated participants with
    both visits (the ANCOVA population) and 0 in the reference arm, so that
    the arm coefficient is the effect at the mean dose. Estimable only when the dose varies among treated participants.
``per_protocol``
    The ANCOVA in the per-protocol population (``in_pp`` of disposition.tsv).
``tipping_point``
    Delta-adjusted multiple imputation (analysis_spec.md §1.3) for
    participants with a baseline but no follow-up value: the missing values
    are imputed under MAR, ``primary.tipping_point.imputations`` times, from
    a Bayesian linear regression of the follow-up on the baseline level and
    strata fitted in each arm separately (proper imputation: residual
    variance and coefficients drawn from their posterior); the imputed values
    of the treated arm are then shifted by ``delta`` (log2) and every
    completed data set is analysed with the ANCOVA (same covariates and SE
    type), combined with Rubin's rules (Barnard-Rubin degrees of freedom).
    The row holds the MAR (``delta = 0``) estimate; its ``note`` gives the
    tipping point, the ``delta`` at which p crosses ``1 - ci_level``
    (towards the null when the MAR result is significant, away from it when
    not), found on a grid and refined by bisection with the same imputations
    (so p is a smooth function of ``delta``). The grid and the tipping point
    are written to ``tipping_point.tsv`` (:func:`tipping_point`). The spec
    asks for it when more than 10% of an arm lack the follow-up value; it is
    always computed, and the note says whether that trigger is met.

A row that cannot be estimated (input missing, too few participants) is still
written, with empty estimates and the reason in ``note``.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exomir.de.normalise import LAYER_NORMED
from exomir.errors import Issue, ValidationError
from exomir.stats import drop_collinear
from exomir.tables import write_table

log = logging.getLogger(__name__)

TREATED = "treated"
BASELINE = "y_baseline"
FOLLOWUP = "y_followup"

ANALYSES = (
    ("primary_ancova", "ANCOVA: follow-up on arm + baseline + strata (complete cases)"),
    ("clda_mixed", "cLDA mixed model over both visits, random participant intercept"),
    ("hemolysis_adjusted", "ANCOVA + haemolysis ratio at both timepoints"),
    ("platelet_count_adjusted", "ANCOVA + platelet count at both timepoints"),
    ("platelet_mirna_adjusted", "ANCOVA + platelet-miRNA score at both timepoints"),
    ("dose_adjusted", "ANCOVA + log10 administered dose (centred in the treated arm)"),
    ("per_protocol", "ANCOVA in the per-protocol population"),
    (
        "tipping_point",
        "MI of missing follow-up values under MAR (delta = 0), "
        "delta-adjusted in the treated arm; tipping point in note",
    ),
)

#: Columns of ``tipping_point.tsv`` (one row per delta, then the tipping point).
TIPPING_COLUMNS = [
    "row_type",
    "delta_log2",
    "imputations",
    "n",
    "n_treated",
    "n_reference",
    "n_imputed_treated",
    "n_imputed_reference",
    "estimate_log2",
    "se_log2",
    "ci_low_log2",
    "ci_high_log2",
    "ratio",
    "pvalue",
    "df",
    "significant",
    "note",
]

RESULT_COLUMNS = [
    "analysis",
    "description",
    "mirna",
    "treated_arm",
    "reference_arm",
    "timepoint",
    "reference_timepoint",
    "model",
    "covariates",
    "n",
    "n_treated",
    "n_reference",
    "estimate_log2",
    "se_log2",
    "ci_low_log2",
    "ci_high_log2",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "pvalue",
    "df",
    "note",
]


@dataclass(frozen=True)
class PrimarySettings:
    """Settings of the primary analysis (config ``primary``).

    Attributes
    ----------
    mirna
        Primary miRNA (``trial.primary_mirna``).
    arm, reference_arm
        Treated and reference arm (defaults: last and first of design.arms).
    timepoint, reference_timepoint
        Follow-up and baseline (defaults: last and first of design.timepoints).
    strata
        Participant columns adjusted for (``design.strata``).
    covariates
        Further participant columns adjusted for in every ANCOVA.
    pseudocount
        Added to normalised counts before log2.
    ci_level
        Confidence level.
    cov_type
        statsmodels covariance type of the ANCOVA (``HC3`` by default).
    hemolysis_marker, hemolysis_reference
        miRNAs of the haemolysis ratio.
    platelet_mirnas
        miRNAs of the platelet score.
    platelet_param
        Clinical parameter code of the platelet count.
    tipping_imputations, tipping_seed, tipping_max_delta, tipping_step
        Delta-adjusted MI: imputations, random seed, largest |delta| (log2)
        searched and the grid step of ``tipping_point.tsv``.
    """

    mirna: str
    arm: str
    reference_arm: str
    timepoint: str
    reference_timepoint: str
    strata: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    pseudocount: float = 1.0
    ci_level: float = 0.95
    cov_type: str = "HC3"
    hemolysis_marker: str = "hsa-miR-451a"
    hemolysis_reference: str = "hsa-miR-23a-3p"
    platelet_mirnas: tuple[str, ...] = (
        "hsa-miR-223-3p",
        "hsa-miR-197-3p",
        "hsa-miR-24-3p",
    )
    platelet_param: str = "PLAT"
    tipping_imputations: int = 50
    tipping_seed: int = 20261126
    tipping_max_delta: float = 3.0
    tipping_step: float = 0.25


def primary_settings(config: Mapping[str, Any]) -> PrimarySettings:
    """Build the primary-analysis settings from a validated configuration.

    Parameters
    ----------
    config
        Configuration; the ``primary`` section may be missing.

    Returns
    -------
    PrimarySettings
        The settings.

    Raises
    ------
    ValidationError
        If an arm or timepoint is not a level of the design, or the two arms
        (timepoints) are the same.
    """
    design = config["design"]
    arms, tps = list(design["arms"]), list(design["timepoints"])
    p = dict(config.get("primary") or {})
    species = str(config.get("reference", {}).get("species", "hsa"))
    tp_cfg = dict(p.get("tipping_point") or {})

    def named(value: str) -> str:
        return value if re.match(r"^[a-z]{3,4}-", value) else f"{species}-{value}"

    s = PrimarySettings(
        mirna=str(config["trial"]["primary_mirna"]),
        arm=str(p.get("arm") or arms[-1]),
        reference_arm=str(p.get("reference_arm") or arms[0]),
        timepoint=str(p.get("timepoint") or tps[-1]),
        reference_timepoint=str(p.get("reference_timepoint") or tps[0]),
        strata=tuple(design.get("strata") or ()),
        covariates=tuple(p.get("covariates") or ()),
        pseudocount=float(p.get("pseudocount", 1.0)),
        ci_level=float(p.get("ci_level", 0.95)),
        cov_type=str(p.get("cov_type", "HC3")),
        hemolysis_marker=named(str(p.get("hemolysis_marker", "miR-451a"))),
        hemolysis_reference=named(str(p.get("hemolysis_reference", "miR-23a-3p"))),
        platelet_mirnas=tuple(
            named(str(m))
            for m in p.get("platelet_mirnas", ["miR-223-3p", "miR-197-3p", "miR-24-3p"])
        ),
        platelet_param=str(p.get("platelet_param", "PLAT")),
        tipping_imputations=int(tp_cfg.get("imputations", 50)),
        tipping_seed=int(tp_cfg.get("seed", 20261126)),
        tipping_max_delta=float(tp_cfg.get("max_delta", 3.0)),
        tipping_step=float(tp_cfg.get("step", 0.25)),
    )
    issues = []
    for key, value, allowed in (
        ("arm", s.arm, arms),
        ("reference_arm", s.reference_arm, arms),
        ("timepoint", s.timepoint, tps),
        ("reference_timepoint", s.reference_timepoint, tps),
    ):
        if value not in allowed:
            issues.append(
                Issue(
                    "config/config.yaml",
                    f"{key} '{value}' is not a level of this trial; use one of: "
                    f"{', '.join(allowed)}",
                    column=f"primary.{key}",
                )
            )
    if s.arm == s.reference_arm:
        issues.append(
            Issue(
                "config/config.yaml",
                "arm and reference_arm are the same",
                column="primary",
            )
        )
    if s.timepoint == s.reference_timepoint:
        issues.append(
            Issue(
                "config/config.yaml",
                "the primary analysis needs two timepoints (design.timepoints or "
                "primary.timepoint / primary.reference_timepoint)",
                column="primary",
            )
        )
    if issues:
        raise ValidationError(issues)
    return s


def _find(names: Sequence[str], mirna: str) -> str | None:
    """Name of a miRNA in the matrix (exact, or a ``/``-joined group holding it)."""
    if mirna in names:
        return mirna
    for n in names:
        if mirna in n.split("/"):
            return n
    return None


def sample_values(adata: Any, settings: PrimarySettings) -> pd.DataFrame:
    """Per-library values used by the primary analysis.

    Parameters
    ----------
    adata
        AnnData from :func:`exomir.de.normalise.normalise` (usable libraries; layers
        ``normed_counts`` and ``log2_normed``).
    settings
        Primary settings.

    Returns
    -------
    pandas.DataFrame
        One row per library: ``sample_id``, ``participant_id``, ``arm``,
        ``timepoint``, ``y`` (log2 normalised primary miRNA),
        ``hemolysis_log2ratio`` and ``platelet_mirna_score`` (NaN when their
        miRNAs are absent).

    Raises
    ------
    ValidationError
        If the primary miRNA is not in the matrix.
    """
    names = list(map(str, adata.var_names))
    prim = _find(names, settings.mirna)
    if prim is None:
        raise ValidationError(
            [
                Issue(
                    "results/de/mirna.h5ad",
                    f"the primary miRNA '{settings.mirna}' (trial.primary_mirna) has "
                    "no reads in any usable library",
                )
            ]
        )
    normed = np.asarray(adata.layers[LAYER_NORMED], dtype=float)
    logv = np.log2(normed + settings.pseudocount)
    col = {n: i for i, n in enumerate(names)}
    out = pd.DataFrame(
        {
            "sample_id": adata.obs["sample_id"].astype(str).to_numpy(),
            "participant_id": adata.obs["participant_id"].astype(str).to_numpy(),
            "arm": adata.obs["arm"].astype(str).to_numpy(),
            "timepoint": adata.obs["timepoint"].astype(str).to_numpy(),
            "y": logv[:, col[prim]],
        }
    )
    hm = _find(names, settings.hemolysis_marker)
    hr = _find(names, settings.hemolysis_reference)
    if hm is not None and hr is not None:
        out["hemolysis_log2ratio"] = np.log2(
            (normed[:, col[hm]] + 1.0) / (normed[:, col[hr]] + 1.0)
        )
    else:
        out["hemolysis_log2ratio"] = np.nan
    plate = [p for p in (_find(names, m) for m in settings.platelet_mirnas) if p]
    if plate:
        z = logv[:, [col[p] for p in plate]]
        sd = z.std(axis=0, ddof=1)
        sd[~(sd > 0)] = 1.0
        out["platelet_mirna_score"] = ((z - z.mean(axis=0)) / sd).mean(axis=1)
    else:
        out["platelet_mirna_score"] = np.nan
    return out


def _clinical_values(
    clinical: pd.DataFrame | None, param: str, visits: Sequence[str]
) -> pd.DataFrame | None:
    if clinical is None or "param" not in clinical.columns:
        return None
    c = clinical[(clinical["param"] == param) & clinical["visit"].isin(visits)]
    c = c[c["value_num"].notna()]
    if c.empty:
        return None
    c = c.assign(value_num=c["value_num"].astype(float))
    return c.groupby(["participant_id", "visit"])["value_num"].mean().unstack("visit")


def participant_table(
    values: pd.DataFrame,
    participants: pd.DataFrame,
    settings: PrimarySettings,
    clinical: pd.DataFrame | None = None,
    disposition: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per participant of the two arms with the analysis variables.

    Parameters
    ----------
    values
        From :func:`sample_values`.
    participants
        Participants table (``participant_id``, ``arm``, strata, covariates).
    settings
        Primary settings.
    clinical
        Clinical measurements (long) or ``None``.
    disposition
        Disposition table (``participant_id``, ``in_pp``) or ``None``.

    Returns
    -------
    pandas.DataFrame
        Sorted by participant: ``participant_id``, ``arm``, ``treated``,
        strata and covariates, ``y_baseline``, ``y_followup`` and the
        baseline/follow-up haemolysis ratio, platelet-miRNA score, platelet
        count (``*_bl``, ``*_fu``), and ``in_pp``.
    """
    par = participants.drop(columns=["_line"], errors="ignore").copy()
    par["participant_id"] = par["participant_id"].astype(str)
    par = par[par["arm"].isin([settings.arm, settings.reference_arm])]
    keep = ["participant_id", "arm"] + [
        c for c in (*settings.strata, *settings.covariates) if c in par.columns
    ]
    out = par[keep].drop_duplicates("participant_id").set_index("participant_id")
    out[TREATED] = (out["arm"] == settings.arm).astype(float)
    tp_map = {settings.reference_timepoint: "bl", settings.timepoint: "fu"}
    v = values[values["timepoint"].isin(tp_map)]
    for var, stem in (
        ("y", "y"),
        ("hemolysis_log2ratio", "hemolysis"),
        ("platelet_mirna_score", "platelet_mirna"),
    ):
        wide = v.pivot(index="participant_id", columns="timepoint", values=var)
        for tp, suffix in tp_map.items():
            col = wide[tp] if tp in wide.columns else pd.Series(dtype=float)
            out[f"{stem}_{suffix}"] = col.reindex(out.index).astype(float)
    out = out.rename(columns={"y_bl": BASELINE, "y_fu": FOLLOWUP})
    plat = _clinical_values(
        clinical,
        settings.platelet_param,
        [settings.reference_timepoint, settings.timepoint],
    )
    for tp, suffix in tp_map.items():
        if plat is not None and tp in plat.columns:
            out[f"platelet_count_{suffix}"] = plat[tp].reindex(out.index).astype(float)
        else:
            out[f"platelet_count_{suffix}"] = np.nan
    if disposition is not None and "in_pp" in disposition.columns:
        d = disposition[disposition["participant_id"].notna()]
        pp = d.drop_duplicates("participant_id").set_index("participant_id")["in_pp"]
        out["in_pp"] = [
            isinstance(pp.get(pid), bool | np.bool_) and bool(pp.get(pid))
            for pid in out.index
        ]
    else:
        out["in_pp"] = np.nan
    out["dose_log10_centred"] = _dose_covariate(par, out)
    out = out.reset_index().sort_values("participant_id").reset_index(drop=True)
    return out


def _dose_covariate(par: pd.DataFrame, out: pd.DataFrame) -> pd.Series:
    """log10 dose centred on the treated complete cases' mean; 0 if reference arm."""
    col = pd.Series(np.nan, index=out.index, dtype=float)
    if "dose_particles" not in par.columns:
        return col
    dose = pd.to_numeric(
        par.drop_duplicates("participant_id").set_index("participant_id")[
            "dose_particles"
        ],
        errors="coerce",
    ).reindex(out.index)
    treated = out[TREATED] == 1
    complete = out[[BASELINE, FOLLOWUP]].notna().all(axis=1)
    log_dose = np.log10(dose.where(dose > 0))
    col[~treated] = 0.0
    col[treated] = log_dose[treated] - log_dose[treated & complete].mean()
    return col


def _estimate_fields(est: float, se: float, lo: float, hi: float) -> dict[str, float]:
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


def _blank_row(
    analysis: str, description: str, settings: PrimarySettings, note: str
) -> dict[str, Any]:
    row = {c: np.nan for c in RESULT_COLUMNS}
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


def _strata_columns(
    df: pd.DataFrame, strata: Sequence[str], notes: list[str]
) -> pd.DataFrame:
    """Treatment-coded dummies of the strata; levels with < 2 participants pooled."""
    cols = {}
    for s in strata:
        if s not in df.columns:
            notes.append(f"stratum column {s} not available")
            continue
        values = df[s].map(lambda v: "(missing)" if v is None or v != v else str(v))
        counts = values.value_counts()
        levels = sorted(counts.index)
        # Reference: the largest level (ties: first by name); levels with one
        # participant are pooled with it (their own dummy would give that
        # participant leverage 1).
        ref = max(levels, key=lambda lvl: (counts[lvl], -levels.index(lvl)))
        small = [lvl for lvl in levels if counts[lvl] < 2 and lvl != ref]
        if small:
            notes.append(
                f"{s} level(s) {', '.join(small)} with one participant pooled "
                f"with {ref}"
            )
        for lvl in levels:
            if lvl != ref and lvl not in small:
                cols[f"{s}[T.{lvl}]"] = (values == lvl).astype(float)
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
        From :func:`participant_table` (rows with missing values in the used
        columns are dropped and counted in ``note``).
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
    import statsmodels.api as sm

    notes: list[str] = []
    used = [FOLLOWUP, TREATED, BASELINE, *covariates, *settings.covariates]
    missing = [c for c in used if c not in data.columns]
    if missing:
        return _blank_row(
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
        return _blank_row(
            analysis,
            description,
            settings,
            "; ".join(
                [*notes, f"too few participants ({n_t} treated, {n_r} reference)"]
            ),
        )
    x = pd.DataFrame({"Intercept": 1.0}, index=d.index)
    x[TREATED] = d[TREATED]
    x[BASELINE] = d[BASELINE]
    for c in [*covariates, *settings.covariates]:
        x[c] = d[c].astype(float)
    x = pd.concat([x, _strata_columns(d, settings.strata, notes)], axis=1)
    try:
        x = drop_collinear(x, [TREATED], notes)
    except ValueError as exc:
        return _blank_row(analysis, description, settings, str(exc))
    df_resid = len(d) - x.shape[1]
    if df_resid < 1:
        return _blank_row(
            analysis, description, settings, "; ".join([*notes, "no residual df"])
        )
    y = d[FOLLOWUP].astype(float)
    xv = x.to_numpy(dtype=float)
    leverage = np.einsum("ij,jk,ik->i", xv, np.linalg.pinv(xv.T @ xv), xv)
    cov_type = settings.cov_type
    if cov_type in ("HC2", "HC3") and leverage.max() > 1 - 1e-8:
        # HC2/HC3 divide by 1 - leverage; undefined for a participant with
        # leverage 1 (a design column that only it has). HC1 instead.
        notes.append(f"{cov_type} undefined (a participant has leverage 1); HC1 used")
        cov_type = "HC1"
    fit = sm.OLS(y, x).fit(cov_type=cov_type, use_t=True)
    est = float(fit.params[TREATED])
    se = float(fit.bse[TREATED])
    lo, hi = (float(v) for v in fit.conf_int(alpha=1 - settings.ci_level).loc[TREATED])
    row = _blank_row(analysis, description, settings, "; ".join(notes))
    row.update(
        model=f"OLS, {fit.cov_type} SE, t({df_resid}) CI",
        covariates=", ".join(c for c in x.columns if c not in ("Intercept", TREATED)),
        n=len(d),
        n_treated=n_t,
        n_reference=n_r,
        **_estimate_fields(est, se, lo, hi),
        pvalue=float(fit.pvalues[TREATED]),
        df=float(df_resid),
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
        From :func:`sample_values` (all usable libraries).
    data
        From :func:`participant_table` (arms and strata per participant).
    settings
        Primary settings.
    analysis, description
        Labels of the output row.

    Returns
    -------
    dict
        One output row; the estimate is the ``followup:treated`` coefficient.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

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
    x = pd.concat([x, _strata_columns(strata, settings.strata, notes)], axis=1)
    n_part = v.groupby("participant_id").size()
    n_single = int((n_part == 1).sum())
    n_t = int(info.loc[n_part.index, TREATED].sum())
    n_r = len(n_part) - n_t
    if n_t < 2 or n_r < 2:
        return _blank_row(
            analysis, description, settings, f"too few participants ({n_t}, {n_r})"
        )
    try:
        x = drop_collinear(x, ["followup:treated"], notes)
    except ValueError as exc:
        return _blank_row(analysis, description, settings, str(exc))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = sm.MixedLM(
                v["y"].to_numpy(), x, groups=v["participant_id"].to_numpy()
            ).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return _blank_row(analysis, description, settings, f"fit failed: {exc}")
    for w in caught:
        # Known: ConvergenceWarning (boundary random-effect variance, Hessian
        # not positive definite). Anything else is re-issued unchanged.
        if issubclass(w.category, ConvergenceWarning):
            notes.append(f"statsmodels: {w.message}")
            log.info("cLDA: %s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    k = "followup:treated"
    est, se = float(fit.params[k]), float(fit.bse[k])
    z = stats.norm.ppf(0.5 + settings.ci_level / 2)
    lo, hi = est - z * se, est + z * se
    p = float(2 * stats.norm.sf(abs(est / se))) if se > 0 else np.nan
    if n_single:
        notes.append(f"{n_single} participant(s) with one visit included (MAR)")
    row = _blank_row(analysis, description, settings, "; ".join(notes))
    row.update(
        model="MixedLM (REML), random participant intercept, Wald z CI",
        covariates=", ".join(c for c in x.columns if c not in ("Intercept", k)),
        n=len(n_part),
        n_treated=n_t,
        n_reference=n_r,
        **_estimate_fields(est, se, lo, hi),
        pvalue=p,
        df=np.nan,
    )
    return row


def _coef_var(x: np.ndarray, y: np.ndarray, j: int, cov_type: str) -> tuple:
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
        :func:`ancova`).
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


def rubin(est: np.ndarray, var: np.ndarray, df_complete: float) -> tuple:
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


def _impute(
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


def tipping_point(
    data: pd.DataFrame, settings: PrimarySettings, description: str = ""
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Delta-adjusted multiple imputation of missing follow-up values.

    See ``tipping_point`` in the module docstring for the method.

    Parameters
    ----------
    data
        From :func:`participant_table`.
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
    alpha = 1 - settings.ci_level
    notes: list[str] = []
    covs = list(settings.covariates)
    missing_cols = [c for c in [BASELINE, FOLLOWUP, TREATED, *covs] if c not in data]
    if missing_cols:
        why = f"missing: {', '.join(missing_cols)}"
        return _blank_row(name, description, settings, why), empty
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
        return _blank_row(name, description, settings, "; ".join(notes)), empty
    x = pd.DataFrame({"Intercept": 1.0, TREATED: d[TREATED].astype(float)})
    x[BASELINE] = d[BASELINE].astype(float)
    for c in covs:
        x[c] = d[c].astype(float)
    x = pd.concat([x, _strata_columns(d, settings.strata, notes)], axis=1)
    try:
        x = drop_collinear(x, [TREATED], notes)
    except ValueError as exc:
        return _blank_row(name, description, settings, str(exc)), empty
    xv = x.to_numpy(dtype=float)
    k = xv.shape[1]
    df_complete = len(d) - k
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
            return _blank_row(name, description, settings, "; ".join(notes)), empty
        draws = _impute(
            zx.to_numpy(dtype=float),
            d.loc[arm_mask, FOLLOWUP].to_numpy(dtype=float),
            obs[arm_mask],
            m,
            rng,
        )
        y0[:, mis] = draws
    j = list(x.columns).index(TREATED)
    shift = (~obs & treated).astype(float)
    cov_used = settings.cov_type

    def analyse(delta: float) -> dict[str, Any]:
        nonlocal cov_used
        est, var, cov_used = _coef_var(xv, y0 + delta * shift, j, settings.cov_type)
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

    base = analyse(0.0)
    sig0 = base["significant"]
    # Towards the null when significant under MAR, away from it otherwise.
    sign = float(np.sign(base["estimate_log2"]) or 1.0) * (-1.0 if sig0 else 1.0)
    steps = int(np.floor(settings.tipping_max_delta / settings.tipping_step + 1e-9))
    grid = [analyse(sign * i * settings.tipping_step) for i in range(steps + 1)]
    tip: float | None = None
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
            tip = b
            break
    common = {
        "imputations": m,
        "n": len(d),
        "n_treated": int(treated.sum()),
        "n_reference": int((~treated).sum()),
        "n_imputed_treated": n_mis_t,
        "n_imputed_reference": n_mis_r,
    }
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
    table = pd.DataFrame(rows, columns=TIPPING_COLUMNS)
    notes.append(tip_note)
    row = _blank_row(name, description, settings, "; ".join(notes))
    row.update(
        model=(
            f"MI under MAR (m = {m}, per-arm Bayesian regression), OLS "
            f"{cov_used} SE, Rubin's rules, t({base['df']:.1f}) CI"
        ),
        covariates=", ".join(c for c in x.columns if c not in ("Intercept", TREATED)),
        n=len(d),
        n_treated=int(treated.sum()),
        n_reference=int((~treated).sum()),
        **_estimate_fields(
            base["estimate_log2"],
            base["se_log2"],
            base["ci_low_log2"],
            base["ci_high_log2"],
        ),
        pvalue=base["pvalue"],
        df=base["df"],
    )
    return row, table


def run_primary(
    adata: Any,
    participants: pd.DataFrame,
    config: Mapping[str, Any],
    clinical: pd.DataFrame | None = None,
    disposition: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Primary ANCOVA and the sensitivity analyses.

    Parameters
    ----------
    adata
        AnnData from :func:`exomir.de.normalise.normalise`.
    participants
        Participants table.
    config
        Validated configuration.
    clinical
        Clinical measurements or ``None`` (platelet-count row then empty).
    disposition
        Disposition or ``None`` (per-protocol row then empty).

    Returns
    -------
    tuple
        Results (one row per analysis, in the order of ``ANALYSES``) and the
        per-participant analysis table.
    """
    s = primary_settings(config)
    values = sample_values(adata, s)
    data = participant_table(values, participants, s, clinical, disposition)
    desc = dict(ANALYSES)
    rows = [ancova(data, s, (), "primary_ancova", desc["primary_ancova"])]
    rows.append(clda(values, data, s, "clda_mixed", desc["clda_mixed"]))
    for name, cols, need in (
        ("hemolysis_adjusted", ["hemolysis_bl", "hemolysis_fu"], "haemolysis miRNAs"),
        (
            "platelet_count_adjusted",
            ["platelet_count_bl", "platelet_count_fu"],
            f"clinical parameter {s.platelet_param}",
        ),
        (
            "platelet_mirna_adjusted",
            ["platelet_mirna_bl", "platelet_mirna_fu"],
            "platelet miRNAs",
        ),
    ):
        if data[cols].isna().all().all():
            rows.append(_blank_row(name, desc[name], s, f"not estimable: no {need}"))
        else:
            rows.append(ancova(data, s, cols, name, desc[name]))
    treated_dose = data.loc[data[TREATED] == 1, "dose_log10_centred"].dropna()
    if treated_dose.empty:
        why = "no dose_particles for treated participants"
    elif treated_dose.std(ddof=0) < 1e-12:
        why = "the dose does not vary among treated participants"
    else:
        why = ""
    if why:
        rows.append(
            _blank_row(
                "dose_adjusted", desc["dose_adjusted"], s, f"not estimable: {why}"
            )
        )
    else:
        rows.append(
            ancova(
                data, s, ["dose_log10_centred"], "dose_adjusted", desc["dose_adjusted"]
            )
        )
    if data["in_pp"].isna().all():
        rows.append(
            _blank_row(
                "per_protocol",
                desc["per_protocol"],
                s,
                "not estimable: no in_pp in disposition.tsv",
            )
        )
    else:
        pp = data[data["in_pp"] == True]  # noqa: E712 (object column)
        rows.append(ancova(pp, s, (), "per_protocol", desc["per_protocol"]))
    tip_row, _tip = tipping_point(data, s, desc["tipping_point"])
    rows.append(tip_row)
    res = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    for r in rows:
        log.info(
            "%s: ratio %.3f (%.3f to %.3f), p = %.4g, n = %s%s",
            r["analysis"],
            r["ratio"],
            r["ratio_ci_low"],
            r["ratio_ci_high"],
            r["pvalue"],
            r["n"],
            f" [{r['note']}]" if r["note"] else "",
        )
    return res, data


def primary_from_files(
    config: Mapping[str, Any],
    h5ad_path: str | os.PathLike[str],
    results_path: str | os.PathLike[str],
    data_path: str | os.PathLike[str],
    directory: str | os.PathLike[str] = ".",
    tipping_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Run :func:`run_primary` on a scenario and write its two tables.

    Parameters
    ----------
    config
        Configuration dict (e.g. ``snakemake.config``); validated here.
    h5ad_path
        ``results/de/mirna.h5ad``.
    results_path
        ``results/primary/mir126_ancova.tsv``.
    data_path
        Per-participant analysis table.
    directory
        Scenario directory.
    tipping_path
        ``results/primary/tipping_point.tsv`` (grid and tipping point of the
        delta-adjusted MI, :func:`tipping_point`), or ``None`` to skip it.

    Returns
    -------
    pandas.DataFrame
        The results table.
    """
    import anndata as ad

    from exomir.config import validate_config
    from exomir.validate import validate_config_and_tables

    cfg = validate_config(dict(config))
    scen = validate_config_and_tables(Path(directory), cfg, check_files=False)
    adata = ad.read_h5ad(h5ad_path)
    res, data = run_primary(
        adata,
        scen.tables["participants"],
        cfg,
        scen.tables.get("clinical_measurements"),
        scen.tables.get("disposition"),
    )
    write_table(res, results_path)
    write_table(data, data_path)
    if tipping_path is not None:
        _row, table = tipping_point(
            data, primary_settings(cfg), dict(ANALYSES)["tipping_point"]
        )
        write_table(table, tipping_path)
    return res
