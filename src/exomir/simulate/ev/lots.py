"""Simulated EV lots: their truth, the lot and run sheets, dosing and files."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open
from exomir.simulate.ev.formats import fmt_ns_conc
from exomir.simulate.ev.nanosight import NanoSightRun, simulate_nanosight
from exomir.simulate.ev.truth import LotTruth, simulate_lot_truth
from exomir.simulate.ev.zetaview import ZetaViewRun, simulate_zetaview

#: Column order of config/ev_lots.tsv (analysis_spec §4.1 and §5.6).
LOT_COLUMNS = [
    "lot_id",
    "manufacture_date",
    "expiry_date",
    "isolation_method",
    "storage",
    "release_decision",
    "cm_volume_ml",
    "producer_cells_n",
    "donor_id",
    "passage",
    "particle_conc_per_ml",
    "nta_instrument",
    "camera_level",
    "detection_threshold",
    "dilution",
    "mode_nm",
    "mean_nm",
    "sd_nm",
    "d10_nm",
    "d50_nm",
    "d90_nm",
    "span",
    "protein_ug_per_ml",
    "particles_per_ug",
    "cd9",
    "cd63",
    "cd81",
    "tsg101",
    "alix",
    "syntenin",
    "calnexin",
    "gm130",
    "apoa1",
    "albumin",
    "cd73",
    "cd90",
    "cd105",
    "cd45",
    "tem_ok",
    "tem_image",
    "zeta_mv",
    "mir126_copies_per_1e9",
    "vegfa_pg_per_1e9",
    "potency_pct_of_ref",
    "sterility",
    "endotoxin_eu_per_ml",
    "mycoplasma",
    "bsa_ng_per_ml",
]

#: Column order of config/ev_nta_runs.tsv (analysis_spec §5.6).
NTA_RUN_COLUMNS = ["lot_id", "instrument", "file", "dilution", "replicate"]


def _dilution(conc: float, target: float) -> float:
    raw = conc / target
    steps = [10, 20, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000]
    return float(min(steps, key=lambda s: abs(math.log(s / raw))))


def simulate_ev(
    params: Mapping[str, Any],
    rng: np.random.Generator,
) -> tuple[list[LotTruth], pd.DataFrame, pd.DataFrame, dict[str, bytes]]:
    """Simulate lots, NTA runs and their exports.

    Parameters
    ----------
    params
        Resolved parameters.
    rng
        Random generator.

    Returns
    -------
    lots : list[LotTruth]
        Lot truth with ``measured`` filled from the primary export.
    ev_lots : pandas.DataFrame
        ``ev_lots.tsv`` (:data:`LOT_COLUMNS`).
    nta_runs : pandas.DataFrame
        ``ev_nta_runs.tsv`` (:data:`NTA_RUN_COLUMNS`).
    files : dict[str, bytes]
        Relative path (under the scenario) -> file content.
    """
    ev = params["ev"]
    lots = simulate_lot_truth(params, rng)
    files: dict[str, bytes] = {}
    runs = []
    rows = []
    for lot in lots:
        ns_runs: list[NanoSightRun] = []
        zv_runs: list[ZetaViewRun] = []
        day = lot.manufacture + dt.timedelta(days=7)
        for r in range(int(ev["nanosight_replicates"])):
            dil = _dilution(lot.conc, float(ev["nta_target_conc"]))
            when = dt.datetime.combine(day, dt.time(10, 0)) + dt.timedelta(
                minutes=int(rng.integers(0, 300)) + 30 * r
            )
            run = simulate_nanosight(lot, dil, r + 1, when, params, rng)
            rel = (
                f"data/nta/{lot.lot_id}/{lot.lot_id}_d{int(dil)}_r{r + 1} "
                f"{when:%Y-%m-%d %H-%M-%S}-ExperimentSummary.csv"
            ).replace(" ", "_")
            files[rel] = run.text.encode("latin-1")
            runs.append(
                {
                    "lot_id": lot.lot_id,
                    "instrument": "NanoSight",
                    "file": rel,
                    "dilution": dil,
                    "replicate": r + 1,
                }
            )
            ns_runs.append(run)
        for r in range(int(ev["zetaview_replicates"])):
            dil = _dilution(lot.conc, float(ev["nta_target_conc"]) / 1.5)
            when = dt.datetime.combine(
                day + dt.timedelta(days=1), dt.time(9, 0)
            ) + dt.timedelta(minutes=int(rng.integers(0, 300)) + 30 * r)
            exp = f"{when:%Y%m%d}_{int(rng.integers(1, 9999)):04d}"
            zrun = simulate_zetaview(lot, dil, when, exp, params, rng)
            laser = int(ev["zetaview_laser"])
            base = f"data/nta/{lot.lot_id}/{exp}_{lot.lot_id}_size_{laser}"
            files[f"{base}.txt"] = zrun.size_bytes
            files[f"{base}_11pos.txt"] = zrun.pos_bytes
            runs.append(
                {
                    "lot_id": lot.lot_id,
                    "instrument": "ZetaView",
                    "file": f"{base}.txt",
                    "dilution": dil,
                    "replicate": r + 1,
                }
            )
            zv_runs.append(zrun)
        rows.append(_lot_row(lot, ns_runs, zv_runs, runs, params, rng))
    lots_df = pd.DataFrame(rows)[LOT_COLUMNS]
    runs_df = pd.DataFrame(runs)[NTA_RUN_COLUMNS]
    return lots, lots_df, runs_df, files


def _lot_row(
    lot: LotTruth,
    ns: list[NanoSightRun],
    zv: list[ZetaViewRun],
    runs: list[dict[str, Any]],
    params: Mapping[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    lot_runs = [r for r in runs if r["lot_id"] == lot.lot_id]
    if ns:
        dil = next(r["dilution"] for r in lot_runs if r["instrument"] == "NanoSight")
        conc = float(fmt_ns_conc(float(np.mean([r.conc_avg for r in ns])) * dil))
        st = {k: float(np.mean([r.stats[k] for r in ns])) for k in ns[0].stats}
        instrument = "NanoSight NS300"
        cam: int | None = ns[0].camera_level
        thr: int | None = ns[0].detection_threshold
        frac = float(np.mean([r.frac_50_400 for r in ns]))
    else:
        dil = next(r["dilution"] for r in lot_runs if r["instrument"] == "ZetaView")
        conc = float(fmt_ns_conc(float(np.mean([r.conc_diluted for r in zv])) * dil))
        d50 = float(np.mean([r.d50 for r in zv]))
        st = {
            "mean": d50 * math.exp(lot.sigma**2 / 2),
            "mode": d50 * math.exp(-(lot.sigma**2)),
            "sd": d50
            * math.sqrt((math.exp(lot.sigma**2) - 1) * math.exp(lot.sigma**2)),
            "d10": d50 * math.exp(-1.2816 * lot.sigma),
            "d50": d50,
            "d90": d50 * math.exp(1.2816 * lot.sigma),
        }
        instrument, cam, thr = "ZetaView PMX-120", None, None
        frac = float("nan")
    protein = round(lot.protein, 1)
    ppu = conc / protein
    lot.measured = {
        "particle_conc_per_ml": conc,
        "mode_nm": round(st["mode"], 1),
        "d10_nm": round(st["d10"], 1),
        "d50_nm": round(st["d50"], 1),
        "d90_nm": round(st["d90"], 1),
        "frac_50_400": frac,
        "particles_per_ug": ppu,
        "endotoxin_eu_per_ml": round(lot.endotoxin, 3),
        "sterility": lot.sterility,
    }
    ev = params["ev"]
    decision = "rejected" if lot.fails and not ev["failing_lot_dosed"] else "released"
    return {
        "lot_id": lot.lot_id,
        "manufacture_date": lot.manufacture.isoformat(),
        "expiry_date": (lot.manufacture + dt.timedelta(days=365)).isoformat(),
        "isolation_method": "TFF+SEC",
        "storage": "-80C in PBS with 25 mM trehalose",
        "release_decision": decision,
        "cm_volume_ml": float(rng.choice([2000.0, 3000.0, 4000.0])),
        "producer_cells_n": float(f"{rng.uniform(1.5e8, 4.5e8):.2e}"),
        "donor_id": f"FASC-D{1 + lot.index // 3:02d}",
        "passage": int(rng.integers(3, 6)),
        "particle_conc_per_ml": conc,
        "nta_instrument": instrument,
        "camera_level": cam,
        "detection_threshold": thr,
        "dilution": dil,
        "mode_nm": round(st["mode"], 1),
        "mean_nm": round(st["mean"], 1),
        "sd_nm": round(st["sd"], 1),
        "d10_nm": round(st["d10"], 1),
        "d50_nm": round(st["d50"], 1),
        "d90_nm": round(st["d90"], 1),
        "span": round((st["d90"] - st["d10"]) / st["d50"], 3),
        "protein_ug_per_ml": protein,
        "particles_per_ug": float(f"{ppu:.3e}"),
        "cd9": "pos",
        "cd63": "pos",
        "cd81": "pos",
        "tsg101": "pos",
        "alix": "pos",
        "syntenin": "pos",
        "calnexin": "neg",
        "gm130": "neg",
        "apoa1": "neg",
        "albumin": "neg",
        "cd73": "pos",
        "cd90": "pos",
        "cd105": "pos",
        "cd45": "neg",
        "tem_ok": True,
        "tem_image": None,
        "zeta_mv": round(lot.zeta, 1),
        "mir126_copies_per_1e9": float(f"{10 ** rng.uniform(3.5, 4.5):.3g}"),
        "vegfa_pg_per_1e9": round(float(rng.uniform(5, 40)), 1),
        "potency_pct_of_ref": round(float(rng.uniform(85, 120)), 0),
        "sterility": lot.sterility,
        "endotoxin_eu_per_ml": round(lot.endotoxin, 3),
        "mycoplasma": "negative",
        "bsa_ng_per_ml": round(float(rng.uniform(0.5, 5.0)), 1),
    }


def assign_lots(
    roster: pd.DataFrame,
    lots: list[LotTruth],
    lots_df: pd.DataFrame,
    params: Mapping[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Give each dosed exosome-arm participant a lot and compute the dose.

    A participant receives the most recently released usable lot on her dose
    date (the failing lot is usable only if ``ev.failing_lot_dosed``). The dose
    in particles is the lot's labelled concentration times the product volume.

    Parameters
    ----------
    roster
        Participants (``arm``, ``route``, ``dosed``, ``dose_date``).
    lots
        Lot truth in manufacturing order.
    lots_df
        ``ev_lots.tsv`` (labelled concentration).
    params
        Resolved parameters.
    rng
        Random generator.

    Returns
    -------
    pandas.DataFrame
        The roster with ``ev_lot_id``, ``dose_particles``, ``dose_volume_ml``
        and ``infusion_minutes``.
    """
    ev = params["ev"]
    treat = params["trial"]["arms"][1]
    usable = [lot for lot in lots if not lot.fails or ev["failing_lot_dosed"]]
    labelled = dict(
        zip(lots_df["lot_id"], lots_df["particle_conc_per_ml"], strict=True)
    )
    out = roster.copy()
    lot_ids: list[str | None] = []
    dose_p: list[float | None] = []
    vol: list[float | None] = []
    minutes: list[float | None] = []
    for r in out.itertuples(index=False):
        if not r.dosed:
            lot_ids.append(None)
            dose_p.append(None)
            vol.append(None)
            minutes.append(None)
            continue
        iv = r.route == "IV"
        vol.append(float(ev["iv_volume_ml"] if iv else ev["im_volume_ml"]))
        minutes.append(
            float(rng.integers(*ev["infusion_minutes_range"])) if iv else None
        )
        if r.arm != treat:
            lot_ids.append(None)
            dose_p.append(0.0)
            continue
        released = [lot for lot in usable if lot.release <= r.dose_date]
        lot = released[-1] if released else usable[0]
        lot_ids.append(lot.lot_id)
        dose = labelled[lot.lot_id] * float(ev["product_volume_ml"])
        dose_p.append(float(f"{dose:.3e}"))
    out["ev_lot_id"] = lot_ids
    out["dose_particles"] = dose_p
    out["dose_volume_ml"] = vol
    out["infusion_minutes"] = minutes
    return out


def write_files(outdir: Path, files: Mapping[str, bytes]) -> None:
    """Write exported files under the scenario directory, atomically.

    Parameters
    ----------
    outdir
        Scenario directory.
    files
        Relative path -> content.
    """
    for rel, content in sorted(files.items()):
        with atomic_open(outdir / rel, "wb") as fh:
            fh.write(content)
