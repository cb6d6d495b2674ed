"""EV stage settings: the ``ev`` config section with its schema defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from exomir.config import load_schema


def _defaults_from_schema(schema: Mapping[str, Any]) -> Any:
    if "default" in schema and schema.get("type") != "object":
        return schema["default"]
    if schema.get("type") == "object":
        out = dict(schema.get("default", {}))
        for key, sub in schema.get("properties", {}).items():
            value = _defaults_from_schema(sub)
            if value is not None or "default" in sub:
                out.setdefault(key, value)
        return out
    return None


def ev_config(cfg: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the ``ev`` configuration with every default filled in.

    Defaults come from ``config.schema.yaml`` (the single source), so a test
    or a notebook can call the functions of this module without a full
    workflow configuration.

    Parameters
    ----------
    cfg
        The ``ev`` section of a configuration (possibly partial), or ``None``.

    Returns
    -------
    dict
        ``acceptance``, ``nta`` and ``dose`` sub-sections.
    """
    defaults = _defaults_from_schema(load_schema("config")["properties"]["ev"])
    out: dict[str, Any] = {k: dict(v) for k, v in defaults.items()}
    for section, values in (cfg or {}).items():
        if isinstance(values, Mapping):
            out.setdefault(section, {}).update(values)
        else:
            out[section] = values
    return out


@dataclass(frozen=True)
class AcceptanceSettings:
    """Release criteria of a lot (config ``ev.acceptance``)."""

    max_mode_nm: float
    size_window_nm: tuple[float, float]
    min_fraction_in_window: float
    max_endotoxin_eu_per_ml: float
    min_particles_per_ug: float
    sterility_pass: tuple[str, ...]
    mycoplasma_pass: tuple[str, ...]
    positive_markers: tuple[str, ...]
    negative_markers: tuple[str, ...]
    label_tolerance: float | None
    require_tem: bool
    max_bsa_ng_per_ml: float | None
    zeta_mv_range: tuple[float, float] | None


@dataclass(frozen=True)
class NtaSettings:
    """Run-quality gates and size statistics of NTA runs (config ``ev.nta``)."""

    min_videos: int
    particles_per_frame: tuple[float, float]
    min_completed_tracks: float
    min_positions: int
    max_position_rsd_pct: float
    run_qc: str
    primary_instrument: str
    mode_smoothing_nm: float
    dilution_tolerance: float
    distribution_max_nm: float
    min_traces: float
    instrument_d50_tolerance: float
    instrument_mode_tolerance_bins: float
    verified_software: tuple[str, ...]


@dataclass(frozen=True)
class DoseSettings:
    """How the delivered dose is computed (config ``ev.dose``)."""

    product_volume_ml: float | None


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _thawed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _section(obj: Any) -> dict[str, Any]:
    return {f.name: _thawed(getattr(obj, f.name)) for f in fields(obj)}


@dataclass(frozen=True)
class EvSettings:
    """What the EV step needs from the configuration (built once, at parse time).

    Values keep the types the validated configuration gives them (lists become
    tuples so that the settings are immutable and hashable).
    """

    acceptance: AcceptanceSettings
    nta: NtaSettings
    dose: DoseSettings

    def as_config(self) -> dict[str, Any]:
        """Return the ``ev`` section as the dictionary the EV functions take."""
        return {
            "acceptance": _section(self.acceptance),
            "nta": _section(self.nta),
            "dose": _section(self.dose),
        }


def ev_settings(cfg: Mapping[str, Any]) -> EvSettings:
    """Build the EV step's settings from a validated workflow configuration.

    Parameters
    ----------
    cfg
        The whole configuration (its ``ev`` section may be absent or partial;
        the schema allows no other keys).

    Returns
    -------
    EvSettings
        The ``ev`` section with the schema defaults filled in.
    """
    section = ev_config(cfg.get("ev"))

    def build(cls: Any, key: str) -> Any:
        return cls(**{k: _frozen(v) for k, v in section[key].items()})

    return EvSettings(
        acceptance=build(AcceptanceSettings, "acceptance"),
        nta=build(NtaSettings, "nta"),
        dose=build(DoseSettings, "dose"),
    )
