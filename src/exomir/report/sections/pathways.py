"""Section 7, pathways: miRNA-weighted pathway scores and their tests."""

from __future__ import annotations

import pandas as pd

from exomir.config import resolve_path
from exomir.report import figures
from exomir.report.context import ReportContext, num
from exomir.report.labels import (
    contrast_label,
    fmt_ci,
    fmt_num,
    fmt_p,
    method_label,
    pathway_label,
)
from exomir.report.model import Figure, NotRun, Section, Table, Text
from exomir.report.sections.primary import ARM_LEVEL_NOTE
from exomir.report.sections.visits import pathway_visits


def _roles(ctx: ReportContext) -> dict[str, set[str]]:
    """Negative regulators (role < 0) per pathway family, from the roles file."""
    pw = ctx.config.get("pathways") or {}
    path = pw.get("roles", "@resources/pathways/pathway_roles.tsv")
    if not path:
        return {}
    try:
        full = resolve_path(str(path), ctx.root)
        roles = pd.read_csv(full, sep="\t", comment="#", dtype=str)
    except (OSError, ValueError):
        return {}
    out: dict[str, set[str]] = {}
    for fam, gene, role in zip(
        roles["family"], roles["gene"], roles["role"], strict=True
    ):
        if num(pd.Series([role])).iloc[0] < 0:
            out.setdefault(str(fam), set()).add(str(gene))
    return out


def sign_note(ctx: ReportContext, net: pd.DataFrame, mirna: str) -> str:
    """Explain the unsigned and signed scores, with the primary miRNA's weights.

    The signed weight of the primary miRNA is read from ``network.tsv`` for
    every pathway, so the text states what this network actually encodes.
    """
    text = (
        "How to read the scores. Unsigned scores (weighted aggregate, waggr; "
        "univariate linear model, ulm) measure targeting "
        "pressure: a higher score means the miRNAs that target the pathway's genes "
        "are higher, i.e. more predicted repression of its genes; they do not "
        "measure pathway activity. Signed scores (waggr_signed, ulm_signed) are "
        "reported as -S±, the predicted pathway activity given the roles file "
        "(negative regulators -1, other genes +1): a miRNA with a negative signed "
        "weight (its targets are mostly brakes) raises the predicted activity when it "
        "rises; one with a positive signed weight lowers it."
    )
    panel = net[net["mirna"] == mirna]
    if not len(panel):
        return text + f" {mirna} is not in this network."
    fams = (ctx.config.get("pathways") or {}).get("families") or {}
    brakes = _roles(ctx)
    parts = []
    positive = 0
    for _, r in panel.sort_values("pathway").iterrows():
        targets = [t for t in str(r.get("targets", "")).split(";") if t]
        listed = sorted(
            set(targets) & brakes.get(str(fams.get(r["pathway"], "")), set())
        )
        n_brakes = len(listed) if targets else r.get("n_negative_regulators", "")
        sw = num(pd.Series([r["signed_weight"]])).iloc[0]
        positive += int(sw > 0)
        brake_txt = f" ({', '.join(listed)})" if listed else ""
        parts.append(
            f"{pathway_label(r['pathway'], short=True)}: {r['n_targets_in_pathway']} "
            f"targets, {n_brakes} listed brake(s){brake_txt}, signed weight "
            f"{fmt_num(r['signed_weight'])} (unsigned {fmt_num(r['weight'])})"
        )
    text += "\n" + (
        f"On this network {mirna} has: " + "; ".join(parts) + ". "
        f"Its signed weight is positive in {positive} of {len(panel)} pathways, so in "
        "those a rise of the miRNA predicts lower, not higher, pathway activity. The "
        "literature mechanism (repression of the brakes SPRED1 and PIK3R2 releasing "
        "MAPK and PI3K/AKT signalling, Fish et al. 2008) is carried by few targets in "
        "these sets and is outweighed by the effectors it also targets (docs/pathways.md)."
    )
    return text


