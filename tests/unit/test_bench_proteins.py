"""The protein calibration benchmark merges its key into the shared JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_keeps_other_keys(tmp_path: Path) -> None:
    out = tmp_path / "protein_accuracy.json"
    out.write_text(json.dumps({"concentration_accuracy": {"mape": 0.04}}))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_protein_calibration.py"),
            str(out),
            "--trials",
            "2",
            "--participants",
            "40",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    data = json.loads(out.read_text())
    assert data["concentration_accuracy"] == {"mape": 0.04}
    res = data["protein_analysis"]
    assert res["trials"] == 2 and 0 <= res["coverage_pooled"] <= 1
    assert res["mofa"]["deterministic"] is True
    assert set(res["coupling"]) == {"VEGF", "PLGF"}
