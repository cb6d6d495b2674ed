"""Accuracy of the reads-to-counts stage against the simulator's truth.

A scenario written by ``exomir simulate`` and run through the workflow holds
both the pipeline's results (``results/``) and what was simulated
(``truth/``). :func:`evaluate_run` compares them and returns the figures of
GitHub issue 5 ("How well"), per library, per protocol and overall;
``bench/reads_accuracy.py`` writes them as JSON.

Targets (:class:`Targets`)
--------------------------
1. **Count error** <= 5 % per library: ``sum_f |counted_f - true_f| /
   sum_f true_f`` over the union of the pipeline's features and the truth's
   miRNAs. A read counted for the wrong miRNA costs twice (once where it is
   missing, once where it is extra).
2. **Pearson r** >= 0.99 of ``log2(count + 1)`` vs ``log2(true + 1)`` over
   the features with at least 20 true counts (in the truth unit below).
3. **Non-miRNA reads counted as miRNA** <= 0.5 % (control library, below).
4. **Read funnel**: every category within 2 percentage points of the truth,
   all as shares of raw reads.

Truth unit and feature names
----------------------------
TruSeq-type libraries are compared with ``truth/mirna_counts.tsv`` (reads,
all isomiRs). UMI libraries (``count_unit == "molecules"`` in
``results/qc/read_funnel.tsv``; QIAseq) are compared with
``truth/mirna_molecules.tsv``: the pipeline counts distinct (insert, UMI)
pairs, which estimate the molecules that were sequenced, and the simulator
records exactly those molecules (each drew one random UMI; its PCR duplicates
share insert and UMI). Reads would be the wrong truth (they differ by the
duplication factor, ~2.5). The two molecule counts differ for known reasons:
a sequencing error in the UMI or the insert of a duplicate read creates a new
(insert, UMI) pair (the pipeline compares UMIs exactly; over-count), a
molecule all of whose reads lose their UMI to quality trimming is lost
(``no_umi``; under-count), and two molecules with the same insert rarely draw
the same UMI (negligible with 4^12 UMIs). On error-free simulated reads the
pipeline's molecules equal the truth exactly.

Truth names are mapped onto the pipeline's identical-sequence features
(``hsa-miR-517a-3p/hsa-miR-517b-3p``) with :func:`feature_map`, which reads
the features of the workflow's reference directory
(:func:`exomir.reads.reference.load_reference`) and checks each group name
with :func:`exomir.reads.reference.feature_name`; the truth of a group is the
sum over its members.

False positives: a contaminant-only control library
---------------------------------------------------
The simulator records no per-read origin, so the rate cannot be read off a
normal library (the excess ``counted - true`` mixes false positives with
misassigned and lost miRNA reads). :func:`false_positive_control` therefore
simulates one more library with the scenario's read parameters (errors,
qualities, length ranges) but **no miRNA origin**:
``mirna_share_of_annotated = 1e-9`` (the simulator's floor) and
``share_noise_sd = 0``; the tRNA share is set through
``mirna_to_trna_ratio`` (the simulator draws tRNA reads as miRNA share /
ratio), giving a quarter each of tRNA fragments (5' halves, tRF-3 with CCA,
internal), rRNA fragments, snoRNA/snRNA fragments and random "unmappable"
inserts, and no adapter dimers. The library is preprocessed and annotated
with the same functions, settings and reference directory as the workflow
(:func:`exomir.reads.preprocess.collapse_library`,
:func:`exomir.reads.annotate.annotate_sample`). The truth says it holds zero
miRNA reads, so every read counted in ``mirna`` is a false positive; the rate
is over all its (non-miRNA) reads. ``multimapped_mirna`` reads are reported
separately (they enter no count). Each false-positive insert is traced back
to its origin by exact substring search in the simulator's source sequences.

Read funnel mapping
-------------------
================ ============================================================
truth            pipeline (``results/qc/read_funnel.tsv``)
================ ============================================================
``mirna``        ``mirna + multimapped_mirna``
``trna``         ``tRNA`` (contaminant names matched case-insensitively)
``rrna``         ``rRNA``
``snorna_snrna`` ``snoRNA_snRNA``
``unmappable``   ``unassigned + hairpin_other`` + every other contaminant
                 category (``artifact``, a user-added ``YRNA``, ...): the
                 simulator's only inserts that are not miRNA, tRNA, rRNA or
                 snoRNA/snRNA are random sequences
``adapter_dimer`` ``adapter_dimer``
``too_short``    ``too_short``
``umi_duplicates`` ``umi_duplicates`` (UMI libraries only; see below)
(none)           ``discarded`` = ``no_adapter + no_umi + too_long`` minus the
                 annotated long inserts (``annotated_no_adapter``,
                 ``annotated_too_long``, which are in the categories above):
                 reads the pipeline drops before annotation; the simulator has no such
                 origin, their reads are missing from the categories above
                 (reported, not a target: it would count the same reads twice)
================ ============================================================

Every share is over raw reads (the truth's ``raw_reads``, equal to the
pipeline's). For UMI libraries the annotation categories are counted in
molecules; they are turned back into reads with the library's
reads-per-molecule factor ``passed_reads / annotated_total`` ("read
equivalents"). This assumes that duplication does not depend on origin, which
holds in the simulator (copies are drawn independently of origin) and is
close in real data. The truth's ``umi_duplicates`` counts duplicates of every
origin, including adapter dimers and too-short inserts, which the pipeline
discards before deduplication; the comparable truth is the truth's
duplication rate ``umi_duplicates / raw_reads`` applied to the reads the
pipeline deduplicated (``passed_reads``). The duplication rates themselves
(``umi_duplicates / passed_reads`` vs the truth's) are reported too.

Measured
--------
``exomir simulate demo --preset demo --seed 1`` (24 participants, 46
libraries of 5k-300k reads, 30 TruSeq and 16 QIAseq), exomir 0.1.0:

========================= ===================== ==============================
                          TruSeq (reads)        QIAseq (molecules)
========================= ===================== ==============================
count error, pooled       0.08 %                2.27 %
count error, worst lib.   0.14 %                2.59 %
net bias, pooled          -0.05 %               +2.17 %
Pearson r, worst lib.     0.9999                0.9994
funnel, worst category    0.14 pp (unmappable)  1.93 pp (umi_duplicates)
``discarded`` (no truth)  <= 0.37 %             <= 2.80 % (mostly ``no_umi``)
========================= ===================== ==============================

False positives (control library, 500,000 reads, seed 11): 45 reads counted
as miRNA (0.009 %), all miRBase entries that are themselves fragments of the
contaminants (hsa-miR-1246 from U2 snRNA, -12136, -4488, -4454, -4508 from
rRNA/tRNA); 0 multimapped.

The QIAseq figures are systematic and understood: on error-free simulated
reads (``error_rate_scale = 0``, no low-quality tails) the pipeline's miRNA
molecules equal the truth exactly and the duplication rate agrees (60.21 vs
60.12 %). With sequencing errors, exact UMI matching counts +3.5 % molecules;
with the default low-quality tails, 3' quality trimming removes ~2 % of reads
as ``no_umi`` (their UMI lies in the tail), which lowers the excess to ~+2.2 %
and is also why QIAseq ``mirna`` is ~1.2 pp below the truth in the funnel
(miRNA reads are ~55 % of the discarded ones) and ``umi_duplicates`` ~1.8 pp
below (the duplication rate among passed reads is 2.2 points low). Merging
UMIs one mismatch apart within an insert (UMI-tools "directional") would bring
the molecule excess from +3.1 % to +1.2 % on the same reads; merging per
miRNA instead of per insert over-merges (-0.7 %).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from exomir.atomic import atomic_open
from exomir.reads.reference import (
    Reference,
    feature_name,
    load_reference,
    normalise_sequence,
)

__all__ = [
    "FUNNEL_CATEGORIES",
    "Targets",
    "TruthTables",
    "count_accuracy",
    "evaluate_run",
    "false_positive_control",
    "feature_map",
    "format_summary",
    "funnel_accuracy",
    "group_truth",
    "load_truth",
    "summarise",
    "write_report",
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
_NO_MIRNA_SHARE = 1e-9


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


def _origin_index(contaminants: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Concatenate the simulator's source sequences per origin for lookups."""
    out: dict[str, str] = {}
    for origin, seqs in contaminants.items():
        parts = []
        for raw in seqs.values():
            seq = normalise_sequence(raw)
            for gap in ".-_~":
                seq = seq.replace(gap, "")
            if origin == "trna" and not seq.endswith("CCA"):
                seq += "CCA"
            parts.append(seq)
        out[origin] = "#".join(parts)
    return out