def _pathway_tables(
    ctx: ReportContext, sec: Section, tests: pd.DataFrame, tests_path: str
) -> None:
    """Compact primary ANCOVA table, contrast enrichment, full table collapsed."""
    primary = [str(p) for p in (ctx.config.get("pathways") or {}).get("primary", [])]
    present = list(dict.fromkeys(tests["pathway"]))
    shown = [p for p in primary if p in present] or present
    order = {m: i for i, m in enumerate(PATHWAY_METHODS)}
    anc = tests[(tests["analysis"] == "ancova") & tests["pathway"].isin(shown)].copy()
    if len(anc):
        anc["_o"] = [
            (shown.index(p), order.get(m, 99), m)
            for p, m in zip(anc["pathway"], anc["method"], strict=True)
        ]
        anc = anc.sort_values("_o")
        compact = pd.DataFrame(
            {
                "pathway": [pathway_label(p) for p in anc["pathway"]],
                "method": [METHOD_LABELS.get(m, m) for m in anc["method"]],
                "contrast": [contrast_label(c, ctx.arms) for c in anc["contrast"]],
                "estimate (95% CI)": [
                    fmt_ci(e, lo, hi)
                    for e, lo, hi in zip(
                        anc["estimate"], anc["ci_low"], anc["ci_high"], strict=True
                    )
                ],
                "p": [fmt_p(v) for v in anc["p_value"]],
                "Holm p": [fmt_p(v) for v in anc["p_adjusted"]],
                "n": anc["n"],
            }
        )
        which = "primary pathways" if shown is not present else "pathways"
        sec.add(
            Table(
                f"Pathway score ANCOVA, {which} (treated - reference at follow-up)",
                compact,
                source=[tests_path],
                note="The weighted aggregate (waggr) is the primary method, the others are sensitivity analyses; Holm over the primary pathways within each method.",
                arm_level=True,
                preformatted=True,
            )
        )
    enr = tests[
        (tests["analysis"] == "contrast_enrichment") & (tests["method"] == "waggr")
    ]
    if len(enr):
        contrasts = list(dict.fromkeys(enr["contrast"]))
        rows = []
        for p in [p for p in primary if p in set(enr["pathway"])] + sorted(
            set(enr["pathway"]) - set(primary)
        ):
            row = {"pathway": pathway_label(p)}
            for c in contrasts:
                hit = enr[(enr["pathway"] == p) & (enr["contrast"] == c)]
                row[contrast_label(c, ctx.arms)] = (
                    f"{fmt_num(hit['statistic'].iloc[0])} (p {fmt_p(hit['p_value'].iloc[0])})"
                    if len(hit)
                    else ""
                )
            rows.append(row)
        sec.add(
            Table(
                "Contrast-level enrichment (weighted aggregate, waggr): statistic (empirical p)",
                pd.DataFrame(rows),
                source=[tests_path],
                note="Statistic of each DE contrast's miRNA changes against the pathway weights; p from degree-preserving permutations of the miRNA labels.",
                arm_level=True,
                preformatted=True,
                wide=len(contrasts) > 6,
            )
        )
    full = tests.copy()
    # Model warnings are shown whole (the wide table wraps long cells).
    if "pathway" in full:
        full["pathway"] = [pathway_label(p) for p in full["pathway"]]
    if "method" in full:
        full["method"] = [method_label(m) for m in full["method"]]
    if "contrast" in full:
        full["contrast"] = [contrast_label(c, ctx.arms) for c in full["contrast"]]
    if "analysis" in full:
        full["analysis"] = [str(a).replace("_", " ") for a in full["analysis"]]
    sec.add(
        Table(
            "All pathway tests (every pathway, method and analysis)",
            full,
            source=[tests_path],
            collapsed=True,
            arm_level=True,
            wide=True,
        )
    )


#: Pathway score methods in report order (primary first) and their labels.
PATHWAY_METHODS = ["waggr", "ulm", "waggr_signed", "ulm_signed"]


