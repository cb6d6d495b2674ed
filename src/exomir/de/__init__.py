"""Differential expression of plasma miRNAs with pydeseq2 (method: docs/de.md).

Modules: :mod:`~exomir.de.settings` (contrasts, config), :mod:`~exomir.de.samples`
(input checks, usable libraries), :mod:`~exomir.de.filter` (feature filter, control
miRNAs), :mod:`~exomir.de.normalise` (the one normalisation and its layer names),
:mod:`~exomir.de.design`, :mod:`~exomir.de.fit`, :mod:`~exomir.de.plots` and
:mod:`~exomir.de.stage` (the workflow steps). The names below are re-exported for
tests and the benchmark.
"""

from exomir.de.design import DesignError, design_matrix
from exomir.de.filter import ControlSet, control_mirnas, exclusion_reason, filter_mirnas
from exomir.de.fit import (
    RESULT_COLUMNS,
    ContrastResult,
    fit_contrast,
    pydeseq2_warnings,
    sort_results,
)
from exomir.de.normalise import (
    COUNTS_LAYERS,
    DE_LAYERS,
    LAYER_COUNTS,
    LAYER_LOG2,
    LAYER_NORMED,
    LAYER_VST,
    counts_anndata,
    normalise,
    normalise_usable,
    pca,
)
from exomir.de.samples import (
    check_counts,
    check_library_qc,
    read_counts,
    read_library_qc,
    sample_table,
    select_samples,
)
from exomir.de.settings import Contrast, DESettings, de_settings, default_contrasts
from exomir.de.stage import (
    Prepared,
    contrast_step,
    normalise_counts_step,
    normalise_step,
    prepare,
    run_contrast,
    run_normalisation,
)

__all__ = [
    "COUNTS_LAYERS",
    "DE_LAYERS",
    "LAYER_COUNTS",
    "LAYER_LOG2",
    "LAYER_NORMED",
    "LAYER_VST",
    "RESULT_COLUMNS",
    "Contrast",
    "ContrastResult",
    "ControlSet",
    "DESettings",
    "DesignError",
    "Prepared",
    "check_counts",
    "check_library_qc",
    "contrast_step",
    "control_mirnas",
    "counts_anndata",
    "de_settings",
    "default_contrasts",
    "design_matrix",
    "exclusion_reason",
    "filter_mirnas",
    "fit_contrast",
    "normalise",
    "normalise_counts_step",
    "normalise_step",
    "normalise_usable",
    "pca",
    "prepare",
    "pydeseq2_warnings",
    "read_counts",
    "read_library_qc",
    "run_contrast",
    "run_normalisation",
    "sample_table",
    "select_samples",
    "sort_results",
]
