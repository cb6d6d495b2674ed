"""The primary stage: every analysis of ``ANALYSES`` and the files it writes."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from exomir.primary.analyses import ancova, blank_row, clda
from exomir.primary.data import participant_table, sample_values
from exomir.primary.settings import (
    ANALYSES,
    RESULT_COLUMNS,
    TREATED,
    PrimarySettings,
    primary_settings,
)
from exomir.primary.tipping import tipping_point
from exomir.tables import read_table, write_table

log = logging.getLogger("exomir.primary")


def run_primary(
    adata: Any,
    participants: pd.DataFrame,
    settings: PrimarySettings | Mapping[str, Any],
    clinical: pd.DataFrame | None = None,
    disposition: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Primary ANCOVA and the sensitivity analyses.

    Parameters
    ----------
    adata
        AnnData from :func:`exomir.de.normalise`.
    participants
        Participants table.
    settings
        Primary settings (or a validated configuration to build them from).
    clinical
        Clinical measurements or ``None`` (platelet-count row then empty).
    disposition
        Disposition or ``None`` (per-protocol row then empty).

    Returns
    -------
    tuple
        Results (one row per analysis, in the order of ``ANALYSES``) and the
        per-participant analysis table.
    """
    s = (
        settings
        if isinstance(settings, PrimarySettings)
        else primary_settings(settings)
    )
    values = sample_values(adata, s)
    data = participant_table(values, participants, s, clinical, disposition)
    desc = dict(ANALYSES)
    rows = [ancova(data, s, (), "primary_ancova", desc["primary_ancova"])]
    rows.append(clda(values, data, s, "clda_mixed", desc["clda_mixed"]))
    for name, cols, need in (
        ("hemolysis_adjusted", ["hemolysis_bl", "hemolysis_fu"], "haemolysis miRNAs"),
        (
            "platelet_count_adjusted",
            ["platelet_count_bl", "platelet_count_fu"],
            f"clinical parameter {s.platelet_param}",
        ),
        (
            "platelet_mirna_adjusted",
            ["platelet_mirna_bl", "platelet_mirna_fu"],
            "platelet miRNAs",
        ),
    ):
        if data[cols].isna().all().all():
            rows.append(blank_row(name, desc[name], s, f"not estimable: no {need}"))
        else:
            rows.append(ancova(data, s, cols, name, desc[name]))
    treated_dose = data.loc[data[TREATED] == 1, "dose_log10_centred"].dropna()
    if treated_dose.empty:
        why = "no dose_particles for treated participants"
    elif treated_dose.std(ddof=0) < 1e-12:
        why = "the dose does not vary among treated participants"
    else:
        why = ""
    if why:
        rows.append(
            blank_row(
                "dose_adjusted", desc["dose_adjusted"], s, f"not estimable: {why}"
            )
        )
    else:
        rows.append(
            ancova(
                data, s, ["dose_log10_centred"], "dose_adjusted", desc["dose_adjusted"]
            )
        )
    if data["in_pp"].isna().all():
        rows.append(
            blank_row(
                "per_protocol",
                desc["per_protocol"],
                s,
                "not estimable: no in_pp in disposition.tsv",
            )
        )
    else:
        pp = data[data["in_pp"] == True]  # noqa: E712 (object column)
        rows.append(ancova(pp, s, (), "per_protocol", desc["per_protocol"]))
    tip_row, _tip = tipping_point(data, s, desc["tipping_point"])
    rows.append(tip_row)
    res = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    for r in rows:
        log.info(
            "%s: ratio %.3f (%.3f to %.3f), p = %.4g, n = %s%s",
            r["analysis"],
            r["ratio"],
            r["ratio_ci_low"],
            r["ratio_ci_high"],
            r["pvalue"],
            r["n"],
            f" [{r['note']}]" if r["note"] else "",
        )
    return res, data


def primary_step(
    *,
    h5ad: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    results: str | os.PathLike[str],
    data: str | os.PathLike[str],
    tipping: str | os.PathLike[str],
    settings: PrimarySettings,
    clinical: str | os.PathLike[str] | None = None,
    disposition: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Run :func:`run_primary` on the rule's inputs and write its three tables.

    Parameters
    ----------
    h5ad
        ``results/de/mirna.h5ad``.
    participants, clinical, disposition
        The sheets (already validated when the workflow was parsed; read here
        with :func:`exomir.tables.read_table`); the last two are optional.
    results, data, tipping
        ``mir126_ancova.tsv``, ``mir126_values.tsv`` (per participant) and
        ``tipping_point.tsv``.
    settings
        Primary settings.

    Returns
    -------
    pandas.DataFrame
        The results table.
    """
    import anndata as ad

    adata = ad.read_h5ad(h5ad)
    res, table = run_primary(
        adata,
        read_table(participants, "participants"),
        settings,
        read_table(clinical, "clinical_measurements") if clinical else None,
        read_table(disposition, "disposition") if disposition else None,
    )
    write_table(res, results)
    write_table(table, data)
    _row, tip = tipping_point(table, settings, dict(ANALYSES)["tipping_point"])
    write_table(tip, tipping)
    return res
