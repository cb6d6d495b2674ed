"""protein_quant with ELISA, Luminex and Olink rows in one plates sheet (simulated truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.errors import ValidationError
from exomir.proteins.analysis import (
    FLAGS,
    analyse_proteins,
    flag_summary,
    protein_values,
    read_concentrations,
)
from exomir.proteins.luminex import LuminexSettings
from exomir.proteins.npx import NpxSettings
from exomir.proteins.run import (
    CONC_COLUMNS,
    MULTIPLEX_OUTPUT_NAMES,
    OUTPUT_NAMES,
    run_protein_quant,
)
from exomir.proteins.settings import quant_settings
from exomir.proteins.settings_analysis import protein_analysis_settings
from exomir.proteins.sheets import check_protein_sheets
from exomir.simulate.multiplex import (
    DEFAULT_ASSAYS,
    DEFAULT_CURVES,
    luminex_plate,
    npx_study,
    write_npx,
    write_xponent,
)
from exomir.simulate.plates import DEMO_PANEL, PlateSimParams, render_plates
from exomir.tables import read_table, write_table

IDS = [f"PS{i:02d}" for i in range(1, 17)]
LUM_CURVES = {"VEGFA": DEFAULT_CURVES["VEGF-A"], "PlGF": DEFAULT_CURVES["PlGF"]}
NPX_ASSAYS = {a: DEFAULT_ASSAYS[a] for a in ("TNF", "FLT1")}
BRIDGES = [f"BR{i}" for i in range(1, 9)]
OLINK_PLATES = {"OLK1": IDS[:6], "OLK2": IDS[6:11], "OLK3": IDS[11:]}
PANEL = {
    "IL6": {"label": "IL-6", "unit": "pg/mL", "assay": "elisa", "transform": "log"},
    "VEGFA": {"label": "VEGF-A", "unit": "pg/mL", "assay": "luminex"},
    "PlGF": {"label": "PlGF", "unit": "pg/mL", "assay": "luminex"},
    "TNF": {"label": "TNF", "unit": "NPX", "assay": "olink"},
    "FLT1": {"label": "VEGFR-1", "unit": "NPX", "assay": "olink"},
}
CFG = {
    "design": {
        "arms": ["placebo", "exo"],
        "timepoints": ["baseline", "week1"],
        "visits": ["baseline", "week1"],
        "strata": [],
    },
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "proteins": {
        "panel": PANEL,
        "luminex": {
            "min_bead_count": 35,
            "standards": {a: {"top": 10000, "dilution_factor": 4} for a in LUM_CURVES},
            "controls": {a: {"C1": 500} for a in LUM_CURVES},
        },
        "npx": {"bridge_samples": BRIDGES},
    },
}


def _luminex(rng: np.random.Generator, ids: list[str], control: float) -> tuple:
    """One simulated Luminex plate of ``ids``; true neat concentrations returned."""
    conc = {
        s: {
            a: float(np.exp(rng.normal(np.log(c.c), 0.6)))
            for a, c in LUM_CURVES.items()
        }
        for s in ids
    }
    sim = luminex_plate(
        rng, conc, curves=LUM_CURVES, controls=dict.fromkeys(LUM_CURVES, control)
    )
    return sim, conc


@pytest.fixture(scope="module")
def scn(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One ELISA plate (IL6), two Luminex plates (the second's controls wrong), three Olink plates."""
    d = tmp_path_factory.mktemp("multiplex")
    rng = np.random.default_rng(20261207)
    samples = pd.DataFrame(
        {
            "protein_sample_id": IDS,
            "participant_id": [f"P{i // 2 + 1}" for i in range(16)],
            "visit": ["baseline", "week1"] * 8,
            "matrix": "plasma",
        }
    )
    # ELISA
    levels = pd.DataFrame(
        {
            "protein_sample_id": IDS,
            "analyte": "IL6",
            "true_conc": np.exp(rng.normal(np.log(6.0), 0.4, 16)),
        }
    )
    sp = PlateSimParams(
        analytes={"IL6": DEMO_PANEL["IL6"]},
        outlier=False,
        out_of_range=False,
        failing_plate=False,
    )
    elisa = render_plates(levels, sp, np.random.default_rng(5), d)
    # Luminex: LUM01 passes; LUM02's controls are five times their nominal (QC fails).
    lum1, truth1 = _luminex(rng, IDS[:8], 500.0)
    # Every read of PS05's VEGFA wells too few beads: the sample cannot be quantified.
    ps05 = lum1.wells.loc[lum1.wells["sample"] == "PS05", "well"]
    lum1.reads.loc[
        lum1.reads["well"].isin(ps05) & (lum1.reads["analyte"] == "VEGFA"), "count"
    ] = 10
    lum2, _ = _luminex(rng, IDS[8:], 2500.0)
    (d / "lum").mkdir()
    write_xponent(d / "lum/lum01.csv", lum1, batch="LUM01")
    write_xponent(d / "lum/lum02.csv", lum2, batch="LUM02")
    # Olink: 3 plates, 8 bridge samples, planted plate offsets, one QC warning,
    # one value below the LOD.
    true = pd.DataFrame(
        [
            {"sample_id": s, "assay": a, "npx": float(rng.normal(6.0, 1.0))}
            for s in [*BRIDGES, *IDS]
            for a in NPX_ASSAYS
        ]
    )
    true.loc[(true["sample_id"] == "PS04") & (true["assay"] == "TNF"), "npx"] = 1.0
    offsets = {("OLK2", a): 0.6 for a in NPX_ASSAYS} | {
        ("OLK3", a): -0.45 for a in NPX_ASSAYS
    }
    npx = npx_study(
        rng,
        true,
        OLINK_PLATES,
        BRIDGES,
        offsets,
        assays=NPX_ASSAYS,
        qc_warnings=["PS03"],
    )
    (d / "olink").mkdir()
    write_npx(d / "olink/npx.csv", npx)
    plates = pd.concat(
        [
            elisa["protein_plates"],
            pd.DataFrame(
                [
                    ["LUM01", "luminex", "lum/lum01.csv", "VEGFA;PlGF"],
                    ["LUM02", "luminex", "lum/lum02.csv", "VEGFA;PlGF"],
                    *[[p, "olink", "olink/npx.csv", "TNF;FLT1"] for p in OLINK_PLATES],
                ],
                columns=["plate_id", "assay", "reads", "analyte"],
            ),
        ],
        ignore_index=True,
    )
    (d / "config").mkdir()
    write_table(samples, d / "config/protein_samples.tsv")
    write_table(plates, d / "config/protein_plates.tsv")
    return {
        "dir": d,
        "samples": samples,
        "levels": levels,
        "lum1": lum1,
        "lum_truth": truth1,
        "npx": npx,
    }


