"""NanoSight NTA 3.x ExperimentSummary.csv reader, on synthetic fixtures.

The fixtures are written by tests/data/ev/make_fixtures.py from known
log-normal distributions or hand-chosen bins; expected values below come from
those, not from the reader.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from exomir.ev import NtaFormatError, size_stats
from exomir.ev.nanosight import read_nanosight
from exomir.ev.runs import measure_run
from exomir.ev.settings import ev_config

DATA = Path(__file__).resolve().parents[1] / "data" / "ev"
BASE = DATA / "nanosight_base-ExperimentSummary.csv"
D50, SIGMA = 110.0, 0.40  # the fixture's log-normal


def test_base_file() -> None:
    run = read_nanosight(BASE, "base.csv")
    assert run.instrument == "NanoSight"
    assert run.software == "NTA 3.3.203"
    assert run.encoding == "latin-1"  # nm² / nm³ bytes
    assert run.replicate_labels == [
        "EVLOT-A_d500_001",
        "EVLOT-A_d500_002",
        "EVLOT-A_d500_003",
    ]
    assert run.replicate_conc.tolist() == [1.90e8, 2.00e8, 2.10e8]
    assert run.conc_total == pytest.approx(2.00e8)
    assert run.file_dilution is None  # "Not recorded"
    assert run.width == 1.0 and len(run.centres) == 1000
    assert run.centres[0] == 0.5 and run.centres[-1] == 999.5
    st = size_stats(run.centres, run.conc, run.width)
    # The diffusion section's Number table is shifted by 300 bins: reading it
    # by mistake would move D50 by about 300 nm.
    assert st["d50_nm"] == pytest.approx(D50, abs=0.5)
    assert st["mode_nm"] == pytest.approx(D50 * math.exp(-(SIGMA**2)), abs=1.0)
    assert st["d10_nm"] == pytest.approx(D50 * math.exp(-1.281552 * SIGMA), abs=0.5)
    assert st["d90_nm"] == pytest.approx(D50 * math.exp(1.281552 * SIGMA), abs=0.5)
    assert st["mean_nm"] == pytest.approx(D50 * math.exp(SIGMA**2 / 2), abs=0.5)
    # Same shape in every video: per-video D50s agree.
    assert np.ptp(run.replicate_d50_nm) < 0.2
    assert run.reported["d50_nm"] == pytest.approx(110.0)
    assert run.settings["temperature_c"] == pytest.approx(22.1)
    assert run.settings["camera_level"] == "14"
    assert run.settings["detection_threshold"] == "5"
    assert run.qc["n_replicates"] == 3
    assert run.qc["particles_per_frame_min"] == 38.0
    assert run.qc["invalid_videos"] == []
    assert run.warnings == []


def test_semicolons_decimal_commas_crlf_bom_nul_give_the_same_run() -> None:
    a = read_nanosight(BASE)
    b = read_nanosight(DATA / "nanosight_semicolon-ExperimentSummary.csv")
    assert b.encoding == "utf-8"
    assert np.array_equal(a.conc, b.conc)
    assert b.replicate_conc.tolist() == a.replicate_conc.tolist()
    assert b.settings["temperature_c"] == pytest.approx(22.1)
    assert b.settings["viscosity_cp"] == pytest.approx(0.95)


def test_autosampler_export_without_average_columns() -> None:
    run = read_nanosight(DATA / "nanosight_autosampler-ExperimentSummary.csv")
    assert run.qc["n_replicates"] == 4  # not the usual 5
    assert run.conc_total == pytest.approx(np.mean([1.8e8, 2.0e8, 2.2e8, 2.0e8]))
    assert run.qc["particles_per_frame_min"] == 12.0
    row = {
        "lot_id": "L",
        "instrument": "NanoSight",
        "file": "nanosight_autosampler-ExperimentSummary.csv",
        "dilution": 100.0,
        "_line": 2,
    }
    res = measure_run(row, DATA, ev_config())
    assert res.summary["run_qc"] == "warn"
    assert "particles per frame 12 < 20" in res.summary["run_qc_notes"]
    # SD of the four video concentrations x dilution 100.
    sd = np.std([1.8e10, 2.0e10, 2.2e10, 2.0e10], ddof=1)
    assert res.summary["conc_sd_per_ml"] == pytest.approx(sd)
    assert res.summary["conc_cv_pct"] == pytest.approx(sd / 2.0e10 * 100)


def test_hand_computed_mini_file() -> None:
    # Bins 90.5, 100.5, 110.5, 130.5 nm hold 2, 4, 3, 1 parts (x1e6 in video
    # 1, x2e6 in video 2); dilution 10 recorded (already applied).
    run = read_nanosight(DATA / "nanosight_mini-ExperimentSummary.csv")
    assert run.file_dilution == 10.0 and run.conc_includes_file_dilution
    assert run.conc_total == pytest.approx(1.5e7)
    st = size_stats(run.centres, run.conc, run.width)
    assert st["d10_nm"] == pytest.approx(90.5)  # 90 + 0.1/0.2
    assert st["d50_nm"] == pytest.approx(100.75)  # 100 + (0.5-0.2)/0.4
    assert st["d90_nm"] == pytest.approx(111.0)  # 110 + (0.9-0.6)/0.3
    assert st["mean_nm"] == pytest.approx(104.5)
    assert st["sd_nm"] == pytest.approx(math.sqrt(124.0))  # (392+64+108+676)/10
    assert st["mode_nm"] == 100.5
    assert run.stock_factor(None) == (1.0, 10.0, "file")
    row = {
        "lot_id": "L",
        "instrument": "NanoSight",
        "file": "nanosight_mini-ExperimentSummary.csv",
        "dilution": 20.0,
        "_line": 7,
    }
    res = measure_run(row, DATA, ev_config(), "runs.tsv")
    assert res.error is not None
    assert str(res.error).startswith("nanosight_mini-ExperimentSummary.csv:")
    assert "records dilution 10 but runs.tsv line 7 says 20" in str(res.error)
    res = measure_run({**row, "dilution": None}, DATA, ev_config())
    assert res.summary["conc_per_ml"] == pytest.approx(1.5e7)
    assert "2 videos < 3" in res.summary["run_qc_notes"]


def test_truncated_file_names_the_line() -> None:
    with pytest.raises(NtaFormatError) as exc:
        read_nanosight(DATA / "nanosight_truncated-ExperimentSummary.csv", "t.csv")
    assert exc.value.file == "t.csv" and exc.value.line == 458
    assert "truncated" in exc.value.reason


def test_file_cut_at_a_line_boundary(tmp_path: Path) -> None:
    lines = BASE.read_bytes().split(b"\n")
    start = next(i for i, s in enumerate(lines) if s.startswith(b"Bin centre (nm)"))
    f = tmp_path / "cut.csv"
    f.write_bytes(b"\n".join(lines[: start + 401]) + b"\n")
    with pytest.raises(NtaFormatError, match="after 400 of 1000 bins") as exc:
        read_nanosight(f)
    assert exc.value.line == start + 401


def test_unsupported_version() -> None:
    with pytest.raises(NtaFormatError) as exc:
        read_nanosight(DATA / "nanosight_nta23-ExperimentSummary.csv")
    assert exc.value.line == 2 and "NTA 2.3" in exc.value.reason


def test_not_a_nanosight_file() -> None:
    with pytest.raises(NtaFormatError, match="not a NanoSight") as exc:
        read_nanosight(DATA / "unknown_instrument.csv")
    assert exc.value.line == 1


def test_missing_size_section_and_damaged_row(tmp_path: Path) -> None:
    text = BASE.read_text(encoding="latin-1")
    f = tmp_path / "nosize.csv"
    f.write_text(text.split("[Size Data]")[0], encoding="latin-1")
    with pytest.raises(NtaFormatError, match=r"no \[Size Data\] section"):
        read_nanosight(f)
    lines = text.split("\n")
    i = lines.index(next(s for s in lines if s.startswith("120.5,")))
    lines[i] = "120.5,12,abc,14,13.0,0.5,"
    f.write_text("\n".join(lines), encoding="latin-1")
    with pytest.raises(NtaFormatError, match="damaged row") as exc:
        read_nanosight(f)
    assert exc.value.line == i + 1


def test_videos_recording_different_dilutions(tmp_path: Path) -> None:
    text = (DATA / "nanosight_mini-ExperimentSummary.csv").read_text(encoding="latin-1")
    f = tmp_path / "mixed.csv"
    f.write_text(
        text.replace(
            "adjusted for this factor),10,10,", "adjusted for this factor),10,20,"
        ),
        encoding="latin-1",
    )
    with pytest.raises(NtaFormatError, match="different dilution factors"):
        read_nanosight(f)
