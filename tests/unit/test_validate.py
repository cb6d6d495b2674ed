"""Schema and cross-table validation: each bad input gives a precise message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from exomir.cli import main
from exomir.config import load_config, resolve_path, resources_dir
from exomir.errors import ValidationError
from exomir.validate import validate_scenario

REPO = Path(__file__).resolve().parents[2]
HUMAN = REPO / "tests" / "scenarios" / "real_human"

SAMPLES_HEADER = "sample_id\tparticipant_id\ttimepoint\tfastq\tprotocol\tlibrary_batch"


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    """A valid copy of the human real-data scenario with full tables."""
    d = tmp_path / "scn"
    (d / "config").mkdir(parents=True)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["shared_fastq"] = ["data/x.fastq.gz"]  # one file for every library
    (d / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    fq = d / "data" / "x.fastq.gz"
    fq.parent.mkdir()
    shutil.copy(REPO / "tests" / "data" / "real" / "sample1.fastq.gz", fq)
    (d / "config" / "samples.tsv").write_text(
        SAMPLES_HEADER + "\n"
        "P1_BL\tP1\tbaseline\tdata/x.fastq.gz\ttruseq\tB1\n"
        "P1_W1\tP1\tweek1\tdata/x.fastq.gz\ttruseq\tB1\n"
        "P2_BL\tP2\tbaseline\tdata/x.fastq.gz\tqiaseq\tB1\n"
    )
    (d / "config" / "participants.tsv").write_text(
        "participant_id\tarm\tstratum\tev_lot_id\ted_reference\n"
        "P1\tplacebo\tS1\t\t1\n"
        "P2\texosome\tS1\tL1\t0\n"
    )
    (d / "config" / "clinical_measurements.tsv").write_text(
        "participant_id\tvisit\tdomain\tparam\tvalue_num\tvalue_cat\tunit\treplicate\n"
        "P1\tbaseline\tVS\tSYSBP\t150\t\tmm[Hg]\t1\n"
        "P1\tweek1\tEDEMA\tEDEMA_LE\t\tpresent\t1\t\n"
    )
    (d / "config" / "adverse_events.tsv").write_text(
        "participant_id\tae_id\tmeddra_pt\tctcae_grade\tserious\trelated\n"
        "P2\tAE1\tHeadache\t1\tN\tunlikely\n"
    )
    (d / "config" / "disposition.tsv").write_text(
        "screening_id\tparticipant_id\teligible\trandomized\tarm\n"
        "S001\tP1\ttrue\ttrue\tplacebo\n"
        "S002\tP2\ttrue\ttrue\texosome\n"
        "S003\t\tfalse\tfalse\t\n"
    )
    (d / "config" / "ev_lots.tsv").write_text("lot_id\tparticles_per_ml\nL1\t1.5e11\n")
    nta = d / "data" / "nta.csv"
    # A real-layout NTA 3.3 export ("Not recorded" dilution; the sheet has it).
    src = Path(__file__).resolve().parents[1] / "data" / "ev"
    nta.write_bytes((src / "nanosight_base-ExperimentSummary.csv").read_bytes())
    (d / "config" / "ev_nta_runs.tsv").write_text(
        "lot_id\tinstrument\tfile\tdilution\treplicate\n"
        "L1\tNanoSight\tdata/nta.csv\t200\t1\n"
    )
    return d


def _errors(d: Path) -> list[str]:
    with pytest.raises(ValidationError) as info:
        validate_scenario(d)
    return [str(i) for i in info.value.issues]


def _edit(d: Path, name: str, old: str, new: str) -> None:
    p = d / "config" / name
    text = p.read_text()
    assert old in text, f"{old!r} not in {name}"
    p.write_text(text.replace(old, new, 1))


def test_valid_scenario_loads(scenario: Path) -> None:
    """A consistent scenario passes and its tables are typed."""
    scn = validate_scenario(scenario)
    assert list(scn.samples["sample_id"]) == ["P1_BL", "P1_W1", "P2_BL"]
    assert scn.participants.loc["P1", "ed_reference"] == 1
    assert scn.tables["disposition"]["eligible"].tolist() == [True, True, False]
    assert scn.tables["ev_lots"].loc[0, "particles_per_ml"] == pytest.approx(1.5e11)


def test_unknown_timepoint_names_file_line_column(scenario: Path) -> None:
    """A timepoint outside the design names the row and the allowed values."""
    _edit(scenario, "samples.tsv", "P1_W1\tP1\tweek1", "P1_W1\tP1\twk1")
    errs = _errors(scenario)
    assert errs == [
        "config/samples.tsv line 3 (sample_id=P1_W1), column 'timepoint': 'wk1' is "
        "not a timepoint of this trial; use one of: baseline, week1 "
        "(config design.timepoints)"
    ]


def test_participant_missing(scenario: Path) -> None:
    """A library of an unknown participant is reported."""
    _edit(scenario, "samples.tsv", "P2_BL\tP2", "P2_BL\tP9")
    errs = _errors(scenario)
    assert any(
        "line 4 (sample_id=P2_BL), column 'participant_id': participant 'P9' is not in participants.tsv"
        in e
        for e in errs
    )


def test_two_libraries_same_participant_timepoint(scenario: Path) -> None:
    """One library per participant and timepoint."""
    _edit(scenario, "samples.tsv", "P2_BL\tP2\tbaseline", "P2_BL\tP1\tbaseline")
    errs = _errors(scenario)
    assert (
        "config/samples.tsv: a library for (participant_id=P1, timepoint=baseline) "
        "appears on lines 2, 4; it must be unique" in errs
    )


def test_duplicate_sample_id(scenario: Path) -> None:
    _edit(scenario, "samples.tsv", "P2_BL\tP2", "P1_BL\tP2")
    errs = _errors(scenario)
    assert (
        "config/samples.tsv: sample_id (sample_id=P1_BL) appears on lines 2, 4; it must be unique"
        in errs
    )


def test_missing_fastq(scenario: Path) -> None:
    """A FASTQ path that does not exist is reported with where it was looked for."""
    _edit(
        scenario,
        "samples.tsv",
        "P1_BL\tP1\tbaseline\tdata/x.fastq.gz",
        "P1_BL\tP1\tbaseline\tdata/nope.fq.gz",
    )
    (err,) = _errors(scenario)
    assert err.startswith(
        "config/samples.tsv line 2 (sample_id=P1_BL), column 'fastq': FASTQ file "
        "'data/nope.fq.gz' does not exist (looked for "
    )


def test_bad_sample_id_pattern(scenario: Path) -> None:
    _edit(scenario, "samples.tsv", "P1_BL\tP1", "P1 BL\tP1")
    errs = _errors(scenario)
    assert any(
        "line 2 (sample_id=P1 BL), column 'sample_id': 'P1 BL' has characters or a form that is not allowed"
        in e
        for e in errs
    )


def test_unknown_column_and_missing_required(scenario: Path) -> None:
    """Header problems list what is allowed."""
    _edit(scenario, "samples.tsv", "library_batch", "batchx")
    (err,) = _errors(scenario)
    assert err.startswith(
        "config/samples.tsv line 1: unknown column(s): batchx; allowed columns are: sample_id, participant_id"
    )
    _edit(scenario, "samples.tsv", "protocol", "library_kit")
    errs = _errors(scenario)
    assert errs[0] == "config/samples.tsv line 1: required column(s) missing: protocol"


def test_ragged_row(scenario: Path) -> None:
    _edit(
        scenario,
        "samples.tsv",
        "P2_BL\tP2\tbaseline\tdata/x.fastq.gz\tqiaseq\tB1",
        "P2_BL\tP2\tbaseline",
    )
    assert _errors(scenario) == [
        "config/samples.tsv line 4: has 3 cells but the header has 6"
    ]


def test_comma_separated_file(scenario: Path) -> None:
    p = scenario / "config" / "participants.tsv"
    p.write_text(p.read_text().replace("\t", ","))
    errs = _errors(scenario)
    assert (
        "config/participants.tsv line 1: the header has no tabs; the file must be tab-separated"
        in errs
    )


def test_unknown_arm(scenario: Path) -> None:
    _edit(scenario, "participants.tsv", "P2\texosome", "P2\tMSC")
    errs = _errors(scenario)
    assert (
        "config/participants.tsv line 3 (participant_id=P2), column 'arm': 'MSC' is not an arm "
        "of this trial; use one of: placebo, exosome (config design.arms)" in errs
    )


def test_bad_number_and_enum(scenario: Path) -> None:
    """Type and enum errors quote the value and what is allowed."""
    _edit(
        scenario, "participants.tsv", "P1\tplacebo\tS1\t\t1", "P1\tplacebo\tS1\t\tyes"
    )
    errs = _errors(scenario)
    assert errs == [
        "config/participants.tsv line 2 (participant_id=P1), column 'ed_reference': 'yes' is "
        "not allowed; use one of: 0, 1, empty (Endothelial dysfunction by the reference "
        "method: 1 = present, 0 = absent, empty = not assessed.)"
    ]


def test_unknown_lot(scenario: Path) -> None:
    _edit(scenario, "participants.tsv", "S1\tL1", "S1\tL7")
    assert _errors(scenario) == [
        "config/participants.tsv line 3 (participant_id=P2), column 'ev_lot_id': EV lot 'L7' is not in ev_lots.tsv"
    ]


def test_clinical_wrong_unit_and_unknown_param(scenario: Path) -> None:
    # kPa would be converted (UCUM); mmol/L has no conversion to mm[Hg].
    _edit(scenario, "clinical_measurements.tsv", "150\t\tmm[Hg]", "20\t\tmmol/L")
    _edit(
        scenario,
        "clinical_measurements.tsv",
        "EDEMA_LE\t\tpresent",
        "EDEMA_LEG\t\tpresent",
    )
    errs = _errors(scenario)
    assert errs[0] == (
        "config/clinical_measurements.tsv line 2 (participant_id=P1, visit=baseline, param=SYSBP), "
        "column 'unit': unit 'mmol/L' is not the expected UCUM unit 'mm[Hg]' for SYSBP "
        "and no conversion is known (config clinical.unit_conversions); convert the value"
    )
    assert errs[1].startswith(
        "config/clinical_measurements.tsv line 3 (participant_id=P1, visit=week1, param=EDEMA_LEG), "
        "column 'param': unknown parameter 'EDEMA_LEG'; known parameters are: HGB, MCV"
    )


def test_clinical_category_and_visit(scenario: Path) -> None:
    _edit(
        scenario, "clinical_measurements.tsv", "EDEMA_LE\t\tpresent", "EDEMA_LE\t\tyes"
    )
    _edit(scenario, "clinical_measurements.tsv", "P1\tbaseline", "P1\tday99")
    errs = _errors(scenario)
    assert any(
        "column 'visit': 'day99' is not a visit of this trial" in e for e in errs
    )
    assert any(
        "column 'value_cat': 'yes' is not a level of EDEMA_LE; use one of: absent, present"
        in e
        for e in errs
    )


def test_disposition_not_randomised(scenario: Path) -> None:
    """Samples of participants who were not randomised are rejected."""
    _edit(
        scenario,
        "disposition.tsv",
        "S002\tP2\ttrue\ttrue\texosome",
        "S002\tP2\ttrue\tfalse\t",
    )
    errs = _errors(scenario)
    assert (
        "config/disposition.tsv: participant 'P2' of participants.tsv has no randomised row here"
        in errs
    )
    assert (
        "config/samples.tsv line 4 (sample_id=P2_BL), column 'participant_id': participant 'P2' "
        "was not randomised according to disposition.tsv" in errs
    )


def test_disposition_arm_mismatch(scenario: Path) -> None:
    _edit(
        scenario,
        "disposition.tsv",
        "S001\tP1\ttrue\ttrue\tplacebo",
        "S001\tP1\ttrue\ttrue\texosome",
    )
    assert _errors(scenario) == [
        "config/disposition.tsv line 2 (screening_id=S001), column 'arm': arm 'exosome' differs "
        "from participants.tsv ('placebo')"
    ]


def test_adverse_event_bad_grade(scenario: Path) -> None:
    _edit(scenario, "adverse_events.tsv", "Headache\t1", "Headache\t7")
    (err,) = _errors(scenario)
    assert err.startswith(
        "config/adverse_events.tsv line 2 (participant_id=P2, ae_id=AE1), column 'ctcae_grade': 7 is out of range"
    )


def test_nta_file_missing(scenario: Path) -> None:
    (scenario / "data" / "nta.csv").unlink()
    (err,) = _errors(scenario)
    assert err.startswith(
        "config/ev_nta_runs.tsv line 2 (lot_id=L1, instrument=NanoSight, replicate=1), column 'file': "
        "export file 'data/nta.csv' does not exist"
    )


def test_umi_scheme_contradicts_protocol(scenario: Path) -> None:
    p = scenario / "config" / "samples.tsv"
    lines = p.read_text().splitlines()
    lines[0] += "\tumi_scheme"
    lines[1] += "\tqiaseq12"
    lines[2] += "\t"
    lines[3] += "\tqiaseq12"
    p.write_text("\n".join(lines) + "\n")
    assert _errors(scenario) == [
        "config/samples.tsv line 2 (sample_id=P1_BL), column 'umi_scheme': umi_scheme 'qiaseq12' "
        "contradicts protocol 'truseq', whose UMI scheme is 'none'"
    ]


def test_excluded_without_reason(scenario: Path) -> None:
    p = scenario / "config" / "samples.tsv"
    lines = p.read_text().splitlines()
    lines[0] += "\texclude"
    lines[1] += "\ttrue"
    lines[2] += "\tfalse"
    lines[3] += "\t"
    p.write_text("\n".join(lines) + "\n")
    assert _errors(scenario) == [
        "config/samples.tsv line 2 (sample_id=P1_BL), column 'exclude_reason': the library is "
        "excluded but exclude_reason is empty; say why"
    ]


def test_config_errors(scenario: Path) -> None:
    """Config schema errors name the key and what is allowed."""
    cfg_path = scenario / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["design"]["timepoints"] = ["baseline", "month3"]
    # an override of a built-in preset is validated like any config section
    cfg["protocols"] = {
        "truseq": {"adapter_3p": "TGGAATTCTCGGGTGCCAAGx", "clip_5p": 0, "clip_3p": 0}
    }
    cfg["protocols"]["truseq"]["umi"] = "umi8"
    cfg_path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValidationError) as info:
        load_config(cfg_path)
    errs = [str(i) for i in info.value.issues]
    assert any(
        "column 'protocols.truseq.adapter_3p': 'TGGAATTCTCGGGTGCCAAGx' has characters"
        in e
        for e in errs
    )
    assert any(
        "column 'protocols.truseq.umi': 'umi8' is not allowed; use one of: none, qiaseq12"
        in e
        for e in errs
    )
    cfg["protocols"]["truseq"]["umi"] = "none"
    cfg["protocols"]["truseq"]["adapter_3p"] = "TGGAATTCTCGGGTGCCAAGG"
    cfg_path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValidationError) as info:
        load_config(cfg_path)
    assert [str(i) for i in info.value.issues] == [
        f"{cfg_path}, column 'design.timepoints': timepoint 'month3' is not among design.visits "
        "(screening, baseline, day1, week1, unscheduled); add it so that clinical values at "
        "that timepoint can be matched"
    ]


def test_config_never_executes_code(tmp_path: Path) -> None:
    """YAML tags that would construct Python objects are refused, not run."""
    p = tmp_path / "config.yaml"
    p.write_text("trial: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ValidationError, match="YAML tag '!!python/object/apply"):
        load_config(p)
    assert not (tmp_path / "pwned").exists()


def test_third_visit_and_other_arm_names_need_only_config(scenario: Path) -> None:
    """A trial with other arm names and a third timepoint validates by config alone."""
    cfg_path = scenario / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["design"]["arms"] = ["saline", "msc_ev"]
    cfg["design"]["timepoints"] = ["baseline", "week1", "month3"]
    cfg["design"]["visits"].append("month3")
    cfg["de"]["contrasts"] = (
        None  # derived from the new design (named ones are checked)
    )
    cfg_path.write_text(yaml.safe_dump(cfg))
    for name, old, new in [
        ("participants.tsv", "P1\tplacebo", "P1\tsaline"),
        ("participants.tsv", "P2\texosome", "P2\tmsc_ev"),
        ("disposition.tsv", "\tplacebo", "\tsaline"),
        ("disposition.tsv", "\texosome", "\tmsc_ev"),
    ]:
        _edit(scenario, name, old, new)
    p = scenario / "config" / "samples.tsv"
    p.write_text(p.read_text() + "P1_M3\tP1\tmonth3\tdata/x.fastq.gz\ttruseq\tB1\n")
    scn = validate_scenario(scenario)
    assert "month3" in set(scn.samples["timepoint"])


def test_resources_prefix_resolves_to_shipped_files(tmp_path: Path) -> None:
    assert resolve_path("@resources/mirbase/v22/hsa/mature.fa", tmp_path).is_file()
    assert resolve_path("config/x.tsv", tmp_path) == tmp_path / "config" / "x.tsv"
    assert resources_dir() == REPO / "resources"


def test_cli_validate_exit_codes(
    scenario: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`exomir validate` exits 0 on a valid scenario and 1 with the messages otherwise."""
    assert main(["validate", str(scenario)]) == 0
    assert "configuration and tables are valid" in capsys.readouterr().out
    _edit(scenario, "samples.tsv", "P1_W1\tP1\tweek1", "P1_W1\tP1\twk1")
    assert main(["validate", str(scenario)]) == 1
    err = capsys.readouterr().err
    assert "1 problem found in the inputs:" in err
    assert "'wk1' is not a timepoint of this trial" in err


