"""EV stage settings: the ``ev`` config section with its schema defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
class EvSettings:
    """What the EV step needs from the configuration (built once, at parse time).

    Attributes
    ----------
    acceptance, nta, dose
        The ``ev`` sub-sections of the configuration, every default filled in.
    """

    acceptance: dict[str, Any]
    nta: dict[str, Any]
    dose: dict[str, Any]

    def as_config(self) -> dict[str, Any]:
        """Return the ``ev`` section as the dictionary the EV functions take."""
        return {
            "acceptance": dict(self.acceptance),
            "nta": dict(self.nta),
            "dose": dict(self.dose),
        }


def ev_settings(cfg: Mapping[str, Any]) -> EvSettings:
    """Build the EV step's settings from a validated workflow configuration.

    Parameters
    ----------
    cfg
        The whole configuration (its ``ev`` section may be absent or partial).

    Returns
    -------
    EvSettings
        The ``ev`` section with the schema defaults filled in.
    """
    section = ev_config(cfg.get("ev"))
    return EvSettings(
        acceptance=section["acceptance"], nta=section["nta"], dose=section["dose"]
    )
