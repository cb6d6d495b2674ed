"""Section 11, the DSMB interim analysis: schedule, boundaries, statistic, decision."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, is_true, num
from exomir.report.labels import (
    fmt_num,
    fmt_p,
)
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text


def alpha_convention(config: dict) -> str:
    """Describe the spending convention of the boundaries, from config ``interim``."""
    cfg = config.get("interim") or {}
    split = str(cfg.get("alpha_split", "total"))
    alpha = fmt_num(cfg.get("alpha", 0.05))
    spend = {"obf": "O'Brien-Fleming-type", "pocock": "Pocock-type"}.get(
        str(cfg.get("spending", "obf")), str(cfg.get("spending", ""))
    )
    if split == "per_side":
        how = (
            f"the spending function is applied to alpha/2 = {fmt_num(float(alpha) / 2)} per "
            "side, as in gsDesign and ldbounds (|z| = 2.963 at t = 0.5 for O'Brien-Fleming)"
        )
    else:
        how = (
            f"the spending function is applied to the total two-sided alpha = {alpha} "
            "(|z| = 2.772 at t = 0.5 for O'Brien-Fleming; gsDesign's per-side convention "
            "would give 2.963)"
        )
    return (
        f"Boundaries: Lan-DeMets {spend} alpha spending, recomputed at the actual "
        f"information fraction; alpha convention (config interim.alpha_split = {split}): "
        f"{how}. The table gives the boundary of every look in both conventions; "
        "the configured one decides. Futility is non-binding."
    )


ROLE_LABELS = {
    "planned": "planned look",
    "previous": "earlier look (done)",
    "current": "this look (actual)",
    "remaining": "remaining planned look",
    "final": "final analysis",
}


def _f(value: object) -> float:
    """Float of a table cell; NaN for blanks."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _fracs(values: pd.Series) -> str:
    return ", ".join(f"{_f(v):g}" for v in values)


def _current_row(df: pd.DataFrame) -> pd.Series:
    """Return the row of this look.

    ``look_role == current`` or, for older tables, the actual row with an
    observed z (else the first actual row).
    """
    if "look_role" in df and (df["look_role"] == "current").any():
        return df[df["look_role"] == "current"].iloc[0]
    actual = df[df["schedule"] == "actual"] if "schedule" in df else df
    if "observed_z" in actual:
        with_z = actual[actual["observed_z"].astype(str).str.strip() != ""]
        if len(with_z):
            return with_z.iloc[0]
    return (actual if len(actual) else df).iloc[0]


def schedule_text(df: pd.DataFrame, config: dict) -> str:
    """Describe the planned versus actual look in words.

    Which looks the plan has, which look this is and why its information
    fraction differs.
    """
    cfg = config.get("interim") or {}
    n_plan = int(cfg.get("planned_evaluable", 72))
    cur = _current_row(df)
    t_now = _f(cur["information_fraction"])
    n_now = _f(cur.get("n_evaluable", ""))
    planned = (
        df[df["schedule"] == "planned"]
        if "schedule" in df
        else pd.DataFrame(
            {"information_fraction": cfg.get("information_fractions", [])}
        )
    )
    pf = [_f(v) for v in planned["information_fraction"]]
    plan = _fracs(planned["information_fraction"]) or "not stated"
    n_txt = (
        f"{int(n_now)} of the {n_plan} planned evaluable participants have a "
        f"follow-up value of the primary miRNA at this data cut, so t = "
        f"{int(n_now)}/{n_plan} = {t_now:.3f}"
        if np.isfinite(n_now)
        else f"t = {t_now:.3f}"
    )
    text = (
        f"Planned versus actual look. The plan (config interim.information_fractions) "
        f"has looks at t = {plan}. This report is the look at the actual information "
        f"fraction: {n_txt}."
    )
    match = [f for f in pf if abs(f - t_now) < 0.005]
    if match:
        return text + f" This is the planned look at t = {match[0]:g}."
    nxt = [f for f in pf if f > t_now]
    if nxt:
        why = (
            f"earlier than the planned look at t = {nxt[0]:g} (about "
            f"{round(nxt[0] * n_plan)} evaluable): fewer participants had a follow-up "
            "primary value at this data cut than that look needs"
        )
    else:
        why = "later than the last planned interim look"
    text += (
        f" It is {why}. t counts participants whose follow-up primary value is "
        "available, not those randomised. The reason for the timing (a calendar-fixed DSMB meeting, "
        "slower recruitment or an assay backlog) is not in the data; record it in the "
        "minutes. Lan-DeMets spending allows a look at any t: this look's boundary "
        "spends the alpha of the spending function up to the actual t, and the remaining "
        "planned looks keep their fractions with boundaries recomputed so that the "
        "total alpha is unchanged (rows 'actual')."
    )
    if "schedule" in df:
        fin_p = df[df["schedule"] == "planned"]["z_boundary"]
        fin_a = df[df["schedule"] == "actual"]["z_boundary"]
        if len(fin_p) and len(fin_a):
            a, b = _f(fin_p.iloc[-1]), _f(fin_a.iloc[-1])
            text += (
                f" The final boundary moves from |z| = {a:.3f} (planned) to {b:.3f} "
                "(actual schedule)."
                if f"{a:.3f}" != f"{b:.3f}"
                else f" The final boundary stays at |z| = {b:.3f} (the changed "
                "schedule moves it by less than 0.0005)."
            )
    return text


