"""Simulation parameters: documented defaults, presets and overrides.

The defaults live in ``defaults.yaml`` beside this module, one comment per key.
A resolved parameter set is a plain nested ``dict`` (YAML-serialisable), built
by :func:`resolve_params` from, in increasing precedence: the defaults, a
preset, a YAML file, ``--set section.key=value`` overrides, the dedicated
command-line flags, and finally ``--null``.

Unknown keys are rejected (a typo must not silently leave a default in place),
and a few consistency rules are checked by :func:`check_params`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")

#: The protocol's visit schedule to 24 months (registry NCT07183384), used by
#: the demo preset: visit -> planned day since dosing and +/- window (days).
PROTOCOL_SCHEDULE: dict[str, dict[str, int]] = {
    "day1": {"day": 1, "window": 0},
    "week1": {"day": 7, "window": 2},
    "month1": {"day": 30, "window": 7},
    "month3": {"day": 91, "window": 14},
    "month6": {"day": 182, "window": 14},
    "month12": {"day": 365, "window": 30},
    "month24": {"day": 730, "window": 30},
}

#: Presets: partial parameter sets applied on top of the defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # The whole protocol: visits to 24 months, blood draws at baseline, week 1
    # and month 3, three sites with site effects, long-term events.
    "demo": {
        "trial": {
            "n_participants": 24,
            "timepoints": ["baseline", "week1", "month3"],
            "schedule": PROTOCOL_SCHEDULE,
        },
        "library": {"reads_per_library": 200_000, "participants_per_batch": 8},
        "ev": {"nanosight_videos": 5},
        "sites": {
            "names": {"S01": "Bandung", "S02": "Jakarta", "S03": "Yogyakarta"},
            "endpoint_shift_sd": 0.3,
            "mirna_shift_log2_sd": 0.3,
        },
        "events": {"enabled": True},
        "proteins": {"enabled": True},
    },
    # The two-visit demo of earlier versions (baseline and week 1, two sites):
    # the small simulated trials of the integration tests.
    "small": {
        "trial": {
            "n_participants": 24,
            "sites": ["S01", "S02"],
            "site_weights": [0.6, 0.4],
        },
        "library": {"reads_per_library": 200_000, "participants_per_batch": 8},
        "ev": {"nanosight_videos": 5},
        "proteins": {"enabled": True},
    },
    "trial": {
        "trial": {"n_participants": 80},
        "library": {
            "reads_per_library": 10_000_000,
            "depth_cv": 0.4,
            "depth_clip": [0.5, 1.5],
        },
    },
}

#: Sections whose keys are free-form (checked elsewhere): ``reads`` is passed to
#: the read simulator's ``ReadParams``; the per-endpoint tables take any name.
FREE_SECTIONS = {
    ("reads",),
    ("clinical", "endpoints"),
    ("clinical", "binary"),
    ("trial", "schedule"),
    ("followup", "effect_profile"),
    ("followup", "drift_profile"),
    ("followup", "endpoint_effect_profiles"),
    ("followup", "endpoint_drift_profiles"),
    ("followup", "mirna_time_profile"),
    ("followup", "mirna_effect_profile"),
    ("sites", "names"),
    ("events", "endpoints"),
}

#: Keys whose value replaces the default as a whole (not merged key by key).
REPLACED_KEYS = {"protocol_mix", "schedule", "names"}

#: Parameters added for the long trial (trial.schedule and these sections): left
#: out of ``truth/params.yaml`` while they keep their defaults, so that a
#: two-visit scenario records the same parameters as before they existed.
LONG_TRIAL_SECTIONS = ("followup", "sites", "events", "proteins")


class ParamError(ValueError):
    """Raised for an unknown key, a wrong type or an inconsistent value."""


def load_defaults() -> dict[str, Any]:
    """Load the documented defaults.

    Returns
    -------
    dict
        A fresh nested dict of every parameter.
    """
    with open(DEFAULTS_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _is_free(path: tuple[str, ...]) -> bool:
    return any(path[: len(p)] == p for p in FREE_SECTIONS)


def _compatible(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list)
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def merge(
    base: dict[str, Any], override: Mapping[str, Any], path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``, rejecting unknown keys.

    Parameters
    ----------
    base
        Parameter tree (not modified).
    override
        Partial tree with the same nesting.
    path
        Key path of ``base`` (for messages and free-form sections).

    Returns
    -------
    dict
        The merged tree.

    Raises
    ------
    ParamError
        If a key is unknown or a value has the wrong type.
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        here = (*path, str(key))
        dotted = ".".join(here)
        if key not in out:
            if _is_free(here) or _is_free(path):
                out[key] = copy.deepcopy(value)
                continue
            known = ", ".join(sorted(out)) or "(none)"
            raise ParamError(f"unknown parameter '{dotted}'; known keys here: {known}")
        current = out[key]
        if (
            isinstance(current, dict)
            and isinstance(value, Mapping)
            and key not in REPLACED_KEYS
        ):
            out[key] = merge(current, value, here)
            continue
        if not _compatible(current, value):
            raise ParamError(
                f"parameter '{dotted}' expects {type(current).__name__}, got {value!r}"
            )
        if isinstance(current, float) and isinstance(value, int):
            value = float(value)
        out[key] = copy.deepcopy(value)
    return out


def parse_set(item: str) -> dict[str, Any]:
    """Turn ``section.key=value`` into a nested override dict.

    Parameters
    ----------
    item
        Assignment; the value is parsed as YAML (``1e6``, ``[1, 2]``,
        ``{truseq: 1.0}``, ``true`` ...).

    Returns
    -------
    dict
        Nested override, e.g. ``{"trial": {"n_participants": 40}}``.

    Raises
    ------
    ParamError
        If the item has no ``=`` or an empty key.
    """
    if "=" not in item:
        raise ParamError(f"--set expects section.key=value, got '{item}'")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ParamError(f"--set has an empty key in '{item}'")
    value = yaml.safe_load(raw) if raw.strip() else None
    if isinstance(value, str) and _looks_float(value):
        value = float(value)
    tree: dict[str, Any] = {}
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return tree


def _looks_float(text: str) -> bool:
    # YAML 1.1 reads "1e6" as a string; accept it as a number.
    try:
        float(text)
    except ValueError:
        return False
    return any(c.isdigit() for c in text)


def apply_null(params: dict[str, Any]) -> dict[str, Any]:
    """Set every treatment effect to zero (the ``--null`` scenario).

    Zeroed: clinical arm effects (continuous and binary), the exosome-arm
    coupling of the miR-126-3p and SBP changes, the arm differences of the
    adverse-event probabilities (exosome set to placebo), and the read
    simulator's interaction effects (``reads`` keys listed in
    :data:`NULL_READ_KEYS` that exist in ``ReadParams``) and the hazard ratios
    of the long-term events (set to 1; the per-visit arm effects are multiples
    of the zeroed clinical arm effects). Time effects, site effects, the ED
    reference coupling and haemolysis are kept.

    Parameters
    ----------
    params
        Resolved parameters (not modified).

    Returns
    -------
    dict
        Parameters with ``null: true`` recorded.
    """
    out = copy.deepcopy(params)
    clin = out["clinical"]
    for spec in clin["endpoints"].values():
        spec["arm_effect"] = 0.0
    for spec in clin["binary"].values():
        spec["arm_log_or"] = 0.0
    clin["mir126_sbp_rho"] = 0.0
    arms = out["trial"]["arms"]
    for key in ("p_infusion_reaction", "p_fever_48h", "p_hypersensitivity"):
        probs = out["safety"][key]
        for arm in arms[1:]:
            probs[arm] = probs[arms[0]]
    for key, value in NULL_READ_KEYS.items():
        if key in out["reads"] or key in null_read_overrides():
            out["reads"][key] = copy.deepcopy(value)
    for spec in out.get("events", {}).get("endpoints", {}).values():
        spec["hazard_ratio"] = 1.0
    out["null"] = True
    return out


#: ReadParams fields that carry treatment (arm x time interaction) effects and
#: the value that switches them off.
NULL_READ_KEYS: dict[str, Any] = {
    "mir126_interaction_log2": 0.0,
    "frac_mirnas_with_interaction": 0.0,
}


def read_params_fields() -> dict[str, Any] | None:
    """Return the fields of ``exomir.simulate.readmodel.ReadParams`` and defaults.

    Returns
    -------
    dict or None
        Field name -> default, or ``None`` if the read simulator is absent.
    """
    try:
        from exomir.simulate.readmodel import ReadParams
    except ImportError:
        return None
    if not is_dataclass(ReadParams):
        return None
    inst = ReadParams()
    return {f.name: getattr(inst, f.name) for f in fields(ReadParams)}


def null_read_overrides() -> dict[str, Any]:
    """Return the ``reads`` overrides that zero the miRNA treatment effects.

    Returns
    -------
    dict
        Only keys that exist in the installed ``ReadParams``.
    """
    known = read_params_fields() or {}
    return {k: v for k, v in NULL_READ_KEYS.items() if k in known}


def check_params(params: Mapping[str, Any]) -> None:
    """Check consistency rules that a type check cannot see.

    Parameters
    ----------
    params
        Resolved parameters.

    Raises
    ------
    ParamError
        Listing the first problem found.
    """
    t = params["trial"]
    lib = params["library"]
    ev = params["ev"]
    problems = []
    if t["n_participants"] < 2:
        problems.append("trial.n_participants must be at least 2")
    if len(t["arms"]) != 2:
        problems.append("trial.arms must name exactly two arms (1:1 design)")
    if len(t["sites"]) != len(t["site_weights"]) or not t["sites"]:
        problems.append("trial.sites and trial.site_weights must have the same length")
    if not t["block_sizes"] or any(b % 2 or b < 2 for b in t["block_sizes"]):
        problems.append("trial.block_sizes must be even numbers >= 2")
    if t.get("schedule") is None and len(t["timepoints"]) != 2:
        problems.append(
            "trial.timepoints must have two entries (baseline, follow-up) unless "
            "trial.schedule names the later visits"
        )
    if t.get("schedule") is not None or len(t["timepoints"]) != 2:
        from exomir.simulate.followup import check_long_params

        problems.extend(check_long_params(params))
    for key in (
        "screen_fail_frac",
        "declined_frac",
        "p_severe_features",
        "p_early_onset_if_severe",
        "p_early_onset_if_not_severe",
        "dose_next_day_frac",
        "not_dosed_frac",
        "dropout_frac",
        "major_deviation_frac",
        "week1_outside_window_frac",
        "route_im_frac",
    ):
        if not 0 <= t[key] <= 1:
            problems.append(f"trial.{key} must be in [0, 1]")
    if t["screen_fail_frac"] >= 1:
        problems.append("trial.screen_fail_frac must be below 1")
    mix = lib["protocol_mix"]
    if not mix or any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        problems.append("library.protocol_mix needs non-negative shares summing to > 0")
    unknown = set(mix) - {"truseq", "qiaseq"}
    if unknown:
        problems.append(
            f"library.protocol_mix: unsupported protocol(s) {sorted(unknown)}; "
            "use truseq and/or qiaseq"
        )
    if lib["reads_per_library"] < 1000:
        problems.append("library.reads_per_library must be at least 1000")
    if lib["participants_per_batch"] < 2:
        problems.append("library.participants_per_batch must be at least 2")
    for key in ("low_yield_frac", "hemolysis_frac", "lmwh_frac"):
        if not 0 <= lib[key] <= 1:
            problems.append(f"library.{key} must be in [0, 1]")
    if ev["n_lots"] < 1:
        problems.append("ev.n_lots must be at least 1")
    if not 0 <= ev["failing_lot"] <= ev["n_lots"]:
        problems.append("ev.failing_lot must be 0 (none) or a lot index 1..n_lots")
    if ev["failure_mode"] not in ("size", "endotoxin", "purity", "sterility"):
        problems.append("ev.failure_mode must be size, endotoxin, purity or sterility")
    if ev["failing_lot"] and ev["n_lots"] == 1 and not ev["failing_lot_dosed"]:
        problems.append("with one lot that fails, ev.failing_lot_dosed must be true")
    if params["clinical"]["bp_readings"] < 1:
        problems.append("clinical.bp_readings must be at least 1")
    if not -0.95 <= params["clinical"]["mir126_sbp_rho"] <= 0.95:
        problems.append("clinical.mir126_sbp_rho must be within [-0.95, 0.95]")
    for name, spec in params["clinical"]["endpoints"].items():
        rho = 1 - spec["change_sd"] ** 2 / (2 * spec["baseline_sd"] ** 2)
        if not -1 < rho < 1:
            problems.append(
                f"clinical.endpoints.{name}: change_sd must be below 2 x baseline_sd"
            )
    if not 0 < params["ed"]["prevalence"] < 1:
        problems.append("ed.prevalence must be in (0, 1)")
    fields_ = read_params_fields()
    if fields_ is not None:
        bad = sorted(set(params["reads"]) - set(fields_))
        if bad:
            problems.append(
                f"reads: unknown ReadParams field(s) {bad}; known: {sorted(fields_)}"
            )
    if t.get("schedule") is None and len(t["timepoints"]) == 2:
        from exomir.simulate.followup import check_sites_events

        problems.extend(check_sites_events(params))
    if problems:
        raise ParamError("; ".join(problems))


def resolve_params(
    preset: str | None = None,
    params_file: str | Path | None = None,
    sets: Iterable[str] = (),
    participants: int | None = None,
    reads: int | None = None,
    null: bool = False,
) -> dict[str, Any]:
    """Build a resolved, checked parameter set.

    Parameters
    ----------
    preset
        ``"demo"``, ``"trial"`` or ``None``.
    params_file
        YAML file with a partial parameter tree, or a ``truth/params.yaml``
        written by the simulator (its ``params`` block is used).
    sets
        ``section.key=value`` overrides, applied in order.
    participants
        Number of randomised participants (``--participants``).
    reads
        Mean raw reads per library (``--reads``).
    null
        Zero every treatment effect (see :func:`apply_null`).

    Returns
    -------
    dict
        Resolved parameters, with ``preset`` and ``null`` recorded.

    Raises
    ------
    ParamError
        For an unknown preset or key, a wrong type or an inconsistent value.
    """
    params = load_defaults()
    if preset is not None:
        if preset not in PRESETS:
            raise ParamError(
                f"unknown preset '{preset}'; choose from {', '.join(sorted(PRESETS))}"
            )
        params = merge(params, PRESETS[preset])
    if params_file is not None:
        with open(params_file, encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh) or {}
        if not isinstance(loaded, dict):
            raise ParamError(f"{params_file}: expected a mapping of sections")
        if isinstance(loaded.get("params"), dict) and "seed" in loaded:
            # A truth/params.yaml written by the simulator: use its parameters.
            loaded = loaded["params"]
        # A params block written by the simulator carries its preset and null
        # flag; honour them so that it reproduces the same scenario.
        if preset is None and loaded.get("preset") in PRESETS:
            params = merge(params, PRESETS[loaded["preset"]])
            preset = loaded["preset"]
        null = null or bool(loaded.get("null", False))
        loaded = {
            k: v for k, v in loaded.items() if k not in ("preset", "null", "seed")
        }
        params = merge(params, loaded)
    for item in sets:
        params = merge(params, parse_set(item))
    if participants is not None:
        params = merge(params, {"trial": {"n_participants": int(participants)}})
    if reads is not None:
        params = merge(params, {"library": {"reads_per_library": int(reads)}})
    sched = params["trial"].get("schedule")
    if isinstance(sched, dict) and all(
        isinstance(v, dict) and "day" in v for v in sched.values()
    ):
        # Chronological (a params.yaml written with sorted keys reads back the same).
        params["trial"]["schedule"] = dict(
            sorted(sched.items(), key=lambda kv: float(kv[1]["day"]))
        )
    params["preset"] = preset
    params["null"] = False
    if null:
        params = apply_null(params)
    check_params(params)
    return params


def qc_gates(params: Mapping[str, Any]) -> dict[str, int]:
    """Return the QC gates for the simulated depth (``qc`` section, null = auto).

    Parameters
    ----------
    params
        Resolved parameters.

    Returns
    -------
    dict
        ``min_raw_reads``, ``min_mirna_reads`` and ``min_mirnas_ge10``.
    """
    depth = params["library"]["reads_per_library"]
    auto = {
        "min_raw_reads": int(min(1_000_000, round(0.1 * depth))),
        "min_mirna_reads": int(min(100_000, round(0.01 * depth))),
        "min_mirnas_ge10": int(min(100, max(10, round(100 * depth / 2_000_000)))),
    }
    qc = params["qc"]
    return {k: int(qc[k]) if qc.get(k) is not None else v for k, v in auto.items()}


def recorded_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the parameters to record, without long-trial keys left at defaults.

    ``trial.schedule`` (when null) and the sections of
    :data:`LONG_TRIAL_SECTIONS` (when equal to their defaults, after ``--null``
    if it was given) are left out: reading the file back with ``--params``
    restores them from the defaults, and a two-visit scenario records the same
    parameters as before these keys existed.

    Parameters
    ----------
    params
        Resolved parameters.

    Returns
    -------
    dict
        A copy without the keys that carry no information.
    """
    out = copy.deepcopy(dict(params))
    base = load_defaults()
    if params.get("null"):
        base = apply_null(base)
    if "trial" in out and out["trial"].get("schedule", 0) is None:
        out["trial"] = {k: v for k, v in out["trial"].items() if k != "schedule"}
    for section in LONG_TRIAL_SECTIONS:
        if section in out and _plain(out[section]) == _plain(base.get(section)):
            del out[section]
    return out


def dump_params(params: Mapping[str, Any]) -> str:
    """Serialise parameters as stable YAML (sorted keys).

    Parameters
    ----------
    params
        Parameter tree.

    Returns
    -------
    str
        YAML text.
    """
    return yaml.safe_dump(
        _plain(params), sort_keys=True, default_flow_style=False, allow_unicode=True
    )


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    return obj
