"""Plausibility of clinical values: hard limits, soft limits, unit look-alikes.

Every continuous clinical parameter (measured or derived) has two pairs of
limits in its configured unit:

* **hard** limits: a value outside is physiologically impossible (SBP 900 mmHg,
  Hb -3 g/dL). ``exomir validate`` and the workflow refuse it, naming file,
  line, column, value and limit, and say which other unit of the same quantity
  the value would fit (Hb 115 "g/dL" looks like g/L, SBP 16 "mm[Hg]" like kPa);
* **soft** limits: a value outside is implausible but possible. It is kept,
  flagged in the analysis dataset, listed in ``plausibility.tsv`` and the
  reports and, per ``clinical.soft_limit_action``, kept in or excluded from the
  primary endpoint analysis with a sensitivity analysis doing the opposite.

Limits come from config ``clinical_parameters.<P>.limits`` (or
``clinical.derived.<P>.limits``) and otherwise from the shipped table
``clinical.plausibility_limits`` (``resources/clinical/plausibility_limits.tsv``,
one row per parameter code with its unit and source), converted to the
configured unit through the unit conversion table when the units differ. The
legacy ``range`` key is read as soft limits when ``limits.soft`` is absent.

Consistency rules between readings of the same participant, visit, side and
replicate (``clinical.ordered_pairs``, default DIABP < SYSBP) and the derived
parameters (MAP, means of sides) are checked against the same limits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.config import resolve_path
from exomir.errors import Issue, ValidationError
from exomir.units import conversion_factor, default_conversions

DEFAULT_TABLE = "@resources/clinical/plausibility_limits.tsv"
DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (("DIABP", "SYSBP"),)
ACTIONS = ("flag", "exclude")

#: Columns of ``results/clinical/plausibility.tsv``.
FINDING_COLUMNS = [
    "participant_id",
    "visit",
    "param",
    "value",
    "unit",
    "soft_low",
    "soft_high",
    "limit_source",
    "source_lines",
    "action",
    "note",
]


@dataclass(frozen=True)
class Limits:
    """Hard and soft limits of one parameter in its configured unit.

    Attributes
    ----------
    unit
        Configured unit the limits are in.
    hard, soft
        (low, high), inclusive; ``None`` = no limit of that kind.
    source
        Where the limits come from (config key or shipped table row).
    """

    unit: str
    hard: tuple[float, float] | None = None
    soft: tuple[float, float] | None = None
    source: str = ""


def fmt(v: float) -> str:
    """Format a number for messages (6 significant digits)."""
    return f"{v:.6g}"


def load_limit_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the shipped limits table (param, unit, hard/soft low/high, source).

    Raises
    ------
    ValidationError
        If the file is missing, lacks a column or has a non-numeric or
        inverted limit.
    """
    label = str(path)
    if not Path(path).is_file():
        raise ValidationError(
            [Issue(label, "plausibility limits table does not exist")]
        )
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    num = ["hard_low", "hard_high", "soft_low", "soft_high"]
    missing = [c for c in ["param", "unit", *num] if c not in df.columns]
    if missing:
        raise ValidationError(
            [Issue(label, f"missing column(s): {', '.join(missing)}", line=1)]
        )
    issues = []
    for c in num:
        df[c] = pd.to_numeric(df[c].replace("", np.nan), errors="coerce")
    for i, r in df.iterrows():
        for a, b in (("hard_low", "hard_high"), ("soft_low", "soft_high")):
            if np.isfinite(r[a]) and np.isfinite(r[b]) and r[a] > r[b]:
                issues.append(
                    Issue(label, f"{a} is above {b}", line=int(i) + 2, column=a)
                )
    if issues:
        raise ValidationError(issues)
    if "source" not in df.columns:
        df["source"] = ""
    return df


def _pair(v: Any) -> tuple[float, float] | None:
    if v is None:
        return None
    return float(v[0]), float(v[1])


def _table_limits(
    table: pd.DataFrame | None,
    code: str,
    unit: str,
    conversions: pd.DataFrame | None,
) -> Limits | None:
    """Limits of the shipped table for ``code``, converted to ``unit``."""
    if table is None:
        return None
    hit = table[table["param"] == code]
    if hit.empty:
        return None
    r = hit.iloc[0]
    fac = conversion_factor(conversions, code, str(r["unit"]), unit)
    if fac is None:
        return None

    def conv(lo: float, hi: float) -> tuple[float, float] | None:
        if not (np.isfinite(lo) or np.isfinite(hi)):
            return None
        return (
            float(lo * fac) if np.isfinite(lo) else -np.inf,
            float(hi * fac) if np.isfinite(hi) else np.inf,
        )

    note = "" if fac == 1.0 else f", converted from {r['unit']}"
    return Limits(
        unit=unit,
        hard=conv(r["hard_low"], r["hard_high"]),
        soft=conv(r["soft_low"], r["soft_high"]),
        source=f"shipped default (clinical.plausibility_limits{note})",
    )