def statistic_text(cur: pd.Series) -> str:
    """Say what the observed statistic is and how it is put on the z scale."""
    t_obs, dfree, p = (
        _f(cur.get("observed_t", "")),
        _f(cur.get("observed_df", "")),
        _f(cur.get("observed_p", "")),
    )
    z = _f(cur.get("observed_z", ""))
    if not np.isfinite(z):
        return (
            "Test statistic: not available at this look (primary ANCOVA not estimable)."
        )
    if not (np.isfinite(t_obs) and np.isfinite(dfree)):
        return (
            f"Test statistic: estimate / SE of the primary ANCOVA, z = {z:.3f}, "
            "compared with the boundaries as a normal z (no degrees of freedom recorded)."
        )
    return (
        f"Test statistic: the primary ANCOVA gives t = estimate / SE on {dfree:g} "
        f"residual degrees of freedom, a t({dfree:g}) statistic, not a normal z: "
        f"t({dfree:g}) = {t_obs:.3f}, two-sided p = {fmt_p(p)}. The boundaries are on "
        "the normal scale, so it is compared through its z-equivalent, the normal "
        f"quantile of the same p: z = sign(t) x Phi^-1(1 - p/2) = {z:.3f}."
    )


def cp_text(df: pd.DataFrame, cur: pd.Series, config: dict) -> str:
    """Conditional power with its assumptions: effect, variance, information left."""
    from scipy import stats

    cfg = config.get("interim") or {}
    alpha = float(cfg.get("alpha", 0.05))
    power = float(cfg.get("power", 0.8))
    direction = str(cfg.get("expected_direction", "increase"))
    n_plan = int(cfg.get("planned_evaluable", 72))
    t = _f(cur["information_fraction"])
    z = _f(cur.get("observed_z", ""))
    za, zb = float(stats.norm.isf(alpha / 2)), float(stats.norm.ppf(power))
    actual = df[df["schedule"] == "actual"] if "schedule" in df else df
    c_fin = _f(actual["z_boundary"].iloc[-1])
    sign = 1.0 if direction == "increase" else -1.0
    trend = (
        f"{sign * z / np.sqrt(t):.3f} (z-equivalent {z:.3f} / sqrt({t:.3f}), in the "
        "expected direction)"
        if np.isfinite(z) and t > 0
        else "not available"
    )
    left = max(0.0, 1.0 - t)
    return (
        "Conditional power: the probability that the final analysis (t = 1, |z| >= "
        f"{c_fin:.3f} from the actual schedule; later interim looks ignored) crosses in "
        f"the expected direction ({direction}), given the z-equivalent at this look. "
        f"Effect assumed for the rest of the trial: current trend, drift theta = "
        f"{trend}; design effect, theta = z(1 - alpha/2) + z(power) = {za:.3f} + "
        f"{zb:.3f} = {za + zb:.3f} (the effect the trial was sized to detect with "
        f"{power:g} power at two-sided alpha {alpha:g}). Variance: the standard error "
        "estimated at this look is taken as known (normal approximation), and "
        "information grows in proportion to the evaluable participants. Remaining "
        f"information: 1 - t = {left:.3f} (about {round(left * n_plan)} of {n_plan} "
        "planned evaluable participants)."
    )


