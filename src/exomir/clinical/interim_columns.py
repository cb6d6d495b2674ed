"""Columns of ``results/clinical/interim.tsv`` (:mod:`exomir.clinical.interim`).

In a module of their own so that the report firewall
(:mod:`exomir.report.firewall`), which only needs the column list, does not
import the interim analysis and with it scipy.stats and statsmodels (about
0.5 s of start-up in every report job; issue 22).
"""

from __future__ import annotations

__all__ = ["INTERIM_COLUMNS"]

INTERIM_COLUMNS = [
    "report",
    "schedule",
    "look",
    "look_role",
    "information_fraction",
    "n_evaluable",
    "alpha_spent",
    "alpha_increment",
    "nominal_p",
    "z_boundary",
    "z_boundary_total",
    "nominal_p_total",
    "z_boundary_per_side",
    "nominal_p_per_side",
    "futility_z_boundary",
    "observed_t",
    "observed_df",
    "observed_p",
    "observed_z",
    "crossed",
    "conditional_power",
    "conditional_power_design",
    "futility_flag",
    "decision_note",
]
