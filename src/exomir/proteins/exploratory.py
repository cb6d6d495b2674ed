"""The exploratory caveat of the integration results (:mod:`exomir.proteins.integration`).

A module of its own so that the report (:mod:`exomir.report.sections.integration`)
quotes it without importing the integration analysis and, with it, scipy.stats
and statsmodels (start-up of every report job; issue 22).
"""

from __future__ import annotations

__all__ = ["EXPLORATORY"]

EXPLORATORY = (
    "Exploratory: with about 80 participants these associations and factors "
    "generate hypotheses; they are not confirmatory results and are not "
    "adjusted for the trial's other analyses."
)
