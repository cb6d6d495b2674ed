"""Multi-omics integration: miRNA x protein x clinical per participant (issue 21).

Exploratory (80 participants): nothing here is a confirmatory result.

MuData (``results/merged/trial.h5mu``), one observation per participant of
the compared arms, three modalities. Each holds CHANGE SCORES, primary visit
minus baseline, on the analysis scale, because the trial's question is what
the product changes and a participant's baseline level is dominated by
between-person variation that would otherwise fill the first factors; the
baseline and follow-up values are kept as layers ``baseline`` and
``followup`` so that nothing is lost:

``mirna``
    log2 normalised levels (``proteins.analysis.mirna_layer`` of
    results/de/mirna.h5ad; miRNAs passing the expression filter;
    replicate libraries of a visit averaged).
``protein``
    Every panel analyte and ratio on its analysis scale (natural log for
    concentrations, NPX as is); quantified values only (primary rule).
``clinical``
    Continuous clinical parameters of results/clinical/analysis_dataset.tsv
    (natural log for ``transform: log`` parameters).

obs: arm, ``treated``, ``in_mitt``, ``in_pp``; the modalities' obs are the
same participants (missing values are NaN).

Association (``mirna_protein_association.tsv``): for the primary miRNA and
each configured pathway score (results/pathways/scores.tsv), change against
each protein endpoint's change in the configured population:

``robust_slope``
    Huber M-estimator (statsmodels RLM, HuberT, MAD scale) of
    ``d_protein ~ d_feature + treated``; slope per log2 unit (miRNA) or score
    unit (pathway), Wald z CI.
``spearman_partial``
    Spearman correlation adjusted for arm: Pearson correlation of the
    rank residuals after regressing both ranks on arm; t-test with n - 3 df.

Benjamini-Hochberg across the protein endpoints within feature and analysis.

Factor model (MOFA+ via mofapy2, one group, Gaussian likelihoods, views
scaled to unit variance, fixed seed): factor values per participant
(``mofa_factors.tsv``, with each factor's arm effect: OLS with HC3 of the
factor on arm, BH across factors), loadings (``mofa_loadings.tsv``) and the
variance explained per view and factor (``mofa_variance.tsv``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exomir.atomic import atomic_open, atomic_path
from exomir.clinical.association import bh_adjust
from exomir.notcomputed import write_outputs
from exomir.proteins.exploratory import EXPLORATORY
from exomir.proteins.settings_analysis import MofaSettings, ProteinAnalysisSettings
from exomir.stats.models import ols_effect
from exomir.tables import write_table

log = logging.getLogger(__name__)

ASSOCIATION_COLUMNS = [
    "feature",
    "feature_type",
    "analyte",
    "label",
    "analysis",
    "population",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "p_bh",
    "n",
    "effect_measure",
    "note",
]
FACTOR_TEST_COLUMNS = [
    "factor",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "p_bh",
    "n_treatment",
    "n_control",
    "r2_mirna",
    "r2_protein",
    "r2_clinical",
]
# A factor explaining less than this share of the variance of every view is
# inactive (switched off by the ARD prior) and left out of the outputs.
ACTIVE_R2 = 0.01


# ---------------------------------------------------------------------------
# Per-participant change scores


def _change(
    long: pd.DataFrame, feature: str, value: str, baseline: str, visit: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Baseline, follow-up and change (participant x feature) of a long table."""
    wide = long.pivot_table(
        index="participant_id", columns=["visit", feature], values=value, aggfunc="mean"
    )
    feats = sorted(long[feature].unique(), key=list(long[feature].unique()).index)
    empty = pd.DataFrame(np.nan, index=wide.index, columns=feats)
    lv = set(wide.columns.get_level_values(0))
    bl = wide[baseline].reindex(columns=feats) if baseline in lv else empty
    fu = wide[visit].reindex(columns=feats) if visit in lv else empty
    return bl, fu, fu - bl


