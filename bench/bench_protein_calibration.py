"""Calibration benchmark of the protein endpoint analysis and the integration.

Simulates trials at the protein level (``exomir.simulate.proteins``; no
plates: true concentrations with a log-normal assay error of CV 8% and an
IL-1beta LLOQ that censors a few percent of values), runs the package's
analyses on each and reports:

* 95% CI coverage of the planted arm effects (log scale) by the primary
  ANCOVA (``exomir.proteins.analysis``), per endpoint and pooled over the
  panel (target 92-98%), in the mITT population;
* how often the planted miR-126-3p - protein coupling is recovered with the
  right sign by the Huber slope adjusted for arm
  (``exomir.proteins.integration.associate``; target >= 90%), and how often
  it is significant (BH p < 0.05);
* MOFA+ on one demo-sized trial (80 participants; miRNA view of 200 features,
  7 proteins + 1 ratio, 10 clinical): run time (target < 60 s) and whether two
  fits with the same seed are identical.

The observed miRNA change is the simulated true change plus measurement
noise (SD 0.25 log2 per visit difference), so the association is attenuated as
in real data; only the sign is scored.

The result goes under the key ``protein_analysis`` of the output JSON; other
keys of the same file (the quantification accuracy written by the plate
benchmark) are kept (read-modify-write).

Usage::

    .venv/bin/python bench/bench_protein_calibration.py results/bench/protein_accuracy.json \
        [--trials 40] [--participants 80] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open
from exomir.proteins import integration as integ
from exomir.proteins.analysis import analyse_proteins, protein_values
from exomir.proteins.settings_analysis import protein_analysis_settings
from exomir.simulate.proteins import (
    PANEL,
    measured_concentrations,
    simulate_protein_levels,
)

ARMS = ["placebo", "exosome"]
PARAMS = {"trial": {"arms": ARMS, "timepoints": ["baseline", "week1"]}}
CONFIG = {
    "design": {"arms": ARMS, "timepoints": ["baseline", "week1"]},
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "clinical": {"populations": ["mITT"]},
    "proteins": {
        "panel": {a: {"label": s["label"]} for a, s in PANEL.items()},
        "ratios": {"SFLT1_PLGF": {"numerator": "SFLT1", "denominator": "PLGF"}},
        "analysis": {"censored_sensitivity": False},
    },
}
LLOQ = {"IL1B": 0.3}
MIRNA_NOISE_SD = 0.25


def one_trial(n: int, seed: int, dropout: float = 0.1) -> dict[str, Any]:
    """Simulate and analyse one trial; return per-endpoint coverage and signs."""
    s = protein_analysis_settings(CONFIG)
    roster = pd.DataFrame(
        {
            "participant_id": [f"P{i:03d}" for i in range(n)],
            "arm": [ARMS[i % 2] for i in range(n)],
        }
    )
    rng_drop = np.random.default_rng([seed, 9])
    roster["completed_week1"] = rng_drop.random(n) >= dropout
    sim = simulate_protein_levels(
        roster, None, PARAMS, np.random.default_rng([seed, 1])
    )
    conc = measured_concentrations(
        sim.levels, np.random.default_rng([seed, 2]), lloq=LLOQ
    )
    vals = protein_values(conc, s)
    pops = roster.assign(in_mitt=True, in_pp=True)
    res = analyse_proteins(vals, pops, roster, s).set_index("analyte")
    truth = sim.effects.set_index("analyte")["true_log_effect"].to_dict()
    truth["SFLT1_PLGF"] = truth["SFLT1"] - truth["PLGF"]
    cover = {}
    for code, t in truth.items():
        lo, hi = math.log(res.loc[code, "ci_low"]), math.log(res.loc[code, "ci_high"])
        cover[code] = bool(lo <= t <= hi)
    rng_m = np.random.default_rng([seed, 3])
    m = sim.mirna_change.set_index("participant_id")
    observed = m["delta_log2"] + rng_m.normal(0, MIRNA_NOISE_SD, len(m))
    chg = vals.pivot_table(
        index="participant_id", columns=["visit", "analyte"], values="value"
    )
    pchg = chg["week1"] - chg["baseline"]
    obs = roster.set_index("participant_id").assign(
        treated=lambda d: (d["arm"] == ARMS[1]).astype(float), in_mitt=True, in_pp=True
    )
    feats = pd.DataFrame({"hsa-miR-126-3p": observed})
    assoc = integ.associate(feats, {}, pchg, obs, s)
    rs = assoc[assoc["analysis"] == "robust_slope"].set_index("analyte")
    coupling = {}
    for code, gamma in sim.coupling.set_index("analyte")["coefficient"].items():
        coupling[code] = {
            "right_sign": bool(np.sign(rs.loc[code, "estimate"]) == np.sign(gamma)),
            "significant": bool(rs.loc[code, "p_bh"] < 0.05),
        }
    return {"cover": cover, "coupling": coupling}


def mofa_check(n: int, seed: int) -> dict[str, Any]:
    """Time MOFA+ on a demo-sized trial and check determinism."""
    s = protein_analysis_settings(CONFIG)
    rng = np.random.default_rng([seed, 7])
    pids = pd.Index([f"P{i:03d}" for i in range(n)])
    t = np.arange(n) % 2
    z = rng.normal(size=n) + 0.8 * t
    views = {
        "mirna": pd.DataFrame(
            np.outer(z, rng.normal(0.5, 0.3, 200)) + rng.normal(0, 1, (n, 200)),
            index=pids,
        ).add_prefix("m"),
        "protein": pd.DataFrame(
            np.outer(z, rng.normal(0.5, 0.3, 8)) + rng.normal(0, 1, (n, 8)), index=pids
        ).add_prefix("p"),
        "clinical": pd.DataFrame(rng.normal(0, 1, (n, 10)), index=pids).add_prefix("c"),
    }
    t0 = time.perf_counter()
    a = integ.fit_mofa(views, pids, s.mofa)
    elapsed = time.perf_counter() - t0
    b = integ.fit_mofa(views, pids, s.mofa)
    return {
        "participants": n,
        "features": {k: int(v.shape[1]) for k, v in views.items()},
        "seconds": round(elapsed, 2),
        "under_60_s": elapsed < 60,
        "deterministic": bool(
            a.factors.equals(b.factors) and a.loadings.equals(b.loadings)
        ),
        "active_factors": int(a.factors.shape[1]),
        "abs_corr_factor1_planted": round(
            float(abs(np.corrcoef(a.factors.iloc[:, 0], z)[0, 1])), 3
        )
        if a.factors.shape[1]
        else None,
    }


def summarise(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage per endpoint and pooled; coupling sign recovery per analyte."""
    codes = list(trials[0]["cover"])
    per = {c: float(np.mean([t["cover"][c] for t in trials])) for c in codes}
    pooled = float(np.mean([v for t in trials for v in t["cover"].values()]))
    coupling = {}
    for c in trials[0]["coupling"]:
        coupling[c] = {
            "right_sign": float(
                np.mean([t["coupling"][c]["right_sign"] for t in trials])
            ),
            "significant_bh": float(
                np.mean([t["coupling"][c]["significant"] for t in trials])
            ),
        }
    return {
        "coverage_pooled": round(pooled, 4),
        "coverage_target": [0.92, 0.98],
        "coverage_in_target": 0.92 <= pooled <= 0.98,
        "coverage_per_endpoint": {k: round(v, 4) for k, v in per.items()},
        "coupling": coupling,
        "coupling_right_sign_min": min(v["right_sign"] for v in coupling.values()),
        "coupling_target": 0.9,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--participants", type=int, default=80)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    start = time.perf_counter()
    trials = [
        one_trial(args.participants, args.seed * 1000 + k) for k in range(args.trials)
    ]
    result = {
        "trials": args.trials,
        "participants": args.participants,
        "seed": args.seed,
        "assay_cv": 0.08,
        "lloq": LLOQ,
        "mirna_noise_sd": MIRNA_NOISE_SD,
        **summarise(trials),
        "mofa": mofa_check(args.participants, args.seed),
        "seconds": round(time.perf_counter() - start, 1),
    }
    data: dict[str, Any] = {}
    if args.out.is_file():
        data = json.loads(args.out.read_text(encoding="utf-8"))
    data["protein_analysis"] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out) as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
