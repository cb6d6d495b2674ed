"""The one normalisation (median-of-ratios over control miRNAs, blind VST) and its layers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from exomir.de.filter import ControlSet
from exomir.de.samples import as_bool, is_blank
from exomir.de.settings import DESettings
from exomir.errors import Issue, ValidationError

if TYPE_CHECKING:
    from exomir.de.stage import Prepared

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- #
# Normalisation, VST and PCA
# --------------------------------------------------------------------------- #


def pca(
    values: np.ndarray, n_comps: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of a samples x features matrix (centred, not scaled), by SVD.

    Signs are fixed so that the largest absolute loading of each component is
    positive, which makes the result reproducible. Features with non-finite
    values (e.g. a VST that could not be fitted because all libraries are
    identical) are left out with zero loadings; if no feature varies, the
    scores and variance ratios are zero.

    Parameters
    ----------
    values
        Samples x features.
    n_comps
        Maximum number of components.

    Returns
    -------
    tuple
        Scores (samples x k), loadings (features x k) and variance ratios (k).
    """
    finite = np.isfinite(values).all(axis=0)
    centred = np.where(finite, values, 0.0) - np.where(finite, values, 0.0).mean(axis=0)
    k = max(1, min(n_comps, *centred.shape))
    if not np.any(centred):
        n, m = centred.shape
        return np.zeros((n, k)), np.zeros((m, k)), np.zeros(k)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    u, s, vt = u[:, :k], s[:k], vt[:k]
    sign = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    sign[sign == 0] = 1.0
    u, vt = u * sign, vt * sign[:, None]
    total = (centred**2).sum()
    ratio = s**2 / total if total > 0 else np.zeros(k)
    return u * s, vt.T, ratio


@dataclass
class Normalised:
    """Median-of-ratios normalisation and VST of the usable libraries.

    Attributes
    ----------
    samples
        Usable libraries (rows), in the order of ``meta``.
    mirnas
        miRNAs with at least one read in the usable libraries (columns).
    counts
        Raw counts (samples x mirnas, int64).
    normed
        ``counts / size_factors`` (pydeseq2 ``normed_counts``).
    vst
        pydeseq2 ``vst(use_design=False)`` (blind) values.
    size_factors
        One per usable library (median-of-ratios over the control miRNAs).
    notes
        pydeseq2 warnings met on the way.
    """

    samples: list[str]
    mirnas: list[str]
    counts: np.ndarray
    normed: np.ndarray
    vst: np.ndarray
    size_factors: np.ndarray
    notes: list[str] = field(default_factory=list)


def normalise_usable(
    counts: pd.DataFrame, meta: pd.DataFrame, control: ControlSet
) -> Normalised:
    """Size factors, normalised counts and VST of the usable libraries.

    Size factors are median-of-ratios over the control miRNAs (rule 3 of
    docs/de.md) with the resolved fit type; the VST is pydeseq2's blind
    ``vst(use_design=False)`` over the miRNAs with at least one read in the
    usable libraries.

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`.
    control
        From :func:`control_mirnas`.

    Returns
    -------
    Normalised
        Arrays over usable libraries x miRNAs with reads.

    Raises
    ------
    ValidationError
        If fewer than 2 libraries are usable.
    """
    from pydeseq2.dds import DeseqDataSet

    used = [str(s) for s in meta.index[meta["usable"]]]
    if len(used) < 2:
        raise ValidationError(
            [Issue("mirna_counts.tsv", "at least 2 usable libraries are needed")]
        )
    sub = counts[used]
    genes = [str(g) for g in sub.index[sub.sum(axis=1) > 0]]
    x = sub.loc[genes].T
    notes: list[str] = []
    # imported here: exomir.de.fit loads scipy.stats (about 1 s), which the jobs
    # that only need this module's layer names do not use
    from exomir.de.fit import pydeseq2_warnings

    with threadpool_limits(1), pydeseq2_warnings(notes):
        dds = DeseqDataSet(
            counts=x,
            metadata=pd.DataFrame(
                {"participant_id": meta.loc[used, "participant_id"].astype(str)},
                index=x.index,
            ),
            design=pd.DataFrame({"Intercept": np.ones(len(used))}, index=x.index),
            size_factors_fit_type=control.fit_type,
            control_genes=[m for m in control.mirnas if m in x.columns],
            quiet=True,
            n_cpus=1,
        )
        dds.vst(use_design=False)
    return Normalised(
        samples=used,
        mirnas=genes,
        counts=x.to_numpy(dtype=np.int64),
        normed=np.asarray(dds.layers["normed_counts"], dtype=float),
        vst=np.asarray(dds.layers["vst_counts"], dtype=float),
        size_factors=np.asarray(dds.obs["size_factors"], dtype=float),
        notes=notes,
    )


#: Layer names, the one set used by ``results/counts/mirna.h5ad`` and
#: ``results/de/mirna.h5ad`` and by every reader of them.
LAYER_COUNTS = "counts"
LAYER_NORMED = "normed_counts"
LAYER_LOG2 = "log2_normed"
LAYER_VST = "vst_counts"
#: Layers of ``results/counts/mirna.h5ad`` (every library; :func:`counts_anndata`).
COUNTS_LAYERS = (LAYER_COUNTS, LAYER_NORMED, LAYER_VST)
#: Layers of ``results/de/mirna.h5ad`` (usable libraries; :func:`normalise`).
DE_LAYERS = (LAYER_NORMED, LAYER_LOG2, LAYER_VST)


