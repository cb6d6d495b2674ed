"""Calibration of the whole-protocol analyses over simulated long trials.

Simulates ``--trials`` trials of the protocol (``exomir simulate --preset demo``
parameters: visits to 24 months, three sites with site effects, dropout growing
with time, long-term events; ``--participants`` each, 80 by default) without
reads, and analyses each one with the workflow's own functions:

* the repeated-measures model of the clinical endpoints
  (:func:`exomir.clinical.longitudinal.clinical_mmrm`, mITT, the endpoints of
  ``--endpoints``): does the 95% CI of the arm difference at each visit cover
  the planted difference (``truth/longitudinal_effects.tsv``)?
* the Cox model of every time-to-event endpoint
  (:func:`exomir.survival.analysis.cox_arm_effect`, stratified by the
  randomisation strata): does the 95% CI cover the planted hazard ratio?

and then the same number of trials under the null (every arm effect and log
hazard ratio zero): the share of tests with p < 0.05 is the type I error.

Targets (issue 20): coverage of the per-visit effects and of the Cox HR within
92-98%; type I error at most 6%.

    python bench/bench_longitudinal_calibration.py OUT.json [--trials 40]
        [--participants 80] [--seed 1] [--cores 2]

The figures go to OUT.json (``make bench-longitudinal`` writes
``results/bench/longitudinal_calibration.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Continuous endpoints analysed by default: blood pressure (planted effects
#: that decay over the visits), haemoglobin, a log-scale endpoint (UPCR) and one
#: without an effect (MCV).
DEFAULT_ENDPOINTS = ("SYSBP", "DIABP", "HGB", "UPCR", "MCV")
COVERAGE_RANGE = (0.92, 0.98)
MAX_TYPE1 = 0.06


def _scenario(participants: int, null: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolved simulation parameters and the validated workflow config."""
    from exomir.config import validate_config
    from exomir.simulate.params import resolve_params
    from exomir.simulate.scenario import build_config, repo_config_template

    params = resolve_params(preset="demo", participants=participants, null=null)
    cfg = build_config(params, repo_config_template())
    if cfg is None:
        raise SystemExit("config/config.yaml template not found")
    # Pathways are not analysed here; the template's reference paths resolve
    # against the repository.
    cfg.pop("pathways", None)
    return params, validate_config(cfg)


def _mmrm_rows(
    out: dict[str, pd.DataFrame], cfg: dict[str, Any], endpoints: tuple[str, ...]
) -> pd.DataFrame:
    """MMRM rows (mITT) of the chosen endpoints, with the planted differences."""
    from exomir.clinical.dataset import convert_units, populations
    from exomir.clinical.longitudinal import clinical_mmrm
    from exomir.clinical.settings import clinical_settings
    from exomir.stats.mmrm_table import longitudinal_settings
    from exomir.units import default_conversions

    repo = Path(__file__).resolve().parents[1]
    cs = clinical_settings(cfg, base=repo)
    cs = dataclasses.replace(
        cs,
        params={
            k: dataclasses.replace(v, endpoint=v.endpoint and k in endpoints)
            for k, v in cs.params.items()
        },
        populations=("mITT",),
    )
    clin = convert_units(
        out["clinical_measurements"], cs, default_conversions(cfg, repo)
    )
    pops = populations(out["participants"], None, clin, cs)
    res = clinical_mmrm(clin, pops, out["participants"], cs, longitudinal_settings(cfg))
    truth = out["longitudinal_effects"][["endpoint", "visit", "true_difference"]]
    res = res[res["visit"] != "overall"].merge(truth, on=["endpoint", "visit"])
    return res


def _cox_rows(out: dict[str, pd.DataFrame], cfg: dict[str, Any]) -> pd.DataFrame:
    """Cox HR per time-to-event endpoint, with the planted hazard ratio."""
    from exomir.survival.analysis import cox_arm_effect
    from exomir.survival.data import survival_settings, time_to_event_data

    s = survival_settings(cfg)
    data = time_to_event_data(
        out["participants"], out["events"], s, out["clinical_measurements"]
    )
    truth = out["hazard_ratios"].set_index("endpoint")["hazard_ratio"]
    rows = []
    for code, _ in s.endpoints:
        d = data[data["endpoint"] == code].copy()
        d["event"] = (d["status"] == 1).astype(int)
        r = cox_arm_effect(
            d,
            duration="time",
            event="event",
            arm="arm",
            treated=s.arms[-1],
            strata=s.strata,
        )
        rows.append(
            {
                "endpoint": code,
                "hazard_ratio": r.hazard_ratio,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "p_value": r.p_value,
                "events": r.events,
                "true_hr": float(truth.get(code, math.nan)),
            }
        )
    return pd.DataFrame(rows)


def one_trial(task: tuple[int, int, bool, tuple[str, ...]]) -> dict[str, Any]:
    """Simulate and analyse one trial; the rows of both analyses.

    An empty ``endpoints`` tuple skips the MMRM (the Cox-only trials that make
    the hazard-ratio coverage precise: a Cox fit takes < 1 s, an MMRM trial
    10-20 s).
    """
    seed, participants, null, endpoints = task
    from exomir.simulate.longitudinal import simulate_outcomes

    params, cfg = _scenario(participants, null)
    t0 = time.perf_counter()
    out = simulate_outcomes(params, seed)
    cfg = {**cfg, "trial": {**cfg["trial"], "data_cut": out["data_cut"].iat[0, 0]}}
    t_sim = time.perf_counter() - t0
    mm = (
        _mmrm_rows(out, cfg, endpoints).assign(seed=seed)
        if endpoints
        else pd.DataFrame()
    )
    t_mm = time.perf_counter() - t0 - t_sim
    cox = _cox_rows(out, cfg).assign(seed=seed)
    return {
        "mmrm": mm,
        "cox": cox,
        "seconds": {
            "simulate": t_sim,
            "mmrm": t_mm,
            "cox": time.perf_counter() - t0 - t_sim - t_mm,
        },
    }