def parameter_limits(
    config: Mapping[str, Any],
    base: str | os.PathLike[str] = ".",
    conversions: pd.DataFrame | None = None,
) -> dict[str, Limits]:
    """Limits of every continuous parameter, measured and derived.

    Parameters
    ----------
    config
        Validated configuration.
    base
        Scenario directory (for a relative ``clinical.plausibility_limits``).
    conversions
        Unit conversion table (to convert shipped limits to the configured
        unit); ``None`` = the one named by ``clinical.unit_conversions``.

    Returns
    -------
    dict
        Parameter code -> :class:`Limits` (parameters without any limit are
        left out).

    Raises
    ------
    ValidationError
        If a configured limit pair is inverted or soft limits lie outside the
        hard ones, or the shipped table is unreadable.
    """
    c = config.get("clinical") or {}
    rel = c.get("plausibility_limits", DEFAULT_TABLE)
    table = load_limit_table(resolve_path(rel, base)) if rel else None
    if conversions is None:
        conversions = default_conversions(config, Path(base))
    derived = c.get("derived")
    specs: list[tuple[str, str, Mapping[str, Any]]] = [
        (f"clinical_parameters.{k}", k, p)
        for k, p in config["clinical_parameters"].items()
        if p.get("kind") == "continuous"
    ]
    specs += [(f"clinical.derived.{k}", k, d) for k, d in (derived or {}).items()]
    out: dict[str, Limits] = {}
    issues: list[Issue] = []
    for key, code, p in specs:
        unit = str(p.get("unit", "1"))
        dflt = _table_limits(table, code, unit, conversions)
        lim = dict(p.get("limits") or {})
        hard = _pair(lim["hard"]) if "hard" in lim else (dflt.hard if dflt else None)
        if "soft" in lim:
            soft = _pair(lim["soft"])
        elif p.get("range") is not None:
            soft = _pair(p["range"])
        else:
            soft = dflt.soft if dflt else None
        src = [
            f"config {key}.limits" if lim else "",
            f"config {key}.range" if "soft" not in lim and p.get("range") else "",
            dflt.source if dflt and ("hard" not in lim or "soft" not in lim) else "",
        ]
        for name, pair in (("hard", hard), ("soft", soft)):
            if pair is not None and pair[0] > pair[1]:
                issues.append(
                    Issue(
                        "config/config.yaml",
                        f"{name} limits of {code}: low {fmt(pair[0])} is above high "
                        f"{fmt(pair[1])}",
                        column=f"{key}.limits.{name}",
                    )
                )
        if hard and soft and (soft[0] < hard[0] or soft[1] > hard[1]):
            issues.append(
                Issue(
                    "config/config.yaml",
                    f"soft limits {fmt(soft[0])}-{fmt(soft[1])} of {code} must lie "
                    f"within the hard limits {fmt(hard[0])}-{fmt(hard[1])} {unit}",
                    column=f"{key}.limits",
                )
            )
        if hard is None and soft is None:
            continue
        out[code] = Limits(
            unit=unit, hard=hard, soft=soft, source="; ".join(s for s in src if s)
        )
    if issues:
        raise ValidationError(issues)
    return out


