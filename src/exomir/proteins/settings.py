"""Protein quantification settings: config ``proteins.curve`` and ``proteins.acceptance``.

Defaults come from ``config.schema.yaml`` (their one home); the workflow builds
:class:`QuantSettings` once at parse time and passes it to the script.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exomir.config import load_schema


@functools.cache
def _defaults(block: str) -> dict[str, Any]:
    props = load_schema("config")["properties"]["proteins"]["properties"][block]
    return {k: v.get("default") for k, v in props["properties"].items()}


@dataclass(frozen=True)
class CurveSettings:
    """How standard curves are read and fitted (config ``proteins.curve``)."""

    model: str = "auto"
    weighting: str = "1/y^2"
    weight_floor: float = 0.01
    f_test_alpha: float = 0.05
    wavelength: float = 450.0
    reference_wavelength: float | None = None
    monotone_tolerance: float = 0.1


@dataclass(frozen=True)
class AcceptanceSettings:
    """Quantification range, duplicate CV and plate acceptance (``proteins.acceptance``)."""

    recovery: tuple[float, float] = (0.8, 1.2)
    max_cv: float = 0.2
    qc_tolerance: float = 0.2
    min_qc_fraction: float = 0.66
    min_r2: float = 0.98
    min_standards_fraction: float = 0.75
    min_standard_levels: int = 5


@dataclass(frozen=True)
class QuantSettings:
    """Everything :func:`exomir.proteins.quant.quantify` needs."""

    curve: CurveSettings = CurveSettings()
    acceptance: AcceptanceSettings = AcceptanceSettings()


def quant_settings(cfg: Mapping[str, Any] | None = None) -> QuantSettings:
    """Build :class:`QuantSettings` from a configuration (schema defaults filled in).

    Parameters
    ----------
    cfg
        The whole configuration, its ``proteins`` block, or ``None``.
    """
    block = dict(cfg or {})
    if "proteins" in block:
        block = dict(block["proteins"] or {})
    curve = {**dict(_defaults("curve")), **(block.get("curve") or {})}
    acc = {**_defaults("acceptance"), **(block.get("acceptance") or {})}
    acc["recovery"] = tuple(float(v) for v in acc["recovery"])
    return QuantSettings(
        curve=CurveSettings(**curve),
        acceptance=AcceptanceSettings(**acc),
    )


def panel(cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the configured panel ``analyte -> {label, unit, assay, transform}`` (may be empty)."""
    return dict(((cfg.get("proteins") or {}).get("panel")) or {})
