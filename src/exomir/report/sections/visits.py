"""Across-visits blocks of the closed report's miRNAome and pathways sections.

Shown only when the trial has more than one post-dose blood draw (per-visit DE
contrasts, the likelihood-ratio test ``results/de/lrt_arm_by_time.tsv``, the
pathway ANCOVA by visit ``results/pathways/ancova_by_visit.tsv``); a
two-timepoint trial's report is unchanged. The open report never reads these
arm-level files.
"""

from __future__ import annotations

import pandas as pd

from exomir.report.context import ReportContext, num
from exomir.report.labels import fmt_ci, fmt_fixed, fmt_p, pathway_label
from exomir.report.model import NotRun, Section, Table, Text

LRT_PATH = "results/de/lrt_arm_by_time.tsv"
BY_VISIT_PATH = "results/pathways/ancova_by_visit.tsv"


def _de_settings(ctx: ReportContext) -> object | None:
    from exomir.de import de_settings

    try:
        return de_settings(ctx.config)
    except Exception:  # the DE stage reports a bad design itself
        return None


def mirna_visits(
    ctx: ReportContext, sec: Section, contrasts: dict[str, dict], alpha: float
) -> None:
    """FDR hits of the arm x time contrasts per visit and the LRT's top miRNAs.

    Parameters
    ----------
    ctx
        Report context (closed report).
    sec
        The miRNAome section.
    contrasts
        Configured or derived contrasts (name -> specification).
    alpha
        FDR level (``de.alpha``).
    """
    settings = _de_settings(ctx)
    lrt = getattr(settings, "lrt", None)
    primary = getattr(settings, "primary_visit", "")
    inter = {
        n: c
        for n, c in contrasts.items()
        if c.get("kind") == "interaction" and c.get("timepoint")
    }
    visits = list(dict.fromkeys(str(c["timepoint"]) for c in inter.values()))
    if lrt is None and len(visits) < 2:
        return
    sec.add(
        Text(
            "Across visits: the arm x time interaction at every post-dose blood "
            "draw, and one test of whether it exists at any of them."
        )
    )
    rows = []
    for name, c in inter.items():
        tab = ctx.table(f"results/de/{name}.tsv")
        if tab is None:
            continue
        padj = num(tab["padj"])
        rows.append(
            {
                "visit": str(c["timepoint"])
                + (" (primary)" if c["timepoint"] == primary else ""),
                "contrast": name,
                f"miRNAs at FDR < {alpha:g}": int((padj < alpha).sum()),
                "miRNAs tested": int(padj.notna().sum()),
            }
        )
    if rows:
        order = {t: i for i, t in enumerate(ctx.timepoints)}
        table = pd.DataFrame(rows)
        table["_o"] = [order.get(v.split(" ")[0], 99) for v in table["visit"]]
        sec.add(
            Table(
                "Arm x time interaction at each visit (change from baseline)",
                table.sort_values(["_o", "contrast"]).drop(columns="_o"),
                source=[f"results/de/{n}.tsv" for n in inter],
                note="Each visit's contrast is fitted on the baseline and that "
                "visit's libraries only; BH-FDR within each contrast.",
                arm_level=True,
            )
        )
    if lrt is None:
        return
    tab = ctx.table(LRT_PATH)
    if tab is None:
        sec.add(NotRun("likelihood-ratio test across visits", [LRT_PATH]))
        return
    padj = num(tab["padj"])
    sec.add(
        Text(
            f"Likelihood-ratio test of the arm x time terms at "
            f"{', '.join(lrt.post_dose)} ({len(lrt.post_dose)} df): "
            f"{int((padj < alpha).sum())} of {len(tab)} miRNAs at FDR < {alpha:g}.",
            arm_level=True,
        )
    )
    top = tab.assign(_p=num(tab["pvalue"])).sort_values("_p").head(15)
    shown = pd.DataFrame({"miRNA": top["mirna"].to_numpy()})
    shown["mean normalised count"] = [fmt_fixed(v, 0) for v in num(top["baseMean"])]
    for t in lrt.post_dose:
        col = f"log2FoldChange_{t}"
        if col in top:
            shown[f"log2 FC {t}"] = [fmt_fixed(v, 2) for v in num(top[col])]
    shown["LR statistic"] = [fmt_fixed(v, 2) for v in num(top["stat"])]
    shown["p"] = [fmt_p(v) for v in num(top["pvalue"])]
    shown["FDR (BH)"] = [fmt_p(v) for v in num(top["padj"])]
    sec.add(
        Table(
            "Top miRNAs, likelihood-ratio test across visits",
            shown,
            source=[LRT_PATH],
            note="Full model ~ participant + timepoint + arm x timepoint against "
            "~ participant + timepoint (as DESeq2's nbinomLRT); log2 FC: the "
            "treated - reference change from baseline at each visit (MLE).",
            arm_level=True,
            preformatted=True,
        )
    )


def pathway_visits(ctx: ReportContext, sec: Section) -> None:
    """Primary pathways' ANCOVA (primary method) at every post-dose visit."""
    if len(ctx.timepoints) <= 2:
        return
    tab = ctx.table(BY_VISIT_PATH)
    if tab is None:
        sec.add(NotRun("pathway ANCOVA by visit", [BY_VISIT_PATH]))
        return
    primary = [str(p) for p in (ctx.config.get("pathways") or {}).get("primary", [])]
    anc = tab[(tab["analysis"] == "ancova") & (tab["method"] == "waggr")]
    if primary:
        anc = anc[anc["pathway"].isin(primary)]
    if not len(anc):
        return
    shown = pd.DataFrame(
        {
            "visit": anc["visit"].to_numpy(),
            "pathway": [pathway_label(p) for p in anc["pathway"]],
            "estimate (95% CI)": [
                fmt_ci(e, lo, hi)
                for e, lo, hi in zip(
                    anc["estimate"], anc["ci_low"], anc["ci_high"], strict=True
                )
            ],
            "p": [fmt_p(v) for v in anc["p_value"]],
            "Holm p": [fmt_p(v) for v in anc["p_adjusted"]],
            "n": anc["n"].to_numpy(),
        }
    )
    sec.add(
        Table(
            "Pathway score ANCOVA at each visit (weighted aggregate, treated - reference)",
            shown,
            source=[BY_VISIT_PATH],
            note="Score at the visit on arm, baseline score and strata (HC3); Holm "
            "over the primary pathways within each visit. The primary visit's rows "
            "repeat the table above; all methods are in ancova_by_visit.tsv.",
            arm_level=True,
            preformatted=True,
        )
    )
