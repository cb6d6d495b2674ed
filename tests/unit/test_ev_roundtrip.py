"""Round trip on the simulator's NTA exports (exomir.simulate.ev), both layouts.

Two questions:

1. Does the reader recover what the simulator put in? With the simulator's
   measurement noise turned down (no concentration noise between videos or
   positions, 60 NanoSight videos, 20 000 ZetaView traces per position) the
   export's true distribution is the lot's log-normal, and mode and D50 must be
   within one size bin of it (NanoSight 1 nm, ZetaView 5 nm; for lots above
   200 nm, 0.5 %, the size of the simulator's residual per-video jitter) and
   the concentration within 1 %.
2. With the default (noisy) simulation, does the certificate fail exactly the
   lot the truth table says fails, for the planted criterion? And are the
   exported statistics read back within one bin (D50) and 1 % (concentration)
   of what the simulator wrote?
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exomir.ev import size_stats
from exomir.ev.lots import evaluate
from exomir.ev.nanosight import read_nanosight
from exomir.ev.zetaview import read_zetaview
from exomir.simulate import ev as simulate
from exomir.simulate.params import resolve_params
from exomir.tables import read_table


def params(*sets: str) -> dict[str, Any]:
    return resolve_params(sets=list(sets))


def within_bin(value: float, truth: float, width: float) -> bool:
    return abs(value - truth) <= max(width, 0.005 * truth)


def test_low_noise_round_trip_both_layouts(tmp_path: Path) -> None:
    p = params(
        "ev.nta_conc_cv=0.0",
        "ev.nanosight_videos=60",
        "ev.zetaview_traces_range=[20000,20000]",
    )
    rng = np.random.default_rng(11)
    lots = simulate.simulate_lot_truth(p, rng)
    assert any(lot.fails for lot in lots)
    for lot in lots:
        dil = 500.0
        ns = simulate.simulate_nanosight(
            lot, dil, 1, dt.datetime(2024, 1, 1, 10), p, rng
        )
        f = tmp_path / f"{lot.lot_id}-ExperimentSummary.csv"
        f.write_bytes(ns.text.encode("latin-1"))
        run = read_nanosight(f)
        factor, _, _ = run.stock_factor(dil)
        st = size_stats(run.centres, run.conc * factor, run.width)
        assert within_bin(st["mode_nm"], lot.mode, 1.0), (
            lot.lot_id,
            st["mode_nm"],
            lot.mode,
        )
        assert within_bin(st["d50_nm"], lot.d50, 1.0), (
            lot.lot_id,
            st["d50_nm"],
            lot.d50,
        )
        assert run.conc_total * factor == pytest.approx(lot.conc, rel=0.01)

        zv = simulate.simulate_zetaview(
            lot, dil, dt.datetime(2024, 1, 2, 9), "20240102_0001", p, rng
        )
        g = tmp_path / f"{lot.lot_id}_size_488.txt"
        g.write_bytes(zv.size_bytes)
        g.with_name(f"{lot.lot_id}_size_488_11pos.txt").write_bytes(zv.pos_bytes)
        run = read_zetaview(g)
        factor, _, _ = run.stock_factor(dil)
        st = size_stats(run.centres, run.conc * factor, run.width)
        assert within_bin(st["mode_nm"], lot.mode, 5.0), (
            lot.lot_id,
            st["mode_nm"],
            lot.mode,
        )
        assert within_bin(st["d50_nm"], lot.d50, 5.0), (
            lot.lot_id,
            st["d50_nm"],
            lot.d50,
        )
        # The export holds position concentrations to 2 significant digits,
        # so against the lot's truth only 5 %; against what was written, 1 %.
        assert run.conc_total * factor == pytest.approx(zv.conc_diluted * dil, rel=0.01)
        assert run.conc_total * factor == pytest.approx(lot.conc, rel=0.05)


def scenario(
    tmp_path: Path, p: dict[str, Any], seed: int
) -> tuple[Any, pd.DataFrame, Any]:
    lots, lots_df, runs_df, files = simulate.simulate_ev(p, np.random.default_rng(seed))
    simulate.write_files(tmp_path, files)
    (tmp_path / "config").mkdir(exist_ok=True)
    lots_df.to_csv(tmp_path / "config" / "ev_lots.tsv", sep="\t", index=False)
    runs_df.to_csv(tmp_path / "config" / "ev_nta_runs.tsv", sep="\t", index=False)
    res = evaluate(
        read_table(tmp_path / "config" / "ev_lots.tsv", "ev_lots"),
        read_table(tmp_path / "config" / "ev_nta_runs.tsv", "ev_nta_runs"),
        None,
        tmp_path,
    )
    return lots, simulate.lot_truth_table(lots, p), res


def test_default_simulation_reads_back_and_fails_the_planted_lot(
    tmp_path: Path,
) -> None:
    p = params()
    lots, truth, res = scenario(tmp_path, p, 7)
    runs = res.runs
    assert (runs["status"] == "ok").all()
    for lot in lots:
        ns = runs[
            (runs["lot_id"] == lot.lot_id) & (runs["instrument"] == "NanoSight")
        ].iloc[0]
        # Written values: mean of the per-video D50s and of the [Results] row.
        assert abs(ns["d50_nm"] - lot.measured["d50_nm"]) <= 1.0
        assert ns["conc_per_ml"] == pytest.approx(
            lot.measured["particle_conc_per_ml"], rel=0.01
        )
        assert ns["frac_in_window"] == pytest.approx(
            lot.measured["frac_50_400"], abs=1e-4
        )
        zv = runs[
            (runs["lot_id"] == lot.lot_id) & (runs["instrument"] == "ZetaView")
        ].iloc[0]
        assert abs(zv["d50_nm"] - zv["reported_d50_nm"]) <= 5.0
        pos = pd.read_csv(
            tmp_path / str(zv["file"]).replace(".txt", "_11pos.txt"),
            sep="\t",
            encoding="latin-1",
            keep_default_na=False,
        )
        kept = pos[pos["Use"] == "X"]["Conc. (p./mL)"].astype(float)
        assert zv["conc_per_ml"] == pytest.approx(
            kept.mean() * zv["dilution"], rel=0.01
        )
        # Mode against the log-normal truth, with the simulator's noise.
        assert ns["mode_nm"] == pytest.approx(lot.mode, rel=0.05)
    verdicts = res.lot_summary.set_index("lot_id")["verdict"]
    failing = set(truth.loc[truth["lot_fails"], "lot_id"])
    assert set(verdicts[verdicts == "fail"].index) == failing
    assert set(verdicts[verdicts != "fail"]) == {"pass"}
    assert_right_criteria(truth, res.lot_qc)


def assert_right_criteria(truth: pd.DataFrame, qc: pd.DataFrame) -> None:
    bad_truth = (
        truth[~truth["passes"]].groupby("lot_id")["criterion"].apply(set).to_dict()
    )
    crit = qc[(qc["status"] == "fail") & (qc["criterion"] != "verdict")]
    bad_cert = crit.groupby("lot_id")["criterion"].apply(set).to_dict()
    assert bad_cert == bad_truth
    planted = truth.loc[
        truth["lot_fails"], ["lot_id", "planted_failure"]
    ].drop_duplicates()
    for lot, kind in planted.itertuples(index=False):
        assert set(crit.loc[crit["lot_id"] == lot, "category"]) == {kind}


@pytest.mark.parametrize("mode", ["endotoxin", "purity", "sterility"])
def test_other_planted_failures(tmp_path: Path, mode: str) -> None:
    p = params(f"ev.failure_mode={mode}", "ev.n_lots=3", "ev.failing_lot=2")
    _, truth, res = scenario(tmp_path, p, 3)
    assert math.isclose(len(res.lot_summary), 3)
    assert (res.lot_summary["verdict"] == "fail").sum() == 1
    assert_right_criteria(truth, res.lot_qc)
