"""Count and read-funnel accuracy of each library against the simulator's truth.

Definitions (truth unit, feature names, funnel mapping) in ``docs/simulate.md``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from exomir.reads.reference import Reference, feature_name, load_reference

__all__ = [
    "CONTAMINANT_TRUTH",
    "DISCARDED",
    "FUNNEL_CATEGORIES",
    "PathLike",
    "Targets",
    "TruthTables",
    "count_accuracy",
    "feature_map",
    "funnel_accuracy",
    "group_truth",
    "load_truth",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Funnel categories compared with the truth, in report order.
FUNNEL_CATEGORIES: tuple[str, ...] = (
    "mirna",
    "trna",
    "rrna",
    "snorna_snrna",
    "unmappable",
    "adapter_dimer",
    "too_short",
    "umi_duplicates",
)
#: Pipeline-only category (reads dropped before annotation; no truth).
DISCARDED = "discarded"
#: Read-level pipeline columns that make up :data:`DISCARDED`.
DISCARDED_COLUMNS: tuple[str, ...] = ("no_adapter", "no_umi", "too_long")
#: Long-insert columns of the funnel: reads among ``no_adapter`` and
#: ``too_long`` that were annotated (they are in the categories then).
LONG_ANNOTATED_COLUMNS: tuple[str, ...] = ("annotated_no_adapter", "annotated_too_long")
#: Pipeline contaminant categories (lower case) with a truth counterpart.
CONTAMINANT_TRUTH: dict[str, str] = {
    "trna": "trna",
    "rrna": "rrna",
    "snorna_snrna": "snorna_snrna",
}
#: Annotation columns of the funnel that are not contaminant categories.
_ANNOTATION_COLUMNS = ("mirna", "multimapped_mirna", "hairpin_other", "unassigned")
#: Read-level columns of the funnel (not annotation categories).
_READ_COLUMNS = (
    "sample_id",
    "raw_reads",
    "adapter_found",
    "adapter_dimer",
    "too_short",
    "too_long",
    "no_adapter",
    "no_umi",
    "passed_reads",
    "umi_duplicates",
    "annotated_total",
    "no_adapter_short",
    "annotated_no_adapter",
    "annotated_too_long",
    "count_unit",
)
#: Floor of the simulator's miRNA share (its logit clamps at 1e-9).


@dataclass(frozen=True)
class Targets:
    """Accuracy targets of the reads-to-counts stage (issue 5).

    Attributes
    ----------
    max_count_error
        Largest per-library ``sum |counted - true| / sum true``.
    min_pearson
        Smallest per-library Pearson r of ``log2(x + 1)``.
    min_true_count
        Features with at least this many true counts enter the correlation.
    max_false_positive
        Largest share of non-miRNA reads counted as miRNA.
    max_funnel_pp
        Largest difference of a funnel share from the truth, in percentage
        points of raw reads.
    """

    max_count_error: float = 0.05
    min_pearson: float = 0.99
    min_true_count: int = 20
    max_false_positive: float = 0.005
    max_funnel_pp: float = 2.0


@dataclass(frozen=True)
class TruthTables:
    """The simulator's truth tables of one scenario (``truth/``).

    Attributes
    ----------
    reads
        miRNA x library reads (all isomiRs and PCR duplicates).
    molecules
        miRNA x library unique molecules.
    funnel
        Library x origin reads (``funnel.tsv``), indexed by ``sample_id``.
    libraries
        Library table (``libraries.tsv``), indexed by ``sample_id``.
    read_params
        The read simulator's parameters (``params.yaml`` ``read_params``).
    params
        The scenario parameters (``params.yaml`` ``params``).
    """

    reads: pd.DataFrame
    molecules: pd.DataFrame
    funnel: pd.DataFrame
    libraries: pd.DataFrame
    read_params: dict[str, Any]
    params: dict[str, Any]


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


def load_truth(truth_dir: PathLike) -> TruthTables:
    """Read the truth tables written by ``exomir simulate``.

    Parameters
    ----------
    truth_dir
        The scenario's ``truth/`` folder.

    Returns
    -------
    TruthTables
        The tables; ``read_params``/``params`` are empty without
        ``params.yaml``.
    """
    d = Path(truth_dir)

    def table(name: str) -> pd.DataFrame:
        return pd.read_csv(d / name, sep="\t", index_col=0)

    meta: dict[str, Any] = {}
    if (d / "params.yaml").exists():
        with open(d / "params.yaml", encoding="utf-8") as fh:
            meta = yaml.safe_load(fh) or {}
    return TruthTables(
        reads=table("mirna_counts.tsv"),
        molecules=table("mirna_molecules.tsv"),
        funnel=table("funnel.tsv"),
        libraries=table("libraries.tsv"),
        read_params=dict(meta.get("read_params") or {}),
        params=dict(meta.get("params") or {}),
    )


def feature_map(reference: Reference | PathLike) -> dict[str, str]:
    """Map every miRBase mature name to the pipeline feature that counts it.

    Parameters
    ----------
    reference
        The workflow's reference directory (``results/reference``) or a
        loaded :class:`~exomir.reads.reference.Reference`.

    Returns
    -------
    dict[str, str]
        Mature name -> feature name (itself, or its ``/``-joined
        identical-sequence group).

    Raises
    ------
    ValueError
        If a feature name is not the :func:`~exomir.reads.reference.feature_name`
        of its members (the grouping convention changed).
    """
    ref = reference if isinstance(reference, Reference) else load_reference(reference)
    out: dict[str, str] = {}
    for feature in sorted(ref.features):
        members = feature.split("/")
        if feature_name(members) != feature:
            raise ValueError(
                f"feature {feature!r} is not the sorted '/'-join of its members"
            )
        for name in members:
            out[name] = feature
    return out


def group_truth(truth: pd.DataFrame, fmap: Mapping[str, str]) -> pd.DataFrame:
    """Sum truth rows over the pipeline's identical-sequence features.

    Parameters
    ----------
    truth
        miRNA (index, miRBase names) x library counts.
    fmap
        Output of :func:`feature_map`; names missing from it (matures the
        reference could not place) keep their own name.

    Returns
    -------
    pandas.DataFrame
        Feature x library, sorted by feature.
    """
    keys = [fmap.get(str(name), str(name)) for name in truth.index]
    grouped = truth.groupby(pd.Index(keys, name="feature"), sort=True).sum()
    return grouped.astype(np.int64)


# --------------------------------------------------------------------------- #
# Counts
# --------------------------------------------------------------------------- #


def _pearson_log(counted: np.ndarray, true: np.ndarray) -> float:
    """Pearson r of log2(x + 1); NaN with fewer than 3 points or no spread."""
    if counted.size < 3:
        return math.nan
    x = np.log2(np.asarray(true, dtype=float) + 1.0)
    y = np.log2(np.asarray(counted, dtype=float) + 1.0)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def count_accuracy(
    counts: pd.DataFrame,
    truth: TruthTables,
    fmap: Mapping[str, str],
    umi: Mapping[str, bool],
    targets: Targets | None = None,
    n_worst: int = 5,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Compare the count matrix with the truth, library by library.

    Parameters
    ----------
    counts
        ``results/counts/mirna_counts.tsv`` with ``mirna`` as index.
    truth
        Truth tables.
    fmap
        Mature name -> feature (:func:`feature_map`).
    umi
        Library -> whether it is counted in molecules (compared with
        ``truth.molecules``; otherwise ``truth.reads``).
    targets
        Targets (``min_true_count`` selects the correlation features).
    n_worst
        Features with the largest absolute error kept per library.

    Returns
    -------
    table : pandas.DataFrame
        One row per library (count-matrix column order): ``sample_id``,
        ``count_unit``, ``true_total``, ``counted_total``, ``abs_error``,
        ``count_error``, ``net_bias``, ``pearson_r``, ``n_features_r``.
    pairs : dict[str, pandas.DataFrame]
        Library -> ``feature``, ``true``, ``counted`` (union of features),
        for pooled figures.

    Raises
    ------
    ValueError
        If a library of the count matrix has no truth column.
    """
    targets = targets or Targets()
    reads = group_truth(truth.reads, fmap)
    molecules = group_truth(truth.molecules, fmap)
    rows: list[dict[str, Any]] = []
    pairs: dict[str, pd.DataFrame] = {}
    for sample in counts.columns:
        is_umi = bool(umi.get(sample, False))
        source = molecules if is_umi else reads
        if sample not in source.columns:
            raise ValueError(f"library {sample} has no column in the truth tables")
        true = source[sample]
        counted = counts[sample]
        index = true.index.union(counted.index)
        t = true.reindex(index, fill_value=0).to_numpy(dtype=np.int64)
        c = counted.reindex(index, fill_value=0).to_numpy(dtype=np.int64)
        keep = (t > 0) | (c > 0)
        df = pd.DataFrame({"feature": index[keep], "true": t[keep], "counted": c[keep]})
        pairs[str(sample)] = df
        diff = np.abs(df["counted"] - df["true"]).to_numpy()
        true_total = int(df["true"].sum())
        counted_total = int(df["counted"].sum())
        sel = df["true"].to_numpy() >= targets.min_true_count
        worst = df.assign(abs_error=diff).nlargest(n_worst, "abs_error")
        rows.append(
            {
                "sample_id": str(sample),
                "count_unit": "molecules" if is_umi else "reads",
                "true_total": true_total,
                "counted_total": counted_total,
                "abs_error": int(diff.sum()),
                "count_error": diff.sum() / true_total if true_total else math.nan,
                "net_bias": (counted_total - true_total) / true_total
                if true_total
                else math.nan,
                "pearson_r": _pearson_log(
                    df["counted"].to_numpy()[sel], df["true"].to_numpy()[sel]
                ),
                "n_features_r": int(sel.sum()),
                "worst_features": worst[["feature", "true", "counted"]].to_dict(
                    "records"
                ),
            }
        )
    return pd.DataFrame(rows), pairs


