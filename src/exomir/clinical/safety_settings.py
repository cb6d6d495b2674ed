"""Settings of the safety stage (CONSORT, adverse events, lab shifts, DSMB listings).

Built once, when the workflow is parsed, from the validated configuration
(:func:`safety_stage_settings`), and handed to each job as ``params.settings``:
a job never sees the whole configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exomir.config import primary_visit
from exomir.errors import Issue, ValidationError

#: Relatedness levels counted as "related" and the AE-of-special-interest
#: categories reported, when config ``safety`` does not name them.
DEFAULT_RELATED = ("possible", "probable", "definite")
DEFAULT_AESI = (
    "infusion_reaction",
    "hypersensitivity",
    "fever",
    "thromboembolic",
    "infection",
)


@dataclass(frozen=True)
class SafetySettings:
    """What the safety jobs need from the configuration.

    Attributes
    ----------
    arms, timepoints
        design.arms and design.timepoints, in config order.
    labels
        Sheet kind -> the path the config names (used in messages).
    related_levels, aesi, rules
        config ``safety`` with defaults (AE tables and stopping rules).
    lab_ranges, lab_visits
        Reference ranges (config ``lab_reference_ranges``) and the two visits
        of the lab shift tables.
    target_randomised, start_date, planned_months
        config ``enrolment`` (``None`` = no plan).
    followup_visit, followup_target_day, pp_window_days
        Follow-up visit and per-protocol window (config ``clinical``).
    """

    arms: tuple[str, ...]
    timepoints: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    related_levels: tuple[str, ...] = DEFAULT_RELATED
    aesi: tuple[str, ...] = DEFAULT_AESI
    rules: tuple[Mapping[str, Any], ...] = ()
    lab_ranges: Mapping[str, Any] = field(default_factory=dict)
    lab_visits: tuple[str, ...] = ()
    target_randomised: int | None = None
    start_date: str | None = None
    planned_months: int | None = None
    followup_visit: str = ""
    followup_target_day: int = 7
    pp_window_days: int = 2

    def label(self, kind: str) -> str:
        """Name of sheet ``kind`` in messages (the config's path)."""
        return self.labels.get(kind, f"{kind}.tsv")


def _lab_visits(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """Visits of the lab shift tables; refuses visits that are not the trial's."""
    tps = cfg["design"]["timepoints"]
    safety = dict(cfg.get("safety") or {})
    visits = tuple(safety.get("lab_visits") or (tps[0], primary_visit(dict(cfg))))
    unknown = [v for v in visits if v not in cfg["design"]["visits"]]
    # Only the lab shift tables use these visits (built with clinical measurements).
    if unknown and "clinical_measurements" in cfg["sheets"]:
        raise ValidationError(
            [
                Issue(
                    "config/config.yaml",
                    f"lab shift visit(s) {', '.join(unknown)} are not visits of this trial; "
                    f"use design.visits ({', '.join(cfg['design']['visits'])}) or set "
                    "safety.lab_visits",
                    column="safety.lab_visits",
                )
            ]
        )
    return visits


def safety_stage_settings(cfg: Mapping[str, Any]) -> SafetySettings:
    """Build the safety settings from a validated configuration.

    Raises
    ------
    ValidationError
        When ``safety.lab_visits`` names a visit that is not the trial's.
    """
    s = dict(cfg.get("safety") or {})
    e = dict(cfg.get("enrolment") or {})
    c = dict(cfg.get("clinical") or {})
    tps = tuple(cfg["design"]["timepoints"])
    return SafetySettings(
        arms=tuple(cfg["design"]["arms"]),
        timepoints=tps,
        labels={k: str(v) for k, v in cfg["sheets"].items()},
        related_levels=tuple(s.get("related_levels", DEFAULT_RELATED)),
        aesi=tuple(s.get("aesi", DEFAULT_AESI)),
        rules=tuple(dict(r) for r in s.get("rules") or []),
        lab_ranges=dict(cfg.get("lab_reference_ranges") or {}),
        lab_visits=_lab_visits(cfg),
        target_randomised=e.get("target_randomised"),
        start_date=e.get("start_date"),
        planned_months=e.get("planned_months"),
        followup_visit=str(c.get("followup_visit") or primary_visit(dict(cfg))),
        followup_target_day=int(c.get("followup_target_day", 7)),
        pp_window_days=int(c.get("pp_window_days", 2)),
    )