def test_shipped_real_scenarios_are_valid() -> None:
    for name in ("real_human", "real_mouse"):
        validate_scenario(REPO / "tests" / "scenarios" / name)


def test_config_readme_is_generated_from_schemas() -> None:
    """config/README.md documents every column with its schema description."""
    from exomir.schemadoc import readme_markdown

    assert (REPO / "config" / "README.md").read_text() == readme_markdown()


def test_config_keys_documented_with_defaults() -> None:
    """Every top-level config key and nested settings appear with type and default."""
    import yaml

    from exomir.schemadoc import config_markdown

    text = config_markdown()
    schema = yaml.safe_load(
        (REPO / "src" / "exomir" / "schemas" / "config.schema.yaml").read_text()
    )
    for key in schema["properties"]:
        assert f"| `{key}` |" in text
    assert '| `de.wald_reference` |  | one of `normal`, `t` | `"t"` |' in text
    assert "| `clinical_parameters.<name>.kind` | yes |" in text


def test_nta_missing_dilution_reported_before_the_run(scenario: Path) -> None:
    """'Not recorded' in the export and an empty sheet cell: file and line."""
    _edit(scenario, "ev_nta_runs.tsv", "data/nta.csv\t200\t1", "data/nta.csv\t\t1")
    (err,) = _errors(scenario)
    # Line 34 of nanosight_base is its "Dilution factor" row.
    assert err.startswith(
        "data/nta.csv line 34: the dilution is not recorded in the file and the "
        "dilution column of config/ev_nta_runs.tsv line 2 is empty"
    )
    assert err.endswith("(the file says 'Not recorded')")


