"""Section 8, clinical endpoints, and the endpoint helpers the clinical sections share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, num
from exomir.report.labels import (
    DERIVED_PARAMS,
    better_direction,
    ci_decimals,
    fmt_ci,
    fmt_fixed,
    fmt_p,
    humanise,
    param_label,
)
from exomir.report.model import Figure, NotRun, Section, Table, Text
from exomir.report.sections.longitudinal import (
    repeated_measures,
    visit_completeness,
)

ARM_LEVEL_NOTE = "Results by arm are in the closed DSMB report."


RATIO_MEASURES = ("ratio", "odds", "gmr", "geometric")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    """Return a column, or blanks when the table lacks it."""
    return df[name] if name in df else pd.Series([""] * len(df), index=df.index)


def _endpoint_label(ctx: ReportContext, param: str, label: str) -> str:
    """Label with unit: config parameters, derived ones (MAP) and known codes."""
    derived = (ctx.config.get("clinical") or {}).get("derived") or {}
    if (
        param in (ctx.config.get("clinical_parameters") or {})
        or param in derived
        or param in DERIVED_PARAMS
    ):
        return param_label(param, ctx.config)
    return label or param_label(param, ctx.config)


def _arm_names(ctx: ReportContext) -> tuple[str, str]:
    """(treated, control) arm names: the configured arms, reference first."""
    arms = ctx.arms
    if len(arms) >= 2:
        return arms[-1], arms[0]
    return "treated", "control"


def _is_ratio(measure: object) -> bool:
    return any(k in str(measure).lower() for k in RATIO_MEASURES)


def _mean_sd(m: object, sd: object, decimals: int) -> str:
    """``mean (SD)`` with the row's decimals (blank without a mean)."""
    mv = num(pd.Series([m])).iloc[0]
    if not np.isfinite(mv):
        return ""
    sv = num(pd.Series([sd])).iloc[0]
    if not np.isfinite(sv):
        return fmt_fixed(mv, decimals)
    return f"{fmt_fixed(mv, decimals)} ({fmt_fixed(sv, decimals)})"


def _row_decimals(*values: object) -> int:
    """Decimals shared by the mean changes of one row (both arms)."""
    v = num(pd.Series(list(values))).abs().dropna()
    v = v[v > 0]
    if not len(v):
        return 2
    return ci_decimals(float(v.max()), 0, 0)


def _blinded(frac: object, flag: object) -> str:
    """Share of readings with a blinded assessor, and the detection-bias flag."""
    f = num(pd.Series([frac])).iloc[0]
    text = f"{f * 100:.0f}% blinded" if np.isfinite(f) else ""
    if str(flag or "").strip():
        text = f"{text}; AT RISK of detection bias" if text else "AT RISK"
    return text


def endpoint_table(ctx: ReportContext, df: pd.DataFrame) -> pd.DataFrame:
    """Endpoint results as a reader reads them: label (unit), estimate (CI), p.

    Also the per-arm mean change from baseline (SD) of continuous endpoints
    and, where the TSV has them, the share of readings with a blinded
    assessor and the detection-bias flag.
    """
    labels = df["label"] if "label" in df else pd.Series([""] * len(df), index=df.index)
    out = pd.DataFrame(
        {
            "endpoint": [
                _endpoint_label(ctx, p, lab)
                for p, lab in zip(df["param"], labels, strict=True)
            ],
            "analysis": [humanise(a) for a in df["analysis"]],
            "population": df.get("population", ""),
            "model": [str(m).replace("_", " ") for m in _col(df, "model")],
            "effect measure": df.get("effect_measure", ""),
            "estimate (95% CI)": [
                fmt_ci(e, lo, hi, ratio=_is_ratio(m)) or "not estimable"
                for e, lo, hi, m in zip(
                    df["estimate"],
                    df["ci_low"],
                    df["ci_high"],
                    _col(df, "effect_measure"),
                    strict=True,
                )
            ],
            "p": [fmt_p(v) for v in df["p_value"]],
        }
    )
    if out["analysis"].nunique() == 1:
        out = out.drop(columns="analysis")
    treated, control = _arm_names(ctx)
    if "n_treatment" in df and "n_control" in df:
        out[f"n ({treated} / {control})"] = [
            f"{t} / {c}" if str(t).strip() or str(c).strip() else ""
            for t, c in zip(df["n_treatment"], df["n_control"], strict=True)
        ]
    if "mean_chg_treatment" in df and "mean_chg_control" in df:
        cells = zip(
            df["mean_chg_treatment"],
            _col(df, "sd_chg_treatment"),
            df["mean_chg_control"],
            _col(df, "sd_chg_control"),
            strict=True,
        )
        pairs = []
        for mt, st, mc, sc in cells:
            d = _row_decimals(mt, st, mc, sc)
            pairs.append((_mean_sd(mt, st, d), _mean_sd(mc, sc, d)))
        out[f"mean change (SD), {treated}"] = [a for a, _ in pairs]
        out[f"mean change (SD), {control}"] = [b for _, b in pairs]
    if "assessor_blinded_fraction" in df or "detection_bias" in df:
        col = [
            _blinded(f, b)
            for f, b in zip(
                _col(df, "assessor_blinded_fraction"),
                _col(df, "detection_bias"),
                strict=True,
            )
        ]
        if any(col):
            out["assessor blinding"] = col
    return out.reset_index(drop=True)