def ordered_pairs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Pairs (lower, upper) that must satisfy lower < upper in one reading."""
    c = config.get("clinical") or {}
    pairs = c.get("ordered_pairs")
    if pairs is None:
        pairs = DEFAULT_PAIRS
    params = config["clinical_parameters"]
    return [(str(a), str(b)) for a, b in pairs if a in params and b in params]


def soft_limit_action(config: Mapping[str, Any]) -> str:
    """``flag`` (keep in the primary analysis) or ``exclude``."""
    return str((config.get("clinical") or {}).get("soft_limit_action", "flag"))


def unit_hint(
    value: float,
    param: str,
    given_unit: str,
    lim: Limits,
    conversions: pd.DataFrame | None,
) -> str:
    """Name the other unit(s) the raw value would fit.

    A unit qualifies when the conversion table converts it to the configured
    unit and the converted value lies within the soft limits (or the hard
    limits when there are no soft ones).

    Returns
    -------
    str
        E.g. ``"; it looks like a value in g/L (11.5 g/dL), check the unit"``,
        or ``""`` if no other unit fits.
    """
    window = lim.soft or lim.hard
    if window is None or conversions is None:
        return ""
    units = sorted(
        set(conversions.loc[conversions["to_unit"] == lim.unit, "from_unit"])
        | {lim.unit}
    )
    fits = []
    for u in units:
        if u == given_unit:
            continue
        fac = conversion_factor(conversions, param, u, lim.unit)
        if fac is None:
            continue
        conv = value * fac
        if window[0] <= conv <= window[1]:
            fits.append(f"{u} ({fmt(conv)} {lim.unit})")
    if not fits:
        return ""
    return f"; it looks like a value in {' or '.join(fits)}: check the unit"


def _converted(
    clin: pd.DataFrame, config: Mapping[str, Any], conversions: pd.DataFrame | None
) -> pd.DataFrame:
    """Numeric continuous rows with ``raw``, ``v`` (configured unit) and ``cunit``."""
    params = config["clinical_parameters"]
    keep = clin["param"].map(
        lambda k: k in params and params[k].get("kind") == "continuous"
    )
    c = clin[keep].copy()
    if "value_num" not in c.columns or c.empty:
        return c.iloc[0:0].assign(raw=[], v=[], cunit=[], lineno=[])
    c["raw"] = pd.to_numeric(c["value_num"], errors="coerce")
    c = c[c["raw"].notna()]
    cache: dict[tuple[str, str], float | None] = {}
    for pu in set(zip(c["param"], c["unit"].astype(str), strict=True)):
        cache[pu] = conversion_factor(
            conversions, pu[0], pu[1], str(params[pu[0]]["unit"])
        )
    facs = [cache[(p, str(u))] for p, u in zip(c["param"], c["unit"], strict=True)]
    c["fac"] = [np.nan if f is None else f for f in facs]
    c = c[c["fac"].notna()]
    c["v"] = c["raw"] * c["fac"]
    c["cunit"] = c["param"].map(lambda k: str(params[k]["unit"]))
    c["lineno"] = c["_line"].astype(int) if "_line" in c.columns else 0
    for col in ("laterality", "replicate"):
        if col not in c.columns:
            c[col] = ""
        c[col] = c[col].astype(object).where(c[col].notna(), "").astype(str)
    return c


def _rid(r: Any) -> str:
    return f"participant_id={r.participant_id}, visit={r.visit}, param={r.param}"


def check_clinical_plausibility(
    clin: pd.DataFrame,
    config: Mapping[str, Any],
    label: str,
    conversions: pd.DataFrame | None,
    base: str | os.PathLike[str] = ".",
) -> list[Issue]:
    """Hard-limit, unit and consistency errors of a clinical measurements table.

    Parameters
    ----------
    clin
        Table from :func:`exomir.tables.read_table` (``_line`` = file line).
    config
        Validated configuration.
    label
        File name for messages.
    conversions
        Unit conversion table or ``None``.
    base
        Scenario directory.

    Returns
    -------
    list[Issue]
        One issue per impossible reading (hard limits, with a unit hint), per
        reading pair breaking an ordered pair (DBP >= SBP) and per derived
        visit value outside its hard limits.
    """
    try:
        limits = parameter_limits(config, base, conversions)
    except ValidationError as exc:
        return list(exc.issues)
    issues: list[Issue] = []
    c = _converted(clin, config, conversions)
    hard_ok = []
    for r in c.itertuples(index=False):
        lim = limits.get(r.param)
        ok = lim is None or lim.hard is None or lim.hard[0] <= r.v <= lim.hard[1]
        hard_ok.append(ok)
        if ok:
            continue
        assert lim is not None and lim.hard is not None
        lo, hi = lim.hard
        shown = fmt(r.raw) + f" {r.unit}"
        if r.unit != r.cunit:
            shown += f" (= {fmt(r.v)} {r.cunit})"
        issues.append(
            Issue(
                label,
                f"{r.param} value {shown} is physiologically impossible: outside "
                f"the hard limits {fmt(lo)}-{fmt(hi)} {r.cunit} ({lim.source})"
                + unit_hint(float(r.raw), r.param, str(r.unit), lim, conversions),
                line=int(r.lineno),
                column="value_num",
                row_id=_rid(r),
            )
        )
    # Consistency and derived values only from possible readings (an
    # impossible reading is reported once, above).
    c = c[np.asarray(hard_ok, dtype=bool)] if len(c) else c
    key = ["participant_id", "visit", "laterality", "replicate"]
    for low, up in ordered_pairs(config):
        a = c[c["param"] == low].drop_duplicates(key)
        b = c[c["param"] == up].drop_duplicates(key)
        m = a.merge(b, on=key, suffixes=("_lo", "_up"))
        for r in m[m["v_lo"] >= m["v_up"]].itertuples(index=False):
            issues.append(
                Issue(
                    label,
                    f"{low} {fmt(r.v_lo)} is not below {up} {fmt(r.v_up)} "
                    f"{r.cunit_up} in the same reading (lines {int(r.lineno_lo)} and "
                    f"{int(r.lineno_up)}); this is impossible: check for swapped "
                    "columns or a typing error",
                    line=int(r.lineno_lo),
                    column="value_num",
                    row_id=f"participant_id={r.participant_id}, visit={r.visit}, "
                    f"param={low}",
                )
            )
    issues += _derived_issues(c, config, limits, label)
    return issues


def derived_visit_values(
    c: pd.DataFrame, config: Mapping[str, Any]
) -> list[tuple[str, str, str, float, list[int]]]:
    """Compute derived values per participant and visit from component visit means.

    Returns
    -------
    list
        (code, participant_id, visit, value, component lines).
    """
    out = []
    derived = (config.get("clinical") or {}).get("derived") or {}
    for code, d in derived.items():
        w = {k: float(x) for k, x in d["weights"].items()}
        sub = c[c["param"].isin(list(w))]
        if sub.empty:
            continue
        means = sub.groupby(["participant_id", "visit", "param"])["v"].mean()
        lines = sub.groupby(["participant_id", "visit"])["lineno"].apply(
            lambda s: sorted(int(x) for x in s)
        )
        wide = means.unstack("param").reindex(columns=list(w))
        for (pid, visit), row in wide.iterrows():
            have = row.notna()
            if d.get("method", "weighted_sum") == "weighted_sum":
                if not have.all():
                    continue
                value = float(sum(row[k] * w[k] for k in w))
            else:
                tot = sum(w[k] for k in w if have[k])
                if tot <= 0:
                    continue
                value = float(sum(row[k] * w[k] for k in w if have[k]) / tot)
            out.append((code, str(pid), str(visit), value, lines[(pid, visit)]))
    return out


def _derived_issues(
    c: pd.DataFrame,
    config: Mapping[str, Any],
    limits: Mapping[str, Limits],
    label: str,
) -> list[Issue]:
    issues = []
    for code, pid, visit, value, lines in derived_visit_values(c, config):
        lim = limits.get(code)
        if lim is None or lim.hard is None:
            continue
        lo, hi = lim.hard
        if lo <= value <= hi:
            continue
        issues.append(
            Issue(
                label,
                f"derived {code} {fmt(value)} {lim.unit} (from lines "
                f"{', '.join(str(x) for x in lines)}) is physiologically impossible: "
                f"outside the hard limits {fmt(lo)}-{fmt(hi)} {lim.unit} "
                f"({lim.source})",
                column="value_num",
                row_id=f"participant_id={pid}, visit={visit}, param={code}",
            )
        )
    return issues


def action_text(action: str) -> str:
    """Describe what happens to a soft-limit value (listings and reports)."""
    if action == "exclude":
        return (
            "excluded from the primary analysis; included in the sensitivity "
            "analysis including_implausible"
        )
    return (
        "kept in the primary analysis; excluded in the sensitivity analysis "
        "excluding_implausible"
    )


def sensitivity_label(action: str) -> str:
    """``analysis`` value of the endpoint row doing the opposite of the primary."""
    return "including_implausible" if action == "exclude" else "excluding_implausible"


def other_visit_findings(clin: pd.DataFrame, settings: Any) -> list[dict[str, Any]]:
    """Soft-limit findings of visits outside the endpoint analysis.

    Screening, day-1 or unscheduled readings are not analysed, but an
    implausible one is still a data query for the site, so it is listed too
    (action: listed only).

    Parameters
    ----------
    clin
        Clinical measurements in the configured units.
    settings
        :class:`exomir.clinical.settings.ClinicalSettings`.

    Returns
    -------
    list of dict
        Rows of :data:`FINDING_COLUMNS`.
    """
    analysed = {settings.baseline_visit, settings.followup_visit}
    out: list[dict[str, Any]] = []
    if "value_num" not in clin.columns:
        return out
    c = clin[~clin["visit"].isin(analysed)]
    vals = pd.to_numeric(c["value_num"], errors="coerce")
    for idx, v in vals.items():
        spec = settings.params.get(c.at[idx, "param"])
        if spec is None or spec.kind != "continuous" or spec.range is None:
            continue
        if not np.isfinite(v) or spec.range[0] <= v <= spec.range[1]:
            continue
        out.append(
            {
                "participant_id": c.at[idx, "participant_id"],
                "visit": c.at[idx, "visit"],
                "param": spec.code,
                "value": float(v),
                "unit": spec.unit,
                "soft_low": spec.range[0],
                "soft_high": spec.range[1],
                "limit_source": spec.limit_source,
                "source_lines": str(c.at[idx, "_line"]) if "_line" in c.columns else "",
                "action": "listed only (visit not in the endpoint analysis)",
                "note": "",
            }
        )
    return out


def findings_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Sorted table of soft-limit findings (:data:`FINDING_COLUMNS`)."""
    df = pd.DataFrame(records, columns=FINDING_COLUMNS)
    return df.sort_values(
        ["participant_id", "visit", "param", "source_lines"], kind="mergesort"
    ).reset_index(drop=True)
