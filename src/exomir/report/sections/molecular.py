"""Molecular sections: EV product, sequencing QC, primary miRNA, miRNAome, pathways."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.config import resolve_path
from exomir.report import figures
from exomir.report.context import ReportContext, is_true, num
from exomir.report.labels import (
    contrast_label,
    fmt_ci,
    fmt_fixed,
    fmt_num,
    fmt_p,
    method_label,
    pathway_label,
)
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text

ARM_LEVEL_NOTE = "Results by arm are in the closed DSMB report."


def lot_table(summ: pd.DataFrame) -> pd.DataFrame:
    """Compact lot certificate: verdict, sizes, purity, endotoxin."""
    out = pd.DataFrame({"lot": summ["lot_id"]})
    for col, name in [
        ("verdict", "verdict"),
        ("verdict_reason", "reason"),
        ("release_decision", "release"),
    ]:
        if col in summ:
            out[name] = summ[col]
    if "conc_per_ml" in summ:
        out["particles/mL"] = [fmt_num(v) for v in summ["conc_per_ml"]]
    if {"d10_nm", "d50_nm", "d90_nm"} <= set(summ.columns):
        out["mode; D10 / D50 / D90 (nm)"] = [
            f"{fmt_num(m)}; {fmt_num(a)} / {fmt_num(b)} / {fmt_num(c)}"
            for m, a, b, c in zip(
                summ.get("mode_nm", summ["d50_nm"]),
                summ["d10_nm"],
                summ["d50_nm"],
                summ["d90_nm"],
                strict=True,
            )
        ]
    if "frac_in_window" in summ:
        out["% in size window"] = [
            f"{v * 100:.1f}" if np.isfinite(v) else ""
            for v in num(summ["frac_in_window"])
        ]
    for col, name in [
        ("particles_per_ug", "particles/µg protein"),
        ("endotoxin_eu_per_ml", "endotoxin (EU/mL)"),
        ("sterility", "sterility"),
        ("mycoplasma", "mycoplasma"),
    ]:
        if col in summ:
            out[name] = [fmt_num(v) if v and v[0].isdigit() else v for v in summ[col]]
    for name in ("sterility", "mycoplasma"):
        if name in out and out[name].nunique() == 1:
            out = out.drop(columns=name)
    return out


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
    lots = lot_table(summ)
    same = [
        f"{c} {summ[c].iloc[0]}"
        for c in ("sterility", "mycoplasma")
        if c in summ and c not in lots and len(summ)
    ]
    sec.add(
        Table(
            "Lot certificate (pass/fail against the configured specification)",
            lots,
            source=[summ_path],
            preformatted=True,
            note=f"Every lot: {', '.join(same)}." if same else "",
        )
    )
    sec.add(
        Table(
            "Lot summary, all columns",
            summ[cols],
            source=[summ_path],
            collapsed=True,
            wide=True,
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
    if not ctx.closed and ctx.is_withheld(dose_path):
        sec.add(
            Text(
                f"Dose per participant reveals allocation and is in the closed report ({dose_path}).",
                kind="note",
            )
        )
    elif dose is not None:
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
    if ctx.closed:
        _infusion_interruptions(ctx, sec)
    return sec


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
    _batch_balance(ctx, sec)
    return sec


def _batch_balance(ctx: ReportContext, sec: Section) -> None:
    """Show libraries per batch and arm (closed); flag batches of one arm only.

    A batch whose libraries all come from one arm confounds the batch effect
    with the arm effect, which no batch covariate can separate.
    """
    path = "results/clinical/batch_balance.tsv"
    bal = ctx.table(path)
    if bal is None:
        if not ctx.closed and ctx.is_withheld(path):
            sec.add(
                Text(
                    "Extraction and library batches by arm are in the closed report.",
                    kind="note",
                )
            )
        return
    if bal.empty:
        sec.add(
            Text(
                "Batch-by-arm balance: the samples sheet records no extraction, "
                "library or sequencing batch.",
                kind="note",
                arm_level=True,
            )
        )
        return
    bal["n_libraries"] = num(bal["n_libraries"]).astype(int)
    arms = [a for a in [*ctx.arms, "all"] if a in set(bal["arm"])]
    wide = bal.pivot_table(
        index=["batch_type", "batch"],
        columns="arm",
        values="n_libraries",
        aggfunc="sum",
        sort=False,
    ).reset_index()
    one = bal.drop_duplicates(["batch_type", "batch"]).set_index(
        ["batch_type", "batch"]
    )["single_arm"]
    wide["one arm only"] = [
        "YES" if is_true(pd.Series([one[(t, b)]])).iloc[0] else ""
        for t, b in zip(wide["batch_type"], wide["batch"], strict=True)
    ]
    wide["batch_type"] = [
        str(t).replace("_", " ").replace("batch", "").strip() or str(t)
        for t in wide["batch_type"]
    ]
    out = wide[["batch_type", "batch", *arms, "one arm only"]].rename(
        columns={"batch_type": "step", "all": "total"}
    )
    flagged = out[out["one arm only"] == "YES"]
    if len(flagged):
        sec.add(
            Text(
                "Batch confounded with arm: "
                + "; ".join(
                    f"{r.step} batch {r.batch} ({r.total} libraries, one arm only)"
                    for r in flagged.itertuples()
                )
                + ". Its batch effect cannot be told apart from the arm effect.",
                kind="warn",
                arm_level=True,
            )
        )
    sec.add(
        Table(
            "Libraries per batch and arm (batch-by-arm balance)",
            out,
            source=[path],
            note="Counts of libraries in the samples sheet (all timepoints). "
            "'one arm only': a batch of two or more libraries all from one arm.",
            arm_level=True,
        )
    )


def _infusion_interruptions(ctx: ReportContext, sec: Section) -> None:
    """Exposure: participants whose infusion was interrupted (closed report).

    The dose table records what was delivered; an interruption is recorded as
    the action taken with the study product on the adverse-event sheet.
    """
    path = "results/clinical/ae_listing.tsv"
    ae = ctx.table(path)
    if ae is None or "action" not in ae:
        return
    hit = ae[ae["action"].isin(["interrupted", "withdrawn"])]
    if hit.empty:
        sec.add(
            Text(
                "Exposure: no adverse event led to an interrupted or stopped "
                "infusion (adverse-event sheet, action with study product).",
                arm_level=True,
            )
        )
        return
    n = hit["participant_id"].nunique()
    sec.add(
        Text(
            f"Exposure: {n} participant(s) had the infusion interrupted or "
            "stopped because of an adverse event; the dose above is the dose "
            "recorded as delivered.",
            kind="warn",
            arm_level=True,
        )
    )
    sec.add(
        Table(
            "Infusions interrupted or stopped because of an adverse event",
            pd.DataFrame(
                {
                    "participant": hit["participant_id"],
                    "arm": hit["arm"],
                    "event (PT)": hit["pt"],
                    "CTCAE grade": hit["ctcae_grade"],
                    "serious": hit["serious"].map({"Y": "yes", "N": "no"}),
                    "relatedness": hit["related"],
                    "onset day": hit["onset_day"],
                    "action": hit["action"].map(
                        {"interrupted": "infusion interrupted", "withdrawn": "stopped"}
                    ),
                    "outcome": [str(o).replace("_", " ") for o in hit["outcome"]],
                }
            ),
            source=[path],
            arm_level=True,
        )
    )


def _fmt_ratio(row: pd.Series) -> str:
    return f"{float(row['ratio']):.2f} ({float(row['ratio_ci_low']):.2f} to {float(row['ratio_ci_high']):.2f})"


def _fmt_ci(est: str, lo: str, hi: str) -> str:
    if not est:
        return "not estimable"
    return f"{float(est):.2f} ({float(lo):.2f} to {float(hi):.2f})"


def tipping_text(ctx: ReportContext, res: pd.DataFrame) -> str:
    """Describe the tipping-point result in words (delta at which p crosses 0.05).

    Read from ``results/primary/tipping_point.tsv`` (grid of delta-adjusted
    MI analyses); without it, the ``tipping_point`` row's note of the ANCOVA
    table is used.
    """
    path = "results/primary/tipping_point.tsv"
    tp = ctx.table(path)
    if tp is None or "row_type" not in tp:
        row = res[res["analysis"] == "tipping_point"]
        if len(row) and "note" in row:
            notes = [n for n in str(row["note"].iloc[0]).split("; ") if "delta" in n]
            if notes:
                return f"Tipping-point analysis: {notes[-1]}."
        return ""
    grid = tp[tp["row_type"] == "grid"].copy()
    if not len(grid):
        return ""
    grid["d"] = num(grid["delta_log2"])
    grid["p"] = num(grid["pvalue"])
    grid = grid.dropna(subset=["d", "p"])
    if not len(grid):
        return ""
    grid = grid.assign(_a=grid["d"].abs()).sort_values("_a")
    base = grid.iloc[0]
    sig0 = bool(base["p"] < 0.05)
    flips = grid[(grid["p"] < 0.05) != sig0]
    lo, hi = grid["d"].min(), grid["d"].max()
    n_imp = str(base.get("imputations", ""))
    text = (
        "Tipping-point analysis of the missing follow-up values (multiple imputation"
        f"{f', {n_imp} imputations' if n_imp else ''}; delta added to the imputed "
        f"values of the treated arm, log2 scale, searched from {fmt_num(lo)} to "
        f"{fmt_num(hi)}): under MAR (delta = {fmt_num(base['d'])}) the difference is "
        f"{_fmt_ci(base['estimate_log2'], base['ci_low_log2'], base['ci_high_log2'])} "
        f"log2, p = {fmt_p(base['p'])}. "
    )
    if len(flips):
        f = flips.iloc[0]
        way = "falls below" if not sig0 else "rises above"
        text += (
            f"p {way} 0.05 at delta = {fmt_num(f['d'])} log2 (p = {fmt_p(f['p'])}); "
            "a departure from MAR of that size would change the conclusion."
        )
    else:
        best = grid.loc[grid["p"].idxmin()]
        state = "stays above" if not sig0 else "stays below"
        text += (
            f"p {state} 0.05 over the whole searched range (smallest p "
            f"{fmt_p(best['p'])} at delta = {fmt_num(best['d'])}): no tipping point "
            "within the searched range."
        )
    return text


def primary(ctx: ReportContext, sec: Section) -> Section:
    """§6: primary miRNA ANCOVA with sensitivity analyses and the spaghetti plot."""
    path, vals_path = (
        "results/primary/mir126_ancova.tsv",
        "results/primary/mir126_values.tsv",
    )
    if not ctx.closed and (ctx.has(path) or ctx.is_withheld(path)):
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
    res = ctx.table(path)
    if res is None:
        sec.add(NotRun("primary miRNA analysis (DE/primary stage)", [path]))
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
            wide=True,
        )
    )
    tip = tipping_text(ctx, res)
    if tip:
        sec.add(Text(tip, arm_level=True))
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
    from exomir.de.settings import de_settings

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
    return sec
