"""One pydeseq2 fit per contrast: Wald test, filtering, shrinkage, sorted table."""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from exomir.de.design import design_matrix
from exomir.de.filter import ControlSet
from exomir.de.samples import as_bool, select_samples
from exomir.de.settings import Contrast, DESettings

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- #
# pydeseq2
# --------------------------------------------------------------------------- #

#: Warnings pydeseq2 raises in normal use on small or sparse data. They are
#: caught (only when raised from pydeseq2 code), logged and noted in the
#: output instead of being shown; any other warning is re-issued unchanged.
KNOWN_PYDESEQ2_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    # Parametric trend did not converge -> pydeseq2 switches to the mean trend
    # (DESeq2 does the same, with a message).
    (UserWarning, r"dispersion trend curve fitting did not converge"),
    # Few residual degrees of freedom: the dispersion prior is imprecise.
    (UserWarning, r"residual degrees of freedom is less than 3"),
    # apeGLM-type shrinkage failed for some miRNAs; their MLE is kept.
    (UserWarning, r"had NaN/infinite values during LFC shrinkage"),
    # Optimiser steps on near-zero or extreme counts inside pydeseq2's fits.
    (RuntimeWarning, r"(overflow|divide by zero|invalid value) encountered"),
)


@contextlib.contextmanager
def pydeseq2_warnings(notes: list[str]) -> Iterator[None]:
    """Catch pydeseq2's known, benign warnings; log and note them.

    Parameters
    ----------
    notes
        List the distinct warning messages are appended to.

    Yields
    ------
    None
        Run pydeseq2 inside the block.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: set[str] = set()
    for w in caught:
        msg = str(w.message)
        # exomir.de.inference runs pydeseq2's formulas for paired designs and
        # raises the same warnings; they are noted the same way.
        source = str(w.filename).replace("\\", "/")
        from_fit = "pydeseq2" in source or source.endswith("exomir/de/inference.py")
        known = from_fit and any(
            issubclass(w.category, cat) and re.search(rx, msg)
            for cat, rx in KNOWN_PYDESEQ2_WARNINGS
        )
        if not known:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        if msg not in seen:
            seen.add(msg)
            log.info("pydeseq2: %s", msg)
            notes.append(f"pydeseq2: {msg}")


@dataclass
class ContrastResult:
    """Result of one contrast.

    Attributes
    ----------
    contrast
        The contrast.
    table
        Per-miRNA results, sorted by padj, pvalue, miRNA.
    samples
        Candidate libraries with ``included`` and ``reason``.
    design_columns
        Columns of the design matrix.
    size_factors
        Size factors of the included libraries.
    notes
        Dropped covariates, pydeseq2 warnings, fit-type choices.
    """

    contrast: Contrast
    table: pd.DataFrame
    samples: pd.DataFrame
    design_columns: list[str]
    size_factors: pd.Series
    notes: list[str] = field(default_factory=list)


RESULT_COLUMNS = [
    "mirna",
    "baseMean",
    "log2FoldChange",
    "lfcSE",
    "log2FoldChange_shrunk",
    "lfcSE_shrunk",
    "stat",
    "pvalue",
    "padj",
    "cooks_outlier",
    "control",
]


def sort_results(table: pd.DataFrame) -> pd.DataFrame:
    """Sort a results table by padj (missing last), pvalue, then miRNA.

    Parameters
    ----------
    table
        Results with ``padj``, ``pvalue`` and ``mirna``.

    Returns
    -------
    pandas.DataFrame
        Sorted copy with a fresh index.
    """
    return table.sort_values(
        ["padj", "pvalue", "mirna"], na_position="last", kind="mergesort"
    ).reset_index(drop=True)


def _wald(
    x: pd.DataFrame,
    obs: pd.DataFrame,
    design: pd.DataFrame,
    contrast: Contrast,
    settings: DESettings,
    control: ControlSet,
    ctrl: list[str],
    n_cpus: int,
    notes: list[str],
) -> tuple[Any, pd.DataFrame]:
    """Run pydeseq2 on one contrast's libraries: fit, Wald test, shrinkage.

    Size factors are estimated here, on the contrast's libraries, with the
    stage's control miRNAs and fit type (as DESeq2 on the contrast's subset).
    Returns the fitted ``DeseqDataSet`` and the raw results frame.
    """
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    from exomir.de.inference import inference_for

    # One BLAS thread: pydeseq2's many tiny fits (docs/performance.md, "DE").
    # Paired designs get the arrow-matrix algebra (exomir.de.inference).
    inference = inference_for(design, n_cpus)
    with threadpool_limits(1), pydeseq2_warnings(notes):
        dds = DeseqDataSet(
            counts=x,
            metadata=obs,
            design=design,
            size_factors_fit_type=control.fit_type,
            control_genes=ctrl,
            refit_cooks=settings.refit_cooks,
            min_replicates=settings.min_replicates,
            n_cpus=n_cpus,
            inference=inference,
            quiet=True,
        )
        dds.deseq2()
        vec = np.array(
            [1.0 if c == contrast.coefficient else 0.0 for c in design.columns]
        )
        ds = DeseqStats(
            dds,
            contrast=vec,
            alpha=settings.alpha,
            cooks_filter=settings.cooks_filter,
            independent_filter=settings.independent_filter,
            quiet=True,
            n_cpus=n_cpus,
            inference=inference,
        )
        if settings.wald_reference == "t":
            # As DESeq2's useT=TRUE: t reference with residual df; summary()
            # then applies Cook's and independent filtering to these p-values.
            df_resid = x.shape[0] - design.shape[1]
            ds.run_wald_test()
            stat = ds.statistics.to_numpy(dtype=float)
            pt = 2.0 * stats.t.sf(np.abs(stat), df_resid)
            ds.p_values = pd.Series(
                np.where(np.isnan(stat), np.nan, pt), index=ds.statistics.index
            )
            notes.append(f"Wald p-values from t({df_resid})")
        ds.summary()
        res = ds.results_df.copy()
        if settings.shrinkage:
            ds.lfc_shrink(coeff=contrast.coefficient)
            res["log2FoldChange_shrunk"] = ds.results_df["log2FoldChange"]
            res["lfcSE_shrunk"] = ds.results_df["lfcSE"]
        else:
            res["log2FoldChange_shrunk"] = np.nan
            res["lfcSE_shrunk"] = np.nan
    return dds, res


def fit_inputs(
    counts: pd.DataFrame,
    inc: pd.DataFrame,
    mirnas: Sequence[str] | None,
    control: ControlSet,
    whose: str,
    notes: list[str],
) -> tuple[list[str], pd.DataFrame, list[str], pd.DataFrame]:
    """Prepare the inputs of one pydeseq2 fit (a Wald contrast or the LRT).

    Returns the miRNAs tested (``mirnas`` or every row of ``counts``), the
    library x miRNA counts of those with reads in the fit's libraries ``inc``
    (a note in ``notes`` counts the others, whose statistics stay empty), the
    control miRNAs among them and the libraries' participant, arm and timepoint.
    ``whose`` names the libraries in that note ("this contrast's").
    """
    genes = list(mirnas) if mirnas is not None else list(counts.index)
    sub = counts.loc[genes, list(inc.index)]
    nonzero = sub.sum(axis=1) > 0
    if (~nonzero).any():
        notes.append(
            f"{int((~nonzero).sum())} filtered miRNA(s) have no reads in {whose} "
            "libraries; their statistics are empty"
        )
    x = sub.loc[nonzero].T
    ctrl = [m for m in control.mirnas if m in x.columns]
    obs = inc[["participant_id", "arm", "timepoint"]].astype(str).copy()
    return genes, x, ctrl, obs


def result_table(
    res: pd.DataFrame, dds: Any, genes: Sequence[str], control: ControlSet
) -> pd.DataFrame:
    """One row per tested miRNA (``genes`` order) from a fit's results.

    Adds the Cook's outlier flag of ``dds``, a zero baseMean for miRNAs without
    reads (empty statistics), the ``mirna`` column and the ``control`` flag.
    """
    res["cooks_outlier"] = np.asarray(dds.cooks_outlier(), dtype=bool)
    table = res.reindex(list(genes)).rename_axis(None)
    table["baseMean"] = table["baseMean"].fillna(0.0)
    table["cooks_outlier"] = as_bool(table["cooks_outlier"])
    table.insert(0, "mirna", table.index)
    table["control"] = table["mirna"].isin(set(control.mirnas))
    return table


def fit_contrast(
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    contrast: Contrast,
    settings: DESettings,
    control: ControlSet,
    mirnas: Sequence[str] | None = None,
    n_cpus: int = 1,
) -> ContrastResult:
    """Fit one contrast with pydeseq2.

    Size factors are re-estimated on the contrast's libraries (DESeq2 on the
    contrast's subset), not taken from ``results/counts/mirna.h5ad``; see
    docs/de.md, "Size factors".

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`.
    contrast
        The contrast.
    settings
        DE settings.
    control
        From :func:`control_mirnas`.
    mirnas
        miRNAs to test (the filtered set); default all rows of ``counts``.
    n_cpus
        Processes for pydeseq2.

    Returns
    -------
    ContrastResult
        Results, sample inclusion and notes.

    Raises
    ------
    DesignError
        If the contrast cannot be estimated from the usable libraries.
    """
    notes: list[str] = []
    chosen = select_samples(meta, contrast)
    inc = meta.loc[chosen.index[chosen["included"]]]
    design, dnotes = design_matrix(inc, contrast)
    notes += dnotes
    genes, x, ctrl, obs = fit_inputs(
        counts, inc, mirnas, control, "this contrast's", notes
    )
    log.info(
        "contrast %s: %d libraries, %d miRNAs, %d design columns, %d controls",
        contrast.name,
        x.shape[0],
        x.shape[1],
        design.shape[1],
        len(ctrl),
    )
    dds, res = _wald(x, obs, design, contrast, settings, control, ctrl, n_cpus, notes)
    table = sort_results(result_table(res, dds, genes, control)[RESULT_COLUMNS])
    n_sig = int((table["padj"] < settings.alpha).sum())
    log.info(
        "contrast %s: %d miRNAs with padj < %g", contrast.name, n_sig, settings.alpha
    )
    sf = pd.Series(
        dds.obs["size_factors"].to_numpy(), index=x.index, name="size_factor"
    )
    return ContrastResult(
        contrast=contrast,
        table=table,
        samples=chosen,
        design_columns=list(design.columns),
        size_factors=sf,
        notes=notes,
    )
