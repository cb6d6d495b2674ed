"""File-level entry points of the clinical stage (used by the Snakemake shims).

Each function reads a scenario (configuration and sheets, validated), runs one
step and writes its tables atomically:

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
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.clinical.dataset import (
    ClinicalSettings,
    analysis_dataset,
    clinical_settings,
    convert_units,
    default_conversions,
    flag_table,
    populations,
)
from exomir.clinical.plausibility import findings_frame, other_visit_findings
from exomir.tables import write_table

log = logging.getLogger(__name__)


@dataclass
class ClinicalInputs:
    """Validated inputs of the clinical stage."""

    config: dict[str, Any]
    settings: ClinicalSettings
    participants: pd.DataFrame
    clinical: pd.DataFrame
    disposition: pd.DataFrame | None
    label: str


def load_inputs(
    config: Mapping[str, Any], directory: str | os.PathLike[str] = "."
) -> ClinicalInputs:
    """Validate the scenario and convert clinical units.

    Parameters
    ----------
    config
        Configuration (e.g. ``snakemake.config``); validated here.
    directory
        Scenario directory.

    Returns
    -------
    ClinicalInputs
        Settings and tables (clinical values in the configured units).
    """
    from exomir.config import validate_config
    from exomir.validate import validate_config_and_tables

    base = Path(directory)
    cfg = validate_config(dict(config))
    scen = validate_config_and_tables(base, cfg, check_files=False)
    settings = clinical_settings(cfg, base)
    label = str(cfg["sheets"]["clinical_measurements"])
    clin = convert_units(
        scen.tables["clinical_measurements"],
        settings,
        default_conversions(cfg, base),
        label,
    )
    return ClinicalInputs(
        config=cfg,
        settings=settings,
        participants=scen.tables["participants"],
        clinical=clin,
        disposition=scen.tables.get("disposition"),
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
    config: Mapping[str, Any],
    dataset_path: str | os.PathLike[str],
    populations_path: str | os.PathLike[str],
    flags_path: str | os.PathLike[str],
    directory: str | os.PathLike[str] = ".",
    plausibility_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Write the dataset, populations, data flags and implausible values."""
    inp = load_inputs(config, directory)
    pops = populations(inp.participants, inp.disposition, inp.clinical, inp.settings)
    records: list[dict[str, Any]] = []
    ds = analysis_dataset(inp.clinical, pops, inp.settings, records=records)
    flags = flag_table(ds, inp.label)
    if plausibility_path is not None:
        records += other_visit_findings(inp.clinical, inp.settings)
        _tsv(findings_frame(records), plausibility_path)
    log.info(
        "analysis dataset: %d participants, %d parameters, %d flagged values; "
        "mITT %d, PP %d",
        ds["participant_id"].nunique(),
        ds["param"].nunique(),
        len(flags),
        int(pops["in_mitt"].sum()),
        int(pops["in_pp"].sum()),
    )
    _tsv(ds, dataset_path)
    _tsv(pops, populations_path)
    _tsv(flags, flags_path)
    return ds


def endpoints_from_files(
    config: Mapping[str, Any],
    dataset_path: str | os.PathLike[str],
    endpoints_path: str | os.PathLike[str],
    forest_path: str | os.PathLike[str],
    directory: str | os.PathLike[str] = ".",
) -> pd.DataFrame:
    """Fit every endpoint, write ``endpoints.tsv`` and the forest plot."""
    from exomir.clinical.endpoints import analyse_endpoints
    from exomir.clinical.plots import forest_plot

    inp = load_inputs(config, directory)
    ds = read_dataset(dataset_path)
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
    _tsv(res, endpoints_path)
    pop = inp.settings.populations[0] if inp.settings.populations else "mITT"
    forest_plot(res, ds, inp.settings, forest_path, population=pop)
    return res


def biomarker_from_files(
    config: Mapping[str, Any],
    dataset_path: str | os.PathLike[str],
    h5ad_path: str | os.PathLike[str],
    association_path: str | os.PathLike[str],
    baseline_path: str | os.PathLike[str],
    directory: str | os.PathLike[str] = ".",
) -> pd.DataFrame:
    """Association of miRNA and endpoint changes, and the baseline table."""
    import anndata as ad

    from exomir.clinical.association import associate, mirna_changes
    from exomir.clinical.baseline import baseline_table

    inp = load_inputs(config, directory)
    ds = read_dataset(dataset_path)
    adata = ad.read_h5ad(h5ad_path)
    mir = mirna_changes(adata, inp.settings, str(h5ad_path))
    res = associate(ds, mir, inp.settings)
    _tsv(res, association_path)
    bt = baseline_table(inp.participants, ds, inp.settings, mir["mirna_bl"])
    _tsv(bt, baseline_path)
    return res
