"""Calibration benchmark of the DE stage and the primary miR-126-3p analysis.

Simulates trials with known truth, runs the package's analyses on each, and
reports:

* CI coverage of the planted miR-126-3p interaction effect (+0.58 log2) by the
  primary ANCOVA and by the DESeq2 ``treatment_effect`` Wald interval;
* the observed false discovery proportion of ``treatment_effect`` at FDR 5%
  (mean over trials, and per trial);
* the per-test type-I error of the miRNAs without a planted effect (share of
  their p-values below 0.05, 0.01 and 0.001, pooled over trials);
* the empirical power for every planted effect next to its analytic power.

The DESeq2 fits use ``de.wald_reference`` (default ``t``, the configuration
default); ``--compare-reference`` repeats the same trials with the other
reference so that the two can be compared on identical data.

Usage::

    .venv/bin/python bench/bench_de_calibration.py --out results/bench/de_calibration.json \
        [--trials 24] [--seed 1] [--participants 80] [--wald-reference t|normal] \
        [--compare-reference] [--from-simulator]

The generator (``simulate_trial``) follows analysis_spec.md §6: negative-binomial
counts with the DESeq2 dispersion trend ``alpha(mu) = a0 + a1/mu``, a participant
random effect shared by a participant's two libraries, library-batch effects
(both libraries of a participant in one batch), haemolysis on red-cell miRNAs
in 10% of libraries, C19MC clearance after delivery in both arms, a placebo
drift of miR-126-3p, and planted arm x time interaction effects (|log2FC|
0.4-1.0 on 4% of miRNAs, +0.58 on miR-126-3p). 10% of participants miss the
week-1 library and 7% of libraries fail QC. The set of miRNAs, their means and
the planted effects are fixed across trials (``make_truth``); only the
biological and sampling noise is redrawn, so per-effect power is meaningful.

Analytic power
--------------
*Primary ANCOVA*: for log-scale levels with participant variance ``s_u^2`` and
NB variance ``alpha`` (natural log), the two visits correlate with
``rho = s_u^2 / (s_u^2 + alpha)``, and the ANCOVA residual SD (log2) is
``sqrt((s_u^2 + alpha) (1 - rho^2)) / ln 2``. Power is that of a two-sided
t-test (noncentral t) for the planted effect with the observed mean numbers of
complete cases per arm.

*DESeq2 interaction*: the interaction is a difference of mean within-participant
log changes, so ``SE(log2) = sqrt(2 (alpha(mu) + 1/mu) (1/n1 + 1/n0)) / ln 2``
with ``mu`` the miRNA's expected count at the median depth. Power is
``Phi(|b|/SE - z) + Phi(-|b|/SE - z)`` at the Benjamini-Hochberg per-test level
``alpha * R / m`` (R: mean number of rejections, m: miRNAs tested), the usual
approximation of BH power.

With ``--from-simulator`` the trials come from ``exomir.simulate`` instead
(preset ``trial``, seed = ``--seed`` + trial index): its tables and its
realised miRNA proportions, with counts drawn as a multinomial of each
library's expected miRNA molecules (the read and FASTQ layer is skipped, which
makes a trial take seconds). Libraries with planted low yield or plasma A414
above 0.3 fail QC, as in the workflow. The planted effects are those of the
simulator's ``truth/effects.tsv`` (``interaction``); the planted set differs
between trials, so per-effect power is summarised over all planted effects and
by effect-size bin, and analytic power is not computed in this mode.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from exomir import de
from exomir.primary import run_primary

PRIMARY = "hsa-miR-126-3p"
RBC = [
    "hsa-miR-486-5p",
    "hsa-miR-451a",
    "hsa-miR-92a-3p",
    "hsa-miR-16-5p",
    "hsa-miR-144-3p",
]
NAMED = {
    # name: share of miRNA reads (analysis_spec.md §6, mid-range)
    "hsa-miR-486-5p": 0.30,
    "hsa-miR-451a": 0.12,
    "hsa-miR-92a-3p": 0.06,
    "hsa-miR-16-5p": 0.045,
    "hsa-miR-144-3p": 0.002,
    "hsa-let-7a-5p": 0.018,
    "hsa-let-7b-5p": 0.015,
    "hsa-let-7f-5p": 0.012,
    "hsa-let-7g-5p": 0.009,
    "hsa-let-7i-5p": 0.006,
    "hsa-miR-22-3p": 0.03,
    "hsa-miR-423-5p": 0.02,
    "hsa-miR-25-3p": 0.012,
    "hsa-miR-191-5p": 0.012,
    "hsa-miR-181a-5p": 0.012,
    "hsa-miR-10a-5p": 0.01,
    "hsa-miR-10b-5p": 0.01,
    "hsa-miR-223-3p": 0.012,
    "hsa-miR-126-3p": 0.0025,
    "hsa-miR-23a-3p": 0.0015,
    "hsa-miR-197-3p": 0.001,
    "hsa-miR-24-3p": 0.004,
    "hsa-miR-21-5p": 0.005,
    "hsa-miR-517a-3p": 0.0008,
    "hsa-miR-518b": 0.0004,
    "hsa-miR-520c-3p": 0.0003,
    "hsa-miR-526b-5p": 0.0002,
}
C19MC = ["hsa-miR-517a-3p", "hsa-miR-518b", "hsa-miR-520c-3p", "hsa-miR-526b-5p"]


@dataclass
class Truth:
    """Fixed part of the simulated trials.

    Attributes
    ----------
    mirnas
        miRNA names.
    base
        Expected count per miRNA at 1 M miRNA reads.
    interaction
        Planted arm x time log2 effects.
    time
        log2 time effect in both arms (C19MC clearance, miR-126 drift).
    a0, a1
        Dispersion trend.
    sd_participant, sd_batch
        Participant (natural log) and batch (log2) effect SDs.
    """

    mirnas: list[str]
    base: np.ndarray
    interaction: np.ndarray
    time: np.ndarray
    a0: float = 0.17
    a1: float = 2.0
    sd_participant: float = 0.35
    sd_batch: float = 0.15


def make_truth(n_tail: int = 320, seed: int = 7, effect_frac: float = 0.04) -> Truth:
    """Choose miRNAs, mean levels and planted effects (fixed across trials).

    Parameters
    ----------
    n_tail
        Number of tail miRNAs besides the named ones.
    seed
        Seed of this fixed part.
    effect_frac
        Share of the miRNAs (other than the named ones) with an interaction.

    Returns
    -------
    Truth
        The fixed truth.
    """
    rng = np.random.default_rng(seed)
    names = list(NAMED)
    tail = [f"hsa-miR-t{i:03d}-{'5p' if i % 2 else '3p'}" for i in range(n_tail)]
    shares = np.array(list(NAMED.values()))
    tail_w = np.exp(rng.normal(0, 1.9, n_tail))
    tail_w = tail_w / tail_w.sum() * (1 - shares.sum())
    base = np.concatenate([shares, tail_w]) * 1e6
    mirnas = names + tail
    inter = np.zeros(len(mirnas))
    time_ = np.zeros(len(mirnas))
    idx = {m: i for i, m in enumerate(mirnas)}
    inter[idx[PRIMARY]] = 0.58
    time_[idx[PRIMARY]] = 0.15
    for m in C19MC:
        time_[idx[m]] = -3.0
    # Plant effects on tail miRNAs expressed well enough to pass the filter.
    eligible = [i for i in range(len(names), len(mirnas)) if base[i] >= 20]
    k = max(1, round(effect_frac * len(eligible)))
    chosen = rng.choice(eligible, size=k, replace=False)
    inter[chosen] = rng.uniform(0.4, 1.0, k) * rng.choice([-1.0, 1.0], k)
    return Truth(mirnas=mirnas, base=base, interaction=inter, time=time_)


def simulate_trial(
    truth: Truth,
    rng: np.random.Generator,
    n_participants: int = 80,
    depth: float = 2e6,
    dropout: float = 0.10,
    qc_fail: float = 0.07,
    per_batch: int = 8,
    hemolysis: float = 0.10,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Draw one trial: counts, sample sheet, participants and library QC.

    Parameters
    ----------
    truth
        Fixed truth from :func:`make_truth`.
    rng
        Random generator.
    n_participants
        Participants (1:1, placebo first).
    depth
        Mean miRNA reads per library (log-normal, CV 40%).
    dropout
        Share of participants without a week-1 library.
    qc_fail
        Share of libraries failing QC.
    per_batch
        Participants per library batch (arms alternate, so batches balance).
    hemolysis
        Share of haemolysed libraries (factor U(2, 8) on red-cell miRNAs).

    Returns
    -------
    tuple
        Counts (miRNA x sample), samples, participants, library QC.
    """
    g = len(truth.mirnas)
    pids = [f"P{i + 1:03d}" for i in range(n_participants)]
    arms = ["placebo" if i % 2 == 0 else "exosome" for i in range(n_participants)]
    order = rng.permutation(n_participants)
    batch = {pids[j]: f"B{k // per_batch + 1}" for k, j in enumerate(order)}
    strata = rng.choice(["severe", "non_severe"], n_participants, p=[0.6, 0.4])
    bnames = sorted(set(batch.values()))
    beff = {b: rng.normal(0, truth.sd_batch, g) * math.log(2) for b in bnames}
    rbc = np.isin(truth.mirnas, RBC)
    rows, cols = [], []
    sigma = math.sqrt(math.log(1 + 0.4**2))
    for i, pid in enumerate(pids):
        u = rng.normal(0, truth.sd_participant, g)
        tps = ["baseline"] + ([] if rng.random() < dropout else ["week1"])
        for tp in tps:
            wk1 = tp == "week1"
            eff = truth.time * wk1 + truth.interaction * (wk1 and arms[i] == "exosome")
            lib = depth * math.exp(rng.normal(-(sigma**2) / 2, sigma)) / 1e6
            mu = truth.base * lib * np.exp(u + beff[batch[pid]] + eff * math.log(2))
            if rng.random() < hemolysis:
                mu = np.where(rbc, mu * rng.uniform(2, 8), mu)
            disp = truth.a0 + truth.a1 / mu
            lam = rng.gamma(1 / disp, mu * disp)
            sid = f"{pid}_{'BL' if tp == 'baseline' else 'W1'}"
            cols.append(rng.poisson(lam))
            rows.append(
                {
                    "sample_id": sid,
                    "participant_id": pid,
                    "timepoint": tp,
                    "library_batch": batch[pid],
                }
            )
    counts = pd.DataFrame(
        np.column_stack(cols),
        index=truth.mirnas,
        columns=[r["sample_id"] for r in rows],
    )
    samples = pd.DataFrame(rows)
    parts = pd.DataFrame({"participant_id": pids, "arm": arms, "stratum": strata})
    fail = rng.random(len(samples)) < qc_fail
    qc = pd.DataFrame(
        {
            "sample_id": samples["sample_id"],
            "pass": ~fail,
            "reasons": np.where(fail, "min_mirna_reads", ""),
        }
    ).set_index("sample_id", drop=False)
    return counts, samples, parts, qc


