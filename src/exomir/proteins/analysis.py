"""Protein endpoints: ANCOVA of each panel analyte and ratio (issue 21).

Input is ``results/proteins/concentrations.tsv`` (one row per protein sample
and analyte; flags ``ok | below_lloq | above_uloq | high_cv | plate_failed |
not_measured | below_lod | qc_warning | low_bead_count``), the clinical populations (``results/clinical/populations.tsv``,
the same mITT/PP as the clinical endpoints) and participants.tsv (strata).

Model (the clinical endpoints' ANCOVA, :func:`exomir.stats.models.ols_effect`):
the value at the primary visit on arm + baseline value + design.strata, OLS
with HC3 SE and a t CI. ``transform: log`` analytes and every ratio are fitted
on the natural-log scale and reported as the ratio of geometric means
(treated / reference); NPX (``transform: none``, already log2) as a mean
difference in NPX. Benjamini-Hochberg across the panel (analytes and ratios)
within each analysis, population and visit.

Values outside the quantification range (the rule, never silent):

``primary``
    Quantified values only: flags ``ok`` and ``high_cv`` (``high_cv`` values
    are kept and counted). ``plate_failed`` and ``not_measured`` are missing.
    ``below_lloq`` / ``above_uloq`` are missing too, and counted per endpoint
    (``n_below_lloq``, ``n_above_uloq``). NPX ``below_lod`` values are kept as
    measured (Olink's practice: NPX below the LOD still ranks samples, and
    dropping them biases low-abundance proteins upwards) and counted
    (``n_below_lod``); a ``below_lod`` row without a value (``lod_policy:
    exclude``) is missing. ``qc_warning`` (NPX sample QC warning) and
    ``low_bead_count`` (Luminex reads with too few beads) are missing and
    counted in ``n_excluded`` with ``plate_failed`` / ``not_measured``.
``censored_substituted`` (sensitivity; only where censored values exist)
    ``below_lloq`` replaced by LLOQ/sqrt(2) and ``above_uloq`` by the ULOQ
    (NPX: LOD - 0.5, the same shift on the log2 scale). Substitution rather
    than a Tobit model because the baseline value, a covariate, is censored as
    often as the outcome, and a Tobit likelihood censors only the outcome. The
    limits come from the quantification stage's table of per-plate limits when
    given, else from the lowest / highest quantified value of the analyte on
    the same plate (the LLOQ is at most that value), with a note.

A ratio (e.g. sFlt-1/PlGF) is computed per protein sample from its two
analytes; it is censored when either component is, and missing when either is
missing.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open
from exomir.clinical.association import bh_adjust
from exomir.clinical.endpoints import covariate_columns
from exomir.errors import Issue, ValidationError
from exomir.proteins.settings_analysis import ProteinAnalysisSettings, ProteinSpec
from exomir.stats.models import ols_effect
from exomir.tables import write_table

log = logging.getLogger(__name__)

TREATED = "treated"
CONC_COLUMNS = [
    "protein_sample_id",
    "participant_id",
    "visit",
    "analyte",
    "concentration",
    "unit",
    "flag",
    "plate_id",
    "cv",
]
QUANTIFIED = ("ok", "high_cv")
CENSORED = ("below_lloq", "above_uloq")
#: NPX below the LOD: analysed as measured when the value is given (Olink's
#: practice, ``proteins.npx.lod_policy: keep``), missing when it is empty
#: (``exclude``); counted either way (``n_below_lod``).
KEPT_FLAGGED = ("below_lod",)
EXCLUDED = ("plate_failed", "not_measured", "qc_warning", "low_bead_count")
FLAGS = (
    *QUANTIFIED, *CENSORED, "plate_failed", "not_measured", *KEPT_FLAGGED,
    "qc_warning", "low_bead_count",
)  # fmt: skip
LIMIT_COLUMNS = ["plate_id", "analyte", "lloq", "uloq"]

EFFECT_COLUMNS = [
    "analyte",
    "label",
    "kind",
    "assay",
    "unit",
    "transform",
    "analysis",
    "population",
    "visit",
    "effect_measure",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "p_bh",
    "estimate_model_scale",
    "se_model_scale",
    "n_treatment",
    "n_control",
    "n_high_cv",
    "n_below_lloq",
    "n_above_uloq",
    "n_excluded",
    "n_below_lod",
    "model",
    "covariates",
    "note",
]


# ---------------------------------------------------------------------------
# Input


def _row_problem(
    rec: Any, value: float, panel: Sequence[str], log_analytes: Sequence[str]
) -> tuple[str, str] | None:
    """Column and message of the first problem of one concentrations row."""
    if rec.flag not in FLAGS:
        return "flag", f"unknown flag '{rec.flag}'; use one of {', '.join(FLAGS)}"
    if rec.analyte not in panel:
        return "analyte", (
            f"analyte '{rec.analyte}' is not in config proteins.panel "
            f"({', '.join(panel)})"
        )
    if rec.concentration != "" and math.isnan(value):
        return "concentration", f"concentration '{rec.concentration}' is not a number"
    if rec.flag in QUANTIFIED and math.isnan(value):
        return "concentration", f"flag {rec.flag} without a concentration"
    if rec.analyte in log_analytes and value <= 0:
        return "concentration", (
            f"concentration {rec.concentration} is not positive (the analyte is "
            "analysed on the log scale)"
        )
    if rec.flag not in (*QUANTIFIED, *KEPT_FLAGGED) and not math.isnan(value):
        return "concentration", (
            f"a concentration is given with flag {rec.flag} (values outside the "
            "quantification range must be empty)"
        )
    return None


def read_concentrations(
    path: str | os.PathLike[str],
    panel: Sequence[str],
    label: str = "results/proteins/concentrations.tsv",
    log_analytes: Sequence[str] = (),
) -> pd.DataFrame:
    """Read and check the concentrations table.

    Parameters
    ----------
    path
        concentrations.tsv.
    panel
        Analytes of config ``proteins.panel`` (others are an error).
    log_analytes
        Analytes analysed on the log scale (their values must be positive).
    label
        File name for messages.

    Returns
    -------
    pandas.DataFrame
        The table with ``concentration`` as float and ``_line`` (1-based file
        line, header = 1).

    Raises
    ------
    ValidationError
        Listing every missing column, unknown flag or analyte, a concentration
        given with a censoring flag or missing with ``ok``, a non-positive
        concentration on a log-scale analyte, and duplicate participant x visit
        x analyte rows.
    """
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in CONC_COLUMNS if c not in df.columns]
    if missing:
        raise ValidationError(
            [Issue(label, f"missing column(s): {', '.join(missing)}", line=1)]
        )
    df["_line"] = np.arange(2, len(df) + 2)
    issues: list[Issue] = []
    num = pd.to_numeric(df["concentration"].replace("", np.nan), errors="coerce")
    recs = df.rename(columns={"_line": "line"}).itertuples(index=False)
    for rec, value in zip(recs, num, strict=True):
        problem = _row_problem(rec, value, panel, log_analytes)
        if problem:
            issues.append(
                Issue(
                    label,
                    problem[1],
                    line=int(rec.line),
                    column=problem[0],
                    row_id=f"protein_sample_id={rec.protein_sample_id}, "
                    f"analyte={rec.analyte}",
                )
            )
    df["concentration"] = num.astype(float)
    dup = df[df.duplicated(["participant_id", "visit", "analyte"], keep=False)]
    for (pid, visit, analyte), g in dup.groupby(["participant_id", "visit", "analyte"]):
        issues.append(
            Issue(
                label,
                f"{len(g)} rows for participant {pid}, visit {visit}, analyte "
                f"{analyte} (lines {', '.join(map(str, g['_line']))}); one protein "
                "sample per participant and visit is analysed",
            )
        )
    if issues:
        raise ValidationError(issues)
    return df


def read_limits(
    path: str | os.PathLike[str] | None, label: str = "limits"
) -> pd.DataFrame | None:
    """Per-plate quantification limits ``plate_id, analyte, lloq, uloq`` (optional)."""
    if path is None:
        return None
    lim = pd.read_csv(path, sep="\t", dtype={"plate_id": str, "analyte": str})
    missing = [c for c in LIMIT_COLUMNS if c not in lim.columns]
    if missing:
        raise ValidationError(
            [Issue(label, f"missing column(s): {', '.join(missing)}", line=1)]
        )
    return lim[LIMIT_COLUMNS]


# ---------------------------------------------------------------------------
# Values on the analysis scale


def _to_scale(x: pd.Series, transform: str) -> pd.Series:
    if transform == "log":
        return pd.Series(np.log(x.where(x > 0)), index=x.index)
    return x.astype(float)


def _substitutes(
    conc: pd.DataFrame, limits: pd.DataFrame | None
) -> tuple[pd.Series, str]:
    """Substitute concentration of each censored row (NaN elsewhere) and its source."""
    q = conc[conc["flag"].isin(QUANTIFIED)]
    lo = q.groupby(["plate_id", "analyte"])["concentration"].min()
    hi = q.groupby(["plate_id", "analyte"])["concentration"].max()
    lo_all = q.groupby("analyte")["concentration"].min()
    hi_all = q.groupby("analyte")["concentration"].max()
    source = "lowest/highest quantified value of the plate"
    if limits is not None:
        lim = limits.set_index(["plate_id", "analyte"])
        lo = lim["lloq"].combine_first(lo)
        hi = lim["uloq"].combine_first(hi)
        source = "per-plate LLOQ/ULOQ"
    out = pd.Series(np.nan, index=conc.index)
    for idx, rec in conc[conc["flag"].isin(CENSORED)].iterrows():
        key = (rec["plate_id"], rec["analyte"])
        if rec["flag"] == "below_lloq":
            out[idx] = lo.get(key, lo_all.get(rec["analyte"], np.nan))
        else:
            out[idx] = hi.get(key, hi_all.get(rec["analyte"], np.nan))
    return out, source


def protein_values(
    conc: pd.DataFrame,
    settings: ProteinAnalysisSettings,
    limits: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long table of every endpoint on its analysis scale.

    Parameters
    ----------
    conc
        From :func:`read_concentrations`.
    settings
        Protein-analysis settings.
    limits
        Optional per-plate limits (:func:`read_limits`).

    Returns
    -------
    pandas.DataFrame
        ``participant_id, visit, analyte, flag, value, value_sub``: ``flag`` is
        the row's flag (a ratio: ``plate_failed``/``not_measured`` if either
        component is excluded, else a censoring flag if either is censored,
        else ``high_cv`` / ``ok``); ``value`` the quantified value on the
        analysis scale (NaN if not quantified); ``value_sub`` the value of the
        substitution sensitivity analysis.
    """
    sub, _source = _substitutes(conc, limits)
    out = []
    for spec in settings.panel:
        if spec.is_ratio:
            continue
        c = conc[conc["analyte"] == spec.code]
        v = _to_scale(c["concentration"], spec.transform)
        s = _to_scale(sub[c.index], spec.transform)
        # LLOQ/sqrt(2): on the natural-log scale -log(2)/2; on NPX (log2) -0.5.
        shift = -math.log(2) / 2 if spec.transform == "log" else -0.5
        s = s.where(c["flag"] != "below_lloq", s + shift)
        out.append(
            pd.DataFrame(
                {
                    "participant_id": c["participant_id"].astype(str),
                    "visit": c["visit"].astype(str),
                    "analyte": spec.code,
                    "flag": c["flag"],
                    "value": v,
                    "value_sub": v.combine_first(s),
                }
            )
        )
    long = pd.concat(out, ignore_index=True) if out else pd.DataFrame()
    for spec in settings.panel:
        if spec.is_ratio and not long.empty:
            long = pd.concat([long, _ratio(long, spec)], ignore_index=True)
    return long.reset_index(drop=True)


