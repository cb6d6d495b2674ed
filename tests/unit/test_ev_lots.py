"""Lot certificate, bad-input isolation, MISEV checklist, dose and outputs."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.config import load_config
from exomir.errors import ValidationError
from exomir.ev.lots import EvQcResult, default_outputs, evaluate, run_ev_qc
from exomir.ev.runs import nta_input_files
from exomir.ev.settings import ev_config, ev_settings
from exomir.tables import read_table

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "ev"

LOT_HEADER = [
    "lot_id", "particle_conc_per_ml", "protein_ug_per_ml", "cd9", "cd63", "cd81",
    "tsg101", "calnexin", "apoa1", "sterility", "endotoxin_eu_per_ml", "mycoplasma",
    "cm_volume_ml", "isolation_method", "tem_ok", "mode_nm", "mean_nm", "sd_nm",
    "d10_nm", "d50_nm", "d90_nm", "release_decision",
]  # fmt: skip
GOOD = [
    "pos",
    "pos",
    "pos",
    "pos",
    "neg",
    "neg",
    "no growth",
    "0.05",
    "negative",
    "2000",
    "TFF+SEC",
    "true",
]
NO_SIZE = [""] * 6

# Lot A: NanoSight base (2.0e8 x 500) and ZetaView base (1.49997e8 x 1000).
CONC_A = (2.00e8 * 500 + 1.49997352e8 * 1000) / 2
LOTS = {
    "LOT-A": ["1.25e11", "25", *GOOD, *NO_SIZE, "released"],
    "LOT-B": ["1.0e11", "25", *GOOD[:7], "0.8", *GOOD[8:], *NO_SIZE, "released"],
    "LOT-C": ["1.5e7", "100", *GOOD, *NO_SIZE, ""],
    "LOT-D": ["1.0e11", "25", *GOOD, *NO_SIZE, ""],
    "LOT-E": ["1.0e11", "20", *GOOD, "100", "115", "40", "70", "110", "180", ""],
    "LOT-F": ["1.0e11", "25", *GOOD, *NO_SIZE, ""],
    "LOT-G": ["1.0e11", "25", *GOOD, *NO_SIZE, ""],
}
RUNS = [
    ("LOT-A", "NanoSight", "data/nta/nanosight_base-ExperimentSummary.csv", "500", "1"),
    ("LOT-A", "ZetaView", "data/nta/zv_base_size_488.txt", "1000", "1"),
    ("LOT-A", "ZetaView", "data/nta/zv_prof_488.txt", "", "1"),
    (
        "LOT-B",
        "NanoSight",
        "data/nta/nanosight_semicolon-ExperimentSummary.csv",
        "500",
        "1",
    ),
    ("LOT-C", "NanoSight", "data/nta/nanosight_mini-ExperimentSummary.csv", "", "1"),
    (
        "LOT-D",
        "NanoSight",
        "data/nta/nanosight_truncated-ExperimentSummary.csv",
        "500",
        "1",
    ),
    ("LOT-F", "ZetaView", "data/nta/zv_nodilution_size_488.txt", "", "1"),
    ("LOT-G", "NanoSight", "data/nta/unknown_instrument.csv", "500", "1"),
]
PARTICIPANTS = [
    ("P1", "placebo", "", "0"),
    ("P2", "exosome", "LOT-A", "1.25e11"),
    ("P3", "exosome", "LOT-B", "1.0e11"),
    ("P4", "exosome", "LOT-D", "1.0e11"),
    ("P5", "exosome", "LOT-Z", "1.0e11"),
    ("P6", "exosome", "", ""),
]


def write_scenario(
    d: Path, lots: dict[str, list[str]] = LOTS, runs: list[tuple[str, ...]] = RUNS
) -> Path:
    (d / "config").mkdir(parents=True, exist_ok=True)
    (d / "data" / "nta").mkdir(parents=True, exist_ok=True)
    for f in DATA.iterdir():
        if f.suffix != ".py":
            shutil.copy(f, d / "data" / "nta" / f.name)
    rows = ["\t".join(LOT_HEADER)] + ["\t".join([k, *v]) for k, v in lots.items()]
    (d / "config" / "ev_lots.tsv").write_text("\n".join(rows) + "\n")
    rrows = ["lot_id\tinstrument\tfile\tdilution\treplicate"] + [
        "\t".join(r) for r in runs
    ]
    (d / "config" / "ev_nta_runs.tsv").write_text("\n".join(rrows) + "\n")
    prows = ["participant_id\tarm\tev_lot_id\tdose_particles\troute"] + [
        "\t".join([*p, "IV"]) for p in PARTICIPANTS
    ]
    (d / "config" / "participants.tsv").write_text("\n".join(prows) + "\n")
    return d


def sheets(d: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return (
        read_table(d / "config" / "ev_lots.tsv", "ev_lots"),
        read_table(d / "config" / "ev_nta_runs.tsv", "ev_nta_runs"),
        read_table(d / "config" / "participants.tsv", "participants"),
    )


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> EvQcResult:
    d = write_scenario(tmp_path_factory.mktemp("scn"))
    lots, runs, parts = sheets(d)
    return evaluate(lots, runs, parts, d, None, "config/ev_nta_runs.tsv")


def verdict(res: EvQcResult, lot: str) -> pd.Series:
    s = res.lot_summary.set_index("lot_id")
    return s.loc[lot]


def test_verdicts_and_failing_criteria(result: EvQcResult) -> None:
    v = result.lot_summary.set_index("lot_id")["verdict"].to_dict()
    assert v == {
        "LOT-A": "pass",
        "LOT-B": "fail",
        "LOT-C": "fail",
        "LOT-D": "not_characterised",
        "LOT-E": "incomplete",
        "LOT-F": "not_characterised",
        "LOT-G": "not_characterised",
    }
    qc = result.lot_qc
    failed = qc[(qc["status"] == "fail") & (qc["criterion"] != "verdict")]
    assert failed.groupby("lot_id")["criterion"].apply(set).to_dict() == {
        "LOT-B": {"endotoxin_eu_per_ml"},
        "LOT-C": {"particles_per_ug"},  # 1.5e7 / 100 ug/mL = 1.5e5 per ug
    }
    row = qc[
        (qc["lot_id"] == "LOT-B") & (qc["criterion"] == "endotoxin_eu_per_ml")
    ].iloc[0]
    assert (row["value"], row["limit"], row["unit"]) == (0.8, "< 0.5", "EU/mL")
    assert "0.8 is not < 0.5" in row["reason"]
    # The manufacturer released LOT-B: the certificate says it should not be.
    rel = qc[(qc["lot_id"] == "LOT-B") & (qc["criterion"] == "release_decision")].iloc[
        0
    ]
    assert rel["status"] == "warn"
    # LOT-E has no export: reported sheet values, but no share in 50-400 nm.
    e = qc[qc["lot_id"] == "LOT-E"].set_index("criterion")
    assert e.loc["mode_nm", "status"] == "pass" and e.loc[
        "mode_nm", "method"
    ].startswith("ev_lots.tsv")
    assert e.loc["frac_50_400nm", "status"] == "missing"
    assert e.loc["nta_characterisation", "status"] == "warn"


def test_bad_exports_are_isolated_with_file_and_line(
    result: EvQcResult, tmp_path: Path
) -> None:
    reasons = result.lot_summary.set_index("lot_id")["verdict_reason"]
    assert reasons["LOT-D"].startswith(
        "not characterised: data/nta/nanosight_truncated-ExperimentSummary.csv:458: "
    )
    assert "truncated" in reasons["LOT-D"]
    assert reasons["LOT-F"].startswith(
        "not characterised: data/nta/zv_nodilution_size_488.txt:"
    )
    assert "dilution" in reasons["LOT-F"]
    assert reasons["LOT-G"].startswith(
        "not characterised: data/nta/unknown_instrument.csv:1: unknown instrument"
    )
    # Nothing of those lots is written as a distribution or an NTA result.
    assert set(result.distributions["lot_id"]) == {"LOT-A", "LOT-B", "LOT-C"}
    s = result.lot_summary.set_index("lot_id")
    assert np.isnan(s.loc["LOT-D", "conc_per_ml"]) and np.isnan(
        s.loc["LOT-D", "mode_nm"]
    )
    runs = result.runs.set_index("file")
    assert (
        runs.loc["data/nta/nanosight_truncated-ExperimentSummary.csv", "status"]
        == "error"
    )
    assert any("LOT-D" in e for e in result.errors)
    # The other lots are unaffected: LOT-A alone gives the same results.
    d = write_scenario(
        tmp_path / "alone",
        {"LOT-A": LOTS["LOT-A"]},
        [r for r in RUNS if r[0] == "LOT-A"],
    )
    lots, rr, _ = sheets(d)
    alone = evaluate(lots, rr, None, d).lot_summary.iloc[0].drop("participants_dosed")
    full = result.lot_summary.set_index("lot_id", drop=False).loc["LOT-A"]
    assert alone.to_dict() == full.drop("participants_dosed").to_dict()


def test_lot_results_from_two_instruments(result: EvQcResult) -> None:
    a = verdict(result, "LOT-A")
    assert a["n_runs"] == 2 and a["instruments"] == "NanoSight;ZetaView"
    assert a["conc_per_ml"] == pytest.approx(CONC_A, rel=1e-5)
    assert a["particles_per_ug"] == pytest.approx(CONC_A / 25, rel=1e-5)
    assert a["conc_ratio_to_label"] == pytest.approx(CONC_A / 1.25e11, rel=1e-5)
    assert a["zeta_mv"] == -22.4 and a["zeta_source"] == "ZetaView profile"
    assert a["camera_level"] == "NanoSight 14; ZetaView 80"
    assert a["misev_mandatory_reported"] == "11/11" and a["misev_complete"]
    # Mean of the runs' D50 (110 and 120 nm log-normals). ZetaView's D50
    # places each bin's cumulative fraction at the bin centre, half a 5-nm
    # bin below the population median (exomir.ev.percentile "centres").
    assert a["d50_nm"] == pytest.approx((110.0 + 120.0 - 2.5) / 2, abs=0.5)


def test_misev_checklist(result: EvQcResult) -> None:
    m = result.misev.set_index(["lot_id", "item"])
    assert m.loc[("LOT-A", "particle_number"), "status"] == "reported"
    assert (
        m.loc[("LOT-A", "transmembrane_marker"), "detail"]
        == "positive: cd9, cd63, cd81"
    )
    assert m.loc[("LOT-A", "potency"), "status"] == "missing"
    assert m.loc[("LOT-A", "potency"), "level"] == "recommended"
    assert m.loc[("LOT-D", "size_distribution"), "status"] == "missing"


def test_dose_per_participant(result: EvQcResult) -> None:
    d = result.dose.set_index("participant_id")
    # Placebo: no lot, zero dose.
    assert d.loc["P1", "dose_particles"] == 0 and not d.loc["P1", "flag"]
    # P2: 1.25e11 labelled / 1.25e11 per mL labelled = 1 mL of stock.
    assert d.loc["P2", "stock_volume_ml"] == pytest.approx(1.0)
    assert d.loc["P2", "dose_particles"] == pytest.approx(CONC_A, rel=1e-5)
    assert d.loc["P2", "dose_protein_ug"] == pytest.approx(25.0)
    assert d.loc["P2", "dose_endotoxin_eu"] == pytest.approx(0.05)
    assert d.loc["P2", "lot_release_ok"] and not d.loc["P2", "flag"]
    assert d.loc["P3", "flag"] and "verdict is fail" in d.loc["P3", "flag_reason"]
    assert d.loc["P4", "flag"] and "not_characterised" in d.loc["P4", "flag_reason"]
    assert d.loc["P5", "flag"] and "not in ev_lots.tsv" in d.loc["P5", "flag_reason"]
    assert np.isnan(d.loc["P5", "dose_particles"])
    assert np.isnan(d.loc["P6", "dose_particles"]) and not d.loc["P6", "flag"]
    assert any("LOT-Z" in e and "P5" in e for e in result.errors)
    s = result.lot_summary.set_index("lot_id")
    assert s.loc["LOT-A", "participants_dosed"] == 1


def test_fixed_product_volume() -> None:
    d = write_scenario(
        Path(__import__("tempfile").mkdtemp()),
        {"LOT-A": LOTS["LOT-A"]},
        [r for r in RUNS if r[0] == "LOT-A"],
    )
    lots, runs, parts = sheets(d)
    parts = parts[parts["participant_id"].isin(["P1", "P2"])]
    res = evaluate(lots, runs, parts, d, {"dose": {"product_volume_ml": 2.0}})
    p2 = res.dose.set_index("participant_id").loc["P2"]
    assert p2["stock_volume_ml"] == 2.0
    assert p2["dose_particles"] == pytest.approx(2 * CONC_A, rel=1e-5)
    assert p2["flag"] and "+" in p2["flag_reason"]  # about twice the labelled dose


def test_identity_marker_failure_and_run_qc_fail(tmp_path: Path) -> None:
    lots = dict(LOTS)
    lots = {"LOT-C": ["1.5e7", "0.001", "pos", "neg", *GOOD[2:], *NO_SIZE, ""]}
    d = write_scenario(tmp_path, lots, [r for r in RUNS if r[0] == "LOT-C"])
    lt, rr, _ = sheets(d)
    res = evaluate(lt, rr, None, d)
    qc = res.lot_qc.set_index("criterion")
    assert qc.loc["marker_cd63", "status"] == "fail"
    assert qc.loc["marker_cd63", "reason"] == "cd63 is neg, expected pos"
    assert qc.loc["nta_run_quality", "status"] == "warn"  # 2 videos, few tracks
    res = evaluate(lt, rr, None, d, {"nta": {"run_qc": "fail"}})
    qc = res.lot_qc.set_index("criterion")
    assert qc.loc["nta_run_quality", "status"] == "fail"
    assert set(res.lot_qc.query("status == 'fail'")["criterion"]) == {
        "marker_cd63",
        "nta_run_quality",
        "verdict",
    }


def test_duplicate_export_and_expired_lot(tmp_path: Path) -> None:
    runs = [r for r in RUNS if r[0] == "LOT-A"]
    d = write_scenario(tmp_path, {"LOT-A": LOTS["LOT-A"]}, [*runs, runs[0]])
    lots, rr, parts = sheets(d)
    lots["expiry_date"] = "2024-06-30"
    parts = parts[parts["participant_id"] == "P2"].assign(
        randomization_date="2024-07-02"
    )
    res = evaluate(lots, rr, parts, d, None, "runs.tsv")
    assert any(
        e.startswith("runs.tsv:5: export data/nta/nanosight_base") for e in res.errors
    )
    p2 = res.dose.iloc[0]
    assert p2["flag"] and "after lot LOT-A expired (2024-06-30)" in p2["flag_reason"]


def test_conflicting_dilution_makes_the_lot_not_characterised(tmp_path: Path) -> None:
    runs = [
        (
            "LOT-C",
            "NanoSight",
            "data/nta/nanosight_mini-ExperimentSummary.csv",
            "20",
            "1",
        )
    ]
    d = write_scenario(tmp_path, {"LOT-C": LOTS["LOT-C"]}, runs)
    lt, rr, _ = sheets(d)
    res = evaluate(lt, rr, None, d, None, "config/ev_nta_runs.tsv")
    reason = res.lot_summary.iloc[0]["verdict_reason"]
    assert "records dilution 10 but config/ev_nta_runs.tsv line 2 says 20" in reason
    assert res.distributions.empty


def test_run_ev_qc_writes_every_output(tmp_path: Path) -> None:
    d = write_scenario(tmp_path / "scn")
    out = default_outputs(d / "results" / "ev")
    res = run_ev_qc(
        d / "config" / "ev_lots.tsv",
        d / "config" / "ev_nta_runs.tsv",
        d / "config" / "participants.tsv",
        out,
        base=d,
    )
    for path in out.values():
        assert path.is_file() and path.stat().st_size > 0
    assert out["fig_sizes"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    qc = pd.read_csv(out["lot_qc"], sep="\t", keep_default_na=False)
    crit = qc[qc["criterion"] != "verdict"]
    assert set(crit["status"]) <= {"pass", "fail", "missing", "warn", "info", "error"}
    verdicts = qc[qc["criterion"] == "verdict"]
    assert set(verdicts["status"]) == {
        "pass",
        "fail",
        "incomplete",
        "not_characterised",
    }
    assert set(qc["required"]) == {True, False}  # written as true/false
    dose = pd.read_csv(out["dose"], sep="\t", keep_default_na=False)
    assert dose.set_index("participant_id").loc["P3", "flag"]
    assert len(res.errors) >= 4
    # Same inputs, same bytes (figures carry no timestamp).
    before = {k: p.read_bytes() for k, p in out.items()}
    run_ev_qc(
        d / "config" / "ev_lots.tsv",
        d / "config" / "ev_nta_runs.tsv",
        d / "config" / "participants.tsv",
        out,
        base=d,
    )
    assert {k: p.read_bytes() for k, p in out.items()} == before


def test_unreadable_sheet_stops_the_step(tmp_path: Path) -> None:
    d = write_scenario(tmp_path)
    (d / "config" / "ev_nta_runs.tsv").write_text(
        "lot_id\tinstrument\tfile\nLOT-A\tNanoSite\tx.csv\n"
    )
    with pytest.raises(ValidationError, match="NanoSite"):
        run_ev_qc(
            d / "config" / "ev_lots.tsv",
            d / "config" / "ev_nta_runs.tsv",
            None,
            {},
            base=d,
        )


def test_marker_pattern_in_schema(tmp_path: Path) -> None:
    f = tmp_path / "ev_lots.tsv"
    f.write_text(
        "lot_id\tcd9\tcd63\tcalnexin\nL1\tpos (92%)\tPositive\tnot detected\nL2\tmaybe\t+\t-\n"
    )
    with pytest.raises(ValidationError) as exc:
        read_table(f, "ev_lots")
    assert len(exc.value.issues) == 1 and exc.value.issues[0].line == 3


def test_input_files_include_position_summaries(tmp_path: Path) -> None:
    d = write_scenario(tmp_path)
    _, runs, _ = sheets(d)
    files = nta_input_files(runs, d)
    assert str(d / "data" / "nta" / "zv_base_size_488_11pos.txt") in files
    assert len(files) == len(set(files)) == len(RUNS) + 1


def test_config_defaults_follow_the_spec() -> None:
    cfg = load_config(REPO / "config" / "config.yaml")["ev"]
    assert cfg == ev_config(None)
    acc = cfg["acceptance"]
    assert acc["max_mode_nm"] == 200 and acc["size_window_nm"] == [50, 400]
    assert acc["min_fraction_in_window"] == 0.9
    assert acc["max_endotoxin_eu_per_ml"] == 0.5
    assert acc["min_particles_per_ug"] == 1e9
    assert acc["positive_markers"] == ["cd9", "cd63", "cd81", "tsg101"]
    assert acc["negative_markers"] == ["calnexin", "apoa1"]
    assert (
        ev_config({"acceptance": {"max_mode_nm": 150}})["acceptance"][
            "min_fraction_in_window"
        ]
        == 0.9
    )


def test_lots_in_anndata(result: EvQcResult, tmp_path: Path) -> None:
    import anndata as ad

    from exomir.ev.anndata import add_lots_to_anndata

    obs = pd.DataFrame(
        {"participant_id": ["P1", "P2", "P2", "P3"]},
        index=["P1_BL", "P2_BL", "P2_W1", "P3_BL"],
    )
    adata = ad.AnnData(X=np.ones((4, 2), dtype=np.float32), obs=obs)
    add_lots_to_anndata(adata, result.lot_summary, result.dose)
    f = tmp_path / "x.h5ad"
    adata.write_h5ad(f)
    back = ad.read_h5ad(f)
    lots = back.uns["ev_lots"]
    assert list(lots.index) == list(result.lot_summary["lot_id"])
    assert lots.loc["LOT-B", "verdict"] == "fail"
    assert lots.loc["LOT-A", "conc_per_ml"] == pytest.approx(CONC_A, rel=1e-5)
    assert back.obs["ev_lot_id"].tolist() == ["", "LOT-A", "LOT-A", "LOT-B"]
    assert back.obs["ev_lot_release_ok"].tolist() == ["", "true", "true", "false"]
    assert back.obs.loc["P1_BL", "ev_dose_particles"] == 0.0


def test_sparse_zetaview_run_fails_the_traces_gate(tmp_path: Path) -> None:
    """Issue 16: a ZetaView run of 59 traces passed QC; now it fails its lot."""
    runs = [("LOT-A", "ZetaView", "data/nta/zv_lowtraces_size_488.txt", "", "1")]
    d = write_scenario(tmp_path, {"LOT-A": LOTS["LOT-A"]}, runs)
    lt, rr, _ = sheets(d)
    res = evaluate(lt, rr, None, d)  # run_qc: warn (default) does not soften it
    run = res.runs.iloc[0]
    assert run["traces"] == 59 and run["run_qc"] == "fail"
    assert run["run_qc_notes"].startswith(
        "only 59 traced particles (Number of Traces) < 1000 required"
    )
    qc = res.lot_qc.set_index("criterion")
    assert qc.loc["nta_run_quality", "status"] == "fail"
    assert bool(qc.loc["nta_run_quality", "required"])
    assert "only 59 traced particles" in qc.loc["nta_run_quality", "reason"]
    assert res.lot_summary.iloc[0]["verdict"] == "fail"
    # A lower, documented threshold lets the same run through the gate.
    res = evaluate(lt, rr, None, d, {"nta": {"min_traces": 50}})
    assert res.runs.iloc[0]["run_qc"] != "fail"


def test_settings_built_once_carry_the_config() -> None:
    """EvSettings (the rule's params) hold the ev section with schema defaults."""
    settings = ev_settings({"ev": {"nta": {"run_qc": "fail"}}})
    assert settings.nta.run_qc == "fail"
    assert settings.nta.min_traces == 1000  # schema default filled in
    assert settings.acceptance.size_window_nm == (50, 400)
    assert ev_settings({}).as_config() == ev_config(None)
    # Snakemake pickles params for the job; the settings must survive it.
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert hash(settings) == hash(ev_settings({"ev": {"nta": {"run_qc": "fail"}}}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.nta.run_qc = "warn"  # type: ignore[misc]


def test_ev_qc_shim(
    tmp_path: Path, run_script, monkeypatch: pytest.MonkeyPatch
) -> None:
    """workflow/scripts/ev_qc.py as Snakemake runs it: inputs, outputs, settings."""
    iocontainers = pytest.importorskip("snakemake.iocontainers")
    d = write_scenario(tmp_path / "scn")
    monkeypatch.chdir(d)  # export paths in the run sheet are relative to it
    direct = default_outputs(tmp_path / "direct")
    settings = ev_settings({"ev": {"acceptance": {"max_mode_nm": 50}}})
    run_ev_qc(
        "config/ev_lots.tsv",
        "config/ev_nta_runs.tsv",
        "config/participants.tsv",
        direct,
        base=".",
        settings=settings,
    )
    shim = default_outputs("results/ev")
    parts = {
        "input": {
            "lots": "config/ev_lots.tsv",
            "runs": "config/ev_nta_runs.tsv",
            "participants": "config/participants.tsv",
            "nta": nta_input_files(sheets(d)[1], "."),
        },
        "output": {k: str(p) for k, p in shim.items()},
        "params": {"settings": settings},
        "log": {"log": "logs/ev_qc.log"},
    }
    smk = types.SimpleNamespace(
        rule="ev_qc",
        threads=1,
        **{k: iocontainers.Namedlist(fromdict=v) for k, v in parts.items()},
    )
    run_script("ev_qc.py", smk)
    for key, path in shim.items():
        assert path.read_bytes() == direct[key].read_bytes(), key
    # The settings reached the step: a mode limit of 50 nm fails LOT-A, which
    # passes with the default 200 nm.
    judged = pd.read_csv(shim["lot_summary"], sep="\t", keep_default_na=False)
    verdict = judged.set_index("lot_id")["verdict"]
    assert verdict["LOT-A"] == "fail"
    assert "mode_nm" in judged.set_index("lot_id").loc["LOT-A", "verdict_reason"]
    assert "lot LOT-A:" in Path("logs/ev_qc.log").read_text()
