"""Section 3: baseline characteristics, pooled (open) or by arm (closed)."""

from __future__ import annotations

import pandas as pd

from exomir.report.context import POOLED_ARMS, ReportContext, num
from exomir.report.labels import (
    BASELINE_GROUPS,
    param_label,
)
from exomir.report.model import NotRun, Section, Table, Text

GROUP_ORDER = [
    *BASELINE_GROUPS,
    "Baseline labs and vitals",
    "Baseline miRNA",
    "Other",
]


def baseline_row_label(variable: str, level: str, config: dict) -> tuple[str, str]:
    """Group and reader label of a baseline-table row (variable, level)."""
    group = next((g for g, cols in BASELINE_GROUPS.items() if variable in cols), "")
    params = config.get("clinical_parameters") or {}
    if not group:
        if variable in params or variable in ("MAP", "UTA_PI_MEAN", "UTA_RI_MEAN"):
            group = "Baseline labs and vitals"
        elif "mir" in variable.lower() or "let-" in variable.lower():
            group = "Baseline miRNA"
        else:
            group = "Other"
    if group == "Baseline miRNA":
        return group, variable.replace("(log2)", "(VST, log2 scale)")
    label = param_label(variable, config)
    lvl = str(level)
    if lvl.lower() in ("true", "yes", "1") and variable not in params:
        return group, label
    if lvl:
        return group, f"{label}: {lvl.replace('_', ' ')}"
    return group, label


def _grouped(table: pd.DataFrame, groups: list[str]) -> tuple[pd.DataFrame, list[int]]:
    """Insert a heading row before each group; return the table and heading rows."""
    rows: list[list[str]] = []
    heads: list[int] = []
    width = table.shape[1]
    for g in GROUP_ORDER:
        idx = [i for i, gg in enumerate(groups) if gg == g]
        if not idx:
            continue
        heads.append(len(rows))
        rows.append([g] + [""] * (width - 1))
        rows += [list(table.iloc[i]) for i in idx]
    return pd.DataFrame(rows, columns=table.columns), heads


#: What the baseline table's ``statistic`` codes mean (for the note).
BASELINE_NOTE = (
    "n: participants with a value. Continuous variables: mean (SD); variables "
    "analysed on the log scale (transform: log, e.g. UPCR): geometric mean "
    "(×/÷ geometric SD, a multiplicative factor). Categories: n (%) of those "
    "with a value. No p-values (randomised comparison)."
)


def _mirna_rows(
    vals: pd.DataFrame, groups: list[str], label: str
) -> list[dict[str, str]]:
    """Baseline rows of the primary miRNA on the primary-analysis scale.

    One row per group (an arm or ``all``): participants with a baseline value
    and mean (SD) of ``y_baseline`` of ``results/primary/mir126_values.tsv``
    (log2 normalised count, the scale of the primary ANCOVA).
    """
    y = num(vals["y_baseline"])
    rows = []
    for g in groups:
        sel = y if g == "all" else y[vals["arm"] == g]
        sel = sel.dropna()
        summ = (
            f"{sel.mean():.2f} ({sel.std(ddof=1):.2f})"
            if len(sel) > 1
            else (f"{sel.mean():.2f}" if len(sel) else "")
        )
        rows.append(
            {
                "variable": label,
                "level": "",
                "arm": g,
                "n": str(len(sel)),
                "summary": summ,
                "statistic": "mean (SD)",
            }
        )
    return rows


def _arm_totals(ctx: ReportContext, df: pd.DataFrame) -> dict[str, int]:
    """Participants per arm (and ``all``) for the column headers.

    From the participants sheet when it has the arm (closed report) or from
    its length (open report, blinded copy); else the largest row n.
    """
    part = ctx.sheet("participants")
    n_row = num(df["n"]).groupby(df["arm"]).max()
    out = {str(a): int(v) for a, v in n_row.items() if v == v}
    if part is not None and "arm" in part:
        arms = part[part["arm"].isin(ctx.arms)]
        out.update({a: int((arms["arm"] == a).sum()) for a in ctx.arms})
        out["all"] = len(arms)
    elif part is not None and len(part):
        out["all"] = len(part)
    return out