def futility_text(config: dict) -> str:
    """State the non-binding futility rule and its boundary formula."""
    cfg = config.get("interim") or {}
    g = cfg.get("futility_conditional_power", 0.1)
    zf = cfg.get("futility_z", 0.0)
    return (
        "Futility boundary (non-binding; analysis_spec 3.5): futility is flagged when "
        f"conditional power under the current trend is below {fmt_num(g)} or z in the "
        f"expected direction is below {fmt_num(zf)}. On the z scale this is, for each "
        f"look before the last, z_f(t) = max(sqrt(t) x (c_final + sqrt(1 - t) x "
        f"Phi^-1({fmt_num(g)})), {fmt_num(zf)}), capped at the efficacy boundary. The "
        "efficacy boundaries are computed without it, so the DSMB may continue past it "
        "without inflating alpha."
    )


def _interim_table(df: pd.DataFrame, config: dict) -> pd.DataFrame:
    """Boundaries of every look, planned and actual schedule (design only).

    Both alpha conventions are shown for every look as ``|z| (nominal p)``,
    the configured one marked, with the non-binding futility boundary.
    """
    split = str((config.get("interim") or {}).get("alpha_split", "total"))

    def dec(col: str, d: int = 3) -> list[str]:
        return [f"{v:.{d}f}" if np.isfinite(v) else "" for v in num(df[col])]

    def zp(zcol: str, pcol: str) -> list[str]:
        return [
            f"{z:.3f} (p {fmt_num(p)})" if np.isfinite(z) else ""
            for z, p in zip(num(df[zcol]), num(df[pcol]), strict=True)
        ]

    out = pd.DataFrame(index=df.index)
    if "schedule" in df:
        out["schedule"] = df["schedule"]
    if "look_role" in df:
        out["look"] = [ROLE_LABELS.get(str(r), str(r)) for r in df["look_role"]]
    else:
        out["look"] = df["look"]
    out["information fraction t"] = dec("information_fraction")
    if "n_evaluable" in df:
        out["evaluable n"] = df["n_evaluable"]
    out["alpha spent, cumulative (configured)"] = [
        fmt_num(v) for v in df["alpha_spent"]
    ]
    conv = {"total": "total two-sided alpha", "per_side": "alpha/2 per side"}
    if "z_boundary_total" in df and "z_boundary_per_side" in df:
        for key, name in conv.items():
            mark = " [configured]" if key == split else ""
            out[f"efficacy |z| (nominal two-sided p), {name}{mark}"] = zp(
                f"z_boundary_{key}", f"nominal_p_{key}"
            )
    else:
        out["efficacy |z| (nominal two-sided p)"] = zp("z_boundary", "nominal_p")
    if "futility_z_boundary" in df:
        out["futility z (non-binding)"] = dec("futility_z_boundary")
    return out.reset_index(drop=True)


def _result_table(df: pd.DataFrame) -> pd.DataFrame:
    """Tabulate the current look's statistic against its boundaries (closed only).

    The t(df) of the primary ANCOVA with its two-sided p and z-equivalent,
    the configured efficacy boundary, the futility boundary, the decisions and
    both conditional powers.
    """
    cur = _current_row(df)
    rows = cur.to_frame().T
    dfree = _f(cur.get("observed_df", ""))

    def dec(col: str, d: int = 3) -> list[str]:
        if col not in rows:
            return [""] * len(rows)
        return [f"{v:.{d}f}" if np.isfinite(v) else "" for v in num(rows[col])]

    def yes(col: str) -> list[str]:
        return [
            {"true": "yes", "false": "no"}.get(str(v), "")
            for v in (rows[col] if col in rows else [""] * len(rows))
        ]

    out = pd.DataFrame(index=rows.index)
    out["information fraction t"] = dec("information_fraction")
    if "observed_t" in rows and np.isfinite(dfree):
        out[f"observed t({dfree:g})"] = dec("observed_t")
        out["two-sided p of t"] = [fmt_p(v) for v in num(rows["observed_p"])]
        out["z-equivalent of t"] = dec("observed_z")
    else:
        out["observed z"] = dec("observed_z")
    out["efficacy |z| boundary (configured)"] = dec("z_boundary")
    out["efficacy boundary crossed"] = yes("crossed")
    if "futility_z_boundary" in rows:
        out["futility z (non-binding)"] = dec("futility_z_boundary")
    out["futility boundary reached"] = yes("futility_flag")
    for col, name in (
        ("conditional_power", "conditional power (current trend)"),
        ("conditional_power_design", "conditional power (design effect)"),
    ):
        if col in rows:
            out[name] = [_fmt_prob(v) for v in num(rows[col])]
    return out.reset_index(drop=True)