def multiplicity_note(df: pd.DataFrame) -> str:
    """Say that the secondary endpoints' p-values are nominal, with the count."""
    p = num(df["p_value"]) if "p_value" in df else pd.Series(dtype=float)
    k = int(p.notna().sum())
    below = int((p < 0.05).sum())
    return (
        f"Multiplicity: the {k} p-values of the secondary endpoints are nominal "
        "(two-sided, not adjusted for the number of endpoints; exploratory). With "
        f"{k} tests at the 0.05 level about {k * 0.05:.1f} would fall below 0.05 by "
        f"chance alone; {below} did. A nominal p < 0.05 is not evidence of an effect."
    )


def detection_bias_text(ctx: ReportContext, df: pd.DataFrame) -> str:
    """List the endpoints flagged at risk of detection bias (assessor unblinded)."""
    if "detection_bias" not in df:
        return ""
    flagged = df[df["detection_bias"].astype(str).str.strip() != ""]
    if not len(flagged):
        return ""
    parts = []
    for param, sub in flagged.groupby("param", sort=False):
        lab = _endpoint_label(ctx, str(param), str(_col(sub, "label").iloc[0]))
        parts.append(f"{lab}: {sub['detection_bias'].iloc[0]}")
    return (
        "Detection bias: the assessor was not blinded to the arm for some readings "
        "of these assessor-graded endpoints, so their results may be biased: "
        + "; ".join(parts)
        + "."
    )


DATASET = "results/clinical/analysis_dataset.tsv"


def _baseline_sd(ctx: ReportContext) -> pd.Series | None:
    """Pooled (all arms) SD of each parameter's baseline value, or None."""
    ds = ctx.table(DATASET)
    if ds is None or not {"param", "bl"} <= set(ds.columns):
        return None
    bl = pd.to_numeric(ds["bl"], errors="coerce")
    return bl.groupby(ds["param"].astype(str)).std(ddof=1)


