"""Binned size statistics, number parsing, decoding and the dilution rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exomir.ev import (
    NtaFormatError,
    NtaRun,
    cdf_at,
    decode_export,
    estimate_mode,
    parse_number,
    percentile,
    size_stats,
)


def lognormal_bins(
    width: float, d50: float, sigma: float, top: float = 1000.0
) -> tuple[np.ndarray, np.ndarray]:
    edges = np.arange(0.0, top + width, width)
    cdf = [
        0.0
        if e <= 0
        else 0.5 * (1 + math.erf(math.log(e / d50) / (sigma * math.sqrt(2))))
        for e in edges
    ]
    return edges[:-1] + width / 2, np.diff(cdf)


def test_hand_computed_statistics() -> None:
    # Four 100-nm bins holding 1, 4, 3, 2 particles (total 10). Cumulative
    # fractions at the upper edges 100/200/300/400 nm: 0.1, 0.5, 0.8, 1.0.
    c = np.array([50.0, 150.0, 250.0, 350.0])
    n = np.array([1.0, 4.0, 3.0, 2.0])
    st = size_stats(c, n, 100.0, window=(50.0, 400.0))
    assert st["total"] == 10
    assert st["d10_nm"] == pytest.approx(100.0)  # end of bin 1
    assert st["d50_nm"] == pytest.approx(200.0)  # 100 + (0.5-0.1)/0.4 * 100
    assert st["d90_nm"] == pytest.approx(350.0)  # 300 + (0.9-0.8)/0.2 * 100
    assert st["mean_nm"] == pytest.approx(210.0)  # (50 + 600 + 750 + 700) / 10
    # Squared deviations 25600 + 4*3600 + 3*1600 + 2*19600 = 84000 over 10.
    assert st["sd_nm"] == pytest.approx(math.sqrt(8400.0))
    assert st["span"] == pytest.approx((350.0 - 100.0) / 200.0)
    # Half of bin 1 lies below 50 nm: 1 - 0.05.
    assert st["frac_in_window"] == pytest.approx(0.95)
    assert cdf_at(c, n, 100.0, 250.0) == pytest.approx(0.65)
    assert percentile(c, n, 100.0, 0.65) == pytest.approx(250.0)


def test_mode_of_a_narrow_peak_is_the_highest_bin() -> None:
    c = np.array([50.0, 150.0, 250.0, 350.0])
    assert estimate_mode(c, np.array([1.0, 4.0, 1.0, 0.0]), 100.0) == 150.0
    # Sparse data with gaps inside the peak: the highest bin, not a fit.
    c1 = np.arange(1000) + 0.5
    y = np.zeros(1000)
    y[[90, 100, 110, 130]] = [2, 4, 3, 1]
    assert estimate_mode(c1, y, 1.0) == 100.5


def test_empty_distribution_gives_nan() -> None:
    st = size_stats(np.array([1.0, 2.0]), np.zeros(2), 1.0)
    assert math.isnan(st["d50_nm"]) and math.isnan(st["mode_nm"])


@pytest.mark.parametrize("width", [1.0, 5.0])
def test_mode_of_a_lognormal_is_exact(width: float) -> None:
    d50, sigma = 110.0, 0.40
    c, mass = lognormal_bins(width, d50, sigma)
    truth = d50 * math.exp(-(sigma**2))
    assert estimate_mode(c, mass * 1e9, width) == pytest.approx(truth, abs=0.2 * width)
    st = size_stats(c, mass * 1e9, width)
    assert st["d50_nm"] == pytest.approx(d50, abs=0.01)
    # Linear interpolation inside curved bins: error well below a bin.
    assert st["d10_nm"] == pytest.approx(
        d50 * math.exp(-1.281552 * sigma), abs=0.05 * width
    )


def test_mode_of_a_sampled_lognormal() -> None:
    # 20 000 particles in 5-nm bins, as a ZetaView run might record them.
    rng = np.random.default_rng(3)
    d50, sigma = 120.0, 0.35
    sizes = np.exp(rng.normal(math.log(d50), sigma, 20000))
    counts = np.histogram(sizes, np.arange(0.0, 1005.0, 5.0))[0].astype(float)
    mode = estimate_mode(np.arange(200) * 5.0 + 2.5, counts, 5.0)
    assert mode == pytest.approx(d50 * math.exp(-(sigma**2)), abs=5.0)


@pytest.mark.parametrize(
    ("text", "dc", "value"),
    [
        ("2.08e+08", False, 2.08e8),
        ("2.500E+0", False, 2.5),
        ("-0.0", False, 0.0),
        ("2,500E+0", True, 2.5),
        ("0,93", True, 0.93),
        ("0,93", False, 0.93),
        ("NaN", False, None),
        ("Not recorded", False, None),
        ("", False, None),
        ("Auto", False, None),
        ("1.234,5", False, None),
    ],
)
def test_parse_number(text: str, dc: bool, value: float | None) -> None:
    assert parse_number(text, dc) == value


def test_decode_export_encodings_and_line_ends() -> None:
    lines, enc = decode_export(b"Camera Trigger Duration \xb5s:\t0\r\nx\x00y\rlast")
    assert enc == "latin-1"
    assert lines == ["Camera Trigger Duration \u00b5s:\t0", "xy", "last"]
    lines, enc = decode_export("\ufeffnm\u00b2 / ml\n".encode())
    assert enc == "utf-8" and lines[0] == "nm\u00b2 / ml"


def _run(file_dilution: float | None, includes: bool, ccf: float = 1.0) -> NtaRun:
    return NtaRun(
        file="run.csv",
        instrument="NanoSight" if includes else "ZetaView",
        software="x",
        encoding="latin-1",
        centres=np.array([1.0]),
        width=1.0,
        conc=np.array([1.0]),
        replicate_bins=None,
        replicate_labels=["a"],
        replicate_conc=np.array([1.0]),
        replicate_mode_nm=np.array([1.0]),
        replicate_d50_nm=np.array([1.0]),
        conc_total=1.0,
        file_dilution=file_dilution,
        file_dilution_line=42,
        conc_includes_file_dilution=includes,
        correction_factor=ccf,
    )


def test_stock_factor_rules() -> None:
    # NanoSight: a recorded dilution is already applied to the concentrations.
    assert _run(200.0, True).stock_factor(None) == (1.0, 200.0, "file")
    assert _run(200.0, True).stock_factor(200.0) == (1.0, 200.0, "file+sheet")
    assert _run(None, True).stock_factor(500.0) == (500.0, 500.0, "sheet")
    # ZetaView: concentrations are of the diluted sample; the correction
    # factor multiplies as well.
    assert _run(1000.0, False, ccf=1.1).stock_factor(None)[0] == pytest.approx(1100.0)
    with pytest.raises(NtaFormatError) as exc:
        _run(200.0, True).stock_factor(500.0, "runs.tsv line 3")
    assert str(exc.value).startswith("run.csv:42: ")
    assert "200" in exc.value.reason and "runs.tsv line 3 says 500" in exc.value.reason
    with pytest.raises(NtaFormatError, match="not recorded in the file"):
        _run(None, False).stock_factor(None)
