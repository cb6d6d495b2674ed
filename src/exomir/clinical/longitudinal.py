"""Repeated measures of the clinical endpoints (``results/clinical/mmrm.tsv``).

For every continuous endpoint (analysis scale: log for ``transform: log``)
the values of every scheduled post-dose visit (``design.schedule``) enter an
MMRM (:mod:`exomir.stats.mmrm`) with the baseline value, the strata and the
endpoint's covariates, in each configured population. Visit values are built
as for the week-1 analysis (:func:`exomir.clinical.dataset.visit_values`:
replicates averaged, derived parameters computed, implausible values handled
per ``clinical.soft_limit_action``).

Visits are matched by visit code. A value whose ``days_since_dose`` lies
outside the visit's window (``design.schedule.<visit>.window``) stays in the
analysis (mITT: the participant attended the visit; dropping late visits would
make missingness depend on the schedule, not on the outcome) and is counted in
the ``notes`` of the endpoint's rows. mITT here is every randomised and
dosed participant with a baseline value (:func:`members`); the per-protocol
population is the week-1 one (``populations.tsv``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from exomir.clinical.dataset import convert_units, visit_values
from exomir.clinical.settings import ClinicalSettings, ParamSpec
from exomir.stats.mmrm_table import (
    LongitudinalSettings,
    mmrm_figure,
    mmrm_frame,
    mmrm_rows,
    participant_covariates,
)

log = logging.getLogger(__name__)

POPULATION_COLUMN = {"mITT": "in_mitt", "PP": "in_pp"}
MITT_PARTS = ("randomised", "dosed", "has_baseline")


def members(pops: pd.DataFrame, population: str) -> pd.DataFrame:
    """Participants of a population for the repeated-measures analysis.

    mITT is randomised, dosed and with a baseline value (the week-1 mITT also
    needs a value up to week 1; here any post-dose visit counts, and the
    model uses the visits observed); PP is the week-1 per-protocol set.
    """
    if population == "mITT" and all(c in pops.columns for c in MITT_PARTS):
        keep = pops[list(MITT_PARTS)].astype(bool).all(axis=1)
    else:
        keep = pops[POPULATION_COLUMN[population]].astype(bool)
    return pops[keep]


def window_notes(
    vals: pd.DataFrame, days: Mapping[str, tuple[float, float]]
) -> list[str]:
    """Count the values outside their visit's window (kept in the analysis), as notes."""
    out = []
    for visit, (day, window) in days.items():
        d = vals.loc[vals["visit"] == visit, "day"].astype(float).dropna()
        n = int((np.abs(d - day) > window).sum())
        if n:
            out.append(
                f"{n} {visit} value(s) outside day {day:g} +/- {window:g} (kept)"
            )
    return out


def endpoint_long(
    vals: pd.DataFrame,
    spec: ParamSpec,
    baseline_visit: str,
    visits: list[str],
    notes: list[str],
) -> pd.DataFrame:
    """Long post-dose values of one endpoint with the baseline, on the analysis scale."""
    v = vals[vals["param"] == spec.code]
    bl = v[v["visit"] == baseline_visit].set_index("participant_id")["value"]
    post = v[v["visit"].isin(visits)][["participant_id", "visit", "value", "day"]]
    post = post.assign(baseline=post["participant_id"].map(bl).astype(float))
    post["value"] = post["value"].astype(float)
    if spec.transform == "log":
        for c in ("value", "baseline"):
            bad = post[c].notna() & ~(post[c] > 0)
            if bad.any():
                notes.append(
                    f"{int(bad.sum())} non-positive {c} value(s) cannot be logged"
                )
            post[c] = np.log(post[c].where(post[c] > 0))
    return post