def _fmt_prob(v: float) -> str:
    """Format a probability to 3 decimals; ``> 0.999`` / ``< 0.001`` at the ends."""
    if not np.isfinite(v):
        return ""
    if v > 0.9995:
        return "> 0.999"
    if v < 0.0005:
        return "< 0.001"
    return f"{v:.3f}"


def interim(ctx: ReportContext, sec: Section) -> Section:
    """§12: information fraction, boundaries, observed z, conditional power, triggers."""
    path = "results/clinical/interim.tsv"
    df = ctx.table(path)
    if df is None:
        sec.add(NotRun("interim analysis (interim stage)", [path]))
    else:
        _look_summary(ctx, sec, df, path)
        _look_tables(ctx, sec, df, path)
        _planned_vs_actual(ctx, sec)
    if not ctx.closed:
        _pooled_status(ctx, sec)
    _safety_triggers(ctx, sec)
    return sec


def _look_summary(
    ctx: ReportContext, sec: Section, df: pd.DataFrame, path: str
) -> None:
    """Show this look's information fraction and boundaries, and how they were set."""
    first = _current_row(df)
    split = str((ctx.config.get("interim") or {}).get("alpha_split", "total"))
    other = "per_side" if split == "total" else "total"
    items = [
        (
            "Planned looks (t)",
            _fracs(df[df["schedule"] == "planned"]["information_fraction"])
            if "schedule" in df
            else "",
        ),
        (
            "This look: actual information fraction",
            f"{float(first['information_fraction']):.3f}",
        ),
        (
            f"Efficacy boundary |z| this look ({split}, configured)",
            f"{float(first['z_boundary']):.3f}",
        ),
        ("Nominal two-sided p this look", fmt_num(first["nominal_p"])),
    ]
    if f"z_boundary_{other}" in df:
        items.append(
            (
                f"Same look, other convention ({other})",
                f"{_f(first[f'z_boundary_{other}']):.3f}",
            )
        )
    if "futility_z_boundary" in df and np.isfinite(_f(first["futility_z_boundary"])):
        items.append(
            (
                "Futility boundary z this look (non-binding)",
                f"{_f(first['futility_z_boundary']):.3f}",
            )
        )
    sec.add(KeyValues([(k, v) for k, v in items if v], source=[path]))
    sec.add(Text(schedule_text(df, ctx.config)))
    sec.add(Text(alpha_convention(ctx.config)))
    if "futility_z_boundary" in df:
        sec.add(Text(futility_text(ctx.config)))


def _look_tables(ctx: ReportContext, sec: Section, df: pd.DataFrame, path: str) -> None:
    """Boundary tables and plot: design only (open) or with the observed z (closed)."""
    nums = df.copy()
    for c in (
        "information_fraction",
        "z_boundary",
        "observed_z",
        "futility_z_boundary",
    ):
        if c in nums:
            nums[c] = num(nums[c])
    direction = str(
        (ctx.config.get("interim") or {}).get("expected_direction", "increase")
    )
    note = (
        "planned: the design's looks; actual: this look at the information "
        "fraction reached, with the remaining looks' boundaries recomputed. "
        "Efficacy boundaries are two-sided |z|; the futility boundary is a z in "
        f"the expected direction ({direction})."
    )
    if ctx.closed:
        cur = _current_row(df)
        dfree = _f(cur.get("observed_df", ""))
        stat = f"t({dfree:g}) and its z-equivalent" if np.isfinite(dfree) else "z"
        sec.add(
            Table(
                "Interim looks: efficacy boundaries in both alpha conventions and "
                "the non-binding futility boundary",
                _interim_table(df, config=ctx.config),
                source=[path],
                preformatted=True,
                note=note,
            )
        )
        sec.add(
            Table(
                f"This look: observed {stat} against the boundaries, conditional power",
                _result_table(df),
                source=[path],
                arm_level=True,
                preformatted=True,
            )
        )
        sec.add(Text(statistic_text(cur), arm_level=True))
        sec.add(Text(cp_text(df, cur, ctx.config), arm_level=True))
        if "decision_note" in df:
            for dn in [n for n in df["decision_note"] if n.strip()]:
                sec.add(Text(f"Decision at this look: {dn}", arm_level=True))
        sec.add(
            Figure(
                "Observed z-equivalent against the efficacy and non-binding "
                "futility boundaries",
                source=[path],
                alt="boundary plot",
                uri=figures.boundary_plot(nums, observed=True, direction=direction),
                arm_level=True,
                width="60%",
            )
        )
    else:
        sec.add(
            Table(
                "Interim design: information fraction, efficacy and futility "
                "boundaries",
                _interim_table(df, config=ctx.config),
                source=[path],
                preformatted=True,
                note=note,
            )
        )
        sec.add(
            Figure(
                "Efficacy and non-binding futility boundaries by information fraction",
                source=[path],
                alt="boundary plot",
                uri=figures.boundary_plot(nums, observed=False, direction=direction),
                width="60%",
            )
        )


