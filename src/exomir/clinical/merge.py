"""Merge miRNA, pathway, EV-dose and clinical data of a trial.

Two outputs with the same identifiers (``participant_id``, ``sample_id``):

``results/merged/participants.tsv``
    One row per participant of participants.tsv: the participant columns,
    populations (``randomised``, ``dosed``, ``in_mitt``, ``in_pp``,
    ``pp_reason``), per analysed clinical parameter ``<PARAM>_bl``,
    ``<PARAM>_wk1`` and ``<PARAM>_chg`` (binary/ordinal as category position),
    ``clinical_flags`` (number of flagged values), the primary miRNA
    (``<mirna>_bl``/``_wk1``/``_chg``, log2 VST), the EV dose
    (``ev_dose_particles``, ``ev_dose_protein_ug``, ``ev_lot_verdict``,
    ``ev_lot_release_ok``) when the EV stage ran, and pathway scores
    (``pathway|<method>|<pathway>_bl``/``_wk1``/``_chg``) when the pathways
    stage ran.

``results/merged/trial.h5ad`` (AnnData; MuData is not installed)
    ``X``: miRNA values of the DE stage's ``vst_counts`` layer (libraries x
    miRNAs), with every DE layer kept (``normed_counts``, ``log2_normed``,
    ``vst_counts``); ``var`` from the DE stage. ``obs``: one row per usable
    library with the sample and participant columns, populations and EV dose.
    ``obsm['clinical']``: per library, every analysed clinical parameter at
    the library's timepoint (baseline value for baseline libraries, follow-up
    value for follow-up libraries). ``obsm['clinical_change']``: the
    participant's change of each parameter. ``obsm['pathway_scores']`` (when
    available): per library one column ``<method>|<pathway>``.
    ``uns['participants']``: the merged participant table;
    ``uns['exomir_merge']``: inputs and this layout.

Identifiers are checked: a library, pathway row or dose row whose participant
is not in participants.tsv, or whose arm disagrees with it, is an error naming
the file and identifier.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.clinical.settings import ClinicalSettings
from exomir.clinical.stage import ClinicalStageSettings
from exomir.de.normalise import LAYER_VST
from exomir.errors import Issue, ValidationError

log = logging.getLogger(__name__)

LAYOUT = {
    "X": "miRNA values (DE stage layer vst_counts), libraries x miRNAs",
    "obs": "libraries: sample and participant columns, populations, EV dose",
    "obsm.clinical": "clinical parameters at the library's timepoint",
    "obsm.clinical_change": "participant's change (follow-up - baseline) per parameter",
    "obsm.pathway_scores": "pathway scores per library, columns '<method>|<pathway>'",
    "uns.participants": "one row per participant (= results/merged/participants.tsv)",
}


def _check_ids(
    df: pd.DataFrame,
    arm_of: Mapping[str, str],
    label: str,
    id_col: str = "participant_id",
) -> list[Issue]:
    issues = []
    for pid, grp in df.groupby(id_col, sort=True):
        pid = str(pid)
        if pid not in arm_of:
            issues.append(
                Issue(
                    label,
                    f"participant '{pid}' is not in participants.tsv",
                    row_id=f"participant_id={pid}",
                )
            )
        elif "arm" in grp.columns:
            arms = {str(a) for a in grp["arm"].dropna() if str(a) != ""}
            if arms and arms != {arm_of[pid]}:
                issues.append(
                    Issue(
                        label,
                        f"arm {', '.join(sorted(arms))} differs from participants.tsv "
                        f"('{arm_of[pid]}')",
                        row_id=f"participant_id={pid}",
                        column="arm",
                    )
                )
    return issues


def _add_pathway_columns(
    out: pd.DataFrame, pw: pd.DataFrame, settings: ClinicalSettings
) -> None:
    """Add baseline, follow-up and change of every pathway score to ``out``."""
    pw = pw[pw["timepoint"].isin([settings.baseline_visit, settings.followup_visit])]
    pw = pw.assign(
        key="pathway|" + pw["method"].astype(str) + "|" + pw["pathway"].astype(str)
    )
    wide = pw.pivot_table(
        index="participant_id", columns=["key", "timepoint"], values="score"
    )
    for key in sorted({k for k, _ in wide.columns}):
        bl = wide.get((key, settings.baseline_visit))
        wk = wide.get((key, settings.followup_visit))
        blv = (
            bl.reindex(out.index)
            if bl is not None
            else pd.Series(np.nan, index=out.index)
        )
        wkv = (
            wk.reindex(out.index)
            if wk is not None
            else pd.Series(np.nan, index=out.index)
        )
        out[f"{key}_bl"] = blv.astype(float)
        out[f"{key}_wk1"] = wkv.astype(float)
        out[f"{key}_chg"] = (wkv - blv).astype(float)


def participant_table(
    participants: pd.DataFrame,
    pops: pd.DataFrame,
    dataset: pd.DataFrame,
    settings: ClinicalSettings,
    mirna: pd.DataFrame | None = None,
    dose: pd.DataFrame | None = None,
    pathways: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per participant with every data type.

    Parameters
    ----------
    participants
        participants.tsv.
    pops
        Populations (``results/clinical/populations.tsv``).
    dataset
        Analysis dataset.
    settings
        Clinical settings.
    mirna
        From :func:`exomir.clinical.association.mirna_changes` or ``None``.
    dose
        ``results/ev/dose_per_participant.tsv`` or ``None``.
    pathways
        ``results/pathways/scores.tsv`` or ``None``.

    Returns
    -------
    pandas.DataFrame
        Sorted by participant.

    Raises
    ------
    ValidationError
        On identifiers that do not match participants.tsv.
    """
    par = participants.drop(columns=["_line"], errors="ignore").drop_duplicates(
        "participant_id"
    )
    par = par.assign(participant_id=par["participant_id"].astype(str))
    arm_of = dict(zip(par["participant_id"], par["arm"].astype(str), strict=True))
    issues: list[Issue] = []
    out = par.set_index("participant_id", drop=False)
    p = pops.set_index(pops["participant_id"].astype(str))
    for c in ("randomised", "dosed", "in_mitt", "in_pp", "pp_reason"):
        if c in p.columns:
            out[c] = p[c].reindex(out.index)
    for code in settings.params:
        d = dataset[dataset["param"] == code].set_index("participant_id")
        for s in ("bl", "wk1", "chg"):
            out[f"{code}_{s}"] = d[s].reindex(out.index).astype(float)
    nflag = (
        dataset.assign(
            k=dataset["flags"].fillna("").map(lambda f: len(f.split("; ")) if f else 0)
        )
        .groupby("participant_id")["k"]
        .sum()
    )
    out["clinical_flags"] = nflag.reindex(out.index).fillna(0).astype(int)
    if mirna is not None:
        name = settings.primary_mirna
        for s in ("bl", "wk1", "chg"):
            out[f"{name}_{s}"] = mirna[f"mirna_{s}"].reindex(out.index).astype(float)
    if dose is not None:
        label = "results/ev/dose_per_participant.tsv"
        issues += _check_ids(
            dose.assign(participant_id=dose["participant_id"].astype(str)),
            arm_of,
            label,
        )
        d = dose.assign(participant_id=dose["participant_id"].astype(str)).set_index(
            "participant_id"
        )
        for src, dst in (
            ("dose_particles", "ev_dose_particles"),
            ("dose_protein_ug", "ev_dose_protein_ug"),
            ("lot_verdict", "ev_lot_verdict"),
            ("lot_release_ok", "ev_lot_release_ok"),
        ):
            if src in d.columns:
                col = d[src].reindex(out.index)
                if src == "lot_release_ok":
                    col = col.map(
                        lambda v: (
                            None if v is None or v != v else str(v).lower() == "true"
                        )
                    )
                out[dst] = col
    if pathways is not None:
        label = "results/pathways/scores.tsv"
        pw = pathways.assign(participant_id=pathways["participant_id"].astype(str))
        issues += _check_ids(pw, arm_of, label)
        _add_pathway_columns(out, pw, settings)
    if issues:
        raise ValidationError(issues)
    return out.sort_index().reset_index(drop=True)


