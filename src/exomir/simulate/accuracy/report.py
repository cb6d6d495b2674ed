"""The whole evaluation of a run: per-library figures, summaries and the report.

:func:`evaluate_run` gives the figures of issue 5 per library, per protocol and
overall; ``bench/reads_accuracy.py`` writes them as JSON.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from exomir.atomic import atomic_open
from exomir.simulate.accuracy.control import false_positive_control
from exomir.simulate.accuracy.measures import (
    DISCARDED,
    PathLike,
    Targets,
    TruthTables,
    _pearson_log,
    count_accuracy,
    feature_map,
    funnel_accuracy,
    load_truth,
)

__all__ = ["evaluate_run", "format_summary", "summarise", "write_report"]


def _group_summary(
    libs: pd.DataFrame,
    funnel: pd.DataFrame,
    pairs: Mapping[str, pd.DataFrame],
    targets: Targets,
) -> dict[str, Any]:
    """Pooled and worst-case figures over a set of libraries."""
    samples = list(libs["sample_id"])
    if not samples:
        return {"n_libraries": 0}
    both = pd.concat([pairs[s] for s in samples], ignore_index=True)
    sel = both["true"].to_numpy() >= targets.min_true_count
    err = libs.set_index("sample_id")["count_error"]
    r = libs.set_index("sample_id")["pearson_r"]
    with_truth = funnel[funnel["has_truth"] & funnel["sample_id"].isin(samples)]
    worst_f = with_truth.loc[with_truth["diff_pp"].abs().idxmax()]
    out: dict[str, Any] = {
        "n_libraries": len(samples),
        "count_error_pooled": float(libs["abs_error"].sum() / libs["true_total"].sum()),
        "count_error_worst": float(err.max()),
        "count_error_worst_library": str(err.idxmax()),
        "count_error_median": float(err.median()),
        "net_bias_pooled": float(
            (libs["counted_total"].sum() - libs["true_total"].sum())
            / libs["true_total"].sum()
        ),
        "pearson_r_pooled": _pearson_log(
            both["counted"].to_numpy()[sel], both["true"].to_numpy()[sel]
        ),
        "pearson_r_worst": float(r.min()) if r.notna().any() else math.nan,
        "pearson_r_worst_library": str(r.idxmin()) if r.notna().any() else None,
        "funnel_max_abs_pp": float(abs(worst_f["diff_pp"])),
        "funnel_worst": {
            "sample_id": str(worst_f["sample_id"]),
            "category": str(worst_f["category"]),
            "diff_pp": float(worst_f["diff_pp"]),
        },
        "funnel_mean_diff_pp": {
            str(k): float(v)
            for k, v in with_truth.groupby("category", sort=False)["diff_pp"]
            .mean()
            .items()
        },
    }
    disc = funnel[(funnel["category"] == DISCARDED) & funnel["sample_id"].isin(samples)]
    if len(disc):
        out["discarded_pct_max"] = float(disc["pipeline_pct"].max())
    dup = funnel[
        (funnel["category"] == "umi_duplicates") & funnel["sample_id"].isin(samples)
    ]
    if len(dup):
        out["umi_dup_rate_diff_pct_points"] = {
            "min": float(
                (dup["pipeline_dup_rate_pct"] - dup["truth_dup_rate_pct"]).min()
            ),
            "max": float(
                (dup["pipeline_dup_rate_pct"] - dup["truth_dup_rate_pct"]).max()
            ),
        }
    return out


def summarise(
    libs: pd.DataFrame,
    funnel: pd.DataFrame,
    pairs: Mapping[str, pd.DataFrame],
    protocols: Mapping[str, str],
    targets: Targets | None = None,
) -> dict[str, dict[str, Any]]:
    """Pooled and worst-case figures per protocol and over all libraries.

    Parameters
    ----------
    libs
        First output of :func:`count_accuracy`.
    funnel
        Output of :func:`funnel_accuracy`.
    pairs
        Second output of :func:`count_accuracy`.
    protocols
        Library -> protocol name.
    targets
        Targets.

    Returns
    -------
    dict
        ``{"all": {...}, "<protocol>": {...}}`` with ``count_error_pooled``
        (sum of absolute errors over sum of truth), ``count_error_worst``,
        ``pearson_r_pooled`` (over all library x feature pairs with enough
        true counts), ``pearson_r_worst``, ``funnel_max_abs_pp`` and more.
    """
    targets = targets or Targets()
    out = {"all": _group_summary(libs, funnel, pairs, targets)}
    proto = libs["sample_id"].map(lambda s: protocols.get(s, "unknown"))
    for name in sorted(set(proto)):
        out[name] = _group_summary(libs[proto == name], funnel, pairs, targets)
    return out


def _jsonable(value: Any) -> Any:
    """Turn NumPy scalars and NaN into JSON values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _failures(
    libs: pd.DataFrame,
    funnel: pd.DataFrame,
    fp: Mapping[str, Any] | None,
    targets: Targets,
) -> list[str]:
    """Describe every missed target, one line each."""
    out: list[str] = []
    for row in libs.itertuples(index=False):
        if not row.count_error <= targets.max_count_error:
            out.append(
                f"{row.sample_id}: count error {row.count_error:.4f} > "
                f"{targets.max_count_error}"
            )
        if math.isfinite(row.pearson_r) and row.pearson_r < targets.min_pearson:
            out.append(
                f"{row.sample_id}: Pearson r {row.pearson_r:.4f} < "
                f"{targets.min_pearson}"
            )
    bad = funnel[funnel["has_truth"] & ~funnel["within_target"]]
    for row in bad.itertuples(index=False):
        out.append(
            f"{row.sample_id}: funnel {row.category} {row.pipeline_pct:.2f}% vs "
            f"truth {row.truth_pct:.2f}% ({row.diff_pp:+.2f} pp)"
        )
    if fp is not None and not fp["pass"]:
        out.append(
            f"false positives: {fp['rate']:.4%} of non-miRNA reads counted as miRNA"
        )
    return out


