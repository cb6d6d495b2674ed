"""Group-sequential interim analysis for the DSMB (analysis_spec.md §3.5).

Efficacy boundaries come from a Lan-DeMets alpha-spending function evaluated
at the information fractions of the looks (:mod:`exomir.stats.boundaries`,
which describes the method and the spending functions).

The actual information fraction is ``t = evaluable / planned_evaluable``
(participants with a follow-up value of the primary miRNA over the planned
number, config ``interim.planned_evaluable``). Conditional power is computed
for the final boundary (intermediate looks ignored, as usual) under the
current trend (``theta = z / sqrt(t)``) and under the design effect
(``theta = z_{1-alpha/2} + z_{power}``), both for crossing the final boundary in
the expected direction.

Futility is non-binding (analysis_spec §3.5): the efficacy boundaries are
computed as if there were no futility rule, so ignoring a futility signal does
not inflate alpha. The futility boundary of each look before the last is the z
(in the expected direction) below which the plan's rule fires: conditional
power under the current trend below ``interim.futility_conditional_power`` or z
below ``interim.futility_z``. Solving
``Phi((z / sqrt(t) - c_K) / sqrt(1 - t)) = gamma`` for z gives
``z_f(t) = sqrt(t) * (c_K + sqrt(1 - t) * Phi^{-1}(gamma))``; the boundary is
``max(z_f(t), futility_z)``, capped at the efficacy boundary of the look.

The primary ANCOVA gives ``t = estimate / SE`` on ``df`` residual degrees of
freedom, not a normal z. It is converted to the z with the same two-sided p
(``z = sign(t) * Phi^{-1}(1 - p / 2)``, ``p = 2 * P(T_df > |t|)``) before it is
compared with the boundaries, which are on the normal scale.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exomir.clinical.interim_columns import INTERIM_COLUMNS
from exomir.errors import Issue, ValidationError
from exomir.stats.boundaries import (
    GRID_POINTS,
    boundaries,
    conditional_power,
    exit_probabilities,
    futility_boundary,
    spending,
    t_to_z,
)

__all__ = [
    "GRID_POINTS",
    "INTERIM_COLUMNS",
    "InterimSettings",
    "boundaries",
    "conditional_power",
    "count_evaluable",
    "exit_probabilities",
    "futility_boundary",
    "interim_settings",
    "interim_step",
    "open_report",
    "plot_boundaries",
    "run_interim",
    "spending",
    "t_to_z",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InterimSettings:
    """Settings of the interim analysis (config ``interim``)."""

    planned_evaluable: int
    fractions: tuple[float, ...]
    previous_fractions: tuple[float, ...]
    alpha: float
    spending: str
    alpha_split: str
    power: float
    expected_direction: str
    futility_cp: float
    futility_z: float
    related_levels: tuple[str, ...] = ("possible", "probable", "definite")
    look_timing: str = "data"
    planned_look_date: str | None = None


def interim_settings(config: Mapping[str, Any]) -> InterimSettings:
    """Read config ``interim`` and ``safety.related_levels`` (schema defaults)."""
    s = dict(config.get("interim") or {})
    related = (config.get("safety") or {}).get(
        "related_levels", ["possible", "probable", "definite"]
    )
    return InterimSettings(
        planned_evaluable=int(s.get("planned_evaluable", 72)),
        fractions=tuple(float(x) for x in s.get("information_fractions", [0.5, 1.0])),
        previous_fractions=tuple(float(x) for x in s.get("previous_fractions", [])),
        alpha=float(s.get("alpha", 0.05)),
        spending=str(s.get("spending", "obf")),
        alpha_split=str(s.get("alpha_split", "total")),
        power=float(s.get("power", 0.8)),
        expected_direction=str(s.get("expected_direction", "increase")),
        futility_cp=float(s.get("futility_conditional_power", 0.1)),
        futility_z=float(s.get("futility_z", 0.0)),
        related_levels=tuple(str(v) for v in related),
        look_timing=str(s.get("look_timing", "data")),
        planned_look_date=s.get("planned_look_date") or None,
    )


def _observed_t(
    ancova: pd.DataFrame, label: str
) -> tuple[float, float | None, int | None, str]:
    """Return t = estimate / SE of the primary ANCOVA, its residual df, n, a note."""
    rows = (
        ancova[ancova["analysis"] == "primary_ancova"]
        if "analysis" in ancova
        else ancova
    )
    if rows.empty:
        raise ValidationError(
            [
                Issue(
                    label,
                    "no 'primary_ancova' row; run the primary stage first",
                    column="analysis",
                )
            ]
        )
    r = rows.iloc[0]
    est, se = pd.to_numeric(r.get("estimate_log2")), pd.to_numeric(r.get("se_log2"))
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        return (
            math.nan,
            None,
            None,
            f"primary ANCOVA not estimable ({r.get('note', '')})",
        )
    n = pd.to_numeric(r.get("n"))
    df = pd.to_numeric(r.get("df")) if "df" in r.index else math.nan
    df_out = float(df) if np.isfinite(df) and df > 0 else None
    return float(est / se), df_out, (int(n) if np.isfinite(n) else None), ""


def _schedule(looks: Sequence[float], s: InterimSettings, name: str) -> pd.DataFrame:
    """Boundaries of one schedule in the configured and in both alpha conventions."""
    out = boundaries(looks, s.alpha, s.spending, s.alpha_split)
    for split in ("total", "per_side"):
        alt = (
            out
            if split == s.alpha_split
            else boundaries(looks, s.alpha, s.spending, split)
        )
        out[f"z_boundary_{split}"] = alt["z_boundary"].to_numpy()
        out[f"nominal_p_{split}"] = alt["nominal_p"].to_numpy()
    c_final = float(out["z_boundary"].iloc[-1])
    out["futility_z_boundary"] = [
        min(
            futility_boundary(t, c_final, s.futility_cp, s.futility_z),
            float(c),
        )
        if t < 1.0 - 1e-12
        else math.nan
        for t, c in zip(out["information_fraction"], out["z_boundary"], strict=True)
    ]
    out.insert(0, "schedule", name)
    out["n_evaluable"] = np.round(out["information_fraction"] * s.planned_evaluable)
    return out


def _actual_schedule(
    s: InterimSettings, n_evaluable: int, t_now: float
) -> tuple[pd.DataFrame, int]:
    """Previous looks, this look at ``t_now``, the remaining planned looks.

    Returns the schedule and the row of the current look.
    """
    prev = [t for t in s.previous_fractions if t < t_now - 1e-9]
    rest = [t for t in s.fractions if t > t_now + 1e-9]
    if t_now >= 1.0 - 1e-9:
        rest = []
    looks = [*prev, t_now, *rest]
    if looks[-1] < 1.0:
        looks.append(1.0)
    actual = _schedule(looks, s, "actual")
    cur = len(prev)
    roles = ["previous"] * cur + ["current"] + ["remaining"] * (len(looks) - cur - 1)
    if roles[-1] == "remaining":
        roles[-1] = "final"
    actual["look_role"] = roles
    actual.loc[cur, "n_evaluable"] = n_evaluable
    return actual, cur


def run_interim(
    settings: InterimSettings,
    n_evaluable: int,
    observed_t: float,
    note: str = "",
    df: float | None = None,
) -> pd.DataFrame:
    """Planned and actual boundaries, the observed statistic and conditional power.

    Parameters
    ----------
    settings
        Interim settings.
    n_evaluable
        Participants with a follow-up primary value now.
    observed_t
        Statistic of the primary ANCOVA (estimate / SE, treated - reference),
        NaN if not estimable.
    note
        Extra text for the decision note.
    df
        Residual degrees of freedom of ``observed_t`` (a t statistic); None
        if it is already a normal z.

    Returns
    -------
    pandas.DataFrame
        ``INTERIM_COLUMNS``; ``schedule`` is ``planned`` (the configured
        fractions) or ``actual`` (previous looks, this look at the actual
        fraction, remaining planned looks). ``look_role`` says which:
        ``planned``, ``previous``, ``current``, ``remaining`` or ``final``.
        ``z_boundary`` / ``nominal_p`` follow ``interim.alpha_split``; the
        ``_total`` and ``_per_side`` columns give both conventions.
        ``observed_z`` is the z-equivalent of ``observed_t`` (same two-sided
        p) and is what is compared with the boundaries.
    """
    s = settings
    planned = _schedule(s.fractions, s, "planned")
    planned["look_role"] = "planned"
    t_now = min(1.0, n_evaluable / s.planned_evaluable)
    actual, cur = _actual_schedule(s, n_evaluable, t_now)
    sign = 1.0 if s.expected_direction == "increase" else -1.0
    c_now = float(actual.loc[cur, "z_boundary"])
    c_final = float(actual["z_boundary"].iloc[-1])
    fut_now = float(actual.loc[cur, "futility_z_boundary"])
    out = pd.concat([planned, actual], ignore_index=True)
    for col in (
        "observed_t",
        "observed_df",
        "observed_p",
        "observed_z",
        "conditional_power",
        "conditional_power_design",
    ):
        out[col] = np.nan
    out["crossed"] = pd.NA
    out["futility_flag"] = pd.NA
    out["decision_note"] = ""
    i = len(planned) + cur
    observed_z, p_two = t_to_z(observed_t, df)
    if np.isfinite(observed_z):
        crossed = abs(observed_z) >= c_now
        z_dir = sign * observed_z
        theta_trend = z_dir / math.sqrt(t_now)
        cp_trend = conditional_power(z_dir, t_now, c_final, theta_trend)
        theta_design = float(stats.norm.isf(s.alpha / 2) + stats.norm.ppf(s.power))
        cp_design = conditional_power(z_dir, t_now, c_final, theta_design)
        futile = bool(
            t_now < 1.0 - 1e-9 and (cp_trend < s.futility_cp or z_dir < s.futility_z)
        )
        out.loc[i, "observed_t"] = observed_t
        out.loc[i, "observed_df"] = df if df is not None else np.nan
        out.loc[i, "observed_p"] = p_two
        out.loc[i, "observed_z"] = observed_z
        out.loc[i, "crossed"] = crossed
        out.loc[i, "conditional_power"] = cp_trend
        out.loc[i, "conditional_power_design"] = cp_design
        out.loc[i, "futility_flag"] = futile
        stat = (
            f"t({df:g}) = {observed_t:.3f}, two-sided p = {p_two:.4g}, "
            f"z-equivalent = {observed_z:.3f}"
            if df is not None
            else f"z = {observed_z:.3f}"
        )
        msg = [
            f"t = {n_evaluable}/{s.planned_evaluable} = {t_now:.3f}",
            stat,
            f"|z| = {abs(observed_z):.3f} {'>=' if crossed else '<'} {c_now:.3f}",
            "efficacy boundary crossed"
            if crossed
            else "continue (boundary not crossed)",
        ]
        if futile:
            msg.append(
                f"non-binding futility boundary reached (z in the expected direction "
                f"{z_dir:.3f} < {fut_now:.3f}: conditional power under the trend "
                f"{cp_trend:.3f} < {s.futility_cp} or z < {s.futility_z})"
            )
        out.loc[i, "decision_note"] = "; ".join(msg)
    else:
        out.loc[i, "decision_note"] = (
            f"t = {t_now:.3f}; observed statistic not available. {note}".strip()
        )
    if note and np.isfinite(observed_z):
        out.loc[i, "decision_note"] += f"; {note}"
    for col in ("crossed", "futility_flag"):
        out[col] = out[col].map({True: "true", False: "false"}).fillna("")
    out["report"] = "closed"
    out["look"] = out["look"].astype(int)
    out["n_evaluable"] = out["n_evaluable"].astype(int)
    return out[INTERIM_COLUMNS]


def count_evaluable(values: pd.DataFrame) -> int:
    """Participants with a follow-up value of the primary miRNA.

    Parameters
    ----------
    values
        ``results/primary/mir126_values.tsv`` (``y_followup`` column).
    """
    if "y_followup" not in values.columns:
        raise ValidationError(
            [
                Issue(
                    "results/primary/mir126_values.tsv",
                    "column missing",
                    column="y_followup",
                )
            ]
        )
    return int(pd.to_numeric(values["y_followup"], errors="coerce").notna().sum())


def plot_boundaries(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    expected_direction: str = "increase",
) -> None:
    """Boundary plot of the stage (results/clinical/interim_boundaries.png).

    Planned and actual efficacy boundaries, the non-binding futility boundary
    (actual schedule, expected direction) and the observed z-equivalent at the
    current look.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from exomir.atomic import atomic_path

    sign = 1.0 if expected_direction == "increase" else -1.0
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for sched, style, color, lw in (
        ("planned", "o-", "0.7", 4),
        ("actual", "s--", "C1", 1.5),
    ):
        d = table[table["schedule"] == sched]
        for sgn in (1, -1):
            ax.plot(
                d["information_fraction"],
                sgn * d["z_boundary"],
                style,
                color=color,
                lw=lw,
                label=f"{sched} efficacy boundary" if sgn > 0 else None,
            )
    act = table[table["schedule"] == "actual"]
    fut = act.dropna(subset=["futility_z_boundary"])
    if not fut.empty:
        ax.plot(
            fut["information_fraction"],
            sign * fut["futility_z_boundary"],
            "v:",
            color="C0",
            label="futility boundary (non-binding, actual)",
        )
    obs = table.dropna(subset=["observed_z"])
    if not obs.empty:
        ax.plot(
            obs["information_fraction"],
            obs["observed_z"],
            "k*",
            ms=12,
            label="observed z-equivalent (current look)",
        )
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlim(0, 1.05)
    ax.set_ylim(-6, 6)
    ax.set_xlabel("information fraction t")
    ax.set_ylabel("z (t statistic converted to z)")
    ax.set_title("Lan-DeMets efficacy and non-binding futility boundaries")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _optional_table(path: str | os.PathLike[str] | None, kind: str) -> Any:
    """Read a configured sheet with :func:`exomir.tables.read_table` (or ``None``)."""
    from exomir.tables import read_table

    return read_table(path, kind) if path else None


