"""Statistics shared by the primary, clinical and safety stages.

One module per concept: :mod:`~exomir.stats.intervals` (Wilson, Newcombe),
:mod:`~exomir.stats.auc` (Mann-Whitney, DeLong), :mod:`~exomir.stats.models`
(ANCOVA with HC standard errors, cLDA mixed model, logistic, proportional
odds, collinearity), :mod:`~exomir.stats.imputation` (proper imputation and
Rubin's rules) and :mod:`~exomir.stats.boundaries` (Lan-DeMets group-sequential
boundaries).
"""

from exomir.stats.auc import delong_auc, mann_whitney_auc
from exomir.stats.intervals import newcombe_diff_ci, wilson_ci
from exomir.stats.models import drop_collinear

__all__ = [
    "delong_auc",
    "drop_collinear",
    "mann_whitney_auc",
    "newcombe_diff_ci",
    "wilson_ci",
]