METHOD_LABELS = {
    "waggr": "weighted aggregate (waggr), primary",
    "ulm": "univariate linear model (ulm), sensitivity",
    "waggr_signed": "weighted aggregate, signed (waggr_signed), sensitivity",
    "ulm_signed": "univariate linear model, signed (ulm_signed), sensitivity",
}


def pathways(ctx: ReportContext, sec: Section) -> Section:
    """§8: pathway scores by arm x time, tests (Holm), enrichment, miR-126 panel."""
    tests_path, scores_path, net_path = (
        "results/pathways/tests.tsv",
        "results/pathways/scores.tsv",
        "results/pathways/network.tsv",
    )
    tests, scores, net = (
        ctx.table(tests_path),
        ctx.table(scores_path),
        ctx.table(net_path),
    )
    withheld = ctx.is_withheld(tests_path) or ctx.is_withheld(scores_path)
    if tests is None and scores is None and not (withheld and net is not None):
        sec.add(
            NotRun(
                "pathway scoring (pathway stage)",
                ctx.missing(tests_path, scores_path, net_path),
            )
        )
        return sec
    if net is not None:
        mirna = str(ctx.config.get("trial", {}).get("primary_mirna", "hsa-miR-126-3p"))
        panel = net[net["mirna"] == mirna]
        for para in sign_note(ctx, net, mirna).split("\n"):
            sec.add(Text(para))
        if len(panel):
            cols = [
                c
                for c in [
                    "pathway",
                    "n_targets_in_pathway",
                    "n_targets_total",
                    "n_negative_regulators",
                    "weight",
                    "signed_weight",
                    "targets",
                ]
                if c in panel
            ]
            shown = panel[cols].copy()
            shown["pathway"] = [pathway_label(p) for p in shown["pathway"]]
            if "targets" in shown:
                shown["targets"] = shown["targets"].str.replace(";", ", ")
            sec.add(
                Table(
                    f"{mirna} in the pathway network",
                    shown.rename(
                        columns={
                            "n_targets_in_pathway": "targets in pathway",
                            "n_targets_total": "targets in total",
                            "n_negative_regulators": "of which brakes",
                            "signed_weight": "signed weight",
                        }
                    ),
                    source=[net_path],
                )
            )
        shown_net = net.copy()
        if "pathway" in shown_net:
            shown_net["pathway"] = [pathway_label(p) for p in shown_net["pathway"]]
        sec.add(
            Table(
                "miRNA -> pathway network weights",
                shown_net,
                source=[net_path],
                collapsed=True,
                wide=True,
            )
        )
    if not ctx.closed:
        sec.add(
            Text(
                f"Pathway scores and tests compare arms. {ARM_LEVEL_NOTE}", kind="note"
            )
        )
        return sec
    if scores is not None:
        scores["score"] = num(scores["score"])
        methods = list(dict.fromkeys(scores["method"]))
        main = "waggr" if "waggr" in methods else methods[0]
        sub = scores[scores["method"] == main]
        arms = [a for a in ctx.arms if a in set(sub["arm"])]
        primary = [
            str(p) for p in (ctx.config.get("pathways") or {}).get("primary", [])
        ]
        paths = [p for p in primary if p in set(sub["pathway"])]
        paths += sorted(set(sub["pathway"]) - set(paths))
        sec.add(
            Figure(
                f"Per-sample pathway scores ({method_label(main)}) by arm and timepoint",
                source=[scores_path],
                alt="pathway scores",
                uri=figures.score_boxes(
                    sub,
                    arms,
                    ctx.timepoints,
                    paths,
                    [pathway_label(p, True) for p in paths],
                ),
                note="Unsigned score = targeting pressure (higher: the pathway's targeting miRNAs are higher).",
                arm_level=True,
            )
        )
    if tests is not None:
        _pathway_tables(ctx, sec, tests, tests_path)
    pathway_visits(ctx, sec)
    return sec