def clinical_mmrm(
    clin: pd.DataFrame,
    pops: pd.DataFrame,
    participants: pd.DataFrame,
    settings: ClinicalSettings,
    long_settings: LongitudinalSettings,
) -> pd.DataFrame:
    """MMRM rows of every continuous endpoint and population.

    Parameters
    ----------
    clin
        Clinical measurements in the configured units.
    pops
        ``populations.tsv`` (``participant_id``, ``arm``, ``in_mitt``, ``in_pp``).
    participants
        participants.tsv (strata and covariates).
    settings, long_settings
        Clinical and repeated-measures settings.

    Returns
    -------
    pandas.DataFrame
        :data:`exomir.stats.mmrm_table.MMRM_COLUMNS`, endpoints in config
        order, populations in configured order, visits in schedule order.
    """
    visits = list(long_settings.clinical_visits)
    vals, _ = visit_values(clin, settings, visits=[settings.baseline_visit, *visits])
    par = participants.drop_duplicates("participant_id").copy()
    par["participant_id"] = par["participant_id"].astype(str)
    par = par.set_index("participant_id")
    rows: list[dict[str, Any]] = []
    for spec in settings.endpoints:
        if spec.kind != "continuous":
            continue
        prep: list[str] = []
        long = endpoint_long(vals, spec, settings.baseline_visit, visits, prep)
        prep += window_notes(
            long, {v: long_settings.days[v] for v in visits if v in long_settings.days}
        )
        long, covs = participant_covariates(
            long, par, [*settings.strata, *spec.covariates], prep
        )
        for pop in settings.populations:
            p = members(pops, pop)
            arm = p.set_index("participant_id")["arm"]
            d = long[long["participant_id"].isin(arm.index)]
            d = d.assign(arm=d["participant_id"].map(arm))
            rows += mmrm_rows(
                d,
                endpoint=spec.code,
                population=pop,
                visits=visits,
                arms=(settings.reference_arm, settings.arm),
                covariates=covs,
                settings=long_settings,
                notes=prep,
            )
    return mmrm_frame(rows)


def read_populations(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``populations.tsv`` back (participant ids as text, booleans typed)."""
    p = pd.read_csv(path, sep="\t", dtype={"participant_id": str, "arm": str})
    for c in ("in_mitt", "in_pp", *MITT_PARTS):
        p[c] = p[c].astype(str).str.lower().eq("true")
    return p


def mmrm_from_files(
    *,
    participants: str | os.PathLike[str],
    clinical_measurements: str | os.PathLike[str],
    conversions: str | os.PathLike[str],
    populations: str | os.PathLike[str],
    table: str | os.PathLike[str],
    figure: str | os.PathLike[str],
    settings: Any,
    longitudinal: LongitudinalSettings,
) -> pd.DataFrame:
    """Write ``results/clinical/mmrm.tsv`` and its figure (rule ``clinical_mmrm``).

    ``settings`` is the clinical stage settings
    (:class:`exomir.clinical.stage.ClinicalStageSettings`).
    """
    from exomir.tables import read_table, write_table
    from exomir.units import load_unit_conversions

    cs: ClinicalSettings = settings.clinical
    label = settings.label("clinical_measurements")
    clin = convert_units(
        read_table(clinical_measurements, "clinical_measurements", label),
        cs,
        load_unit_conversions(conversions),
        label,
    )
    part = read_table(participants, "participants", settings.label("participants"))
    res = clinical_mmrm(clin, read_populations(populations), part, cs, longitudinal)
    write_table(res, table)
    labels = {
        p.code: f"{p.label} ({p.unit}{', log' if p.transform == 'log' else ''})"
        for p in cs.endpoints
    }
    pop = cs.populations[0] if cs.populations else "mITT"
    mmrm_figure(
        res,
        figure,
        title="Clinical endpoints over the visits",
        ylabel=f"{cs.arm} - {cs.reference_arm}",
        labels=labels,
        population=pop,
    )
    log.info(
        "clinical MMRM: %d endpoint(s), %d visit(s); covariance: %s",
        res["endpoint"].nunique(),
        len(longitudinal.clinical_visits),
        ", ".join(sorted(set(res["covariance"].dropna().astype(str)) - {""})) or "none",
    )
    return res