def _ratio(long: pd.DataFrame, spec: ProteinSpec) -> pd.DataFrame:
    """Log ratio of two analytes per participant and visit."""
    key = ["participant_id", "visit"]
    n = long[long["analyte"] == spec.numerator].set_index(key)
    d = long[long["analyte"] == spec.denominator].set_index(key)
    j = n.join(d, how="outer", lsuffix="_n", rsuffix="_d")

    def flag(a: Any, b: Any) -> str:
        fl = [f if isinstance(f, str) else "not_measured" for f in (a, b)]
        for group in (EXCLUDED, CENSORED, ("high_cv",)):
            hit = [f for f in fl if f in group]
            if hit:
                return hit[0]
        return "ok"

    flags = [flag(a, b) for a, b in zip(j["flag_n"], j["flag_d"], strict=True)]
    r = pd.DataFrame(
        {
            "analyte": spec.code,
            "flag": flags,
            "value": j["value_n"] - j["value_d"],
            "value_sub": j["value_sub_n"] - j["value_sub_d"],
        },
        index=j.index,
    ).reset_index()
    return r[["participant_id", "visit", "analyte", "flag", "value", "value_sub"]]


def change_scores(
    values: pd.DataFrame, baseline: str, visit: str, column: str = "value"
) -> pd.DataFrame:
    """Participants x endpoints: value at ``visit`` minus baseline (analysis scale)."""
    wide = values.pivot_table(
        index="participant_id", columns=["visit", "analyte"], values=column
    )
    if baseline not in wide.columns.get_level_values(0) or visit not in (
        wide.columns.get_level_values(0)
    ):
        return pd.DataFrame(index=wide.index)
    return (wide[visit] - wide[baseline]).sort_index()