def _run_control(
    scn: Path,
    truth: TruthTables,
    targets: Targets,
    fp_reads: int,
    fp_seed: int,
    threads: int,
    workdir: PathLike | None,
) -> dict[str, Any]:
    """Run the false-positive control with the scenario's trimming and reads."""
    with open(scn / "config" / "config.yaml", encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh) or {}
    kwargs: dict[str, Any] = {
        "trim": cfg.get("trimming") or {},
        "read_params": truth.read_params,
        "sim_reference": truth.params.get("reference"),
        "n_reads": fp_reads,
        "seed": fp_seed,
        "threads": threads,
        "targets": targets,
    }
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="exomir-fp-") as tmp:
            return false_positive_control(scn / "results" / "reference", tmp, **kwargs)
    return false_positive_control(scn / "results" / "reference", workdir, **kwargs)


def _library_entries(
    libs: pd.DataFrame,
    fun: pd.DataFrame,
    protocols: Mapping[str, str],
    targets: Targets,
) -> list[dict[str, Any]]:
    """Per library: count figures, funnel rows and whether every target is met."""
    per_lib: list[dict[str, Any]] = []
    for row in libs.to_dict("records"):
        sample = row["sample_id"]
        f = fun[fun["sample_id"] == sample]
        funnel_rows = {
            r["category"]: {
                k: v
                for k, v in r.items()
                if k not in ("sample_id", "count_unit", "category")
                and not (isinstance(v, float) and math.isnan(v))
            }
            for r in f.to_dict("records")
        }
        with_truth = f[f["has_truth"]]
        per_lib.append(
            {
                **row,
                "protocol": protocols.get(sample),
                "funnel_max_abs_pp": float(with_truth["diff_pp"].abs().max()),
                "funnel": funnel_rows,
                "pass": bool(
                    row["count_error"] <= targets.max_count_error
                    and (
                        not math.isfinite(row["pearson_r"])
                        or row["pearson_r"] >= targets.min_pearson
                    )
                    and bool(with_truth["within_target"].all())
                ),
            }
        )
    return per_lib


def _definitions(targets: Targets) -> dict[str, str]:
    """One-line definitions of the reported figures."""
    return {
        "count_error": "sum_f |counted - true| / sum_f true per library; truth "
        "in molecules for UMI libraries, reads otherwise; truth summed over "
        "identical-sequence features",
        "pearson_r": f"Pearson r of log2(x+1) over features with >= "
        f"{targets.min_true_count} true counts (truth unit)",
        "funnel": "shares of raw reads; UMI libraries: annotation categories "
        "in read equivalents (molecules x passed_reads / annotated_total); "
        "umi_duplicates truth = truth duplication rate x passed_reads; "
        "'discarded' (no_adapter + no_umi + too_long) has no truth and is "
        "reported only",
    }


