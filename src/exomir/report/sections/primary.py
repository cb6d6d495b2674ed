"""Section 5, the primary biomarker: its analysis, sensitivity and tipping point."""

from __future__ import annotations

import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, is_true, num
from exomir.report.labels import (
    fmt_num,
    fmt_p,
)
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text
from exomir.report.sections.longitudinal import repeated_measures

ARM_LEVEL_NOTE = "Results by arm are in the closed DSMB report."


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
        _pooled_counts(ctx, sec, vals_path)
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
    _analysis_tables(sec, res, path)
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
    repeated_measures(ctx, sec, "primary")
    return sec


def _pooled_counts(ctx: ReportContext, sec: Section, vals_path: str) -> None:
    """Open report: say the analysis is by arm and give the pooled counts."""
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


def _analysis_tables(sec: Section, res: pd.DataFrame, path: str) -> None:
    """Add the primary ANCOVA with its sensitivity analyses and model notes."""
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
