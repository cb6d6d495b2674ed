"""Safety-lab shift tables: low/normal/high at baseline vs follow-up, by arm.

Reference ranges come from config ``lab_reference_ranges`` (param -> low,
high, source). The defaults are approximate ranges for women in the first
postpartum weeks and are marked as assumptions: replace them with the site
laboratory's ranges. A value below ``low`` is ``low``, above ``high`` is
``high``, otherwise ``normal``; replicates of a visit are averaged first.
Participants of the safety population without a value at a visit get the
class ``missing`` so that every arm's counts add up to its size.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from exomir.clinical.safety_settings import SafetySettings

log = logging.getLogger(__name__)

CLASSES = ["low", "normal", "high", "missing"]
SHIFT_COLUMNS = [
    "param",
    "arm",
    "baseline_class",
    "week1_class",
    "n",
    "n_arm",
    "low_limit",
    "high_limit",
    "unit",
    "range_source",
]


def classify(values: pd.Series, low: float, high: float) -> pd.Series:
    """``low`` / ``normal`` / ``high`` / ``missing`` against a reference range."""
    v = pd.to_numeric(values, errors="coerce")
    out = np.where(v < low, "low", np.where(v > high, "high", "normal"))
    return pd.Series(np.where(v.isna(), "missing", out), index=values.index)


def shift_table(
    clinical: pd.DataFrame,
    population: pd.DataFrame,
    arms: list[str],
    ranges: Mapping[str, Mapping[str, Any]],
    visits: tuple[str, str],
) -> pd.DataFrame:
    """Shift counts for every parameter with a reference range.

    Parameters
    ----------
    clinical
        clinical_measurements.tsv (long).
    population
        Safety population (``participant_id``, ``arm``).
    arms
        ``design.arms``.
    ranges
        Param -> ``{low, high, unit, source}``.
    visits
        Baseline and follow-up visit codes.

    Returns
    -------
    pandas.DataFrame
        ``SHIFT_COLUMNS``; every class combination is present (zeros
        included). The follow-up class column is named ``week1_class`` as in
        the output contract whatever the visit is called.
    """
    bl, fu = visits
    rows = []
    for param in sorted(ranges):
        r = ranges[param]
        c = clinical[(clinical["param"] == param) & clinical["visit"].isin([bl, fu])]
        wide = (
            c.assign(v=pd.to_numeric(c["value_num"], errors="coerce"))
            .groupby(["participant_id", "visit"])["v"]
            .mean()
            .unstack("visit")
        )
        base = population.set_index("participant_id")[["arm"]]
        for v in (bl, fu):
            base[v] = wide[v] if v in wide.columns else np.nan
        base["b"] = classify(base[bl], r["low"], r["high"])
        base["f"] = classify(base[fu], r["low"], r["high"])
        for a in arms:
            sub = base[base["arm"] == a]
            for cb in CLASSES:
                for cf in CLASSES:
                    rows.append(
                        {
                            "param": param,
                            "arm": a,
                            "baseline_class": cb,
                            "week1_class": cf,
                            "n": int(((sub["b"] == cb) & (sub["f"] == cf)).sum()),
                            "n_arm": len(sub),
                            "low_limit": r["low"],
                            "high_limit": r["high"],
                            "unit": r.get("unit", ""),
                            "range_source": r.get("source", ""),
                        }
                    )
    return pd.DataFrame(rows, columns=SHIFT_COLUMNS)


def lab_shifts_from_files(
    *,
    clinical_measurements: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    disposition: str | os.PathLike[str] | None,
    table: str | os.PathLike[str],
    settings: SafetySettings,
) -> pd.DataFrame:
    """Read the declared sheets and write results/clinical/lab_shifts.tsv."""
    from exomir.clinical.adverse_events import safety_population
    from exomir.tables import read_table, write_table

    part = read_table(participants, "participants", settings.label("participants"))
    disp = (
        read_table(disposition, "disposition", settings.label("disposition"))
        if disposition
        else None
    )
    clin = read_table(
        clinical_measurements,
        "clinical_measurements",
        settings.label("clinical_measurements"),
    )
    pop = safety_population(part, disp)
    bl, fu = settings.lab_visits
    out = shift_table(
        clin, pop, list(settings.arms), dict(settings.lab_ranges), (bl, fu)
    )
    write_table(out, table)
    return out