def _run(scn: dict, out: str = "out") -> dict[str, pd.DataFrame]:
    d = scn["dir"]
    outputs = {
        n: str(d / out / f"{n}.tsv") for n in (*OUTPUT_NAMES, *MULTIPLEX_OUTPUT_NAMES)
    }
    return run_protein_quant(
        d / "config/protein_samples.tsv",
        d / "config/protein_plates.tsv",
        outputs,
        d / out / "figs",
        quant_settings(CFG),
        PANEL,
        d,
        luminex=LuminexSettings.from_config(CFG),
        npx_settings=NpxSettings.from_config(CFG),
    )


@pytest.fixture(scope="module")
def tabs(scn: dict) -> dict[str, pd.DataFrame]:
    return _run(scn)


def _conc(tabs: dict, analyte: str) -> pd.DataFrame:
    c = tabs["concentrations"]
    return c[c["analyte"] == analyte].set_index("protein_sample_id")


def test_concentrations_table_shape(scn: dict, tabs: dict) -> None:
    """Agreed columns, one row per sheet sample x analyte, sorted; units per assay."""
    d = scn["dir"]
    written = pd.read_csv(d / "out/concentrations.tsv", sep="\t", dtype=str)
    assert list(written.columns) == CONC_COLUMNS
    assert len(written) == 16 * 5
    assert not written.duplicated(["protein_sample_id", "analyte"]).any()
    keys = list(zip(written["protein_sample_id"], written["analyte"], strict=True))
    assert keys == sorted(keys)
    units = written.groupby("analyte")["unit"].unique().to_dict()
    assert {a: list(u) for a, u in units.items()} == {
        "IL6": ["pg/mL"], "VEGFA": ["pg/mL"], "PlGF": ["pg/mL"], "TNF": ["NPX"], "FLT1": ["NPX"],
    }  # fmt: skip
    for n in MULTIPLEX_OUTPUT_NAMES:
        assert (d / "out" / f"{n}.tsv").is_file()


