"""Calibration benchmark of the time-to-event analysis (exomir.survival).

Simulates trials with a planted hazard ratio and runs the stage's analysis
(:func:`exomir.survival.stage.run_time_to_event`, from dates to tables) on
each, then reports the bias of the log hazard ratio, the coverage of the 95%
CI of the stratified Cox model, and the rejection rate at 5% of the Cox Wald
test and the stratified log-rank test, once with the planted effect and once
under the null (HR 1: type I error).

Each trial: ``--participants`` randomised 1:1 over 300 days, two strata with
baseline hazards 1/900 and 1/450 per day (exponential event times), deaths
at 1/6000 per day competing, loss to follow-up uniform over 200-1200 days
(``last_contact_date``), data cut 2028-06-30, horizon 730 days. Event dates
are whole days, so times are tied as in real data.

Usage::

    .venv/bin/python bench/bench_survival_calibration.py results/bench/survival_calibration.json \\
        [--trials 200] [--participants 400] [--hr 0.5] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from exomir.survival.data import SurvivalSettings
from exomir.survival.stage import run_time_to_event

ARMS = ("placebo", "exosome")
SETTINGS = SurvivalSettings(
    endpoints=(("MACE", "Major adverse cardiovascular event"),),
    data_cut="2028-06-30",
    arms=ARMS,
    strata=("stratum",),
)


def simulate(
    n: int, hr: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One trial: participants (with last contact) and events sheets."""
    arm = np.where(np.arange(n) % 2 == 0, ARMS[0], ARMS[1])
    stratum = rng.choice(["S1", "S2"], n)
    base = np.where(stratum == "S1", 1 / 900, 1 / 450)
    t_event = rng.exponential(1 / (base * np.where(arm == ARMS[1], hr, 1.0)))
    t_death = rng.exponential(6000, n)
    start = date(2025, 1, 1)
    rand = [start + timedelta(days=int(x)) for x in rng.integers(0, 300, n)]
    loss = rng.uniform(200, 1200, n)
    parts, events = [], []
    for i in range(n):
        pid = f"P{i:04d}"
        contact = rand[i] + timedelta(days=int(loss[i]))
        parts.append(
            (pid, arm[i], stratum[i], rand[i].isoformat(), contact.isoformat())
        )
        for code, t in (("MACE", t_event[i]), ("death", t_death[i])):
            if t < loss[i]:
                events.append(
                    (pid, code, (rand[i] + timedelta(days=int(t))).isoformat())
                )
    cols = [
        "participant_id",
        "arm",
        "stratum",
        "randomization_date",
        "last_contact_date",
    ]
    return (
        pd.DataFrame(parts, columns=cols),
        pd.DataFrame(events, columns=["participant_id", "endpoint", "event_date"]),
    )


def run(trials: int, n: int, hr: float, seed: int) -> dict[str, object]:
    """Analyse ``trials`` simulated trials with planted ``hr``; summarise."""
    logs, covered, cox_rej, lr_rej, events = [], 0, 0, 0, []
    for k in range(trials):
        rng = np.random.default_rng([seed, k, round(hr * 1000)])
        parts, ev = simulate(n, hr, rng)
        cox = run_time_to_event(parts, ev, SETTINGS)["cox"].iloc[0]
        logs.append(math.log(cox["hazard_ratio"]))
        covered += int(cox["ci_low"] <= hr <= cox["ci_high"])
        cox_rej += int(cox["p_value"] < 0.05)
        lr_rej += int(cox["logrank_p"] < 0.05)
        events.append(int(cox["events"]))
    return {
        "planted_hazard_ratio": hr,
        "trials": trials,
        "mean_log_hr": float(np.mean(logs)),
        "bias_log_hr": float(np.mean(logs) - math.log(hr)),
        "sd_log_hr": float(np.std(logs, ddof=1)),
        "ci95_coverage": covered / trials,
        "cox_rejection_rate": cox_rej / trials,
        "logrank_rejection_rate": lr_rej / trials,
        "mean_events": float(np.mean(events)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--participants", type=int, default=400)
    ap.add_argument("--hr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = {
        "benchmark": "survival_calibration",
        "participants": args.participants,
        "effect": run(args.trials, args.participants, args.hr, args.seed),
        "null": run(args.trials, args.participants, 1.0, args.seed),
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
