"""Cohort read QC: read funnel, length distributions and per-library verdicts.

Inputs per library (``docs/CONTRACTS.md``): ``results/preprocess/{sample}.json``
(adapter/length/UMI handling), ``results/annotate/{sample}.json`` (reads or
molecules per annotation category), optionally ``results/collapsed/{sample}.fa.gz``
(library complexity), plus the merged ``results/counts/mirna_counts.tsv`` and
the sample sheet.

Outputs
-------
``results/qc/read_funnel.tsv``
    One row per library (sample-sheet order), integer counts only::

        sample_id raw_reads adapter_found adapter_dimer too_short too_long
        no_adapter no_umi passed_reads umi_duplicates <contaminant categories...>
        mirna hairpin_other unassigned multimapped_mirna annotated_total
        no_adapter_short annotated_no_adapter annotated_too_long count_unit

    *Every read once* (``docs/reads.md``): reads without the adapter (at
    least ``min_length`` nt) and too-long inserts are annotated as long
    inserts (never as ``mirna``) and join the annotation categories and
    ``annotated_total``; ``adapter_dimer + too_short + no_umi +
    umi_duplicates + no_adapter_short + annotated_total = raw_reads``.

    *Reads vs molecules.* Everything up to ``umi_duplicates`` is counted in
    sequenced **reads**. The annotation categories (contaminants, ``mirna``,
    ``hairpin_other``, ``unassigned``, ``multimapped_mirna``,
    ``annotated_total``) are counted in the units of the collapsed inserts:
    reads for libraries without UMIs and **deduplicated molecules** for UMI
    protocols (e.g. QIAseq), which is what enters the count matrix.
    ``count_unit`` says which (``reads`` / ``molecules``). Molecules cannot be
    turned back into reads per category without the per-insert read counts, so
    no conversion is attempted; for UMI libraries the PCR duplicates appear as
    their own ``umi_duplicates`` column, and ``umi_duplicates + annotated_total``
    is the number of length-passed reads.
    The read-level discard categories are disjoint, as written by
    :mod:`exomir.reads.preprocess`: ``no_adapter`` (dropped), ``adapter_dimer``
    (insert 0 nt), ``too_short`` (1 nt to ``min_length - 1``), ``too_long``,
    ``no_umi`` (UMI protocols: UMI incomplete) and ``passed_reads``; together
    they are ``raw_reads``, and ``adapter_found = raw_reads - no_adapter``.
    (Should a JSON count the dimers inside ``too_short``, this is detected
    from the counts and undone.) ``multimapped_mirna`` is reported as given
    (reads whose best hits tie across miRNAs).

``results/qc/read_funnel_pct.tsv``
    The same columns as percentages, each over the denominator a small-RNA
    analyst expects: the read-level columns (``adapter_found`` ..
    ``passed_reads``; ``raw_reads`` itself is left out) over ``raw_reads``; ``umi_duplicates`` over length-passed
    reads (``umi_duplicates + annotated_total``, i.e. the duplication rate); the
    annotation categories over ``annotated_total`` (the biotype composition,
    comparable between UMI and non-UMI libraries). A second table keeps the
    count table integer-only. ``umi_duplicates`` is over ``passed_reads``
    (``umi_duplicates`` plus the passed molecules), the three long-insert
    columns over ``raw_reads``.

``results/qc/mirtrace_view.tsv``
    miRTrace's RNA classes per library, counted as miRTrace counts them
    (:func:`mirtrace_view`; mapping and conformance in ``docs/reads.md``).

``results/qc/length_distribution.tsv``
    Long table ``sample_id, category, length, reads`` from the preprocessing
    JSONs (``length_hist``: one histogram per read category ``passed``,
    ``adapter_dimer``, ``too_short``, ``too_long``, ``no_adapter``, ``no_umi``,
    lengths 0 to the longest read, zeros kept; counted in reads, also for UMI
    protocols). A JSON with a single histogram gives category ``all_inserts``.

``results/qc/library_qc.tsv`` and ``results/qc/passed_samples.txt``
    The verdict per library; see :func:`library_verdicts` for each metric and
    gate. ``passed_samples.txt`` lists the libraries with ``pass == true`` in
    sample-sheet order, one per line; later statistics use only these.
"""

from __future__ import annotations

import gzip
import heapq
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open
from exomir.reads.kit import mark_stopped
from exomir.reads.merge import read_dense_counts
from exomir.tables import write_table

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Read-level funnel columns (counted in reads).
READ_COLUMNS: tuple[str, ...] = (
    "raw_reads",
    "adapter_found",
    "adapter_dimer",
    "too_short",
    "too_long",
    "no_adapter",
    "no_umi",
    "passed_reads",
    "umi_duplicates",
)
#: Annotation categories that follow the contaminant categories.
MIRNA_CATEGORIES: tuple[str, ...] = ("mirna", "hairpin_other", "unassigned")
#: Informational annotation columns at the end of the funnel.
ANNOTATION_EXTRA: tuple[str, ...] = ("multimapped_mirna", "annotated_total")
#: Long-insert accounting (reads), after the annotation columns.
LONG_COLUMNS: tuple[str, ...] = (
    "no_adapter_short",
    "annotated_no_adapter",
    "annotated_too_long",
)
#: Columns of ``mirtrace_view.tsv`` (miRTrace's classes, then the reads it
#: does not type).
MIRTRACE_COLUMNS: tuple[str, ...] = (
    "miRNA",
    "rRNA",
    "tRNA",
    "artifact",
    "unknown",
    "typed_reads",
    "low_complexity",
    "shorter_than_18",
    "no_umi",
    "raw_reads",
)
#: Contaminant categories that are left out of the annotated fraction (numerator
#: and denominator): technical sequences and rRNA, which exceRpt removes before
#: genome mapping.
DEFAULT_PREFILTER_CATEGORIES: tuple[str, ...] = ("artifact", "rRNA")
#: Default haemolysis pair (numerator, denominator), miRBase names.
DEFAULT_HEMOLYSIS_PAIR: tuple[str, str] = ("hsa-miR-451a", "hsa-miR-23a-3p")
#: A miRNA counts as detected for ``n_mirnas_ge10`` at this many counts.
DETECTION_MIN_COUNT = 10
#: Scale that makes the MAD a consistent estimator of the SD for normal data.
MAD_SCALE = 1.4826

_LENGTH_KEYS = ("length_hist", "length_distribution", "lengths", "insert_lengths")


