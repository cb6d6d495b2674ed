"""File-level steps of the site analyses (used by the Snakemake shims).

* :func:`primary_site_by_arm` / :func:`clinical_site_by_arm` -- the
  site-by-arm sensitivity analysis of the primary miRNA ANCOVA and of every
  continuous clinical endpoint (ANCOVA model) at the primary visit, mITT;
* :func:`site_forest_plot` -- arm effect by site with the pooled effect;
* :func:`site_by_arm_step` -- both tables and plots from the stage files.

Settings: config ``site_analysis`` (:class:`SiteSettings`) and ``design.sites``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from exomir.sites import SITE_COLUMN, configured_sites
from exomir.sites.interaction import SITE_BY_ARM_COLUMNS, TREATED, site_rows

log = logging.getLogger("exomir.sites")


@dataclass(frozen=True)
class SiteSettings:
    """Settings of the site analyses (config ``site_analysis``, ``design.sites``).

    Attributes
    ----------
    sites
        Site code -> name (``design.sites``), in report order.
    min_per_arm
        Participants per arm a site needs to enter the interaction model.
    max_batch_site_cramers_v
        Batch/site association from which a warning is raised.
    cov_type, ci_level
        Covariance type and confidence level (those of the primary ANCOVA).
    """

    sites: Mapping[str, str] = field(default_factory=dict)
    min_per_arm: int = 2
    max_batch_site_cramers_v: float = 0.8
    cov_type: str = "HC3"
    ci_level: float = 0.95


def site_settings(config: Mapping[str, Any]) -> SiteSettings:
    """Build :class:`SiteSettings` from a validated configuration."""
    s = dict(config.get("site_analysis") or {})
    p = dict(config.get("primary") or {})
    return SiteSettings(
        sites=configured_sites(config),
        min_per_arm=int(s.get("min_per_arm", 2)),
        max_batch_site_cramers_v=float(s.get("max_batch_site_cramers_v", 0.8)),
        cov_type=str(p.get("cov_type", "HC3")),
        ci_level=float(p.get("ci_level", 0.95)),
    )


def _site_of(participants: pd.DataFrame) -> pd.Series:
    par = participants.drop_duplicates("participant_id")
    return par.set_index(par["participant_id"].astype(str))[SITE_COLUMN]


def primary_site_by_arm(
    values: pd.DataFrame,
    participants: pd.DataFrame,
    primary: Any,
    settings: SiteSettings,
) -> pd.DataFrame:
    """Site-by-arm analysis of the primary miRNA ANCOVA.

    Parameters
    ----------
    values
        ``results/primary/mir126_values.tsv`` (one row per participant).
    participants
        participants.tsv (``site_id``).
    primary
        :class:`exomir.primary.settings.PrimarySettings` (strata, covariates).
    settings
        Site settings.

    Returns
    -------
    pandas.DataFrame
        :data:`SITE_BY_ARM_COLUMNS`.
    """
    from exomir.primary.analyses import strata_columns

    d = values.copy()
    d["participant_id"] = d["participant_id"].astype(str)
    d = d.sort_values("participant_id").reset_index(drop=True)
    d[SITE_COLUMN] = d["participant_id"].map(_site_of(participants))
    notes: list[str] = []
    strata = [s for s in primary.strata if s != SITE_COLUMN]
    adjust = strata_columns(d, strata, notes)
    for c in primary.covariates:
        adjust[c] = pd.to_numeric(d[c], errors="coerce")
    rows = site_rows(
        frame=d,
        outcome="y_followup",
        baseline="y_baseline",
        adjust=adjust,
        sites=settings.sites,
        labels={
            "analysis": "primary_ancova_site_by_arm",
            "endpoint": primary.mirna,
            "label": f"{primary.mirna} ({primary.timepoint})",
            "population": "all randomised with both values",
            "scale": "log2 difference (ratio = 2^estimate)",
        },
        back="exp2",
        cov_type=primary.cov_type,
        ci_level=primary.ci_level,
        min_per_arm=settings.min_per_arm,
        notes=notes,
    )
    return pd.DataFrame(rows, columns=SITE_BY_ARM_COLUMNS)


def clinical_site_by_arm(
    dataset: pd.DataFrame,
    participants: pd.DataFrame,
    clinical: Any,
    settings: SiteSettings,
    population: str = "mITT",
) -> pd.DataFrame:
    """Site-by-arm analysis of every continuous (ANCOVA) clinical endpoint.

    Parameters
    ----------
    dataset
        ``results/clinical/analysis_dataset.tsv`` read with
        :func:`exomir.clinical.stage.read_dataset`.
    participants
        participants.tsv (strata, covariates, ``site_id``).
    clinical
        :class:`exomir.clinical.settings.ClinicalSettings`.
    settings
        Site settings.
    population
        ``mITT`` or ``PP``.

    Returns
    -------
    pandas.DataFrame
        :data:`SITE_BY_ARM_COLUMNS`, endpoints in config order.
    """
    from exomir.clinical.endpoints import _log_values, covariate_columns

    par = participants.drop_duplicates("participant_id").copy()
    par["participant_id"] = par["participant_id"].astype(str)
    par = par.drop(columns=[c for c in ("arm", "_line") if c in par.columns])
    pop_col = {"mITT": "in_mitt", "PP": "in_pp"}[population]
    rows: list[dict[str, Any]] = []
    for spec in clinical.endpoints:
        if spec.kind != "continuous" or spec.model != "ancova":
            continue
        sub = dataset[
            (dataset["param"] == spec.code)
            & dataset["arm"].isin([clinical.arm, clinical.reference_arm])
            & dataset[pop_col].astype(bool)
        ].copy()
        sub["participant_id"] = sub["participant_id"].astype(str)
        sub[TREATED] = (sub["arm"] == clinical.arm).astype(float)
        sub = sub.merge(par, on="participant_id", how="left")
        sub = sub.sort_values("participant_id").reset_index(drop=True)
        notes: list[str] = []
        if spec.transform == "log":
            sub = _log_values(sub, ["bl", "wk1"], notes)
        strata = [s for s in clinical.strata if s != SITE_COLUMN]
        adjust = covariate_columns(sub, [*strata, *spec.covariates], notes)
        rows += site_rows(
            frame=sub,
            outcome="wk1",
            baseline="bl",
            adjust=adjust,
            sites=settings.sites,
            labels={
                "analysis": "clinical_ancova_site_by_arm",
                "endpoint": spec.code,
                "label": spec.label,
                "population": population,
                "scale": "log ratio (ratio of geometric means = exp)"
                if spec.transform == "log"
                else "mean difference",
            },
            back="exp" if spec.transform == "log" else "",
            cov_type=clinical.cov_type,
            ci_level=clinical.ci_level,
            min_per_arm=settings.min_per_arm,
            notes=notes,
        )
    return pd.DataFrame(rows, columns=SITE_BY_ARM_COLUMNS)


def site_forest_plot(
    table: pd.DataFrame, path: str | os.PathLike[str], title: str
) -> None:
    """Forest plot of the arm effect by site (one panel per endpoint).

    Per-site estimates with their 95% CIs, the pooled estimate (diamond) and
    the interaction p-value in each panel's title; the back-transformed scale
    (ratio) when the table has one.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    from exomir.atomic import atomic_path

    endpoints = list(dict.fromkeys(table["endpoint"])) or ["(none)"]
    n_rows = max(1, len(table) // max(1, len(endpoints)))
    height = 0.6 + len(endpoints) * (0.8 + 0.3 * n_rows)
    fig, axes = plt.subplots(
        len(endpoints),
        1,
        figsize=(6.5, height),
        squeeze=False,
    )
    for ax, ep in zip(axes[:, 0], endpoints, strict=True):
        d = table[(table["endpoint"] == ep) & (table["row_type"] != "interaction")]
        ratio = d["back_transformed"].notna().any()
        est, lo, hi = (
            ("back_transformed", "bt_ci_low", "bt_ci_high")
            if ratio
            else ("estimate", "ci_low", "ci_high")
        )
        ys = np.arange(len(d))[::-1]
        for y, (_, r) in zip(ys, d.iterrows(), strict=True):
            label = (
                f"{r['site']} {r['site_name']}" if r["row_type"] == "site" else "pooled"
            )
            marker = "D" if r["row_type"] == "pooled" else "s"
            if np.isfinite(r[est]):
                ax.plot([r[lo], r[hi]], [y, y], color="k", lw=1)
                ax.plot(r[est], y, marker, color="C0" if marker == "s" else "C3")
            else:
                ax.text(
                    1.0 if ratio else 0.0, y, "not estimable", fontsize=7, va="center"
                )
            ax.text(
                -0.02,
                y,
                label,
                transform=ax.get_yaxis_transform(),
                ha="right",
                va="center",
                fontsize=7,
            )
        ax.axvline(1.0 if ratio else 0.0, color="grey", lw=0.8, ls="--")
        if ratio:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks([])
        inter = table[(table["endpoint"] == ep) & (table["row_type"] == "interaction")]
        p = inter["p_value"].iloc[0] if len(inter) else np.nan
        label = d["label"].iloc[0] if len(d) else ep
        ax.set_title(
            f"{label}: site x arm p = {p:.3g}"
            if np.isfinite(p)
            else f"{label}: interaction not computed",
            fontsize=8,
        )
        ax.set_xlabel(
            "treated / reference (ratio)" if ratio else "treated - reference",
            fontsize=7,
        )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def site_by_arm_step(
    *,
    kind: str,
    source: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    table: str | os.PathLike[str],
    plot: str | os.PathLike[str],
    settings: SiteSettings,
    model_settings: Any,
) -> pd.DataFrame:
    """Write ``site_by_arm.tsv`` and its forest plot for one stage.

    Parameters
    ----------
    kind
        ``primary`` (source: ``mir126_values.tsv``, model settings:
        PrimarySettings) or ``clinical`` (source: ``analysis_dataset.tsv``,
        model settings: ClinicalSettings).
    source, participants
        The stage table and participants.tsv.
    table, plot
        Outputs.
    settings
        Site settings.
    model_settings
        Settings of the main model (strata, covariates, HC type).
    """
    from exomir.tables import read_table, write_table

    par = read_table(participants, "participants")
    if kind == "primary":
        values = pd.read_csv(source, sep="\t", dtype={"participant_id": str})
        out = primary_site_by_arm(values, par, model_settings, settings)
        title = "Primary miRNA: arm effect by site (sensitivity analysis)"
    else:
        from exomir.clinical.stage import read_dataset

        out = clinical_site_by_arm(read_dataset(source), par, model_settings, settings)
        title = "Continuous clinical endpoints (mITT): arm effect by site"
    for _, r in out[out["row_type"] == "interaction"].iterrows():
        log.info(
            "%s %s: site x arm F(%s, %s) = %.3f, p = %.4g%s",
            r["analysis"],
            r["endpoint"],
            r["df_num"],
            r["df_den"],
            r["statistic"],
            r["p_value"],
            f" [{r['note']}]" if r["note"] else "",
        )
    write_table(out, table)
    site_forest_plot(out, plot, title)
    return out


def batch_site_step(
    *,
    samples: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    table: str | os.PathLike[str],
    settings: SiteSettings,
) -> pd.DataFrame:
    """Write ``results/qc/batch_site.tsv`` (warnings go to the log)."""
    from exomir.sites.batch import batch_site_table
    from exomir.tables import read_table, write_table

    out, _warnings = batch_site_table(
        read_table(samples, "samples"),
        read_table(participants, "participants"),
        settings.max_batch_site_cramers_v,
    )
    write_table(out, table)
    return out