def test_nta_conflicting_dilution(scenario: Path) -> None:
    src = REPO / "tests" / "data" / "ev" / "nanosight_mini-ExperimentSummary.csv"
    shutil.copy(src, scenario / "data" / "nta.csv")  # records dilution 10
    (err,) = _errors(scenario)
    assert err.startswith("data/nta.csv line 34: the file records dilution 10 but ")
    assert "config/ev_nta_runs.tsv line 2 says 200" in err


def test_nta_unverified_software_versions(scenario: Path) -> None:
    ns = scenario / "data" / "nta.csv"
    ns.write_bytes(ns.read_bytes().replace(b"NTA 3.3 -", b"NTA 3.4 -"))
    zv = scenario / "data" / "zv_size_488.txt"
    base = REPO / "tests" / "data" / "ev" / "zv_base_size_488.txt"
    zv.write_bytes(
        base.read_bytes().replace(b"version 8.06.01 SP1", b"version 8.05.12 SP2")
    )
    with (scenario / "config" / "ev_nta_runs.tsv").open("a") as fh:
        fh.write("L1\tZetaView\tdata/zv_size_488.txt\t1000\t2\n")
    errs = _errors(scenario)
    assert len(errs) == 2
    assert errs[0].startswith(
        "data/nta.csv line 2: NanoSight software version '3.4' has not been "
        "verified with exomir's reader (verified: 3.3)"
    )
    assert errs[1].startswith(
        "data/zv_size_488.txt line 6: ZetaView software version '8.05.12' has not "
        "been verified with exomir's reader (verified: 8.06.01)"
    )
    assert errs[1].endswith("(listed in config/ev_nta_runs.tsv line 3)")
    # Once the lab has checked these versions, it lists them in the config.
    cfg_path = scenario / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg.setdefault("ev", {}).setdefault("nta", {})["verified_software"] = [
        "3.4",
        "8.05",
    ]
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    validate_scenario(scenario)