# --------------------------------------------------------------------------- #
# Gates
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class QCGates:
    """Per-library QC gates (config ``qc:`` section, analysis_spec §1.4.6).

    Attributes
    ----------
    min_raw_reads
        Fail below this many sequenced reads.
    min_mirna_reads
        Fail below this many miRNA counts (reads; molecules for UMI libraries).
    min_annotated_fraction
        Fail below this annotated fraction (see :func:`annotated_fraction`).
    max_adapter_dimer
        Fail above this share of reads that are adapter dimers (an insert of
        0 to ``adapter_dimer_max_insert`` nt). Short degraded inserts do not
        count here; they have their own metric and warning.
    warn_adapter_dimer
        Warn above this share.
    adapter_dimer_max_insert
        Longest insert (nt) still counted as an adapter dimer; 0 (default)
        means only adapter-adapter ligations with no insert at all.
    warn_short_inserts
        Warn above this share of reads with a short insert (longer than
        ``adapter_dimer_max_insert``, shorter than ``trimming.min_length``):
        degraded or low-input RNA rather than dimers.
    min_mirnas_ge10
        Fail with fewer miRNAs having >= 10 counts.
    hemolysis_mad_k
        Flag the haemolysis ratio above cohort median + k x MAD.
    max_a414
        Fail when the supplied A414 absorbance exceeds this.
    fail_on_hemolysis_flag
        If true, the ratio flag fails the library; by default it is a warning
        (spec: flag, keep the ratio as a covariate; exclude only on A414).
    prefilter_categories
        Contaminant categories left out of the annotated fraction.
    """

    min_raw_reads: float = 1_000_000
    min_mirna_reads: float = 100_000
    min_annotated_fraction: float = 0.5
    max_adapter_dimer: float = 0.5
    warn_adapter_dimer: float = 0.3
    adapter_dimer_max_insert: int = 0
    warn_short_inserts: float = 0.3
    min_mirnas_ge10: float = 100
    hemolysis_mad_k: float = 3.0
    max_a414: float = 0.3
    fail_on_hemolysis_flag: bool = False
    prefilter_categories: tuple[str, ...] = DEFAULT_PREFILTER_CATEGORIES

    @classmethod
    def from_mapping(cls, gates: Mapping[str, Any] | None) -> QCGates:
        """Build gates from the config ``qc:`` mapping; missing keys get defaults.

        Parameters
        ----------
        gates
            Config section; unknown keys are logged and ignored.

        Returns
        -------
        QCGates
            The gates.
        """
        gates = dict(gates or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(gates) - known)
        if unknown:
            log.warning("ignoring unknown qc keys: %s", ", ".join(unknown))
        kwargs: dict[str, Any] = {}
        for name in known & set(gates):
            value = gates[name]
            if name == "prefilter_categories":
                kwargs[name] = tuple(str(v) for v in value)
            elif name == "fail_on_hemolysis_flag":
                kwargs[name] = bool(value)
            elif name == "adapter_dimer_max_insert":
                kwargs[name] = int(value)
            else:
                kwargs[name] = float(value)
        return cls(**kwargs)


# --------------------------------------------------------------------------- #
# Loading per-library inputs
# --------------------------------------------------------------------------- #


def load_json(path: PathLike) -> dict[str, Any]:
    """Read one per-library JSON file.

    Parameters
    ----------
    path
        JSON file holding an object.

    Returns
    -------
    dict
        The parsed object.
    """
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _count(
    data: Mapping[str, Any], key: str, where: str, default: int | None = None
) -> int:
    """Return an integer count from a JSON mapping (integral floats accepted)."""
    if key not in data or data[key] is None:
        if default is None:
            raise ValueError(f"{where}: missing count {key!r}")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: {key!r} is not a number: {value!r}")
    if not float(value).is_integer() or value < 0:
        raise ValueError(f"{where}: {key!r} is not a count: {value!r}")
    return int(value)


def _is_umi(pre: Mapping[str, Any], sheet_row: Mapping[str, Any] | None) -> bool:
    """Whether a library's collapsed counts are UMI-deduplicated molecules."""
    candidates: list[Any] = [pre.get("umi"), pre.get("umi_scheme")]
    for key in ("protocol_settings", "protocol"):
        settings = pre.get(key)
        if isinstance(settings, Mapping):
            candidates += [settings.get("umi"), settings.get("umi_scheme")]
    if sheet_row is not None:
        candidates.append(sheet_row.get("umi_scheme"))
    for value in candidates:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() not in ("", "none", "false", "no")
    return _count(pre, "umi_duplicates", "preprocess", default=0) > 0


def _short_insert_split(pre: Mapping[str, Any], where: str) -> tuple[int, int]:
    """``(adapter_dimer, too_short)`` as disjoint counts.

    If the preprocessing counts dimers inside ``too_short`` (detected when
    ``adapter_found == too_short + too_long + passed_reads`` holds but the
    disjoint identity does not), the dimers are subtracted from ``too_short``.
    """
    dimer = _count(pre, "adapter_dimer", where)
    short = _count(pre, "too_short", where)
    found = _count(pre, "adapter_found", where)
    long_ = _count(pre, "too_long", where)
    passed = _count(pre, "passed_reads", where)
    if (
        found != dimer + short + long_ + passed
        and found == short + long_ + passed
        and short >= dimer
    ):
        return dimer, short - dimer
    return dimer, short


def _annotation_counts(
    ann: Mapping[str, Any], contaminants: Sequence[str], where: str
) -> dict[str, int]:
    """Annotation categories of one library, in funnel column order."""
    nested = ann.get("categories")
    data: Mapping[str, Any] = nested if isinstance(nested, Mapping) else ann
    out = {c: _count(data, c, where) for c in (*contaminants, *MIRNA_CATEGORIES)}
    out["multimapped_mirna"] = _count(data, "multimapped_mirna", where, default=0)
    disjoint = sum(out[c] for c in (*contaminants, *MIRNA_CATEGORIES))
    out["annotated_total"] = _count(data, "total", where, default=disjoint)
    known = {*contaminants, *MIRNA_CATEGORIES, *ANNOTATION_EXTRA, "total"}
    extra = sorted(
        k
        for k, v in data.items()
        if k not in known and isinstance(v, int | float) and not isinstance(v, bool)
    )
    if extra:
        log.warning("%s: categories not in config ignored: %s", where, ", ".join(extra))
    return out


def _multimapped_is_separate(
    row: Mapping[str, int], contaminants: Sequence[str]
) -> bool:
    """Tell whether multimapped miRNA reads are outside ``mirna`` in the total."""
    disjoint = sum(int(row[c]) for c in (*contaminants, *MIRNA_CATEGORIES))
    mm = int(row["multimapped_mirna"])
    total = int(row["annotated_total"])
    return mm > 0 and total != disjoint and total == disjoint + mm