# --------------------------------------------------------------------------- #
# Funnel
# --------------------------------------------------------------------------- #


def _truth_key(category: str) -> str | None:
    """Truth category of a pipeline annotation category, if any."""
    return CONTAMINANT_TRUTH.get(category.lower())


def funnel_accuracy(
    funnel: pd.DataFrame, truth_funnel: pd.DataFrame, targets: Targets | None = None
) -> pd.DataFrame:
    """Compare the pipeline's read funnel with the truth, as shares of raw reads.

    Parameters
    ----------
    funnel
        ``results/qc/read_funnel.tsv`` indexed by ``sample_id``.
    truth_funnel
        ``truth/funnel.tsv`` indexed by ``sample_id``.
    targets
        Targets (``max_funnel_pp``).

    Returns
    -------
    pandas.DataFrame
        Long table: ``sample_id``, ``count_unit``, ``category``,
        ``truth_reads``, ``pipeline_reads`` (read equivalents for UMI
        libraries), ``truth_pct``, ``pipeline_pct``, ``diff_pp``,
        ``has_truth``, ``within_target``; categories as in the module
        docstring (``umi_duplicates`` only for UMI libraries, ``discarded``
        without truth). UMI libraries also get ``truth_dup_rate_pct`` and
        ``pipeline_dup_rate_pct`` on their ``umi_duplicates`` row.

    Raises
    ------
    ValueError
        If a library is missing from the truth or raw reads disagree.
    """
    targets = targets or Targets()
    annotation = [c for c in funnel.columns if c not in _READ_COLUMNS]
    rows: list[dict[str, Any]] = []
    for sample, p in funnel.iterrows():
        if sample not in truth_funnel.index:
            raise ValueError(f"library {sample} is not in truth/funnel.tsv")
        t = truth_funnel.loc[sample]
        raw = int(p["raw_reads"])
        if raw != int(t["raw_reads"]):
            raise ValueError(
                f"{sample}: raw_reads {raw} in the funnel but {int(t['raw_reads'])} "
                "in the truth"
            )
        is_umi = str(p.get("count_unit", "reads")) == "molecules"
        # reads of long inserts are annotated in reads (no UMI): only the
        # collapsed molecules are scaled back to reads
        long_reads = float(sum(float(p.get(c, 0) or 0) for c in LONG_ANNOTATED_COLUMNS))
        annotated = float(p["annotated_total"]) - long_reads
        scale = float(p["passed_reads"]) / annotated if is_umi and annotated else 1.0
        pipe: dict[str, float] = dict.fromkeys(FUNNEL_CATEGORIES[:5], 0.0)
        for col in annotation:
            value = float(p[col]) * scale
            if col in ("mirna", "multimapped_mirna"):
                pipe["mirna"] += value
            elif (key := _truth_key(col)) is not None:
                pipe[key] += value
            else:  # unassigned, hairpin_other, artifact, other contaminants
                pipe["unmappable"] += value
        pipe["adapter_dimer"] = float(p["adapter_dimer"])
        pipe["too_short"] = float(p["too_short"])
        truth_vals = {c: float(t[c]) for c in FUNNEL_CATEGORIES[:7]}
        extra: dict[str, dict[str, Any]] = {}
        if is_umi:
            rate = float(t["umi_duplicates"]) / raw if raw else 0.0
            pipe["umi_duplicates"] = float(p["umi_duplicates"])
            truth_vals["umi_duplicates"] = rate * float(p["passed_reads"])
            passed = float(p["passed_reads"])
            extra["umi_duplicates"] = {
                "truth_dup_rate_pct": 100.0 * rate,
                "pipeline_dup_rate_pct": 100.0 * float(p["umi_duplicates"]) / passed
                if passed
                else math.nan,
            }
        pipe[DISCARDED] = (
            float(sum(float(p[c]) for c in DISCARDED_COLUMNS)) - long_reads
        )
        truth_vals[DISCARDED] = 0.0
        for cat in (*FUNNEL_CATEGORIES, DISCARDED):
            if cat not in pipe:
                continue
            tp = 100.0 * truth_vals[cat] / raw if raw else math.nan
            pp = 100.0 * pipe[cat] / raw if raw else math.nan
            diff = pp - tp
            rows.append(
                {
                    "sample_id": str(sample),
                    "count_unit": "molecules" if is_umi else "reads",
                    "category": cat,
                    "truth_reads": truth_vals[cat],
                    "pipeline_reads": pipe[cat],
                    "truth_pct": tp,
                    "pipeline_pct": pp,
                    "diff_pp": diff,
                    "has_truth": cat != DISCARDED,
                    "within_target": bool(abs(diff) <= targets.max_funnel_pp),
                    **extra.get(cat, {}),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- #
# False-positive control library
# --------------------------------------------------------------------------- #
