"""Workflow entry points of the DE stage: normalisation and per-contrast steps."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_path
from exomir.de.design import DesignError
from exomir.de.filter import ControlSet, control_mirnas, filter_mirnas
from exomir.de.fit import RESULT_COLUMNS, ContrastResult, fit_contrast
from exomir.de.normalise import counts_anndata, counts_matrix, normalise
from exomir.de.samples import (
    as_bool,
    check_counts,
    read_counts,
    read_library_qc,
    sample_table,
    select_samples,
)
from exomir.de.settings import CONFIG_LABEL, DESettings
from exomir.errors import Issue, ValidationError
from exomir.notcomputed import NotComputed
from exomir.tables import read_table, write_table

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- #
# Writing and running
# --------------------------------------------------------------------------- #


@dataclass
class Prepared:
    """Inputs shared by all contrasts.

    Attributes
    ----------
    counts
        miRNA x sample counts.
    meta
        Library table from :func:`sample_table`.
    filt
        Feature filter table.
    control
        Size-factor controls.
    settings
        DE settings.
    scope_note
        When the filter and controls come from the libraries of some
        timepoints only (:meth:`DESettings.filter_scope`), a note saying so.
    """

    counts: pd.DataFrame
    meta: pd.DataFrame
    filt: pd.DataFrame
    control: ControlSet
    settings: DESettings
    scope_note: str = ""

    @property
    def kept(self) -> list[str]:
        """MiRNAs that passed the filter."""
        return list(self.filt.index[self.filt["kept"]])

    def mirna_table(self) -> pd.DataFrame:
        """Per-miRNA filter and control table (sorted by miRNA)."""
        t = self.filt.join(
            self.control.table[["base_mean", "control", "control_reason"]]
        )
        t["control"] = as_bool(t["control"])
        t["control_reason"] = t["control_reason"].fillna("not filtered in")
        return t.reset_index(drop=True)


def prepare(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    participants: pd.DataFrame,
    settings: DESettings,
    library_qc: pd.DataFrame | None = None,
    counts_label: str = "mirna_counts.tsv",
    scope: tuple[str, ...] | None = None,
) -> Prepared:
    """Check the inputs, mark usable libraries, filter and choose controls.

    Parameters
    ----------
    counts
        miRNA x sample counts (checked with :func:`check_counts`).
    samples, participants
        Sheets as DataFrames.
    settings
        From :func:`exomir.de.settings.de_settings` (built once, at parse time).
    library_qc
        QC table or ``None``.
    counts_label
        File name of the counts for messages.
    scope
        Timepoints whose usable libraries define the feature filter and the
        control miRNAs (from :meth:`DESettings.filter_scope`); ``None`` = all.
        The library table keeps every library either way.

    Returns
    -------
    Prepared
        Everything the contrasts and the normalisation need.

    Raises
    ------
    ValidationError
        On any input problem (see :func:`check_counts`, :func:`sample_table`,
        :func:`de_settings`).
    NotComputed
        When no library is usable (e.g. none passed QC): the workflow writes
        the stage outputs as "not computed" (:mod:`exomir.notcomputed`).
    """
    counts = check_counts(counts, counts_label)
    meta = sample_table(counts, samples, participants, library_qc, counts_label)
    if not meta["usable"].any():
        why = sorted(set(meta["reason"]))
        raise NotComputed(
            f"no usable library is left in {counts_label}: none of the "
            f"{len(meta)} libraries can be used ({'; '.join(why)})"
        )
    fmeta, note = meta, ""
    if scope is not None:
        in_scope = meta["usable"] & meta["timepoint"].isin(scope)
        if in_scope.any():
            fmeta = meta.assign(usable=in_scope)
            note = (
                "feature filter and size-factor controls from the "
                f"{int(in_scope.sum())} usable libraries of {', '.join(scope)}"
            )
    filt = filter_mirnas(counts, fmeta, settings)
    n_kept = int(filt["kept"].sum())
    log.info("feature filter: %d of %d miRNAs kept", n_kept, len(filt))
    if n_kept == 0:
        raise ValidationError(
            [
                Issue(
                    CONFIG_LABEL,
                    "no miRNA passes the feature filter; lower de.min_rpm, de.min_count "
                    "or de.min_frac",
                    column="de",
                )
            ]
        )
    control = control_mirnas(counts, fmeta, list(filt.index[filt["kept"]]), settings)
    if note:
        note += f" ({n_kept} miRNAs kept, {len(control.mirnas)} controls)"
        log.info("%s", note)
    return Prepared(counts, meta, filt, control, settings, note)


def run_contrast(
    prep: Prepared,
    name: str,
    table_path: str | os.PathLike[str],
    samples_path: str | os.PathLike[str],
    volcano_path: str | os.PathLike[str] | None = None,
    ma_path: str | os.PathLike[str] | None = None,
    n_cpus: int = 1,
) -> ContrastResult:
    """Fit one configured contrast and write its table, sample list and plots.

    Parameters
    ----------
    prep
        From :func:`prepare`.
    name
        Contrast name (a key of config ``de.contrasts``).
    table_path
        Results TSV (``results/de/{contrast}.tsv``).
    samples_path
        Libraries of the contrast with ``included`` and ``reason``.
    volcano_path, ma_path
        SVG plots, or ``None`` to skip.
    n_cpus
        Processes for pydeseq2.

    Returns
    -------
    ContrastResult
        The result.

    Raises
    ------
    ValidationError
        If the contrast is not configured.
    """
    if name not in prep.settings.contrasts:
        raise ValidationError(
            [
                Issue(
                    CONFIG_LABEL,
                    f"contrast '{name}' is not configured; known: "
                    + ", ".join(prep.settings.contrasts),
                    column="de.contrasts",
                )
            ]
        )
    contrast = prep.settings.contrasts[name]
    res = fit_contrast(
        prep.counts, prep.meta, contrast, prep.settings, prep.control, prep.kept, n_cpus
    )
    write_table(res.table, table_path)
    smp = res.samples.copy()
    smp["size_factor"] = smp.index.map(res.size_factors)
    smp.insert(0, "contrast", name)
    notes = "; ".join(([prep.scope_note] if prep.scope_note else []) + res.notes)
    smp["design_notes"] = notes
    write_table(smp.reset_index(drop=True), samples_path)
    if volcano_path or ma_path:
        from exomir.de import plots

        title = contrast.description or name
        if volcano_path:
            plots.volcano(
                res.table,
                volcano_path,
                alpha=prep.settings.alpha,
                title=title,
                highlight=[prep.settings.primary_mirna],
                label_top=prep.settings.label_top,
            )
        if ma_path:
            plots.ma_plot(
                res.table,
                ma_path,
                alpha=prep.settings.alpha,
                title=title,
                highlight=[prep.settings.primary_mirna],
            )
    return res


def run_normalisation(
    prep: Prepared,
    h5ad_path: str | os.PathLike[str],
    mirna_table_path: str | os.PathLike[str],
    pca_table_path: str | os.PathLike[str],
    pca_plot_path: str | os.PathLike[str] | None = None,
    pseudocount: float = 1.0,
    library_table_path: str | os.PathLike[str] | None = None,
    counts_layers: Any = None,
) -> Any:
    """Write normalised counts (h5ad), the miRNA filter table and the PCA.

    Parameters
    ----------
    prep
        From :func:`prepare`.
    h5ad_path
        AnnData output (see :func:`normalise`).
    mirna_table_path
        Per-miRNA filter and control table.
    pca_table_path
        PC1-PC4 per usable library with arm, timepoint and batch.
    pca_plot_path
        SVG of PC1 vs PC2 coloured by arm, timepoint and batch, or ``None``.
    pseudocount
        For the ``log2_normed`` layer.
    library_table_path
        Every library of the sheet with ``usable`` and ``reason``, or ``None``.
    counts_layers
        The counts AnnData with normalised layers (see :func:`normalise`), or
        ``None`` to compute them.

    Returns
    -------
    anndata.AnnData
        The object written.
    """
    adata = normalise(
        prep.counts,
        prep.meta,
        prep.filt,
        prep.control,
        prep.settings,
        pseudocount,
        counts_layers=counts_layers,
    )
    with atomic_path(h5ad_path) as tmp:
        adata.write_h5ad(tmp)
    write_table(prep.mirna_table(), mirna_table_path)
    keep = [
        c
        for c in ("sample_id", "participant_id", "arm", "timepoint", "library_batch")
        if c in adata.obs.columns
    ]
    pcs = adata.obs[keep].copy()
    if "X_pca" in adata.obsm:
        k = min(4, adata.obsm["X_pca"].shape[1])
        for i in range(k):
            pcs[f"PC{i + 1}"] = adata.obsm["X_pca"][:, i]
    pcs = pcs.sort_values("sample_id")
    write_table(pcs, pca_table_path)
    if library_table_path is not None:
        cols = [
            c
            for c in (
                "sample_id",
                "participant_id",
                "arm",
                "timepoint",
                "library_batch",
                "mirna_reads",
                "usable",
                "reason",
            )
            if c in prep.meta.columns
        ]
        write_table(prep.meta[cols].sort_index(), library_table_path)
    if pca_plot_path is not None:
        from exomir.de import plots

        if "X_pca" in adata.obsm:
            plots.pca_plot(
                pcs,
                adata.uns["pca"]["variance_ratio"],
                pca_plot_path,
                colour_by=[
                    c for c in ("arm", "timepoint", "library_batch") if c in pcs
                ],
            )
        else:
            plots.message_plot(
                "PCA not computed: fewer than 3 usable libraries or 2 filtered miRNAs",
                pca_plot_path,
            )
    return adata


def read_inputs(
    counts: pd.DataFrame,
    samples: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    qc: str | os.PathLike[str] | None,
    settings: DESettings,
    counts_label: str,
    scope: tuple[str, ...] | None = None,
) -> Prepared:
    """Read the two sheets and the QC table a DE job declares, then :func:`prepare`.

    The scenario was validated when the workflow was parsed, so the sheets are
    only read and typed here (:func:`exomir.tables.read_table`).
    """
    return prepare(
        counts,
        read_table(samples, "samples"),
        read_table(participants, "participants"),
        settings,
        read_library_qc(qc),
        counts_label=counts_label,
        scope=scope,
    )


def write_not_estimable(
    prep: Prepared,
    name: str,
    error: ValidationError,
    outputs: Mapping[str, str | os.PathLike[str]],
) -> None:
    """Write the outputs of a contrast that cannot be estimated.

    The results table has its header only; the sample table lists the
    candidate libraries with ``design_notes`` holding the reason; plots show
    the reason as text.

    Parameters
    ----------
    prep
        From :func:`prepare`.
    name
        Contrast name.
    error
        The :class:`DesignError` raised by :func:`fit_contrast`.
    outputs
        ``table``, ``samples`` and optionally ``volcano`` and ``ma`` paths.
    """
    reason = "; ".join(i.message for i in error.issues)
    write_table(pd.DataFrame(columns=RESULT_COLUMNS), outputs["table"])
    smp = select_samples(prep.meta, prep.settings.contrasts[name])
    smp.insert(0, "contrast", name)
    smp["size_factor"] = np.nan
    smp["design_notes"] = f"not estimable: {reason}"
    write_table(smp.reset_index(drop=True), outputs["samples"])
    from exomir.de import plots

    for key in ("volcano", "ma"):
        if outputs.get(key):
            plots.message_plot(f"{name}: not estimable\n{reason}", outputs[key])


def normalise_step(
    *,
    counts: str | os.PathLike[str],
    counts_h5ad: str | os.PathLike[str],
    qc: str | os.PathLike[str] | None,
    samples: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    h5ad: str | os.PathLike[str],
    mirnas: str | os.PathLike[str],
    libraries: str | os.PathLike[str],
    pca: str | os.PathLike[str],
    pca_plot: str | os.PathLike[str],
    settings: DESettings,
) -> None:
    """Rule ``de_normalise``: the DE AnnData, filter, library and PCA tables.

    The normalised values come from ``counts_h5ad`` (rule ``normalise_counts``,
    the one normalisation); they are not computed again.
    """
    import anndata as ad

    prep = read_inputs(
        read_counts(counts), samples, participants, qc, settings, str(counts)
    )
    run_normalisation(
        prep,
        h5ad,
        mirnas,
        pca,
        pca_plot,
        pseudocount=settings.pseudocount,
        library_table_path=libraries,
        counts_layers=ad.read_h5ad(counts_h5ad),
    )


def contrast_step(
    *,
    contrast: str,
    counts: str | os.PathLike[str],
    qc: str | os.PathLike[str] | None,
    samples: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    table: str | os.PathLike[str],
    contrast_samples: str | os.PathLike[str],
    volcano: str | os.PathLike[str],
    ma: str | os.PathLike[str],
    settings: DESettings,
    threads: int = 1,
) -> None:
    """Rule ``de``: fit one contrast and write its table, samples and plots.

    A contrast the usable libraries cannot support is logged and written as "not
    estimable" (:func:`write_not_estimable`) so the report can say why; input
    errors still stop the job.
    """
    scope = None
    if contrast in settings.contrasts:
        scope = settings.filter_scope(settings.contrasts[contrast].timepoints)
    prep = read_inputs(
        read_counts(counts), samples, participants, qc, settings, str(counts), scope
    )
    try:
        run_contrast(
            prep, contrast, table, contrast_samples, volcano, ma, n_cpus=threads
        )
    except DesignError as exc:
        log.error("contrast %s is not estimable:\n%s", contrast, exc)
        outputs = {
            "table": table,
            "samples": contrast_samples,
            "volcano": volcano,
            "ma": ma,
        }
        write_not_estimable(prep, contrast, exc, outputs)


def normalise_counts_step(
    *,
    raw_h5ad: str | os.PathLike[str],
    qc: str | os.PathLike[str] | None,
    samples: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    h5ad: str | os.PathLike[str],
    settings: DESettings,
) -> Any:
    """Rule ``normalise_counts``: write ``results/counts/mirna.h5ad`` with its layers.

    Marks the usable libraries, chooses the control miRNAs as the DE stage
    does (:func:`prepare`) and adds the layers of :func:`counts_anndata`.
    """
    import anndata as ad

    raw = ad.read_h5ad(raw_h5ad)
    prep = read_inputs(
        counts_matrix(raw), samples, participants, qc, settings, str(raw_h5ad)
    )
    out = counts_anndata(raw, prep)
    with atomic_path(h5ad) as tmp:
        out.write_h5ad(tmp)
    return out