def trial_anndata(
    adata: Any,
    table: pd.DataFrame,
    dataset: pd.DataFrame,
    settings: ClinicalSettings,
    pathways: pd.DataFrame | None = None,
    inputs: Sequence[str] = (),
) -> Any:
    """Build the merged AnnData (layout in the module docstring).

    Parameters
    ----------
    adata
        AnnData of the DE stage (``results/de/mirna.h5ad``).
    table
        From :func:`participant_table`.
    dataset
        Analysis dataset.
    settings
        Clinical settings.
    pathways
        Pathway scores or ``None``.
    inputs
        Input paths recorded in ``uns``.

    Returns
    -------
    anndata.AnnData
        The merged object.

    Raises
    ------
    ValidationError
        If a library's participant is not in the participant table, or a
        pathway sample is not a library of the matrix.
    """
    import anndata as ad

    obs = adata.obs.copy()
    obs.index = obs.index.astype(str)
    pids = obs["participant_id"].astype(str)
    known = set(table["participant_id"])
    bad = sorted(set(pids) - known)
    if bad:
        raise ValidationError(
            [
                Issue(
                    "results/de/mirna.h5ad",
                    f"library participant(s) {', '.join(bad)} are not in participants.tsv",
                )
            ]
        )
    tab = table.set_index("participant_id")
    for c in (
        "in_mitt",
        "in_pp",
        "ev_dose_particles",
        "ev_dose_protein_ug",
        "ev_lot_verdict",
    ):
        if c in tab.columns and c not in obs.columns:
            obs[c] = tab[c].reindex(pids).to_numpy()
    tp = obs["timepoint"].astype(str)
    codes = list(settings.params)
    clin = pd.DataFrame(np.nan, index=obs.index, columns=codes)
    chg = pd.DataFrame(np.nan, index=obs.index, columns=codes)
    for code in codes:
        bl = tab[f"{code}_bl"].reindex(pids).to_numpy()
        wk = tab[f"{code}_wk1"].reindex(pids).to_numpy()
        clin[code] = np.where(
            tp.to_numpy() == settings.baseline_visit,
            bl,
            np.where(tp.to_numpy() == settings.followup_visit, wk, np.nan),
        )
        chg[code] = tab[f"{code}_chg"].reindex(pids).to_numpy()
    layer = LAYER_VST if LAYER_VST in adata.layers else None
    x = adata.layers[layer] if layer else adata.X
    out = ad.AnnData(
        X=np.asarray(x, dtype=np.float64),
        obs=obs,
        var=adata.var.copy(),
        layers={k: np.asarray(v) for k, v in adata.layers.items()},
    )
    out.obsm["clinical"] = clin
    out.obsm["clinical_change"] = chg
    if pathways is not None and len(pathways):
        pw = pathways.assign(sample_id=pathways["sample_id"].astype(str))
        missing = sorted(set(pw["sample_id"]) - set(obs.index))
        if missing:
            log.warning(
                "%d pathway-score sample(s) are not usable libraries of the matrix "
                "and are left out of the AnnData (kept in participants.tsv): %s",
                len(missing),
                ", ".join(missing[:10]),
            )
        pw = pw.assign(key=pw["method"].astype(str) + "|" + pw["pathway"].astype(str))
        wide = pw.pivot_table(index="sample_id", columns="key", values="score")
        wide.columns = [str(c) for c in wide.columns]
        out.obsm["pathway_scores"] = wide.reindex(obs.index).astype(float)
    uns_tab = table.copy()
    for c in uns_tab.columns:
        if uns_tab[c].dtype == object:
            uns_tab[c] = uns_tab[c].map(lambda v: "" if v is None or v != v else str(v))
    out.uns["participants"] = uns_tab
    out.uns["exomir_merge"] = {
        "layout": dict(LAYOUT),
        "inputs": [str(i) for i in inputs],
        "x_layer": layer or "X",
        "baseline_visit": settings.baseline_visit,
        "followup_visit": settings.followup_visit,
        "primary_mirna": settings.primary_mirna,
    }
    return out