# --------------------------------------------------------------------------- #
# Read funnel
# --------------------------------------------------------------------------- #


def funnel_columns(contaminants: Sequence[str]) -> list[str]:
    """Column order of ``read_funnel.tsv`` (without ``sample_id``).

    Parameters
    ----------
    contaminants
        Contaminant categories in config order.

    Returns
    -------
    list[str]
        Column names.
    """
    clash = sorted(
        set(contaminants)
        & {*READ_COLUMNS, *MIRNA_CATEGORIES, *ANNOTATION_EXTRA, *LONG_COLUMNS}
    )
    if clash:
        raise ValueError(
            f"contaminant category names clash with funnel columns: {clash}"
        )
    return [
        *READ_COLUMNS,
        *contaminants,
        *MIRNA_CATEGORIES,
        *ANNOTATION_EXTRA,
        *LONG_COLUMNS,
        "count_unit",
    ]


def read_funnel(
    preprocess: Mapping[str, Mapping[str, Any]],
    annotation: Mapping[str, Mapping[str, Any]],
    contaminants: Sequence[str],
    samples: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-library read funnel (counts) from the per-library JSONs.

    Parameters
    ----------
    preprocess
        ``sample_id -> preprocess JSON`` (parsed); mapping order = row order.
    annotation
        ``sample_id -> annotation JSON`` (parsed), same samples.
    contaminants
        Contaminant categories in config order.
    samples
        Optional sample sheet; its ``umi_scheme`` column is used when the
        preprocessing JSON does not say whether UMIs were used.

    Returns
    -------
    pandas.DataFrame
        Index ``sample_id``; columns :func:`funnel_columns`; counts ``int64``.
    """
    if set(preprocess) != set(annotation):
        diff = sorted(set(preprocess) ^ set(annotation))
        raise ValueError(
            f"preprocess and annotation inputs differ for: {', '.join(diff)}"
        )
    sheet = _sheet_rows(samples)
    columns = funnel_columns(contaminants)
    rows = []
    for sample, pre in preprocess.items():
        where = f"preprocess JSON of {sample}"
        raw = _count(pre, "raw_reads", where)
        found = _count(pre, "adapter_found", where)
        dimer, short = _short_insert_split(pre, where)
        row: dict[str, Any] = {
            "raw_reads": raw,
            "adapter_found": found,
            "adapter_dimer": dimer,
            "too_short": short,
            "too_long": _count(pre, "too_long", where),
            "no_adapter": _count(pre, "no_adapter", where, default=max(raw - found, 0)),
            "no_umi": _count(pre, "no_umi", where, default=0),
            "passed_reads": _count(pre, "passed_reads", where),
            "umi_duplicates": _count(pre, "umi_duplicates", where, default=0),
        }
        where_ann = f"annotation JSON of {sample}"
        ann = annotation[sample]
        row.update(_annotation_counts(ann, contaminants, where_ann))
        row["count_unit"] = "molecules" if _is_umi(pre, sheet.get(sample)) else "reads"
        molecules = pre.get("molecules")
        if isinstance(molecules, int) and molecules != row["annotated_total"]:
            log.warning(
                "%s: annotation total %d != collapsed molecules %d",
                sample,
                row["annotated_total"],
                molecules,
            )
        long = ann.get("long_inserts")
        if isinstance(long, Mapping):
            # long inserts (reads without the adapter, too-long inserts) were
            # annotated: their reads join the categories and the total
            extra = _annotation_counts(long, contaminants, f"{where_ann} (long)")
            for key, value in extra.items():
                row[key] += value
            short = _count(pre, "no_adapter_short", where, default=0)
            row["no_adapter_short"] = short
            row["annotated_no_adapter"] = row["no_adapter"] - short
            row["annotated_too_long"] = row["too_long"]
            if extra["annotated_total"] != row["no_adapter"] - short + row["too_long"]:
                log.warning(
                    "%s: %d long-insert reads annotated, %d expected",
                    sample,
                    extra["annotated_total"],
                    row["no_adapter"] - short + row["too_long"],
                )
        else:  # written before long inserts were annotated: none was
            row["no_adapter_short"] = row["no_adapter"]
            row["annotated_no_adapter"] = row["annotated_too_long"] = 0
        rows.append(row)
    funnel = pd.DataFrame(rows, index=pd.Index(list(preprocess), name="sample_id"))
    funnel = funnel.reindex(columns=columns)
    count_cols = [c for c in columns if c != "count_unit"]
    funnel[count_cols] = funnel[count_cols].astype(np.int64)
    return funnel


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = num.astype(float)
    den = den.astype(float)
    return (num / den.where(den > 0)).astype(float)


def funnel_percentages(
    funnel: pd.DataFrame, contaminants: Sequence[str]
) -> pd.DataFrame:
    """Percentages for ``read_funnel_pct.tsv`` (denominators in the module doc).

    Parameters
    ----------
    funnel
        Output of :func:`read_funnel`.
    contaminants
        Contaminant categories in config order.

    Returns
    -------
    pandas.DataFrame
        Same index; float percentages (NaN where the denominator is 0) and
        ``count_unit``.
    """
    out = pd.DataFrame(index=funnel.index)
    for col in READ_COLUMNS[1:-1]:
        out[col] = 100 * _ratio(funnel[col], funnel["raw_reads"])
    out["umi_duplicates"] = 100 * _ratio(
        funnel["umi_duplicates"], funnel["passed_reads"]
    )
    for col in (*contaminants, *MIRNA_CATEGORIES, "multimapped_mirna"):
        out[col] = 100 * _ratio(funnel[col], funnel["annotated_total"])
    for col in LONG_COLUMNS:
        out[col] = 100 * _ratio(funnel[col], funnel["raw_reads"])
    out["count_unit"] = funnel["count_unit"]
    return out


def annotated_fraction(
    funnel: pd.DataFrame,
    contaminants: Sequence[str],
    prefilter: Iterable[str] = DEFAULT_PREFILTER_CATEGORIES,
) -> pd.Series:
    """Share of aligned inserts that fall on annotated small RNA.

    Our analogue of the ERCC exRNA / exceRpt ``transcriptome:genome >= 0.5``
    gate. exceRpt removes technical sequences (UniVec) and rRNA, maps the rest
    to the genome, and asks which share of genome-mapped reads falls on
    annotated transcripts. We do not map to the genome, so:

    - numerator: ``mirna + hairpin_other`` (+ ``multimapped_mirna`` when the
      annotation counts it outside ``mirna``) + every contaminant category
      except ``prefilter`` (e.g. tRNA, snoRNA/snRNA, YRNA when configured);
    - denominator: numerator + ``unassigned``.

    ``unassigned`` also holds non-human and junk inserts that exceRpt would not
    count as genome-mapped, so this is a conservative (lower) estimate of the
    exceRpt ratio.

    Parameters
    ----------
    funnel
        Output of :func:`read_funnel`.
    contaminants
        Contaminant categories in config order.
    prefilter
        Categories left out of numerator and denominator.

    Returns
    -------
    pandas.Series
        Fraction per library (NaN when the denominator is 0).
    """
    pre = set(prefilter)
    bio = [c for c in contaminants if c not in pre]
    num = funnel["mirna"] + funnel["hairpin_other"] + funnel[bio].sum(axis=1)
    sep = funnel.apply(lambda r: _multimapped_is_separate(r, contaminants), axis=1)
    num = num + funnel["multimapped_mirna"].where(sep.astype(bool), 0)
    return _ratio(num, num + funnel["unassigned"]).rename("annotated_fraction")


def mirtrace_view(
    preprocess: Mapping[str, Mapping[str, Any]],
    annotation: Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """Count reads per miRTrace RNA class, to compare with miRTrace side by side.

    From the ``mirtrace_view`` of each annotation JSON (see
    :func:`exomir.reads.annotate.mirtrace_view`) and the read-level counts.
    Counted in reads (UMI libraries too: duplicates included, as miRTrace
    counts them). ``typed_reads`` (the sum of the five classes) is
    miRTrace's denominator; ``low_complexity``, ``shorter_than_18``
    (``adapter_dimer + too_short + no_adapter_short`` and the annotated
    inserts of 16-17 nt) and ``no_umi`` are the reads it does not type; all
    together are ``raw_reads``. Percentage columns ``<class>_pct`` are over
    ``typed_reads``. Libraries whose JSON has no view (written by an older
    exomir) are left out.

    Parameters
    ----------
    preprocess, annotation
        ``sample_id -> JSON`` (parsed), same samples; order = row order.

    Returns
    -------
    pandas.DataFrame
        Columns ``sample_id``, :data:`MIRTRACE_COLUMNS`, ``<class>_pct``.
    """
    rows = []
    for sample, pre in preprocess.items():
        view = annotation.get(sample, {}).get("mirtrace_view")
        if not isinstance(view, Mapping):
            continue
        where = f"annotation JSON of {sample} (mirtrace_view)"
        pwhere = f"preprocess JSON of {sample}"
        row: dict[str, Any] = {"sample_id": sample}
        for c in MIRTRACE_COLUMNS[:5]:
            row[c] = _count(view, c, where)
        row["typed_reads"] = sum(row[c] for c in MIRTRACE_COLUMNS[:5])
        row["low_complexity"] = _count(view, "low_complexity", where)
        dimer, short = _short_insert_split(pre, pwhere)
        row["shorter_than_18"] = (
            _count(view, "shorter_than_18", where)
            + dimer
            + short
            + _count(pre, "no_adapter_short", pwhere, default=0)
        )
        row["no_umi"] = _count(pre, "no_umi", pwhere, default=0)
        row["raw_reads"] = _count(pre, "raw_reads", pwhere)
        for c in MIRTRACE_COLUMNS[:5]:
            row[f"{c}_pct"] = (
                100.0 * row[c] / row["typed_reads"] if row["typed_reads"] else math.nan
            )
        rows.append(row)
    columns = [
        "sample_id",
        *MIRTRACE_COLUMNS,
        *(f"{c}_pct" for c in MIRTRACE_COLUMNS[:5]),
    ]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- #
# Length distribution
# --------------------------------------------------------------------------- #


def _hist_items(hist: Any, where: str) -> list[tuple[int, int]]:
    """(length, reads) pairs from a histogram given as a mapping or list."""
    if isinstance(hist, Mapping):
        items = list(hist.items())
    elif isinstance(hist, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in hist
    ):
        items = list(enumerate(hist))
    elif isinstance(hist, list):
        items = []
        for rec in hist:
            if not isinstance(rec, Mapping) or "length" not in rec:
                raise ValueError(f"{where}: unreadable length histogram entry {rec!r}")
            items.append((rec["length"], rec.get("reads", rec.get("count"))))
    else:
        raise ValueError(f"{where}: unreadable length histogram {type(hist).__name__}")
    out = []
    for length, reads in items:
        out.append((int(length), _count({"reads": reads}, "reads", where)))
    return out


def length_records(
    pre: Mapping[str, Any], where: str = "preprocess JSON"
) -> list[tuple[str, int, int]]:
    """``(category, length, reads)`` records from one preprocessing JSON.

    Accepted shapes of the histogram (under ``length_distribution``): a mapping
    ``length -> reads`` (category ``all_inserts``), a mapping
    ``category -> {length -> reads}``, a list of ``{length, reads[, category]}``
    records, or a list of reads indexed by length.

    Parameters
    ----------
    pre
        Parsed preprocessing JSON.
    where
        Label for error messages.

    Returns
    -------
    list[tuple[str, int, int]]
        Records (unsorted; zero counts kept).
    """
    key = next((k for k in _LENGTH_KEYS if k in pre), None)
    if key is None:
        log.warning("%s: no length distribution", where)
        return []
    hist = pre[key]
    if (
        isinstance(hist, Mapping)
        and hist
        and all(isinstance(v, Mapping | list) for v in hist.values())
    ):
        return [
            (str(cat), length, reads)
            for cat, sub in hist.items()
            for length, reads in _hist_items(sub, where)
        ]
    if isinstance(hist, list) and any(
        isinstance(r, Mapping) and "category" in r for r in hist
    ):
        return [
            (
                str(r.get("category", "all_inserts")),
                int(r["length"]),
                _count({"reads": r.get("reads", r.get("count"))}, "reads", where),
            )
            for r in hist
        ]
    return [
        ("all_inserts", length, reads) for length, reads in _hist_items(hist, where)
    ]


def length_distribution(preprocess: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Long length-distribution table for all libraries.

    Parameters
    ----------
    preprocess
        ``sample_id -> preprocess JSON`` (parsed); mapping order = sample order.

    Returns
    -------
    pandas.DataFrame
        Columns ``sample_id, category, length, reads``, sorted by sample order,
        category, length; equal (category, length) entries are summed.
    """
    frames = []
    for rank, (sample, pre) in enumerate(preprocess.items()):
        recs = length_records(pre, f"preprocess JSON of {sample}")
        if recs:
            df = pd.DataFrame(recs, columns=["category", "length", "reads"])
            df.insert(0, "sample_id", sample)
            df["_rank"] = rank
            frames.append(df)
    if not frames:
        return pd.DataFrame(
            {
                "sample_id": pd.Series(dtype=str),
                "category": pd.Series(dtype=str),
                "length": pd.Series(dtype=np.int64),
                "reads": pd.Series(dtype=np.int64),
            }
        )
    df = pd.concat(frames, ignore_index=True)
    df = df.groupby(["_rank", "sample_id", "category", "length"], as_index=False)[
        "reads"
    ].sum()
    df = df.sort_values(["_rank", "category", "length"], kind="stable")
    df = df.drop(columns="_rank").reset_index(drop=True)
    df[["length", "reads"]] = df[["length", "reads"]].astype(np.int64)
    return df


# --------------------------------------------------------------------------- #
# Complexity
# --------------------------------------------------------------------------- #


def collapsed_complexity(path: PathLike, top_n: int = 10) -> dict[str, float]:
    """Library complexity from a collapsed-insert FASTA.

    Records are ``>{sample}_{rank}_x{count}`` (``docs/CONTRACTS.md``); the file
    is streamed and only the headers are read.

    Parameters
    ----------
    path
        ``results/collapsed/{sample}.fa.gz`` (or uncompressed).
    top_n
        Number of most abundant inserts for the concentration metric.

    Returns
    -------
    dict[str, float]
        ``unique_inserts``; ``collapsed_total`` (reads, or molecules for UMI
        libraries); ``complexity`` = unique_inserts / collapsed_total;
        ``top10_fraction`` = share of the ``top_n`` most abundant inserts.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    unique = 0
    total = 0
    top: list[int] = []
    with opener(path, "rt", encoding="ascii") as fh:
        for line in fh:
            if not line.startswith(">"):
                continue
            name = line[1:].strip().split()[0]
            try:
                count = int(name.rsplit("_x", 1)[1])
            except (IndexError, ValueError):
                raise ValueError(f"{path}: header {name!r} has no _x<count>") from None
            unique += 1
            total += count
            if len(top) < top_n:
                heapq.heappush(top, count)
            elif count > top[0]:
                heapq.heapreplace(top, count)
    return {
        "unique_inserts": float(unique),
        "collapsed_total": float(total),
        "complexity": unique / total if total else math.nan,
        "top10_fraction": sum(top) / total if total else math.nan,
    }


def complexity_table(
    preprocess: Mapping[str, Mapping[str, Any]],
    collapsed_files: Mapping[str, PathLike] | None = None,
    top_n: int = 10,
) -> pd.DataFrame:
    """Library complexity per library.

    ``unique_inserts`` and the collapsed total (``molecules``: reads, or
    molecules for UMI libraries) come from the preprocessing JSON when present,
    otherwise from the collapsed FASTA; ``top10_fraction`` needs the FASTA.

    Parameters
    ----------
    preprocess
        ``sample_id -> preprocess JSON`` (parsed).
    collapsed_files
        Optional ``sample_id -> results/collapsed/{sample}.fa.gz``.
    top_n
        Number of most abundant inserts for ``top10_fraction``.

    Returns
    -------
    pandas.DataFrame
        Index ``sample_id``; ``unique_inserts``, ``complexity`` (unique inserts
        per collapsed read/molecule), ``top10_fraction`` (NaN when unknown).
    """
    rows = {}
    for sample, pre in preprocess.items():
        where = f"preprocess JSON of {sample}"
        row = {
            "unique_inserts": math.nan,
            "total": math.nan,
            "top10_fraction": math.nan,
        }
        if "unique_inserts" in pre and "molecules" in pre:
            row["unique_inserts"] = float(_count(pre, "unique_inserts", where))
            row["total"] = float(_count(pre, "molecules", where))
        if collapsed_files and sample in collapsed_files:
            fa = collapsed_complexity(collapsed_files[sample], top_n)
            row["top10_fraction"] = fa["top10_fraction"]
            if math.isnan(row["unique_inserts"]):
                row["unique_inserts"] = fa["unique_inserts"]
                row["total"] = fa["collapsed_total"]
            elif fa["unique_inserts"] != row["unique_inserts"]:
                log.warning(
                    "%s: %d unique inserts in the FASTA, %d in the JSON",
                    sample,
                    fa["unique_inserts"],
                    row["unique_inserts"],
                )
        row["complexity"] = (
            row["unique_inserts"] / row["total"] if row["total"] > 0 else math.nan
        )
        rows[sample] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "sample_id"
    return df.reindex(columns=["unique_inserts", "complexity", "top10_fraction"])


# --------------------------------------------------------------------------- #
# Haemolysis
# --------------------------------------------------------------------------- #


def _feature_counts(counts: pd.DataFrame, name: str) -> pd.Series | None:
    """Sum the counts of ``name``, also inside identical-sequence groups ``a/b``."""
    hits = [m for m in counts.index if name in str(m).split("/")]
    if not hits:
        return None
    return counts.loc[hits].sum(axis=0)


def hemolysis_log2ratio(
    counts: pd.DataFrame, pair: tuple[str, str] = DEFAULT_HEMOLYSIS_PAIR
) -> pd.Series:
    """``log2((n_451a + 1) / (n_23a + 1))`` on normalised counts.

    Counts are normalised to reads per million **miRNA** reads (RPM, miRNA-only
    library size), which does not depend on the rest of the cohort; the
    pseudocount is added on that scale (analysis_spec §1.4.4).

    Parameters
    ----------
    counts
        miRNAs x samples counts (``mirna_counts.tsv``).
    pair
        (numerator, denominator) miRNA names.

    Returns
    -------
    pandas.Series
        Per sample; NaN for libraries without miRNA counts or with neither
        miRNA of the pair detected (no flag then).
    """
    num = _feature_counts(counts, pair[0])
    den = _feature_counts(counts, pair[1])
    if num is None and den is None:
        log.warning("haemolysis pair %s / %s not in the count matrix", *pair)
        return pd.Series(np.nan, index=counts.columns, name="hemolysis_log2ratio")
    zeros = pd.Series(0, index=counts.columns)
    num = zeros if num is None else num
    den = zeros if den is None else den
    size = counts.sum(axis=0).astype(float)
    scale = 1e6 / size.where(size > 0)
    ratio = np.log2((num * scale + 1) / (den * scale + 1))
    # neither miRNA detected: the ratio would be log2(1/1) = 0 without data
    ratio = ratio.where((num + den) > 0)
    return ratio.astype(float).rename("hemolysis_log2ratio")


@dataclass(frozen=True)
class MadThreshold:
    """Cohort outlier threshold ``median + k * MAD``.

    Attributes
    ----------
    median
        Cohort median.
    mad
        Scaled median absolute deviation (x 1.4826).
    k
        Multiplier.
    threshold
        ``median + k * mad`` (NaN if the cohort is too small).
    n
        Libraries in the cohort.
    """

    median: float
    mad: float
    k: float
    threshold: float
    n: int


def mad_threshold(values: pd.Series, k: float, min_n: int = 3) -> MadThreshold:
    """Upper outlier threshold from the cohort median and scaled MAD.

    Parameters
    ----------
    values
        Cohort values; NaN ignored.
    k
        Number of MADs above the median.
    min_n
        Below this many values the threshold is NaN (no flag).

    Returns
    -------
    MadThreshold
        The statistics and the threshold.
    """
    x = values.dropna().to_numpy(dtype=float)
    if len(x) < min_n:
        return MadThreshold(math.nan, math.nan, k, math.nan, len(x))
    med = float(np.median(x))
    mad = MAD_SCALE * float(np.median(np.abs(x - med)))
    return MadThreshold(med, mad, k, med + k * mad, len(x))


# --------------------------------------------------------------------------- #
# Verdicts
# --------------------------------------------------------------------------- #


def _fmt_thr(value: float) -> str:
    value = float(value)
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


def _fmt_frac(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _truthy(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if value is pd.NA:
        return False
    if isinstance(value, bool | np.bool_):
        return bool(value)
    return str(value).strip().lower() in ("true", "1", "yes", "y")


def _float_or_nan(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _sheet_rows(samples: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    if samples is None:
        return {}
    return {str(r["sample_id"]): dict(r) for r in samples.to_dict("records")}


def _short_name(name: str) -> str:
    """``hsa-miR-451a`` -> ``miR-451a`` for messages."""
    parts = name.split("-", 1)
    return (
        parts[1]
        if len(parts) == 2 and parts[1].lower().startswith(("mir", "let"))
        else name
    )


def dimer_reads(
    funnel: pd.DataFrame, lengths: pd.DataFrame | None, max_insert: int
) -> pd.Series:
    """Adapter-dimer reads per library: inserts of 0 to ``max_insert`` nt.

    An adapter dimer is a ligation of the 5' adapter straight to the 3' one,
    i.e. a read that starts with the 3' adapter (insert 0 nt). Inserts of a
    few nt (``max_insert`` > 0) can be counted as dimers too when a kit's
    adapters leave stray bases; they are taken from the ``too_short`` length
    histogram. Longer short inserts are degraded RNA, not dimers.

    Parameters
    ----------
    funnel
        Output of :func:`read_funnel`.
    lengths
        Long length table (:func:`length_distribution`) or ``None``.
    max_insert
        Longest insert counted as a dimer (nt).

    Returns
    -------
    pandas.Series
        Reads per library (``int64``), indexed like ``funnel``.
    """
    dimers = funnel["adapter_dimer"].astype(np.int64).copy()
    if max_insert <= 0:
        return dimers
    if lengths is None or lengths.empty:
        log.warning(
            "qc.adapter_dimer_max_insert = %d but no length histogram: only "
            "0-nt inserts are counted as adapter dimers",
            max_insert,
        )
        return dimers
    sel = lengths[
        (lengths["category"] == "too_short")
        & (lengths["length"] >= 1)
        & (lengths["length"] <= max_insert)
    ]
    extra = sel.groupby("sample_id")["reads"].sum()
    extra = extra.reindex(funnel.index, fill_value=0).astype(np.int64)
    return dimers + np.minimum(extra, funnel["too_short"].astype(np.int64))


def library_verdicts(
    funnel: pd.DataFrame,
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    gates: QCGates | Mapping[str, Any] | None = None,
    contaminants: Sequence[str] = (),
    complexity: pd.DataFrame | None = None,
    hemolysis_pair: tuple[str, str] = DEFAULT_HEMOLYSIS_PAIR,
    lengths: pd.DataFrame | None = None,
    min_length: int | None = None,
) -> pd.DataFrame:
    """Per-library QC verdict (``library_qc.tsv``).

    Metrics
    -------
    - ``mirna_reads``: miRNA counts of the library in the merged matrix (the
      counts that enter the statistics; molecules for UMI libraries).
    - ``annotated_fraction``: :func:`annotated_fraction`.
    - ``adapter_dimer_share``: adapter dimers / ``raw_reads``; a dimer is a
      read whose insert is 0 to ``adapter_dimer_max_insert`` nt (default 0:
      the two adapters ligated to each other). See :func:`dimer_reads`.
    - ``short_insert_share``: the other inserts shorter than the minimum
      length (``adapter_dimer + too_short - dimers``) / ``raw_reads``:
      degraded or fragmented RNA (e.g. 1-15 nt), which adapter-dimer
      suppression in the kit cannot remove and which says something else
      about the sample than dimers do. Together the two shares are the
      spec's "insert < 16 nt" share.
    - ``n_mirnas_ge10``: miRNAs with >= 10 counts in the merged matrix.
    - ``hemolysis_log2ratio``: :func:`hemolysis_log2ratio`; the cohort
      threshold is median + k x MAD (scaled MAD) over the libraries not
      excluded in the sheet; ``hemolysis_flag`` marks libraries above it.
    - ``hemolysis_a414`` from the sheet (optional).
    - complexity columns from :func:`complexity_table` (``unique_inserts`` and
      ``complexity`` from the preprocessing JSON, ``top10_fraction`` from the
      collapsed FASTA when given), and ``umi_duplicate_rate`` = umi_duplicates / (umi_duplicates +
      annotated_total) for UMI libraries.

    Gates (``reasons``, each fails the library): raw reads, miRNA reads,
    annotated fraction, adapter-dimer share, miRNAs >= 10, A414, manual
    ``exclude`` in the sheet. Warnings (``warnings``, do not fail): adapter-dimer
    share above the warn level, short-insert share above
    ``warn_short_inserts``, haemolysis ratio flag (fails only with
    ``fail_on_hemolysis_flag``). A library below the depth gate
    (``min_raw_reads``) is told so, with the hint that small test libraries
    need smaller gates (config/README.md).

    Parameters
    ----------
    funnel
        Output of :func:`read_funnel` (row order = output order).
    counts
        miRNAs x samples merged counts.
    samples
        Sample sheet (``sample_id``; optional ``exclude``, ``exclude_reason``,
        ``hemolysis_a414``).
    gates
        :class:`QCGates` or the config ``qc:`` mapping.
    contaminants
        Contaminant categories in config order.
    complexity
        Optional per-sample table with ``unique_inserts``, ``complexity``,
        ``top10_fraction``.
    hemolysis_pair
        (numerator, denominator) miRNA names.
    lengths
        Long length table (:func:`length_distribution`); needed only when
        ``adapter_dimer_max_insert`` > 0 (1-N-nt inserts are counted from the
        ``too_short`` histogram).
    min_length
        ``trimming.min_length`` (for the message of the short-insert warning).

    Returns
    -------
    pandas.DataFrame
        One row per library, columns ``sample_id, pass, reasons, warnings`` and
        the metrics.
    """
    g = gates if isinstance(gates, QCGates) else QCGates.from_mapping(gates)
    ids = list(funnel.index)
    missing = [s for s in ids if s not in counts.columns]
    if missing:
        raise ValueError(
            f"libraries missing from the count matrix: {', '.join(missing)}"
        )
    counts = counts[ids]
    sheet = _sheet_rows(samples)
    unknown = [s for s in ids if s not in sheet]
    if unknown:
        raise ValueError(f"libraries not in the sample sheet: {', '.join(unknown)}")

    mirna_reads = counts.sum(axis=0).astype(np.int64)
    n_ge10 = (counts >= DETECTION_MIN_COUNT).sum(axis=0).astype(np.int64)
    frac = annotated_fraction(funnel, contaminants, g.prefilter_categories)
    dimers = dimer_reads(funnel, lengths, g.adapter_dimer_max_insert)
    dimer_share = _ratio(dimers, funnel["raw_reads"])
    short_share = _ratio(
        funnel["adapter_dimer"] + funnel["too_short"] - dimers, funnel["raw_reads"]
    )
    short_label = (
        f"short inserts ({g.adapter_dimer_max_insert + 1}-{min_length - 1} nt)"
        if min_length is not None and min_length - 1 > g.adapter_dimer_max_insert
        else "short inserts (below trimming.min_length)"
    )
    dimer_label = (
        "adapter-dimer share (insert 0 nt)"
        if g.adapter_dimer_max_insert == 0
        else f"adapter-dimer share (insert 0-{g.adapter_dimer_max_insert} nt)"
    )
    ratio = hemolysis_log2ratio(counts, hemolysis_pair)
    excluded = pd.Series({s: _truthy(sheet[s].get("exclude")) for s in ids})
    a414 = pd.Series({s: _float_or_nan(sheet[s].get("hemolysis_a414")) for s in ids})
    mad = mad_threshold(ratio[~excluded], g.hemolysis_mad_k)
    hemo_flag = ratio > mad.threshold  # False when either side is NaN
    umi = funnel["count_unit"] == "molecules"
    umi_rate = _ratio(funnel["umi_duplicates"], funnel["passed_reads"]).where(umi)
    short_num, short_den = (_short_name(n) for n in hemolysis_pair)

    rows = []
    for s in ids:
        unit = funnel.at[s, "count_unit"]
        reasons: list[str] = []
        warnings: list[str] = []
        raw = int(funnel.at[s, "raw_reads"])
        if raw < g.min_raw_reads:
            reasons.append(
                f"raw reads {raw:,} < {_fmt_thr(g.min_raw_reads)} (gate "
                "qc.min_raw_reads): below the depth gate; small test libraries "
                "need smaller gates (see 'QC gates' in config/README.md)"
            )
        mr = int(mirna_reads[s])
        if mr < g.min_mirna_reads:
            reasons.append(
                f"mirna {unit} {mr:,} < {_fmt_thr(g.min_mirna_reads)} "
                "(gate qc.min_mirna_reads)"
            )
        fr = float(frac[s])
        if not fr >= g.min_annotated_fraction:
            reasons.append(
                f"annotated fraction {_fmt_frac(fr)} < "
                f"{_fmt_thr(g.min_annotated_fraction)} (gate qc.min_annotated_fraction)"
            )
        ds = float(dimer_share[s])
        if ds > g.max_adapter_dimer:
            reasons.append(
                f"{dimer_label} {_fmt_frac(ds)} > {_fmt_thr(g.max_adapter_dimer)} "
                "(gate qc.max_adapter_dimer)"
            )
        elif ds > g.warn_adapter_dimer:
            warnings.append(
                f"{dimer_label} {_fmt_frac(ds)} > {_fmt_thr(g.warn_adapter_dimer)} "
                "(warn qc.warn_adapter_dimer)"
            )
        ss = float(short_share[s])
        if ss > g.warn_short_inserts:
            warnings.append(
                f"{short_label} {_fmt_frac(ss)} > {_fmt_thr(g.warn_short_inserts)} "
                "(warn qc.warn_short_inserts): degraded or fragmented RNA, not "
                "adapter dimers"
            )
        n10 = int(n_ge10[s])
        if n10 < g.min_mirnas_ge10:
            reasons.append(
                f"miRNAs with >= {DETECTION_MIN_COUNT} {unit} {n10:,} < "
                f"{_fmt_thr(g.min_mirnas_ge10)} (gate qc.min_mirnas_ge10)"
            )
        a = float(a414[s])
        if a > g.max_a414:
            reasons.append(
                f"hemolysis A414 {a:.3f} > {_fmt_thr(g.max_a414)} (gate qc.max_a414)"
            )
        if bool(hemo_flag[s]):
            text = (
                f"hemolysis log2({short_num}/{short_den}) {ratio[s]:.2f} > "
                f"{mad.threshold:.2f} (cohort median {mad.median:.2f} + "
                f"{_fmt_thr(mad.k)} x MAD {mad.mad:.2f}; flag qc.hemolysis_mad_k)"
            )
            (reasons if g.fail_on_hemolysis_flag else warnings).append(text)
        reason_text = ""
        if excluded[s]:
            given = sheet[s].get("exclude_reason")
            given = "" if given is None or pd.isna(given) else str(given).strip()
            reason_text = given
            reasons.append(
                f"excluded in sample sheet: {given}"
                if given
                else "excluded in sample sheet (no reason given)"
            )
        rows.append(
            {
                "sample_id": s,
                "pass": not reasons,
                "reasons": "; ".join(reasons),
                "warnings": "; ".join(warnings),
                "raw_reads": raw,
                "passed_reads": int(funnel.at[s, "passed_reads"]),
                "mirna_reads": mr,
                "count_unit": unit,
                "annotated_fraction": fr,
                "adapter_dimer_share": ds,
                "short_insert_share": ss,
                "n_mirnas_ge10": n10,
                "hemolysis_log2ratio": float(ratio[s]),
                "hemolysis_threshold": mad.threshold,
                "hemolysis_flag": bool(hemo_flag[s]),
                "hemolysis_a414": a,
                "unique_inserts": math.nan,
                "complexity": math.nan,
                "top10_fraction": math.nan,
                "umi_duplicate_rate": float(umi_rate[s]),
                "excluded": bool(excluded[s]),
                "exclude_reason": reason_text,
            }
        )
    out = pd.DataFrame(rows)
    if complexity is not None:
        for col in ("unique_inserts", "complexity", "top10_fraction"):
            if col in complexity.columns:
                out[col] = out["sample_id"].map(complexity[col]).astype(float)
    out["unique_inserts"] = out["unique_inserts"].round().astype("Int64")
    return out


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def format_table(df: pd.DataFrame, decimals: int = 6) -> pd.DataFrame:
    """Text version of a table for TSV output with fixed float formatting.

    Floats get ``decimals`` places, booleans ``true``/``false``, missing values
    an empty cell (``docs/CONTRACTS.md`` table conventions).

    Parameters
    ----------
    df
        Table to format.
    decimals
        Decimal places for float columns.

    Returns
    -------
    pandas.DataFrame
        All-string copy.
    """
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s.dtype):
            out[col] = s.map(lambda v: "" if pd.isna(v) else ("true" if v else "false"))
        elif pd.api.types.is_float_dtype(s.dtype):
            out[col] = s.map(lambda v: "" if pd.isna(v) else f"{v:.{decimals}f}")
        elif pd.api.types.is_integer_dtype(s.dtype):
            out[col] = s.map(lambda v: "" if pd.isna(v) else str(int(v)))
        else:
            out[col] = s.map(lambda v: "" if _is_missing(v) else str(v))
    return out


def _min_length(pre: Mapping[str, Mapping[str, Any]]) -> int | None:
    """``trimming.min_length`` as recorded in the preprocessing JSONs (if one)."""
    values = set()
    for data in pre.values():
        settings = data.get("trim_settings")
        if isinstance(settings, Mapping) and "min_length" in settings:
            values.add(int(settings["min_length"]))
    return values.pop() if len(values) == 1 else None


def run_read_qc(
    preprocess_files: Mapping[str, PathLike],
    annotation_files: Mapping[str, PathLike],
    mirna_counts: PathLike,
    samples: pd.DataFrame,
    *,
    gates: Mapping[str, Any] | None,
    contaminants: Sequence[str],
    funnel_out: PathLike,
    funnel_pct_out: PathLike,
    library_qc_out: PathLike,
    passed_out: PathLike,
    lengths_out: PathLike,
    collapsed_files: Mapping[str, PathLike] | None = None,
    hemolysis_pair: tuple[str, str] = DEFAULT_HEMOLYSIS_PAIR,
    mirtrace_out: PathLike | None = None,
) -> pd.DataFrame:
    """Compute and write all cohort read-QC tables.

    Libraries are reported in sample-sheet order.

    Parameters
    ----------
    preprocess_files
        ``sample_id -> results/preprocess/{sample}.json``.
    annotation_files
        ``sample_id -> results/annotate/{sample}.json``.
    mirna_counts
        ``results/counts/mirna_counts.tsv``.
    samples
        Sample sheet DataFrame.
    gates
        Config ``qc:`` section (see :class:`QCGates`).
    contaminants
        Contaminant categories in config order (``list(config["contaminants"])``).
    funnel_out, funnel_pct_out, library_qc_out, passed_out, lengths_out
        ``results/qc/read_funnel.tsv``, ``read_funnel_pct.tsv``,
        ``library_qc.tsv``, ``passed_samples.txt``, ``length_distribution.tsv``.
    collapsed_files
        Optional ``sample_id -> results/collapsed/{sample}.fa.gz`` for the
        complexity metrics.
    hemolysis_pair
        (numerator, denominator) miRNA names for the species.
    mirtrace_out
        Optional ``results/qc/mirtrace_view.tsv`` (:func:`mirtrace_view`).

    Returns
    -------
    pandas.DataFrame
        The verdict table (unformatted).
    """
    sheet_ids = [str(s) for s in samples["sample_id"]]
    unknown = sorted(set(preprocess_files) - set(sheet_ids))
    if unknown:
        raise ValueError(f"libraries not in the sample sheet: {', '.join(unknown)}")
    order = [s for s in sheet_ids if s in preprocess_files]
    pre = {s: load_json(preprocess_files[s]) for s in order}
    ann = {s: load_json(annotation_files[s]) for s in order if s in annotation_files}
    funnel = read_funnel(pre, ann, contaminants, samples)
    features, columns, matrix = read_dense_counts(mirna_counts)
    counts = pd.DataFrame(
        matrix.T, index=pd.Index(features, name="mirna"), columns=columns
    )
    complexity = complexity_table(pre, collapsed_files)
    lengths = length_distribution(pre)
    verdicts = library_verdicts(
        funnel,
        counts,
        samples,
        QCGates.from_mapping(gates),
        contaminants,
        complexity,
        hemolysis_pair,
        lengths=lengths,
        min_length=_min_length(pre),
    )
    verdicts = mark_stopped(verdicts, pre)  # protocol auto, kit undetermined

    write_table(format_table(funnel.reset_index()), funnel_out, exact=True)
    pct = funnel_percentages(funnel, contaminants)
    write_table(format_table(pct.reset_index(), decimals=4), funnel_pct_out, exact=True)
    write_table(format_table(verdicts), library_qc_out, exact=True)
    write_table(format_table(lengths), lengths_out, exact=True)
    if mirtrace_out is not None:
        write_table(
            format_table(mirtrace_view(pre, ann), decimals=4), mirtrace_out, exact=True
        )
    passed = verdicts.loc[verdicts["pass"], "sample_id"].tolist()
    with atomic_open(passed_out) as fh:
        fh.write("".join(f"{s}\n" for s in passed))
    n_fail = len(verdicts) - len(passed)
    log.info("library QC: %d passed, %d failed", len(passed), n_fail)
    for r in verdicts.itertuples():
        if r.reasons:
            log.info("%s failed: %s", r.sample_id, r.reasons)
    return verdicts