def _rate(x: pd.Series) -> float:
    return round(float(x.mean()), 4) if len(x) else math.nan


def summarise(results: list[dict[str, Any]], null: bool) -> dict[str, Any]:
    """Coverage (effects) or type I error (null) over the trials."""
    mm = pd.concat([r["mmrm"] for r in results if len(r["mmrm"])], ignore_index=True)
    cox = pd.concat([r["cox"] for r in results], ignore_index=True)
    mm = mm[mm["estimate"].notna()]
    mm_cover = (mm["ci_low"] <= mm["true_difference"]) & (
        mm["true_difference"] <= mm["ci_high"]
    )
    ok = cox[cox["hazard_ratio"].notna() & np.isfinite(cox["ci_high"])]
    cox_cover = (ok["ci_low"] <= ok["true_hr"]) & (ok["true_hr"] <= ok["ci_high"])
    n_mm = int(mm["seed"].nunique())
    out: dict[str, Any] = {
        "trials_mmrm": n_mm,
        "trials_cox": len(results),
        "mmrm_estimates": len(mm),
        "mmrm_covariance_used": mm.drop_duplicates(["seed", "endpoint"])["covariance"]
        .value_counts()
        .to_dict(),
        "cox_fits": len(ok),
        "cox_not_estimable": int(len(cox) - len(ok)),
        "seconds_per_trial": {
            k: round(float(np.mean([r["seconds"][k] for r in results])), 2)
            for k in ("simulate", "cox")
        }
        | {
            "mmrm": round(
                float(np.mean([r["seconds"]["mmrm"] for r in results[:n_mm]])), 2
            )
        },
        "cox_events_median": {
            str(k): float(v["events"].median()) for k, v in cox.groupby("endpoint")
        },
    }
    if null:
        out["mmrm_type1_per_visit"] = _rate(mm["p_value"] < 0.05)
        out["mmrm_type1_by_endpoint"] = {
            str(k): _rate(v["p_value"] < 0.05) for k, v in mm.groupby("endpoint")
        }
        out["cox_type1"] = _rate(ok["p_value"] < 0.05)
        out["cox_type1_by_endpoint"] = {
            str(k): _rate(v["p_value"] < 0.05) for k, v in ok.groupby("endpoint")
        }
        out["meets_target"] = bool(
            out["mmrm_type1_per_visit"] <= MAX_TYPE1 and out["cox_type1"] <= MAX_TYPE1
        )
    else:
        out["mmrm_coverage"] = _rate(mm_cover)
        out["mmrm_coverage_by_visit"] = {
            str(k): _rate(mm_cover[v.index]) for k, v in mm.groupby("visit", sort=False)
        }
        out["mmrm_coverage_by_endpoint"] = {
            str(k): _rate(mm_cover[v.index]) for k, v in mm.groupby("endpoint")
        }
        out["cox_coverage"] = _rate(cox_cover)
        out["cox_coverage_by_endpoint"] = {
            str(k): _rate(cox_cover[v.index]) for k, v in ok.groupby("endpoint")
        }
        out["cox_mean_log_hr_bias"] = {
            str(k): round(
                float(np.mean(np.log(v["hazard_ratio"]) - np.log(v["true_hr"]))), 4
            )
            for k, v in ok.groupby("endpoint")
        }
        lo, hi = COVERAGE_RANGE
        out["meets_target"] = bool(
            lo <= out["mmrm_coverage"] <= hi and lo <= out["cox_coverage"] <= hi
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the JSON figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument(
        "--cox-trials",
        type=int,
        default=400,
        help="trials for the Cox coverage (the first --trials also get the MMRM)",
    )
    ap.add_argument("--participants", type=int, default=80)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--endpoints", default=",".join(DEFAULT_ENDPOINTS))
    args = ap.parse_args(argv)
    endpoints = tuple(e for e in args.endpoints.split(",") if e)
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "what": "95% CI coverage of planted per-visit arm effects (MMRM) and hazard "
        "ratios (stratified Cox), and type I error under the null, over simulated "
        "long trials (exomir simulate --preset demo parameters, no reads)",
        "targets": {"coverage": list(COVERAGE_RANGE), "max_type1": MAX_TYPE1},
        "participants": args.participants,
        "endpoints": list(endpoints),
        "seed": args.seed,
        "cox_trials": max(args.trials, args.cox_trials),
    }
    with ProcessPoolExecutor(max_workers=max(1, args.cores)) as pool:
        for label, null in (("effects", False), ("null", True)):
            tasks = [
                (
                    args.seed * 100_000 + i + (50_000 if null else 0),
                    args.participants,
                    null,
                    endpoints,
                )
                for i in range(args.trials)
            ] + [
                (
                    args.seed * 100_000 + i + (50_000 if null else 0),
                    args.participants,
                    null,
                    (),
                )
                for i in range(args.trials, max(args.trials, args.cox_trials))
            ]
            result[label] = summarise(list(pool.map(one_trial, tasks)), null)
            print(label, json.dumps(result[label]), flush=True)
    result["meets_target"] = bool(
        result["effects"]["meets_target"] and result["null"]["meets_target"]
    )
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["cores"] = args.cores
    result["python"] = sys.version.split()[0]
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs"
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