def test_luminex_within_10_percent_of_truth(scn: dict, tabs: dict) -> None:
    """LUM01: every quantified sample within 10% of its true concentration."""
    errors = []
    for a in LUM_CURVES:
        c = _conc(tabs, a)
        for sid, true in scn["lum_truth"].items():
            row = c.loc[sid]
            if row["flag"] == "ok":
                assert row["plate_id"] == "LUM01"
                errors.append(abs(row["concentration"] / true[a] - 1))
    assert len(errors) >= 12
    assert max(errors) < 0.10, sorted(errors)[-3:]
    assert np.median(errors) < 0.05


def test_low_bead_reads_excluded_and_flagged(scn: dict, tabs: dict) -> None:
    """Low-count reads leave their replicate group; a sample without any usable read is flagged."""
    beads = tabs["bead_counts"]
    lum1 = scn["lum1"].reads
    low = lum1[lum1["count"] < 35]
    ex = beads[(beads["plate_id"] == "LUM01") & beads["excluded"]]
    assert set(zip(ex["well"], ex["analyte"], strict=True)) == set(
        zip(low["well"], low["analyte"], strict=True)
    )
    vegf = _conc(tabs, "VEGFA").loc["PS05"]
    assert vegf["flag"] == "low_bead_count" and pd.isna(vegf["concentration"])
    assert _conc(tabs, "PlGF").loc["PS05", "flag"] == "ok"
    wells = tabs["wells"]
    w = wells[(wells["plate_id"] == "LUM01") & (wells["role"] == "excluded")]
    assert set(zip(w["well"], w["analyte"], strict=True)) == set(
        zip(low["well"], low["analyte"], strict=True)
    )
    notes = (
        tabs["plate_qc"]
        .set_index(["plate_id", "analyte"])
        .loc[("LUM01", "VEGFA"), "notes"]
    )
    assert "too few beads" in notes and all(
        x in notes for x in ex[ex["analyte"] == "VEGFA"]["well"]
    )
    # a sample with one usable replicate is quantified from that one well
    smp = tabs["wells"]
    one = low[
        ~low["well"].isin(
            scn["lum1"].wells.loc[scn["lum1"].wells["sample"] == "PS05", "well"]
        )
    ]
    for r in one.itertuples(index=False):
        sid = scn["lum1"].wells.set_index("well").at[r.well, "sample"]
        row = _conc(tabs, r.analyte).loc[sid]
        used = smp[
            (smp["plate_id"] == "LUM01")
            & (smp["analyte"] == r.analyte)
            & (smp["protein_sample_id"] == sid)
            & (smp["role"] == "sample")
        ]
        assert len(used) == 1
        if row["flag"] == "ok":
            assert row["concentration"] == pytest.approx(used["concentration"].iloc[0])


def test_failing_luminex_plate_marks_only_its_own_results(tabs: dict) -> None:
    qc = tabs["plate_qc"].set_index(["plate_id", "analyte"])["verdict"]
    assert qc.loc[("LUM02", "VEGFA")] == "fail" and qc.loc[("LUM02", "PlGF")] == "fail"
    assert qc.loc[("LUM01", "VEGFA")] == "pass" and qc.loc[("LUM01", "PlGF")] == "pass"
    for a in LUM_CURVES:
        c = _conc(tabs, a)
        assert set(c.loc[IDS[8:], "flag"]) == {"plate_failed"}
        assert c.loc[IDS[8:], "concentration"].isna().all()
    # the same samples' ELISA and NPX results stand
    assert (_conc(tabs, "IL6").loc[IDS[8:], "flag"] == "ok").all()
    assert (_conc(tabs, "FLT1").loc[IDS[8:], "flag"] != "plate_failed").all()


