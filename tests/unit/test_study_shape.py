"""Study shapes (QC-only vs trial) in the config, and "not computed" outputs."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from exomir import notcomputed
from exomir.config import is_trial_study, validate_config
from exomir.errors import ValidationError
from exomir.validate import validate_scenario

REPO = Path(__file__).resolve().parents[2]
QC_ONLY = REPO / "tests" / "scenarios" / "qc_only"
MOUSE = REPO / "tests" / "scenarios" / "real_mouse"


def _config(path: Path) -> dict:
    return yaml.safe_load((path / "config" / "config.yaml").read_text())


def _messages(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [f"{i.column}: {i.message}" for i in exc.value.issues]


def test_qc_only_config_validates_without_trial_design_or_participants() -> None:
    raw = _config(QC_ONLY)
    assert set(raw["sheets"]) == {"samples"}
    assert "design" not in raw and "primary_mirna" not in raw["trial"]
    cfg = validate_config(raw)
    assert not is_trial_study(cfg)
    assert cfg["qc"]["adapter_dimer_max_insert"] == 0  # schema default filled in
    no_trial = copy.deepcopy(raw)
    del no_trial["trial"]
    validate_config(no_trial)


def test_shipped_qc_only_scenario_is_valid() -> None:
    scenario = validate_scenario(QC_ONLY)
    assert list(scenario.tables["samples"].columns[:3]) == [
        "sample_id",
        "fastq",
        "protocol",
    ]


def test_trial_study_still_needs_design_and_primary_mirna() -> None:
    raw = _config(MOUSE)
    assert is_trial_study(validate_config(raw))
    broken = copy.deepcopy(raw)
    del broken["design"]
    del broken["trial"]["primary_mirna"]
    with pytest.raises(ValidationError) as exc:
        validate_config(broken)
    msgs = _messages(exc)
    assert any(m.startswith("design: required entry 'design' is missing") for m in msgs)
    assert any(m.startswith("trial.primary_mirna: required entry") for m in msgs)


def test_clinical_sheet_without_participants_is_an_error() -> None:
    raw = _config(QC_ONLY)
    raw["sheets"]["clinical_measurements"] = "config/clinical.tsv"
    with pytest.raises(ValidationError) as exc:
        validate_config(raw)
    assert _messages(exc) == [
        "sheets.clinical_measurements: sheets.clinical_measurements needs "
        "sheets.participants (a QC-only study names sheets.samples alone)"
    ]


def test_trial_samples_sheet_needs_participant_and_timepoint(tmp_path: Path) -> None:
    scn = tmp_path / "m"
    shutil.copytree(MOUSE / "config", scn / "config")
    sheet = scn / "config" / "samples.tsv"
    rows = [line.split("\t") for line in sheet.read_text().splitlines()]
    keep = [
        i for i, c in enumerate(rows[0]) if c not in ("participant_id", "timepoint")
    ]
    sheet.write_text("".join("\t".join(r[i] for i in keep) + "\n" for r in rows))
    with pytest.raises(ValidationError) as exc:
        validate_scenario(scn, check_files=False)
    assert any(
        "column 'participant_id' is missing; a study with sheets.participants" in m
        for m in _messages(exc)
    )


def test_not_computed_outputs_round_trip(tmp_path: Path) -> None:
    reason = "no usable library is left in c.tsv: none of the 2 libraries"
    paths = [tmp_path / n for n in ("a.tsv", "b.h5ad", "c.svg", "d.png", "e.txt")]
    notcomputed.write_outputs(paths, reason)
    assert (tmp_path / "a.tsv").read_text() == f"not_computed\n{reason}\n"
    assert notcomputed.reason_of(tmp_path / "a.tsv") == reason
    assert notcomputed.reason_of(tmp_path / "b.h5ad") == reason
    assert "not computed" in (tmp_path / "c.svg").read_text()
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "e.txt").read_text() == f"not computed: {reason}\n"
    real = tmp_path / "real.tsv"
    real.write_text("mirna\tcount\nmiR-1\t3\n")
    assert notcomputed.reason_of(real) is None


def test_run_step_passes_an_upstream_reason_on_and_catches_not_computed(
    tmp_path: Path,
) -> None:
    upstream = tmp_path / "in.tsv"
    notcomputed.write_output(upstream, "nothing passed QC")
    out = tmp_path / "out.tsv"
    ran = []
    assert not notcomputed.run_step([str(upstream)], [str(out)], lambda: ran.append(1))
    assert ran == []  # the step is skipped
    assert notcomputed.reason_of(out) == f"nothing passed QC (upstream: {upstream})"

    real = tmp_path / "real.tsv"
    real.write_text("x\n1\n")

    def fails() -> None:
        raise notcomputed.NotComputed("too few libraries")

    out2 = tmp_path / "out2.tsv"
    assert not notcomputed.run_step({"x": [str(real)]}, [str(out2)], fails)
    assert notcomputed.reason_of(out2) == "too few libraries"

    def breaks() -> None:
        raise ValueError("a real bug")

    with pytest.raises(ValueError, match="a real bug"):
        notcomputed.run_step([str(real)], [str(tmp_path / "o3.tsv")], breaks)
    assert not (tmp_path / "o3.tsv").exists()  # a failure writes nothing
