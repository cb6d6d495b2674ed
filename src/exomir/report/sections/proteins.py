"""Section: protein biomarkers (plate QC, per-protein effects, volcano).

Closed report: the per-protein ANCOVA (ratio of geometric means, BH across the
panel), the censored-value sensitivity, per-visit effects and the volcano
plot. Both reports: the pooled flag counts (quantified, censored, excluded per
analyte and visit) and, when the quantification stage wrote them, its plate
QC and standard-curve tables (no arm information).
"""

from __future__ import annotations

import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext
from exomir.report.labels import fmt_ci, fmt_p
from exomir.report.model import Figure, NotRun, Section, Table, Text
from exomir.report.sections.primary import ARM_LEVEL_NOTE

EFFECTS = "results/proteins/effects.tsv"
BY_VISIT = "results/proteins/effects_by_visit.tsv"
VOLCANO = "results/proteins/volcano.png"
FLAGS = "results/proteins/flag_summary.tsv"
PLATE_QC = "results/proteins/plate_qc.tsv"
CURVES = "results/proteins/curves.tsv"

RULE = (
    "Values outside the quantification range: the primary analysis uses quantified "
    "values only (flags ok and high_cv); plate_failed and not_measured are missing; "
    "values below the LLOQ or above the ULOQ are missing and counted. The sensitivity "
    "analysis sets them to LLOQ/sqrt(2) and to the ULOQ (docs/proteins_analysis.md). "
    "Olink NPX values below the LOD are analysed as measured and counted (below_lod); "
    "NPX samples with a QC warning and Luminex samples without a replicate of enough "
    "beads are missing."
)


def _effects_table(df: pd.DataFrame) -> pd.DataFrame:
    """Reader-formatted effect rows."""
    ratio = df["transform"].astype(str).eq("log")
    return pd.DataFrame(
        {
            "endpoint": df["label"].astype(str),
            "visit": df["visit"].astype(str),
            "population": df["population"].astype(str),
            "effect": ["ratio of GM" if r else "difference (NPX)" for r in ratio],
            "estimate (95% CI)": [
                fmt_ci(e, lo, hi, ratio=bool(r))
                for e, lo, hi, r in zip(
                    df["estimate"], df["ci_low"], df["ci_high"], ratio, strict=True
                )
            ],
            "p": [fmt_p(v) for v in df["p_value"]],
            "BH p": [fmt_p(v) for v in df["p_bh"]],
            "n treated / control": [
                f"{t} / {c}"
                for t, c in zip(df["n_treatment"], df["n_control"], strict=True)
            ],
            "< LLOQ / > ULOQ / excluded": [
                f"{a} / {b} / {c}"
                for a, b, c in zip(
                    df["n_below_lloq"],
                    df["n_above_uloq"],
                    df["n_excluded"],
                    strict=True,
                )
            ],
        }
    )


def _quantification(ctx: ReportContext, sec: Section) -> None:
    """Pooled flag counts and the quantification stage's QC tables, if present."""
    flags = ctx.table(FLAGS)
    if flags is not None:
        sec.add(
            Table(
                "Protein measurements by analyte and visit (arms pooled)",
                flags,
                source=[FLAGS],
                note=RULE,
            )
        )
    for path, title in (
        (PLATE_QC, "Plate QC (quantification stage)"),
        (CURVES, "Standard curves per plate and analyte (quantification stage)"),
    ):
        df = ctx.table(path)
        if df is not None:
            sec.add(Table(title, df, source=[path], collapsed=True, wide=True))


def proteins(ctx: ReportContext, sec: Section) -> Section:
    """Protein endpoints: flag counts, plate QC, ANCOVA effects and volcano."""
    effects = ctx.table(EFFECTS)
    flags_present = ctx.has(FLAGS) or ctx.has(PLATE_QC)
    if effects is None and not flags_present and not ctx.is_withheld(EFFECTS):
        sec.add(
            NotRun(
                "protein endpoints (config proteins.panel and the quantification stage)",
                ctx.missing(EFFECTS, FLAGS),
            )
        )
        return sec
    _quantification(ctx, sec)
    if not ctx.closed:
        sec.add(
            Text(
                f"The protein endpoint models compare arms. {ARM_LEVEL_NOTE}",
                kind="note",
            )
        )
        return sec
    if effects is None:
        reason = ctx.not_computed.get(EFFECTS)
        if reason:
            sec.add(Text(f"Protein endpoints not computed: {reason}", kind="warn"))
        else:
            sec.add(NotRun("protein endpoint models (rule protein_effects)", [EFFECTS]))
        return sec
    sec.add(
        Text(
            "Secondary endpoints: ANCOVA of each protein (and ratio) at the primary "
            "visit on arm, baseline value and the stratification factors, OLS with "
            "HC3 standard errors; concentrations on the log scale (ratio of geometric "
            "means, treated / reference), NPX as a difference. Benjamini-Hochberg "
            "across the panel within population and visit."
        )
    )
    prim = effects[effects["analysis"] == "primary"]
    sec.add(
        Table(
            "Protein endpoints, primary analysis",
            _effects_table(prim),
            source=[EFFECTS],
            arm_level=True,
            preformatted=True,
            wide=True,
        )
    )
    sens = effects[effects["analysis"] != "primary"]
    if len(sens):
        sec.add(
            Table(
                "Sensitivity: censored values substituted (LLOQ/sqrt(2), ULOQ)",
                _effects_table(sens),
                source=[EFFECTS],
                arm_level=True,
                preformatted=True,
                collapsed=True,
                wide=True,
            )
        )
    by_visit = ctx.table(BY_VISIT)
    if by_visit is not None:
        sec.add(
            Table(
                "Protein endpoints per post-dose visit (one ANCOVA per visit)",
                _effects_table(by_visit),
                source=[BY_VISIT],
                arm_level=True,
                preformatted=True,
                collapsed=True,
                wide=True,
            )
        )
    if ctx.has(VOLCANO):
        sec.add(
            Figure(
                "Volcano plot of the protein panel (primary analysis)",
                source=[VOLCANO],
                alt="volcano plot of protein endpoints",
                uri=figures.file_uri(ctx.file(VOLCANO)),
                note="log2 effect (treated / reference) against -log10 p; filled: BH p < 0.05.",
                arm_level=True,
                width="60%",
            )
        )
    return sec
