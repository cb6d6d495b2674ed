"""Settings and table layouts of the primary analysis (config ``primary``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exomir.config import primary_visit
from exomir.errors import Issue, ValidationError

TREATED = "treated"
BASELINE = "y_baseline"
FOLLOWUP = "y_followup"

ANALYSES = (
    ("primary_ancova", "ANCOVA: follow-up on arm + baseline + strata (complete cases)"),
    ("clda_mixed", "cLDA mixed model over both visits, random participant intercept"),
    ("hemolysis_adjusted", "ANCOVA + haemolysis ratio at both timepoints"),
    ("platelet_count_adjusted", "ANCOVA + platelet count at both timepoints"),
    ("platelet_mirna_adjusted", "ANCOVA + platelet-miRNA score at both timepoints"),
    ("dose_adjusted", "ANCOVA + log10 administered dose (centred in the treated arm)"),
    ("per_protocol", "ANCOVA in the per-protocol population"),
    (
        "tipping_point",
        "MI of missing follow-up values under MAR (delta = 0), "
        "delta-adjusted in the treated arm; tipping point in note",
    ),
)

#: Columns of ``tipping_point.tsv`` (one row per delta, then the tipping point).
TIPPING_COLUMNS = [
    "row_type",
    "delta_log2",
    "imputations",
    "n",
    "n_treated",
    "n_reference",
    "n_imputed_treated",
    "n_imputed_reference",
    "estimate_log2",
    "se_log2",
    "ci_low_log2",
    "ci_high_log2",
    "ratio",
    "pvalue",
    "df",
    "significant",
    "note",
]

RESULT_COLUMNS = [
    "analysis",
    "description",
    "mirna",
    "treated_arm",
    "reference_arm",
    "timepoint",
    "reference_timepoint",
    "model",
    "covariates",
    "n",
    "n_treated",
    "n_reference",
    "estimate_log2",
    "se_log2",
    "ci_low_log2",
    "ci_high_log2",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "pvalue",
    "df",
    "note",
]


@dataclass(frozen=True)
class PrimarySettings:
    """Settings of the primary analysis (config ``primary``).

    Attributes
    ----------
    mirna
        Primary miRNA (``trial.primary_mirna``).
    arm, reference_arm
        Treated and reference arm (defaults: last and first of design.arms).
    timepoint, reference_timepoint
        Follow-up and baseline (defaults: design.primary_visit and the first of
        design.timepoints).
    strata
        Participant columns adjusted for (``design.strata``).
    covariates
        Further participant columns adjusted for in every ANCOVA.
    pseudocount
        Added to normalised counts before log2.
    ci_level
        Confidence level.
    cov_type
        statsmodels covariance type of the ANCOVA (``HC3`` by default).
    hemolysis_marker, hemolysis_reference
        miRNAs of the haemolysis ratio.
    platelet_mirnas
        miRNAs of the platelet score.
    platelet_param
        Clinical parameter code of the platelet count.
    tipping_imputations, tipping_seed, tipping_max_delta, tipping_step
        Delta-adjusted MI: imputations, random seed, largest |delta| (log2)
        searched and the grid step of ``tipping_point.tsv``.
    """

    mirna: str
    arm: str
    reference_arm: str
    timepoint: str
    reference_timepoint: str
    strata: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    pseudocount: float = 1.0
    ci_level: float = 0.95
    cov_type: str = "HC3"
    hemolysis_marker: str = "hsa-miR-451a"
    hemolysis_reference: str = "hsa-miR-23a-3p"
    platelet_mirnas: tuple[str, ...] = (
        "hsa-miR-223-3p",
        "hsa-miR-197-3p",
        "hsa-miR-24-3p",
    )
    platelet_param: str = "PLAT"
    tipping_imputations: int = 50
    tipping_seed: int = 20261126
    tipping_max_delta: float = 3.0
    tipping_step: float = 0.25


def primary_settings(config: Mapping[str, Any]) -> PrimarySettings:
    """Build the primary-analysis settings from a validated configuration.

    Parameters
    ----------
    config
        Configuration; the ``primary`` section may be missing.

    Returns
    -------
    PrimarySettings
        The settings.

    Raises
    ------
    ValidationError
        If an arm or timepoint is not a level of the design, or the two arms
        (timepoints) are the same.
    """
    design = config["design"]
    arms, tps = list(design["arms"]), list(design["timepoints"])
    p = dict(config.get("primary") or {})
    species = str(config.get("reference", {}).get("species", "hsa"))
    tp_cfg = dict(p.get("tipping_point") or {})

    def named(value: str) -> str:
        return value if re.match(r"^[a-z]{3,4}-", value) else f"{species}-{value}"

    s = PrimarySettings(
        mirna=str(config["trial"]["primary_mirna"]),
        arm=str(p.get("arm") or arms[-1]),
        reference_arm=str(p.get("reference_arm") or arms[0]),
        timepoint=str(p.get("timepoint") or primary_visit(dict(config))),
        reference_timepoint=str(p.get("reference_timepoint") or tps[0]),
        strata=tuple(design.get("strata") or ()),
        covariates=tuple(p.get("covariates") or ()),
        pseudocount=float(p.get("pseudocount", 1.0)),
        ci_level=float(p.get("ci_level", 0.95)),
        cov_type=str(p.get("cov_type", "HC3")),
        hemolysis_marker=named(str(p.get("hemolysis_marker", "miR-451a"))),
        hemolysis_reference=named(str(p.get("hemolysis_reference", "miR-23a-3p"))),
        platelet_mirnas=tuple(
            named(str(m))
            for m in p.get("platelet_mirnas", ["miR-223-3p", "miR-197-3p", "miR-24-3p"])
        ),
        platelet_param=str(p.get("platelet_param", "PLAT")),
        tipping_imputations=int(tp_cfg.get("imputations", 50)),
        tipping_seed=int(tp_cfg.get("seed", 20261126)),
        tipping_max_delta=float(tp_cfg.get("max_delta", 3.0)),
        tipping_step=float(tp_cfg.get("step", 0.25)),
    )
    issues = []
    for key, value, allowed in (
        ("arm", s.arm, arms),
        ("reference_arm", s.reference_arm, arms),
        ("timepoint", s.timepoint, tps),
        ("reference_timepoint", s.reference_timepoint, tps),
    ):
        if value not in allowed:
            issues.append(
                Issue(
                    "config/config.yaml",
                    f"{key} '{value}' is not a level of this trial; use one of: "
                    f"{', '.join(allowed)}",
                    column=f"primary.{key}",
                )
            )
    if s.arm == s.reference_arm:
        issues.append(
            Issue(
                "config/config.yaml",
                "arm and reference_arm are the same",
                column="primary",
            )
        )
    if s.timepoint == s.reference_timepoint:
        issues.append(
            Issue(
                "config/config.yaml",
                "the primary analysis needs two timepoints (design.timepoints or "
                "primary.timepoint / primary.reference_timepoint)",
                column="primary",
            )
        )
    if issues:
        raise ValidationError(issues)
    return s
