"""Long-term time-to-event outcomes (config ``time_to_event``, sheet ``events``).

Kaplan-Meier curves with numbers at risk, log-rank tests, Cox models stratified
by the randomisation strata with the proportional-hazards check, and the
Aalen-Johansen cumulative incidence when deaths compete; all estimators are
lifelines'. See docs/survival.md.

Modules: :mod:`~exomir.survival.data` (settings, follow-up and censoring),
:mod:`~exomir.survival.analysis` (the lifelines fits),
:mod:`~exomir.survival.results` (tables per endpoint),
:mod:`~exomir.survival.stage` (the workflow step and the figures).
"""

from exomir.survival.analysis import CoxResult, cox_arm_effect, logrank
from exomir.survival.data import SurvivalSettings, survival_settings, time_to_event_data

__all__ = [
    "CoxResult",
    "SurvivalSettings",
    "cox_arm_effect",
    "logrank",
    "survival_settings",
    "time_to_event_data",
]