def baseline(ctx: ReportContext, sec: Section) -> Section:
    """§3: baseline characteristics (pooled column in the open report).

    Every row shows n (participants with a value); variables analysed on the
    log scale are summarised by their geometric mean; the primary miRNA has
    one row, on the scale of the primary ANCOVA (log2 normalised count from
    ``results/primary/mir126_values.tsv``) when that file is present, else
    the clinical stage's VST row.
    """
    path = "results/clinical/baseline_table.tsv"
    vals_path = "results/primary/mir126_values.tsv"
    df = ctx.table(path)
    vals = ctx.table(vals_path)
    mirna = str(ctx.config.get("trial", {}).get("primary_mirna", "primary miRNA"))
    if df is None:
        sec.add(NotRun("baseline table (clinical stage)", [path]))
        return sec
    if "statistic" not in df:
        df["statistic"] = [
            "n (%)" if str(lv) else "mean (SD)" for lv in df["level"].astype(str)
        ]
    source = [path]
    groups_of = [baseline_row_label(v, "", ctx.config)[0] for v in df["variable"]]
    is_mir = pd.Series([g == "Baseline miRNA" for g in groups_of], index=df.index)
    mir_label = f"{mirna} (log2 normalised count, primary-analysis scale)"
    if vals is not None and "y_baseline" in vals:
        df = df[~is_mir]
        arm_groups = ["all"] + (
            [a for a in ctx.arms if a in set(vals["arm"])]
            if ctx.closed and "arm" in vals
            else []
        )
        df = pd.concat(
            [df, pd.DataFrame(_mirna_rows(vals, arm_groups, mir_label))],
            ignore_index=True,
        ).fillna("")
        source.append(vals_path)
    labelled = [
        baseline_row_label(v, lv, ctx.config)
        if v != mir_label
        else ("Baseline miRNA", v)
        for v, lv in zip(df["variable"], df["level"], strict=True)
    ]
    df["row"] = [lab for _, lab in labelled]
    group_of = {lab: g for g, lab in labelled}
    stat_of = dict(zip(df["row"], df["statistic"], strict=True))
    totals = _arm_totals(ctx, df)
    pooled = df["arm"].str.lower().isin(POOLED_ARMS)
    if ctx.closed:
        arms = [a for a in ctx.arms if a in set(df["arm"])] + [
            a for a in dict.fromkeys(df["arm"]) if a not in ctx.arms
        ]
        wide = pd.DataFrame({"characteristic": list(dict.fromkeys(df["row"]))})
        wide["statistic"] = [stat_of[r] for r in wide["characteristic"]]
        for a in arms:
            sub = df[df["arm"] == a].drop_duplicates("row").set_index("row")
            head = "all participants" if a.lower() in POOLED_ARMS else a
            wide[f"{head} n"] = [
                str(sub["n"].get(r, "")) for r in wide["characteristic"]
            ]
            wide[f"{head} (N = {totals.get(a, '')})"] = [
                str(sub["summary"].get(r, "")) for r in wide["characteristic"]
            ]
        wide, heads = _grouped(wide, [group_of[r] for r in wide["characteristic"]])
        sec.add(
            Table(
                "Baseline characteristics by arm (no p-values)",
                wide,
                source=source,
                note=BASELINE_NOTE,
                arm_level=True,
                preformatted=True,
                groups=heads,
            )
        )
    elif pooled.any():
        sub = df[pooled].drop_duplicates("row")
        n_all = totals.get(str(sub["arm"].iloc[0]), totals.get("all", ""))
        out = pd.DataFrame(
            {
                "characteristic": sub["row"].to_numpy(),
                "statistic": sub["statistic"].to_numpy(),
                "n": sub["n"].astype(str).to_numpy(),
                f"all participants (N = {n_all})": sub["summary"].to_numpy(),
            }
        )
        out, heads = _grouped(out, [group_of[r] for r in out["characteristic"]])
        sec.add(
            Table(
                "Baseline characteristics, arms pooled",
                out,
                source=source,
                note=BASELINE_NOTE,
                preformatted=True,
                groups=heads,
            )
        )
    else:
        sec.add(
            Text(
                f"{path} has no pooled column (arm 'all'); the by-arm table is in the closed report.",
                kind="note",
            )
        )
    if vals is not None and "y_baseline" in vals:
        sec.add(
            Text(
                f"Baseline {mirna}: one row, on the scale of the primary ANCOVA "
                "(log2 of the normalised count plus pseudocount, size factors of "
                "the DE stage; results/primary/mir126_values.tsv). The clinical "
                "stage's VST value of the same miRNA (used for the association "
                "analysis) is not shown, so the table has one baseline summary.",
                kind="note",
            )
        )
    return sec
