"""Section 6, the miRNAome: differential expression by contrast, with a heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, is_true, num
from exomir.report.labels import (
    fmt_fixed,
    fmt_p,
)
from exomir.report.model import Figure, NotRun, Section, Table, Text
from exomir.report.sections.primary import ARM_LEVEL_NOTE
from exomir.report.sections.visits import mirna_visits

#: Column labels of the DE top tables.
DE_COLUMNS = {
    "baseMean": "mean normalised count",
    "log2FoldChange": "log2 FC (MLE, unshrunken)",
    "log2FoldChange_shrunk": "log2 FC (shrunken, for ranking)",
    "lfcSE": "SE of MLE log2 FC",
    "pvalue": "p",
    "padj": "FDR (BH)",
}


#: What the DE top table's fold-change columns are.
DE_NOTE = (
    "log2 FC (MLE): the maximum-likelihood estimate tested by the Wald test "
    "(shown in the volcano plot). log2 FC (shrunken): the same effect shrunk "
    "towards 0 by an apeGLM-type prior (for ranking; near 0 when the data "
    "carry little information). Fold changes to 2 decimals; 0.00 means "
    "|log2 FC| < 0.005."
)


def de_top_table(top: pd.DataFrame) -> pd.DataFrame:
    """Reader's view of DE rows: fold changes to 2 decimals, p to 3 digits.

    Shrunken LFCs such as -4.3e-06 are shown as ``0.00`` instead of in
    scientific notation; the columns say which LFC is which.
    """
    out = pd.DataFrame(index=top.index)
    for col, label in DE_COLUMNS.items():
        if col not in top:
            continue
        v = num(top[col])
        if col == "baseMean":
            out[label] = [fmt_fixed(x, 0) for x in v]
        elif col in ("pvalue", "padj"):
            out[label] = [fmt_p(x) for x in v]
        else:
            out[label] = [fmt_fixed(x, 2) for x in v]
    out.insert(0, "miRNA", top["mirna"].to_numpy())
    return out.reset_index(drop=True)


def describe_contrast(name: str, c: dict) -> str:
    """Plain-language description of a configured contrast."""
    if c.get("description"):
        return str(c["description"])
    kind = c.get("kind", "")
    if kind == "between_arms":
        return f"{c.get('arm')} vs {c.get('reference_arm')} at {c.get('timepoint')}"
    if kind == "within_arm":
        return f"{c.get('timepoint')} vs {c.get('reference_timepoint')} within {c.get('arm')}"
    if kind == "interaction":
        return f"{c.get('arm')} vs {c.get('reference_arm')}: change {c.get('reference_timepoint')} to {c.get('timepoint')}"
    return name


def _contrasts(ctx: ReportContext) -> dict[str, dict]:
    """Return the configured DE contrasts, or those derived from ``design:``."""
    given = dict((ctx.config.get("de") or {}).get("contrasts") or {})
    if given or "design" not in ctx.config:
        return given
    from exomir.de import de_settings

    try:
        derived = de_settings(ctx.config).contrasts
    except Exception:  # the DE stage reports a bad design itself
        return {}
    return {
        name: {
            "kind": c.kind,
            "arm": c.arm,
            "reference_arm": c.reference_arm,
            "timepoint": c.timepoint,
            "reference_timepoint": c.reference_timepoint,
            "description": c.description,
        }
        for name, c in derived.items()
    }


def mirnaome(ctx: ReportContext, sec: Section) -> Section:
    """§7: interaction volcano and top table, other contrasts, heatmap."""
    contrasts = _contrasts(ctx)
    inter = [n for n, c in contrasts.items() if c.get("kind") == "interaction"]
    if not ctx.closed:
        first = f"results/de/{next(iter(contrasts))}.tsv" if contrasts else ""
        if first and (ctx.has(first) or ctx.is_withheld(first)):
            sec.add(
                Text(
                    f"All differential-expression contrasts involve an arm. {ARM_LEVEL_NOTE}",
                    kind="note",
                )
            )
        else:
            sec.add(
                NotRun(
                    "differential expression (DE stage)",
                    [f"results/de/{n}.tsv" for n in contrasts],
                )
            )
        return sec
    if not contrasts:
        sec.add(
            NotRun(
                "differential expression (no contrasts configured)",
                ["config de.contrasts"],
            )
        )
        return sec
    alpha = float((ctx.config.get("de") or {}).get("alpha", 0.05))
    order = inter + [n for n in contrasts if n not in inter]
    for k, name in enumerate(order):
        path = f"results/de/{name}.tsv"
        tab = ctx.table(path)
        if tab is None:
            sec.add(NotRun(f"contrast {name}", [path]))
            continue
        padj = num(tab["padj"])
        desc = describe_contrast(name, contrasts[name])
        sec.add(
            Text(
                f"Contrast {name} ({contrasts[name].get('kind', '')}): {desc}. {int((padj < alpha).sum())} of {len(tab)} miRNAs at FDR < {alpha}.",
                arm_level=True,
            )
        )
        if k == 0 and "log2FoldChange" in tab:
            mirna = str(ctx.config.get("trial", {}).get("primary_mirna", ""))
            sec.add(
                Figure(
                    f"Volcano plot, {name}: MLE (unshrunken) log2 fold change",
                    source=[path],
                    alt=f"volcano {name}",
                    uri=figures.volcano(tab, alpha, [mirna] if mirna else []),
                    note="x: the maximum-likelihood log2 fold change "
                    "(log2FoldChange), the effect the Wald test is about; the "
                    "shrunken LFC (for ranking) is in the table.",
                    arm_level=True,
                    width="70%",
                )
            )
        cols = [
            c
            for c in [
                "mirna",
                "baseMean",
                "log2FoldChange",
                "log2FoldChange_shrunk",
                "lfcSE",
                "pvalue",
                "padj",
            ]
            if c in tab
        ]
        top = de_top_table(
            tab.assign(_p=num(tab["pvalue"]))
            .sort_values("_p")
            .head(20 if k == 0 else 10)[cols]
        )
        sec.add(
            Table(
                f"Top miRNAs, {name}",
                top,
                source=[path],
                note=DE_NOTE,
                collapsed=k > 0,
                arm_level=True,
                preformatted=True,
            )
        )
        if k == 0:
            _heatmap(ctx, sec, name, tab)
    mirna_visits(ctx, sec, contrasts, alpha)
    return sec


def _heatmap(ctx: ReportContext, sec: Section, name: str, tab: pd.DataFrame) -> None:
    counts_path, samp_path = (
        "results/counts/mirna_counts.tsv",
        f"results/de/{name}.samples.tsv",
    )
    counts, samp = ctx.table(counts_path), ctx.table(samp_path)
    if counts is None or samp is None:
        sec.add(
            NotRun(
                "heatmap of top interaction miRNAs", ctx.missing(counts_path, samp_path)
            )
        )
        return
    samp = samp[is_true(samp["included"])].copy()
    samp["sf"] = num(samp["size_factor"])
    top = tab.assign(_p=num(tab["pvalue"])).sort_values("_p")["mirna"].head(30)
    counts = counts.set_index("mirna")
    top = [m for m in top if m in counts.index]
    ids = [s for s in samp["sample_id"] if s in counts.columns]
    if not top or not ids:
        return
    samp = samp.set_index("sample_id").loc[ids]
    arm_rank = {a: i for i, a in enumerate(ctx.arms)}
    tp_rank = {t: i for i, t in enumerate(ctx.timepoints)}
    samp["_o"] = [
        (arm_rank.get(a, 99), tp_rank.get(t, 99), s)
        for a, t, s in zip(samp["arm"], samp["timepoint"], samp.index, strict=True)
    ]
    samp = samp.sort_values("_o")
    mat = counts.loc[top, list(samp.index)].apply(pd.to_numeric, errors="coerce")
    logn = np.log2(mat / samp["sf"].to_numpy() + 1)
    z = (
        logn.sub(logn.mean(axis=1), axis=0)
        .div(logn.std(axis=1).replace(0, np.nan), axis=0)
        .fillna(0)
    )
    z.index = [str(i).replace("hsa-", "") for i in z.index]
    groups = samp["arm"] + " | " + samp["timepoint"]
    sec.add(
        Figure(
            f"Heatmap of the top {len(top)} miRNAs of {name} (log2 normalised counts, row z-scores)",
            source=[counts_path, samp_path, f"results/de/{name}.tsv"],
            alt="heatmap",
            uri=figures.heatmap(z, groups),
            arm_level=True,
        )
    )
