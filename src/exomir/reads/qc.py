"""Cohort read QC: the per-library verdicts and the writing of every QC table.

The funnel, percentages, miRTrace view and length tables are computed in
:mod:`exomir.reads.funnel`; this module judges each library against the
configured gates and writes all tables.

Outputs
-------
``results/qc/library_qc.tsv`` and ``results/qc/passed_samples.txt``
    The verdict per library; see :func:`library_verdicts` for each metric and
    gate. ``passed_samples.txt`` lists the libraries with ``pass == true`` in
    sample-sheet order, one per line; later statistics use only these.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open
from exomir.reads.funnel import (
    DEFAULT_PREFILTER_CATEGORIES,
    _ratio,
    _sheet_rows,
    annotated_fraction,
    complexity_table,
    funnel_percentages,
    length_distribution,
    load_json,
    mirtrace_view,
    read_funnel,
)
from exomir.reads.hemolysis import (
    DEFAULT_HEMOLYSIS_PAIR,
    MadThreshold,
    hemolysis_log2ratio,
    mad_threshold,
)
from exomir.reads.kit import mark_stopped
from exomir.reads.merge import read_dense_counts
from exomir.tables import write_table

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: A miRNA counts as detected for ``n_mirnas_ge10`` at this many counts.
DETECTION_MIN_COUNT = 10

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


@dataclass(frozen=True)
class _CohortMetrics:
    """Per-library metrics of the cohort, computed once for all verdicts."""

    mirna_reads: pd.Series
    n_ge10: pd.Series
    frac: pd.Series
    dimer_share: pd.Series
    short_share: pd.Series
    short_label: str
    dimer_label: str
    ratio: pd.Series
    excluded: pd.Series
    a414: pd.Series
    mad: MadThreshold
    hemo_flag: pd.Series
    umi_rate: pd.Series
    pair_names: tuple[str, str]


def _cohort_metrics(
    funnel: pd.DataFrame,
    counts: pd.DataFrame,
    sheet: Mapping[str, Mapping[str, Any]],
    g: QCGates,
    contaminants: Sequence[str],
    hemolysis_pair: tuple[str, str],
    lengths: pd.DataFrame | None,
    min_length: int | None,
) -> _CohortMetrics:
    """Compute the metrics :func:`library_verdicts` judges, for every library."""
    ids = list(funnel.index)
    dimers = dimer_reads(funnel, lengths, g.adapter_dimer_max_insert)
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
    mad = mad_threshold(ratio[~excluded], g.hemolysis_mad_k)
    umi = funnel["count_unit"] == "molecules"
    num, den = (_short_name(n) for n in hemolysis_pair)
    return _CohortMetrics(
        mirna_reads=counts.sum(axis=0).astype(np.int64),
        n_ge10=(counts >= DETECTION_MIN_COUNT).sum(axis=0).astype(np.int64),
        frac=annotated_fraction(funnel, contaminants, g.prefilter_categories),
        dimer_share=_ratio(dimers, funnel["raw_reads"]),
        short_share=_ratio(
            funnel["adapter_dimer"] + funnel["too_short"] - dimers, funnel["raw_reads"]
        ),
        short_label=short_label,
        dimer_label=dimer_label,
        ratio=ratio,
        excluded=excluded,
        a414=pd.Series({s: _float_or_nan(sheet[s].get("hemolysis_a414")) for s in ids}),
        mad=mad,
        hemo_flag=ratio > mad.threshold,  # False when either side is NaN
        umi_rate=_ratio(funnel["umi_duplicates"], funnel["passed_reads"]).where(umi),
        pair_names=(num, den),
    )


def _gate_messages(
    s: str, unit: str, raw: int, g: QCGates, m: _CohortMetrics
) -> tuple[list[str], list[str]]:
    """Failed gates (reasons) and warnings of one library, in report order."""
    reasons: list[str] = []
    warnings: list[str] = []
    if raw < g.min_raw_reads:
        reasons.append(
            f"raw reads {raw:,} < {_fmt_thr(g.min_raw_reads)} (gate "
            "qc.min_raw_reads): below the depth gate; small test libraries "
            "need smaller gates (see 'QC gates' in config/README.md)"
        )
    mr = int(m.mirna_reads[s])
    if mr < g.min_mirna_reads:
        reasons.append(
            f"mirna {unit} {mr:,} < {_fmt_thr(g.min_mirna_reads)} "
            "(gate qc.min_mirna_reads)"
        )
    fr = float(m.frac[s])
    if not fr >= g.min_annotated_fraction:
        reasons.append(
            f"annotated fraction {_fmt_frac(fr)} < "
            f"{_fmt_thr(g.min_annotated_fraction)} (gate qc.min_annotated_fraction)"
        )
    ds = float(m.dimer_share[s])
    if ds > g.max_adapter_dimer:
        reasons.append(
            f"{m.dimer_label} {_fmt_frac(ds)} > {_fmt_thr(g.max_adapter_dimer)} "
            "(gate qc.max_adapter_dimer)"
        )
    elif ds > g.warn_adapter_dimer:
        warnings.append(
            f"{m.dimer_label} {_fmt_frac(ds)} > {_fmt_thr(g.warn_adapter_dimer)} "
            "(warn qc.warn_adapter_dimer)"
        )
    ss = float(m.short_share[s])
    if ss > g.warn_short_inserts:
        warnings.append(
            f"{m.short_label} {_fmt_frac(ss)} > {_fmt_thr(g.warn_short_inserts)} "
            "(warn qc.warn_short_inserts): degraded or fragmented RNA, not "
            "adapter dimers"
        )
    n10 = int(m.n_ge10[s])
    if n10 < g.min_mirnas_ge10:
        reasons.append(
            f"miRNAs with >= {DETECTION_MIN_COUNT} {unit} {n10:,} < "
            f"{_fmt_thr(g.min_mirnas_ge10)} (gate qc.min_mirnas_ge10)"
        )
    a = float(m.a414[s])
    if a > g.max_a414:
        reasons.append(
            f"hemolysis A414 {a:.3f} > {_fmt_thr(g.max_a414)} (gate qc.max_a414)"
        )
    if bool(m.hemo_flag[s]):
        mad = m.mad
        text = (
            f"hemolysis log2({m.pair_names[0]}/{m.pair_names[1]}) "
            f"{m.ratio[s]:.2f} > {mad.threshold:.2f} (cohort median "
            f"{mad.median:.2f} + {_fmt_thr(mad.k)} x MAD {mad.mad:.2f}; "
            "flag qc.hemolysis_mad_k)"
        )
        (reasons if g.fail_on_hemolysis_flag else warnings).append(text)
    return reasons, warnings


def _library_row(
    s: str,
    funnel: pd.DataFrame,
    sheet: Mapping[str, Mapping[str, Any]],
    g: QCGates,
    m: _CohortMetrics,
) -> dict[str, Any]:
    """One row of ``library_qc.tsv``: verdict, reasons, warnings and metrics."""
    unit = funnel.at[s, "count_unit"]
    raw = int(funnel.at[s, "raw_reads"])
    reasons, warnings = _gate_messages(s, unit, raw, g, m)
    reason_text = ""
    if m.excluded[s]:
        given = sheet[s].get("exclude_reason")
        given = "" if given is None or pd.isna(given) else str(given).strip()
        reason_text = given
        reasons.append(
            f"excluded in sample sheet: {given}"
            if given
            else "excluded in sample sheet (no reason given)"
        )
    return {
        "sample_id": s,
        "pass": not reasons,
        "reasons": "; ".join(reasons),
        "warnings": "; ".join(warnings),
        "raw_reads": raw,
        "passed_reads": int(funnel.at[s, "passed_reads"]),
        "mirna_reads": int(m.mirna_reads[s]),
        "count_unit": unit,
        "annotated_fraction": float(m.frac[s]),
        "adapter_dimer_share": float(m.dimer_share[s]),
        "short_insert_share": float(m.short_share[s]),
        "n_mirnas_ge10": int(m.n_ge10[s]),
        "hemolysis_log2ratio": float(m.ratio[s]),
        "hemolysis_threshold": m.mad.threshold,
        "hemolysis_flag": bool(m.hemo_flag[s]),
        "hemolysis_a414": float(m.a414[s]),
        "unique_inserts": math.nan,
        "complexity": math.nan,
        "top10_fraction": math.nan,
        "umi_duplicate_rate": float(m.umi_rate[s]),
        "excluded": bool(m.excluded[s]),
        "exclude_reason": reason_text,
    }


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
    m = _cohort_metrics(
        funnel, counts, sheet, g, contaminants, hemolysis_pair, lengths, min_length
    )
    rows = [_library_row(s, funnel, sheet, g, m) for s in ids]
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
    gates: QCGates | Mapping[str, Any] | None,
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
        :class:`QCGates` or the config ``qc:`` section.
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
        gates if isinstance(gates, QCGates) else QCGates.from_mapping(gates),
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


@dataclass(frozen=True)
class ReadQCSettings:
    """What the ``read_qc`` job needs from the config, built once at parse time.

    Attributes
    ----------
    samples
        Library ids, in the order of the rule's per-library input lists.
    gates
        The ``qc:`` gates.
    contaminants
        Contaminant categories in config order.
    hemolysis_pair
        (numerator, denominator) miRNA names for the species.
    """

    samples: tuple[str, ...]
    gates: QCGates
    contaminants: tuple[str, ...]
    hemolysis_pair: tuple[str, str] = DEFAULT_HEMOLYSIS_PAIR


def read_qc_settings(cfg: Mapping[str, Any], samples: Sequence[str]) -> ReadQCSettings:
    """Build :class:`ReadQCSettings` from a validated config.

    Parameters
    ----------
    cfg
        Validated configuration.
    samples
        Library ids (the workflow's ``SAMPLES``).
    """
    species = str(cfg["reference"].get("species") or "hsa")
    return ReadQCSettings(
        samples=tuple(str(s) for s in samples),
        gates=QCGates.from_mapping(cfg.get("qc")),
        contaminants=tuple(str(c) for c in cfg["contaminants"]),
        hemolysis_pair=(f"{species}-miR-451a", f"{species}-miR-23a-3p"),
    )


def read_qc_step(
    *,
    preprocess: Sequence[PathLike],
    annotation: Sequence[PathLike],
    collapsed: Sequence[PathLike],
    counts: PathLike,
    samples_sheet: PathLike,
    funnel: PathLike,
    funnel_pct: PathLike,
    library_qc: PathLike,
    passed: PathLike,
    lengths: PathLike,
    mirtrace: PathLike | None,
    settings: ReadQCSettings,
) -> pd.DataFrame:
    """Check the per-library files, then compute and write the read-QC tables.

    Parameters
    ----------
    preprocess, annotation, collapsed
        Per-library JSONs and collapsed FASTAs, in ``settings.samples`` order
        (``collapsed`` may be empty).
    counts
        ``results/counts/mirna_counts.tsv``.
    samples_sheet
        The sample sheet.
    funnel, funnel_pct, library_qc, passed, lengths, mirtrace
        Output paths (see :func:`run_read_qc`); ``mirtrace`` may be None.
    settings
        :func:`read_qc_settings`.
    """
    from exomir.reads.integrity import verify_samples
    from exomir.tables import read_table

    ids = list(settings.samples)
    stats = dict(zip(ids, preprocess, strict=True))
    files: dict[str, dict[str, PathLike]] = {"stats": stats}
    if collapsed:
        files["collapsed"] = dict(zip(ids, collapsed, strict=True))
    manifests = dict(zip(ids, annotation, strict=True))
    # sizes and checksums recorded by the library job, before anything is read
    verify_samples(manifests, files)
    return run_read_qc(
        stats,
        manifests,
        counts,
        read_table(samples_sheet, "samples"),
        gates=settings.gates,
        contaminants=list(settings.contaminants),
        funnel_out=funnel,
        funnel_pct_out=funnel_pct,
        library_qc_out=library_qc,
        passed_out=passed,
        lengths_out=lengths,
        collapsed_files=files.get("collapsed"),
        hemolysis_pair=settings.hemolysis_pair,
        mirtrace_out=mirtrace,
    )
