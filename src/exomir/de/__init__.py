"""Differential expression of plasma miRNAs with pydeseq2 (method: docs/de.md).

Modules: :mod:`~exomir.de.settings` (contrasts, config), :mod:`~exomir.de.samples`
(input checks, usable libraries), :mod:`~exomir.de.filter` (feature filter, control
miRNAs), :mod:`~exomir.de.normalise` (the one normalisation and its layer names),
:mod:`~exomir.de.design`, :mod:`~exomir.de.fit`, :mod:`~exomir.de.plots` and
:mod:`~exomir.de.stage` (the workflow steps). The names below are re-exported for
tests and the benchmark.

The names are imported on first use (as in :mod:`exomir.reads`), except those
of :mod:`~exomir.de.normalise`, so that a job that needs only the layer names
(e.g. the clinical stage) does not load scipy.stats with :mod:`~exomir.de.fit`.
"""

from __future__ import annotations

import importlib
from typing import Any

# imported now: the function ``normalise`` shares its name with the submodule,
# and must win over it as it did before (the module itself is light)
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

_EXPORTS = {
    "DesignError": "exomir.de.design",
    "design_matrix": "exomir.de.design",
    "ControlSet": "exomir.de.filter",
    "control_mirnas": "exomir.de.filter",
    "exclusion_reason": "exomir.de.filter",
    "filter_mirnas": "exomir.de.filter",
    "ContrastResult": "exomir.de.fit",
    "RESULT_COLUMNS": "exomir.de.fit",
    "fit_contrast": "exomir.de.fit",
    "pydeseq2_warnings": "exomir.de.fit",
    "sort_results": "exomir.de.fit",
    "check_counts": "exomir.de.samples",
    "check_library_qc": "exomir.de.samples",
    "read_counts": "exomir.de.samples",
    "read_library_qc": "exomir.de.samples",
    "sample_table": "exomir.de.samples",
    "select_samples": "exomir.de.samples",
    "Contrast": "exomir.de.settings",
    "DESettings": "exomir.de.settings",
    "de_settings": "exomir.de.settings",
    "default_contrasts": "exomir.de.settings",
    "Prepared": "exomir.de.stage",
    "contrast_step": "exomir.de.stage",
    "normalise_counts_step": "exomir.de.stage",
    "normalise_step": "exomir.de.stage",
    "prepare": "exomir.de.stage",
    "run_contrast": "exomir.de.stage",
    "run_normalisation": "exomir.de.stage",
}

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


def __getattr__(name: str) -> Any:
    """Import the public names (and submodules) on first use."""
    module = _EXPORTS.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
