"""Checks of clinical_measurements.tsv against the configuration.

Part of the scenario validation (:func:`exomir.validate.validate_config_and_tables`):
participants, visits, parameters, domains, units (convertible through
:mod:`exomir.units`), values and duplicate visit records. The plausibility
limits are checked by :mod:`exomir.clinical.plausibility`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from exomir.errors import Issue
from exomir.units import conversion_factor


def _row_id(row: pd.Series, cols: list[str]) -> str:
    return ", ".join(f"{c}={row[c]}" for c in cols if c in row and row[c] is not None)


def _duplicate_measurements(clin: pd.DataFrame, label: str) -> list[Issue]:
    """Report the same participant, visit, parameter, side and replicate twice."""
    issues: list[Issue] = []
    key = ["participant_id", "visit", "param", "laterality", "replicate"]
    keyed = clin[[c for c in key if c in clin.columns] + ["_line"]].copy()
    for c in key:
        if c not in keyed.columns:
            keyed[c] = ""
    keyed[key] = keyed[key].astype(object).where(keyed[key].notna(), "")
    dup = keyed[keyed.duplicated(key, keep=False)]
    for k, grp in dup.groupby(key, sort=True):
        lines = ", ".join(str(x) for x in grp["_line"])
        side = f", laterality={k[3]}" if k[3] != "" else ""
        rep = f", replicate={k[4]}" if k[4] != "" else ""
        issues.append(
            Issue(
                label,
                f"duplicate measurement on lines {lines}: the same visit, parameter"
                f"{', side' if side else ''} and replicate appear more than once; "
                "number repeated readings in column replicate or remove the copy",
                row_id=f"participant_id={k[0]}, visit={k[1]}, param={k[2]}{side}{rep}",
                column="replicate",
            )
        )
    return issues


def _parameter_issues(
    rec: dict[str, Any],
    spec: dict[str, Any],
    conversions: pd.DataFrame | None,
    label: str,
    line: int,
    rid: str,
) -> list[Issue]:
    """Check one measurement's unit, domain and value against its parameter."""
    issues: list[Issue] = []
    if (
        rec["unit"] != spec["unit"]
        and conversion_factor(conversions, rec["param"], rec["unit"], spec["unit"])
        is None
    ):
        issues.append(
            Issue(
                label,
                f"unit '{rec['unit']}' is not the expected UCUM unit "
                f"'{spec['unit']}' for {rec['param']} and no conversion is known "
                "(config clinical.unit_conversions); convert the value",
                line=line,
                column="unit",
                row_id=rid,
            )
        )
    if rec["domain"] != spec["domain"]:
        issues.append(
            Issue(
                label,
                f"domain '{rec['domain']}' should be '{spec['domain']}' for "
                f"{rec['param']}",
                line=line,
                column="domain",
                row_id=rid,
            )
        )
    if spec["kind"] == "continuous":
        v = rec.get("value_num")
        if v is None:
            issues.append(
                Issue(
                    label,
                    f"{rec['param']} is numeric but value_num is empty",
                    line=line,
                    column="value_num",
                    row_id=rid,
                )
            )
        elif not isinstance(v, int | float):
            issues.append(
                Issue(
                    label,
                    f"'{v}' is not a number; {rec['param']} needs a numeric "
                    "value_num (decimal point, no unit or comparator)",
                    line=line,
                    column="value_num",
                    row_id=rid,
                )
            )
    else:
        cats = spec.get("categories", [])
        if rec.get("value_cat") not in cats:
            issues.append(
                Issue(
                    label,
                    f"'{rec.get('value_cat')}' is not a level of {rec['param']}; "
                    f"use one of: {', '.join(cats)}",
                    line=line,
                    column="value_cat",
                    row_id=rid,
                )
            )
    return issues


def check_clinical(
    clin: pd.DataFrame,
    cfg: dict[str, Any],
    known: set[str] | None,
    label: str,
    conversions: pd.DataFrame | None = None,
) -> list[Issue]:
    """Check clinical measurements: participants, visits, parameters and units.

    A unit other than the configured one is accepted when the unit conversion
    table lists the pair (the clinical stage converts the value); otherwise it
    is an error. The same participant, visit, parameter, side and replicate
    twice is an error (duplicate visit record).

    Parameters
    ----------
    clin
        Clinical measurements table.
    cfg
        Validated configuration.
    known
        Known participant IDs, or ``None``.
    label
        File name for messages.
    conversions
        Unit conversion table (:func:`exomir.units.load_unit_conversions`)
        or ``None`` (no conversion allowed).

    Returns
    -------
    list[Issue]
        Problems found.
    """
    issues: list[Issue] = []
    visits = cfg["design"]["visits"]
    params = cfg["clinical_parameters"]
    issues += _duplicate_measurements(clin, label)
    for rec in clin.to_dict("records"):
        rid = _row_id(pd.Series(rec), ["participant_id", "visit", "param"])
        line = int(rec["_line"])
        if known is not None and rec["participant_id"] not in known:
            issues.append(
                Issue(
                    label,
                    f"participant '{rec['participant_id']}' is not in participants.tsv",
                    line=line,
                    column="participant_id",
                    row_id=rid,
                )
            )
        if rec["visit"] not in visits:
            issues.append(
                Issue(
                    label,
                    f"'{rec['visit']}' is not a visit of this trial; use one of: "
                    f"{', '.join(visits)} (config design.visits)",
                    line=line,
                    column="visit",
                    row_id=rid,
                )
            )
        spec = params.get(rec["param"])
        if spec is None:
            issues.append(
                Issue(
                    label,
                    f"unknown parameter '{rec['param']}'; known parameters are: "
                    f"{', '.join(params)} (config clinical_parameters)",
                    line=line,
                    column="param",
                    row_id=rid,
                )
            )
            continue
        issues += _parameter_issues(rec, spec, conversions, label, line, rid)
    return issues
