"""Primary biomarker analysis: ANCOVA of the primary miRNA, with sensitivity analyses.

Design and details: docs/de.md ("The primary analysis").
"""

from exomir.primary.analyses import ancova, clda
from exomir.primary.data import participant_table, sample_values
from exomir.primary.settings import (
    ANALYSES,
    BASELINE,
    FOLLOWUP,
    RESULT_COLUMNS,
    TIPPING_COLUMNS,
    TREATED,
    PrimarySettings,
    primary_settings,
)
from exomir.primary.stage import primary_step, run_primary
from exomir.primary.tipping import tipping_point

__all__ = [
    "ANALYSES",
    "BASELINE",
    "FOLLOWUP",
    "RESULT_COLUMNS",
    "TIPPING_COLUMNS",
    "TREATED",
    "PrimarySettings",
    "ancova",
    "clda",
    "participant_table",
    "primary_settings",
    "primary_step",
    "run_primary",
    "sample_values",
    "tipping_point",
]
