"""What the workflow hands the clinical and safety jobs, built for a test scenario.

The Snakefile validates the scenario once, when it is parsed, builds each
stage's settings and gives every job the paths of the sheets it declares.
These helpers do the same for a scenario directory, so that the unit tests
call the package functions the way the shims do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exomir.clinical.safety_settings import SafetySettings, safety_stage_settings
from exomir.clinical.stage import ClinicalStageSettings, clinical_stage_settings
from exomir.config import resolve_path, validate_config
from exomir.units import conversions_path
from exomir.validate import validate_config_and_tables


def validated(d: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    """Validate config and sheets as the workflow does at parse time."""
    full = validate_config(dict(cfg))
    validate_config_and_tables(d, full, check_files=False)
    return full


def sheets(d: Path, cfg: dict[str, Any]) -> dict[str, Path | None]:
    """Sheet kind -> path (``None`` for the optional sheets not configured)."""
    kinds = (
        "samples",
        "participants",
        "clinical_measurements",
        "adverse_events",
        "disposition",
    )
    return {
        k: resolve_path(cfg["sheets"][k], d) if k in cfg["sheets"] else None
        for k in kinds
    }


def clinical_inputs(
    d: Path, cfg: dict[str, Any]
) -> tuple[dict[str, Any], ClinicalStageSettings]:
    """Sheet arguments of the clinical jobs and their settings."""
    full = validated(d, cfg)
    s = sheets(d, full)
    kwargs = {
        "participants": s["participants"],
        "clinical_measurements": s["clinical_measurements"],
        "conversions": resolve_path(conversions_path(full), d),
        "disposition": s["disposition"],
    }
    return kwargs, clinical_stage_settings(full, d)


def safety_inputs(
    d: Path, cfg: dict[str, Any]
) -> tuple[dict[str, Path | None], SafetySettings]:
    """Sheet paths of the safety jobs and their settings."""
    full = validated(d, cfg)
    return sheets(d, full), safety_stage_settings(full)
