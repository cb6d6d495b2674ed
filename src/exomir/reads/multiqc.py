"""MultiQC custom content for the read QC, and running MultiQC.

:func:`write_custom_content` turns the cohort QC tables of
:mod:`exomir.reads.funnel` into MultiQC custom-content files (``*_mqc.tsv`` /
``*_mqc.yaml`` with the configuration in the file header):

=============================================  ===========  =======================
file                                           plot type    content
=============================================  ===========  =======================
``exomir_general_stats_mqc.tsv``               generalstats QC pass, miRNA counts,
                                                            annotated fraction,
                                                            haemolysis ratio
``exomir_library_qc_mqc.tsv``                  table        verdict, reasons, gates
``exomir_read_funnel_mqc.tsv``                 bargraph     stacked read funnel
``exomir_length_distribution_mqc.yaml``        linegraph    insert lengths
``exomir_complexity_mqc.tsv``                  table        library complexity
``exomir_hemolysis_mqc.tsv``                   table        haemolysis ratio, A414
=============================================  ===========  =======================

:func:`run_multiqc` runs ``multiqc`` (subprocess) over those files plus any
trimmer logs (fastp JSON, cutadapt reports) into
``results/multiqc/multiqc_report.html`` (data in ``multiqc_report_data/``
beside it). :func:`make_multiqc_report` does both.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from exomir.atomic import atomic_open
from exomir.reads.funnel import MIRNA_CATEGORIES, READ_COLUMNS

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Section ids in report order (also the ``custom_content.order`` of MultiQC).
SECTION_IDS: tuple[str, ...] = (
    "exomir_library_qc",
    "exomir_read_funnel",
    "exomir_length_distribution",
    "exomir_complexity",
    "exomir_hemolysis",
)
#: Custom-content file names written by :func:`write_custom_content`.
CUSTOM_CONTENT_FILES: tuple[str, ...] = (
    "exomir_general_stats_mqc.tsv",
    "exomir_library_qc_mqc.tsv",
    "exomir_read_funnel_mqc.tsv",
    "exomir_length_distribution_mqc.yaml",
    "exomir_complexity_mqc.tsv",
    "exomir_hemolysis_mqc.tsv",
)

_UNITS_NOTE = (
    "Read-level categories are sequenced reads. For UMI libraries (QIAseq) the "
    "annotation categories are deduplicated molecules and PCR duplicates are "
    "shown as 'UMI duplicates'; for other libraries they are reads."
)

# Stacked-bar segments: funnel column -> (label, colour). Contaminant
# categories are inserted between hairpin_other and unassigned.
_FUNNEL_HEAD = {
    "mirna": ("miRNA", "#1b9e77"),
    "multimapped_mirna": ("miRNA, multimapped (outside miRNA)", "#66c2a5"),
    "hairpin_other": ("Hairpin, outside mature", "#a6d854"),
}
_FUNNEL_TAIL = {
    "unassigned": ("Unassigned", "#bdbdbd"),
    "umi_duplicates": ("UMI duplicates (PCR)", "#8da0cb"),
    "too_long": ("Too long (not annotated)", "#e5c494"),
    "too_short": ("Too short", "#fc8d62"),
    "adapter_dimer": ("Adapter dimer (0 nt insert)", "#d95f02"),
    "no_umi": ("No UMI", "#b3b3b3"),
    "no_adapter": ("No adapter (not annotated)", "#7f7f7f"),
    "other": ("Other / unaccounted", "#f0f0f0"),
}
_CONTAMINANT_COLOURS = (
    "#e78ac3", "#ffd92f", "#984ea3", "#377eb8", "#ff7f00", "#a65628", "#f781bf",
)  # fmt: skip


# --------------------------------------------------------------------------- #
# Writing custom content
# --------------------------------------------------------------------------- #


def _header(config: Mapping[str, Any]) -> str:
    """MultiQC custom-content header: the YAML config as ``#`` comment lines."""
    text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)
    return "".join(f"# {line}\n" for line in text.splitlines())


def _cell(value: Any, decimals: int = 6) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{decimals}f}"
    return str(value).replace("\t", " ")


def _write_mqc_tsv(
    path: Path, config: Mapping[str, Any], table: pd.DataFrame, decimals: int = 6
) -> Path:
    """Write a ``_mqc.tsv``: header config, then ``Sample`` + columns."""
    with atomic_open(path) as fh:
        fh.write(_header(config))
        fh.write("\t".join(["Sample", *map(str, table.columns)]) + "\n")
        for sample, row in table.iterrows():
            cells = [_cell(v, decimals) for v in row.tolist()]
            fh.write("\t".join([str(sample), *cells]) + "\n")
    return path


