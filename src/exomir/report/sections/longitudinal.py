"""Repeated measures (MMRM) blocks of the clinical and primary sections.

Closed report only: the per-visit arm differences with 95% CIs, the overall
effect, the covariance structure used and any fallback reason
(``results/clinical/mmrm.tsv`` and ``results/primary/mmrm.tsv``), and the figure
of the arm difference over the visits. The tables are by arm, so they are
closed files (:mod:`exomir.report.firewall`): in the open report
:meth:`ReportContext.table` does not read them and nothing is added. A trial
without repeated measures has no such files and gets no blocks.
"""

from __future__ import annotations

import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, num
from exomir.report.labels import fmt_ci, fmt_p, param_label
from exomir.report.model import Figure, Section, Table, Text

#: (table, figure, what) of each stage's repeated-measures outputs.
OUTPUTS = {
    "clinical": (
        "results/clinical/mmrm.tsv",
        "results/clinical/mmrm.png",
        "continuous clinical endpoints (log scale for log-transformed ones)",
    ),
    "primary": (
        "results/primary/mmrm.tsv",
        "results/primary/mmrm.png",
        "primary miRNA (log2 normalised level)",
    ),
}


def _visit_table(ctx: ReportContext, df: pd.DataFrame, stage: str) -> pd.DataFrame:
    """Rows of the report table: endpoint, visit, day, estimate (CI), p, n."""
    arms = ctx.arms
    treated, control = (arms[-1], arms[0]) if len(arms) >= 2 else ("treated", "control")
    label = (
        [param_label(p, ctx.config) for p in df["endpoint"]]
        if stage == "clinical"
        else list(df["endpoint"])
    )
    est = [
        fmt_ci(e, lo, hi) or "not estimable"
        for e, lo, hi in zip(
            num(df["estimate"]), num(df["ci_low"]), num(df["ci_high"]), strict=True
        )
    ]
    return pd.DataFrame(
        {
            "endpoint": label,
            "population": df["population"].to_numpy(),
            "visit": df["visit"].to_numpy(),
            "planned day": df["day"].to_numpy(),
            f"difference {treated} - {control} (95% CI)": est,
            "p": [fmt_p(v) for v in df["p_value"]],
            f"n ({treated} / {control})": [
                f"{t} / {c}" if str(t).strip() else ""
                for t, c in zip(df["n_treated"], df["n_control"], strict=True)
            ],
        }
    ).reset_index(drop=True)


def _covariance_text(df: pd.DataFrame) -> str:
    """Which covariance each outcome used, and why a fallback was needed."""
    first = df.drop_duplicates(["endpoint", "population"])
    used = first["covariance"].replace("", "not fitted").value_counts()
    parts = [f"{k.replace('_', ' ')}: {v}" for k, v in used.items()]
    text = (
        "Residual covariance across visits (outcome x population fits): "
        + ", ".join(parts)
        + ". Pre-specified order: unstructured, heterogeneous compound symmetry, "
        "heterogeneous AR(1), compound symmetry (docs/longitudinal.md)."
    )
    fb = first[first["fallback_reason"].astype(str).str.strip() != ""]
    if len(fb):
        text += " Fallbacks: " + "; ".join(
            f"{r.endpoint} ({r.population}): {r.fallback_reason}"
            for r in fb.itertuples(index=False)
        )
    return text + "."


def repeated_measures(ctx: ReportContext, sec: Section, stage: str) -> Section:
    """Add the repeated-measures blocks of ``stage`` (``clinical`` / ``primary``)."""
    path, fig, what = OUTPUTS[stage]
    if not ctx.closed:
        return sec
    df = ctx.table(path)
    if df is None:
        return sec
    sec.add(
        Text(
            f"Repeated measures: mixed model for repeated measures (REML) of the {what} "
            "over all post-dose visits, adjusted for baseline x visit and the strata; "
            "arm difference at each visit and the equal-weight average over the "
            "visits (overall); t-based 95% CIs with Satterthwaite degrees of freedom.",
            arm_level=True,
        )
    )
    sec.add(
        Table(
            "Repeated measures (MMRM): arm difference by visit",
            _visit_table(ctx, df, stage),
            source=[path],
            note=_covariance_text(df),
            arm_level=True,
            preformatted=True,
        )
    )
    notes = df.drop_duplicates(["endpoint", "population"])
    notes = notes[notes["notes"].astype(str).str.strip() != ""]
    if len(notes):
        sec.add(
            Table(
                "Repeated measures: data notes (values outside visit windows are kept)",
                notes[["endpoint", "population", "notes"]].reset_index(drop=True),
                source=[path],
                collapsed=True,
                arm_level=True,
            )
        )
    if ctx.has(fig):
        sec.add(
            Figure(
                "Repeated measures: arm difference over the visits (95% CI)",
                source=[fig],
                alt="arm difference by visit",
                uri=figures.file_uri(ctx.file(fig)),
                arm_level=True,
            )
        )
    return sec


def visit_completeness(ctx: ReportContext, sec: Section) -> Section:
    """Pooled completeness of the scheduled clinical visits (both reports).

    Per scheduled post-dose visit (``design.schedule``, two or more visits):
    the planned day and window, the participants with a clinical value at
    that visit code, and how many of them were seen outside the window. No
    arm: it belongs in the open report too.
    """
    schedule = (ctx.config.get("design") or {}).get("schedule") or {}
    if len(schedule) < 2:
        return sec
    clin = ctx.sheet("clinical_measurements")
    if clin is None or not {"participant_id", "visit"} <= set(clin.columns):
        return sec
    day = (
        num(clin["days_since_dose"])
        if "days_since_dose" in clin
        else pd.Series(float("nan"), index=clin.index)
    )
    rows = []
    for visit, spec in schedule.items():
        planned, window = float(spec["day"]), float(spec.get("window") or 0)
        at = clin["visit"] == str(visit)
        seen = clin.loc[at, "participant_id"].nunique()
        per = day[at].groupby(clin.loc[at, "participant_id"]).median()
        outside = int(((per - planned).abs() > window).sum())
        rows.append(
            {
                "visit": str(visit),
                "planned day": f"{planned:g} +/- {window:g}",
                "participants with a value (arms pooled)": seen,
                "of them outside the window": outside,
            }
        )
    sec.add(
        Table(
            "Scheduled clinical visits: completeness (arms pooled)",
            pd.DataFrame(rows),
            source=[str(ctx.config["sheets"]["clinical_measurements"])],
            note="Visits are matched by visit code; values outside the window stay "
            "in the repeated-measures analysis (docs/longitudinal.md).",
        )
    )
    return sec
