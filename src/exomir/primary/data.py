"""Analysis variables of the primary stage: per library, then per participant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exomir.de.normalise import LAYER_NORMED
from exomir.errors import Issue, ValidationError
from exomir.primary.settings import BASELINE, FOLLOWUP, TREATED, PrimarySettings


def _find(names: Sequence[str], mirna: str) -> str | None:
    """Name of a miRNA in the matrix (exact, or a ``/``-joined group holding it)."""
    if mirna in names:
        return mirna
    for n in names:
        if mirna in n.split("/"):
            return n
    return None


def sample_values(adata: Any, settings: PrimarySettings) -> pd.DataFrame:
    """Per-library values used by the primary analysis.

    Parameters
    ----------
    adata
        AnnData from :func:`exomir.de.normalise` (usable libraries; layers
        ``normed_counts`` and ``log2_normed``).
    settings
        Primary settings.

    Returns
    -------
    pandas.DataFrame
        One row per library: ``sample_id``, ``participant_id``, ``arm``,
        ``timepoint``, ``y`` (log2 normalised primary miRNA),
        ``hemolysis_log2ratio`` and ``platelet_mirna_score`` (NaN when their
        miRNAs are absent).

    Raises
    ------
    ValidationError
        If the primary miRNA is not in the matrix.
    """
    names = list(map(str, adata.var_names))
    prim = _find(names, settings.mirna)
    if prim is None:
        raise ValidationError(
            [
                Issue(
                    "results/de/mirna.h5ad",
                    f"the primary miRNA '{settings.mirna}' (trial.primary_mirna) has "
                    "no reads in any usable library",
                )
            ]
        )
    normed = np.asarray(adata.layers[LAYER_NORMED], dtype=float)
    logv = np.log2(normed + settings.pseudocount)
    col = {n: i for i, n in enumerate(names)}
    out = pd.DataFrame(
        {
            "sample_id": adata.obs["sample_id"].astype(str).to_numpy(),
            "participant_id": adata.obs["participant_id"].astype(str).to_numpy(),
            "arm": adata.obs["arm"].astype(str).to_numpy(),
            "timepoint": adata.obs["timepoint"].astype(str).to_numpy(),
            "y": logv[:, col[prim]],
        }
    )
    hm = _find(names, settings.hemolysis_marker)
    hr = _find(names, settings.hemolysis_reference)
    if hm is not None and hr is not None:
        out["hemolysis_log2ratio"] = np.log2(
            (normed[:, col[hm]] + 1.0) / (normed[:, col[hr]] + 1.0)
        )
    else:
        out["hemolysis_log2ratio"] = np.nan
    plate = [p for p in (_find(names, m) for m in settings.platelet_mirnas) if p]
    if plate:
        z = logv[:, [col[p] for p in plate]]
        # Standardised over the libraries of the analysed timepoints only, so
        # that later blood draws do not change the week-1 analysis.
        used = (
            out["timepoint"]
            .isin([settings.reference_timepoint, settings.timepoint])
            .to_numpy()
        )
        ref = z[used] if used.any() else z
        sd = ref.std(axis=0, ddof=1)
        sd[~(sd > 0)] = 1.0
        out["platelet_mirna_score"] = ((z - ref.mean(axis=0)) / sd).mean(axis=1)
    else:
        out["platelet_mirna_score"] = np.nan
    return out


def _clinical_values(
    clinical: pd.DataFrame | None, param: str, visits: Sequence[str]
) -> pd.DataFrame | None:
    if clinical is None or "param" not in clinical.columns:
        return None
    c = clinical[(clinical["param"] == param) & clinical["visit"].isin(visits)]
    c = c[c["value_num"].notna()]
    if c.empty:
        return None
    c = c.assign(value_num=c["value_num"].astype(float))
    return c.groupby(["participant_id", "visit"])["value_num"].mean().unstack("visit")


def participant_table(
    values: pd.DataFrame,
    participants: pd.DataFrame,
    settings: PrimarySettings,
    clinical: pd.DataFrame | None = None,
    disposition: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per participant of the two arms with the analysis variables.

    Parameters
    ----------
    values
        From :func:`sample_values`.
    participants
        Participants table (``participant_id``, ``arm``, strata, covariates).
    settings
        Primary settings.
    clinical
        Clinical measurements (long) or ``None``.
    disposition
        Disposition table (``participant_id``, ``in_pp``) or ``None``.

    Returns
    -------
    pandas.DataFrame
        Sorted by participant: ``participant_id``, ``arm``, ``treated``,
        strata and covariates, ``y_baseline``, ``y_followup`` and the
        baseline/follow-up haemolysis ratio, platelet-miRNA score, platelet
        count (``*_bl``, ``*_fu``), and ``in_pp``.
    """
    par = participants.drop(columns=["_line"], errors="ignore").copy()
    par["participant_id"] = par["participant_id"].astype(str)
    par = par[par["arm"].isin([settings.arm, settings.reference_arm])]
    keep = ["participant_id", "arm"] + [
        c for c in (*settings.strata, *settings.covariates) if c in par.columns
    ]
    out = par[keep].drop_duplicates("participant_id").set_index("participant_id")
    out[TREATED] = (out["arm"] == settings.arm).astype(float)
    tp_map = {settings.reference_timepoint: "bl", settings.timepoint: "fu"}
    v = values[values["timepoint"].isin(tp_map)]
    for var, stem in (
        ("y", "y"),
        ("hemolysis_log2ratio", "hemolysis"),
        ("platelet_mirna_score", "platelet_mirna"),
    ):
        wide = v.pivot(index="participant_id", columns="timepoint", values=var)
        for tp, suffix in tp_map.items():
            col = wide[tp] if tp in wide.columns else pd.Series(dtype=float)
            out[f"{stem}_{suffix}"] = col.reindex(out.index).astype(float)
    out = out.rename(columns={"y_bl": BASELINE, "y_fu": FOLLOWUP})
    plat = _clinical_values(
        clinical,
        settings.platelet_param,
        [settings.reference_timepoint, settings.timepoint],
    )
    for tp, suffix in tp_map.items():
        if plat is not None and tp in plat.columns:
            out[f"platelet_count_{suffix}"] = plat[tp].reindex(out.index).astype(float)
        else:
            out[f"platelet_count_{suffix}"] = np.nan
    if disposition is not None and "in_pp" in disposition.columns:
        d = disposition[disposition["participant_id"].notna()]
        pp = d.drop_duplicates("participant_id").set_index("participant_id")["in_pp"]
        out["in_pp"] = [
            isinstance(pp.get(pid), bool | np.bool_) and bool(pp.get(pid))
            for pid in out.index
        ]
    else:
        out["in_pp"] = np.nan
    out["dose_log10_centred"] = _dose_covariate(par, out)
    out = out.reset_index().sort_values("participant_id").reset_index(drop=True)
    return out


def _dose_covariate(par: pd.DataFrame, out: pd.DataFrame) -> pd.Series:
    """log10 dose centred on the treated complete cases' mean; 0 if reference arm."""
    col = pd.Series(np.nan, index=out.index, dtype=float)
    if "dose_particles" not in par.columns:
        return col
    dose = pd.to_numeric(
        par.drop_duplicates("participant_id").set_index("participant_id")[
            "dose_particles"
        ],
        errors="coerce",
    ).reindex(out.index)
    treated = out[TREATED] == 1
    complete = out[[BASELINE, FOLLOWUP]].notna().all(axis=1)
    log_dose = np.log10(dose.where(dose > 0))
    col[~treated] = 0.0
    col[treated] = log_dose[treated] - log_dose[treated & complete].mean()
    return col
