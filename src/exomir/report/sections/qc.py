"""Section 12, data quality: sequencing QC of the libraries and the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, is_true, num
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text
from exomir.report.sections.primary import _batch_balance


def _species_notes(ctx: ReportContext) -> list[str]:
    """Contaminant classes annotated with another species' reference (exomir.species)."""
    if not ctx.config.get("reference"):
        return []
    from exomir.species import reference_notes

    try:
        return [
            f"Species {ctx.config['reference']['species']}: {n}"
            for n in reference_notes(ctx.config, ctx.root)
        ]
    except (KeyError, OSError, ValueError):  # a config without the reference keys
        return []


def sequencing_qc(ctx: ReportContext, sec: Section) -> Section:
    """§5: read funnel, lengths, library QC, haemolysis, PCA, flagged samples."""
    fun_path, qc_path, len_path = (
        "results/qc/read_funnel.tsv",
        "results/qc/library_qc.tsv",
        "results/qc/length_distribution.tsv",
    )
    funnel, qc = ctx.table(fun_path), ctx.table(qc_path)
    if funnel is None or qc is None:
        sec.add(NotRun("sequencing QC (read QC stage)", ctx.missing(fun_path, qc_path)))
        return sec
    for c in funnel.columns:
        if c not in ("sample_id", "count_unit"):
            funnel[c] = num(funnel[c])
    for note in _species_notes(ctx):
        sec.add(Text(note, kind="note"))
    passed = is_true(qc["pass"])
    raw = num(qc["raw_reads"])
    mir = num(qc["mirna_reads"])
    sec.add(
        KeyValues(
            [
                ("Libraries", str(len(qc))),
                ("Passed QC", f"{int(passed.sum())} ({passed.mean() * 100:.1f}%)"),
                ("Median raw reads", f"{raw.median():,.0f}"),
                ("Median miRNA reads", f"{mir.median():,.0f}"),
                (
                    "Median miRNA share of annotated",
                    f"{(funnel['mirna'] / funnel['annotated_total'].replace(0, np.nan)).median() * 100:.1f}%",
                ),
            ],
            source=[qc_path, fun_path],
        )
    )
    sec.add(
        Figure(
            "Read funnel: where each library's raw reads went",
            source=[fun_path],
            alt="stacked bars of read fates per library",
            uri=figures.read_funnel(funnel),
            scroll=len(funnel) > 60,
            note="Filtered reads (adapter dimer, too short, other) are removed before annotation; UMI duplicates are collapsed; the rest is the biotype composition of the unique molecules.",
        )
    )
    _lengths(ctx, sec, len_path)
    _failed_libraries(sec, qc, passed, qc_path)
    _haemolysis(ctx, sec, qc, qc_path)
    qc_cols = [
        c
        for c in [
            "sample_id",
            "pass",
            "raw_reads",
            "passed_reads",
            "mirna_reads",
            "annotated_fraction",
            "adapter_dimer_share",
            "short_insert_share",
            "n_mirnas_ge10",
            "complexity",
            "top10_fraction",
            "umi_duplicate_rate",
            "hemolysis_log2ratio",
            "hemolysis_a414",
        ]
        if c in qc
    ]
    sec.add(
        Table(
            "Library QC, all libraries (complexity = unique inserts / reads)",
            qc[qc_cols],
            source=[qc_path],
            collapsed=True,
            wide=True,
        )
    )
    sec.add(
        Text(
            "Not produced by any stage yet (analysis_spec §5.8 item 5): spike-in "
            "linearity and the C19MC time positive control.",
            kind="note",
        )
    )
    _pca(ctx, sec)
    _batch_balance(ctx, sec)
    return sec


def _lengths(ctx: ReportContext, sec: Section, len_path: str) -> None:
    """Add the read length distributions after trimming."""
    lengths = ctx.table(len_path)
    if lengths is not None:
        lengths["length"] = num(lengths["length"])
        lengths["reads"] = num(lengths["reads"])
        sec.add(
            Figure(
                "Read length after trimming, per library (thin lines) and median (black)",
                source=[len_path],
                alt="read length distributions",
                uri=figures.length_histograms(lengths),
            )
        )
    else:
        sec.add(NotRun("read length distributions", [len_path]))


def _failed_libraries(
    sec: Section, qc: pd.DataFrame, passed: pd.Series, qc_path: str
) -> None:
    """Add the libraries that failed QC or carry a warning."""
    failed = qc[~passed | (qc["warnings"] != "")]
    keep = [
        c
        for c in [
            "sample_id",
            "pass",
            "reasons",
            "warnings",
            "raw_reads",
            "mirna_reads",
            "adapter_dimer_share",
            "short_insert_share",
            "hemolysis_log2ratio",
            "hemolysis_a414",
            "excluded",
            "exclude_reason",
        ]
        if c in qc
    ]
    if len(failed):
        sec.add(
            Table(
                "Libraries failing QC or with warnings",
                failed[keep],
                source=[qc_path],
                wide=True,
            )
        )
    else:
        sec.add(Text("Every library passed QC without warnings."))


def _haemolysis(
    ctx: ReportContext, sec: Section, qc: pd.DataFrame, qc_path: str
) -> None:
    """Add the haemolysis figure (ratio and A414) when either was measured."""
    qcn = qc.copy()
    for c in ("hemolysis_log2ratio", "hemolysis_threshold"):
        if c in qcn:
            qcn[c] = num(qcn[c])
    gate = (ctx.config.get("qc") or {}).get("max_a414")
    a414 = num(qcn["hemolysis_a414"]) if "hemolysis_a414" in qcn else None
    if "hemolysis_log2ratio" in qcn and (
        qcn["hemolysis_log2ratio"].notna().any()
        or (a414 is not None and a414.notna().any())
    ):
        sec.add(
            Figure(
                "Haemolysis per library: miR-451a / miR-23a-3p ratio with its "
                "warning threshold, plasma A414 with its exclusion gate",
                source=[qc_path, "config/config.yaml"],
                alt="haemolysis ratios and A414",
                uri=figures.hemolysis_plot(
                    qcn, float(gate) if gate is not None else None
                ),
                note="The ratio above its threshold (cohort median + k MAD) is a "
                "flag; a plasma A414 above qc.max_a414 excludes the library. "
                "Flagged, excluded and failed libraries are labelled with their "
                "sample ID.",
            )
        )


def _pca(ctx: ReportContext, sec: Section) -> None:
    """Add the PCA of the VST profiles (and, closed report, coloured by arm)."""
    pca_path = "results/de/pca.tsv"
    pca = ctx.table(pca_path)
    if pca is not None and not {"PC1", "PC2"} <= set(pca.columns):
        sec.add(
            Text(
                f"PCA: not computed; the DE stage gives no principal components "
                f"for {len(pca)} usable libraries (too few).",
                kind="note",
            )
        )
    elif pca is not None:
        for c in ("PC1", "PC2"):
            pca[c] = num(pca[c])
        by = [c for c in ["timepoint", "library_batch"] if c in pca]
        sec.add(
            Figure(
                "PCA of VST miRNA profiles (top variable miRNAs)",
                source=[pca_path],
                alt="PCA",
                uri=figures.pca_scatter(pca, by),
            )
        )
        if ctx.closed and "arm" in pca:
            sec.add(
                Figure(
                    "PCA coloured by arm",
                    source=[pca_path],
                    alt="PCA by arm",
                    uri=figures.pca_scatter(pca, ["arm"], {"arm": ctx.arms}),
                    arm_level=True,
                )
            )
    else:
        sec.add(NotRun("PCA (DE stage)", [pca_path]))
