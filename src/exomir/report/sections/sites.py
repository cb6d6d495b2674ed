"""The sites section: enrolment, completeness, QC and AEs by site; site-by-arm.

Closed report: every by-site table split by arm
(``results/clinical/sites_closed.tsv``), the site-by-arm sensitivity analyses
of the primary ANCOVA and of the continuous clinical endpoints with their
forest plots, and the batch/site confounding check. Open report: the
pooled-over-arms copy (``sites_open.tsv``: enrolment, completeness and read-QC
failures, no AEs) and the batch/site check (no arm). Without ``design.sites``
(at least two sites) the section says that site is not analysed.
"""

from __future__ import annotations

import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, num
from exomir.report.labels import fmt_p
from exomir.report.model import Figure, NotRun, Section, Table, Text

CLOSED = "results/clinical/sites_closed.tsv"
OPEN = "results/clinical/sites_open.tsv"
BATCH = "results/qc/batch_site.tsv"
SITE_BY_ARM = (
    ("Primary miRNA", "results/primary/site_by_arm.tsv"),
    ("Continuous clinical endpoints (mITT)", "results/clinical/site_by_arm.tsv"),
)
TABLE_TITLES = {
    "enrolment": "Enrolment by site",
    "completeness": "Data completeness by site and visit",
    "read_qc": "Read-QC failures by site",
    "adverse_events": "Adverse events by site",
}


def _cell(n: str, pct: str) -> str:
    p = num(pd.Series([pct])).iloc[0]
    return f"{n} ({p:.0f}%)" if pd.notna(p) else n


def _wide(df: pd.DataFrame, by_arm: bool) -> pd.DataFrame:
    """One row per site and item; one column per arm (closed) or n (open)."""
    d = df.assign(
        value=[_cell(n, p) for n, p in zip(df["n"], df["percent"], strict=True)]
    )
    if not by_arm:
        return d[["site", "site_name", "item", "value"]].rename(
            columns={"value": "n (% of denominator)"}
        )
    wide = d.pivot_table(
        index=["site", "site_name", "item"],
        columns="arm",
        values="value",
        aggfunc="first",
        sort=False,
    ).reset_index()
    wide.columns.name = None
    return wide


def _site_tables(ctx: ReportContext, sec: Section) -> None:
    path = CLOSED if ctx.closed else OPEN
    df = ctx.table(path)
    if df is None:
        sec.add(NotRun("tables by site (sites stage)", [path]))
        return
    for key, title in TABLE_TITLES.items():
        part = df[df["table"] == key]
        if part.empty:
            continue
        sec.add(
            Table(
                title + (" and arm" if ctx.closed else " (arms pooled)"),
                _wide(part, ctx.closed),
                source=[path],
                note="Denominator: participants randomised at the site (libraries "
                "assessed for read-QC failures).",
                arm_level=ctx.closed,
                collapsed=key == "completeness",
            )
        )


def _batch(ctx: ReportContext, sec: Section) -> None:
    df = ctx.table(BATCH)
    if df is None:
        sec.add(NotRun("batch/site confounding check (sites stage)", [BATCH]))
        return
    summary = df[df["table"] == "summary"]
    for _, r in summary[summary["confounded"] == "true"].iterrows():
        sec.add(Text(f"Warning: {r['note']}.", kind="warn"))
    if len(summary) and not (summary["confounded"] == "true").any():
        sec.add(
            Text(
                "No sequencing batch is confounded with site (Cramer's V below "
                "the threshold and no batch column with every batch from one site)."
            )
        )
    sec.add(
        Table(
            "Sequencing batches by site",
            df[
                [
                    "table",
                    "batch_column",
                    "batch",
                    "site",
                    "n_libraries",
                    "single_site",
                    "cramers_v",
                    "threshold",
                    "confounded",
                ]
            ],
            source=[BATCH],
            collapsed=True,
        )
    )


def _site_by_arm(ctx: ReportContext, sec: Section) -> None:
    for title, path in SITE_BY_ARM:
        df = ctx.table(path)
        if df is None:
            continue
        inter = df[df["row_type"] == "interaction"]
        for _, r in inter.iterrows():
            p = num(pd.Series([r["p_value"]])).iloc[0]
            txt = (
                f"{r['label']}: site x arm interaction F({r['df_num']}, {r['df_den']}) "
                f"= {float(r['statistic']):.2f}, p = {fmt_p(p)} (Wald, HC3)."
                if pd.notna(p)
                else f"{r['label']}: site x arm interaction {r['note']}."
            )
            sec.add(Text(txt, arm_level=True))
        cols = [
            "label",
            "row_type",
            "site",
            "site_name",
            "n_treated",
            "n_reference",
            "estimate",
            "ci_low",
            "ci_high",
            "back_transformed",
            "bt_ci_low",
            "bt_ci_high",
            "p_value",
            "note",
        ]
        shown = df[df["row_type"] != "interaction"][cols].copy()
        for c in (
            "estimate",
            "ci_low",
            "ci_high",
            "back_transformed",
            "bt_ci_low",
            "bt_ci_high",
            "p_value",
        ):
            v = num(shown[c])
            shown[c] = [f"{x:.3g}" if pd.notna(x) else "" for x in v]
        sec.add(
            Table(
                f"{title}: arm effect by site (sensitivity analysis)",
                shown,
                source=[path],
                note="ANCOVA with a site x arm interaction (HC3 SE, t CI); pooled = "
                "the model with site as a factor on the same participants. Estimates "
                "on the model scale; back_transformed = ratio for log-scale "
                "endpoints. Descriptive: the trial is not powered for site effects.",
                arm_level=True,
            )
        )
        png = path.replace(".tsv", ".png")
        if ctx.has(png):
            sec.add(
                Figure(
                    f"{title}: forest plot by site",
                    source=[png],
                    alt="forest plot of the arm effect by site",
                    uri=figures.file_uri(ctx.file(png)),
                    arm_level=True,
                    width="70%",
                )
            )


def sites(ctx: ReportContext, sec: Section) -> Section:
    """Render the sites section (see the module docstring)."""
    sites_cfg = (ctx.config.get("design") or {}).get("sites") or {}
    if len(sites_cfg) < 2:
        sec.add(
            Text(
                "Site is not analysed: config design.sites does not list at least "
                "two sites (site_id, if recorded, is free text)."
            )
        )
        return sec
    names = ", ".join(f"{k} ({v})" for k, v in sites_cfg.items())
    sec.add(Text(f"Sites (config design.sites): {names}."))
    _site_tables(ctx, sec)
    _batch(ctx, sec)
    if ctx.closed:
        _site_by_arm(ctx, sec)
    else:
        sec.add(
            Text(
                "The arm effect by site (site-by-arm sensitivity analysis) and "
                "adverse events by site are in the closed report."
            )
        )
    return sec
