"""Molecular sections: EV product, sequencing QC, primary miRNA, miRNAome, pathways."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, is_true, num
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text

ARM_LEVEL_NOTE = "Results by arm are in the closed DSMB report."


def ev_product(ctx: ReportContext, sec: Section) -> Section:
    """§4: lot certificate, NTA sizes, particles/ug, MISEV checklist, dose."""
    summ_path, qc_path = "results/ev/lot_summary.tsv", "results/ev/lot_qc.tsv"
    summ = ctx.table(summ_path)
    if summ is None:
        sec.add(
            NotRun(
                "EV product characterisation (EV stage; needs the ev_lots and ev_nta_runs sheets)",
                [summ_path],
            )
        )
        return sec
    cols = [
        c
        for c in [
            "lot_id",
            "verdict",
            "verdict_reason",
            "release_decision",
            "n_runs",
            "instruments",
            "conc_per_ml",
            "mode_nm",
            "d10_nm",
            "d50_nm",
            "d90_nm",
            "frac_in_window",
            "particles_per_ug",
            "zeta_mv",
            "endotoxin_eu_per_ml",
            "sterility",
            "mycoplasma",
        ]
        if c in summ
    ]
    n_pass = int(summ["verdict"].eq("pass").sum()) if "verdict" in summ else 0
    sec.add(
        KeyValues(
            [
                ("Lots", str(len(summ))),
                ("Lots passing the certificate", str(n_pass)),
                ("Lots failing", str(len(summ) - n_pass)),
            ],
            source=[summ_path],
        )
    )
    sec.add(
        Table(
            "Lot certificate (pass/fail against the configured specification)",
            summ[cols],
            source=[summ_path],
        )
    )
    qc = ctx.table(qc_path)
    if qc is not None:
        sec.add(
            Table("Certificate criteria per lot", qc, source=[qc_path], collapsed=True)
        )
    for rel, title in [
        ("results/ev/size_distributions.png", "NTA size distributions per lot"),
        (
            "results/ev/lot_metrics.png",
            "Lot metrics: mode/D10/D50/D90, particles per ug protein",
        ),
    ]:
        if ctx.has(rel):
            sec.add(
                Figure(
                    title, source=[rel], alt=title, uri=figures.file_uri(ctx.file(rel))
                )
            )
    mis_path = "results/ev/misev_checklist.tsv"
    mis = ctx.table(mis_path)
    if mis is not None:
        counts = (
            mis.groupby(["lot_id", "level", "status"]).size().reset_index(name="items")
        )
        sec.add(
            Table(
                "MISEV2023 checklist: items reported per lot",
                counts,
                source=[mis_path],
                collapsed=True,
            )
        )
    dose_path = "results/ev/dose_per_participant.tsv"
    dose = ctx.table(dose_path)
    if dose is not None:
        if ctx.closed:
            keep = [
                c
                for c in [
                    "participant_id",
                    "arm",
                    "route",
                    "ev_lot_id",
                    "lot_verdict",
                    "dose_1e9_particles",
                    "dose_protein_ug",
                    "dose_endotoxin_eu",
                    "dose_ratio_to_label",
                    "flag",
                    "flag_reason",
                ]
                if c in dose
            ]
            sec.add(
                Table(
                    "Dose delivered per participant",
                    dose[keep],
                    source=[dose_path],
                    collapsed=True,
                    arm_level=True,
                )
            )
            flagged = dose[is_true(dose.get("flag", pd.Series(dtype=str)))]
            if len(flagged):
                sec.add(
                    Table(
                        "Participants with a flagged dose",
                        flagged[keep],
                        source=[dose_path],
                        arm_level=True,
                    )
                )
        else:
            sec.add(
                Text(
                    f"Dose per participant reveals allocation and is in the closed report ({dose_path}).",
                    kind="note",
                )
            )
    return sec


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
                "Libraries failing QC or with warnings", failed[keep], source=[qc_path]
            )
        )
    else:
        sec.add(Text("Every library passed QC without warnings."))
    qcn = qc.copy()
    for c in ("hemolysis_log2ratio", "hemolysis_threshold"):
        qcn[c] = num(qcn[c])
    if qcn["hemolysis_log2ratio"].notna().any():
        sec.add(
            Figure(
                "Haemolysis score per library (miR-451a / miR-23a-3p) with the gate",
                source=[qc_path],
                alt="haemolysis ratios",
                uri=figures.hemolysis_plot(qcn),
            )
        )
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
        )
    )
    sec.add(
        Text(
            "Not produced by any stage yet (analysis_spec §5.8 item 5): spike-in "
            "linearity and the C19MC time positive control.",
            kind="note",
        )
    )
    pca_path = "results/de/pca.tsv"
    pca = ctx.table(pca_path)
    if pca is not None:
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
    return sec


def _fmt_ratio(row: pd.Series) -> str:
    return f"{float(row['ratio']):.2f} ({float(row['ratio_ci_low']):.2f} to {float(row['ratio_ci_high']):.2f})"


def _fmt_ci(est: str, lo: str, hi: str) -> str:
    if not est:
        return "not estimable"
    return f"{float(est):.2f} ({float(lo):.2f} to {float(hi):.2f})"


def primary(ctx: ReportContext, sec: Section) -> Section:
    """§6: primary miRNA ANCOVA with sensitivity analyses and the spaghetti plot."""
    path, vals_path = (
        "results/primary/mir126_ancova.tsv",
        "results/primary/mir126_values.tsv",
    )
    res = ctx.table(path)
    if res is None:
        sec.add(NotRun("primary miRNA analysis (DE/primary stage)", [path]))
        return sec
    if not ctx.closed:
        sec.add(
            Text(
                f"The primary biomarker analysis compares arms. {ARM_LEVEL_NOTE}",
                kind="note",
            )
        )
        vals = ctx.table(vals_path)
        if vals is not None:
            bl = num(vals["y_baseline"]).notna()
            fu = num(vals["y_followup"]).notna()
            sec.add(
                KeyValues(
                    [
                        ("Participants (arms pooled)", str(len(vals))),
                        ("with a baseline value", str(int(bl.sum()))),
                        ("with both values (paired)", str(int((bl & fu).sum()))),
                    ],
                    source=[vals_path],
                )
            )
        return sec
    mirna = str(ctx.config.get("trial", {}).get("primary_mirna", ""))
    prim = res[res["analysis"] == "primary_ancova"]
    if len(prim):
        r = prim.iloc[0]
        sec.add(
            KeyValues(
                [
                    (
                        f"{mirna} ratio {r['treated_arm']}/{r['reference_arm']} (95% CI)",
                        _fmt_ratio(r) if r["ratio"] else "not estimable",
                    ),
                    (
                        "p (unadjusted, pre-specified)",
                        f"{float(r['pvalue']):.3g}" if r["pvalue"] else "",
                    ),
                    (
                        "n (treated / reference)",
                        f"{r['n']} ({r['n_treated']} / {r['n_reference']})",
                    ),
                ],
                source=[path],
                arm_level=True,
            )
        )
    compact = pd.DataFrame(
        {
            "analysis": res["analysis"],
            "description": res["description"],
            "n (treated / reference)": res["n"]
            + " ("
            + res["n_treated"]
            + " / "
            + res["n_reference"]
            + ")",
            "log2 difference (95% CI)": [
                _fmt_ci(e, lo, hi)
                for e, lo, hi in zip(
                    res["estimate_log2"],
                    res["ci_low_log2"],
                    res["ci_high_log2"],
                    strict=True,
                )
            ],
            "ratio (95% CI)": [
                _fmt_ci(e, lo, hi)
                for e, lo, hi in zip(
                    res["ratio"], res["ratio_ci_low"], res["ratio_ci_high"], strict=True
                )
            ],
            "p": [f"{float(p):.3g}" if p else "" for p in res["pvalue"]],
        }
    )
    sec.add(
        Table(
            "Primary ANCOVA and sensitivity analyses (ratio = 2^log2 difference; only the primary row is confirmatory)",
            compact,
            source=[path],
            arm_level=True,
        )
    )
    cols = [
        c
        for c in ["analysis", "model", "covariates", "df", "se_log2", "note"]
        if c in res
    ]
    sec.add(
        Table(
            "Models, covariates and notes",
            res[cols],
            source=[path],
            collapsed=True,
            arm_level=True,
        )
    )
    vals = ctx.table(vals_path)
    if vals is not None:
        for c in ("y_baseline", "y_followup"):
            vals[c] = num(vals[c])
        arms = [a for a in ctx.arms if a in set(vals["arm"])]
        sec.add(
            Figure(
                f"Paired log2 {mirna} by arm (thin: participants; black: mean)",
                source=[vals_path],
                alt="spaghetti plot",
                uri=figures.spaghetti(vals, arms, ctx.timepoints),
                arm_level=True,
            )
        )
    return sec


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
    return dict((ctx.config.get("de") or {}).get("contrasts") or {})


def mirnaome(ctx: ReportContext, sec: Section) -> Section:
    """§7: interaction volcano and top table, other contrasts, heatmap."""
    contrasts = _contrasts(ctx)
    inter = [n for n, c in contrasts.items() if c.get("kind") == "interaction"]
    if not ctx.closed:
        if contrasts and ctx.has(f"results/de/{next(iter(contrasts))}.tsv"):
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
        vol = f"results/de/plots/{name}.volcano.svg"
        if k == 0 and ctx.has(vol):
            sec.add(
                Figure(
                    f"Volcano plot, {name} (shrunken LFC)",
                    source=[vol, path],
                    alt=f"volcano {name}",
                    uri=figures.file_uri(ctx.file(vol)),
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
        top = (
            tab.assign(_p=num(tab["pvalue"]))
            .sort_values("_p")
            .head(20 if k == 0 else 10)[cols]
        )
        sec.add(
            Table(
                f"Top miRNAs, {name}",
                top,
                source=[path],
                collapsed=k > 0,
                arm_level=True,
            )
        )
        if k == 0:
            _heatmap(ctx, sec, name, tab)
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
    if tests is None and scores is None:
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
        sec.add(
            Text(
                "Sign note: an unsigned score is 'targeting pressure'. miR-126 represses negative regulators (SPRED1, PIK3R2), so its predicted effect on PI3K/AKT and MAPK is activation; the signed scores encode that direction."
            )
        )
        if len(panel):
            sec.add(Table(f"{mirna} in the pathway network", panel, source=[net_path]))
        sec.add(
            Table(
                "miRNA -> pathway network weights",
                net,
                source=[net_path],
                collapsed=True,
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
        sec.add(
            Figure(
                f"Per-sample pathway scores ({main}) by arm x time",
                source=[scores_path],
                alt="pathway scores",
                uri=figures.score_boxes(sub, arms, ctx.timepoints),
                arm_level=True,
            )
        )
    if tests is not None:
        for analysis in dict.fromkeys(tests["analysis"]):
            sub = tests[tests["analysis"] == analysis]
            sec.add(
                Table(
                    f"Pathway tests: {analysis}",
                    sub,
                    source=[tests_path],
                    arm_level=True,
                    collapsed=analysis not in ("ancova", "contrast_enrichment"),
                )
            )
    return sec
