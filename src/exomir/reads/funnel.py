"""Cohort read funnel, percentages, miRTrace view, lengths and complexity.

Design and details: docs/reads.md ("Read funnel tables").
"""

from __future__ import annotations

import gzip
import heapq
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.reads.settings import TOP_INSERTS

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

_LENGTH_KEYS = ("length_hist", "length_distribution", "lengths", "insert_lengths")

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


def _sheet_rows(samples: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    if samples is None:
        return {}
    return {str(r["sample_id"]): dict(r) for r in samples.to_dict("records")}


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
    otherwise from the collapsed FASTA; ``top10_fraction`` from the JSON's
    ``top_inserts_total`` (written by the library job since issue 22; with
    ``top_n`` = :data:`~exomir.reads.settings.TOP_INSERTS`), otherwise from
    the FASTA. Reading 150 collapsed FASTAs of 5 M-read libraries again took
    115 s of the QC job on 2 cores; the JSON takes no time.

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
        summed = pre.get("top_inserts_total") is not None and top_n == TOP_INSERTS
        if summed and "molecules" in pre:
            # the library job summed the top inserts: no second pass over the FASTA
            top = _count(pre, "top_inserts_total", where)
            total = _count(pre, "molecules", where)
            row["top10_fraction"] = top / total if total else math.nan
        elif collapsed_files and sample in collapsed_files:
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