def clinical(ctx: ReportContext, sec: Section) -> Section:
    """§9: forest plot of adjusted differences and per-endpoint tables."""
    path = "results/clinical/endpoints.tsv"
    if not ctx.closed and ctx.is_withheld(path):
        sec.add(Text(f"Clinical endpoints compare arms. {ARM_LEVEL_NOTE}", kind="note"))
        return visit_completeness(ctx, sec)
    df = ctx.table(path)
    if df is None:
        sec.add(NotRun("clinical endpoints (clinical stage)", [path]))
        return sec
    for c in ("estimate", "ci_low", "ci_high", "p_value"):
        df[c] = num(df[c])
    prim = df[
        (df["analysis"] == "primary") & (df["population"].isin(["mITT", ""]))
    ].dropna(subset=["estimate", "ci_low", "ci_high"])
    if len(prim):
        baseline_sd = _baseline_sd(ctx)
        for measure, sub in prim.groupby("effect_measure", sort=False):
            sub = sub.copy()
            ratio = any(k in str(measure).lower() for k in RATIO_MEASURES)
            sub["null_value"] = 1.0 if ratio else 0.0
            sub["label_full"] = [
                _endpoint_label(ctx, p, lab)
                for p, lab in zip(sub["param"], sub["label"], strict=True)
            ]
            sub["annotation"] = [
                fmt_ci(e, lo, hi, ratio=ratio)
                for e, lo, hi in zip(
                    sub["estimate"], sub["ci_low"], sub["ci_high"], strict=True
                )
            ]
            title = f"Forest plot, primary analysis (mITT): {measure}"
            xlabel = f"{measure} (95% CI)" + (", log scale" if ratio else "")
            sources = [path]
            sd = sub["param"].map(baseline_sd) if baseline_sd is not None else None
            if not ratio and sd is not None and sd.gt(0).all():
                # Endpoints on different scales (platelets vs haemoglobin) share
                # one axis only once each difference is divided by that
                # endpoint's pooled baseline SD; the raw estimate stays as text.
                for c in ("estimate", "ci_low", "ci_high"):
                    sub[c] = sub[c] / sd.to_numpy()
                title += " (standardised by the pooled baseline SD)"
                xlabel = "difference / baseline SD (95% CI); text: raw difference"
                sources.append(DATASET)
            left, right = favours_labels(ctx, list(sub["param"]))
            sec.add(
                Figure(
                    title,
                    source=sources,
                    alt="forest plot",
                    uri=figures.forest(
                        sub,
                        label="label_full",
                        xlabel=xlabel,
                        log=ratio,
                        left=left,
                        right=right,
                    ),
                    note=f"Left of the null line: {left}; right: {right}.",
                    arm_level=True,
                )
            )
    primary_rows = df[df["analysis"] == "primary"]
    bias = detection_bias_text(ctx, primary_rows)
    if bias:
        sec.add(Text(bias, kind="warn", arm_level=True))
    sec.add(
        Table(
            "Endpoint results, primary analysis (exploratory secondaries, 95% CIs)",
            endpoint_table(ctx, primary_rows),
            source=[path],
            note=multiplicity_note(primary_rows)
            + " Mean change: week 1 minus baseline, raw units.",
            arm_level=True,
            preformatted=True,
        )
    )
    other = df[df["analysis"] != "primary"]
    if len(other):
        sec.add(
            Table(
                "Endpoint sensitivity analyses",
                endpoint_table(ctx, other),
                source=[path],
                collapsed=True,
                arm_level=True,
                preformatted=True,
            )
        )
    shifts = ctx.table("results/clinical/lab_shifts.tsv")
    if shifts is not None:
        cat = shifts[shifts["param"].str.upper().str.startswith(("EDEMA", "PROT"))]
        if len(cat):
            sec.add(
                Table(
                    "Edema and proteinuria shift tables (baseline -> week 1)",
                    _shift_order(
                        ctx,
                        cat.pivot_table(
                            index=["param", "arm", "baseline_class"],
                            columns="week1_class",
                            values="n",
                            aggfunc="first",
                            fill_value="0",
                        ).reset_index(),
                    ),
                    source=["results/clinical/lab_shifts.tsv"],
                    collapsed=True,
                    arm_level=True,
                )
            )
    visit_completeness(ctx, sec)
    repeated_measures(ctx, sec, "clinical")
    return sec


def favours_labels(ctx: ReportContext, params: list[str]) -> tuple[str, str]:
    """Words under the left and right ends of a forest plot's axis.

    Estimates are treated minus (or over) control, so right of the null line
    is higher in the treated arm. When every endpoint of the plot has a known
    better direction (:func:`exomir.report.labels.better_direction`), the
    sides read "favours <arm>"; otherwise "higher in <arm>".
    """
    treated, control = _arm_names(ctx)
    dirs = {better_direction(p, ctx.config) for p in params}
    if dirs == {"lower"}:
        return f"favours {treated}", f"favours {control}"
    if dirs == {"higher"}:
        return f"favours {control}", f"favours {treated}"
    return f"higher in {control}", f"higher in {treated}"


SHIFT_CLASSES = ["low", "normal", "high", "missing"]


def _shift_order(ctx: ReportContext, wide: pd.DataFrame) -> pd.DataFrame:
    """Order shift classes low -> high, label parameters, and name the columns."""
    wide = wide.copy()
    wide.columns = [str(c) for c in wide.columns]
    index = [c for c in ("param", "arm", "baseline_class") if c in wide]
    classes = [c for c in wide.columns if c not in index]
    ordered = [c for c in SHIFT_CLASSES if c in classes] + sorted(
        c for c in classes if c not in SHIFT_CLASSES
    )
    rank = {c: i for i, c in enumerate(SHIFT_CLASSES)}
    wide["_o"] = [rank.get(str(b), 99) for b in wide["baseline_class"]]
    keys = [c for c in ("param", "arm") if c in wide]
    if "arm" in wide:
        arm_rank = {a: i for i, a in enumerate(ctx.arms)}
        wide["_a"] = [arm_rank.get(a, 99) for a in wide["arm"]]
        keys = ["param", "_a"]
    wide = wide.sort_values([*keys, "_o"], kind="stable")
    wide["param"] = [param_label(p, ctx.config) for p in wide["param"]]
    out = wide[[*index, *ordered]].rename(
        columns={"param": "parameter", "baseline_class": "baseline class"}
    )
    return out.reset_index(drop=True)
