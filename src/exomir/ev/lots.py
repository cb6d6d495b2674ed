"""EV lot characterisation: the workflow step of rule ``ev_qc``.

:func:`run_ev_qc` reads ``ev_lots.tsv``, ``ev_nta_runs.tsv`` (and the exports
it lists) and ``participants.tsv``, and writes the run and lot tables, the lot
certificate, the MISEV2023 checklist, the dose per participant and two figures
under ``results/ev/`` (described in ``docs/ev.md``). An export that cannot be
read makes its lot "not characterised" without stopping the step; only a sheet
that fails its schema stops it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.ev.anndata import add_lots_to_anndata
from exomir.ev.certificate import certify_lots
from exomir.ev.dose import DOSE_COLUMNS, dose_per_participant
from exomir.ev.misev import misev_checklist
from exomir.ev.runs import (
    RUN_COLUMNS,
    distributions_table,
    measure_run,
    nta_input_files,
)
from exomir.ev.settings import EvSettings, ev_config
from exomir.ev.summary import summarise_lots
from exomir.tables import read_table, write_table

__all__ = [
    "OUTPUT_NAMES",
    "EvQcResult",
    "add_lots_to_anndata",
    "default_outputs",
    "evaluate",
    "nta_input_files",
    "run_ev_qc",
]

log = logging.getLogger("exomir.ev")

#: Output keys of :func:`run_ev_qc` and their default file names.
OUTPUT_NAMES = {
    "lot_qc": "lot_qc.tsv",
    "lot_summary": "lot_summary.tsv",
    "nta_runs": "nta_runs.tsv",
    "distributions": "nta_distributions.tsv",
    "misev": "misev_checklist.tsv",
    "dose": "dose_per_participant.tsv",
    "fig_sizes": "size_distributions.png",
    "fig_lots": "lot_metrics.png",
}


@dataclass
class EvQcResult:
    """Everything :func:`run_ev_qc` computed.

    Attributes
    ----------
    runs, distributions, lot_summary, lot_qc, misev, dose
        The output tables.
    errors
        Problems that made a lot not characterised or a participant's dose
        unknown (also in the tables and the log).
    """

    runs: pd.DataFrame
    distributions: pd.DataFrame
    lot_summary: pd.DataFrame
    lot_qc: pd.DataFrame
    misev: pd.DataFrame
    dose: pd.DataFrame
    errors: list[str]


def evaluate(
    lots: pd.DataFrame,
    runs: pd.DataFrame,
    participants: pd.DataFrame | None,
    base: str | os.PathLike[str],
    cfg: Mapping[str, Any] | None = None,
    runs_label: str = "ev_nta_runs.tsv",
) -> EvQcResult:
    """Compute every EV table from already-read sheets (no files written).

    Parameters
    ----------
    lots, runs, participants
        The sheets as read by :func:`exomir.tables.read_table`
        (``participants`` may be ``None``).
    base
        Scenario directory (NTA paths are relative to it).
    cfg
        The ``ev`` configuration (defaults filled in by :func:`ev_config`).
    runs_label
        Name of the run sheet for messages.

    Returns
    -------
    EvQcResult
        The tables and the list of errors.
    """
    cfg = ev_config(cfg)
    errors: list[str] = []
    known = set(lots["lot_id"].astype(str))
    results = []
    seen: dict[str, int] = {}
    for row in runs.to_dict("records"):
        line = int(row.get("_line") or 0)
        if str(row["file"]) in seen:
            errors.append(
                f"{runs_label}:{line}: export {row['file']} is already listed on line "
                f"{seen[str(row['file'])]}; the same measurement would count twice"
            )
        seen.setdefault(str(row["file"]), line)
        if str(row["lot_id"]) not in known:
            msg = f"{runs_label}:{row.get('_line')}: lot {row['lot_id']} is not in ev_lots.tsv; run ignored"
            errors.append(msg)
            continue
        r = measure_run(row, base, cfg, runs_label)
        if r.error is not None:
            errors.append(f"lot {r.lot_id} not characterised: {r.error}")
        results.append(r)
    runs_df = pd.DataFrame([r.summary for r in results], columns=RUN_COLUMNS)
    summary = summarise_lots(lots, results, cfg)
    cert = certify_lots(summary, lots, cfg)
    verdicts = cert[cert["criterion"] == "verdict"].set_index("lot_id")
    summary.insert(1, "verdict", summary["lot_id"].map(verdicts["status"]))
    summary.insert(2, "verdict_reason", summary["lot_id"].map(verdicts["reason"]))
    misev = misev_checklist(lots, summary)
    mand = misev[misev["level"] == "mandatory"].groupby("lot_id")["status"]
    summary["misev_mandatory_reported"] = summary["lot_id"].map(
        mand.apply(lambda s: f"{(s == 'reported').sum()}/{len(s)}")
    )
    summary["misev_complete"] = summary["lot_id"].map(
        mand.apply(lambda s: bool((s == "reported").all()))
    )
    # Any unreadable export withholds all of its lot's distributions.
    bad = {r.lot_id for r in results if r.error is not None}
    dist = distributions_table(
        [r for r in results if r.lot_id not in bad], cfg["nta"]["distribution_max_nm"]
    )
    if participants is not None:
        dose, dose_errors = dose_per_participant(participants, summary, lots, cfg)
        errors += dose_errors
        counts = dose[dose["ev_lot_id"] != ""].groupby("ev_lot_id").size()
        summary["participants_dosed"] = (
            summary["lot_id"].map(counts).fillna(0).astype(int)
        )
    else:
        dose = pd.DataFrame(columns=DOSE_COLUMNS)
        summary["participants_dosed"] = 0
    rounded = summary.copy()
    for col in rounded.columns:
        if rounded[col].dtype.kind == "f":
            rounded[col] = rounded[col].map(
                lambda v: v if not np.isfinite(v) else float(f"{v:.6g}")
            )
    return EvQcResult(
        runs=_round_frame(runs_df),
        distributions=dist,
        lot_summary=rounded,
        lot_qc=cert,
        misev=misev,
        dose=_round_frame(dose),
        errors=errors,
    )


def _round_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = out[col].map(
                lambda v: v if not np.isfinite(v) else float(f"{v:.6g}")
            )
        elif out[col].dtype == object:
            out[col] = out[col].map(
                lambda v: (
                    float(f"{v:.6g}") if isinstance(v, float) and np.isfinite(v) else v
                )
            )
    return out


def _tsv_ready(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].map({True: "true", False: "false"})
        elif out[col].dtype == object:
            out[col] = out[col].map(
                lambda v: (
                    ("true" if v else "false") if isinstance(v, bool | np.bool_) else v
                )
            )
    return out


def default_outputs(outdir: str | os.PathLike[str]) -> dict[str, Path]:
    """Default output paths under ``outdir`` (``results/ev`` in the workflow).

    Parameters
    ----------
    outdir
        Output folder.

    Returns
    -------
    dict
        Key of :data:`OUTPUT_NAMES` -> path.
    """
    return {k: Path(outdir) / v for k, v in OUTPUT_NAMES.items()}


def run_ev_qc(
    lots_path: str | os.PathLike[str],
    runs_path: str | os.PathLike[str],
    participants_path: str | os.PathLike[str] | None,
    outputs: Mapping[str, str | os.PathLike[str]],
    base: str | os.PathLike[str] = ".",
    settings: EvSettings | None = None,
    plots: bool = True,
) -> EvQcResult:
    """Read the EV sheets and exports, and write every EV output.

    Parameters
    ----------
    lots_path, runs_path, participants_path
        The sheets (``participants_path`` may be ``None``).
    outputs
        Output key (see :data:`OUTPUT_NAMES`) -> path; keys left out are not
        written. :func:`default_outputs` gives the usual names.
    base
        Scenario directory (NTA paths in the run sheet are relative to it).
    settings
        The EV settings (:func:`exomir.ev.settings.ev_settings`); ``None``
        for the schema defaults.
    plots
        Whether to draw the figures.

    Returns
    -------
    EvQcResult
        The tables and the errors (each also logged as an error). Lots with
        errors are reported in the outputs; the function does not raise for
        them.

    Raises
    ------
    exomir.errors.ValidationError
        If a sheet cannot be read or fails its schema.
    """
    lots = read_table(lots_path, "ev_lots", str(lots_path))
    runs = read_table(runs_path, "ev_nta_runs", str(runs_path))
    parts = (
        read_table(participants_path, "participants", str(participants_path))
        if participants_path
        else None
    )
    cfg = settings.as_config() if settings is not None else ev_config(None)
    res = evaluate(lots, runs, parts, base, cfg, runs_label=str(runs_path))
    for msg in res.errors:
        log.error(msg)
    for r in res.lot_summary.to_dict("records"):
        log.info(
            "lot %s: %s %s", r["lot_id"], r["verdict"], r.get("verdict_reason") or ""
        )
    tables = {
        "lot_qc": res.lot_qc,
        "lot_summary": res.lot_summary,
        "nta_runs": res.runs,
        "distributions": res.distributions,
        "misev": res.misev,
        "dose": res.dose,
    }
    for key, df in tables.items():
        if key in outputs:
            write_table(_tsv_ready(df), outputs[key], exact=True)
    if plots and ("fig_sizes" in outputs or "fig_lots" in outputs):
        from exomir.ev.plots import plot_lot_metrics, plot_size_distributions

        c = cfg
        if "fig_sizes" in outputs:
            plot_size_distributions(
                res.distributions,
                res.lot_summary,
                outputs["fig_sizes"],
                c["nta"]["distribution_max_nm"],
            )
        if "fig_lots" in outputs:
            plot_lot_metrics(
                res.lot_summary,
                outputs["fig_lots"],
                c["acceptance"]["min_particles_per_ug"],
            )
    return res
