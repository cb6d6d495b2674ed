"""Plate simulator: planted problems, truth files, determinism, and accuracy of the quantification."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.proteins.quant import quantify
from exomir.proteins.settings import quant_settings
from exomir.proteins.sheets import read_plate_row
from exomir.simulate import params as P
from exomir.simulate.plates import DEMO_PANEL, PlateSimParams, render_plates

PANEL = {a: DEMO_PANEL[a] for a in ("sFlt1", "IL6")}


def levels(n: int = 45, seed: int = 0) -> pd.DataFrame:
    """Own truth frame: log-normal around each analyte's median."""
    rng = np.random.default_rng(seed)
    rows = [
        (f"S{i:03d}", a, DEMO_PANEL[a][3] * float(np.exp(rng.normal(0, 0.6))))
        for i in range(n)
        for a in PANEL
    ]
    return pd.DataFrame(rows, columns=["protein_sample_id", "analyte", "true_conc"])


def test_default_parameters_write_no_plates():
    assert P.resolve_params()["proteins"]["enabled"] is False
    assert P.resolve_params(preset="demo")["proteins"]["enabled"] is True


def test_deterministic_given_the_generator(tmp_path):
    sp = PlateSimParams(analytes=PANEL)
    for k in ("a", "b"):
        render_plates(levels(), sp, np.random.default_rng(7), tmp_path / k)

    def digest(d: Path) -> dict[str, str]:
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*.t*"))
        }

    assert (
        digest(tmp_path / "a") == digest(tmp_path / "b")
        and len(digest(tmp_path / "a")) == 8
    )


def test_planted_problems_are_found_and_accuracy(tmp_path):
    out = render_plates(
        levels(), PlateSimParams(analytes=PANEL), np.random.default_rng(3), tmp_path
    )
    sheet, truth = out["protein_plates"], out["truth_concentrations"]
    assert list(sheet["plate_id"]) == [
        "ELISA01",
        "ELISA02",
        "ELISA03",
        "ELISA04",
    ]  # 45 samples: 2 plates each
    s = quant_settings({})
    samples, verdicts = [], {}
    for _, row in sheet.iterrows():
        res = quantify(read_plate_row(row, tmp_path, s.curve), s)
        samples.append(res.samples)
        verdicts[row["plate_id"]] = res.plate_qc.iloc[0]["verdict"]
    failing = out["truth_plates"].set_index("plate_id")["standard_stock_factor"] != 1
    assert verdicts == {p: ("fail" if failing[p] else "pass") for p in verdicts}
    assert failing.sum() == 1
    m = pd.concat(samples).merge(truth, on=["protein_sample_id", "analyte", "plate_id"])
    assert len(m) == len(truth) == 90
    flags = m.set_index("planted")["flag"]
    assert flags["above_uloq"] == "above_uloq" and flags["outlier_well"] == "high_cv"
    ok = m[m["flag"] == "ok"]
    ape = (ok["concentration"] / ok["true_conc"] - 1).abs()
    assert ape.median() < 0.10 and len(ok) > 60
    assert set(m.loc[m["plate_id"].isin(failing[failing].index), "flag"]) == {
        "plate_failed"
    }


def test_unknown_analyte_parameter():
    with pytest.raises(ValueError, match="unknown \\['CRP'\\]"):
        PlateSimParams.from_params({"analytes": ["CRP"]})
