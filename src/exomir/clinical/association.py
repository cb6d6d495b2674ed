"""Change in the primary miRNA against change in each endpoint (analysis_spec §3.2).

``delta_mirna`` is the follow-up minus baseline log2 level of
``trial.primary_mirna`` (VST layer of ``results/de/mirna.h5ad`` by default).
``delta_endpoint`` is the follow-up minus baseline value of each continuous
endpoint, on the ANCOVA scale (log for ``transform: log``). Per endpoint:

``ols_slope``
    ``delta_endpoint ~ delta_mirna + arm + endpoint_bl`` pooled (without the
    arm term within an arm), OLS with HC3 SE and a t CI; the slope is the
    change in the endpoint per doubling of the miRNA.
``spearman``
    Spearman's rho of the two changes with a percentile bootstrap CI over
    participant resamples (fixed seed) and the asymptotic p-value of
    :func:`scipy.stats.spearmanr`.

Benjamini-Hochberg adjustment across endpoints within each analysis and arm
(``p_bh``). Exploratory; not a mediation analysis.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exomir.clinical.settings import ClinicalSettings
from exomir.de.normalise import LAYER_VST
from exomir.errors import Issue, ValidationError

log = logging.getLogger(__name__)

ASSOCIATION_COLUMNS = [
    "param",
    "label",
    "analysis",
    "arm",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "p_bh",
    "n",
    "mirna",
    "effect_measure",
    "endpoint_scale",
    "ci_method",
    "note",
]


def mirna_changes(
    adata: Any, settings: ClinicalSettings, label: str = "results/de/mirna.h5ad"
) -> pd.DataFrame:
    """Baseline, follow-up and change of the primary miRNA per participant.

    Parameters
    ----------
    adata
        AnnData of the DE stage (obs ``participant_id``, ``timepoint``).
    settings
        Clinical settings (``primary_mirna``, ``association.layer``, visits).
    label
        File name for messages.

    Returns
    -------
    pandas.DataFrame
        Indexed by participant: ``mirna_bl``, ``mirna_wk1``, ``mirna_chg``.

    Raises
    ------
    ValidationError
        If the miRNA or the layer is missing.
    """
    names = [str(n) for n in adata.var_names]
    mirna = settings.primary_mirna
    hit = (
        mirna
        if mirna in names
        else next((n for n in names if mirna in n.split("/")), None)
    )
    if hit is None:
        raise ValidationError(
            [Issue(label, f"the primary miRNA '{mirna}' is not in the matrix")]
        )
    layer = str(settings.association.get("layer", LAYER_VST))
    if layer == "X":
        mat = adata.X
    elif layer in adata.layers:
        mat = adata.layers[layer]
    else:
        raise ValidationError(
            [
                Issue(
                    label,
                    f"layer '{layer}' (config clinical.association.layer) is missing; "
                    f"layers: {', '.join(adata.layers)}",
                )
            ]
        )
    j = names.index(hit)
    col = np.asarray(mat[:, j]).ravel().astype(float)
    v = pd.DataFrame(
        {
            "participant_id": adata.obs["participant_id"].astype(str).to_numpy(),
            "timepoint": adata.obs["timepoint"].astype(str).to_numpy(),
            "y": col,
        }
    )
    wide = v.pivot_table(index="participant_id", columns="timepoint", values="y")
    out = pd.DataFrame(index=wide.index)
    out["mirna_bl"] = wide.get(settings.baseline_visit, np.nan)
    out["mirna_wk1"] = wide.get(settings.followup_visit, np.nan)
    out["mirna_chg"] = out["mirna_wk1"] - out["mirna_bl"]
    return out.sort_index()


def bh_adjust(p: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values (missing values stay missing)."""
    out = pd.Series(np.nan, index=p.index, dtype=float)
    ok = p.notna()
    if ok.sum() == 0:
        return out
    v = p[ok].to_numpy(dtype=float)
    m = len(v)
    order = np.argsort(v)
    ranked = v[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def bootstrap_spearman(
    x: np.ndarray, y: np.ndarray, n_boot: int, rng: np.random.Generator, level: float
) -> tuple[float, float]:
    """Percentile bootstrap CI of Spearman's rho over resampled pairs."""
    n = len(x)
    idx = rng.integers(0, n, size=(n_boot, n))
    rx = stats.rankdata(x[idx], axis=1)
    ry = stats.rankdata(y[idx], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rx * ry).sum(axis=1) / den
    rho = rho[np.isfinite(rho)]
    a = (1 - level) / 2
    return float(np.quantile(rho, a)), float(np.quantile(rho, 1 - a))


def _ols_slope(d: pd.DataFrame, with_arm: bool, level: float) -> dict[str, Any]:
    import statsmodels.api as sm

    x = pd.DataFrame(
        {"Intercept": 1.0, "delta_mirna": d["mirna_chg"], "endpoint_bl": d["ep_bl"]}
    )
    if with_arm:
        x["treated"] = d["treated"]
    dfr = len(d) - x.shape[1]
    if dfr < 1 or np.linalg.matrix_rank(x.to_numpy(dtype=float)) < x.shape[1]:
        return {"note": "not estimable (too few participants or collinear)"}
    xv = x.to_numpy(dtype=float)
    lev = np.einsum("ij,jk,ik->i", xv, np.linalg.pinv(xv.T @ xv), xv)
    cov = "HC3" if lev.max() < 1 - 1e-8 else "HC1"
    fit = sm.OLS(d["ep_chg"].astype(float), x).fit(cov_type=cov, use_t=True)
    lo, hi = fit.conf_int(alpha=1 - level).loc["delta_mirna"]
    return {
        "estimate": float(fit.params["delta_mirna"]),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p_value": float(fit.pvalues["delta_mirna"]),
        "ci_method": f"OLS {cov} SE, t({dfr})",
        "note": "" if cov == "HC3" else "HC3 undefined (leverage 1); HC1 used",
    }


def associate(
    dataset: pd.DataFrame,
    mir: pd.DataFrame,
    settings: ClinicalSettings,
) -> pd.DataFrame:
    """Association of the miRNA change with each continuous endpoint's change.

    Parameters
    ----------
    dataset
        Analysis dataset (:func:`exomir.clinical.dataset.analysis_dataset`).
    mir
        From :func:`mirna_changes`.
    settings
        Clinical settings.

    Returns
    -------
    pandas.DataFrame
        :data:`ASSOCIATION_COLUMNS`; endpoints in config order, then analysis
        (ols_slope, spearman) and arm (pooled, then design order).
    """
    pop = str(settings.association.get("population", "mITT"))
    popcol = {"mITT": "in_mitt", "PP": "in_pp"}[pop]
    n_boot = int(settings.association.get("n_bootstrap", 2000))
    seed = int(settings.association.get("seed", 20261126))
    level = settings.ci_level
    arms = [settings.reference_arm, settings.arm]
    rows: list[dict[str, Any]] = []
    for k, spec in enumerate(p for p in settings.endpoints if p.kind == "continuous"):
        d = dataset[(dataset["param"] == spec.code) & dataset[popcol].astype(bool)]
        d = d[d["arm"].isin(arms)].set_index("participant_id")
        bl, wk = d["bl"].astype(float), d["wk1"].astype(float)
        scale = "difference"
        if spec.transform == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                bl, wk = np.log(bl.where(bl > 0)), np.log(wk.where(wk > 0))
            scale = "difference of natural logs"
        e = pd.DataFrame(
            {
                "arm": d["arm"],
                "treated": (d["arm"] == settings.arm).astype(float),
                "ep_bl": bl,
                "ep_chg": wk - bl,
            }
        ).join(mir[["mirna_chg"]], how="inner")
        e = e.dropna().sort_index()
        for arm in ["pooled", *arms]:
            sub = e if arm == "pooled" else e[e["arm"] == arm]
            base = {
                "param": spec.code,
                "label": spec.label,
                "arm": arm,
                "n": len(sub),
                "mirna": settings.primary_mirna,
                "endpoint_scale": scale,
            }
            ols = {
                **base,
                "analysis": "ols_slope",
                "effect_measure": "slope per doubling",
            }
            ols.update(
                _ols_slope(sub, arm == "pooled", level)
                if len(sub) > 4
                else {"note": "too few participants"}
            )
            rows.append(ols)
            sp = {**base, "analysis": "spearman", "effect_measure": "Spearman rho"}
            if (
                len(sub) > 4
                and sub["mirna_chg"].nunique() > 1
                and sub["ep_chg"].nunique() > 1
            ):
                x = sub["mirna_chg"].to_numpy()
                y = sub["ep_chg"].to_numpy()
                res = stats.spearmanr(x, y)
                rng = np.random.default_rng(
                    [seed, k, arms.index(arm) + 1 if arm in arms else 0]
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    lo, hi = bootstrap_spearman(x, y, n_boot, rng, level)
                sp.update(
                    estimate=float(res.statistic),
                    ci_low=lo,
                    ci_high=hi,
                    p_value=float(res.pvalue),
                    ci_method=f"percentile bootstrap, {n_boot} participant resamples",
                )
            else:
                sp["note"] = "too few participants or no variation"
            rows.append(sp)
    out = pd.DataFrame(rows, columns=ASSOCIATION_COLUMNS)
    for (_a, _r), idx in out.groupby(["analysis", "arm"]).groups.items():
        out.loc[idx, "p_bh"] = bh_adjust(out.loc[idx, "p_value"].astype(float))
    out["n"] = out["n"].astype(int)
    return out