# ---------------------------------------------------------------------------
# Models


def _blank(spec: ProteinSpec, analysis: str, pop: str, visit: str) -> dict[str, Any]:
    row: dict[str, Any] = {c: np.nan for c in EFFECT_COLUMNS}
    row.update(
        analyte=spec.code,
        label=spec.label,
        kind="ratio" if spec.is_ratio else "protein",
        assay=spec.assay,
        unit=spec.unit,
        transform=spec.transform,
        analysis=analysis,
        population=pop,
        visit=visit,
        effect_measure=(
            "ratio of geometric means"
            if spec.transform == "log"
            else "mean difference (NPX)"
        ),
        model="",
        covariates="",
        note="",
    )
    return row


def _counts(v: pd.DataFrame, pids: pd.Index, visits: tuple[str, str]) -> dict[str, int]:
    s = v[v["participant_id"].isin(pids) & v["visit"].isin(visits)]
    return {
        "n_high_cv": int((s["flag"] == "high_cv").sum()),
        "n_below_lloq": int((s["flag"] == "below_lloq").sum()),
        "n_above_uloq": int((s["flag"] == "above_uloq").sum()),
        "n_excluded": int(s["flag"].isin(EXCLUDED).sum()),
        "n_below_lod": int((s["flag"] == "below_lod").sum()),
    }


