"""The workflow step of the time-to-event stage (rule ``time_to_event``).

Reads the validated sheets, builds the analysis data
(:func:`exomir.survival.data.time_to_event_data`), analyses every configured
endpoint (:func:`exomir.survival.results.analyse_endpoint`) and writes
``results/events/``: ``summary.tsv``, ``km.tsv``, ``at_risk.tsv``,
``cox.tsv``, the pooled counts for the open report (``events_open.tsv``,
no arm) and one Kaplan-Meier figure per endpoint (``km_<code>.png``) with the
numbers at risk under the axis. Rows are in config order (endpoints, arms), so
the outputs are deterministic.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exomir.atomic import atomic_path
from exomir.survival.data import (
    SurvivalSettings,
    month_day,
    time_to_event_data,
)
from exomir.survival.results import analyse_endpoint
from exomir.tables import read_table, write_table

LOG = logging.getLogger("exomir.survival")
PathLike = str | os.PathLike[str]
#: Arm colours of the figures (reference arm first).
ARM_COLOURS = ["#1f77b4", "#d95f02", "#1b9e77", "#7570b3", "#e7298a"]


def figure_name(code: str) -> str:
    """File name of an endpoint's Kaplan-Meier figure."""
    return f"km_{code}.png"


def plot_km(
    km: pd.DataFrame,
    at_risk: pd.DataFrame,
    arms: Sequence[str],
    title: str,
    path: PathLike,
) -> None:
    """Draw Kaplan-Meier curves by arm with the numbers at risk under the axis.

    Parameters
    ----------
    km
        Rows of ``km.tsv`` for one endpoint.
    at_risk
        Rows of ``at_risk.tsv`` for one endpoint.
    arms
        Arms in legend order.
    title
        Figure title (endpoint label).
    path
        PNG written (atomically).
    """
    height = 3.6 + 0.6 + 0.25 * (len(arms) + 1)  # inches: plot, axis label, table
    bottom = (0.6 + 0.25 * (len(arms) + 1) + 0.1) / height
    fig = Figure(figsize=(7.0, height))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.2, bottom, 0.75, 1 - bottom - 0.4 / height))
    axis_inches = height * (1 - bottom - 0.4 / height)
    months = sorted(at_risk["month"].unique())
    for i, arm in enumerate(arms):
        sub = km[km["arm"] == arm]
        if sub.empty:
            continue
        colour = ARM_COLOURS[i % len(ARM_COLOURS)]
        x = sub["time_days"].to_numpy(dtype=float) / (365 / 12)
        ax.step(x, sub["survival"], where="post", color=colour, label=arm, lw=1.6)
        ax.fill_between(
            x,
            sub["ci_low"],
            sub["ci_high"],
            step="post",
            color=colour,
            alpha=0.12,
            lw=0,
        )
        cens = sub[sub["censored"] > 0]
        ax.plot(
            cens["time_days"].to_numpy(dtype=float) / (365 / 12),
            cens["survival"],
            "|",
            color=colour,
            ms=6,
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, max(months) if months else 1)
    ax.set_xticks(months)
    ax.set_xlabel("Months since randomisation")
    ax.set_ylabel("Event-free probability")
    ax.set_title(title)
    ax.legend(loc="lower left", frameon=False)
    ax.grid(alpha=0.3)

    def row_y(i: int) -> float:  # axes fraction of table row i (0 = heading)
        return -(0.6 + 0.25 * i) / axis_inches

    ax.text(
        -0.03, row_y(0), "At risk", transform=ax.transAxes, ha="right",
        va="center", fontsize=8, fontweight="bold",
    )  # fmt: skip
    for i, arm in enumerate(arms):
        ax.text(
            -0.03, row_y(i + 1), arm, transform=ax.transAxes, ha="right",
            va="center", color=ARM_COLOURS[i % len(ARM_COLOURS)], fontsize=8,
        )  # fmt: skip
        rows = at_risk[at_risk["arm"] == arm].set_index("month")
        for m in months:
            if m in rows.index:
                ax.text(
                    m, row_y(i + 1), str(int(rows.loc[m, "at_risk"])),
                    transform=ax.get_xaxis_transform(), ha="center", va="center",
                    fontsize=8,
                )  # fmt: skip
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})


def run_time_to_event(
    participants: pd.DataFrame,
    events: pd.DataFrame,
    settings: SurvivalSettings,
    clinical: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Analyse every configured endpoint; return the stage's tables by name."""
    data = time_to_event_data(participants, events, settings, clinical)
    parts: dict[str, list[pd.DataFrame]] = {
        k: [] for k in ("summary", "km", "at_risk", "cox", "pooled")
    }
    for code, label in settings.endpoints:
        sub = data[data["endpoint"] == code] if len(data) else data
        res = analyse_endpoint(code, label, sub, settings)
        for k in parts:
            parts[k].append(getattr(res, k))
        LOG.info(
            "%s: %d participants, %d events, %d competing deaths",
            code,
            len(sub),
            int(res.pooled["events"].iloc[0]),
            int(res.pooled["competing_deaths"].iloc[0]),
        )
    tables = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    tables["data"] = data
    return tables


def time_to_event_step(
    *,
    participants: PathLike,
    events: PathLike,
    clinical: PathLike | None,
    outputs: Mapping[str, PathLike],
    figures: Sequence[PathLike],
    settings: SurvivalSettings,
) -> None:
    """Rule ``time_to_event``: read the sheets, analyse, write tables and figures.

    Parameters
    ----------
    participants, events, clinical
        Sheets (clinical measurements optional: last-contact fallback).
    outputs
        ``summary``, ``km``, ``at_risk``, ``cox`` and ``pooled`` table paths.
    figures
        One PNG per configured endpoint, in config order.
    settings
        Stage settings built at parse time.
    """
    parts = read_table(participants, "participants")
    ev = read_table(events, "events")
    clin = read_table(clinical, "clinical_measurements") if clinical else None
    tables = run_time_to_event(parts, ev, settings, clin)
    for name in ("summary", "km", "at_risk", "cox", "pooled"):
        write_table(tables[name], outputs[name])
    arms = list(settings.arms)
    for (code, label), path in zip(settings.endpoints, figures, strict=True):
        plot_km(
            tables["km"][tables["km"]["endpoint"] == code],
            tables["at_risk"][tables["at_risk"]["endpoint"] == code],
            arms,
            label,
            path,
        )
    days = [month_day(m) for m in settings.at_risk_months]
    LOG.info("numbers at risk at days %s", ", ".join(str(d) for d in days))