LOOKS_SHOWN = {
    "look": "look",
    "planned_fraction": "planned t",
    "target_evaluable": "planned evaluable at the look",
    "planned_look_date": "planned date",
    "look_date": "actual look date",
    "look_date_rule": "how the date was found",
    "data_cut": "data cut",
    "target_reached": "target reached",
    "n_evaluable_at_look": "evaluable at the look",
    "n_evaluable_in_data": "evaluable in the data",
    "n_undated": "undated",
    "actual_fraction": "actual t",
    "z_boundary_planned": "|z| boundary at planned t",
    "z_boundary_actual": "|z| boundary at actual t",
    "nominal_p_actual": "nominal p at actual t",
    "interim_dataset": "interim dataset",
}


def _planned_vs_actual(ctx: ReportContext, sec: Section) -> None:
    """Interim by information time: the planned versus the actual look."""
    path = "results/clinical/interim_looks.tsv"
    df = ctx.table(path)
    if df is None:
        return
    shown = df[[c for c in LOOKS_SHOWN if c in df.columns]].rename(columns=LOOKS_SHOWN)
    sec.add(
        Table(
            "Planned versus actual look (interim.look_timing: information_time)",
            shown.T.reset_index().set_axis(["item", "value"], axis=1),
            source=[path],
            note="The look is dated by the primary-visit blood draw of the "
            "participant who brought the evaluable count to the planned fraction "
            "(or the data cut if earlier); the boundary is recomputed at the actual "
            "fraction of the participants evaluable by then.",
        )
    )


def _pooled_status(ctx: ReportContext, sec: Section) -> None:
    """Open report: the pooled interim status (recruitment, completeness, QC, AEs)."""
    open_path = "results/clinical/interim_open.tsv"
    op = ctx.table(open_path)
    if op is not None:
        op = op.rename(columns={"section": "area"})
        if "area" in op:
            op["area"] = [a[:1].upper() + a[1:] for a in op["area"]]
        op["value"] = [fmt_num(v) if v else v for v in op["value"]]
        sec.add(
            Table(
                "Interim status, arms pooled: recruitment, completeness, QC, adverse events",
                op,
                source=[open_path],
                preformatted=True,
            )
        )
    else:
        sec.add(NotRun("pooled interim status (safety stage)", [open_path]))


def _safety_triggers(ctx: ReportContext, sec: Section) -> None:
    """Show the safety stopping triggers and how many were met (closed report)."""
    trig_path = "results/clinical/safety_triggers.tsv"
    trig = ctx.table(trig_path)
    if trig is None:
        sec.add(NotRun("safety stopping triggers (safety stage)", [trig_path]))
    elif ctx.closed:
        fired = is_true(trig["triggered"])
        sec.add(
            Text(
                f"{int(fired.sum())} of {len(trig)} safety triggers met.",
                kind="warn" if fired.any() else "p",
                arm_level=True,
            )
        )
        keep = [
            c
            for c in [
                "description",
                "rule",
                "arms",
                "count",
                "threshold",
                "observed",
                "triggered",
            ]
            if c in trig
        ]
        if "description" in keep and "rule" in keep:
            keep.remove("rule")
        sec.add(
            Table(
                "Safety stopping triggers",
                trig[keep],
                source=[trig_path],
                arm_level=True,
            )
        )
    else:
        sec.add(
            Text(
                "Safety trigger evaluation is by arm and is in the closed report.",
                kind="note",
            )
        )
