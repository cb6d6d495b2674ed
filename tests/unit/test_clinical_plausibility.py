"""Plausibility of clinical values: hard limits refused, soft limits flagged.

Hand-made sheets: impossible values (SBP 900, Hb -3), values whose magnitude
fits another unit (Hb 115 "g/dL" is g/L, SBP 16 "mm[Hg]" is kPa, platelets
250000 "10*9/L" per uL), DBP above SBP, a derived MAP outside its hard limits,
and an implausible SBP 235 that is kept, flagged, listed in both reports and
handled per ``clinical.soft_limit_action`` with a sensitivity row whose
estimate is checked against an OLS fit computed here with numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _stage_inputs import clinical_inputs

from exomir.clinical.plausibility import parameter_limits
from exomir.clinical.stage import dataset_from_files, endpoints_from_files
from exomir.config import load_config
from exomir.errors import ValidationError
from exomir.validate import validate_scenario

REPO = Path(__file__).resolve().parents[2]
LABEL = "config/clinical_measurements.tsv"
HEADER = (
    "participant_id\tvisit\tdays_since_dose\tdomain\tparam\tvalue_num\tunit\treplicate"
)

# Eight participants (odd placebo, even exosome), SBP and DBP at both visits.
SBP_BL = [150, 142, 160, 138, 155, 147, 149, 158]
SBP_WK1 = [140, 128, 151, 130, 139, 135, 145, 141]
DBP = 90


def _sheet_rows(sbp_wk1: list[float]) -> list[str]:
    rows = []
    for i in range(8):
        pid = f"P{i + 1}"
        for visit, day, sbp in (("baseline", 0, SBP_BL[i]), ("week1", 7, sbp_wk1[i])):
            rows.append(f"{pid}\t{visit}\t{day}\tVS\tSYSBP\t{sbp}\tmm[Hg]\t1")
            rows.append(f"{pid}\t{visit}\t{day}\tVS\tDIABP\t{DBP}\tmm[Hg]\t1")
    return rows


def _write(d: Path, rows: list[str], action: str | None = None) -> None:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["sheets"] = {
        "samples": "config/samples.tsv",
        "participants": "config/participants.tsv",
        "clinical_measurements": LABEL,
    }
    # No covariates besides baseline: the ANCOVA can be checked by hand.
    cfg["clinical_parameters"]["SYSBP"]["covariates"] = []
    cfg["clinical_parameters"]["DIABP"]["covariates"] = []
    if action is not None:
        cfg["clinical"] = {"soft_limit_action": action}
    (d / "config").mkdir(parents=True, exist_ok=True)
    (d / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (d / "config" / "samples.tsv").write_text(
        "sample_id\tparticipant_id\ttimepoint\tfastq\tprotocol\tlibrary_batch\n"
        "P1_BL\tP1\tbaseline\tx.fq.gz\ttruseq\tB1\n"
    )
    arms = ["placebo" if i % 2 == 0 else "exosome" for i in range(8)]
    (d / "config" / "participants.tsv").write_text(
        "participant_id\tarm\tstratum\n"
        + "".join(f"P{i + 1}\t{a}\tS1\n" for i, a in enumerate(arms))
    )
    (d / LABEL).write_text(HEADER + "\n" + "\n".join(rows) + "\n")


@pytest.fixture
def scn(tmp_path: Path) -> Path:
    d = tmp_path / "scn"
    _write(d, _sheet_rows(SBP_WK1))
    return d


def _set(d: Path, line: int, param: str, value: str, unit: str) -> None:
    """Replace value and unit of sheet line ``line`` (1 = header)."""
    p = d / LABEL
    lines = p.read_text().splitlines()
    f = lines[line - 1].split("\t")
    assert f[4] == param
    f[5], f[6] = value, unit
    lines[line - 1] = "\t".join(f)
    p.write_text("\n".join(lines) + "\n")


def _add(d: Path, row: str) -> int:
    p = d / LABEL
    text = p.read_text()
    p.write_text(text + row + "\n")
    return len(text.splitlines()) + 1


def _errors(d: Path) -> list[str]:
    with pytest.raises(ValidationError) as info:
        validate_scenario(d, check_files=False)
    return [str(i) for i in info.value.issues]


def test_valid_sheet_passes(scn: Path) -> None:
    validate_scenario(scn, check_files=False)


def test_sbp_900_refused_with_line_column_value_and_limit(scn: Path) -> None:
    _set(scn, 2, "SYSBP", "900", "mm[Hg]")
    assert _errors(scn) == [
        f"{LABEL} line 2 (participant_id=P1, visit=baseline, param=SYSBP), column "
        "'value_num': SYSBP value 900 mm[Hg] is physiologically impossible: outside "
        "the hard limits 40-300 mm[Hg] (shipped default "
        "(clinical.plausibility_limits))"
    ]


def test_negative_haemoglobin_refused(scn: Path) -> None:
    line = _add(scn, "P1\tbaseline\t0\tLB\tHGB\t-3\tg/dL\t1")
    (err,) = _errors(scn)
    assert err.startswith(f"{LABEL} line {line} (participant_id=P1, visit=baseline")
    assert "HGB value -3 g/dL is physiologically impossible" in err
    assert "hard limits 0.5-25 g/dL" in err
    assert "looks like" not in err


def test_haemoglobin_115_g_dl_looks_like_g_l(scn: Path) -> None:
    _add(scn, "P1\tbaseline\t0\tLB\tHGB\t115\tg/dL\t1")
    (err,) = _errors(scn)
    assert "HGB value 115 g/dL is physiologically impossible" in err
    assert err.endswith("; it looks like a value in g/L (11.5 g/dL): check the unit")


def test_sbp_16_mmhg_looks_like_kpa(scn: Path) -> None:
    _set(scn, 4, "SYSBP", "16", "mm[Hg]")
    (err,) = _errors(scn)
    assert "line 4 (participant_id=P1, visit=week1, param=SYSBP)" in err
    # 16 kPa x 7.500616827 = 120.01 mmHg.
    assert err.endswith("it looks like a value in kPa (120.01 mm[Hg]): check the unit")


def test_converted_value_checked_in_configured_unit(scn: Path) -> None:
    # 250 kPa is 1875 mmHg: refused after conversion, both values shown.
    _set(scn, 4, "SYSBP", "250", "kPa")
    (err,) = _errors(scn)
    assert "SYSBP value 250 kPa (= 1875.15 mm[Hg]) is physiologically impossible" in err


def test_platelets_per_microlitre(scn: Path) -> None:
    _add(scn, "P1\tbaseline\t0\tLB\tPLAT\t250000\t10*9/L\t1")
    (err,) = _errors(scn)
    assert "PLAT value 250000 10*9/L is physiologically impossible" in err
    assert "/uL (250 10*9/L)" in err


def test_haematocrit_fraction_written_as_percent(scn: Path) -> None:
    _add(scn, "P1\tbaseline\t0\tLB\tHCT\t0.35\t%\t1")
    (err,) = _errors(scn)
    assert "HCT value 0.35 % is physiologically impossible" in err
    assert err.endswith(
        "it looks like a value in 1 (35 %) or L/L (35 %): check the unit"
    )


def test_diastolic_above_systolic_refused(scn: Path) -> None:
    _set(scn, 5, "DIABP", "150", "mm[Hg]")  # P1 week1: SBP 140
    (err,) = _errors(scn)
    assert err == (
        f"{LABEL} line 5 (participant_id=P1, visit=week1, param=DIABP), column "
        "'value_num': DIABP 150 is not below SYSBP 140 mm[Hg] in the same reading "
        "(lines 5 and 4); this is impossible: check for swapped columns or a "
        "typing error"
    )


def test_derived_map_outside_hard_limits(scn: Path) -> None:
    cfg = yaml.safe_load((scn / "config" / "config.yaml").read_text())
    cfg.setdefault("clinical", {})["derived"] = {
        "MAP": {
            "unit": "mm[Hg]",
            "weights": {"SYSBP": 1 / 3, "DIABP": 2 / 3},
            "limits": {"hard": [60, 200], "soft": [65, 160]},
        }
    }
    (scn / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    # P1 baseline: SBP 75, DBP 45 (each possible) give MAP 55, below 60.
    _set(scn, 2, "SYSBP", "75", "mm[Hg]")
    _set(scn, 3, "DIABP", "45", "mm[Hg]")
    (err,) = _errors(scn)
    assert err == (
        f"{LABEL} (participant_id=P1, visit=baseline, param=MAP), column "
        "'value_num': derived MAP 55 mm[Hg] (from lines 2, 3) is physiologically "
        "impossible: outside the hard limits 60-200 mm[Hg] (config "
        "clinical.derived.MAP.limits)"
    )


def test_config_limits_override_and_are_checked(scn: Path) -> None:
    cfg = load_config(scn / "config" / "config.yaml")
    cfg["clinical_parameters"]["SYSBP"]["limits"] = {"soft": [90, 180]}
    lim = parameter_limits(cfg, scn)["SYSBP"]
    assert lim.soft == (90.0, 180.0)
    assert lim.hard == (40.0, 300.0)  # shipped default kept
    cfg["clinical_parameters"]["SYSBP"]["limits"] = {"soft": [30, 180]}
    with pytest.raises(ValidationError, match="must lie within the hard limits"):
        parameter_limits(cfg, scn)


def test_shipped_limits_converted_to_the_configured_unit(scn: Path) -> None:
    cfg = load_config(scn / "config" / "config.yaml")
    cfg["clinical_parameters"]["HGB"]["unit"] = "g/L"
    # The shipped table is in g/dL; g/dL -> g/L is not listed, so no limits
    # apply rather than wrong ones.
    assert "HGB" not in parameter_limits(cfg, scn)
    cfg["clinical_parameters"]["HCT"]["unit"] = "%"
    assert parameter_limits(cfg, scn)["HCT"].soft == (15.0, 55.0)


def _ancova_by_hand(bl: list[float], wk1: list[float]) -> float:
    """Arm coefficient of wk1 ~ 1 + treated + bl (numpy least squares)."""
    treated = np.array([0.0 if i % 2 == 0 else 1.0 for i in range(len(bl))])
    keep = ~np.isnan(np.asarray(wk1, dtype=float))
    x = np.column_stack([np.ones(len(bl)), treated, np.asarray(bl, dtype=float)])
    y = np.asarray(wk1, dtype=float)
    coef, *_ = np.linalg.lstsq(x[keep], y[keep], rcond=None)
    return float(coef[1])


def _run(d: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    cfg = load_config(d / "config" / "config.yaml")
    out = d / "results"
    out.mkdir(exist_ok=True)
    sheets, settings = clinical_inputs(d, cfg)
    dataset_from_files(
        **sheets,
        dataset=out / "analysis_dataset.tsv",
        populations_out=out / "populations.tsv",
        flags=out / "data_flags.tsv",
        plausibility=out / "plausibility.tsv",
        settings=settings,
    )
    endpoints_from_files(
        **sheets,
        dataset=out / "analysis_dataset.tsv",
        endpoints=out / "endpoints.tsv",
        forest=out / "forest.png",
        settings=settings,
    )
    read = lambda n: pd.read_csv(out / n, sep="\t", dtype={"source_lines": str})  # noqa: E731
    return read("analysis_dataset.tsv"), read("plausibility.tsv"), read("endpoints.tsv")


def _sbp(ep: pd.DataFrame, analysis: str) -> pd.Series:
    hit = ep[
        (ep.param == "SYSBP") & (ep.population == "mITT") & (ep.analysis == analysis)
    ]
    assert len(hit) == 1, analysis
    return hit.iloc[0]


IMPLAUSIBLE = [*SBP_WK1[:3], 235, *SBP_WK1[4:]]  # P4 (exosome) week 1


@pytest.mark.parametrize("action", ["flag", "exclude"])
def test_soft_limit_value_kept_flagged_and_sensitivity(
    tmp_path: Path, action: str
) -> None:
    d = tmp_path / action
    _write(d, _sheet_rows(IMPLAUSIBLE), action=action)
    validate_scenario(d, check_files=False)  # implausible, not impossible
    ds, pl, ep = _run(d)
    # Listed once, with limit, source line and action.
    assert len(pl) == 1
    r = pl.iloc[0]
    assert (r.participant_id, r.visit, r.param, r.value) == (
        "P4",
        "week1",
        "SYSBP",
        235,
    )
    assert (r.soft_low, r.soft_high, r.unit) == (70, 220, "mm[Hg]")
    assert r.source_lines == "16"
    row = ds.set_index(["participant_id", "param"]).loc[("P4", "SYSBP")]
    assert (
        "week1 value 235 outside soft limits 70-220 mm[Hg] (implausible)"
        in row["flags"]
    )
    with_it = _ancova_by_hand(SBP_BL, IMPLAUSIBLE)
    without = _ancova_by_hand(SBP_BL, [*IMPLAUSIBLE[:3], np.nan, *IMPLAUSIBLE[4:]])
    assert abs(with_it - without) > 5  # the value matters
    prim, sens = _sbp(ep, "primary"), None
    if action == "flag":
        assert row.wk1 == 235  # kept
        assert r.action.startswith("kept in the primary analysis")
        sens = _sbp(ep, "excluding_implausible")
        assert prim.estimate == pytest.approx(with_it, rel=1e-5)  # %.6g in the TSV
        assert sens.estimate == pytest.approx(without, rel=1e-5)  # %.6g in the TSV
        assert (prim.n_treatment, sens.n_treatment) == (4, 3)
    else:
        assert np.isnan(row.wk1)  # left out of the primary analysis
        assert r.action.startswith("excluded from the primary analysis")
        sens = _sbp(ep, "including_implausible")
        assert prim.estimate == pytest.approx(without, rel=1e-5)  # %.6g in the TSV
        assert sens.estimate == pytest.approx(with_it, rel=1e-5)  # %.6g in the TSV
    assert "implausible values" in sens.note
    # MAP of P4 week 1 = 235/3 + 2*90/3 = 138.3 is inside its own soft limits
    # (no MAP finding) but follows its component: without the SBP reading it is
    # not derived, so MAP gets a sensitivity row too, and no other endpoint.
    sens_params = set(ep.loc[ep.analysis.str.contains("implausible"), "param"])
    assert sens_params == {"SYSBP", "MAP"}
    map_row = ds.set_index(["participant_id", "param"]).loc[("P4", "MAP")]
    if action == "flag":
        assert map_row.wk1 == pytest.approx(235 / 3 + 60, abs=1e-3)
    else:
        assert np.isnan(map_row.wk1)


def test_no_sensitivity_row_without_implausible_values(scn: Path) -> None:
    _, pl, ep = _run(scn)
    assert pl.empty
    assert not ep.analysis.str.contains("implausible").any()


def test_implausible_value_of_an_unanalysed_visit_is_listed_only(scn: Path) -> None:
    line = _add(scn, "P1\tscreening\t-7\tVS\tSYSBP\t65\tmm[Hg]\t1")
    _, pl, ep = _run(scn)
    assert pl[
        ["participant_id", "visit", "param", "value", "source_lines"]
    ].values.tolist() == [["P1", "screening", "SYSBP", 65, str(line)]]
    assert pl.action[0] == "listed only (visit not in the endpoint analysis)"
    assert not ep.analysis.str.contains("implausible").any()


def test_report_lists_implausible_values_in_both_reports(tmp_path: Path) -> None:
    from exomir.report.context import ReportContext
    from exomir.report.model import Section, Table
    from exomir.report.sections.consort import _clinical_plausibility

    d = tmp_path / "rep"
    _write(d, _sheet_rows(IMPLAUSIBLE))
    _run(d)
    (d / "results" / "clinical").mkdir()
    for n in ("plausibility.tsv", "analysis_dataset.tsv"):
        (d / "results" / n).rename(d / "results" / "clinical" / n)
    cfg = load_config(d / "config" / "config.yaml")
    for closed in (False, True):
        ctx = ReportContext(root=d, config=cfg, audience="closed" if closed else "open")
        sec = Section("consort", 2, "CONSORT")
        _clinical_plausibility(ctx, sec)
        (tab,) = [b for b in sec.blocks if isinstance(b, Table)]
        assert not tab.arm_level
        assert "1 implausible value(s)" in tab.title
        t = tab.data.iloc[0]
        assert (t.participant, t.visit, t.value) == ("P4", "week1", "235 mm[Hg]")
        assert t["soft limits"] == "70-220 mm[Hg]"
        assert "excluded in the sensitivity analysis excluding_implausible" in t.action


def test_simulator_keeps_diastolic_below_systolic() -> None:
    from exomir.simulate.clinical import _diastolic_below_systolic

    meas = pd.DataFrame(
        {
            "participant_id": ["P1"] * 4 + ["P2"] * 2,
            "visit": ["baseline"] * 6,
            "replicate": [1, 1, 2, 2, 1, 1],
            "param": ["SYSBP", "DIABP"] * 3,
            "value_num": [120.0, 121.0, 118.0, 70.0, 100.0, 100.0],
        }
    )
    out = _diastolic_below_systolic(meas)
    assert out["value_num"].tolist() == [120.0, 119.0, 118.0, 70.0, 100.0, 99.0]
    assert meas["value_num"].tolist()[1] == 121.0  # input untouched


def test_simulator_clips_lie_within_the_default_soft_limits() -> None:
    """Simulated values stay inside the soft limits (demo results unchanged)."""
    sim = yaml.safe_load(
        (REPO / "src" / "exomir" / "simulate" / "defaults.yaml").read_text()
    )["clinical"]["endpoints"]
    lim = pd.read_csv(
        REPO / "resources" / "clinical" / "plausibility_limits.tsv", sep="\t"
    ).set_index("param")
    for name, spec in sim.items():
        codes = [f"{name}_L", f"{name}_R"] if name in ("UTA_PI", "UTA_RI") else [name]
        for code in codes:
            assert lim.loc[code, "soft_low"] <= spec["min"], code
            assert spec["max"] <= lim.loc[code, "soft_high"], code
