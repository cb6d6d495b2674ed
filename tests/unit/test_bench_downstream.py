"""Measurement helpers of bench/bench_downstream.py (issue 22)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_downstream", ROOT / "bench" / "bench_downstream.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sizes(cpu: dict[int, float], rss: dict[int, float]) -> dict:
    return {
        str(n): {
            "steps": {"de": {"wall_s": cpu[n], "cpu_s": cpu[n], "peak_rss_mb": rss[n]}}
        }
        for n in cpu
    }


def test_scaling_quadratic_step_is_not_linear(bench) -> None:
    # CPU 1 -> 4 -> 16 s for 100 -> 200 -> 400 libraries: exponent 2, ratio 16 > 4.
    out = bench.scaling(
        _sizes({100: 1.0, 200: 4.0, 400: 16.0}, {100: 100, 200: 150, 400: 200})
    )
    row = out["steps"]["de"]
    assert out["library_ratio"] == 4.0
    assert row["cpu_ratio"] == 16.0
    assert row["cpu_exponent"] == pytest.approx(2.0, abs=0.01)
    assert row["rss_ratio"] == 2.0
    assert row["rss_exponent"] == pytest.approx(0.5, abs=0.01)
    assert row["linear"] is False
    assert row["under_2gb"] is True


def test_scaling_linear_step_passes_and_memory_fails(bench) -> None:
    # 160 -> 1000 libraries (ratio 6.25): CPU x6 and memory x6 are linear.
    ok = bench.scaling(_sizes({160: 2.0, 1000: 12.0}, {160: 300, 1000: 1800}))
    assert ok["library_ratio"] == 6.25
    assert ok["steps"]["de"]["linear"] is True
    assert ok["steps"]["de"]["under_2gb"] is True
    # memory x7 is faster than linear, and 2100 MB breaks the 2 GB target
    bad = bench.scaling(_sizes({160: 2.0, 1000: 12.0}, {160: 300, 1000: 2100}))
    assert bad["steps"]["de"]["rss_ratio"] == 7.0
    assert bad["steps"]["de"]["linear"] is False
    assert bad["steps"]["de"]["under_2gb"] is False


def test_measure_reads_child_peak_memory_and_times_out(bench, tmp_path: Path) -> None:
    grow = "b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"
    m = bench.measure([sys.executable, "-c", grow], tmp_path / "grow.log")
    assert m["peak_rss_mb"] >= 300
    assert "timed_out" not in m
    slow = bench.measure(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        tmp_path / "slow.log",
        timeout=0.5,
    )
    assert slow["timed_out"] is True
    assert slow["wall_s"] < 10
