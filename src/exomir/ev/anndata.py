"""EV lot table and dose stored in the AnnData of the counts."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def _uns_safe(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index.astype(str))
    for col in df.columns:
        s = df[col]
        num = pd.to_numeric(s, errors="coerce")
        if s.isna().all() or num.notna().sum() == s.notna().sum():
            out[col] = num.astype(float).to_numpy()
        else:
            out[col] = (
                s.map(
                    lambda v: (
                        ""
                        if v is None or (isinstance(v, float) and math.isnan(v))
                        else str(v)
                    )
                )
                .astype(str)
                .to_numpy()
            )
    return out


def add_lots_to_anndata(
    adata: Any,
    lot_summary_df: pd.DataFrame,
    dose_df: pd.DataFrame | None = None,
    key: str = "ev_lots",
) -> Any:
    """Store the lot table in ``adata.uns`` (and the dose in ``obs``).

    The table is indexed by ``lot_id``; numeric columns are float and the rest
    text ('' for missing), so that the object writes to ``.h5ad``.

    Parameters
    ----------
    adata
        An :class:`anndata.AnnData` (observations = libraries).
    lot_summary_df
        ``results/ev/lot_summary.tsv`` as a DataFrame.
    dose_df
        ``results/ev/dose_per_participant.tsv``; when given and ``adata.obs``
        has ``participant_id``, the columns ``ev_lot_id``, ``ev_dose_particles``,
        ``ev_dose_protein_ug`` and ``ev_lot_release_ok`` (text ``true``/
        ``false``/'') are added to ``obs``.
    key
        Key in ``uns``.

    Returns
    -------
    anndata.AnnData
        The same object, modified in place.
    """
    df = lot_summary_df.copy()
    if "lot_id" in df.columns:
        df = df.set_index("lot_id", drop=True)
    df.index = df.index.astype(str)
    df.index.name = "lot_id"
    adata.uns[key] = _uns_safe(df)
    if dose_df is not None and "participant_id" in adata.obs.columns:
        d = dose_df.set_index(dose_df["participant_id"].astype(str))
        pid = adata.obs["participant_id"].astype(str)
        adata.obs["ev_lot_id"] = (
            pid.map(d["ev_lot_id"].fillna("").astype(str)).fillna("").to_numpy()
        )
        adata.obs["ev_dose_particles"] = (
            pid.map(pd.to_numeric(d["dose_particles"], errors="coerce"))
            .astype(float)
            .to_numpy()
        )
        adata.obs["ev_dose_protein_ug"] = (
            pid.map(pd.to_numeric(d["dose_protein_ug"], errors="coerce"))
            .astype(float)
            .to_numpy()
        )
        ok = d["lot_release_ok"].map(
            lambda v: (
                ""
                if v is None or (isinstance(v, float) and math.isnan(v))
                else ("true" if bool(v) else "false")
            )
        )
        adata.obs["ev_lot_release_ok"] = pid.map(ok).fillna("").to_numpy()
    return adata
