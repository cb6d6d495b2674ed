"""Clinical analysis dataset: means, derived values, units, flags, populations, bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _stage_inputs import clinical_inputs

from exomir.clinical.dataset import (
    analysis_dataset,
    convert_units,
    populations,
)
from exomir.clinical.settings import clinical_settings
from exomir.clinical.stage import dataset_from_files, load_inputs
from exomir.config import load_config
from exomir.errors import ValidationError
from exomir.units import default_conversions
from exomir.validate import validate_scenario

REPO = Path(__file__).resolve().parents[2]

CLIN_HEADER = (
    "participant_id\tvisit\tdays_since_dose\tdomain\tparam\tvalue_num\tvalue_cat\t"
    "unit\tlaterality\treplicate\tassessor_blinded\tlloq_flag"
)


def _row(
    pid: str,
    visit: str,
    day: int,
    dom: str,
    param: str,
    num: str = "",
    cat: str = "",
    unit: str = "1",
    lat: str = "",
    rep: str = "1",
) -> str:
    return "\t".join(
        [pid, visit, str(day), dom, param, num, cat, unit, lat, rep, "true", "false"]
    )


@pytest.fixture
def scn(tmp_path: Path) -> Path:
    """Four participants (P1, P3 placebo; P2, P4 exosome) with hand-set values."""
    d = tmp_path / "scn"
    (d / "config").mkdir(parents=True)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["sheets"] = {
        "samples": "config/samples.tsv",
        "participants": "config/participants.tsv",
        "clinical_measurements": "config/clinical_measurements.tsv",
        "disposition": "config/disposition.tsv",
    }
    (d / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (d / "config" / "samples.tsv").write_text(
        "sample_id\tparticipant_id\ttimepoint\tfastq\tprotocol\tlibrary_batch\n"
        "P1_BL\tP1\tbaseline\tx.fq.gz\ttruseq\tB1\n"
    )
    (d / "config" / "participants.tsv").write_text(
        "participant_id\tarm\tstratum\n"
        "P1\tplacebo\tS1\nP2\texosome\tS1\nP3\tplacebo\tS1\nP4\texosome\tS1\n"
    )
    (d / "config" / "disposition.tsv").write_text(
        "screening_id\tparticipant_id\teligible\trandomized\tarm\tdosed\tmajor_deviation\n"
        "S1\tP1\ttrue\ttrue\tplacebo\ttrue\t\n"
        "S2\tP2\ttrue\ttrue\texosome\ttrue\twrong dose\n"
        "S3\tP3\ttrue\ttrue\tplacebo\ttrue\t\n"
        "S4\tP4\ttrue\ttrue\texosome\tfalse\t\n"
    )
    rows = [
        # P1: two BP readings per visit; left side only of UTA PI at week 1.
        _row("P1", "baseline", 0, "VS", "SYSBP", "150", unit="mm[Hg]"),
        _row("P1", "baseline", 0, "VS", "SYSBP", "140", unit="mm[Hg]", rep="2"),
        _row("P1", "baseline", 0, "VS", "DIABP", "90", unit="mm[Hg]"),
        _row("P1", "baseline", 0, "VS", "DIABP", "100", unit="mm[Hg]", rep="2"),
        _row("P1", "week1", 7, "VS", "SYSBP", "130", unit="mm[Hg]"),
        _row("P1", "week1", 7, "VS", "DIABP", "85", unit="mm[Hg]"),
        _row("P1", "baseline", 0, "IMG", "UTA_PI_L", "1.6", lat="L"),
        _row("P1", "baseline", 0, "IMG", "UTA_PI_R", "2.0", lat="R"),
        _row("P1", "week1", 7, "IMG", "UTA_PI_L", "1.5", lat="L"),
        _row("P1", "baseline", 0, "LB", "HGB", "121", unit="g/L"),
        _row("P1", "week1", 7, "LB", "HGB", "11.5", unit="g/dL"),
        _row("P1", "baseline", 0, "EDEMA", "EDEMA_LE", cat="present"),
        _row("P1", "week1", 7, "EDEMA", "EDEMA_LE", cat="absent"),
        # P2: implausible SBP (soft limit; kept, flagged); week-1 visit outside
        # the window.
        _row("P2", "baseline", 0, "VS", "SYSBP", "300", unit="mm[Hg]"),
        _row("P2", "week1", 12, "VS", "SYSBP", "140", unit="mm[Hg]"),
        _row("P3", "baseline", 0, "VS", "SYSBP", "145", unit="mm[Hg]"),
        _row("P3", "week1", 11, "VS", "SYSBP", "135", unit="mm[Hg]"),
        _row("P4", "baseline", 0, "VS", "SYSBP", "160", unit="mm[Hg]"),
    ]
    (d / "config" / "clinical_measurements.tsv").write_text(
        CLIN_HEADER + "\n" + "\n".join(rows) + "\n"
    )
    return d


def _dataset(d: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    sheets, settings = clinical_inputs(d, load_config(d / "config" / "config.yaml"))
    inp = load_inputs(settings, **sheets)
    pops = populations(inp.participants, inp.disposition, inp.clinical, inp.settings)
    return analysis_dataset(inp.clinical, pops, inp.settings), pops


def _errors(d: Path) -> list[str]:
    with pytest.raises(ValidationError) as info:
        validate_scenario(d, check_files=False)
    return [str(i) for i in info.value.issues]


def _edit(d: Path, old: str, new: str) -> None:
    p = d / "config" / "clinical_measurements.tsv"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


def _value(ds: pd.DataFrame, pid: str, param: str, col: str) -> object:
    return ds.set_index(["participant_id", "param"]).loc[(pid, param), col]


def test_replicate_means_derived_map_and_side_mean(scn: Path) -> None:
    ds, _ = _dataset(scn)
    assert _value(ds, "P1", "SYSBP", "bl") == pytest.approx(145.0)
    assert _value(ds, "P1", "SYSBP", "n_bl") == 2
    assert _value(ds, "P1", "DIABP", "bl") == pytest.approx(95.0)
    # MAP = DBP + (SBP - DBP) / 3 from the visit means.
    assert _value(ds, "P1", "MAP", "bl") == pytest.approx(95 + (145 - 95) / 3)
    assert _value(ds, "P1", "MAP", "wk1") == pytest.approx(85 + (130 - 85) / 3)
    assert _value(ds, "P1", "MAP", "chg") == pytest.approx(
        (85 + 45 / 3) - (95 + 50 / 3)
    )
    # Mean of left and right; a missing side is flagged, the other side used.
    assert _value(ds, "P1", "UTA_PI_MEAN", "bl") == pytest.approx(1.8)
    assert _value(ds, "P1", "UTA_PI_MEAN", "wk1") == pytest.approx(1.5)
    assert "UTA_PI_R missing" in str(_value(ds, "P1", "UTA_PI_MEAN", "flags"))
    # Binary coded 0/1 with the category kept.
    assert _value(ds, "P1", "EDEMA_LE", "bl") == 1.0
    assert _value(ds, "P1", "EDEMA_LE", "wk1_cat") == "absent"


def test_unit_converted_where_ucum_allows(scn: Path) -> None:
    ds, _ = _dataset(scn)
    # 121 g/L = 12.1 g/dL (UCUM), so the change is 11.5 - 12.1.
    assert _value(ds, "P1", "HGB", "bl") == pytest.approx(12.1)
    assert _value(ds, "P1", "HGB", "chg") == pytest.approx(-0.6)


def test_unconvertible_unit_names_file_participant_parameter(scn: Path) -> None:
    _edit(scn, "130\t\tmm[Hg]", "130\t\tmmol/L")
    errs = _errors(scn)
    assert errs == [
        "config/clinical_measurements.tsv line 6 (participant_id=P1, visit=week1, "
        "param=SYSBP), column 'unit': unit 'mmol/L' is not the expected UCUM unit "
        "'mm[Hg]' for SYSBP and no conversion is known (config "
        "clinical.unit_conversions); convert the value"
    ]
    # The stage itself refuses the same row (no silent pass-through).
    cfg = load_config(scn / "config" / "config.yaml")
    clin = pd.read_csv(scn / "config" / "clinical_measurements.tsv", sep="\t")
    with pytest.raises(ValidationError, match=r"participant_id=P1.*param=SYSBP"):
        convert_units(clin, clinical_settings(cfg), default_conversions(cfg, scn))


def test_out_of_range_value_flagged_not_dropped(
    scn: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        ds, _ = _dataset(scn)
    assert _value(ds, "P2", "SYSBP", "bl") == 300.0
    assert _value(ds, "P2", "SYSBP", "flags") == (
        "baseline value 300 outside soft limits 70-220 mm[Hg] (implausible)"
    )
    assert (
        "1 clinical value(s) outside the soft plausibility limits (implausible)"
        in caplog.text
    )


def test_duplicate_visit_record(scn: Path) -> None:
    _edit(scn, "P3\tweek1\t11", "P3\tbaseline\t0")
    errs = _errors(scn)
    assert errs == [
        "config/clinical_measurements.tsv (participant_id=P3, visit=baseline, "
        "param=SYSBP, replicate=1), column 'replicate': duplicate measurement on "
        "lines 17, 18: the same visit, parameter and replicate appear more than "
        "once; number repeated readings in column replicate or remove the copy"
    ]


def test_participant_without_randomisation(scn: Path) -> None:
    p = scn / "config" / "disposition.tsv"
    p.write_text(p.read_text().replace("S3\tP3\ttrue\ttrue", "S3\tP3\ttrue\tfalse"))
    errs = _errors(scn)
    assert (
        "config/clinical_measurements.tsv (participant_id=P3), column "
        "'participant_id': participant 'P3' has 2 measurement(s) (first on line 17, "
        "parameter SYSBP) but was not randomised according to disposition.tsv"
    ) in errs


def test_non_numeric_value_names_participant_and_parameter(scn: Path) -> None:
    _edit(scn, "\t145\t", "\t14S\t")
    errs = _errors(scn)
    assert errs == [
        "config/clinical_measurements.tsv line 17 (participant_id=P3, "
        "visit=baseline, param=SYSBP), column 'value_num': '14S' is not a valid "
        "number or empty (Numeric result.)"
    ]


def test_populations_mitt_and_pp(scn: Path) -> None:
    _, pops = _dataset(scn)
    p = pops.set_index("participant_id")
    # P4 not dosed: outside mITT. P2 major deviation, P3 visit on day 11: not PP.
    assert p["in_mitt"].to_dict() == {"P1": True, "P2": True, "P3": True, "P4": False}
    assert p["in_pp"].to_dict() == {"P1": True, "P2": False, "P3": False, "P4": False}
    assert "major deviation: wrong dose" in p.loc["P2", "pp_reason"]
    assert "week1 on day 11, outside 7 +/- 2" in p.loc["P3", "pp_reason"]


def test_dataset_files_written(scn: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = load_config(scn / "config" / "config.yaml")
    sheets, settings = clinical_inputs(scn, cfg)
    dataset_from_files(
        **sheets,
        dataset=out / "ds.tsv",
        populations_out=out / "pops.tsv",
        flags=out / "flags.tsv",
        plausibility=None,
        settings=settings,
    )
    ds = pd.read_csv(out / "ds.tsv", sep="\t")
    assert list(ds.columns[:7]) == [
        "participant_id",
        "arm",
        "param",
        "bl",
        "wk1",
        "chg",
        "flags",
    ]
    flags = pd.read_csv(out / "flags.tsv", sep="\t")
    assert set(flags["participant_id"]) == {"P1", "P2"}
    assert np.all(flags["file"] == "config/clinical_measurements.tsv")
