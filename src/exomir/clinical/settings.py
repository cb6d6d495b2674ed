"""Settings of the clinical stage: analysed parameters, models and populations.

Built once, when the workflow is parsed, from the validated configuration
(config ``clinical``, ``clinical_parameters``, ``design``) with the
plausibility limits of :mod:`exomir.clinical.plausibility`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from exomir.clinical.plausibility import parameter_limits, soft_limit_action
from exomir.config import primary_visit
from exomir.de.normalise import LAYER_VST
from exomir.errors import Issue, ValidationError

DEFAULT_MODEL = {
    "continuous": "ancova",
    "binary": "logistic",
    "ordinal": "proportional_odds",
}


@dataclass(frozen=True)
class ParamSpec:
    """One analysed parameter (measured or derived).

    Attributes
    ----------
    code, label, domain, unit, kind
        As in config ``clinical_parameters`` (``kind`` continuous for derived).
    model
        ``ancova``, ``logistic`` or ``proportional_odds``.
    transform
        ``none`` or ``log``.
    covariates
        participants.tsv columns adjusted for besides baseline and strata.
    categories
        Ordered levels of binary and ordinal parameters.
    range
        Soft plausibility limits (low, high) or ``None``: values outside are
        implausible (flagged; excluded per ``clinical.soft_limit_action``).
    hard
        Hard limits (low, high) or ``None``: values outside are refused.
    limit_source
        Where the limits come from (config key or shipped default).
    endpoint
        Whether the parameter is analysed as an endpoint.
    weights
        Components and weights of a derived parameter (empty if measured).
    method
        ``weighted_sum`` or ``mean`` (derived only).
    """

    code: str
    label: str
    domain: str
    unit: str
    kind: str
    model: str
    transform: str = "none"
    covariates: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    range: tuple[float, float] | None = None
    endpoint: bool = True
    weights: tuple[tuple[str, float], ...] = ()
    method: str = ""
    hard: tuple[float, float] | None = None
    limit_source: str = ""


@dataclass(frozen=True)
class ClinicalSettings:
    """Settings of the clinical stage (config ``clinical`` and ``design``).

    Attributes
    ----------
    arm, reference_arm
        Treated and reference arm (last and first of design.arms).
    baseline_visit, followup_visit
        Visit codes of ``bl`` and ``wk1``.
    followup_target_day, pp_window_days
        Per-protocol visit window.
    populations
        Populations analysed (``mITT``, ``PP``).
    strata
        Stratification columns (design.strata).
    ci_level, cov_type, mixedlm_sensitivity
        Model settings.
    ties_threshold
        Share of tied follow-up values from which a continuous endpoint also
        gets a proportional-odds sensitivity analysis (``None`` = never).
    params
        Every parameter in config order, derived ones last.
    association
        Settings of the biomarker association (config ``clinical.association``).
    primary_mirna
        trial.primary_mirna.
    baseline_variables
        participants.tsv columns of the baseline table.
    soft_limit_action
        ``flag``: implausible values stay in the primary analysis;
        ``exclude``: they are left out of it (config
        ``clinical.soft_limit_action``).
    later_visits
        Scheduled visits after the follow-up visit (``design.schedule``):
        their values do not count towards the week-1 populations, so that a
        trial with more visits has the week-1 results of the same trial cut
        to two visits.
    """

    arm: str
    reference_arm: str
    baseline_visit: str
    followup_visit: str
    followup_target_day: int = 7
    pp_window_days: int = 2
    populations: tuple[str, ...] = ("mITT", "PP")
    strata: tuple[str, ...] = ()
    ci_level: float = 0.95
    cov_type: str = "HC3"
    mixedlm_sensitivity: bool = True
    ties_threshold: float | None = 0.5
    params: dict[str, ParamSpec] = field(default_factory=dict)
    association: dict[str, Any] = field(default_factory=dict)
    primary_mirna: str = ""
    baseline_variables: tuple[str, ...] = ()
    assessor_domains: tuple[str, ...] = ("EDEMA", "IMG")
    soft_limit_action: str = "flag"
    later_visits: tuple[str, ...] = ()

    @property
    def endpoints(self) -> list[ParamSpec]:
        """Parameters analysed as endpoints, in config order."""
        return [p for p in self.params.values() if p.endpoint]


def _visit_issues(
    design: Mapping[str, Any], bl: str, fu: str, file: str
) -> list[Issue]:
    """Baseline and follow-up visits must be two different design visits."""
    issues: list[Issue] = []
    for key, v in (("baseline_visit", bl), ("followup_visit", fu)):
        if v not in design["visits"]:
            issues.append(
                Issue(
                    file,
                    f"'{v}' is not a visit of this trial; use one of: "
                    f"{', '.join(design['visits'])}",
                    column=f"clinical.{key}",
                )
            )
    if bl == fu:
        issues.append(
            Issue(
                file,
                "baseline and follow-up visit are the same; the clinical analysis "
                "needs two visits",
                column="clinical",
            )
        )
    return issues


def _measured_params(
    measured: Mapping[str, Mapping[str, Any]], file: str, issues: list[Issue]
) -> dict[str, ParamSpec]:
    """Specs of config ``clinical_parameters``; model/kind mismatches go to ``issues``."""
    params: dict[str, ParamSpec] = {}
    for code, p in measured.items():
        kind = p["kind"]
        model = p.get("model", "auto")
        model = DEFAULT_MODEL[kind] if model == "auto" else model
        if kind != "continuous" and model == "ancova":
            issues.append(
                Issue(
                    file,
                    f"model ancova needs a continuous parameter; {code} is {kind}",
                    column=f"clinical_parameters.{code}.model",
                )
            )
        if kind == "continuous" and model != "ancova":
            issues.append(
                Issue(
                    file,
                    f"model {model} needs categories; {code} is continuous",
                    column=f"clinical_parameters.{code}.model",
                )
            )
        rng = p.get("range")
        params[code] = ParamSpec(
            code=code,
            label=str(p.get("label", code)),
            domain=str(p["domain"]),
            unit=str(p["unit"]),
            kind=kind,
            model=model,
            transform=str(p.get("transform", "none")),
            covariates=tuple(p.get("covariates") or ()),
            categories=tuple(str(x) for x in p.get("categories") or ()),
            range=(float(rng[0]), float(rng[1])) if rng else None,
            endpoint=bool(p.get("endpoint", False)),
        )
    return params


def _add_derived(
    params: dict[str, ParamSpec],
    derived: Mapping[str, Mapping[str, Any]] | None,
    file: str,
    issues: list[Issue],
) -> None:
    """Add config ``clinical.derived`` to ``params``; bad components go to ``issues``."""
    if derived is None:
        derived = {}
    for code, d in derived.items():
        if code in params:
            issues.append(
                Issue(
                    file,
                    f"derived parameter {code} is also a measured parameter",
                    column=f"clinical.derived.{code}",
                )
            )
            continue
        bad = [
            k for k in d["weights"] if k not in params or params[k].kind != "continuous"
        ]
        if bad:
            issues.append(
                Issue(
                    file,
                    f"component(s) {', '.join(bad)} of {code} are not continuous "
                    "parameters of clinical_parameters",
                    column=f"clinical.derived.{code}.weights",
                )
            )
            continue
        rng = d.get("range")
        params[code] = ParamSpec(
            code=code,
            label=str(d.get("label", code)),
            domain=str(d.get("domain", "DERIVED")),
            unit=str(d.get("unit", "1")),
            kind="continuous",
            model="ancova",
            transform=str(d.get("transform", "none")),
            covariates=tuple(d.get("covariates") or ()),
            range=(float(rng[0]), float(rng[1])) if rng else None,
            endpoint=bool(d.get("endpoint", True)),
            weights=tuple((k, float(w)) for k, w in d["weights"].items()),
            method=str(d.get("method", "weighted_sum")),
        )


def clinical_settings(
    config: Mapping[str, Any], base: str | os.PathLike[str] = "."
) -> ClinicalSettings:
    """Build the clinical settings from a validated configuration.

    Parameters
    ----------
    config
        Configuration (``clinical`` may be missing; defaults apply).
    base
        Scenario directory (relative paths of the limits and unit tables).

    Returns
    -------
    ClinicalSettings
        The settings.

    Raises
    ------
    ValidationError
        If a visit is not a design visit, a derived parameter names an unknown
        or non-continuous component, or a model does not fit the kind.
    """
    design = config["design"]
    c = dict(config.get("clinical") or {})
    file = "config/config.yaml"
    issues: list[Issue] = []
    tps = list(design["timepoints"])
    bl = c.get("baseline_visit") or tps[0]
    fu = c.get("followup_visit") or primary_visit(dict(config))
    issues += _visit_issues(design, bl, fu, file)
    params = _measured_params(config["clinical_parameters"], file, issues)
    _add_derived(params, c.get("derived"), file, issues)
    try:
        limits = parameter_limits(config, base)
    except ValidationError as exc:
        issues.extend(exc.issues)
        limits = {}
    for code, lim in limits.items():
        if code in params:
            params[code] = replace(
                params[code], range=lim.soft, hard=lim.hard, limit_source=lim.source
            )
    if issues:
        raise ValidationError(issues)
    assoc = dict(c.get("association") or {})
    assoc.setdefault("layer", LAYER_VST)
    assoc.setdefault("n_bootstrap", 2000)
    assoc.setdefault("seed", 20261126)
    assoc.setdefault("population", "mITT")
    return ClinicalSettings(
        arm=str(design["arms"][-1]),
        reference_arm=str(design["arms"][0]),
        baseline_visit=str(bl),
        followup_visit=str(fu),
        followup_target_day=int(c.get("followup_target_day", 7)),
        pp_window_days=int(c.get("pp_window_days", 2)),
        populations=tuple(c.get("populations") or ("mITT", "PP")),
        strata=tuple(design.get("strata") or ()),
        ci_level=float(c.get("ci_level", 0.95)),
        cov_type=str(c.get("cov_type", "HC3")),
        mixedlm_sensitivity=bool(c.get("mixedlm_sensitivity", True)),
        ties_threshold=c.get("ties_threshold", 0.5),
        params=params,
        association=assoc,
        primary_mirna=str(config["trial"]["primary_mirna"]),
        baseline_variables=tuple(c.get("baseline_variables") or ()),
        assessor_domains=tuple(c.get("assessor_dependent_domains") or ("EDEMA", "IMG")),
        soft_limit_action=soft_limit_action(config),
        later_visits=_later_visits(design, str(fu)),
    )


def _later_visits(design: Mapping[str, Any], followup: str) -> tuple[str, ...]:
    """Scheduled visits (and blood draws) after the follow-up visit."""
    out: list[str] = []
    for seq in (list(design.get("schedule") or {}), list(design["timepoints"])):
        if followup in seq:
            out += [str(v) for v in seq[seq.index(followup) + 1 :] if v not in out]
    return tuple(out)