def interim_step(
    *,
    ancova: str | os.PathLike[str],
    values: str | os.PathLike[str],
    table: str | os.PathLike[str],
    settings: InterimSettings,
    plot: str | os.PathLike[str] | None = None,
    pooled: str | os.PathLike[str] | None = None,
    qc: str | os.PathLike[str] | None = None,
    disposition: str | os.PathLike[str] | None = None,
    adverse_events: str | os.PathLike[str] | None = None,
    samples: str | os.PathLike[str] | None = None,
    looks: str | os.PathLike[str] | None = None,
    primary: Any = None,
    data_cut: str | None = None,
) -> pd.DataFrame:
    """Run the interim analysis from the primary stage's tables and write it.

    Parameters
    ----------
    ancova, values
        ``results/primary/mir126_ancova.tsv`` and ``mir126_values.tsv``.
    table
        ``results/clinical/interim.tsv`` (closed report: arm-level z).
    settings
        Interim settings.
    plot
        ``results/clinical/interim_boundaries.png`` (optional).
    pooled
        ``results/clinical/interim_open.tsv`` (pooled open report; optional).
    qc, disposition, adverse_events
        ``results/qc/library_qc.tsv`` and the sheets of the open report
        (optional; the sheets were validated when the workflow was parsed).
    samples, looks, primary, data_cut
        With ``interim.look_timing: information_time``: samples.tsv (draw
        dates), ``results/clinical/interim_looks.tsv`` (planned versus actual
        look), the primary settings and ``trial.data_cut``
        (:mod:`exomir.clinical.interim_timing`).
    """
    from exomir.tables import write_table

    anc = pd.read_csv(ancova, sep="\t")
    vals = pd.read_csv(values, sep="\t")
    t_obs, df, _, note = _observed_t(anc, str(Path(ancova)))
    n_eval = count_evaluable(vals)
    if n_eval == 0:
        raise ValidationError(
            [
                Issue(
                    str(values),
                    "no participant has a follow-up primary value",
                    column="y_followup",
                )
            ]
        )
    timed = None
    if settings.look_timing == "information_time":
        timed = _information_time(vals, samples, settings, primary, data_cut)
        n_eval = timed[1]
        if timed[2] is not None:
            t_obs, df, note = timed[2]
            note = "; ".join(x for x in (timed[3], note) if x)
    closed = run_interim(settings, n_eval, t_obs, note, df=df)
    write_table(closed, table)
    if timed is not None and looks is not None:
        from exomir.clinical.interim_timing import looks_table, parse_data_cut

        cut = parse_data_cut(data_cut)
        write_table(
            looks_table(
                timed[0],
                closed,
                settings.planned_evaluable,
                settings.planned_look_date,
                cut,
                timed[3],
            ),
            looks,
        )
    if plot is not None:
        plot_boundaries(closed, plot, settings.expected_direction)
    if pooled is not None:
        opened = open_report(
            _optional_table(disposition, "disposition"),
            vals,
            pd.read_csv(qc, sep="\t") if qc else None,
            _optional_table(adverse_events, "adverse_events"),
            settings,
            settings.related_levels,
        )
        write_table(opened, pooled)
    return closed