def counts_anndata(raw: Any, prep: Prepared) -> Any:
    """Add normalised-count layers to the cohort count AnnData.

    The object keeps every library and miRNA of ``raw`` (the merge output);
    the normalisation is that of the DE stage (:func:`normalise_usable` with
    the control set of :func:`control_mirnas`), computed on the usable
    (QC-passed, not excluded, with miRNA reads) libraries only, so adding or
    failing a library never changes the values of the others silently.

    Parameters
    ----------
    raw
        ``anndata.AnnData`` from :func:`exomir.reads.merge.build_mirna_anndata`
        (samples x miRNAs, ``X`` raw counts).
    prep
        From :func:`prepare` on the same counts.

    Returns
    -------
    anndata.AnnData
        Copy of ``raw`` with the :data:`COUNTS_LAYERS`: ``counts`` (raw, as
        ``X``), ``normed_counts`` (``counts / size_factor``) and ``vst_counts``
        (blind VST); both are NaN for libraries that are not usable (they took
        no part in the size factors, so no number is made up for them), and
        ``vst_counts`` is also NaN for miRNAs without a read in any usable
        library (``normed_counts`` is 0 there). ``obs`` gains
        ``usable``, ``exclusion_reason`` and ``size_factor`` (NaN when not
        usable); ``var`` gains ``filter_pass`` and ``control``;
        ``uns["normalisation"]`` records the method, fit type, control miRNAs
        and notes.

    Raises
    ------
    ValidationError
        If ``raw`` and ``prep`` do not hold the same libraries and counts.
    """
    out = raw.copy()
    samples = [str(s) for s in out.obs_names]
    mirnas = [str(m) for m in out.var_names]
    label = "results/counts/mirna.h5ad"
    missing = sorted(set(prep.counts.columns) - set(samples))
    if missing or set(prep.counts.index) != set(mirnas):
        raise ValidationError(
            [
                Issue(
                    label,
                    "the AnnData and the count table differ in libraries or miRNAs"
                    + (
                        f" (libraries missing: {', '.join(missing)})" if missing else ""
                    ),
                )
            ]
        )
    x = np.asarray(out.X.toarray() if hasattr(out.X, "toarray") else out.X)
    ref = prep.counts.loc[mirnas, samples].to_numpy().T
    if not np.array_equal(x.astype(np.int64), ref.astype(np.int64)):
        raise ValidationError(
            [Issue(label, "the AnnData counts differ from the count table")]
        )
    norm = normalise_usable(prep.counts, prep.meta, prep.control)
    rows = [samples.index(s) for s in norm.samples]
    cols = [mirnas.index(m) for m in norm.mirnas]
    normed = np.full(x.shape, np.nan)
    vst = np.full(x.shape, np.nan)
    normed[rows, :] = 0.0
    normed[np.ix_(rows, cols)] = norm.normed
    vst[np.ix_(rows, cols)] = norm.vst
    out.layers[LAYER_COUNTS] = x.copy()
    out.layers[LAYER_NORMED] = normed
    out.layers[LAYER_VST] = vst
    usable = prep.meta["usable"].reindex(samples)
    reason = prep.meta["reason"].reindex(samples)
    out.obs["usable"] = as_bool(usable).to_numpy()
    out.obs["exclusion_reason"] = [
        "" if is_blank(r) else str(r) for r in reason.tolist()
    ]
    sf = np.full(len(samples), np.nan)
    sf[rows] = norm.size_factors
    out.obs["size_factor"] = sf
    out.var["filter_pass"] = as_bool(prep.filt["kept"].reindex(mirnas)).to_numpy()
    out.var["control"] = np.isin(mirnas, prep.control.mirnas)
    out.uns["normalisation"] = {
        "method": (
            "median-of-ratios (pydeseq2) over the control miRNAs, usable "
            "libraries only; vst: pydeseq2 vst(use_design=False)"
        ),
        "size_factors_fit_type": prep.control.fit_type,
        "control_mirnas": list(prep.control.mirnas),
        "not_usable": f"{LAYER_NORMED} and {LAYER_VST} are NaN for libraries with usable=false",
        "notes": list(norm.notes),
    }
    n_bad = len(samples) - len(rows)
    if n_bad:
        log.warning(
            "normalised counts: %d of %d libraries are not usable (NaN layers)",
            n_bad,
            len(samples),
        )
    return out