def evaluate_run(
    scenario: PathLike,
    *,
    targets: Targets | None = None,
    fp_reads: int = 100_000,
    fp_seed: int = 20260505,
    threads: int = 1,
    workdir: PathLike | None = None,
) -> dict[str, Any]:
    """Compare a finished workflow run of a simulated scenario with its truth.

    Parameters
    ----------
    scenario
        Scenario directory holding ``config/``, ``truth/`` and ``results/``
        (``results/counts/mirna_counts.tsv``, ``results/qc/read_funnel.tsv``
        and ``results/reference/`` are read).
    targets
        Targets; defaults as in issue 5.
    fp_reads
        Reads of the false-positive control library; 0 skips it.
    fp_seed
        Its seed.
    threads
        bowtie threads for the control library.
    workdir
        Where the control library is written (default: a temporary
        directory, removed afterwards).

    Returns
    -------
    dict
        JSON-ready report: ``targets``, ``libraries`` (count and funnel
        figures per library), ``summary`` (per protocol and ``all``),
        ``false_positive``, ``failures`` and ``pass``.
    """
    targets = targets or Targets()
    scn = Path(scenario)
    truth = load_truth(scn / "truth")
    fmap = feature_map(scn / "results" / "reference")
    counts = pd.read_csv(
        scn / "results" / "counts" / "mirna_counts.tsv", sep="\t", index_col=0
    )
    funnel = pd.read_csv(
        scn / "results" / "qc" / "read_funnel.tsv", sep="\t", index_col=0
    )
    umi = {str(s): str(u) == "molecules" for s, u in funnel["count_unit"].items()}
    protocols = {
        str(s): str(truth.libraries.loc[s, "protocol"])
        if s in truth.libraries.index and "protocol" in truth.libraries.columns
        else ("umi" if umi.get(str(s)) else "reads")
        for s in funnel.index
    }
    libs, pairs = count_accuracy(counts, truth, fmap, umi, targets)
    fun = funnel_accuracy(funnel, truth.funnel, targets)
    fp: dict[str, Any] | None = None
    if fp_reads > 0:
        fp = _run_control(scn, truth, targets, fp_reads, fp_seed, threads, workdir)
    failures = _failures(libs, fun, fp, targets)
    report = {
        "scenario": str(scn),
        "targets": asdict(targets),
        "definitions": _definitions(targets),
        "libraries": _library_entries(libs, fun, protocols, targets),
        "summary": summarise(libs, fun, pairs, protocols, targets),
        "false_positive": fp,
        "failures": failures,
        "pass": not failures,
    }
    return _jsonable(report)


def write_report(report: Mapping[str, Any], path: PathLike) -> None:
    """Write a report as indented JSON, atomically.

    Parameters
    ----------
    report
        Output of :func:`evaluate_run`.
    path
        Destination ``.json``.
    """
    with atomic_open(path) as fh:
        json.dump(_jsonable(dict(report)), fh, indent=2, allow_nan=False)
        fh.write("\n")


def format_summary(report: Mapping[str, Any], protocols: Sequence[str] = ()) -> str:
    """Return a short text summary of a report (one line per protocol).

    Parameters
    ----------
    report
        Output of :func:`evaluate_run`.
    protocols
        Groups to show (default: all in the report).

    Returns
    -------
    str
        Lines such as ``qiaseq: 8 libs, count error pooled 2.15 % (worst
        2.59 %), r pooled 0.9996 (worst 0.9987), funnel max 1.93 pp``.
    """
    lines = []
    summary = report["summary"]
    for name in protocols or list(summary):
        s = summary[name]
        if not s.get("n_libraries"):
            continue
        lines.append(
            f"{name}: {s['n_libraries']} libs, count error pooled "
            f"{100 * s['count_error_pooled']:.2f} % (worst "
            f"{100 * s['count_error_worst']:.2f} %, {s['count_error_worst_library']}), "
            f"r pooled {s['pearson_r_pooled']:.4f} (worst {s['pearson_r_worst']:.4f}), "
            f"funnel max {s['funnel_max_abs_pp']:.2f} pp "
            f"({s['funnel_worst']['sample_id']} {s['funnel_worst']['category']})"
        )
    fp = report.get("false_positive")
    if fp:
        lines.append(
            f"false positives: {fp['counted_as_mirna']} of {fp['non_mirna_reads']} "
            f"non-miRNA reads counted as miRNA ({100 * fp['rate']:.3f} %; "
            f"+{fp['multimapped_mirna']} multimapped)"
        )
    lines.append("PASS" if report["pass"] else "FAIL: " + "; ".join(report["failures"]))
    return "\n".join(lines)
