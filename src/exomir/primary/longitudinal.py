"""Repeated measures of the primary miRNA (``results/primary/mmrm.tsv``).

The log2 normalised level of ``trial.primary_mirna`` (as in the primary
ANCOVA: :func:`exomir.primary.data.sample_values`) at every post-dose blood
draw of ``design.timepoints`` enters an MMRM (:mod:`exomir.stats.mmrm`) with
the pre-dose level as baseline, the strata and ``primary.covariates``; mITT
(every participant of the two arms with a baseline and at least one
post-dose level) and, when disposition.tsv has ``in_pp``, PP.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from exomir.primary.data import sample_values
from exomir.primary.settings import PrimarySettings
from exomir.stats.mmrm_table import (
    LongitudinalSettings,
    mmrm_figure,
    mmrm_frame,
    mmrm_rows,
    participant_covariates,
)

log = logging.getLogger("exomir.primary")


def mirna_long(
    values: pd.DataFrame,
    participants: pd.DataFrame,
    settings: PrimarySettings,
    visits: list[str],
) -> tuple[pd.DataFrame, list[str]]:
    """Long post-dose levels with the baseline level and numeric covariates.

    Returns the table and the covariate columns.
    """
    par = participants.drop(columns=["_line"], errors="ignore").copy()
    par["participant_id"] = par["participant_id"].astype(str)
    par = par[par["arm"].isin([settings.reference_arm, settings.arm])]
    par = par.drop_duplicates("participant_id").set_index("participant_id")
    v = values[values["participant_id"].isin(par.index) & values["y"].notna()]
    if v.duplicated(["participant_id", "timepoint"]).any():
        # several libraries of one draw (re-sequenced): their mean
        v = v.groupby(["participant_id", "timepoint"], as_index=False)["y"].mean()
    bl = v[v["timepoint"] == settings.reference_timepoint].set_index("participant_id")[
        "y"
    ]
    post = v[v["timepoint"].isin(visits)]
    long = pd.DataFrame(
        {
            "participant_id": post["participant_id"].astype(str).to_numpy(),
            "visit": post["timepoint"].astype(str).to_numpy(),
            "value": post["y"].astype(float).to_numpy(),
        }
    )
    long["baseline"] = long["participant_id"].map(bl).astype(float)
    long["arm"] = long["participant_id"].map(par["arm"]).astype(str)
    return participant_covariates(
        long, par, [*settings.strata, *settings.covariates], []
    )


def primary_mmrm(
    adata: Any,
    participants: pd.DataFrame,
    settings: PrimarySettings,
    long_settings: LongitudinalSettings,
    disposition: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """MMRM rows of the primary miRNA (mITT, and PP when ``in_pp`` is known)."""
    visits = list(long_settings.mirna_visits)
    long, covs = mirna_long(
        sample_values(adata, settings), participants, settings, visits
    )
    pops = {"mITT": long}
    if disposition is not None and "in_pp" in disposition.columns:
        d = disposition[disposition["participant_id"].notna()]
        pp = d.drop_duplicates("participant_id").set_index("participant_id")["in_pp"]
        keep = [
            pid
            for pid, val in pp.items()
            if isinstance(val, bool | np.bool_) and bool(val)
        ]
        pops["PP"] = long[long["participant_id"].isin([str(k) for k in keep])]
    rows: list[dict[str, Any]] = []
    for pop, d in pops.items():
        rows += mmrm_rows(
            d,
            endpoint=settings.mirna,
            population=pop,
            visits=visits,
            arms=(settings.reference_arm, settings.arm),
            covariates=covs,
            settings=long_settings,
        )
    return mmrm_frame(rows)


def primary_mmrm_step(
    *,
    h5ad: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    table: str | os.PathLike[str],
    figure: str | os.PathLike[str],
    settings: PrimarySettings,
    longitudinal: LongitudinalSettings,
    disposition: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Write ``results/primary/mmrm.tsv`` and its figure (rule ``primary_mmrm``)."""
    import anndata as ad

    from exomir.tables import read_table, write_table

    res = primary_mmrm(
        ad.read_h5ad(h5ad),
        read_table(participants, "participants"),
        settings,
        longitudinal,
        read_table(disposition, "disposition") if disposition else None,
    )
    write_table(res, table)
    mmrm_figure(
        res,
        figure,
        title=f"{settings.mirna} over the blood draws",
        ylabel=f"log2 level, {settings.arm} - {settings.reference_arm}",
    )
    log.info(
        "primary miRNA MMRM over %d draws: covariance %s",
        len(longitudinal.mirna_visits),
        ", ".join(sorted(set(res["covariance"].dropna().astype(str)) - {""})) or "none",
    )
    return res