def protein_ancova(
    d: pd.DataFrame,
    spec: ProteinSpec,
    settings: ProteinAnalysisSettings,
    row: dict[str, Any],
) -> dict[str, Any]:
    """ANCOVA of one endpoint: ``fu ~ treated + bl + strata`` (HC3, t CI).

    Parameters
    ----------
    d
        One row per participant of the population: ``treated``, ``bl``,
        ``fu`` (analysis scale) and the strata columns.
    spec
        The endpoint.
    settings
        Protein-analysis settings.
    row
        Output row to fill (from :func:`_blank`, counts already set).

    Returns
    -------
    dict
        ``row`` with the estimate (or the reason it is empty in ``note``).
    """
    notes: list[str] = []
    ok = d[["bl", "fu"]].notna().all(axis=1)
    if (~ok).sum():
        notes.append(f"{int((~ok).sum())} participant(s) without both values left out")
    d = d[ok]
    x = pd.DataFrame({"Intercept": 1.0, TREATED: d[TREATED], "baseline": d["bl"]})
    x = pd.concat([x, covariate_columns(d, list(settings.strata), notes)], axis=1)
    cc = x.notna().all(axis=1)
    if (~cc).sum():
        notes.append(
            f"{int((~cc).sum())} participant(s) with a missing stratum left out"
        )
    x, d = x[cc], d[cc]
    n_t, n_c = int((d[TREATED] == 1).sum()), int((d[TREATED] == 0).sum())
    row.update(n_treatment=n_t, n_control=n_c)
    if n_t < 2 or n_c < 2:
        notes.append(f"too few participants ({n_t} treated, {n_c} control)")
        row["note"] = "; ".join(notes)
        return row
    try:
        e = ols_effect(
            d["fu"].astype(float),
            x,
            TREATED,
            settings.cov_type,
            settings.ci_level,
            notes,
        )
    except ValueError as exc:
        row["note"] = "; ".join([*notes, str(exc)])
        return row
    row.update(
        model=f"ANCOVA (OLS, {e.cov_type} SE, t({int(e.df)}) CI)",
        covariates=", ".join(c for c in e.columns if c not in ("Intercept", TREATED)),
        estimate_model_scale=e.estimate,
        se_model_scale=e.se,
        p_value=e.pvalue,
        note="; ".join(notes),
    )
    if spec.transform == "log":
        row.update(
            estimate=math.exp(e.estimate),
            ci_low=math.exp(e.ci_low),
            ci_high=math.exp(e.ci_high),
        )
    else:
        row.update(estimate=e.estimate, ci_low=e.ci_low, ci_high=e.ci_high)
    return row