def merge_from_files(
    *,
    participants: str | os.PathLike[str],
    dataset_path: str | os.PathLike[str],
    populations_path: str | os.PathLike[str],
    h5ad_path: str | os.PathLike[str],
    participants_out: str | os.PathLike[str],
    h5ad_out: str | os.PathLike[str],
    settings: ClinicalStageSettings,
    dose_path: str | os.PathLike[str] | None = None,
    pathways_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Read every stage's output, merge, and write both outputs atomically."""
    import anndata as ad

    from exomir.atomic import atomic_path
    from exomir.clinical.association import mirna_changes
    from exomir.clinical.stage import _tsv, read_dataset
    from exomir.tables import read_table

    part = read_table(participants, "participants", settings.label("participants"))
    cs = settings.clinical
    ds = read_dataset(dataset_path)
    pops = pd.read_csv(populations_path, sep="\t", dtype={"participant_id": str})
    adata = ad.read_h5ad(h5ad_path)
    mir = mirna_changes(adata, cs, str(h5ad_path))
    dose = (
        pd.read_csv(dose_path, sep="\t", dtype={"participant_id": str})
        if dose_path
        else None
    )
    pathways = None
    if pathways_path:
        pathways = pd.read_csv(
            pathways_path, sep="\t", dtype={"participant_id": str, "sample_id": str}
        )
        need = {
            "sample_id",
            "participant_id",
            "arm",
            "timepoint",
            "pathway",
            "method",
            "score",
        }
        miss = need - set(pathways.columns)
        if miss:
            raise ValidationError(
                [
                    Issue(
                        str(pathways_path),
                        f"missing column(s): {', '.join(sorted(miss))}",
                        line=1,
                    )
                ]
            )
    table = participant_table(part, pops, ds, cs, mir, dose, pathways)
    inputs = [
        str(p)
        for p in (dataset_path, populations_path, h5ad_path, dose_path, pathways_path)
        if p
    ]
    merged = trial_anndata(adata, table, ds, cs, pathways, inputs)
    _tsv(table, participants_out)
    Path(h5ad_out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(h5ad_out) as tmp:
        merged.write_h5ad(tmp)
    log.info(
        "merged: %d participants, %d libraries x %d miRNAs, %d clinical parameters%s",
        len(table),
        merged.n_obs,
        merged.n_vars,
        len(cs.params),
        ", pathway scores" if pathways is not None else "",
    )
    return table
