"""File-level entry points of the clinical stage (used by the Snakemake shims).

Each function reads only the sheets and intermediates its rule declares (the
scenario was validated once, when the workflow was parsed), gets its settings
from :func:`clinical_stage_settings`, runs one step and writes its tables
atomically:

* :func:`dataset_from_files` -> ``analysis_dataset.tsv``, ``populations.tsv``,
  ``data_flags.tsv``, ``plausibility.tsv`` (values outside the soft limits);
* :func:`endpoints_from_files` -> ``endpoints.tsv``, ``forest.png``;
* :func:`biomarker_from_files` -> ``association.tsv``, ``baseline_table.tsv``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from exomir.clinical.dataset import (
    analysis_dataset,
    convert_units,
    flag_table,
    populations,
)
from exomir.clinical.plausibility import findings_frame, other_visit_findings
from exomir.clinical.settings import ClinicalSettings, clinical_settings
from exomir.tables import read_table, write_table
from exomir.units import load_unit_conversions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClinicalStageSettings:
    """What the clinical jobs need, built once when the workflow is parsed.

    Attributes
    ----------
    clinical
        Endpoint, model and population settings.
    labels
        Sheet kind -> the path the config names (messages, ``data_flags.file``).
    """

    clinical: ClinicalSettings
    labels: Mapping[str, str]

    def label(self, kind: str) -> str:
        """Name of sheet ``kind`` in messages (the config's path)."""
        return self.labels.get(kind, f"{kind}.tsv")


def clinical_stage_settings(
    config: Mapping[str, Any], base: str | os.PathLike[str] = "."
) -> ClinicalStageSettings:
    """Build the clinical stage settings from a validated configuration."""
    labels = {k: str(v) for k, v in config["sheets"].items()}
    return ClinicalStageSettings(clinical_settings(config, base), labels)


@dataclass
class ClinicalInputs:
    """Typed sheets of the clinical stage (clinical values in configured units)."""

    settings: ClinicalSettings
    participants: pd.DataFrame
    clinical: pd.DataFrame
    disposition: pd.DataFrame | None
    label: str


def load_inputs(
    settings: ClinicalStageSettings,
    participants: str | os.PathLike[str],
    clinical_measurements: str | os.PathLike[str],
    conversions: str | os.PathLike[str],
    disposition: str | os.PathLike[str] | None = None,
) -> ClinicalInputs:
    """Read the declared sheets (validated when the workflow was parsed).

    Parameters
    ----------
    settings
        From :func:`clinical_stage_settings`.
    participants, clinical_measurements, disposition
        Sheet paths (``disposition`` optional).
    conversions
        Unit conversion table (:mod:`exomir.units`).

    Returns
    -------
    ClinicalInputs
        Settings and tables (clinical values in the configured units).
    """
    label = settings.label("clinical_measurements")
    clin = convert_units(
        read_table(clinical_measurements, "clinical_measurements", label),
        settings.clinical,
        load_unit_conversions(conversions),
        label,
    )
    disp = (
        read_table(disposition, "disposition", settings.label("disposition"))
        if disposition
        else None
    )
    return ClinicalInputs(
        settings=settings.clinical,
        participants=read_table(
            participants, "participants", settings.label("participants")
        ),
        clinical=clin,
        disposition=disp,
        label=label,
    )


def _tsv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a table with the project's TSV conventions (%.6g, true/false)."""
    write_table(df, path)


def read_dataset(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``analysis_dataset.tsv`` back (booleans and numbers typed)."""
    d = pd.read_csv(
        path, sep="\t", dtype={"participant_id": str, "bl_cat": str, "wk1_cat": str}
    )
    for c in ("in_mitt", "in_pp"):
        d[c] = d[c].astype(str).str.lower().eq("true")
    d["flags"] = d["flags"].fillna("")
    return d


def dataset_from_files(
    *,
    participants: str | os.PathLike[str],
    clinical_measurements: str | os.PathLike[str],
    conversions: str | os.PathLike[str],
    disposition: str | os.PathLike[str] | None,
    dataset: str | os.PathLike[str],
    populations_out: str | os.PathLike[str],
    flags: str | os.PathLike[str],
    plausibility: str | os.PathLike[str] | None,
    settings: ClinicalStageSettings,
) -> pd.DataFrame:
    """Write the dataset, populations, data flags and implausible values."""
    inp = load_inputs(
        settings, participants, clinical_measurements, conversions, disposition
    )
    pops = populations(inp.participants, inp.disposition, inp.clinical, inp.settings)
    records: list[dict[str, Any]] = []
    ds = analysis_dataset(inp.clinical, pops, inp.settings, records=records)
    flag_rows = flag_table(ds, inp.label)
    if plausibility is not None:
        records += other_visit_findings(inp.clinical, inp.settings)
        _tsv(findings_frame(records), plausibility)
    log.info(
        "analysis dataset: %d participants, %d parameters, %d flagged values; "
        "mITT %d, PP %d",
        ds["participant_id"].nunique(),
        ds["param"].nunique(),
        len(flag_rows),
        int(pops["in_mitt"].sum()),
        int(pops["in_pp"].sum()),
    )
    _tsv(ds, dataset)
    _tsv(pops, populations_out)
    _tsv(flag_rows, flags)
    return ds


def endpoints_from_files(
    *,
    participants: str | os.PathLike[str],
    clinical_measurements: str | os.PathLike[str],
    conversions: str | os.PathLike[str],
    disposition: str | os.PathLike[str] | None,
    dataset: str | os.PathLike[str],
    endpoints: str | os.PathLike[str],
    forest: str | os.PathLike[str],
    settings: ClinicalStageSettings,
) -> pd.DataFrame:
    """Fit every endpoint, write ``endpoints.tsv`` and the forest plot."""
    from exomir.clinical.endpoints import analyse_endpoints
    from exomir.clinical.plots import forest_plot

    inp = load_inputs(
        settings, participants, clinical_measurements, conversions, disposition
    )
    ds = read_dataset(dataset)
    # The implausible-values sensitivity analysis: the dataset built with the
    # opposite soft-limit action (rows added only where it differs).
    pops = populations(inp.participants, inp.disposition, inp.clinical, inp.settings)
    alt = analysis_dataset(inp.clinical, pops, inp.settings, invert=True)
    res = analyse_endpoints(
        ds,
        inp.participants,
        inp.settings,
        inp.clinical,
        inp.settings.assessor_domains,
        alternative=alt,
    )
    _tsv(res, endpoints)
    pop = inp.settings.populations[0] if inp.settings.populations else "mITT"
    forest_plot(res, ds, inp.settings, forest, population=pop)
    return res


def biomarker_from_files(
    *,
    participants: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    h5ad: str | os.PathLike[str],
    association: str | os.PathLike[str],
    baseline: str | os.PathLike[str],
    settings: ClinicalStageSettings,
) -> pd.DataFrame:
    """Association of miRNA and endpoint changes, and the baseline table."""
    import anndata as ad

    from exomir.clinical.association import associate, mirna_changes
    from exomir.clinical.baseline import baseline_table

    part = read_table(participants, "participants", settings.label("participants"))
    ds = read_dataset(dataset)
    adata = ad.read_h5ad(h5ad)
    mir = mirna_changes(adata, settings.clinical, str(h5ad))
    res = associate(ds, mir, settings.clinical)
    _tsv(res, association)
    bt = baseline_table(part, ds, settings.clinical, mir["mirna_bl"])
    _tsv(bt, baseline)
    return res
