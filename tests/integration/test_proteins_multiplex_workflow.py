"""Luminex and Olink rows through the workflow (rules protein_quant, protein_effects).

A copy of the small simulated trial gets one simulated Luminex plate (VEGFA,
layout from the export's sample names) and two Olink plates (TNF, 8 bridge
samples, a planted offset on the second plate) beside its ELISA plates. Only
the protein rules run: the multiplex rows must reach concentrations.tsv with
their own outputs, leave the ELISA rows unchanged and be accepted by the
protein analysis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _workflow import copy_run, run_checked, snakemake_cmd

from exomir.simulate.multiplex import (
    DEFAULT_ASSAYS,
    DEFAULT_CURVES,
    luminex_plate,
    npx_study,
    write_npx,
    write_xponent,
)

pytestmark = pytest.mark.slow
BRIDGES = [f"BR{i}" for i in range(8)]


def add_multiplex_rows(scn: Path) -> dict[str, object]:
    """Write a Luminex export and an NPX table into ``scn``; add their plate rows and panel entries."""
    rng = np.random.default_rng(7)
    ids = list(
        pd.read_csv(scn / "config/protein_samples.tsv", sep="\t")["protein_sample_id"]
    )
    truth = {s: float(np.exp(rng.normal(np.log(1500), 0.6))) for s in ids}
    sim = luminex_plate(
        rng,
        {s: {"VEGFA": c} for s, c in truth.items()},
        curves={"VEGFA": DEFAULT_CURVES["VEGF-A"]},
    )
    write_xponent(scn / "data/proteins/LUM01.csv", sim, batch="LUM01")
    true = pd.DataFrame(
        [
            {"sample_id": s, "assay": "TNF", "npx": float(rng.normal(6, 1))}
            for s in [*BRIDGES, *ids]
        ]
    )
    half = len(ids) // 2
    npx = npx_study(
        rng,
        true,
        {"OLK1": ids[:half], "OLK2": ids[half:]},
        BRIDGES,
        {("OLK2", "TNF"): 0.7},
        assays={"TNF": DEFAULT_ASSAYS["TNF"]},
    )
    write_npx(scn / "data/proteins/npx.csv", npx)
    sheet = scn / "config/protein_plates.tsv"
    pp = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    add = pd.DataFrame(
        [
            ["LUM01", "luminex", "data/proteins/LUM01.csv", "VEGFA"],
            ["OLK1", "olink", "data/proteins/npx.csv", "TNF"],
            ["OLK2", "olink", "data/proteins/npx.csv", "TNF"],
        ],
        columns=["plate_id", "assay", "reads", "analyte"],
    ).reindex(columns=pp.columns, fill_value="")
    pd.concat([pp, add]).to_csv(sheet, sep="\t", index=False)
    cfg_path = scn / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    prot = cfg["proteins"]
    prot["panel"]["VEGFA"] = {
        "label": "VEGF-A (Luminex)",
        "unit": "pg/mL",
        "assay": "luminex",
    }
    prot["panel"]["TNF"] = {"label": "TNF (Olink)", "unit": "NPX", "assay": "olink"}
    prot["luminex"] = {
        "standards": {"VEGFA": {"top": 10000, "dilution_factor": 4}},
        "controls": {"VEGFA": {"C1": 500}},
    }
    prot["npx"] = {"bridge_samples": BRIDGES}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return {"luminex_truth": truth, "npx": npx, "ids": ids}


@pytest.fixture(scope="module")
def mx(
    small_trial_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict]:
    d = copy_run(small_trial_run, tmp_path_factory.mktemp("proteins_mx") / "scn")
    elisa = d / "results/proteins/concentrations.tsv"
    before = elisa.read_bytes() if elisa.is_file() else None
    truth = add_multiplex_rows(d)
    run_checked(
        snakemake_cmd(
            d, "results/proteins/concentrations.tsv", "results/proteins/effects.tsv"
        )
    )
    return d, {**truth, "elisa_before": before}


def check_multiplex_outputs(d: Path, truth: dict) -> None:
    """The checks of :func:`test_multiplex_rows_reach_the_results` (callable on any run)."""
    conc = pd.read_csv(d / "results/proteins/concentrations.tsv", sep="\t")
    assert list(conc.columns[:9]) == [
        "protein_sample_id", "participant_id", "visit", "analyte", "concentration",
        "unit", "flag", "plate_id", "cv",
    ]  # fmt: skip
    n = len(truth["ids"])
    vegf = conc[conc["analyte"] == "VEGFA"].set_index("protein_sample_id")
    tnf = conc[conc["analyte"] == "TNF"].set_index("protein_sample_id")
    assert len(vegf) == n and len(tnf) == n
    ok = vegf[vegf["flag"] == "ok"]
    ape = (ok["concentration"] / pd.Series(truth["luminex_truth"])[ok.index] - 1).abs()
    # one plate's curve error is shared by its samples (a few % either way), so the
    # issue's target is on the median; single samples stay within 20%
    assert len(ok) >= n - 4 and np.median(ape) < 0.10 and ape.max() < 0.20
    assert (tnf["unit"] == "NPX").all() and set(tnf["flag"]) <= {"ok", "below_lod"}
    true = truth["npx"].drop_duplicates("SampleID").set_index("SampleID")["true_npx"]
    assert (tnf["concentration"] - true[tnf.index]).abs().max() < 0.4
    for f in ("bead_counts", "npx_plate_qc", "npx_bridge_adjustments", "npx_detail"):
        assert (d / f"results/proteins/{f}.tsv").is_file()
    if truth.get("elisa_before") is not None:  # ELISA lines unchanged, byte for byte
        text = (d / "results/proteins/concentrations.tsv").read_text().splitlines()
        fields = [line.split("\t") for line in text]
        kept = [
            t for t, f in zip(text, fields, strict=True) if f[3] not in ("VEGFA", "TNF")
        ]
        assert kept == truth["elisa_before"].decode().splitlines()
    eff = pd.read_csv(d / "results/proteins/effects.tsv", sep="\t")
    prim = eff[eff["analysis"] == "primary"].set_index(["analyte", "population"])
    assert prim.loc[("TNF", "mITT"), "effect_measure"] == "mean difference (NPX)"
    assert np.isfinite(prim.loc[("TNF", "mITT"), "estimate"])
    assert np.isfinite(prim.loc[("VEGFA", "mITT"), "estimate"])


def test_multiplex_rows_reach_the_results(mx: tuple[Path, dict]) -> None:
    d, truth = mx
    check_multiplex_outputs(d, truth)