def test_elisa_plate_unchanged_by_multiplex_rows(scn: dict, tabs: dict) -> None:
    """The ELISA rows equal those of a sheet holding the ELISA plate alone."""
    d = scn["dir"]
    plates = read_table(d / "config/protein_plates.tsv", "protein_plates")
    only = plates[plates["assay"] == "elisa"].drop(columns="_line")
    write_table(only, d / "config/elisa_only.tsv")
    outputs = {n: str(d / "elisa" / f"{n}.tsv") for n in OUTPUT_NAMES}
    alone = run_protein_quant(
        d / "config/protein_samples.tsv",
        d / "config/elisa_only.tsv",
        outputs,
        d / "elisa/figs",
        quant_settings(CFG),
        PANEL,
        d,
    )
    both = tabs["concentrations"]
    pd.testing.assert_frame_equal(
        both[both["analyte"] == "IL6"].reset_index(drop=True),
        alone["concentrations"].reset_index(drop=True),
    )
    truth = scn["levels"].set_index("protein_sample_id")["true_conc"]
    il6 = _conc(tabs, "IL6")
    ok = il6[il6["flag"] == "ok"]
    assert len(ok) >= 14
    # ELISA plates carry a plate-level bias (plate_cv 8%): the median error is the target
    assert np.median(abs(ok["concentration"] / truth[ok.index] - 1)) < 0.10


def _expected_npx(npx: pd.DataFrame) -> pd.DataFrame:
    """Bridge-normalised NPX computed here from the written table (median of paired differences)."""
    t = npx.copy()
    wide = t[t["SampleID"].isin(BRIDGES)].pivot_table(
        index=["SampleID", "Assay"], columns="PlateID", values="NPX"
    )
    adj = {
        (p, a): float((wide["OLK1"] - wide[p]).xs(a, level="Assay").median())
        for p in OLINK_PLATES
        for a in NPX_ASSAYS
    }
    shift = [adj[(p, a)] for p, a in zip(t["PlateID"], t["Assay"], strict=True)]
    t["npx_norm"] = t["NPX"] + shift
    t["lod_norm"] = t["LOD"] + shift
    return t[~t["SampleID"].isin(BRIDGES)].set_index(["SampleID", "Assay"])


def test_npx_values_equal_bridged_input(scn: dict, tabs: dict) -> None:
    """NPX rows = written NPX + bridge adjustment; offsets removed; flags carried."""
    exp = _expected_npx(scn["npx"])
    for a in NPX_ASSAYS:
        c = _conc(tabs, a)
        for sid in IDS:
            e = exp.loc[(sid, a)]
            row = c.loc[sid]
            assert row["plate_id"] == e["PlateID"]
            if sid == "PS03":  # QC warning: no value (qc_warning_policy exclude)
                assert row["flag"] == "qc_warning" and pd.isna(row["concentration"])
                continue
            assert row["concentration"] == pytest.approx(e["npx_norm"], abs=1e-9)
            assert abs(row["concentration"] - e["true_npx"]) < 0.4
            want = "below_lod" if e["npx_norm"] < e["lod_norm"] else "ok"
            assert row["flag"] == want
    tnf = _conc(tabs, "TNF").loc["PS04"]
    assert tnf["flag"] == "below_lod" and tnf["concentration"] < 2.5
    adj = tabs["npx_bridge_adjustments"].groupby("plate_id")["adjustment"].median()
    assert adj["OLK1"] == 0
    assert adj["OLK2"] == pytest.approx(-0.6, abs=0.15)
    assert adj["OLK3"] == pytest.approx(0.45, abs=0.15)
    assert set(tabs["npx_plate_qc"]["plate_id"]) == set(OLINK_PLATES)


