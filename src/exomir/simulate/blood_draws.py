"""Small-RNA blood draws at the later timepoints of a long trial.

``trial.timepoints`` after the second (e.g. ``month3``) are scheduled visits;
every participant who attends such a visit gives one more library. Its batch,
kit, extraction batch and sequencing run are those of the participant's
baseline library (all libraries of a participant are prepared together); its
depth, haemolysis, A414, time to spin and LMWH exposure are drawn as for the
first two timepoints, from the long trial's own generator, so the libraries of
the two-visit trial keep their bytes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from exomir.simulate import trial as trial_mod
from exomir.simulate.followup import FollowUp, stream

__all__ = ["extra_samples", "visit_suffix"]

_VISIT_RE = re.compile(r"^(day|week|month|year)(\d+)$")


def visit_suffix(visit: str) -> str:
    """Sample-ID suffix of a timepoint: ``month3`` -> ``M3``, ``week2`` -> ``W2``.

    Other names are upper-cased (``followup`` -> ``FOLLOWUP``).
    """
    m = _VISIT_RE.match(visit)
    if m:
        return f"{m.group(1)[0].upper()}{m.group(2)}"
    return re.sub(r"[^A-Za-z0-9]", "", visit).upper()


def extra_samples(
    roster: pd.DataFrame,
    samples: pd.DataFrame,
    info: pd.DataFrame,
    fu: FollowUp,
    params: Mapping[str, Any],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample-sheet rows and library truth of the later blood draws.

    Parameters
    ----------
    roster
        Participants.
    samples, info
        The first two timepoints' ``samples.tsv`` and library truth
        (:func:`exomir.simulate.trial.simulate_samples`).
    fu
        Attendance of the later visits.
    params
        Resolved parameters.
    seed
        Seed of the scenario.

    Returns
    -------
    samples : pandas.DataFrame
        Rows to add to ``samples.tsv`` (same columns), by ``sample_id``.
    library_info : pandas.DataFrame
        Rows to add to the library truth (same columns), same order.
    """
    tps = list(params["trial"]["timepoints"])[2:]
    cols_s, cols_i = list(samples.columns), list(info.columns)
    if not tps:
        return samples.iloc[:0].copy(), info.iloc[:0].copy()
    lib = params["library"]
    rng = stream(seed, "samples")
    base = samples[samples["timepoint"] == params["trial"]["timepoints"][0]]
    base = base.set_index("participant_id")
    att = fu.visits[fu.visits["attended"] & fu.visits["visit"].isin(tps)]
    day_of = {
        (p, v): int(d)
        for p, v, d in att[["participant_id", "visit", "day"]].itertuples(index=False)
    }
    site = dict(zip(roster["participant_id"], roster["site_id"], strict=True))
    mode = dict(zip(roster["participant_id"], roster["mode_of_delivery"], strict=True))
    dose = dict(zip(roster["participant_id"], roster["dose_date"], strict=True))
    rows = []
    for pid in roster["participant_id"]:
        for tp in tps:
            if (pid, tp) not in day_of:
                continue
            day = day_of[(pid, tp)]
            when = dt.datetime.combine(dose[pid], dt.time(8, 0)) + dt.timedelta(
                days=day, minutes=int(rng.integers(0, 240))
            )
            b = base.loc[pid]
            sid = f"{pid}_{visit_suffix(tp)}"
            rows.append(
                {
                    **{c: b[c] for c in cols_s if c in b.index},
                    "sample_id": sid,
                    "participant_id": pid,
                    "timepoint": tp,
                    "collection_datetime": when.isoformat(timespec="seconds"),
                    "days_since_dose": day,
                    "fastq": f"data/fastq/{sid}.fastq.gz",
                }
            )
    s = pd.DataFrame(rows, columns=cols_s)
    n = len(s)
    if n == 0:
        return s, info.iloc[:0].copy()
    depth, low = trial_mod._depths(lib, n, rng)
    hem, a414 = trial_mod._hemolysis(lib, n, rng)
    sites = s["participant_id"].map(site)
    a414_site = sites.isin(list(lib["a414_sites"])).to_numpy()
    s["hemolysis_a414"] = np.where(a414_site, a414, np.nan)
    s["minutes_to_spin"] = rng.gamma(
        4.0, float(lib["minutes_to_spin_mean"]) / 4.0, n
    ).round(0)
    cesarean = s["participant_id"].map(mode).eq("cesarean").to_numpy()
    s["lmwh_24h"] = rng.random(n) < np.where(cesarean, 1.4, 0.6) * lib["lmwh_frac"]
    s["days_since_dose"] = s["days_since_dose"].astype(int)
    batch = dict(zip(info["sample_id"], info["library_batch"], strict=True))
    bl_sid = dict(zip(base.index, base["sample_id"], strict=True))
    extra_info = pd.DataFrame(
        {
            "sample_id": s["sample_id"],
            "participant_id": s["participant_id"],
            "timepoint": s["timepoint"],
            "depth": depth,
            "protocol": s["protocol"],
            "hemolysis_factor": hem.round(3),
            "library_batch": [batch[bl_sid[p]] for p in s["participant_id"]],
            "low_yield": low,
            "hemolysis_hemolysed": hem > 1.0,
        }
    ).rename(columns={"hemolysis_hemolysed": "hemolysed"})
    return s[cols_s].reset_index(drop=True), extra_info[cols_i].reset_index(drop=True)