def _from_counts_anndata(
    layers: Any, meta: pd.DataFrame, control: ControlSet
) -> Normalised:
    """Take the usable libraries' :class:`Normalised` from the counts AnnData."""
    label = "results/counts/mirna.h5ad"
    used = [str(s) for s in meta.index[meta["usable"]]]
    have = layers.obs_names[as_bool(layers.obs["usable"]).to_numpy()]
    issues = []
    if sorted(map(str, have)) != sorted(used):
        issues.append(
            Issue(
                label,
                "its usable libraries differ from those of the DE inputs; "
                "re-run the counts normalisation",
            )
        )
    if list(layers.uns["normalisation"]["control_mirnas"]) != list(control.mirnas):
        issues.append(
            Issue(label, "its control miRNAs differ from those of the DE settings")
        )
    if issues:
        raise ValidationError(issues)
    sub = layers[used]
    counts = np.asarray(sub.layers[LAYER_COUNTS])
    keep = counts.sum(axis=0) > 0
    return Normalised(
        samples=used,
        mirnas=[str(m) for m in sub.var_names[keep]],
        counts=counts[:, keep].astype(np.int64),
        normed=np.asarray(sub.layers[LAYER_NORMED])[:, keep],
        vst=np.asarray(sub.layers[LAYER_VST])[:, keep],
        size_factors=sub.obs["size_factor"].to_numpy(dtype=float),
        notes=list(layers.uns["normalisation"].get("notes", [])),
    )


def normalise(
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    filt: pd.DataFrame,
    control: ControlSet,
    settings: DESettings,
    pseudocount: float = 1.0,
    counts_layers: Any = None,
) -> Any:
    """Normalised counts, log2 values, VST and PCA of all usable libraries.

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`.
    filt
        From :func:`filter_mirnas`.
    control
        From :func:`control_mirnas`.
    settings
        DE settings (``pca_ntop``).
    pseudocount
        Added before log2 in the ``log2_normed`` layer.
    counts_layers
        The counts AnnData with normalised layers (:func:`counts_anndata`,
        ``results/counts/mirna.h5ad``): its ``normed_counts``, ``vst_counts`` and
        ``size_factor`` are used instead of being computed again (they must
        be for the same usable libraries and control miRNAs). ``None``
        computes them (:func:`normalise_usable`).

    Returns
    -------
    anndata.AnnData
        Usable libraries x miRNAs with at least one read. ``X`` holds raw
        counts; layers ``normed_counts`` (median-of-ratios over the control
        miRNAs), ``log2_normed`` (log2(normed + pseudocount)) and
        ``vst_counts`` (pydeseq2 ``vst(use_design=False)``, i.e. blind);
        ``obs`` the sample and participant columns and ``size_factor``;
        ``var`` ``filter_pass`` and ``control``; PCA of the VST values of the
        ``pca_ntop`` most variable filtered miRNAs in ``obsm["X_pca"]``,
        ``varm["PCs"]`` and ``uns["pca"]["variance_ratio"]`` (scanpy layout).
    """
    import anndata as ad

    if counts_layers is None:
        norm = normalise_usable(counts, meta, control)
    else:
        norm = _from_counts_anndata(counts_layers, meta, control)
    used, genes = norm.samples, norm.mirnas
    obs = meta.loc[used].drop(columns=["usable", "reason"]).copy()
    for c in obs.columns:
        if obs[c].dtype == object:
            obs[c] = obs[c].map(lambda v: "" if is_blank(v) else str(v))
    normed, vst = norm.normed, norm.vst
    obs["size_factor"] = norm.size_factors
    var = pd.DataFrame(index=pd.Index(genes, name="mirna"))
    var["filter_pass"] = as_bool(filt.reindex(genes)["kept"]).to_numpy()
    var["control"] = var.index.isin(control.mirnas)
    adata = ad.AnnData(
        X=norm.counts,
        obs=obs,
        var=var,
        layers={
            LAYER_NORMED: normed,
            LAYER_LOG2: np.log2(normed + pseudocount),
            LAYER_VST: vst,
        },
    )
    fp = np.flatnonzero(var["filter_pass"].to_numpy())
    if len(fp) >= 2 and len(used) >= 3:
        v = vst[:, fp]
        top = fp[np.argsort(-v.var(axis=0), kind="mergesort")[: settings.pca_ntop]]
        top = np.sort(top)
        scores, loadings, ratio = pca(vst[:, top])
        pcs = np.zeros((len(genes), scores.shape[1]))
        pcs[top] = loadings
        adata.obsm["X_pca"] = scores
        adata.varm["PCs"] = pcs
        adata.uns["pca"] = {
            "variance_ratio": ratio,
            "params": {"layer": LAYER_VST, "n_top": len(top)},
        }
    adata.uns["de_normalisation"] = {
        "size_factors_fit_type": control.fit_type,
        "control_mirnas": list(control.mirnas),
        "pseudocount": float(pseudocount),
        "notes": norm.notes,
    }
    return adata


def counts_matrix(adata: Any) -> pd.DataFrame:
    """Return the raw counts of an AnnData as a miRNA x sample ``int64`` table.

    Parameters
    ----------
    adata
        ``anndata.AnnData`` with raw counts in ``X``.

    Returns
    -------
    pandas.DataFrame
        Index ``mirna``, one column per library.
    """
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X
    out = pd.DataFrame(
        np.asarray(x, dtype=np.int64).T,
        index=pd.Index([str(m) for m in adata.var_names], name="mirna"),
        columns=[str(s) for s in adata.obs_names],
    )
    return out