def _control_params(read_params: Mapping[str, Any]) -> Any:
    """Read parameters of the contaminant-only control library."""
    from exomir.simulate.readmodel import ReadParams

    known = {f for f in ReadParams.__dataclass_fields__}
    base = ReadParams(**{k: v for k, v in read_params.items() if k in known})
    # a quarter each: tRNA, rRNA, snoRNA/snRNA (of annotated) and unmappable
    return replace(
        base,
        dimer_short_share=_NO_MIRNA_SHARE,
        unmappable_share=0.25,
        mirna_share_of_annotated=_NO_MIRNA_SHARE,
        mirna_to_trna_ratio=_NO_MIRNA_SHARE * 3.0,
        rrna_share_of_other=0.5,
        share_noise_sd=0.0,
    )


def false_positive_control(
    reference_dir: PathLike,
    workdir: PathLike,
    *,
    trim: Mapping[str, Any] | None = None,
    read_params: Mapping[str, Any] | None = None,
    sim_reference: Mapping[str, Any] | None = None,
    n_reads: int = 100_000,
    seed: int = 20260505,
    threads: int = 1,
    targets: Targets | None = None,
    n_top: int = 10,
) -> dict[str, Any]:
    """Simulate a library without miRNA reads and count what lands as miRNA.

    Parameters
    ----------
    reference_dir
        The workflow's reference directory (``results/reference``).
    workdir
        Where the control FASTQ and collapsed FASTA are written.
    trim
        Trimming settings (config ``trimming`` section).
    read_params
        The scenario's read-simulator parameters (``truth/params.yaml``
        ``read_params``); their error and quality model is kept.
    sim_reference
        ``mature``/``hairpin`` paths for the simulator (``params.yaml``
        ``params.reference``; default: human miRBase v22).
    n_reads
        Reads in the control library.
    seed
        Random seed of the control library.
    threads
        bowtie threads.
    targets
        Targets (``max_false_positive``).
    n_top
        Largest false-positive inserts listed.

    Returns
    -------
    dict
        ``method``, ``n_reads``, ``seed``, ``truth_funnel``,
        ``non_mirna_reads``, ``counted_as_mirna``, ``multimapped_mirna``,
        ``rate``, ``rate_incl_multimapped``, ``by_origin`` (false-positive
        reads by simulated origin), ``annotation`` (all categories),
        ``top_inserts``, ``target`` and ``pass``.

    Raises
    ------
    RuntimeError
        If the control library nevertheless contains miRNA reads.
    """
    from exomir.reads.annotate import annotate_sample
    from exomir.reads.preprocess import collapse_library, write_collapsed
    from exomir.reads.protocols import TrimSettings, get_protocol
    from exomir.simulate.library import simulate_library
    from exomir.simulate.references import load_references

    targets = targets or Targets()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    sim_ref = dict(
        sim_reference
        or {
            "mature": "mirbase/v22/hsa/mature.fa",
            "hairpin": "mirbase/v22/hsa/hairpin.fa",
        }
    )
    refs = load_references({"reference": sim_ref})
    params = _control_params(read_params or {})
    name = next(iter(refs.mature_in_hairpin))
    probs = pd.Series({name: 1.0})
    fastq = work / "fp_control.fastq.gz"
    sample = "fp_control"
    truth = simulate_library(
        sample,
        fastq,
        int(n_reads),
        probs,
        "truseq",
        params,
        np.random.default_rng(seed),
        refs.hairpins,
        refs.mature_in_hairpin,
        refs.contaminants,
        "",
        mature=refs.mature,
    )
    if truth.funnel["mirna"]:
        raise RuntimeError(
            f"control library has {truth.funnel['mirna']} miRNA reads; use another seed"
        )
    settings = TrimSettings.from_dict(dict(trim or {}))
    records, stats = collapse_library(fastq, get_protocol("truseq"), settings)
    collapsed = work / "fp_control.fa.gz"
    write_collapsed(records, collapsed, sample)
    result = annotate_sample(
        collapsed, reference_dir, sample, threads=threads, tmpdir=work
    )
    cats = {k: int(v) for k, v in result.categories.items()}
    non_mirna = int(n_reads) - int(truth.funnel["mirna"])
    fp = cats.get("mirna", 0)
    mm = cats.get("multimapped_mirna", 0)

    lookup = _origin_index(refs.contaminants)
    by_origin: dict[str, int] = {}
    top: list[dict[str, Any]] = []
    iso = result.isomirs.sort_values(["count", "sequence"], ascending=[False, True])
    for seq, mirna, variant, count in iso[
        ["sequence", "mirna", "variant", "count"]
    ].itertuples(index=False):
        origin = next((o for o, s in lookup.items() if seq in s), "unmappable_or_error")
        by_origin[origin] = by_origin.get(origin, 0) + int(count)
        if len(top) < n_top:
            top.append(
                {
                    "sequence": seq,
                    "mirna": mirna,
                    "variant": variant,
                    "reads": int(count),
                    "origin": origin,
                }
            )
    rate = fp / non_mirna if non_mirna else math.nan
    return {
        "method": (
            "contaminant-only control library simulated with the scenario's read "
            "parameters (no miRNA origin; 1/4 each tRNA, rRNA, snoRNA/snRNA "
            "fragments and random inserts), preprocessed and annotated like the "
            "workflow; rate = reads counted as miRNA / reads"
        ),
        "protocol": "truseq",
        "n_reads": int(n_reads),
        "seed": int(seed),
        "truth_funnel": {k: int(v) for k, v in truth.funnel.items()},
        "preprocess": {
            k: int(getattr(stats, k))
            for k in ("passed_reads", "adapter_dimer", "too_short", "no_adapter")
        },
        "annotation": cats,
        "non_mirna_reads": non_mirna,
        "counted_as_mirna": fp,
        "multimapped_mirna": mm,
        "rate": rate,
        "rate_incl_multimapped": (fp + mm) / non_mirna if non_mirna else math.nan,
        "by_origin": dict(sorted(by_origin.items())),
        "top_inserts": top,
        "target": targets.max_false_positive,
        "pass": bool(rate <= targets.max_false_positive),
    }


# --------------------------------------------------------------------------- #
# Summaries and the whole evaluation
# --------------------------------------------------------------------------- #


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
                fp = false_positive_control(
                    scn / "results" / "reference", tmp, **kwargs
                )
        else:
            fp = false_positive_control(
                scn / "results" / "reference", workdir, **kwargs
            )

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
    failures = _failures(libs, fun, fp, targets)
    report = {
        "scenario": str(scn),
        "targets": asdict(targets),
        "definitions": {
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
        },
        "libraries": per_lib,
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