def test_zetaview_export_without_dilution(scenario: Path) -> None:
    src = REPO / "tests" / "data" / "ev" / "zv_nodilution_size_488.txt"
    shutil.copy(src, scenario / "data" / "zv_size_488.txt")
    with (scenario / "config" / "ev_nta_runs.tsv").open("a") as fh:
        fh.write("L1\tZetaView\tdata/zv_size_488.txt\t\t2\n")
    lines = src.read_bytes().decode("latin-1").split("\n")
    where = next(i for i, s in enumerate(lines, 1) if s.startswith("Number of Traces"))
    (err,) = _errors(scenario)
    assert err.startswith(
        f"data/zv_size_488.txt line {where}: the dilution is not recorded in the "
        "file and the dilution column of config/ev_nta_runs.tsv line 3 is empty"
    )


def test_protocol_auto(scenario: Path) -> None:
    """``auto`` is accepted (kit detected from the reads) but takes no adapter."""
    p = scenario / "config" / "samples.tsv"
    p.write_text(p.read_text().replace("\ttruseq\t", "\tauto\t"))
    validate_scenario(scenario)
    lines = p.read_text().splitlines()
    lines[0] += "\tadapter_3p"
    lines[1] += "\tTGGAATTCTCGG"
    lines[2] += "\t"
    lines[3] += "\t"
    p.write_text("\n".join(lines) + "\n")
    assert _errors(scenario) == [
        "config/samples.tsv line 2 (sample_id=P1_BL), column 'adapter_3p': protocol "
        "'auto' detects the kit from the reads and takes no adapter_3p; leave "
        "adapter_3p empty or name the protocol"
    ]
    _edit(scenario, "samples.tsv", "\tauto\t", "\tautomatic\t")
    assert (
        "use one of: truseq, nextflex, qiaseq, cats, illumina_v15, illumina_v10, custom, auto"
        in _errors(scenario)[0]
    )