def mirna_long(
    adata: Any, layer: str, label: str = "results/de/mirna.h5ad"
) -> pd.DataFrame:
    """Long table ``participant_id, visit, mirna, value`` of one AnnData layer.

    Libraries flagged ``exclude`` are left out; miRNAs failing the expression
    filter (``var.filter_pass``) too. Replicate libraries are averaged later.
    """
    from exomir.errors import Issue, ValidationError

    if layer not in adata.layers:
        raise ValidationError(
            [
                Issue(
                    label,
                    f"layer '{layer}' (config proteins.analysis.mirna_layer) is "
                    f"missing; layers: {', '.join(adata.layers)}",
                )
            ]
        )
    keep_obs = np.ones(adata.n_obs, dtype=bool)
    if "exclude" in adata.obs:
        keep_obs = ~adata.obs["exclude"].astype(str).str.lower().isin(("true", "1"))
    keep_var = np.ones(adata.n_vars, dtype=bool)
    if "filter_pass" in adata.var:
        keep_var = adata.var["filter_pass"].astype(bool).to_numpy()
    mat = np.asarray(adata.layers[layer])[np.asarray(keep_obs)][:, keep_var]
    obs = adata.obs[np.asarray(keep_obs)]
    frame = pd.DataFrame(mat, columns=[str(v) for v in adata.var_names[keep_var]])
    frame["participant_id"] = obs["participant_id"].astype(str).to_numpy()
    frame["visit"] = obs["timepoint"].astype(str).to_numpy()
    return frame.melt(
        id_vars=["participant_id", "visit"], var_name="mirna", value_name="value"
    )