def _read_table(path: PathLike) -> pd.DataFrame:
    """Read one of our QC TSVs, keeping empty text cells as empty strings."""
    df = pd.read_csv(path, sep="\t", dtype={"sample_id": str}, keep_default_na=False)
    for col in df.columns:
        if df[col].dtype == object and col != "sample_id":
            text = df[col].astype(str)
            converted = pd.to_numeric(text.mask(text == ""), errors="coerce")
            if converted.notna().sum() == (text != "").sum():
                df[col] = converted
    return df.set_index("sample_id")


def _as_bool(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def funnel_segments(funnel: pd.DataFrame) -> pd.DataFrame:
    """Disjoint stacked-bar segments of the read funnel.

    The segments add up to ``raw_reads``: discard categories (reads), UMI
    duplicates (reads) and annotation categories (reads, or molecules for UMI
    libraries); anything left over is ``other``.

    Parameters
    ----------
    funnel
        ``read_funnel.tsv`` indexed by ``sample_id``.

    Returns
    -------
    pandas.DataFrame
        Integer segments; columns in stacking order; all-zero optional segments
        (``multimapped_mirna``, ``no_umi``, ``other``) dropped.
    """
    start = list(funnel.columns).index("umi_duplicates") + 1
    stop = list(funnel.columns).index(MIRNA_CATEGORIES[0])
    contaminants = list(funnel.columns[start:stop])
    seg = pd.DataFrame(index=funnel.index)
    disjoint = funnel[[*contaminants, *MIRNA_CATEGORIES]].sum(axis=1)
    separate = funnel["annotated_total"] == disjoint + funnel["multimapped_mirna"]
    separate &= funnel["annotated_total"] != disjoint
    seg["mirna"] = funnel["mirna"]
    seg["multimapped_mirna"] = funnel["multimapped_mirna"].where(separate, 0)
    seg["hairpin_other"] = funnel["hairpin_other"]
    for c in contaminants:
        seg[c] = funnel[c]
    for c in _FUNNEL_TAIL:
        if c != "other":
            seg[c] = funnel[c]
    # reads without the adapter and too-long inserts that were annotated are
    # in the categories above already (read_funnel.tsv, LONG_COLUMNS)
    for c, annotated in (
        ("no_adapter", "annotated_no_adapter"),
        ("too_long", "annotated_too_long"),
    ):
        if annotated in funnel.columns:
            seg[c] = funnel[c] - funnel[annotated]
    rest = funnel["raw_reads"] - seg.sum(axis=1)
    if (rest < 0).any():
        bad = ", ".join(map(str, funnel.index[rest < 0]))
        log.warning("read funnel: categories exceed raw reads for %s", bad)
    seg["other"] = rest.clip(lower=0)
    optional = ["multimapped_mirna", "no_umi", "other"]
    drop = [c for c in optional if not (seg[c] > 0).any()]
    return seg.drop(columns=drop).astype("int64")


def _funnel_categories(columns: Sequence[str]) -> dict[str, dict[str, str]]:
    cats: dict[str, dict[str, str]] = {}
    i = 0
    for c in columns:
        if c in _FUNNEL_HEAD:
            name, colour = _FUNNEL_HEAD[c]
        elif c in _FUNNEL_TAIL:
            name, colour = _FUNNEL_TAIL[c]
        else:
            name, colour = c, _CONTAMINANT_COLOURS[i % len(_CONTAMINANT_COLOURS)]
            i += 1
        cats[c] = {"name": name, "color": colour}
    return cats


def _write_funnel(funnel: pd.DataFrame, path: Path) -> Path:
    seg = funnel_segments(funnel)
    config = {
        "id": "exomir_read_funnel",
        "section_name": "Read funnel",
        "description": (
            "Where the reads of each library went: discarded by adapter/length/UMI "
            "filters, PCR duplicates, and the annotation of the passed inserts "
            "(miRNA, hairpin outside the mature, contaminant categories in config "
            "order, unassigned). " + _UNITS_NOTE
        ),
        "plot_type": "bargraph",
        "pconfig": {
            "id": "exomir_read_funnel_plot",
            "title": "exomir: read funnel",
            "ylab": "Reads",
            "cpswitch_counts_label": "Reads",
        },
        "categories": _funnel_categories(list(seg.columns)),
    }
    return _write_mqc_tsv(path, config, seg)


def _write_lengths(lengths: pd.DataFrame, path: Path) -> Path:
    cats = list(dict.fromkeys(lengths["category"]))
    if "passed" in cats:
        cats.remove("passed")
        cats.insert(0, "passed")
    datasets: list[dict[str, dict[int, float]]] = []
    labels: list[dict[str, str]] = []
    if "passed" in cats:
        passed = lengths[lengths["category"] == "passed"]
        norm: dict[str, dict[int, float]] = {}
        for sample, grp in passed.groupby("sample_id", sort=False):
            total = float(grp["reads"].sum())
            if total > 0:
                norm[str(sample)] = {
                    int(n): round(100.0 * float(r) / total, 6)
                    for n, r in zip(grp["length"], grp["reads"], strict=True)
                }
        datasets.append(norm)
        labels.append(
            {"name": "Passed inserts, % of passed", "ylab": "% of passed reads"}
        )
    for cat in cats:
        sub = lengths[lengths["category"] == cat]
        data: dict[str, dict[int, float]] = {}
        for sample, grp in sub.groupby("sample_id", sort=False):
            data[str(sample)] = {
                int(n): int(r) for n, r in zip(grp["length"], grp["reads"], strict=True)
            }
        datasets.append(data)
        labels.append({"name": f"{cat} (reads)", "ylab": "Reads"})
    content = {
        "id": "exomir_length_distribution",
        "section_name": "Insert length distribution",
        "description": (
            "Insert length after adapter removal and clipping, per read category "
            "of the preprocessing (reads, before UMI deduplication). Plasma miRNAs "
            "peak at 21-23 nt; tRNA/YRNA fragments at 30-33 nt."
        ),
        "plot_type": "linegraph",
        "pconfig": {
            "id": "exomir_length_distribution_plot",
            "title": "exomir: insert length distribution",
            "xlab": "Insert length (nt)",
            "ylab": labels[0]["ylab"] if labels else "Reads",
            "x_decimals": 0,
            "data_labels": labels,
        },
        "data": datasets,
    }
    with atomic_open(path) as fh:
        yaml.safe_dump(content, fh, sort_keys=False, default_flow_style=False)
    return path


def _pct(min_: float = 0, max_: float = 100, **kw: Any) -> dict[str, Any]:
    return {"min": min_, "max": max_, "suffix": "%", "format": "{:,.1f}", **kw}


def _write_library_qc(qc: pd.DataFrame, path: Path) -> Path:
    table = pd.DataFrame(index=qc.index)
    table["qc"] = qc["pass"].map(lambda v: "pass" if _as_bool(v) else "FAIL")
    table["reasons"] = qc["reasons"]
    table["warnings"] = qc["warnings"]
    table["raw_reads"] = qc["raw_reads"]
    table["mirna_reads"] = qc["mirna_reads"]
    table["count_unit"] = qc["count_unit"]
    table["annotated_fraction"] = 100 * qc["annotated_fraction"].astype(float)
    table["adapter_dimer_share"] = 100 * qc["adapter_dimer_share"].astype(float)
    if "short_insert_share" in qc:
        table["short_insert_share"] = 100 * qc["short_insert_share"].astype(float)
    table["n_mirnas_ge10"] = qc["n_mirnas_ge10"]
    config = {
        "id": "exomir_library_qc",
        "section_name": "Library QC verdict",
        "description": (
            "Per-library gates (config qc:, analysis_spec 1.4.6). Failed "
            "libraries are left out of all statistics (passed_samples.txt). "
            "Warnings do not fail a library. " + _UNITS_NOTE
        ),
        "plot_type": "table",
        "pconfig": {
            "id": "exomir_library_qc_table",
            "title": "exomir: library QC verdict",
            "sort_rows": False,
            "no_violin": True,
        },
        "headers": {
            "qc": {"title": "QC", "description": "pass / FAIL"},
            "reasons": {"title": "Fail reasons"},
            "warnings": {"title": "Warnings"},
            "raw_reads": {"title": "Raw reads", "format": "{:,.0f}", "min": 0},
            "mirna_reads": {
                "title": "miRNA counts",
                "description": "miRNA reads (molecules for UMI libraries)",
                "format": "{:,.0f}",
                "min": 0,
            },
            "count_unit": {"title": "Unit"},
            "annotated_fraction": _pct(
                title="Annotated", description="Annotated share of aligned inserts"
            ),
            "adapter_dimer_share": _pct(
                title="Dimers",
                description="Adapter dimers: reads with no insert (0 nt, or up "
                "to qc.adapter_dimer_max_insert nt)",
                scale="OrRd",
            ),
            "short_insert_share": _pct(
                title="Short inserts",
                description="Inserts longer than a dimer but shorter than "
                "trimming.min_length (degraded RNA)",
                scale="OrRd",
            ),
            "n_mirnas_ge10": {
                "title": "miRNAs >= 10",
                "description": "miRNAs with >= 10 counts",
                "format": "{:,.0f}",
                "min": 0,
            },
        },
    }
    return _write_mqc_tsv(path, config, table, decimals=4)


def _write_complexity(qc: pd.DataFrame, path: Path) -> Path:
    table = pd.DataFrame(index=qc.index)
    table["unique_inserts"] = qc["unique_inserts"]
    table["complexity"] = qc["complexity"].astype(float)
    table["top10_fraction"] = 100 * qc["top10_fraction"].astype(float)
    table["umi_duplicate_rate"] = 100 * qc["umi_duplicate_rate"].astype(float)
    config = {
        "id": "exomir_complexity",
        "section_name": "Library complexity",
        "description": (
            "Unique inserts, unique inserts per passed read (molecule for UMI "
            "libraries), share of the 10 most abundant inserts, and the UMI "
            "duplicate rate (UMI libraries). A high top-10 share with few unique "
            "inserts points to low input or over-amplification."
        ),
        "plot_type": "table",
        "pconfig": {
            "id": "exomir_complexity_table",
            "title": "exomir: library complexity",
            "sort_rows": False,
        },
        "headers": {
            "unique_inserts": {
                "title": "Unique inserts",
                "format": "{:,.0f}",
                "min": 0,
            },
            "complexity": {
                "title": "Unique/passed",
                "description": "Unique inserts per passed read (or molecule)",
                "format": "{:,.4f}",
                "min": 0,
                "max": 1,
            },
            "top10_fraction": _pct(
                title="Top-10 share",
                description="Share of the 10 most abundant inserts",
            ),
            "umi_duplicate_rate": _pct(
                title="UMI dup.", description="PCR duplicates among passed reads"
            ),
        },
    }
    return _write_mqc_tsv(path, config, table, decimals=6)


def _write_hemolysis(qc: pd.DataFrame, path: Path) -> Path:
    table = pd.DataFrame(index=qc.index)
    table["hemolysis_log2ratio"] = qc["hemolysis_log2ratio"].astype(float)
    table["hemolysis_threshold"] = qc["hemolysis_threshold"].astype(float)
    table["hemolysis_flag"] = qc["hemolysis_flag"].map(
        lambda v: "flag" if _as_bool(v) else ""
    )
    table["hemolysis_a414"] = qc["hemolysis_a414"].astype(float)
    config = {
        "id": "exomir_hemolysis",
        "section_name": "Haemolysis",
        "description": (
            "log2((miR-451a + 1) / (miR-23a-3p + 1)) on reads per million miRNA "
            "reads. Libraries above the cohort median + k x MAD (scaled MAD, "
            "config qc.hemolysis_mad_k) are flagged; A414 above qc.max_a414 fails "
            "the library. Sequencing ratios are not on the qPCR delta-Cq scale."
        ),
        "plot_type": "table",
        "pconfig": {
            "id": "exomir_hemolysis_table",
            "title": "exomir: haemolysis",
            "sort_rows": False,
        },
        "headers": {
            "hemolysis_log2ratio": {
                "title": "log2 451a/23a",
                "format": "{:,.2f}",
                "scale": "OrRd",
            },
            "hemolysis_threshold": {"title": "Threshold", "format": "{:,.2f}"},
            "hemolysis_flag": {"title": "Flag"},
            "hemolysis_a414": {"title": "A414", "format": "{:,.3f}"},
        },
    }
    return _write_mqc_tsv(path, config, table, decimals=6)


def _write_general_stats(qc: pd.DataFrame, path: Path) -> Path:
    table = pd.DataFrame(index=qc.index)
    table["exomir_qc"] = qc["pass"].map(lambda v: "pass" if _as_bool(v) else "FAIL")
    table["exomir_mirna_reads"] = qc["mirna_reads"]
    table["exomir_annotated"] = 100 * qc["annotated_fraction"].astype(float)
    table["exomir_hemolysis"] = qc["hemolysis_log2ratio"].astype(float)
    config = {
        "id": "exomir_general_stats",
        "plot_type": "generalstats",
        "namespace": "exomir",
        "headers": [
            {"exomir_qc": {"title": "QC", "description": "exomir library QC verdict"}},
            {
                "exomir_mirna_reads": {
                    "title": "miRNA",
                    "description": "miRNA counts (molecules for UMI libraries)",
                    "format": "{:,.0f}",
                    "min": 0,
                }
            },
            {"exomir_annotated": _pct(title="Annotated")},
            {
                "exomir_hemolysis": {
                    "title": "Haemolysis",
                    "description": "log2(miR-451a / miR-23a-3p), RPM + 1",
                    "format": "{:,.2f}",
                }
            },
        ],
    }
    return _write_mqc_tsv(path, config, table, decimals=4)


def write_custom_content(
    funnel_tsv: PathLike,
    lengths_tsv: PathLike,
    library_qc_tsv: PathLike,
    out_dir: PathLike,
) -> list[Path]:
    """Write the MultiQC custom-content files for the read QC.

    Parameters
    ----------
    funnel_tsv
        ``results/qc/read_funnel.tsv``.
    lengths_tsv
        ``results/qc/length_distribution.tsv``.
    library_qc_tsv
        ``results/qc/library_qc.tsv``.
    out_dir
        Directory for the files (names in :data:`CUSTOM_CONTENT_FILES`).

    Returns
    -------
    list[Path]
        The files written, in :data:`CUSTOM_CONTENT_FILES` order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    funnel = _read_table(funnel_tsv)
    missing = [c for c in (*READ_COLUMNS, *MIRNA_CATEGORIES) if c not in funnel.columns]
    if missing:
        raise ValueError(f"{funnel_tsv}: missing columns {', '.join(missing)}")
    qc = _read_table(library_qc_tsv)
    lengths = pd.read_csv(
        lengths_tsv, sep="\t", dtype={"sample_id": str, "category": str}
    )
    return [
        _write_general_stats(qc, out / CUSTOM_CONTENT_FILES[0]),
        _write_library_qc(qc, out / CUSTOM_CONTENT_FILES[1]),
        _write_funnel(funnel, out / CUSTOM_CONTENT_FILES[2]),
        _write_lengths(lengths, out / CUSTOM_CONTENT_FILES[3]),
        _write_complexity(qc, out / CUSTOM_CONTENT_FILES[4]),
        _write_hemolysis(qc, out / CUSTOM_CONTENT_FILES[5]),
    ]


# --------------------------------------------------------------------------- #
# Running MultiQC
# --------------------------------------------------------------------------- #


def multiqc_command() -> list[str]:
    """Command prefix that runs MultiQC in this environment.

    Returns
    -------
    list[str]
        ``[python, -m, multiqc]`` if MultiQC is importable here, otherwise the
        ``multiqc`` executable on ``PATH``.
    """
    if importlib.util.find_spec("multiqc") is not None:
        return [sys.executable, "-m", "multiqc"]
    exe = shutil.which("multiqc")
    if exe is None:
        raise FileNotFoundError("multiqc is neither importable nor on PATH")
    return [exe]


def run_multiqc(
    inputs: Sequence[PathLike],
    report_html: PathLike,
    *,
    title: str | None = None,
    comment: str | None = None,
    extra_inputs: Sequence[PathLike] = (),
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Run MultiQC over custom content and trimmer logs; place the report.

    MultiQC runs into a temporary directory beside the report; on success the
    HTML replaces ``report_html`` and the data directory replaces
    ``<stem>_data/`` beside it.

    Parameters
    ----------
    inputs
        Custom-content files (and/or directories) to search.
    report_html
        Destination, e.g. ``results/multiqc/multiqc_report.html``.
    title
        Report title.
    comment
        Comment shown at the top of the report.
    extra_inputs
        Further logs for MultiQC's own modules (fastp JSON, cutadapt reports,
        directories); paths that do not exist are skipped.
    config
        Extra MultiQC configuration merged over the exomir defaults.

    Returns
    -------
    Path
        ``report_html``.
    """
    final = Path(report_html)
    final.parent.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"MultiQC inputs missing: {', '.join(missing)}")
    extra = [Path(p) for p in extra_inputs if Path(p).exists()]
    skipped = [str(p) for p in extra_inputs if not Path(p).exists()]
    if skipped:
        log.info("MultiQC: skipping absent inputs %s", ", ".join(skipped))
    cfg: dict[str, Any] = {
        "custom_content": {"order": list(SECTION_IDS)},
        "no_version_check": True,
        "show_analysis_paths": False,
        "show_analysis_time": False,
    }
    if title:
        cfg["title"] = title
    if comment:
        cfg["report_comment"] = comment
    cfg.update(config or {})
    data_name = f"{final.stem}_data"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}.", dir=final.parent))
    try:
        cfg_path = tmp / "exomir_multiqc_config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        out_dir = tmp / "out"
        cmd = [
            *multiqc_command(),
            "--force",
            "--no-version-check",
            "--no-ansi",
            "--no-megaqc-upload",
            "--no-ai",
            "--config",
            str(cfg_path),
            "--outdir",
            str(out_dir),
            "--filename",
            final.name,
            "--data-dir",
            *map(str, paths),
            *map(str, extra),
        ]
        log.info("running %s", " ".join(cmd))
        env = dict(os.environ)
        env.setdefault("MPLBACKEND", "Agg")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        for line in (proc.stdout + proc.stderr).splitlines():
            log.info("multiqc: %s", line)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-20:])
            raise RuntimeError(
                f"multiqc failed with exit code {proc.returncode}:\n{tail}"
            )
        html = out_dir / final.name
        if not html.exists():
            raise RuntimeError(f"multiqc wrote no {final.name} in {out_dir}")
        data_dir = out_dir / data_name
        if data_dir.exists():
            target = final.parent / data_name
            if target.exists():
                shutil.rmtree(target)
            os.replace(data_dir, target)
        os.replace(html, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def make_multiqc_report(
    funnel_tsv: PathLike,
    lengths_tsv: PathLike,
    library_qc_tsv: PathLike,
    content_dir: PathLike,
    report_html: PathLike,
    *,
    extra_inputs: Sequence[PathLike] = (),
    title: str | None = None,
    comment: str | None = None,
) -> list[Path]:
    """Write the custom content and run MultiQC over it (and trimmer logs).

    Parameters
    ----------
    funnel_tsv
        ``results/qc/read_funnel.tsv``.
    lengths_tsv
        ``results/qc/length_distribution.tsv``.
    library_qc_tsv
        ``results/qc/library_qc.tsv``.
    content_dir
        Directory for the ``*_mqc`` files, e.g. ``results/multiqc/custom_content``.
    report_html
        ``results/multiqc/multiqc_report.html``.
    extra_inputs
        Trimmer logs / directories for MultiQC's own modules (absent ones are
        skipped).
    title
        Report title.
    comment
        Report comment.

    Returns
    -------
    list[Path]
        The custom-content files and, last, the report.
    """
    files = write_custom_content(funnel_tsv, lengths_tsv, library_qc_tsv, content_dir)
    report = run_multiqc(
        files, report_html, title=title, comment=comment, extra_inputs=extra_inputs
    )
    return [*files, report]


@dataclass(frozen=True)
class MultiQCSettings:
    """What the ``multiqc`` job needs from the config: the report title."""

    title: str


def multiqc_settings(cfg: Mapping[str, Any]) -> MultiQCSettings:
    """Build :class:`MultiQCSettings` from a validated config (parse time)."""
    trial = cfg.get("trial", {}).get("id", "QC-only study")
    return MultiQCSettings(title=f"exomir read QC: {trial}")


def multiqc_step(
    *,
    funnel: PathLike,
    lengths: PathLike,
    library_qc: PathLike,
    content: PathLike,
    html: PathLike,
    data: PathLike,
    settings: MultiQCSettings,
) -> list[Path]:
    """Write the custom content into ``content`` and the report (rule ``multiqc``).

    Parameters
    ----------
    funnel, lengths, library_qc
        The read-QC tables.
    content
        Directory of the custom-content files.
    html
        The report; MultiQC's data directory goes beside it.
    data
        The data directory the rule declares (``<html stem>_data``).
    settings
        :func:`multiqc_settings`.
    """
    expected = Path(html).parent / f"{Path(html).stem}_data"
    if Path(data) != expected:
        raise ValueError(f"multiqc data directory must be {expected}, not {data}")
    out = make_multiqc_report(
        funnel, lengths, library_qc, content, html, title=settings.title
    )
    if not Path(data).is_dir():
        raise RuntimeError(f"multiqc wrote no data directory {data}")
    return out
