"""Load and validate the workflow configuration (``config/config.yaml``).

The configuration is plain YAML read with ``yaml.safe_load``: nothing in it is
ever executed. YAML tags, YTE templates (``__use_yte__``) and template syntax
are refused first (:mod:`exomir.config_guard`), because Snakemake's own loader
would evaluate them. It is validated against ``schemas/config.schema.yaml`` (JSON
Schema 2020-12), defaults from the schema are filled in, and cross-field rules
are checked (e.g. every small-RNA timepoint must be a clinical visit).
"""

from __future__ import annotations

import copy
import itertools
import os
from importlib import resources as importlib_resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from exomir.errors import Issue, ValidationError

if TYPE_CHECKING:
    import jsonschema

RESOURCE_PREFIX = "@resources/"


def schema_path(name: str) -> Path:
    """Return the path of a shipped JSON schema.

    Parameters
    ----------
    name
        Schema stem, e.g. ``"config"`` or ``"samples"``.

    Returns
    -------
    Path
        Path to ``<name>.schema.yaml`` inside the package.
    """
    return Path(str(importlib_resources.files("exomir") / "schemas")) / (
        f"{name}.schema.yaml"
    )


def load_schema(name: str) -> dict[str, Any]:
    """Load a shipped JSON schema as a dict.

    Parameters
    ----------
    name
        Schema stem, e.g. ``"samples"``.

    Returns
    -------
    dict
        The schema.
    """
    with open(schema_path(name), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def resources_dir() -> Path:
    """Return the folder of references shipped with exomir.

    ``EXOMIR_RESOURCES`` overrides it; otherwise it is the ``resources/`` folder
    of the source checkout the package was installed from.

    Returns
    -------
    Path
        The resources folder.
    """
    env = os.environ.get("EXOMIR_RESOURCES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "resources"


def resolve_path(value: str, base: str | os.PathLike[str]) -> Path:
    """Resolve a path from config or a sheet.

    Parameters
    ----------
    value
        Path as written by the user. ``@resources/x`` means the shipped
        resources folder; an absolute path is kept; anything else is relative
        to ``base``.
    base
        The scenario directory.

    Returns
    -------
    Path
        The resolved path (not checked for existence).
    """
    if value.startswith(RESOURCE_PREFIX):
        return resources_dir() / value[len(RESOURCE_PREFIX) :]
    path = Path(value)
    if path.is_absolute():
        return path
    return Path(base) / path


def _fill_defaults(schema: dict[str, Any], instance: Any) -> None:
    """Fill ``default`` values of object properties in place, recursively."""
    if not isinstance(instance, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(sub, instance[key])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(extra, value)


def _json_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def describe_schema_error(error: jsonschema.ValidationError) -> str:
    """Turn a jsonschema error into a sentence a clinician can act on.

    Parameters
    ----------
    error
        The error from a validator.

    Returns
    -------
    str
        What is wrong and what is allowed.
    """
    schema = error.schema if isinstance(error.schema, dict) else {}
    desc = schema.get("description")
    hint = f" ({desc})" if desc else ""
    value = error.instance
    if error.validator == "enum":
        allowed = ", ".join(
            "empty" if v is None else str(v) for v in error.validator_value
        )
        return f"'{value}' is not allowed; use one of: {allowed}{hint}"
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        return f"required entry '{missing}' is missing"
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"{error.message}; known entries are: {allowed}"
    if error.validator == "type":
        want = error.validator_value
        want_s = " or ".join(want) if isinstance(want, list) else str(want)
        want_s = want_s.replace("null", "empty")
        return f"'{value}' is not a valid {want_s}{hint}"
    if error.validator == "pattern":
        return f"'{value}' has characters or a form that is not allowed{hint}"
    if error.validator in (
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
    ):
        return f"{value} is out of range: {error.message}{hint}"
    if error.validator == "format":
        return f"'{value}' is not a valid {error.validator_value}{hint}"
    return f"{error.message}{hint}"


#: Sheets that make a study a trial study (they need participants and design).
TRIAL_SHEETS = (
    "participants",
    "clinical_measurements",
    "adverse_events",
    "disposition",
    "ev_lots",
    "ev_nta_runs",
    "protein_samples",
    "protein_plates",
)


def is_trial_study(cfg: dict[str, Any]) -> bool:
    """Whether a config describes a trial (it names ``sheets.participants``).

    A config whose ``sheets`` holds ``samples`` alone is a QC-only study: the
    workflow runs reads, counts, read QC and MultiQC (and the report says the
    other stages are not part of the study).

    Parameters
    ----------
    cfg
        A configuration (validated or not).

    Returns
    -------
    bool
        ``True`` for a trial study.
    """
    return "participants" in (cfg.get("sheets") or {})


def _study_shape_issues(cfg: dict[str, Any], file: str) -> list[Issue]:
    """Entries a trial study needs that the schema cannot ask for by itself."""
    sheets = cfg.get("sheets") or {}
    issues = []
    if not is_trial_study(cfg):
        for kind in TRIAL_SHEETS:
            if kind in sheets:
                issues.append(
                    Issue(
                        file,
                        f"sheets.{kind} needs sheets.participants (a QC-only study "
                        "names sheets.samples alone)",
                        column=f"sheets.{kind}",
                    )
                )
        return issues
    for key in ("trial", "design"):
        if key not in cfg:
            issues.append(
                Issue(
                    file,
                    f"required entry '{key}' is missing (a study with "
                    "sheets.participants needs trial and design; leave out "
                    "sheets.participants for a QC-only study)",
                    column=key,
                )
            )
    if "trial" in cfg and not cfg["trial"].get("primary_mirna"):
        issues.append(
            Issue(
                file,
                "required entry 'primary_mirna' is missing (a study with "
                "sheets.participants needs the primary miRNA)",
                column="trial.primary_mirna",
            )
        )
    return issues


def _qc_only_checks(cfg: dict[str, Any], file: str) -> dict:
    """Cross-field checks of a QC-only config; returns it when valid."""
    trim = cfg["trimming"]
    if trim["min_length"] > trim["max_length"]:
        raise ValidationError(
            [
                Issue(
                    file,
                    f"min_length {trim['min_length']} is larger than max_length "
                    f"{trim['max_length']}",
                    column="trimming",
                )
            ]
        )
    return cfg


def primary_visit(cfg: dict[str, Any]) -> str:
    """Return the post-dose visit of the primary analyses (``design.primary_visit``).

    Defaults to the second of ``design.timepoints`` (the first post-dose blood
    draw); a one-timepoint design returns its only timepoint.
    """
    design = cfg["design"]
    tps = list(design["timepoints"])
    return str(design.get("primary_visit") or (tps[1] if len(tps) > 1 else tps[0]))


def post_dose_visits(cfg: dict[str, Any]) -> list[str]:
    """Return the post-dose visits of the repeated-measures analyses, in order.

    ``design.schedule`` keys in their configured order; without a schedule,
    only the primary visit (so a two-visit trial has no repeated measures).
    """
    schedule = cfg["design"].get("schedule") or {}
    return [str(v) for v in schedule] if schedule else [primary_visit(cfg)]


def scheduled_days(cfg: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Return the planned (day since dosing, window) of each scheduled post-dose visit."""
    schedule = cfg["design"].get("schedule") or {}
    return {
        str(v): (float(s["day"]), float(s.get("window", 0) or 0))
        for v, s in schedule.items()
    }


def _visit_design_issues(design: dict[str, Any], file: str) -> list[Issue]:
    """Cross-field checks of primary_visit, schedule and sites."""
    issues: list[Issue] = []
    tps = list(design["timepoints"])
    pv = design.get("primary_visit")
    if pv is not None and pv not in tps[1:]:
        issues.append(
            Issue(
                file,
                f"primary_visit '{pv}' is not a post-dose entry of design.timepoints "
                f"({', '.join(tps[1:]) or 'none'}); name one of them",
                column="design.primary_visit",
            )
        )
    schedule = design.get("schedule") or {}
    days: list[float] = []
    for visit, spec in schedule.items():
        if visit not in design["visits"]:
            issues.append(
                Issue(
                    file,
                    f"scheduled visit '{visit}' is not among design.visits "
                    f"({', '.join(design['visits'])}); add it there",
                    column=f"design.schedule.{visit}",
                )
            )
        days.append(float(spec["day"]))
    if any(b <= a for a, b in itertools.pairwise(days)):
        issues.append(
            Issue(
                file,
                "design.schedule visits must be in chronological order with "
                f"increasing planned days (got {', '.join(f'{d:g}' for d in days)})",
                column="design.schedule",
            )
        )
    if schedule:
        primary = pv or (tps[1] if len(tps) > 1 else tps[0])
        if len(tps) > 1 and primary not in schedule:
            issues.append(
                Issue(
                    file,
                    f"the primary visit '{primary}' is not in design.schedule "
                    f"({', '.join(schedule)}); add it with its planned day",
                    column="design.schedule",
                )
            )
        for tp in tps[1:]:
            if tp not in schedule:
                issues.append(
                    Issue(
                        file,
                        f"post-dose timepoint '{tp}' is not in design.schedule "
                        f"({', '.join(schedule)}); add it with its planned day",
                        column="design.schedule",
                    )
                )
    return issues


def validate_config(config: dict[str, Any], file: str = "config/config.yaml") -> dict:
    """Validate a configuration dict and fill in defaults.

    Parameters
    ----------
    config
        The parsed configuration.
    file
        Name used in messages.

    Returns
    -------
    dict
        A deep copy with defaults filled in.

    Raises
    ------
    ValidationError
        With one issue per problem found.
    """
    schema = load_schema("config")
    cfg = copy.deepcopy(config) if config is not None else {}
    # imported here: jsonschema costs about 0.05 s, which the jobs that only
    # use this module's path helpers (e.g. resources_dir) do not need
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.FormatChecker()
    )
    issues = [
        Issue(file, describe_schema_error(e), column=_json_path(e))
        for e in sorted(
            validator.iter_errors(cfg), key=lambda e: list(map(str, e.path))
        )
    ]
    if issues:
        raise ValidationError(issues)
    _fill_defaults(schema, cfg)
    from exomir.reads.protocols import preset_table
    from exomir.species import resolve_references

    cfg["protocols"] = preset_table(cfg.get("protocols"))  # built-ins + overrides

    issues += resolve_references(cfg, file)
    issues += _study_shape_issues(cfg, file)
    if issues:
        raise ValidationError(issues)
    if not is_trial_study(cfg):
        return _qc_only_checks(cfg, file)
    design = cfg["design"]
    issues += _visit_design_issues(design, file)
    for tp in design["timepoints"]:
        if tp not in design["visits"]:
            issues.append(
                Issue(
                    file,
                    f"timepoint '{tp}' is not among design.visits "
                    f"({', '.join(design['visits'])}); add it so that clinical "
                    "values at that timepoint can be matched",
                    column="design.timepoints",
                )
            )
    from exomir.proteins.settings_analysis import protein_config_issues

    issues += protein_config_issues(cfg, file)
    trim = cfg["trimming"]
    if trim["min_length"] > trim["max_length"]:
        issues.append(
            Issue(
                file,
                f"min_length {trim['min_length']} is larger than max_length "
                f"{trim['max_length']}",
                column="trimming",
            )
        )
    if not cfg["trial"]["primary_mirna"].startswith(cfg["reference"]["species"] + "-"):
        issues.append(
            Issue(
                file,
                f"primary_mirna '{cfg['trial']['primary_mirna']}' does not start with "
                f"the species prefix '{cfg['reference']['species']}-'",
                column="trial.primary_mirna",
            )
        )
    for code, spec in cfg["clinical_parameters"].items():
        if spec["kind"] in ("binary", "ordinal") and not spec.get("categories"):
            issues.append(
                Issue(
                    file,
                    f"{spec['kind']} parameter needs its 'categories' listed in order",
                    column=f"clinical_parameters.{code}",
                )
            )
    if issues:
        raise ValidationError(issues)
    return cfg


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, validate and complete a configuration file.

    Parameters
    ----------
    path
        Path to ``config.yaml``.

    Returns
    -------
    dict
        The validated configuration with defaults filled in.

    Raises
    ------
    ValidationError
        If the file is missing, is not valid YAML, or breaks the schema.
    """
    p = Path(path)
    if not p.is_file():
        raise ValidationError(
            [Issue(str(path), "the configuration file does not exist")]
        )
    from exomir.config_guard import refuse_config_code

    refuse_config_code(p, str(path))  # YTE, YAML tags, template syntax
    try:
        with open(p, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ValidationError([Issue(str(path), f"not valid YAML: {exc}")]) from exc
    except UnicodeDecodeError as exc:
        from exomir.tables import decode_issue

        raise ValidationError([decode_issue(p, str(path), exc)]) from exc
    if not isinstance(data, dict):
        raise ValidationError(
            [Issue(str(path), "the file must hold a mapping of settings (key: value)")]
        )
    return validate_config(data, str(path))
