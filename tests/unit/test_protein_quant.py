"""Plate quantification against hand-built plates whose ODs follow a known 4PL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.proteins.curves import ll5
from exomir.proteins.plates import LAYOUT_COLUMNS, PlateData
from exomir.proteins.quant import quantify
from exomir.proteins.settings import AcceptanceSettings, CurveSettings, QuantSettings

TRUTH = {"b": -1.1, "c": 0.05, "d": 3.0, "e": 300.0, "f": 1.0}
BLANK = 0.04
STANDARDS = [2000, 1000, 500, 250, 125, 62.5, 31.25, 15.625]
SAMPLES = {
    "S1": (400.0, 1.0),
    "S2": (90.0, 4.0),
    "S3": (2.0, 1.0),
    "S4": (1e5, 1.0),
    "S5": (50.0, 1.0),
}


def od(conc: float) -> float:
    return float(ll5(np.array([conc]), **TRUTH)[0]) + BLANK


def build(qc=(("QL", 40.0, 40.0), ("QH", 800.0, 800.0)), tweak=None) -> PlateData:
    """Plate with 8 standards, 2 blanks, 2 QCs and 5 samples in duplicate (exact ODs)."""
    lay, reads = [], []
    wells = iter(f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13))

    def add(role, conc, sid=None, level=None, nominal=None, dil=1.0, rep=1):
        w = next(wells)
        lay.append([w, role, sid, level, nominal, dil, rep, None])
        sig = BLANK if role == "blank" else od(conc / dil)
        reads.append([w, "IL6", sig])

    for i, n in enumerate(STANDARDS):
        for rep in (1, 2):
            add("standard", n, level=f"S{i + 1}", nominal=n, rep=rep)
    for rep in (1, 2):
        add("blank", 0.0, rep=rep)
    for level, nominal, actual in qc:
        for rep in (1, 2):
            add("qc", actual, level=level, nominal=nominal, rep=rep)
    for sid, (conc, dil) in SAMPLES.items():
        for rep in (1, 2):
            add("sample", conc, sid=sid, dil=dil, rep=rep)
    layout = pd.DataFrame(lay, columns=LAYOUT_COLUMNS)
    rd = pd.DataFrame(reads, columns=["well", "analyte", "signal"])
    if tweak:
        tweak(layout, rd)
    return PlateData("P1", "elisa", Path("p1.txt"), rd, layout)


FOUR = QuantSettings(curve=CurveSettings(model="4pl"))


def test_exact_plate_recovers_truth():
    res = quantify(build(), FOUR)
    cur = res.curves.iloc[0]
    for p in "bcde":
        assert cur[p] == pytest.approx(TRUTH[p], rel=1e-6)
    assert cur["blank"] == pytest.approx(BLANK) and cur["r2"] == pytest.approx(1.0)
    assert (cur["lloq"], cur["uloq"]) == (15.625, 2000)
    assert res.standards["recovery"].to_numpy() == pytest.approx(1.0, rel=1e-6)
    smp = res.samples.set_index("protein_sample_id")
    assert smp.loc["S1", "concentration"] == pytest.approx(400, rel=1e-6)
    assert smp.loc["S2", "concentration"] == pytest.approx(
        90, rel=1e-6
    )  # 22.5 in-well x 4
    assert smp.loc["S1", "flag"] == "ok"
    s3 = smp.loc["S3"]
    assert (
        s3["flag"] == "below_lloq"
        and np.isnan(s3["concentration"])
        and s3["lloq"] == 15.625
    )
    assert smp.loc["S4", "flag"] == "above_uloq" and smp.loc["S4", "uloq"] == 2000
    assert smp.loc["S2", "lloq"] == 62.5  # the limit times the sample's dilution
    assert (
        res.plate_qc.iloc[0]["verdict"] == "pass"
        and res.plate_qc.iloc[0]["qc_passed"] == "2/2"
    )


def test_high_cv_and_lloq_moves_when_lowest_standard_is_imprecise():
    def tweak(layout, rd):
        w5 = layout.index[
            (layout["protein_sample_id"] == "S5") & (layout["replicate"] == 2)
        ]
        rd.loc[w5, "signal"] = od(80.0)
        s8 = layout.index[(layout["level"] == "S8") & (layout["replicate"] == 2)]
        rd.loc[s8, "signal"] = od(15.625 * 1.8)

    res = quantify(build(tweak=tweak), FOUR)
    smp = res.samples.set_index("protein_sample_id")
    assert smp.loc["S5", "flag"] == "high_cv" and smp.loc["S5", "cv"] > 0.2
    assert np.isfinite(smp.loc["S5", "concentration"])
    assert res.curves.iloc[0]["lloq"] == 31.25
    assert res.plate_qc.iloc[0]["verdict"] == "pass"


def test_failing_qc_fails_only_this_plate():
    res = quantify(build(qc=(("QL", 40.0, 60.0), ("QH", 800.0, 1200.0))), FOUR)
    qc = res.plate_qc.iloc[0]
    assert (
        qc["verdict"] == "fail"
        and "0 of 2 QC levels" in qc["reasons"]
        and "QC QH: measured 1200" in qc["reasons"]
    )
    assert set(res.samples["flag"]) == {"plate_failed"}
    assert res.samples["concentration"].isna().all()


def test_not_monotone_standards_fail_the_plate_naming_wells():
    def tweak(layout, rd):
        rd.loc[layout.index[layout["level"] == "S2"], "signal"] = od(200.0)

    res = quantify(build(tweak=tweak), FOUR)
    reasons = res.plate_qc.iloc[0]["reasons"]
    assert (
        "standard series not monotone: level S2 (1000, wells A3, A4) reads 1.2 against 1.93 for level S3"
        in reasons
    )
    assert set(res.samples["flag"]) == {"plate_failed"}


def test_flat_curve_fails():
    def tweak(layout, rd):
        rd["signal"] = 0.3 + 0.001 * np.arange(len(rd)) % 0.01

    res = quantify(build(tweak=tweak), QuantSettings(acceptance=AcceptanceSettings()))
    assert res.plate_qc.iloc[0]["verdict"] == "fail"
    assert set(res.samples["flag"]) == {"plate_failed"}


def test_run_writes_every_table_deterministically_and_not_measured(tmp_path):
    """Two runs give the same bytes; a sample of the sheet without wells is not_measured."""
    from exomir.proteins.run import run_protein_quant
    from exomir.simulate.plates import (
        DEMO_PANEL,
        PlateSimParams,
        panel_config,
        render_plates,
    )
    from exomir.tables import write_table

    panel = {"IL6": DEMO_PANEL["IL6"]}
    ids = [f"PS{i}" for i in range(5)]
    levels = pd.DataFrame(
        {
            "protein_sample_id": ids,
            "analyte": "IL6",
            "true_conc": [2.0, 5.0, 8.0, 20.0, 60.0],
        }
    )
    out = render_plates(
        levels,
        PlateSimParams(analytes=panel, failing_plate=False),
        np.random.default_rng(2),
        tmp_path,
    )
    samples = pd.DataFrame(
        {
            "protein_sample_id": [*ids, "PS9"],
            "participant_id": "P1",
            "visit": "baseline",
        }
    )
    write_table(samples, tmp_path / "ps.tsv")
    write_table(out["protein_plates"], tmp_path / "pp.tsv")
    digests = []
    for k in ("a", "b"):
        outputs = {
            n: str(tmp_path / k / f"{n}.tsv")
            for n in ("concentrations", "wells", "standards", "curves", "plate_qc")
        }
        (tmp_path / k).mkdir()
        tabs = run_protein_quant(
            tmp_path / "ps.tsv",
            tmp_path / "pp.tsv",
            outputs,
            tmp_path / k / "figs",
            FOUR,
            panel_config(panel),
            tmp_path,
        )
        digests.append(
            sorted(
                (p.name, p.read_bytes())
                for p in (tmp_path / k).rglob("*")
                if p.is_file()
            )
        )
    assert digests[0] == digests[1] and len(digests[0]) == 6
    conc = tabs["concentrations"].set_index("protein_sample_id")
    assert conc.loc["PS9", "flag"] == "not_measured" and pd.isna(
        conc.loc["PS9", "concentration"]
    )
    assert (conc["unit"] == "pg/mL").all() and len(conc) == 6


def test_combine_keeps_the_best_measurement():
    """Re-assay and second dilution: ok beats plate_failed / above_uloq; ties go to the smaller dilution."""
    from exomir.proteins.quant import SAMPLE_COLUMNS
    from exomir.proteins.run import combine

    rows = [  # plate, analyte, sample, dilution, n, mean signal, concentration, flag, cv, lloq, uloq
        ["A", "IL6", "S1", 2.0, 2, 1.0, np.nan, "plate_failed", 0.05, 4.0, 300.0],
        ["B", "IL6", "S1", 2.0, 2, 1.0, 50.0, "ok", 0.05, 4.0, 300.0],
        ["A", "IL6", "S2", 1.0, 2, 3.0, np.nan, "above_uloq", 0.01, 2.0, 150.0],
        ["B", "IL6", "S2", 4.0, 2, 1.0, 420.0, "ok", 0.02, 8.0, 600.0],
        ["A", "IL6", "S3", 4.0, 2, 1.0, 10.0, "ok", 0.02, 8.0, 600.0],
        ["A", "IL6", "S3", 2.0, 2, 1.0, 11.0, "ok", 0.03, 4.0, 300.0],
    ]
    per_plate = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
    samples = pd.DataFrame(
        {
            "protein_sample_id": ["S1", "S2", "S3", "S4"],
            "participant_id": "X",
            "visit": "baseline",
        }
    )
    got = combine(samples, per_plate, {"IL6": "pg/mL"}, ["A", "B"]).set_index(
        "protein_sample_id"
    )
    assert (
        got.loc["S1", "flag"],
        got.loc["S1", "concentration"],
        got.loc["S1", "plate_id"],
    ) == ("ok", 50.0, "B")
    assert (got.loc["S2", "concentration"], got.loc["S2", "uloq"]) == (420.0, 600.0)
    assert (got.loc["S3", "concentration"], got.loc["S3", "lloq"]) == (
        11.0,
        4.0,
    )  # dilution 2 before 4
    assert got.loc["S4", "flag"] == "not_measured" and pd.isna(
        got.loc["S4", "plate_id"]
    )