def simulator_trial(
    seed: int, participants: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """One trial from ``exomir.simulate`` without the read layer.

    Returns counts, samples, participants, library QC and extras
    (``effects``: miRNA -> planted interaction, ``clinical``, ``disposition``).
    """
    from exomir.simulate.params import resolve_params
    from exomir.simulate.study import simulate_trial as sim_trial

    params = resolve_params(preset="trial", participants=participants)
    sim = sim_trial(params, seed)
    design = sim.expression.design.set_index("sample_id")
    probs = sim.probs
    rng = np.random.default_rng(seed + 10_000)
    cols = {}
    for sid in probs.columns:
        p = probs[sid].to_numpy(dtype=float)
        n = round(float(design.at[sid, "expected_molecules"]))
        cols[sid] = rng.multinomial(n, p / p.sum())
    counts = pd.DataFrame(cols, index=probs.index)
    counts = counts.loc[counts.sum(axis=1) > 0]
    info = sim.library_info.set_index("sample_id")
    a414 = sim.samples.set_index("sample_id").get("hemolysis_a414")
    reasons = []
    for sid in counts.columns:
        r = []
        if bool(info.at[sid, "low_yield"]):
            r.append("min_raw_reads")
        if a414 is not None and pd.notna(a414.get(sid)) and float(a414[sid]) > 0.3:
            r.append("max_a414")
        reasons.append(",".join(r))
    qc = pd.DataFrame(
        {
            "sample_id": counts.columns,
            "pass": [not r for r in reasons],
            "reasons": reasons,
        }
    ).set_index("sample_id", drop=False)
    eff = sim.expression.effects
    inter = eff[eff["contrast"] == "interaction"].set_index("mirna")["log2_effect"]
    extras = {
        "effects": inter.astype(float).to_dict(),
        "clinical": sim.clinical,
        "disposition": sim.disposition,
    }
    return counts, sim.samples, sim.participants, qc, extras


def run_simulator(args: argparse.Namespace) -> dict:
    """Benchmark on trials from ``exomir.simulate`` (see the module docstring)."""
    cfg = config(wald_reference=args.wald_reference)
    alpha = 0.05
    rows = []
    planted_rows = []
    t0 = time.time()
    for k in range(args.trials):
        counts, samples, parts, qc, extra = simulator_trial(
            args.seed + k, args.participants
        )
        truth = extra["effects"]
        prep = de.prepare(counts, samples, parts, de.de_settings(cfg), qc)
        res = de.fit_contrast(
            prep.counts,
            prep.meta,
            prep.settings.contrasts["treatment_effect"],
            prep.settings,
            prep.control,
            prep.kept,
        )
        t = res.table.set_index("mirna")
        tested = t.index[t["pvalue"].notna()]
        sig = set(t.index[t["padj"] < alpha])
        true_set = {m for m, v in truth.items() if v != 0}
        fd = len(sig - true_set)
        null_p = t.loc[~t.index.isin(true_set), "pvalue"].dropna().to_numpy()
        for m in sorted(true_set & set(tested)):
            planted_rows.append({"log2_effect": truth[m], "detected": m in sig})
        b = truth.get(PRIMARY, 0.0)
        row = t.loc[PRIMARY]
        half = 1.959964 * row["lfcSE"]
        adata = de.normalise(
            prep.counts, prep.meta, prep.filt, prep.control, prep.settings
        )
        prim, _ = run_primary(
            adata, parts, cfg, extra["clinical"], extra["disposition"]
        )
        pa = prim.set_index("analysis").loc["primary_ancova"]
        rows.append(
            {
                "trial": k + 1,
                "seed": args.seed + k,
                "n_tested": len(tested),
                "planted_tested": len(true_set & set(tested)),
                "discoveries": len(sig),
                "false_discoveries": fd,
                "fdp": fd / max(len(sig), 1),
                "null_tested": len(null_p),
                "null_p_below_0.05": float((null_p < 0.05).mean()),
                "null_p_below_0.01": float((null_p < 0.01).mean()),
                "null_p_below_0.001": float((null_p < 0.001).mean()),
                "mir126_truth": b,
                "deseq2_mir126_covered": bool(
                    row["log2FoldChange"] - half <= b <= row["log2FoldChange"] + half
                ),
                "ancova_estimate": float(pa["estimate_log2"]),
                "ancova_covered": bool(pa["ci_low_log2"] <= b <= pa["ci_high_log2"]),
                "ancova_p": float(pa["pvalue"]),
                "ancova_n": [int(pa["n_treated"]), int(pa["n_reference"])],
            }
        )
        logging.info(
            "simulator trial %d/%d: %d discoveries (%d false), ANCOVA %.3f (%.3f, %.3f)",
            k + 1,
            args.trials,
            len(sig),
            fd,
            pa["estimate_log2"],
            pa["ci_low_log2"],
            pa["ci_high_log2"],
        )
    pt = pd.DataFrame(rows)
    pl = pd.DataFrame(planted_rows)
    pl["bin"] = pd.cut(pl["log2_effect"].abs(), [0, 0.5, 0.75, 1.0, 10.0])
    by_bin = [
        {
            "abs_log2_effect": str(k),
            "n": len(g),
            "empirical_power": round(float(g["detected"].mean()), 4),
        }
        for k, g in pl.groupby("bin", observed=True)
    ]
    return {
        "generator": "exomir.simulate (preset trial; multinomial counts, no reads)",
        "trials": args.trials,
        "seeds": [args.seed, args.seed + args.trials - 1],
        "participants": args.participants,
        "wald_reference": args.wald_reference,
        "primary_ancova": {
            "ci_coverage": round(float(pt["ancova_covered"].mean()), 4),
            "mean_estimate_log2": round(float(pt["ancova_estimate"].mean()), 4),
            "mean_truth_log2": round(float(pt["mir126_truth"].mean()), 4),
            "empirical_power": round(float((pt["ancova_p"] < alpha).mean()), 4),
        },
        "deseq2_mir126": {
            "wald_ci_coverage": round(float(pt["deseq2_mir126_covered"].mean()), 4)
        },
        "treatment_effect": {
            "mean_fdp": round(float(pt["fdp"].mean()), 4),
            "mean_fdp_mc_se": round(
                float(pt["fdp"].std(ddof=1) / math.sqrt(len(pt))), 4
            ),
            "null_type1": null_type1(pt),
            "mean_discoveries": round(float(pt["discoveries"].mean()), 2),
            "mean_planted_tested": round(float(pt["planted_tested"].mean()), 2),
            "empirical_power_all_planted": round(float(pl["detected"].mean()), 4),
            "empirical_power_by_effect": by_bin,
        },
        "per_trial": rows,
        "runtime_s": round(time.time() - t0, 1),
    }


def null_type1(pt: pd.DataFrame) -> dict:
    """Per-test type-I error of the miRNAs without a planted effect.

    Pooled over trials (weighted by the null miRNAs tested in each): the
    share of null p-values below 0.05, 0.01 and 0.001, which should be those
    levels for a calibrated test.
    """
    w = pt["null_tested"].to_numpy(dtype=float)
    out = {"null_mirnas_tested_per_trial": round(float(w.mean()), 1)}
    for lvl in ("0.05", "0.01", "0.001"):
        v = pt[f"null_p_below_{lvl}"].to_numpy(dtype=float)
        out[f"p_below_{lvl}"] = round(float((v * w).sum() / w.sum()), 5)
    return out


def config(strata: bool = True, wald_reference: str = "t") -> dict:
    """Minimal configuration for the analyses (treatment_effect only)."""
    return {
        "trial": {"primary_mirna": PRIMARY},
        "design": {
            "arms": ["placebo", "exosome"],
            "timepoints": ["baseline", "week1"],
            "strata": ["stratum"] if strata else [],
        },
        "de": {
            "contrasts": {"treatment_effect": {"kind": "interaction"}},
            "shrinkage": False,
            "wald_reference": wald_reference,
        },
    }


def analytic_primary_power(
    truth: Truth, n1: float, n0: float, alpha: float = 0.05
) -> float:
    """Power of the primary ANCOVA (see the module docstring)."""
    i = truth.mirnas.index(PRIMARY)
    mu = truth.base[i] * 2.0
    a = truth.a0 + truth.a1 / mu + 1 / mu
    su2 = truth.sd_participant**2
    rho = su2 / (su2 + a)
    sd = math.sqrt((su2 + a) * (1 - rho**2)) / math.log(2)
    df = n1 + n0 - 4
    ncp = truth.interaction[i] / (sd * math.sqrt(1 / n1 + 1 / n0))
    t = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(t, df, ncp) + stats.nct.cdf(-t, df, ncp))


