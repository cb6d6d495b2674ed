"""Section: exploratory multi-omics integration (miRNA x protein x clinical).

Both reports say that these analyses are exploratory and show the pooled view
sizes. Closed report only: the miRNA / pathway - protein associations, the
MOFA+ factors with their arm tests, the variance explained per view and the
loadings plot (the factors are tested by arm).
"""

from __future__ import annotations

import pandas as pd

from exomir.proteins.exploratory import EXPLORATORY
from exomir.report import figures
from exomir.report.context import ReportContext, num
from exomir.report.labels import fmt_ci, fmt_num, fmt_p
from exomir.report.model import Figure, NotRun, Section, Table, Text
from exomir.report.sections.primary import ARM_LEVEL_NOTE

SUMMARY = "results/merged/views_summary.tsv"
ASSOC = "results/merged/mirna_protein_association.tsv"
FACTORS = "results/merged/mofa_factors.tsv"
VARIANCE = "results/merged/mofa_variance.tsv"
LOADINGS_PNG = "results/merged/mofa_loadings.png"

ANALYSIS_LABELS = {
    "robust_slope": "Huber slope (adjusted for arm)",
    "spearman_partial": "Spearman rho (adjusted for arm)",
}


def _association(sec: Section, df: pd.DataFrame) -> None:
    shown = pd.DataFrame(
        {
            "feature": df["feature"].astype(str),
            "protein": df["label"].astype(str),
            "analysis": [ANALYSIS_LABELS.get(a, a) for a in df["analysis"]],
            "estimate (95% CI)": [
                fmt_ci(e, lo, hi)
                for e, lo, hi in zip(
                    df["estimate"], df["ci_low"], df["ci_high"], strict=True
                )
            ],
            "p": [fmt_p(v) for v in df["p_value"]],
            "BH p": [fmt_p(v) for v in df["p_bh"]],
            "n": df["n"],
        }
    )
    main = df["feature_type"].eq("mirna")
    sec.add(
        Table(
            "Change in the primary miRNA vs change in each protein (primary visit - baseline)",
            shown[main.to_numpy()],
            source=[ASSOC],
            note="Slope: change in log protein per log2 change in the miRNA. BH across proteins within feature and analysis.",
            arm_level=True,
            preformatted=True,
            wide=True,
        )
    )
    if (~main).any():
        sec.add(
            Table(
                "Change in pathway scores vs change in each protein",
                shown[(~main).to_numpy()],
                source=[ASSOC],
                arm_level=True,
                preformatted=True,
                collapsed=True,
                wide=True,
            )
        )


def _factors(ctx: ReportContext, sec: Section) -> None:
    tests, var = ctx.table(FACTORS), ctx.table(VARIANCE)
    if tests is not None and "factor" in tests:
        shown = pd.DataFrame(
            {
                "factor": tests["factor"],
                "arm effect (95% CI)": [
                    fmt_ci(e, lo, hi)
                    for e, lo, hi in zip(
                        tests["estimate"],
                        tests["ci_low"],
                        tests["ci_high"],
                        strict=True,
                    )
                ],
                "p": [fmt_p(v) for v in tests["p_value"]],
                "BH p": [fmt_p(v) for v in tests["p_bh"]],
                **{
                    f"R² {v}": [fmt_num(x) for x in num(tests[f"r2_{v}"])]
                    for v in ("mirna", "protein", "clinical")
                    if f"r2_{v}" in tests
                },
            }
        )
        sec.add(
            Table(
                "MOFA+ factors: arm effect (treated - reference, factor units) and variance explained per view",
                shown,
                source=[FACTORS, VARIANCE],
                note="Factors fitted without the arm (unsupervised); arm tested afterwards by OLS with HC3, BH across factors. Inactive factors (< 1% variance in every view) are left out.",
                arm_level=True,
                preformatted=True,
            )
        )
    elif ctx.not_computed.get(FACTORS):
        sec.add(
            Text(
                f"The factor model was not fitted: {ctx.not_computed[FACTORS]}",
                kind="note",
            )
        )
    if var is not None and "view" in var and len(var):
        total = var.assign(r2=num(var["r2"])).groupby("view", sort=False)["r2"].sum()
        sec.add(
            Table(
                "Variance explained by all factors, per view",
                pd.DataFrame(
                    {
                        "view": total.index,
                        "R² (sum over factors)": [fmt_num(x) for x in total],
                    }
                ),
                source=[VARIANCE],
                arm_level=True,
                preformatted=True,
            )
        )
    if ctx.has(LOADINGS_PNG):
        sec.add(
            Figure(
                "MOFA+ loadings: the features that define the first factors",
                source=[LOADINGS_PNG],
                alt="MOFA loadings",
                uri=figures.file_uri(ctx.file(LOADINGS_PNG)),
                arm_level=True,
            )
        )


def integration(ctx: ReportContext, sec: Section) -> Section:
    """miRNA-protein association and the MOFA+ factor model (exploratory)."""
    summary = ctx.table(SUMMARY)
    assoc = ctx.table(ASSOC)
    if summary is None and assoc is None and not ctx.is_withheld(ASSOC):
        sec.add(
            NotRun(
                "multi-omics integration (protein layer)", ctx.missing(SUMMARY, ASSOC)
            )
        )
        return sec
    sec.add(Text(EXPLORATORY, kind="warn"))
    if summary is not None:
        sec.add(
            Table(
                "Participants x features of each view (change scores, arms pooled)",
                summary,
                source=[SUMMARY],
                note="MuData results/merged/trial.h5mu: views mirna (log2 normalised), protein (log scale / NPX), clinical (continuous parameters).",
            )
        )
    if not ctx.closed:
        sec.add(
            Text(
                f"The associations and factors are tested by arm. {ARM_LEVEL_NOTE}",
                kind="note",
            )
        )
        return sec
    if assoc is not None and "feature" in assoc:
        _association(sec, assoc)
    _factors(ctx, sec)
    return sec