def clinical_long(dataset: pd.DataFrame, log_params: Sequence[str]) -> pd.DataFrame:
    """Continuous clinical parameters of the analysis dataset as a long table."""
    d = dataset.copy()
    num = {c: pd.to_numeric(d[c], errors="coerce") for c in ("bl", "wk1")}
    cont = d[d["bl_cat"].isna() & d["wk1_cat"].isna()] if "bl_cat" in d else d
    rows = []
    for col, visit in (("bl", "baseline"), ("wk1", "followup")):
        v = num[col][cont.index].astype(float)
        islog = cont["param"].isin(list(log_params))
        v = v.where(~islog, np.log(v.where(v > 0)))
        rows.append(
            pd.DataFrame(
                {
                    "participant_id": cont["participant_id"].astype(str),
                    "visit": visit,
                    "param": cont["param"],
                    "value": v,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def pathway_changes(
    scores: pd.DataFrame, settings: ProteinAnalysisSettings
) -> pd.DataFrame:
    """Participant x pathway change of the configured pathway scores."""
    s = scores[
        (scores["method"] == settings.pathway_method)
        & scores["pathway"].isin(list(settings.pathways))
    ].rename(columns={"timepoint": "visit"})
    _bl, _fu, chg = _change(
        s, "pathway", "score", settings.baseline_visit, settings.primary_visit
    )
    return chg


# ---------------------------------------------------------------------------
# MuData


@dataclass(frozen=True)
class Views:
    """Baseline, follow-up and change (participants x features) of each view."""

    baseline: dict[str, pd.DataFrame]
    followup: dict[str, pd.DataFrame]
    change: dict[str, pd.DataFrame]


def build_views(
    mirna: pd.DataFrame,
    protein: pd.DataFrame,
    clinical: pd.DataFrame | None,
    settings: ProteinAnalysisSettings,
) -> Views:
    """Change scores of the three views (see the module docstring).

    Parameters
    ----------
    mirna
        From :func:`mirna_long`.
    protein
        From :func:`exomir.proteins.analysis.protein_values`.
    clinical
        From :func:`clinical_long` (visits ``baseline``/``followup``) or None.
    settings
        Protein-analysis settings.
    """
    bl, fu, ch = {}, {}, {}
    bv, pv = settings.baseline_visit, settings.primary_visit
    bl["mirna"], fu["mirna"], ch["mirna"] = _change(mirna, "mirna", "value", bv, pv)
    bl["protein"], fu["protein"], ch["protein"] = _change(
        protein, "analyte", "value", bv, pv
    )
    if clinical is not None and not clinical.empty:
        bl["clinical"], fu["clinical"], ch["clinical"] = _change(
            clinical, "param", "value", "baseline", "followup"
        )
    return Views(bl, fu, ch)


def build_mudata(views: Views, obs: pd.DataFrame) -> Any:
    """MuData with one modality per view; obs = participants (sorted)."""
    import anndata as ad
    import mudata as md

    md.set_options(pull_on_update=False)
    pids = obs.index
    mods = {}
    for name, chg in views.change.items():
        x = chg.reindex(pids)
        a = ad.AnnData(
            X=x.to_numpy(dtype=float),
            obs=pd.DataFrame(index=pd.Index(pids, name="participant_id")),
            var=pd.DataFrame(
                index=pd.Index([str(c) for c in x.columns], name="feature")
            ),
        )
        a.layers["baseline"] = (
            views.baseline[name].reindex(pids)[x.columns].to_numpy(dtype=float)
        )
        a.layers["followup"] = (
            views.followup[name].reindex(pids)[x.columns].to_numpy(dtype=float)
        )
        mods[name] = a
    mdata = md.MuData(mods)
    o = obs.reindex(mdata.obs_names)
    for c in o.columns:
        mdata.obs[c] = o[c].astype(str).to_numpy() if o[c].dtype == object else o[c]
    mdata.uns["values"] = "change primary visit - baseline; layers baseline, followup"
    mdata.uns["exploratory"] = EXPLORATORY
    return mdata


def write_mudata(mdata: Any, path: str | os.PathLike[str]) -> None:
    """Write the MuData atomically."""
    with atomic_path(path) as tmp:
        mdata.write(str(tmp))


# ---------------------------------------------------------------------------
# Association


def _rlm(
    x: np.ndarray, y: np.ndarray, treated: np.ndarray, level: float
) -> dict[str, Any]:
    import statsmodels.api as sm

    design = np.column_stack([np.ones_like(x), x, treated])
    if np.linalg.matrix_rank(design) < 3 or len(x) < 6:
        return {"note": "not estimable (too few participants or no variation)"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.RLM(y, design, M=sm.robust.norms.HuberT()).fit()
    est, se = float(fit.params[1]), float(fit.bse[1])
    z = stats.norm.ppf(0.5 + level / 2)
    return {
        "estimate": est,
        "ci_low": est - z * se,
        "ci_high": est + z * se,
        "p_value": float(2 * stats.norm.sf(abs(est / se))) if se > 0 else np.nan,
    }


def _partial_spearman(
    x: np.ndarray, y: np.ndarray, treated: np.ndarray, level: float
) -> dict[str, Any]:
    n = len(x)
    if n < 6 or np.unique(x).size < 3 or np.unique(y).size < 3:
        return {"note": "not estimable (too few participants or no variation)"}
    design = np.column_stack([np.ones(n), treated])

    def resid(v: np.ndarray) -> np.ndarray:
        r = stats.rankdata(v)
        beta, *_ = np.linalg.lstsq(design, r, rcond=None)
        return r - design @ beta

    rho = float(np.corrcoef(resid(x), resid(y))[0, 1])
    df = n - 3
    t = rho * math.sqrt(df / max(1e-12, 1 - rho**2))
    zf = math.atanh(max(min(rho, 0.999999), -0.999999))
    half = stats.norm.ppf(0.5 + level / 2) / math.sqrt(max(n - 4, 1))
    return {
        "estimate": rho,
        "ci_low": math.tanh(zf - half),
        "ci_high": math.tanh(zf + half),
        "p_value": float(2 * stats.t.sf(abs(t), df)),
    }


def associate(
    features: pd.DataFrame,
    feature_types: Mapping[str, str],
    protein_change: pd.DataFrame,
    obs: pd.DataFrame,
    settings: ProteinAnalysisSettings,
) -> pd.DataFrame:
    """Change in each feature (miRNA, pathway score) against each protein's change.

    Parameters
    ----------
    features
        Participant x feature changes.
    feature_types
        Feature -> ``mirna`` or ``pathway``.
    protein_change
        Participant x protein endpoint changes (analysis scale).
    obs
        Participants with ``treated``, ``in_mitt``, ``in_pp``.
    settings
        Protein-analysis settings (population, CI level, panel order).

    Returns
    -------
    pandas.DataFrame
        :data:`ASSOCIATION_COLUMNS`; features in the given order, then
        analysis, then the panel order.
    """
    popcol = {"mITT": "in_mitt", "PP": "in_pp"}[settings.association_population]
    members = obs[obs[popcol].astype(bool)]
    rows = []
    for feat in features.columns:
        ftype = feature_types.get(str(feat), "mirna")
        unit = "log2 miRNA" if ftype == "mirna" else "pathway score"
        for analysis in ("robust_slope", "spearman_partial"):
            for spec in settings.panel:
                if spec.code not in protein_change.columns:
                    continue
                d = pd.DataFrame(
                    {
                        "x": features[feat],
                        "y": protein_change[spec.code],
                        "t": members["treated"],
                    }
                ).dropna()
                d = d[d.index.isin(members.index)]
                row = {
                    "feature": str(feat),
                    "feature_type": ftype,
                    "analyte": spec.code,
                    "label": spec.label,
                    "analysis": analysis,
                    "population": settings.association_population,
                    "n": len(d),
                    "note": "",
                }
                x, y, t = (d[c].to_numpy(dtype=float) for c in ("x", "y", "t"))
                if analysis == "robust_slope":
                    scale = "log protein" if spec.transform == "log" else "NPX"
                    row["effect_measure"] = f"Huber slope, change in {scale} per {unit}"
                    row.update(_rlm(x, y, t, settings.ci_level))
                else:
                    row["effect_measure"] = "Spearman rho adjusted for arm"
                    row.update(_partial_spearman(x, y, t, settings.ci_level))
                rows.append(row)
    out = pd.DataFrame(rows, columns=ASSOCIATION_COLUMNS)
    for _k, idx in out.groupby(["feature", "analysis"]).groups.items():
        out.loc[idx, "p_bh"] = bh_adjust(out.loc[idx, "p_value"].astype(float))
    return out


# ---------------------------------------------------------------------------
# MOFA+


@dataclass(frozen=True)
class MofaResult:
    """Fitted factor model: factor values, loadings and variance explained."""

    factors: pd.DataFrame  # participants x factors
    loadings: pd.DataFrame  # long: view, feature, factor, loading
    variance: pd.DataFrame  # long: view, factor, r2
    views: tuple[str, ...]


def _standardise(x: pd.DataFrame) -> pd.DataFrame:
    sd = x.std(ddof=1)
    x = x.loc[:, (sd > 0) & x.notna().sum().gt(2)]
    return (x - x.mean()) / x.std(ddof=1)


def fit_mofa(
    views: Mapping[str, pd.DataFrame], participants: pd.Index, mofa: MofaSettings
) -> MofaResult:
    """Fit MOFA+ (mofapy2) on the change scores of the given participants.

    Each feature is centred and scaled to unit variance, views to equal total
    variance (``scale_views``); missing values stay missing (MOFA's
    likelihood skips them). mofapy2 seeds numpy's global generator with
    ``mofa.seed``, so a fit is reproducible; its printout goes to the log.
    Factors below :data:`ACTIVE_R2` in every view (switched off by the ARD
    prior) are left out, so the result may have fewer than ``n_factors``.

    Raises
    ------
    ValueError
        If fewer than ``2 * n_factors`` participants or no view with
        ``min_features`` features is left.
    """
    from mofapy2.run.entry_point import entry_point

    data, names, feats = [], [], []
    for name, x in views.items():
        z = _standardise(x.reindex(participants))
        if z.shape[1] < mofa.min_features:
            log.info("MOFA: view %s left out (%d features)", name, z.shape[1])
            continue
        names.append(name)
        feats.append([str(c) for c in z.columns])
        data.append([z.to_numpy(dtype=float)])
    keep = np.zeros(len(participants), dtype=bool)
    for v in data:
        keep |= np.isfinite(v[0]).any(axis=1)
    if not names or keep.sum() < 2 * mofa.n_factors:
        raise ValueError(
            f"MOFA not fitted: {int(keep.sum())} participants with data and "
            f"{len(names)} view(s) with at least {mofa.min_features} features"
        )
    data = [[v[0][keep]] for v in data]
    samples = [str(p) for p in participants[keep]]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ent = entry_point()
        ent.set_data_options(scale_views=True)
        ent.set_data_matrix(
            data,
            likelihoods=["gaussian"] * len(names),
            views_names=names,
            groups_names=["participants"],
            samples_names=[samples],
            features_names=feats,
        )
        ent.set_model_options(
            factors=mofa.n_factors, spikeslab_weights=True, ard_weights=True
        )
        ent.set_train_options(
            iter=mofa.max_iter,
            convergence_mode=mofa.convergence_mode,
            seed=mofa.seed,
            dropR2=None,
            quiet=True,
            verbose=False,
        )
        ent.build()
        ent.run()
        r2 = ent.model.calculate_variance_explained()[0]
    log.info("mofapy2 output:\n%s", buf.getvalue()[-4000:])
    active = np.flatnonzero(r2.max(axis=0) >= ACTIVE_R2)
    z = ent.model.nodes["Z"].getExpectation()[:, active]
    w = [wm[:, active] for wm in ent.model.nodes["W"].getExpectation()]
    r2 = r2[:, active]
    k = z.shape[1]
    if k < r2.shape[1] or k < mofa.n_factors:
        log.info("MOFA: %d of %d factors active", k, mofa.n_factors)
    fnames = [f"Factor{i + 1}" for i in range(k)]
    factors = pd.DataFrame(
        z, index=pd.Index(samples, name="participant_id"), columns=fnames
    )
    load = []
    for m, name in enumerate(names):
        lw = pd.DataFrame(w[m], index=feats[m], columns=fnames)
        lw = lw.reset_index(names="feature").melt(
            id_vars="feature", var_name="factor", value_name="loading"
        )
        lw.insert(0, "view", name)
        load.append(lw)
    var = pd.DataFrame(
        [
            (name, fnames[j], float(r2[m, j]))
            for m, name in enumerate(names)
            for j in range(k)
        ],
        columns=["view", "factor", "r2"],
    )
    loadings = (
        pd.concat(load, ignore_index=True)
        if k
        else pd.DataFrame(columns=["view", "feature", "factor", "loading"])
    )
    return MofaResult(factors, loadings, var, tuple(names))


def factor_arm_tests(
    res: MofaResult, obs: pd.DataFrame, settings: ProteinAnalysisSettings
) -> pd.DataFrame:
    """Arm effect on each factor: OLS with HC3 (t CI), BH across factors."""
    rows = []
    for f in res.factors.columns:
        d = pd.DataFrame({"y": res.factors[f]}).join(obs[["treated"]]).dropna()
        x = pd.DataFrame({"Intercept": 1.0, "treated": d["treated"]}, index=d.index)
        row: dict[str, Any] = {
            "factor": f,
            "n_treatment": int((d["treated"] == 1).sum()),
            "n_control": int((d["treated"] == 0).sum()),
        }
        try:
            e = ols_effect(
                d["y"], x, "treated", settings.cov_type, settings.ci_level, []
            )
            row.update(
                estimate=e.estimate,
                ci_low=e.ci_low,
                ci_high=e.ci_high,
                p_value=e.pvalue,
            )
        except ValueError:
            row.update(estimate=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan)
        for v in ("mirna", "protein", "clinical"):
            r2 = res.variance[
                (res.variance["view"] == v) & (res.variance["factor"] == f)
            ]
            row[f"r2_{v}"] = float(r2["r2"].iloc[0]) if len(r2) else np.nan
        rows.append(row)
    out = pd.DataFrame(rows, columns=FACTOR_TEST_COLUMNS)
    out["p_bh"] = bh_adjust(out["p_value"].astype(float))
    return out


def loadings_plot(res: MofaResult, path: str | os.PathLike[str], top: int = 8) -> None:
    """Top absolute loadings of the first four factors, one panel per factor."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    factors = list(res.factors.columns)[:4]
    fig = Figure(figsize=(3.2 * max(1, len(factors)), 4.2))
    FigureCanvasAgg(fig)
    if not factors:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no active factor", ha="center", va="center")
        ax.set_axis_off()
    colours = {"mirna": "#1f4e9c", "protein": "#b2182b", "clinical": "#4d9221"}
    for i, f in enumerate(factors):
        ax = fig.add_subplot(1, max(1, len(factors)), i + 1)
        lw = res.loadings[res.loadings["factor"] == f].copy()
        lw["abs"] = lw["loading"].abs()
        lw = lw.sort_values(["abs", "feature"], ascending=[False, True]).head(top)[::-1]
        ax.barh(
            range(len(lw)),
            lw["loading"],
            color=[colours.get(v, "#7f7f7f") for v in lw["view"]],
        )
        ax.set_yticks(range(len(lw)))
        ax.set_yticklabels([str(s)[:22] for s in lw["feature"]], fontsize=6)
        ax.axvline(0, color="#7f7f7f", lw=0.6)
        ax.set_title(f, fontsize=9)
    fig.suptitle("MOFA+ loadings (blue miRNA, red protein, green clinical)", fontsize=9)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=130, metadata={"Software": "exomir"})


# ---------------------------------------------------------------------------
# Rule


def _obs(populations: pd.DataFrame, settings: ProteinAnalysisSettings) -> pd.DataFrame:
    p = populations.copy()
    p["participant_id"] = p["participant_id"].astype(str)
    for c in ("in_mitt", "in_pp"):
        p[c] = p[c].astype(str).str.lower().isin(("true", "1"))
    p = p[p["arm"].isin([settings.reference_arm, settings.arm])]
    p = p.set_index("participant_id")[["arm", "in_mitt", "in_pp"]].sort_index()
    p["treated"] = (p["arm"] == settings.arm).astype(float)
    return p


def view_summary(views: Views, obs: pd.DataFrame) -> pd.DataFrame:
    """Participants with a change and features of each view (pooled, no arm)."""
    rows = []
    for name, chg in views.change.items():
        x = chg.reindex(obs.index)
        rows.append(
            {
                "view": name,
                "n_participants": int(x.notna().any(axis=1).sum()),
                "n_features": int(x.shape[1]),
                "values": "change, primary visit - baseline",
            }
        )
    return pd.DataFrame(
        rows, columns=["view", "n_participants", "n_features", "values"]
    )


def primary_mirna_change(mirna_change: pd.DataFrame, name: str) -> pd.DataFrame:
    """Return the primary miRNA's change column (exact or within a merged name)."""
    cols = [str(c) for c in mirna_change.columns]
    hit = (
        name if name in cols else next((c for c in cols if name in c.split("/")), None)
    )
    if hit is None:
        return pd.DataFrame(index=mirna_change.index)
    return mirna_change[[hit]]


def integrate_from_files(
    *,
    concentrations: str | os.PathLike[str],
    populations: str | os.PathLike[str],
    mirna: str | os.PathLike[str],
    dataset: str | os.PathLike[str] | None,
    pathway_scores: str | os.PathLike[str] | None,
    h5mu: str | os.PathLike[str],
    association: str | os.PathLike[str],
    factors: str | os.PathLike[str],
    factor_values: str | os.PathLike[str],
    loadings: str | os.PathLike[str],
    variance: str | os.PathLike[str],
    loadings_png: str | os.PathLike[str],
    summary: str | os.PathLike[str],
    settings: ProteinAnalysisSettings,
) -> None:
    """Rule ``integrate``: MuData, association, MOFA+ factors and their tests."""
    import anndata as ad

    from exomir.proteins.analysis import protein_values, read_concentrations

    conc = read_concentrations(
        concentrations,
        settings.analytes,
        str(concentrations),
        [p.code for p in settings.panel if p.transform == "log"],
    )
    pvals = protein_values(conc, settings)
    obs = _obs(
        pd.read_csv(populations, sep="\t", dtype={"participant_id": str}), settings
    )
    adata = ad.read_h5ad(mirna)
    ml = mirna_long(adata, settings.mirna_layer, str(mirna))
    clin = None
    if dataset is not None:
        ds = pd.read_csv(
            dataset,
            sep="\t",
            dtype={"participant_id": str, "bl_cat": str, "wk1_cat": str},
        )
        clin = clinical_long(ds, settings.clinical_log)
    views = build_views(ml, pvals, clin, settings)
    write_mudata(build_mudata(views, obs), h5mu)
    write_table(view_summary(views, obs), summary)
    feats = primary_mirna_change(views.change["mirna"], settings.primary_mirna)
    types = {c: "mirna" for c in feats.columns}
    if pathway_scores is not None:
        pw = pathway_changes(
            pd.read_csv(pathway_scores, sep="\t", dtype={"participant_id": str}),
            settings,
        )
        feats = feats.join(pw, how="outer")
        types.update({c: "pathway" for c in pw.columns})
    write_table(
        associate(feats, types, views.change["protein"], obs, settings), association
    )
    popcol = {"mITT": "in_mitt", "PP": "in_pp"}[settings.association_population]
    members = obs.index[obs[popcol]]
    mofa_out = (factors, factor_values, loadings, variance, loadings_png)
    try:
        res = fit_mofa(views.change, members, settings.mofa)
    except ValueError as exc:  # too few participants or features: say so
        log.warning("%s", exc)
        write_outputs(mofa_out, str(exc))
        return
    write_table(factor_arm_tests(res, obs, settings), factors)
    write_table(res.factors.join(obs[["arm"]]).reset_index(), factor_values)
    write_table(res.loadings, loadings)
    write_table(res.variance, variance)
    loadings_plot(res, loadings_png)