def _population_frame(
    populations: pd.DataFrame,
    participants: pd.DataFrame,
    settings: ProteinAnalysisSettings,
) -> pd.DataFrame:
    """Participants of the two compared arms with populations, arm and strata."""
    p = populations.copy()
    p["participant_id"] = p["participant_id"].astype(str)
    for c in ("in_mitt", "in_pp"):
        p[c] = p[c].astype(str).str.lower().isin(("true", "1"))
    p = p[p["arm"].isin([settings.arm, settings.reference_arm])]
    p = p.set_index("participant_id")[["arm", "in_mitt", "in_pp"]]
    par = participants.drop_duplicates("participant_id").copy()
    par["participant_id"] = par["participant_id"].astype(str)
    par = par.set_index("participant_id")
    keep = [c for c in settings.strata if c in par.columns]
    p = p.join(par[keep])
    p[TREATED] = (p["arm"] == settings.arm).astype(float)
    return p.sort_index()


def _analyse_visit(
    values: pd.DataFrame,
    pop_frame: pd.DataFrame,
    settings: ProteinAnalysisSettings,
    visit: str,
    analyses: tuple[str, ...],
) -> list[dict[str, Any]]:
    rows = []
    popcol = {"mITT": "in_mitt", "PP": "in_pp"}
    for spec in settings.panel:
        v = values[values["analyte"] == spec.code]
        for analysis in analyses:
            col = "value" if analysis == "primary" else "value_sub"
            for pop in settings.populations:
                members = pop_frame[pop_frame[popcol[pop]]]
                counts = _counts(v, members.index, (settings.baseline_visit, visit))
                if analysis != "primary" and not (
                    counts["n_below_lloq"] + counts["n_above_uloq"]
                ):
                    continue
                wide = v.pivot_table(
                    index="participant_id", columns="visit", values=col
                )
                d = members.copy()
                d["bl"] = wide.get(settings.baseline_visit, pd.Series(dtype=float))
                d["fu"] = wide.get(visit, pd.Series(dtype=float))
                d = d.dropna(subset=["bl", "fu"], how="all")
                row = _blank(spec, analysis, pop, visit)
                row.update(counts)
                if analysis != "primary":
                    row["note"] = "censored values substituted"
                rows.append(protein_ancova(d, spec, settings, row))
    return rows


