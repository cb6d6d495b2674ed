"""Benchmark: accuracy of ELISA quantification on simulated plate sets.

Usage::

    python bench/bench_proteins.py OUT.json [--sets 5] [--participants 80] [--seed 1]

Each set draws true concentrations for ``participants`` x 2 visits x the six
demo analytes (:func:`exomir.simulate.plates.simple_levels`), renders them as
ELISA plates with the simulator's noise, plate-to-plate variation and planted
problems (:func:`exomir.simulate.plates.render_plates`), then reads and
quantifies every plate as the workflow does. Reported per analyte and overall:
the median absolute percentage error of the concentration against truth for
samples inside the quantification range (flag ok or high_cv, passing plates),
with the issue's target (< 10%), plus the flag counts and the run time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from exomir.proteins.quant import quantify
from exomir.proteins.settings import quant_settings
from exomir.proteins.sheets import read_plate_row
from exomir.simulate.plates import PlateSimParams, render_plates, simple_levels

TARGET = 0.10


def one_set(seed: int, participants: int, root: Path) -> pd.DataFrame:
    """Simulate and quantify one plate set; returns samples merged with truth."""
    sp = PlateSimParams()
    ids = [f"P{i:03d}" for i in range(participants)]
    samples = pd.DataFrame(
        {
            "protein_sample_id": [f"PS_{p}_{v}" for p in ids for v in ("BL", "W1")],
            "participant_id": [p for p in ids for _ in range(2)],
        }
    )
    levels = simple_levels(samples, sp.analytes, np.random.default_rng([seed, 1]))
    out = render_plates(levels, sp, np.random.default_rng([seed, 2]), root)
    s = quant_settings({})
    parts = []
    for _, row in out["protein_plates"].iterrows():
        parts.append(quantify(read_plate_row(row, root, s.curve), s).samples)
    res = pd.concat(parts, ignore_index=True)
    return res.merge(
        out["truth_concentrations"], on=["protein_sample_id", "analyte", "plate_id"]
    ).assign(set=seed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--sets", type=int, default=5)
    ap.add_argument("--participants", type=int, default=80)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    frames = []
    with tempfile.TemporaryDirectory(prefix="exomir-bench-proteins-") as tmp:
        for k in range(args.sets):
            frames.append(
                one_set(args.seed + k, args.participants, Path(tmp) / f"set{k}")
            )
    m = pd.concat(frames, ignore_index=True)
    inside = m[m["flag"].isin(["ok", "high_cv"])].copy()
    inside["ape"] = (inside["concentration"] / inside["true_conc"] - 1).abs()
    per_analyte = {
        a: {
            "mape": float(g["ape"].median()),
            "n": len(g),
            "p95_ape": float(g["ape"].quantile(0.95)),
        }
        for a, g in inside.groupby("analyte", sort=True)
    }
    per_set = {int(s): float(g["ape"].median()) for s, g in inside.groupby("set")}
    overall = float(inside["ape"].median())
    result = {
        "benchmark": "protein_accuracy",
        "target_mape": TARGET,
        "mape_overall": overall,
        "meets_target": bool(
            overall < TARGET and all(v["mape"] < TARGET for v in per_analyte.values())
        ),
        "per_analyte": per_analyte,
        "per_set": per_set,
        "flags": {
            str(k): int(v) for k, v in m["flag"].value_counts().sort_index().items()
        },
        "sets": args.sets,
        "participants": args.participants,
        "samples_per_set": 2 * args.participants,
        "plates_per_set": int(m.groupby("set")["plate_id"].nunique().iloc[0]),
        "seconds": round(time.perf_counter() - t0, 1),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Read-modify-write: the analysis calibration keeps its key in the same file.
    merged = json.loads(args.out.read_text()) if args.out.is_file() else {}
    merged = {k: v for k, v in merged.items() if k == "protein_analysis"}
    merged.update(result)
    args.out.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(
        json.dumps({k: result[k] for k in ("mape_overall", "meets_target", "seconds")})
    )
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
