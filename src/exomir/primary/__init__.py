"""Primary biomarker analysis: ANCOVA of the primary miRNA, with sensitivity analyses.

The confirmatory test of the trial (analysis_spec.md §0 and §1.2) is an
ANCOVA of the follow-up log2 normalised level of the primary miRNA
(``trial.primary_mirna``, miR-126-3p by default) on arm and the baseline
level, adjusted for the stratification factors::

    y_followup ~ treated + y_baseline + strata          (OLS, HC3 SE, t-based CI)

``y`` is ``log2(normalised count + pseudocount)`` with the DE stage's
size factors (median-of-ratios over control miRNAs, which never include the
primary miRNA). The treated-arm coefficient is reported on the log2 scale and
as the treated/reference ratio ``2**estimate`` with its confidence interval.
The analysis is unadjusted for multiplicity (single pre-specified primary).

Sensitivity analyses, one row each in the output (same order always):

``clda_mixed``
    Constrained longitudinal data analysis: a linear mixed model over all
    usable libraries at both timepoints (participants with one visit only
    contribute under MAR), ``y ~ followup + followup:treated + strata`` with a
    random participant intercept and no arm main effect (baseline means are
    equal by randomisation). REML; Wald z CI.
``hemolysis_adjusted``
    The ANCOVA plus the haemolysis ratio ``log2((n_marker+1)/(n_ref+1))``
    (miR-451a / miR-23a-3p by default) at both timepoints.
``platelet_count_adjusted``
    The ANCOVA plus the platelet count (clinical parameter ``PLAT``, mean of
    replicates) at both timepoints; needs ``clinical_measurements``.
``platelet_mirna_adjusted``
    The ANCOVA plus a platelet-miRNA score (mean z-score of the log2 levels of
    miR-223-3p, miR-197-3p and miR-24-3p by default) at both timepoints.
``dose_adjusted``
    The ANCOVA plus the administered dose: ``log10(dose_particles)`` of
    participants.tsv, centred on the mean of the treated participants with
    both visits (the ANCOVA population) and 0 in the reference arm, so that
    the arm coefficient is the effect at the mean dose. Estimable only when the dose varies among treated participants.
``per_protocol``
    The ANCOVA in the per-protocol population (``in_pp`` of disposition.tsv).
``tipping_point``
    Delta-adjusted multiple imputation (analysis_spec.md §1.3) for
    participants with a baseline but no follow-up value: the missing values
    are imputed under MAR, ``primary.tipping_point.imputations`` times, from
    a Bayesian linear regression of the follow-up on the baseline level and
    strata fitted in each arm separately (proper imputation: residual
    variance and coefficients drawn from their posterior); the imputed values
    of the treated arm are then shifted by ``delta`` (log2) and every
    completed data set is analysed with the ANCOVA (same covariates and SE
    type), combined with Rubin's rules (Barnard-Rubin degrees of freedom).
    The row holds the MAR (``delta = 0``) estimate; its ``note`` gives the
    tipping point, the ``delta`` at which p crosses ``1 - ci_level``
    (towards the null when the MAR result is significant, away from it when
    not), found on a grid and refined by bisection with the same imputations
    (so p is a smooth function of ``delta``). The grid and the tipping point
    are written to ``tipping_point.tsv`` (:mod:`exomir.primary.tipping`). The spec
    asks for it when more than 10% of an arm lack the follow-up value; it is
    always computed, and the note says whether that trigger is met.

A row that cannot be estimated (input missing, too few participants) is still
written, with empty estimates and the reason in ``note``.

Modules: :mod:`~exomir.primary.settings` (settings, table layouts),
:mod:`~exomir.primary.data` (analysis variables), :mod:`~exomir.primary.analyses`
(ANCOVA and cLDA rows on :mod:`exomir.stats.models`),
:mod:`~exomir.primary.tipping` and :mod:`~exomir.primary.stage` (the rule's step).
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