def analyse_proteins(
    values: pd.DataFrame,
    populations: pd.DataFrame,
    participants: pd.DataFrame,
    settings: ProteinAnalysisSettings,
    visits: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """ANCOVA of every protein endpoint, population and visit, with BH.

    Parameters
    ----------
    values
        From :func:`protein_values`.
    populations
        results/clinical/populations.tsv (``participant_id, arm, in_mitt,
        in_pp``).
    participants
        participants.tsv (strata).
    settings
        Protein-analysis settings.
    visits
        Post-dose visits to analyse (default: the primary visit).

    Returns
    -------
    pandas.DataFrame
        :data:`EFFECT_COLUMNS`: visit order, then analysis (primary, then
        censored_substituted), endpoints in config order, population.
        ``p_bh`` is adjusted across the panel within analysis, population and
        visit.
    """
    pop_frame = _population_frame(populations, participants, settings)
    analyses: tuple[str, ...] = ("primary", "censored_substituted")
    if not settings.censored_sensitivity:
        analyses = ("primary",)
    rows: list[dict[str, Any]] = []
    for visit in visits or (settings.primary_visit,):
        rows += _analyse_visit(values, pop_frame, settings, visit, analyses)
    out = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    if out.empty:
        return out
    order = {a: i for i, a in enumerate(analyses)}
    vorder = {v: i for i, v in enumerate(visits or (settings.primary_visit,))}
    out["_k"] = out["analysis"].map(order) * 1000 + out["visit"].map(vorder)
    out = out.sort_values("_k", kind="stable").drop(columns="_k")
    for _key, idx in out.groupby(["analysis", "population", "visit"]).groups.items():
        out.loc[idx, "p_bh"] = bh_adjust(out.loc[idx, "p_value"].astype(float))
    for c in ("n_treatment", "n_control"):
        out[c] = out[c].astype("Int64")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------
# Plot and files


def volcano_plot(
    effects: pd.DataFrame, path: str | os.PathLike[str], population: str = "mITT"
) -> None:
    """Volcano plot of the primary analysis: log2 effect against -log10 p.

    Ratios of geometric means are drawn as log2 ratios and NPX differences as
    they are (already log2); points with BH-adjusted p < 0.05 are filled.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    e = effects[
        (effects["analysis"] == "primary")
        & (effects["population"] == population)
        & effects["p_value"].notna()
    ]
    fig = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if e.empty:
        ax.text(0.5, 0.5, "no estimable protein endpoint", ha="center", va="center")
        ax.set_axis_off()
    else:
        x = np.where(
            e["transform"] == "log",
            e["estimate_model_scale"].astype(float) / math.log(2),
            e["estimate_model_scale"].astype(float),
        )
        y = -np.log10(e["p_value"].astype(float).clip(lower=1e-300))
        sig = e["p_bh"].astype(float) < 0.05
        ax.scatter(x[~sig], y[~sig], facecolors="none", edgecolors="#1f4e9c")
        ax.scatter(x[sig], y[sig], color="#b2182b", label="BH p < 0.05")
        for xi, yi, lab in zip(x, y, e["label"], strict=True):
            ax.annotate(
                str(lab),
                (xi, yi),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.axvline(0, color="#7f7f7f", lw=0.8)
        ax.axhline(-math.log10(0.05), color="#7f7f7f", lw=0.8, ls=":")
        ax.set_xlabel("log2 effect (treated / reference; NPX: difference)")
        ax.set_ylabel("-log10 p")
        ax.set_title(f"Protein endpoints, {population}, {e['visit'].iloc[0]}")
        if sig.any():
            ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=130, metadata={"Software": "exomir"})


FLAG_SUMMARY_COLUMNS = ["analyte", "visit", "n_samples", *[f"n_{f}" for f in FLAGS]]


def flag_summary(conc: pd.DataFrame, analytes: Sequence[str]) -> pd.DataFrame:
    """Pooled count of each flag per analyte and visit (no arm: open report)."""
    rows = []
    visits = list(dict.fromkeys(conc["visit"]))
    for a in analytes:
        for v in visits:
            s = conc[(conc["analyte"] == a) & (conc["visit"] == v)]
            if s.empty:
                continue
            row: dict[str, Any] = {"analyte": a, "visit": v, "n_samples": len(s)}
            for f in FLAGS:
                row[f"n_{f}"] = int((s["flag"] == f).sum())
            rows.append(row)
    return pd.DataFrame(rows, columns=FLAG_SUMMARY_COLUMNS)


def _load(
    concentrations: str | os.PathLike[str],
    populations: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    settings: ProteinAnalysisSettings,
    limits: str | os.PathLike[str] | None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Concentrations, endpoint values, populations and participants of a rule."""
    from exomir.tables import read_table

    conc = read_concentrations(
        concentrations,
        settings.analytes,
        str(concentrations),
        [p.code for p in settings.panel if p.transform == "log"],
    )
    vals = protein_values(conc, settings, read_limits(limits, str(limits)))
    pops = pd.read_csv(populations, sep="\t", dtype={"participant_id": str})
    par = read_table(participants, "participants", "participants.tsv")
    return conc, vals, pops, par


def effects_from_files(
    *,
    concentrations: str | os.PathLike[str],
    populations: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    effects: str | os.PathLike[str],
    volcano: str | os.PathLike[str],
    flags: str | os.PathLike[str],
    settings: ProteinAnalysisSettings,
    limits: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Rule ``protein_effects``: effects.tsv, the volcano plot, the flag summary."""
    conc, vals, pops, par = _load(
        concentrations, populations, participants, settings, limits
    )
    res = analyse_proteins(vals, pops, par, settings)
    write_table(flag_summary(conc, settings.analytes), flags)
    write_table(res, effects)
    volcano_plot(res, volcano, settings.populations[0])
    log.info(
        "protein endpoints: %d analytes + %d ratios, %d rows",
        len(settings.analytes),
        len(settings.panel) - len(settings.analytes),
        len(res),
    )
    return res


def effects_by_visit_from_files(
    *,
    concentrations: str | os.PathLike[str],
    populations: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    by_visit: str | os.PathLike[str],
    settings: ProteinAnalysisSettings,
    limits: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Rule ``protein_effects_by_visit``: one ANCOVA per post-dose visit.

    Run when the design has two or more post-dose visits; the primary analysis
    only (quantified values). The repeated-measures model across visits is
    the MMRM's (not here).
    """
    _conc, vals, pops, par = _load(
        concentrations, populations, participants, settings, limits
    )
    res = analyse_proteins(vals, pops, par, settings, visits=settings.post_dose_visits)
    res = res[res["analysis"] == "primary"].reset_index(drop=True)
    write_table(res, by_visit)
    return res