def test_analysis_accepts_the_result(scn: dict, tabs: dict) -> None:
    """The protein analysis reads the table: NPX flags known, below_lod kept and counted."""
    s = protein_analysis_settings(CFG)
    conc = read_concentrations(
        scn["dir"] / "out/concentrations.tsv",
        s.analytes,
        log_analytes=["IL6", "VEGFA", "PlGF"],
    )
    vals = protein_values(conc, s)
    tnf = vals[(vals["analyte"] == "TNF") & (vals["flag"] == "below_lod")]
    assert len(tnf) == 1 and np.isfinite(tnf["value"]).all()
    assert vals.loc[vals["flag"] == "qc_warning", "value"].isna().all()
    pids = sorted(set(scn["samples"]["participant_id"]))
    arm = ["exo" if i % 2 else "placebo" for i in range(len(pids))]
    pops = pd.DataFrame(
        {"participant_id": pids, "arm": arm, "in_mitt": True, "in_pp": True}
    )
    par = pd.DataFrame({"participant_id": pids, "arm": arm})
    res = analyse_proteins(vals, pops, par, s)
    prim = res[
        (res["analysis"] == "primary") & (res["population"] == "mITT")
    ].set_index("analyte")
    assert prim.loc["TNF", "n_below_lod"] == 1
    assert prim.loc["TNF", "effect_measure"] == "mean difference (NPX)"
    assert prim.loc["VEGFA", "n_excluded"] == 9  # LUM02's 8 samples + PS05 (low beads)
    summ = flag_summary(conc, s.analytes)
    assert {f"n_{f}" for f in ("below_lod", "qc_warning", "low_bead_count")} <= set(
        summ
    )
    assert set(conc["flag"]) <= set(FLAGS)


def test_validation_accepts_the_sheets(scn: dict) -> None:
    assert _issues(scn["dir"]) == []


def _issues(
    d: Path, plates: str = "config/protein_plates.tsv", cfg: dict = CFG
) -> list[str]:
    tables = {
        "participants": pd.DataFrame(
            {"participant_id": [f"P{i}" for i in range(1, 9)]}
        ),
        "protein_samples": read_table(
            d / "config/protein_samples.tsv",
            "protein_samples",
            "config/protein_samples.tsv",
        ),
        "protein_plates": read_table(d / plates, "protein_plates", plates),
    }
    labels = {"protein_samples": "config/protein_samples.tsv", "protein_plates": plates}
    return [str(i) for i in check_protein_sheets(tables, cfg, labels, d, True)]


def _edited_sheet(d: Path, name: str, old: str, new: str) -> str:
    text = (d / "config/protein_plates.tsv").read_text()
    assert old in text
    (d / "config" / name).write_text(text.replace(old, new))
    return f"config/{name}"


def test_missing_luminex_export_is_named(scn: dict) -> None:
    d = scn["dir"]
    sheet = _edited_sheet(d, "pp_missing.tsv", "lum/lum02.csv", "lum/lum02_missing.csv")
    msgs = _issues(d, sheet)
    assert len(msgs) == 1
    assert "lum/lum02_missing.csv" in msgs[0] and "LUM02" in msgs[0]
    assert "does not exist" in msgs[0]
    with pytest.raises(ValidationError, match=r"lum02_missing\.csv.*does not exist"):
        run_protein_quant(
            d / "config/protein_samples.tsv",
            d / sheet,
            {n: str(d / "bad" / f"{n}.tsv") for n in OUTPUT_NAMES},
            d / "bad/figs",
            quant_settings(CFG),
            PANEL,
            d,
            luminex=LuminexSettings.from_config(CFG),
        )
    assert not (d / "bad/concentrations.tsv").exists()


def test_olink_analyte_not_in_panel_is_named(scn: dict) -> None:
    """An NPX file holding an assay outside the panel: file, line and assay named."""
    d = scn["dir"]
    panel = {k: v for k, v in PANEL.items() if k != "FLT1"}
    cfg = {**CFG, "proteins": {**CFG["proteins"], "panel": panel}}
    sheet = _edited_sheet(d, "pp_noflt1.tsv", "TNF;FLT1", "TNF")
    msgs = _issues(d, sheet, cfg)
    assert len(msgs) == 1
    assert (
        "olink/npx.csv" in msgs[0]
        and "FLT1" in msgs[0]
        and "not in the panel" in msgs[0]
    )
    assert "line" in msgs[0]
