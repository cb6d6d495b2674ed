"""Clinical analysis dataset: settings, unit conversion, populations, wide values.

The long ``clinical_measurements.tsv`` (analysis_spec §5.3) becomes one row per
participant and parameter with the baseline value ``bl``, the follow-up value
``wk1`` and the change ``chg = wk1 - bl``:

* replicate readings of a visit (e.g. two blood-pressure readings) and rows of
  both sides under one code are averaged;
* derived parameters (config ``clinical.derived``: MAP, the mean of the left and
  right uterine-artery indices) are computed from the visit means;
* binary parameters are coded 0/1 (second category = 1), ordinal parameters by
  the position of their category (0, 1, ...);
* a value in another unit is converted when the shipped conversion table lists
  the pair (``resources/clinical/unit_conversions.tsv``), else it is an error;
* a value outside the parameter's soft plausibility limits
  (:mod:`exomir.clinical.plausibility`; values outside the hard limits never
  get here, validation refuses them) is flagged in the ``flags`` column and
  listed in ``plausibility.tsv``; per ``clinical.soft_limit_action`` it is kept
  (``flag``) or left out of the visit mean (``exclude``), never silently.

Populations (analysis_spec §3): mITT = randomised and dosed, with a baseline
value and at least one post-dose value; PP = mITT without a major deviation,
``in_pp`` of disposition.tsv not false and the follow-up visit within
``clinical.pp_window_days`` of ``clinical.followup_target_day``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exomir.clinical.plausibility import (
    action_text,
    fmt,
)
from exomir.clinical.settings import (
    ClinicalSettings,
    ParamSpec,
)
from exomir.errors import Issue, ValidationError
from exomir.units import conversion_factor

log = logging.getLogger(__name__)

DATASET_COLUMNS = [
    "participant_id",
    "arm",
    "param",
    "bl",
    "wk1",
    "chg",
    "flags",
    "bl_cat",
    "wk1_cat",
    "bl_day",
    "wk1_day",
    "n_bl",
    "n_wk1",
    "in_mitt",
    "in_pp",
]

# ---------------------------------------------------------------------------
# Units (the conversion table itself: exomir.units)


def convert_units(
    clin: pd.DataFrame,
    settings: ClinicalSettings,
    conversions: pd.DataFrame | None,
    label: str = "clinical_measurements.tsv",
) -> pd.DataFrame:
    """Convert numeric values to each parameter's configured unit.

    Parameters
    ----------
    clin
        Clinical measurements (long).
    settings
        Clinical settings.
    conversions
        From :func:`exomir.units.load_unit_conversions`.
    label
        File name for messages.

    Returns
    -------
    pandas.DataFrame
        Copy with ``value_num`` and ``unit`` converted and a ``converted_from``
        column (original unit, empty when unchanged).

    Raises
    ------
    ValidationError
        For each row whose unit cannot be converted, naming participant,
        parameter and line.
    """
    out = clin.copy()
    for col in ("value_num", "value_cat", "days_since_dose"):
        # Optional sheet columns: absent means empty.
        if col not in out.columns:
            out[col] = None
    out["converted_from"] = ""
    issues: list[Issue] = []
    n_conv = 0
    for idx, rec in out.iterrows():
        spec = settings.params.get(rec["param"])
        if spec is None or rec["unit"] == spec.unit:
            continue
        fac = conversion_factor(conversions, rec["param"], rec["unit"], spec.unit)
        if fac is None:
            issues.append(
                Issue(
                    label,
                    f"unit '{rec['unit']}' of {rec['param']} cannot be converted to "
                    f"the configured unit '{spec.unit}' (no entry in the unit "
                    "conversion table, config clinical.unit_conversions)",
                    line=int(rec["_line"]) if "_line" in rec else None,
                    column="unit",
                    row_id=f"participant_id={rec['participant_id']}, "
                    f"visit={rec['visit']}, param={rec['param']}",
                )
            )
            continue
        if spec.kind == "continuous" and _present(rec.get("value_num")):
            out.at[idx, "value_num"] = float(rec["value_num"]) * fac
        out.at[idx, "converted_from"] = rec["unit"]
        out.at[idx, "unit"] = spec.unit
        n_conv += 1
    if issues:
        raise ValidationError(issues)
    if n_conv:
        log.warning("%d clinical value(s) converted to the configured unit", n_conv)
    return out


def _present(v: Any) -> bool:
    return (
        v is not None and not (isinstance(v, float) and np.isnan(v)) and v is not pd.NA
    )


# ---------------------------------------------------------------------------
# Populations


def _as_bool(v: Any) -> bool | None:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "yes", "y", "1"):
            return True
        if low in ("false", "no", "n", "0"):
            return False
        return None
    return bool(v)


def populations(
    participants: pd.DataFrame,
    disposition: pd.DataFrame | None,
    clin: pd.DataFrame,
    settings: ClinicalSettings,
) -> pd.DataFrame:
    """Analysis populations per participant.

    Parameters
    ----------
    participants
        participants.tsv (``participant_id``, ``arm``).
    disposition
        disposition.tsv or ``None`` (then everybody in participants.tsv counts
        as randomised and dosed).
    clin
        Clinical measurements (long).
    settings
        Clinical settings.

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``arm``, ``randomised``, ``dosed``,
        ``has_baseline``, ``has_postdose``, ``followup_day``, ``in_mitt``,
        ``in_pp`` and ``pp_reason`` (why a mITT participant is not PP), sorted
        by participant.
    """
    par = participants.drop_duplicates("participant_id").copy()
    out = pd.DataFrame(
        {
            "participant_id": par["participant_id"].astype(str).to_numpy(),
            "arm": par["arm"].astype(str).to_numpy(),
        }
    ).set_index("participant_id", drop=False)
    out["randomised"] = True
    out["dosed"] = True
    dev: dict[str, str] = {}
    disp_pp: dict[str, bool | None] = {}
    disp_mitt: dict[str, bool | None] = {}
    if disposition is not None:
        d = disposition[disposition["participant_id"].notna()]
        d = d.drop_duplicates("participant_id").set_index("participant_id")
        for pid in out.index:
            if pid not in d.index:
                out.at[pid, "randomised"] = False
                out.at[pid, "dosed"] = False
                continue
            row = d.loc[pid]
            out.at[pid, "randomised"] = bool(_as_bool(row.get("randomized")))
            out.at[pid, "dosed"] = bool(_as_bool(row.get("dosed")))
            md = row.get("major_deviation")
            if isinstance(md, str) and md.strip():
                dev[pid] = md.strip()
            disp_pp[pid] = _as_bool(row.get("in_pp"))
            disp_mitt[pid] = _as_bool(row.get("in_mitt"))
    c = clin[clin["participant_id"].isin(out.index)]
    # values of later scheduled visits do not make a week-1 population
    c = c[~c["visit"].isin(settings.later_visits)]
    if "days_since_dose" not in c.columns:
        c = c.assign(days_since_dose=np.nan)
    bl = set(c.loc[c["visit"] == settings.baseline_visit, "participant_id"])
    days = pd.to_numeric(c["days_since_dose"], errors="coerce")
    post = set(c.loc[days >= 1, "participant_id"]) | set(
        c.loc[c["visit"] == settings.followup_visit, "participant_id"]
    )
    fu = c[c["visit"] == settings.followup_visit]
    fu_day = (
        pd.to_numeric(fu["days_since_dose"], errors="coerce")
        .groupby(fu["participant_id"])
        .median()
    )
    out["has_baseline"] = out.index.isin(list(bl))
    out["has_postdose"] = out.index.isin(list(post))
    out["followup_day"] = fu_day.reindex(out.index).astype(float)
    out["in_mitt"] = (
        out["randomised"] & out["dosed"] & out["has_baseline"] & out["has_postdose"]
    )
    reasons = []
    for pid, row in out.iterrows():
        r: list[str] = []
        if not row["in_mitt"]:
            r.append("not in mITT")
        else:
            if pid in dev:
                r.append(f"major deviation: {dev[pid]}")
            if disp_pp.get(pid) is False:
                r.append("in_pp false in disposition.tsv")
            day = row["followup_day"]
            if not np.isfinite(day):
                r.append(f"no {settings.followup_visit} visit")
            elif abs(day - settings.followup_target_day) > settings.pp_window_days:
                r.append(
                    f"{settings.followup_visit} on day {day:g}, outside "
                    f"{settings.followup_target_day} +/- {settings.pp_window_days}"
                )
        reasons.append("; ".join(r))
    out["pp_reason"] = reasons
    out["in_pp"] = out["in_mitt"] & (out["pp_reason"] == "")
    for name, theirs in (("in_mitt", disp_mitt), ("in_pp", disp_pp)):
        differ = sorted(
            pid
            for pid, v in theirs.items()
            if v is not None and pid in out.index and bool(out.at[pid, name]) != v
        )
        if differ:
            log.warning(
                "%s derived here differs from disposition.tsv for %d participant(s): %s",
                name,
                len(differ),
                ", ".join(differ),
            )
    excluded = int((~out["in_mitt"]).sum())
    if excluded:
        log.warning(
            "%d participant(s) not in mITT (not randomised/dosed, no baseline or no "
            "post-dose value)",
            excluded,
        )
    return out.sort_index().reset_index(drop=True)


# ---------------------------------------------------------------------------
# Visit values and the analysis dataset


def _continuous_values(
    num: pd.DataFrame,
    settings: ClinicalSettings,
    flags: dict[tuple[str, str], list[str]],
    records: list[dict[str, Any]] | None,
    invert: bool,
) -> tuple[pd.DataFrame, int]:
    """Visit means of continuous readings; range and LLOQ flags per reading.

    Returns the values and the number of implausible readings.
    """
    keys = ["participant_id", "param", "visit"]
    num = num.copy()
    num["vnum"] = pd.to_numeric(num["value_num"], errors="coerce")
    num = num[num["vnum"].notna()]
    lo = num["param"].map(lambda k: (settings.params[k].range or (-np.inf, np.inf))[0])
    hi = num["param"].map(lambda k: (settings.params[k].range or (-np.inf, np.inf))[1])
    excluding = (settings.soft_limit_action == "exclude") != invert
    action = action_text(settings.soft_limit_action)
    n_range = 0
    implausible = (num["vnum"] < lo) | (num["vnum"] > hi)
    num["lineno"] = num["_line"] if "_line" in num.columns else ""
    for r in num[implausible].itertuples(index=False):
        spec = settings.params[r.param]
        flags.setdefault((r.participant_id, r.param), []).append(
            _soft_flag(r.visit, float(r.vnum), spec)
        )
        if records is not None:
            records.append(
                _finding(r.participant_id, r.visit, spec, float(r.vnum), action)
                | {"source_lines": str(r.lineno)}
            )
        n_range += 1
    if excluding:
        num = num[~implausible]
    if "lloq_flag" in num.columns:
        below = num[num["lloq_flag"].map(_as_bool).eq(True)]
        for (pid, param, visit), _g in below.groupby(keys, sort=True):
            flags.setdefault((pid, param), []).append(
                f"{visit} value below LLOQ (reported at the LLOQ)"
            )
    cont = (
        num.groupby(keys, sort=True)
        .agg(value=("vnum", "mean"), n=("vnum", "size"), day=("dayn", "median"))
        .reset_index()
    )
    cont["cat"] = None
    return cont, n_range


def _category_values(
    cat: pd.DataFrame,
    settings: ClinicalSettings,
    flags: dict[tuple[str, str], list[str]],
) -> pd.DataFrame:
    """Binary and ordinal visit values: position of the category, the highest if several."""
    keys = ["participant_id", "param", "visit"]
    cat = cat.copy()
    cat["posn"] = [
        settings.params[k].categories.index(str(v))
        if isinstance(v, str) and v in settings.params[k].categories
        else np.nan
        for k, v in zip(cat["param"], cat["value_cat"], strict=True)
    ]
    cat = cat[cat["posn"].notna()]
    cats = (
        cat.groupby(keys, sort=True)
        .agg(
            value=("posn", "max"),
            k=("posn", "nunique"),
            n=("posn", "size"),
            day=("dayn", "median"),
        )
        .reset_index()
    )
    for r in cats[cats["k"] > 1].itertuples(index=False):
        flags.setdefault((r.participant_id, r.param), []).append(
            f"{r.visit}: {r.k} different categories recorded; the highest is used"
        )
    cats["cat"] = [
        settings.params[k].categories[int(v)]
        for k, v in zip(cats["param"], cats["value"], strict=True)
    ]
    return cats


def _derived_values(
    spec: ParamSpec,
    vals: pd.DataFrame,
    flags: dict[tuple[str, str], list[str]],
    records: list[dict[str, Any]] | None,
    excluding: bool,
    action: str,
) -> tuple[pd.DataFrame | None, int]:
    """Visit values of one derived parameter from its components' visit values.

    Returns the values (``None`` without any component) and the number of
    implausible derived values.
    """
    n_range = 0
    comps = [k for k, _ in spec.weights]
    w = pd.Series(dict(spec.weights))
    sub = vals[vals["param"].isin(comps)]
    if sub.empty:
        return None, 0
    wide = sub.pivot(index=["participant_id", "visit"], columns="param", values="value")
    wide = wide.reindex(columns=comps)
    have = wide.notna()
    if spec.method == "weighted_sum":
        value = (wide * w).sum(axis=1, min_count=len(comps)).where(have.all(axis=1))
    else:
        tot = (have * w).sum(axis=1)
        value = (wide * w).sum(axis=1) / tot.where(tot > 0)
    for (pid, visit), ok in have.iterrows():
        missing = [k for k in comps if not ok[k]]
        if not missing:
            continue
        if spec.method == "weighted_sum":
            text = f"{visit}: {', '.join(missing)} missing; not derived"
        else:
            present = [k for k in comps if ok[k]]
            text = (
                f"{visit}: {', '.join(missing)} missing; mean of "
                f"{', '.join(present)} only"
            )
        flags.setdefault((pid, spec.code), []).append(text)
    if spec.range is not None:
        rl, rh = spec.range
        bad = (value < rl) | (value > rh)
        for (pid, visit), v in value[bad].items():
            flags.setdefault((pid, spec.code), []).append(
                _soft_flag(visit, float(v), spec)
            )
            if records is not None:
                records.append(
                    _finding(pid, visit, spec, float(v), action)
                    | {"note": f"derived from {', '.join(comps)}"}
                )
            n_range += 1
        if excluding:
            value = value.where(~bad)
    n = sub.groupby(["participant_id", "visit"])["n"].sum()
    day = sub.groupby(["participant_id", "visit"])["day"].median()
    dv = pd.DataFrame({"value": value, "n": n, "day": day}).dropna(subset=["value"])
    dv = dv.reset_index()
    dv["param"] = spec.code
    dv["cat"] = None
    return dv[["participant_id", "param", "visit", "value", "cat", "n", "day"]], n_range


def visit_values(
    clin: pd.DataFrame,
    settings: ClinicalSettings,
    invert: bool = False,
    records: list[dict[str, Any]] | None = None,
    visits: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, str], list[str]]]:
    """Per participant, parameter and visit: one value (means of replicates and sides).

    Parameters
    ----------
    clin
        Clinical measurements in the configured units.
    settings
        Clinical settings.
    invert
        Do the opposite of ``settings.soft_limit_action`` with implausible
        values (the sensitivity analysis); flags still describe the primary.
    records
        If given, one dict per implausible reading or derived value is
        appended (:data:`exomir.clinical.plausibility.FINDING_COLUMNS`).
    visits
        Visits kept (default: the baseline and follow-up visits; the
        repeated-measures analysis passes every scheduled visit).

    Returns
    -------
    values : pandas.DataFrame
        ``participant_id``, ``param``, ``visit``, ``value`` (float; category
        position for binary/ordinal), ``cat`` (category text), ``n`` (rows
        averaged) and ``day`` (days_since_dose), for the baseline and
        follow-up visits, including derived parameters.
    flags : dict
        (participant_id, param) -> flag texts (physiological range, LLOQ,
        missing side of a derived mean).
    """
    if visits is None:
        visits = [settings.baseline_visit, settings.followup_visit]
    c = clin[clin["visit"].isin(visits) & clin["param"].isin(settings.params)].copy()
    for col in ("value_num", "value_cat", "days_since_dose"):
        if col not in c.columns:
            c[col] = None
    flags: dict[tuple[str, str], list[str]] = {}
    excluding = (settings.soft_limit_action == "exclude") != invert
    action = action_text(settings.soft_limit_action)
    c["dayn"] = pd.to_numeric(c["days_since_dose"], errors="coerce")
    kind = c["param"].map({k: p.kind for k, p in settings.params.items()})
    cont, n_range = _continuous_values(
        c[kind == "continuous"], settings, flags, records, invert
    )
    cats = _category_values(c[kind != "continuous"], settings, flags)
    cols = ["participant_id", "param", "visit", "value", "cat", "n", "day"]
    vals = pd.concat([cont[cols], cats[cols]], ignore_index=True)
    vals["value"] = vals["value"].astype(float)
    derived = []
    for spec in settings.params.values():
        if spec.weights:
            dv, n_out = _derived_values(spec, vals, flags, records, excluding, action)
            n_range += n_out
            if dv is not None:
                derived.append(dv)
    if derived:
        vals = pd.concat([vals, *derived], ignore_index=True)
    if n_range and not invert:
        log.warning(
            "%d clinical value(s) outside the soft plausibility limits (implausible); "
            "flagged and listed in results/clinical/plausibility.tsv; %s",
            n_range,
            action,
        )
    return vals, flags


def _soft_flag(visit: str, value: float, spec: ParamSpec) -> str:
    """Flag text of a value outside the soft limits (analysis_dataset ``flags``)."""
    rl, rh = spec.range  # type: ignore[misc]
    return (
        f"{visit} value {fmt(value)} outside soft limits {fmt(rl)}-{fmt(rh)} "
        f"{spec.unit} (implausible)"
    )


def _finding(
    pid: str, visit: str, spec: ParamSpec, value: float, action: str
) -> dict[str, Any]:
    """One row of ``plausibility.tsv``."""
    rl, rh = spec.range  # type: ignore[misc]
    return {
        "participant_id": pid,
        "visit": visit,
        "param": spec.code,
        "value": value,
        "unit": spec.unit,
        "soft_low": rl,
        "soft_high": rh,
        "limit_source": spec.limit_source,
        "source_lines": "",
        "action": action,
        "note": "",
    }


def analysis_dataset(
    clin: pd.DataFrame,
    pops: pd.DataFrame,
    settings: ClinicalSettings,
    invert: bool = False,
    records: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Wide analysis dataset: one row per participant and parameter.

    Parameters
    ----------
    clin
        Clinical measurements in the configured units.
    pops
        From :func:`populations`.
    settings
        Clinical settings.
    invert, records
        As for :func:`visit_values` (``invert=True`` gives the dataset of the
        implausible-values sensitivity analysis).

    Returns
    -------
    pandas.DataFrame
        :data:`DATASET_COLUMNS`, sorted by participant and parameter (config
        order). Participants of participants.tsv without a value have empty
        ``bl``/``wk1``.
    """
    vals, flags = visit_values(clin, settings, invert, records)
    order = {code: i for i, code in enumerate(settings.params)}
    names = {settings.baseline_visit: "bl", settings.followup_visit: "wk1"}
    v = vals.assign(visit=vals["visit"].map(names))
    wide = v.pivot(index=["participant_id", "param"], columns="visit")
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    for col in (
        "value_bl",
        "value_wk1",
        "cat_bl",
        "cat_wk1",
        "day_bl",
        "day_wk1",
        "n_bl",
        "n_wk1",
    ):
        if col not in wide.columns:
            wide[col] = np.nan
    wide = wide.reset_index()
    p = pops.set_index("participant_id")
    wide = wide[wide["participant_id"].isin(p.index)]
    df = pd.DataFrame(
        {
            "participant_id": wide["participant_id"],
            "arm": wide["participant_id"].map(p["arm"]),
            "param": wide["param"],
            "bl": wide["value_bl"].astype(float),
            "wk1": wide["value_wk1"].astype(float),
        }
    )
    df["chg"] = df["wk1"] - df["bl"]
    df["flags"] = [
        "; ".join(flags.get((a, b), []))
        for a, b in zip(df["participant_id"], df["param"], strict=True)
    ]
    df["bl_cat"] = wide["cat_bl"].where(wide["cat_bl"].notna(), None)
    df["wk1_cat"] = wide["cat_wk1"].where(wide["cat_wk1"].notna(), None)
    df["bl_day"] = wide["day_bl"].astype(float)
    df["wk1_day"] = wide["day_wk1"].astype(float)
    df["n_bl"] = wide["n_bl"].fillna(0).astype(int)
    df["n_wk1"] = wide["n_wk1"].fillna(0).astype(int)
    df["in_mitt"] = df["participant_id"].map(p["in_mitt"]).astype(bool)
    df["in_pp"] = df["participant_id"].map(p["in_pp"]).astype(bool)
    df["_o"] = df["param"].map(order)
    df = df.sort_values(["participant_id", "_o"], kind="mergesort").drop(columns="_o")
    return df[DATASET_COLUMNS].reset_index(drop=True)


def flag_table(dataset: pd.DataFrame, label: str) -> pd.DataFrame:
    """Long list of data flags (file, participant, parameter, flag) for the report."""
    rows = []
    for r in dataset[dataset["flags"].fillna("") != ""].itertuples(index=False):
        for f in str(r.flags).split("; "):
            rows.append(
                {
                    "file": label,
                    "participant_id": r.participant_id,
                    "param": r.param,
                    "flag": f,
                }
            )
    return pd.DataFrame(rows, columns=["file", "participant_id", "param", "flag"])


def covariate_frame(participants: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """participants.tsv columns indexed by participant (for the models)."""
    par = participants.drop_duplicates("participant_id").set_index("participant_id")
    keep = [c for c in columns if c in par.columns]
    return par[keep].copy()