def analytic_wald_power(
    truth: Truth, idx: np.ndarray, n1: float, n0: float, level: float, depth: float
) -> np.ndarray:
    """Power of the DESeq2 interaction Wald test at a per-test level."""
    mu = truth.base[idx] * depth / 1e6
    var = 2 * (truth.a0 + truth.a1 / mu + 1 / mu) * (1 / n1 + 1 / n0)
    se = np.sqrt(var) / math.log(2)
    z = stats.norm.ppf(1 - level / 2)
    b = np.abs(truth.interaction[idx]) / se
    return stats.norm.cdf(b - z) + stats.norm.cdf(-b - z)


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark and return the JSON-ready summary."""
    truth = make_truth()
    rng = np.random.default_rng(args.seed)
    cfg = config(wald_reference=args.wald_reference)
    alpha = 0.05
    planted = np.flatnonzero(truth.interaction != 0)
    p_idx = truth.mirnas.index(PRIMARY)
    per_trial = []
    detected = np.zeros(len(planted))
    tested_counts = np.zeros(len(planted))
    t0 = time.time()
    for k in range(args.trials):
        counts, samples, parts, qc = simulate_trial(
            truth, rng, n_participants=args.participants, depth=args.depth
        )
        prep = de.prepare(counts, samples, parts, de.de_settings(cfg), qc)
        res = de.fit_contrast(
            prep.counts,
            prep.meta,
            prep.settings.contrasts["treatment_effect"],
            prep.settings,
            prep.control,
            prep.kept,
        )
        t = res.table.set_index("mirna")
        sig = set(t.index[t["padj"] < alpha])
        true_set = {truth.mirnas[i] for i in planted}
        fd = len(sig - true_set)
        fdp = fd / max(len(sig), 1)
        null_p = t.loc[~t.index.isin(true_set), "pvalue"].dropna().to_numpy()
        for j, i in enumerate(planted):
            m = truth.mirnas[i]
            if m in t.index and not math.isnan(t.at[m, "pvalue"]):
                tested_counts[j] += 1
                detected[j] += m in sig
        row = t.loc[PRIMARY]
        lo = row["log2FoldChange"] - 1.959964 * row["lfcSE"]
        hi = row["log2FoldChange"] + 1.959964 * row["lfcSE"]
        adata = de.normalise(
            prep.counts, prep.meta, prep.filt, prep.control, prep.settings
        )
        prim, _data = run_primary(adata, parts, cfg)
        pa = prim.set_index("analysis").loc["primary_ancova"]
        cl = prim.set_index("analysis").loc["clda_mixed"]
        inc = res.samples[res.samples["included"]]
        n_pairs = inc.groupby("arm")["participant_id"].nunique()
        per_trial.append(
            {
                "trial": k + 1,
                "n_tested": int(t["pvalue"].notna().sum()),
                "n_kept": len(prep.kept),
                "discoveries": len(sig),
                "false_discoveries": fd,
                "fdp": fdp,
                "null_tested": len(null_p),
                "null_p_below_0.05": float((null_p < 0.05).mean()),
                "null_p_below_0.01": float((null_p < 0.01).mean()),
                "null_p_below_0.001": float((null_p < 0.001).mean()),
                "paired_placebo": int(n_pairs.get("placebo", 0)),
                "paired_exosome": int(n_pairs.get("exosome", 0)),
                "deseq2_mir126_log2fc": float(row["log2FoldChange"]),
                "deseq2_mir126_covered": bool(lo <= truth.interaction[p_idx] <= hi),
                "deseq2_mir126_padj": float(row["padj"]),
                "ancova_estimate": float(pa["estimate_log2"]),
                "ancova_ci": [float(pa["ci_low_log2"]), float(pa["ci_high_log2"])],
                "ancova_covered": bool(
                    pa["ci_low_log2"] <= truth.interaction[p_idx] <= pa["ci_high_log2"]
                ),
                "ancova_p": float(pa["pvalue"]),
                "ancova_n": [int(pa["n_treated"]), int(pa["n_reference"])],
                "clda_covered": bool(
                    cl["ci_low_log2"] <= truth.interaction[p_idx] <= cl["ci_high_log2"]
                ),
                "clda_p": float(cl["pvalue"]),
            }
        )
        logging.info(
            "trial %d/%d: %d discoveries, FDP %.3f, ANCOVA %.3f (%.3f, %.3f) p=%.3g",
            k + 1,
            args.trials,
            len(sig),
            fdp,
            pa["estimate_log2"],
            pa["ci_low_log2"],
            pa["ci_high_log2"],
            pa["pvalue"],
        )
    pt = pd.DataFrame(per_trial)
    n1 = float(pt["paired_exosome"].mean())
    n0 = float(pt["paired_placebo"].mean())
    m_tested = float(pt["n_tested"].mean())
    r_mean = float(pt["discoveries"].mean())
    bh_level = alpha * max(r_mean, 1.0) / m_tested
    an_bh = analytic_wald_power(truth, planted, n1, n0, bh_level, args.depth)
    an_raw = analytic_wald_power(truth, planted, n1, n0, alpha, args.depth)
    emp = detected / np.maximum(tested_counts, 1)
    per_effect = [
        {
            "mirna": truth.mirnas[i],
            "log2_effect": round(float(truth.interaction[i]), 4),
            "expected_count": round(float(truth.base[i] * args.depth / 1e6), 1),
            "trials_tested": int(tested_counts[j]),
            "empirical_power": round(float(emp[j]), 4),
            "analytic_power_bh": round(float(an_bh[j]), 4),
            "analytic_power_unadjusted": round(float(an_raw[j]), 4),
        }
        for j, i in enumerate(planted)
    ]
    an1 = np.mean([a[0] for a in pt["ancova_n"]])
    an0 = np.mean([a[1] for a in pt["ancova_n"]])
    cov = pt["ancova_covered"].astype(float)
    return {
        "benchmark": "de_calibration",
        "generator": "bench/bench_de_calibration.py simulate_trial (NB, spec section 6)",
        "trials": args.trials,
        "seed": args.seed,
        "participants": args.participants,
        "mean_mirna_reads": args.depth,
        "alpha": alpha,
        "wald_reference": args.wald_reference,
        "truth": {
            "mirnas": len(truth.mirnas),
            "planted_interactions": len(planted),
            "primary_log2_effect": float(truth.interaction[p_idx]),
            "dispersion_trend": [truth.a0, truth.a1],
            "sd_participant_ln": truth.sd_participant,
        },
        "primary_ancova": {
            "ci_coverage": round(float(cov.mean()), 4),
            "ci_coverage_mc_se": round(float(math.sqrt(0.95 * 0.05 / len(cov))), 4),
            "mean_estimate_log2": round(float(pt["ancova_estimate"].mean()), 4),
            "empirical_power": round(float((pt["ancova_p"] < alpha).mean()), 4),
            "analytic_power": round(analytic_primary_power(truth, an1, an0, alpha), 4),
            "mean_complete_cases": [round(float(an1), 2), round(float(an0), 2)],
        },
        "clda_mixed": {
            "ci_coverage": round(float(pt["clda_covered"].mean()), 4),
            "empirical_power": round(float((pt["clda_p"] < alpha).mean()), 4),
        },
        "deseq2_mir126": {
            "wald_ci_coverage": round(float(pt["deseq2_mir126_covered"].mean()), 4),
            "mean_log2fc": round(float(pt["deseq2_mir126_log2fc"].mean()), 4),
            "power_fdr5": round(float((pt["deseq2_mir126_padj"] < alpha).mean()), 4),
        },
        "treatment_effect": {
            "mean_fdp": round(float(pt["fdp"].mean()), 4),
            "mean_fdp_mc_se": round(
                float(pt["fdp"].std(ddof=1) / math.sqrt(len(pt))), 4
            ),
            "max_fdp": round(float(pt["fdp"].max()), 4),
            "null_type1": null_type1(pt),
            "mean_discoveries": round(r_mean, 2),
            "mean_mirnas_tested": round(m_tested, 1),
            "bh_per_test_level": round(bh_level, 6),
            "mean_paired": [round(n1, 2), round(n0, 2)],
            "empirical_power_mean": round(float(emp.mean()), 4),
            "analytic_power_bh_mean": round(float(an_bh.mean()), 4),
            "per_effect": per_effect,
        },
        "per_trial": per_trial,
        "runtime_s": round(time.time() - t0, 1),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--participants", type=int, default=80)
    ap.add_argument("--depth", type=float, default=2e6)
    ap.add_argument(
        "--wald-reference",
        choices=["normal", "t"],
        default="t",
        help="config de.wald_reference for the DESeq2 fits (default t, the config default)",
    )
    ap.add_argument(
        "--compare-reference",
        "--also-t",
        action="store_true",
        help="repeat the same trials with the other de.wald_reference (added as "
        "'wald_reference_<other>'; with --from-simulator also for those trials)",
    )
    ap.add_argument(
        "--from-simulator",
        action="store_true",
        help="also benchmark on trials from exomir.simulate (added as 'simulator')",
    )
    args = ap.parse_args(argv)
    if args.trials < 20:
        print(
            "note: fewer than 20 trials; coverage figures will be coarse",
            file=sys.stderr,
        )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("exomir.de", "exomir.primary"):
        logging.getLogger(name).setLevel(logging.WARNING)
    summary = run(args)
    other = "normal" if args.wald_reference == "t" else "t"
    o_args = argparse.Namespace(**{**vars(args), "wald_reference": other})
    if args.compare_reference:
        o_sum = run(o_args)
        te = {k: v for k, v in o_sum["treatment_effect"].items() if k != "per_effect"}
        summary[f"wald_reference_{other}"] = {
            "note": f"same trials and seeds, Wald p-values from the {other} reference",
            "treatment_effect": te,
            "deseq2_mir126": o_sum["deseq2_mir126"],
            "runtime_s": o_sum["runtime_s"],
        }
    if args.from_simulator:
        summary["simulator"] = run_simulator(args)
        if args.compare_reference:
            o_sim = run_simulator(o_args)
            summary["simulator"][f"wald_reference_{other}"] = {
                "treatment_effect": o_sim["treatment_effect"],
                "deseq2_mir126": o_sim["deseq2_mir126"],
                "runtime_s": o_sim["runtime_s"],
            }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    s = summary
    print(
        f"primary ANCOVA coverage {s['primary_ancova']['ci_coverage']}, power "
        f"{s['primary_ancova']['empirical_power']} (analytic "
        f"{s['primary_ancova']['analytic_power']}); treatment_effect mean FDP "
        f"{s['treatment_effect']['mean_fdp']}, power "
        f"{s['treatment_effect']['empirical_power_mean']} (analytic "
        f"{s['treatment_effect']['analytic_power_bh_mean']}) -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