def _information_time(
    values: pd.DataFrame,
    samples: str | os.PathLike[str] | None,
    settings: InterimSettings,
    primary: Any,
    data_cut: str | None,
) -> tuple[Any, int, tuple[float, float | None, str] | None, str]:
    """Place the look in information time (:func:`interim_timing.timed_look`)."""
    from exomir.clinical.interim_timing import timed_look

    if samples is None or primary is None:
        raise ValueError(
            "interim.look_timing: information_time needs samples.tsv and the "
            "primary settings"
        )
    sheet = _optional_table(samples, "samples")
    timing = timed_look(values, sheet, settings, primary, data_cut)
    if timing[0] is not None:
        log.info(
            "interim look %s at t = %s planned: %s (%s); %d evaluable at the look, "
            "%d in the data",
            timing[0].look,
            timing[0].planned_fraction,
            timing[0].look_date,
            timing[0].rule,
            timing[1],
            timing[0].n_in_data,
        )
    return timing


OPEN_COLUMNS = ["section", "item", "value", "note"]


def open_report(
    disposition: pd.DataFrame | None,
    values: pd.DataFrame,
    library_qc: pd.DataFrame | None,
    adverse: pd.DataFrame | None,
    settings: InterimSettings,
    related: Sequence[str] = ("possible", "probable", "definite"),
) -> pd.DataFrame:
    """Pooled (open-session) DSMB table: recruitment, completeness, QC, safety.

    Nothing here is split by arm, so the table can be shown to everyone at the
    open session; arm-level results stay in the closed table from
    :func:`run_interim`.

    Parameters
    ----------
    disposition
        disposition.tsv (None if not configured).
    values
        ``results/primary/mir126_values.tsv``.
    library_qc
        ``results/qc/library_qc.tsv`` (``pass`` column), optional.
    adverse
        adverse_events.tsv, optional.
    settings
        Interim settings (planned evaluable number).
    related
        Relatedness levels counted as related.

    Returns
    -------
    pandas.DataFrame
        ``section``, ``item``, ``value``, ``note``.
    """
    rows: list[tuple[str, str, float, str]] = []
    if disposition is not None:
        rows.append(("recruitment", "screened", len(disposition), ""))
        for col, item in (
            ("randomized", "randomised"),
            ("dosed", "dosed"),
            ("completed_week1", "completed follow-up visit"),
            ("in_mitt", "in mITT"),
            ("in_pp", "in per-protocol set"),
        ):
            if col in disposition:
                f = disposition[col].fillna(False).astype(bool)
                rows.append(("recruitment", item, int(f.sum()), "pooled over arms"))
    n_eval = count_evaluable(values)
    bl = pd.to_numeric(values.get("y_baseline"), errors="coerce")
    rows.append(("completeness", "baseline primary value", int(bl.notna().sum()), ""))
    rows.append(("completeness", "follow-up primary value (evaluable)", n_eval, ""))
    rows.append(("completeness", "planned evaluable", settings.planned_evaluable, ""))
    rows.append(
        (
            "completeness",
            "information fraction",
            min(1.0, n_eval / settings.planned_evaluable),
            "evaluable / planned evaluable",
        )
    )
    if library_qc is not None and "pass" in library_qc:
        ok = library_qc["pass"].astype(str).str.lower().eq("true")
        rows.append(("sequencing QC", "libraries assessed", len(library_qc), ""))
        rows.append(("sequencing QC", "libraries passing QC", int(ok.sum()), ""))
    if adverse is not None:
        g = pd.to_numeric(adverse["ctcae_grade"], errors="coerce")
        for item, m in (
            ("any AE", pd.Series(True, index=adverse.index)),
            ("related AE", adverse["related"].isin(related)),
            ("grade >= 3 AE", g >= 3),
            ("serious AE", adverse["serious"] == "Y"),
        ):
            sub = adverse[m]
            rows.append(
                (
                    "safety (pooled)",
                    f"participants with {item}",
                    sub["participant_id"].nunique(),
                    "",
                )
            )
            rows.append(("safety (pooled)", f"events: {item}", len(sub), ""))
    return pd.DataFrame(rows, columns=OPEN_COLUMNS)
