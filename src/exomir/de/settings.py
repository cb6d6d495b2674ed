"""Settings of the DE stage: contrasts and the ``de`` config section, checked once."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exomir.errors import Issue, ValidationError

log = logging.getLogger(__name__)


KINDS = ("interaction", "within_arm", "between_arms")
CONFIG_LABEL = "config/config.yaml"
#: Name of the 0/1 design column of the interaction designs.
TREATED_FOLLOWUP = "treated_followup"
#: Float format of the written tables.

#: Default size-factor exclusions (analysis_spec.md §1.4.2). Names are matched
#: with or without the species prefix, so they also work for e.g. ``mmu``.
DEFAULT_RBC = [
    "miR-451a",
    "miR-486-5p",
    "miR-486-3p",
    "miR-16-5p",
    "miR-92a-3p",
    "miR-144-3p",
    "miR-144-5p",
    "miR-25-3p",
]
DEFAULT_PLATELET = [
    "miR-223-3p",
    "miR-126-3p",
    "miR-126-5p",
    "miR-197-3p",
    "miR-24-3p",
    "miR-21-5p",
]
#: Chromosome 19 miRNA cluster (placental): miR-498, miR-512, miR-515 to
#: miR-527 (not miR-513/514, which are on chromosome X), miR-1283, miR-1323.
DEFAULT_C19MC_REGEX = [
    r"^[a-z]{3,4}-miR-(498|512|51[5-9]|52[0-7]|1283|1323)[a-z]?(-[0-9])?(-[35]p)?$"
]


# --------------------------------------------------------------------------- #
# Settings
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Contrast:
    """One differential-expression question.

    Attributes
    ----------
    name
        Contrast name (file stem of its outputs).
    kind
        ``interaction``, ``within_arm`` or ``between_arms``.
    arm
        Treated arm (interaction, between_arms) or the arm analysed (within_arm).
    reference_arm
        Reference arm (interaction, between_arms); ``None`` for within_arm.
    timepoint
        Follow-up timepoint (interaction, within_arm) or the timepoint compared
        (between_arms).
    reference_timepoint
        Reference timepoint (interaction, within_arm); ``None`` for between_arms.
    covariates
        Extra sample or participant columns in the design.
    description
        Human-readable description for reports.
    """

    name: str
    kind: str
    arm: str
    reference_arm: str | None
    timepoint: str
    reference_timepoint: str | None
    covariates: tuple[str, ...] = ()
    description: str = ""

    @property
    def paired(self) -> bool:
        """Whether the design uses paired participants only."""
        return self.kind != "between_arms"

    @property
    def arms(self) -> tuple[str, ...]:
        """Arms whose libraries enter the design (reference first)."""
        if self.kind == "within_arm":
            return (self.arm,)
        return (str(self.reference_arm), self.arm)

    @property
    def timepoints(self) -> tuple[str, ...]:
        """Timepoints whose libraries enter the design (reference first)."""
        if self.kind == "between_arms":
            return (self.timepoint,)
        return (str(self.reference_timepoint), self.timepoint)

    @property
    def coefficient(self) -> str:
        """Design column of the tested effect."""
        if self.kind == "interaction":
            return TREATED_FOLLOWUP
        if self.kind == "within_arm":
            return f"timepoint[T.{self.timepoint}]"
        return f"arm[T.{self.arm}]"


@dataclass(frozen=True)
class DESettings:
    """Settings of the differential-expression stage (config ``de``).

    Attributes
    ----------
    contrasts
        Contrasts by name, in configuration order.
    arms
        Arms of the trial, reference first (config ``design.arms``).
    timepoints
        Timepoints, reference first (config ``design.timepoints``).
    primary_mirna
        Primary miRNA (config ``trial.primary_mirna``).
    min_rpm, min_frac, min_count
        Feature filter (rule 2 of docs/de.md).
    exclude_names, exclude_regex
        Size-factor control exclusions (names with or without species prefix;
        regular expressions matched against the whole name).
    control_min_base_mean
        Minimum mean normalised count of a control miRNA.
    control_min_mirnas
        ``auto`` fit type: minimum all-positive control miRNAs for ``ratio``.
    size_factors_fit_type
        ``auto``, ``ratio`` or ``poscounts``.
    alpha
        FDR level (independent filtering and significance).
    shrinkage
        Whether to shrink the tested coefficient (apeGLM-type prior).
    refit_cooks, min_replicates, cooks_filter, independent_filter
        pydeseq2 options.
    pca_ntop
        Most variable miRNAs used for the PCA.
    label_top
        miRNAs labelled in volcano plots (besides the primary miRNA).
    pseudocount
        Added before log2 in the DE AnnData's ``log2_normed`` layer (config
        ``primary.pseudocount``).
    wald_reference
        Null distribution of the Wald statistic: ``t`` (default) with
        (libraries - design columns) degrees of freedom, as DESeq2's
        ``useT=TRUE``, or ``normal`` (DESeq2's default); ``t`` because the
        normal reference is anti-conservative in the paired designs
        (figures in docs/performance.md, "DE").
    """

    contrasts: dict[str, Contrast]
    arms: tuple[str, ...]
    timepoints: tuple[str, ...]
    primary_mirna: str
    min_rpm: float = 5.0
    min_frac: float = 0.5
    min_count: int = 10
    exclude_names: tuple[str, ...] = tuple(DEFAULT_RBC + DEFAULT_PLATELET)
    exclude_regex: tuple[str, ...] = tuple(DEFAULT_C19MC_REGEX)
    control_min_base_mean: float = 50.0
    control_min_mirnas: int = 30
    size_factors_fit_type: str = "auto"
    alpha: float = 0.05
    shrinkage: bool = True
    refit_cooks: bool = True
    min_replicates: int = 7
    cooks_filter: bool = True
    independent_filter: bool = True
    pca_ntop: int = 500
    label_top: int = 10
    wald_reference: str = "t"
    pseudocount: float = 1.0


def default_contrasts(arms: Sequence[str], timepoints: Sequence[str]) -> dict:
    """Contrasts derived from the design when config ``de.contrasts`` is empty.

    Parameters
    ----------
    arms
        Arms, reference first; the last is the treated arm.
    timepoints
        Timepoints, reference first; the last is the follow-up.

    Returns
    -------
    dict
        Name -> contrast specification (as in the configuration): with the
        default design, ``treatment_effect``, ``time_placebo``,
        ``time_exosome``, ``arms_week1`` and ``arms_baseline``.
    """
    ref_arm, arm = arms[0], arms[-1]
    out: dict[str, dict[str, Any]] = {}
    if len(timepoints) >= 2:
        ref_tp, tp = timepoints[0], timepoints[-1]
        out["treatment_effect"] = {
            "kind": "interaction",
            "arm": arm,
            "reference_arm": ref_arm,
            "timepoint": tp,
            "reference_timepoint": ref_tp,
            "covariates": [],
            "description": f"{arm} vs {ref_arm}: change {ref_tp} to {tp} (arm x time)",
        }
        for a in arms:
            out[f"time_{a}"] = {
                "kind": "within_arm",
                "arm": a,
                "timepoint": tp,
                "reference_timepoint": ref_tp,
                "covariates": [],
                "description": f"{tp} vs {ref_tp} within {a} (descriptive)",
            }
    between = (
        [timepoints[-1]] if len(timepoints) < 2 else [timepoints[-1], timepoints[0]]
    )
    for t in between:
        balance = len(timepoints) >= 2 and t == timepoints[0]
        out[f"arms_{t}"] = {
            "kind": "between_arms",
            "arm": arm,
            "reference_arm": ref_arm,
            "timepoint": t,
            "covariates": ["library_batch"],
            "description": (
                f"{arm} vs {ref_arm} at {t}"
                + (" (baseline balance check)" if balance else "")
            ),
        }
    return out


def _contrast_from_spec(
    name: str, spec: Mapping[str, Any], arms: Sequence[str], tps: Sequence[str]
) -> tuple[Contrast | None, list[Issue]]:
    where = f"de.contrasts.{name}"
    issues: list[Issue] = []

    def bad(msg: str) -> None:
        issues.append(Issue(CONFIG_LABEL, msg, column=where))

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
        bad(f"contrast name '{name}' must be letters, digits, '_', '.', '+', '-'")
    kind = spec.get("kind")
    if kind not in KINDS:
        bad(f"kind '{kind}' is not one of: {', '.join(KINDS)}")
        return None, issues
    arm = spec.get("arm") or (None if kind == "within_arm" else arms[-1])
    ref_arm = spec.get("reference_arm")
    tp = spec.get("timepoint") or tps[-1]
    ref_tp = spec.get("reference_timepoint")
    if kind == "within_arm":
        if arm is None:
            bad("a within_arm contrast needs 'arm' (the arm whose change is tested)")
        if ref_arm is not None:
            bad("a within_arm contrast has no reference_arm; remove it")
        ref_tp = ref_tp or tps[0]
    elif kind == "interaction":
        ref_arm = ref_arm or arms[0]
        ref_tp = ref_tp or tps[0]
    else:
        ref_arm = ref_arm or arms[0]
        if ref_tp is not None:
            bad(
                "a between_arms contrast compares arms at one timepoint; "
                "remove reference_timepoint"
            )
    for key, value, allowed, cfg in (
        ("arm", arm, arms, "design.arms"),
        ("reference_arm", ref_arm, arms, "design.arms"),
        ("timepoint", tp, tps, "design.timepoints"),
        ("reference_timepoint", ref_tp, tps, "design.timepoints"),
    ):
        if value is not None and value not in allowed:
            bad(
                f"{key} '{value}' is not a level of this trial; use one of: "
                f"{', '.join(allowed)} ({cfg})"
            )
    if kind != "within_arm" and arm is not None and arm == ref_arm:
        bad(f"arm and reference_arm are both '{arm}'; a contrast needs two levels")
    if kind != "between_arms" and tp == ref_tp:
        bad(f"timepoint and reference_timepoint are both '{tp}'; a contrast needs two")
    covs = spec.get("covariates") or []
    if not isinstance(covs, list) or not all(isinstance(c, str) for c in covs):
        bad("covariates must be a list of column names")
        covs = []
    reserved = {"participant", "arm", "timepoint", TREATED_FOLLOWUP, "participant_id"}
    for c in covs:
        if c in reserved:
            bad(f"covariate '{c}' is part of the design already; remove it")
    if issues:
        return None, issues
    return (
        Contrast(
            name=name,
            kind=str(kind),
            arm=str(arm),
            reference_arm=ref_arm,
            timepoint=str(tp),
            reference_timepoint=ref_tp,
            covariates=tuple(covs),
            description=str(spec.get("description") or ""),
        ),
        issues,
    )


def de_settings(config: Mapping[str, Any]) -> DESettings:
    """Build and check the DE settings from a validated configuration.

    Parameters
    ----------
    config
        Configuration as returned by :func:`exomir.config.load_config`; the
        ``de`` section may be missing (defaults are used).

    Returns
    -------
    DESettings
        The settings, with every contrast's levels checked against the design.

    Raises
    ------
    ValidationError
        If a contrast names an unknown arm or timepoint, has one level only,
        or is otherwise malformed.
    """
    design = config["design"]
    arms = tuple(design["arms"])
    tps = tuple(design["timepoints"])
    de = dict(config.get("de") or {})
    specs = de.get("contrasts") or default_contrasts(arms, tps)
    contrasts: dict[str, Contrast] = {}
    issues: list[Issue] = []
    for name, spec in specs.items():
        c, iss = _contrast_from_spec(str(name), spec or {}, arms, tps)
        issues += iss
        if c is not None:
            contrasts[c.name] = c
    if not specs:
        issues.append(Issue(CONFIG_LABEL, "no contrasts defined", column="de"))
    control = dict(de.get("control") or {})
    names = control.get("exclude_names")
    regex = control.get("exclude_regex")
    if names is None:
        names = DEFAULT_RBC + DEFAULT_PLATELET
    if regex is None:
        regex = DEFAULT_C19MC_REGEX
    for rx in regex:
        try:
            re.compile(rx)
        except re.error as exc:
            issues.append(
                Issue(
                    CONFIG_LABEL,
                    f"'{rx}' is not a valid regular expression: {exc}",
                    column="de.control.exclude_regex",
                )
            )
    fit_type = de.get("size_factors_fit_type", "auto")
    if fit_type not in ("auto", "ratio", "poscounts"):
        issues.append(
            Issue(
                CONFIG_LABEL,
                f"size_factors_fit_type '{fit_type}' is not one of auto, ratio, poscounts",
                column="de.size_factors_fit_type",
            )
        )
    wald_ref = de.get("wald_reference", "t")
    if wald_ref not in ("normal", "t"):
        issues.append(
            Issue(
                CONFIG_LABEL,
                f"wald_reference '{wald_ref}' is not one of normal, t",
                column="de.wald_reference",
            )
        )
    if issues:
        raise ValidationError(issues)
    return DESettings(
        contrasts=contrasts,
        arms=arms,
        timepoints=tps,
        primary_mirna=str(config["trial"]["primary_mirna"]),
        min_rpm=float(de.get("min_rpm", 5.0)),
        min_frac=float(de.get("min_frac", 0.5)),
        min_count=int(de.get("min_count", 10)),
        exclude_names=tuple(names),
        exclude_regex=tuple(regex),
        control_min_base_mean=float(control.get("min_base_mean", 50.0)),
        control_min_mirnas=int(control.get("min_mirnas", 30)),
        size_factors_fit_type=str(fit_type),
        alpha=float(de.get("alpha", 0.05)),
        shrinkage=bool(de.get("shrinkage", True)),
        refit_cooks=bool(de.get("refit_cooks", True)),
        min_replicates=int(de.get("min_replicates", 7)),
        cooks_filter=bool(de.get("cooks_filter", True)),
        independent_filter=bool(de.get("independent_filter", True)),
        pca_ntop=int(de.get("pca_ntop", 500)),
        label_top=int(de.get("label_top", 10)),
        wald_reference=str(wald_ref),
        pseudocount=float((config.get("primary") or {}).get("pseudocount", 1.0)),
    )
