"""ROC of the primary miRNA against the endothelial-dysfunction reference (analysis_spec §3.3).

The marker is the baseline log2 normalised level of ``trial.primary_mirna``
(as used by the primary analysis, :func:`exomir.primary.sample_values`). The
label is the independent reference ``ed_reference`` of participants.tsv
(EndoPAT RHI or FMD); the trial arm is never used. The direction is explicit
(config ``roc.direction``): ``lower`` means a lower level indicates
dysfunction, so the score is ``-x``.

Reported (``results/clinical/roc.tsv``, one metric per row):

- ``auc`` with the DeLong CI and ``auc_bootstrap`` with the stratified
  percentile bootstrap CI (``roc.n_bootstrap`` resamples, fixed seed);
- the Youden cut (max of sensitivity + specificity - 1), ``sensitivity`` and
  ``specificity`` there with their counts and Wilson CIs, ``youden_j``;
- optimism-corrected AUC and J (Harrell's bootstrap: the cut is
  re-optimised in each resample and applied back to the original data);
- the registry's figures (85.71 % / 81.82 % / AUC 0.792) in ``registry_value``.

Without any reference label the table has one row per metric with the note
"not computed: no ed_reference" and no curve is drawn.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from exomir.errors import Issue, ValidationError
from exomir.primary.settings import PrimarySettings
from exomir.stats.auc import delong_auc
from exomir.stats.intervals import wilson_ci

log = logging.getLogger(__name__)

ROC_COLUMNS = [
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "ci_method",
    "numerator",
    "denominator",
    "registry_value",
    "marker",
    "direction",
    "note",
]

NOT_COMPUTED = "not computed: no ed_reference"


@dataclass(frozen=True)
class RocSettings:
    """Settings of the ROC analysis (config ``roc``)."""

    direction: str = "lower"
    n_bootstrap: int = 2000
    seed: int = 20261126
    ci_level: float = 0.95
    registry_sensitivity: float | None = 0.8571
    registry_specificity: float | None = 0.8182
    registry_auc: float | None = 0.792


def roc_settings(config: Mapping[str, Any]) -> RocSettings:
    """Read config ``roc`` (defaults filled by the schema)."""
    s = dict(config.get("roc") or {})
    reg = dict(s.get("registry") or {})
    d = RocSettings()
    return RocSettings(
        direction=str(s.get("direction", d.direction)),
        n_bootstrap=int(s.get("n_bootstrap", d.n_bootstrap)),
        seed=int(s.get("seed", d.seed)),
        ci_level=float(s.get("ci_level", d.ci_level)),
        registry_sensitivity=reg.get("sensitivity", d.registry_sensitivity),
        registry_specificity=reg.get("specificity", d.registry_specificity),
        registry_auc=reg.get("auc", d.registry_auc),
    )


def youden(y: np.ndarray, score: np.ndarray) -> tuple[float, float, float, float]:
    """Youden-optimal cut of a score (positive if ``score >= cut``).

    Returns
    -------
    tuple of float
        ``(cut, J, sensitivity, specificity)``; ties in J go to the first
        (highest) finite threshold of :func:`sklearn.metrics.roc_curve`.
    """
    return _youden_of_curve(*roc_curve(y, score, drop_intermediate=False))


def _youden_of_curve(
    fpr: np.ndarray, tpr: np.ndarray, thr: np.ndarray
) -> tuple[float, float, float, float]:
    """Youden-optimal point of a full ROC curve (see :func:`youden`)."""
    j = tpr - fpr
    # the first point (threshold +inf: nobody positive) is not a usable cut
    k = 1 + int(np.argmax(j[1:]))
    return float(thr[k]), float(j[k]), float(tpr[k]), float(1.0 - fpr[k])


def _roc_points(
    y: np.ndarray, score: np.ndarray, drop_intermediate: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sklearn.metrics.roc_curve`` of 0/1 labels, without its input checks.

    The bootstrap resamples data that :func:`run_roc` has already passed
    through scikit-learn (finite scores, both classes in every stratified
    resample); its ~4,000 calls spent nearly all their time in scikit-learn's
    argument validation. The arithmetic is scikit-learn's own (counts at the
    last index of each distinct score, the same collinear points dropped, the
    same divisions), so every value is the same to the bit (tested against
    scikit-learn in tests/unit/test_roc_fast.py).
    """
    order = np.argsort(score, kind="stable")[::-1]  # ties: counts taken at group ends
    s = score[order]
    idx = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum((y[order] == 1).astype(np.float64) * 1.0, dtype=np.float64)[idx]
    fps = 1 + idx.astype(np.float64) - tps
    thr = s[idx]
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.flatnonzero(
            np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        )
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    tps = np.r_[0.0, tps]
    fps = np.r_[0.0, fps]
    thr = np.r_[np.inf, thr.astype(np.float64)]
    return fps / fps[-1], tps / tps[-1], thr


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """``sklearn.metrics.roc_auc_score`` of 0/1 labels (trapezoids, as scikit-learn)."""
    from scipy.integrate import trapezoid

    fpr, tpr, _ = _roc_points(y, score, drop_intermediate=True)
    return float(trapezoid(tpr, fpr))  # fpr never decreases: direction 1


def _j_at(y: np.ndarray, score: np.ndarray, cut: float) -> float:
    pred = score >= cut
    sens = pred[y == 1].mean()
    spec = (~pred[y == 0]).mean()
    return float(sens + spec - 1.0)


def _bootstrap(
    y: np.ndarray, score: np.ndarray, s: RocSettings
) -> dict[str, np.ndarray | float]:
    """Stratified bootstrap: AUC, re-optimised cut and the optimism of AUC and J."""
    rng = np.random.default_rng(s.seed)
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    aucs, cuts, opt_auc, opt_j = [], [], [], []
    auc0 = roc_auc_score(y, score)
    for _ in range(s.n_bootstrap):
        idx = np.concatenate(
            [
                rng.choice(pos, len(pos), replace=True),
                rng.choice(neg, len(neg), replace=True),
            ]
        )
        yb, sb = y[idx], score[idx]
        a = _auc(yb, sb)
        cut, jb, _, _ = _youden_of_curve(*_roc_points(yb, sb, drop_intermediate=False))
        aucs.append(a)
        cuts.append(cut)
        # Harrell: performance of the rule fitted in the resample, apparent in
        # the resample minus tested on the original data.
        opt_auc.append(a - auc0)
        opt_j.append(jb - _j_at(y, score, cut))
    return {
        "auc": np.array(aucs),
        "cut": np.array(cuts),
        "opt_auc": float(np.mean(opt_auc)),
        "opt_j": float(np.mean(opt_j)),
    }


def _row(metric: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {c: np.nan for c in ROC_COLUMNS}
    row.update(metric=metric, ci_method="", note="", marker="", direction="")
    row.update(kw)
    return row


def not_computed(
    reason: str = NOT_COMPUTED, s: RocSettings | None = None
) -> pd.DataFrame:
    """Table written when the ROC cannot be computed (rows keep the registry values)."""
    s = s or RocSettings()
    reg = {
        "auc": s.registry_auc,
        "sensitivity": s.registry_sensitivity,
        "specificity": s.registry_specificity,
    }
    rows = [
        _row(m, registry_value=reg.get(m, np.nan), note=reason)
        for m in ("auc", "sensitivity", "specificity", "youden_j", "cutoff")
    ]
    return pd.DataFrame(rows, columns=ROC_COLUMNS)


def marker_and_label(
    participants: pd.DataFrame, baseline: pd.DataFrame, label: str = "participants.tsv"
) -> pd.DataFrame:
    """Join the baseline marker to the reference label.

    Parameters
    ----------
    participants
        Participants table with ``participant_id`` and ``ed_reference``.
    baseline
        ``participant_id`` and ``x`` (baseline log2 level).
    label
        File name for messages.

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``x``, ``y`` (0/1) for participants with both;
        a warning gives the counts left out.

    Raises
    ------
    ValidationError
        If a reference value is not 0/1.
    """
    if "ed_reference" not in participants.columns:
        return pd.DataFrame(columns=["participant_id", "x", "y"])
    ref = participants[["participant_id", "ed_reference"]].copy()
    issues = []
    for _, r in ref.iterrows():
        v = r["ed_reference"]
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            continue
        if v not in (0, 1):
            issues.append(
                Issue(
                    label,
                    f"'{v}' is not a reference label; use 0, 1 or leave empty",
                    column="ed_reference",
                    row_id=f"participant_id={r['participant_id']}",
                )
            )
    if issues:
        raise ValidationError(issues)
    ref["y"] = pd.to_numeric(ref["ed_reference"], errors="coerce")
    n_nolabel = int(ref["y"].isna().sum())
    d = ref.dropna(subset=["y"]).merge(baseline, on="participant_id", how="left")
    n_nomarker = int(d["x"].isna().sum())
    d = d.dropna(subset=["x"])
    if n_nolabel or n_nomarker:
        log.warning(
            "ROC: %d participant(s) without ed_reference and %d with a reference "
            "but no usable baseline library left out; %d analysed",
            n_nolabel,
            n_nomarker,
            len(d),
        )
    d["y"] = d["y"].astype(int)
    return (
        d[["participant_id", "x", "y"]]
        .sort_values("participant_id")
        .reset_index(drop=True)
    )


def _sens_spec_rows(
    tp: int, tn: int, n_pos: int, n_neg: int, s: RocSettings, common: dict[str, Any]
) -> list[dict[str, Any]]:
    """Sensitivity and specificity at the cut, with Wilson CIs."""
    se_lo, se_hi = wilson_ci(tp, n_pos, s.ci_level)
    sp_lo, sp_hi = wilson_ci(tn, n_neg, s.ci_level)
    return [
        _row(
            "sensitivity",
            value=tp / n_pos,
            ci_low=se_lo,
            ci_high=se_hi,
            ci_method="Wilson",
            numerator=tp,
            denominator=n_pos,
            registry_value=s.registry_sensitivity,
            note=f"{tp}/{n_pos} = {100 * tp / n_pos:.2f}%",
            **common,
        ),
        _row(
            "specificity",
            value=tn / n_neg,
            ci_low=sp_lo,
            ci_high=sp_hi,
            ci_method="Wilson",
            numerator=tn,
            denominator=n_neg,
            registry_value=s.registry_specificity,
            note=f"{tn}/{n_neg} = {100 * tn / n_neg:.2f}%",
            **common,
        ),
    ]


def _registry_rows(
    tp: int, tn: int, n_pos: int, n_neg: int, s: RocSettings, common: dict[str, Any]
) -> list[dict[str, Any]]:
    """Mean of sensitivity and specificity against the registry's (if given)."""
    rows = []
    if s.registry_sensitivity is not None and s.registry_specificity is not None:
        rows.append(
            _row(
                "registry_mean_sens_spec",
                value=(tp / n_pos + tn / n_neg) / 2,
                registry_value=(s.registry_sensitivity + s.registry_specificity) / 2,
                note="(sensitivity + specificity) / 2 at the Youden cut",
                **common,
            )
        )
    return rows


def run_roc(
    data: pd.DataFrame, settings: RocSettings, marker: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ROC analysis of ``x`` against ``y``.

    Parameters
    ----------
    data
        ``participant_id``, ``x`` (marker), ``y`` (reference 0/1).
    settings
        ROC settings.
    marker
        Marker name for the table.

    Returns
    -------
    table : pandas.DataFrame
        ``ROC_COLUMNS``.
    curve : pandas.DataFrame
        ``fpr``, ``tpr``, ``threshold`` (threshold in marker units) of the
        empirical curve.
    """
    s = settings
    if s.direction not in ("lower", "higher"):
        raise ValidationError(
            [Issue("config/config.yaml", "use lower or higher", column="roc.direction")]
        )
    sign = -1.0 if s.direction == "lower" else 1.0
    y = data["y"].to_numpy(dtype=int)
    x = data["x"].to_numpy(dtype=float)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    empty_curve = pd.DataFrame(columns=["fpr", "tpr", "threshold"])
    if n_pos < 2 or n_neg < 2:
        reason = (
            NOT_COMPUTED
            if n_pos + n_neg == 0
            else f"not computed: {n_pos} reference-positive and {n_neg} reference-negative "
            "participants with a baseline value (need >= 2 each)"
        )
        return not_computed(reason, s), empty_curve
    score = sign * x
    fpr, tpr, thr = roc_curve(y, score, drop_intermediate=False)
    auc = float(roc_auc_score(y, score))
    _, var, dl_lo, dl_hi = delong_auc(score[y == 1], score[y == 0], s.ci_level)
    cut, j, _, _ = youden(y, score)
    pred = score >= cut
    tp, tn = int(pred[y == 1].sum()), int((~pred[y == 0]).sum())
    boot = _bootstrap(y, score, s)
    q = [(1 - s.ci_level) / 2 * 100, (1 + s.ci_level) / 2 * 100]
    b_lo, b_hi = np.percentile(boot["auc"], q)
    c_lo, c_hi = np.percentile(sign * boot["cut"], q)
    rule = "<=" if sign < 0 else ">="
    common = {"marker": marker, "direction": s.direction}
    rows = [
        _row(
            "n_positive",
            value=n_pos,
            note="reference-positive (ed_reference = 1)",
            **common,
        ),
        _row(
            "n_negative",
            value=n_neg,
            note="reference-negative (ed_reference = 0)",
            **common,
        ),
        _row(
            "auc",
            value=auc,
            ci_low=dl_lo,
            ci_high=dl_hi,
            ci_method="DeLong",
            registry_value=s.registry_auc,
            note=f"DeLong variance {var:.6g}",
            **common,
        ),
        _row(
            "auc_bootstrap",
            value=auc,
            ci_low=b_lo,
            ci_high=b_hi,
            ci_method=f"stratified bootstrap percentile ({s.n_bootstrap}, seed {s.seed})",
            registry_value=s.registry_auc,
            **common,
        ),
        _row(
            "cutoff",
            value=sign * cut,
            ci_low=c_lo,
            ci_high=c_hi,
            ci_method="bootstrap percentile of the re-optimised cut",
            note=f"positive (dysfunction) if log2 level {rule} cutoff",
            **common,
        ),
        *_sens_spec_rows(tp, tn, n_pos, n_neg, s, common),
        _row("youden_j", value=j, ci_method="", **common),
        _row(
            "auc_optimism_corrected",
            value=auc - boot["opt_auc"],
            ci_method="Harrell bootstrap optimism",
            note=f"optimism {boot['opt_auc']:.4f}",
            **common,
        ),
        _row(
            "youden_j_optimism_corrected",
            value=j - boot["opt_j"],
            ci_method="Harrell bootstrap optimism (cut re-optimised per resample)",
            note=f"optimism {boot['opt_j']:.4f}",
            **common,
        ),
    ]
    rows += _registry_rows(tp, tn, n_pos, n_neg, s, common)
    table = pd.DataFrame(rows, columns=ROC_COLUMNS)
    thr_x = sign * thr
    thr_x[~np.isfinite(thr_x)] = np.nan
    curve = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr_x})
    return table, curve


def plot_roc(
    table: pd.DataFrame,
    curve: pd.DataFrame,
    path: str | os.PathLike[str],
    title: str = "",
) -> None:
    """ROC plot: stepped empirical curve, Youden point with counts, registry point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from exomir.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.7, ls=":")
    m = table.set_index("metric")
    if curve.empty:
        note = str(m["note"].iloc[0]) if len(m) else NOT_COMPUTED
        ax.text(0.5, 0.5, note, ha="center", va="center", wrap=True)
    else:
        auc = m.loc["auc"]
        ax.step(
            curve["fpr"],
            curve["tpr"],
            where="post",
            label=f"AUC {auc['value']:.3f} ({auc['ci_low']:.3f}-{auc['ci_high']:.3f}, DeLong)",
        )
        se, sp = m.loc["sensitivity"], m.loc["specificity"]
        ax.plot(1 - sp["value"], se["value"], "o", color="C3", label="Youden cut")
        ax.annotate(
            f"sens {int(se['numerator'])}/{int(se['denominator'])} = {100 * se['value']:.2f}%\n"
            f"spec {int(sp['numerator'])}/{int(sp['denominator'])} = {100 * sp['value']:.2f}%",
            (1 - sp["value"], se["value"]),
            xytext=(10, -30),
            textcoords="offset points",
            fontsize=8,
        )
        if np.isfinite(se["registry_value"]) and np.isfinite(sp["registry_value"]):
            ax.plot(
                1 - sp["registry_value"],
                se["registry_value"],
                "s",
                mfc="none",
                color="k",
                label=(
                    f"registry: {100 * se['registry_value']:.2f}% / "
                    f"{100 * sp['registry_value']:.2f}%, AUC {auc['registry_value']:.3f}"
                ),
            )
        ax.legend(loc="lower right", fontsize=7)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(
        title or "ROC against the endothelial-dysfunction reference", fontsize=9
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def roc_step(
    *,
    h5ad: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    table: str | os.PathLike[str],
    curve: str | os.PathLike[str],
    plot: str | os.PathLike[str],
    settings: RocSettings,
    primary: PrimarySettings,
) -> pd.DataFrame:
    """Run the ROC on the rule's inputs and write roc.tsv, roc_curve.tsv and roc.png.

    Parameters
    ----------
    h5ad
        ``results/de/mirna.h5ad``.
    participants
        The participants sheet (validated when the workflow was parsed; read
        here with :func:`exomir.tables.read_table`).
    table, curve, plot
        Outputs.
    settings
        ROC settings.
    primary
        Primary-analysis settings (the marker: primary miRNA at baseline).
    """
    import anndata as ad

    from exomir.primary import sample_values
    from exomir.tables import read_table, write_table

    vals = sample_values(ad.read_h5ad(h5ad), primary)
    bl = vals[vals["timepoint"] == primary.reference_timepoint][["participant_id", "y"]]
    bl = bl.rename(columns={"y": "x"}).drop_duplicates("participant_id")
    data = marker_and_label(
        read_table(participants, "participants"), bl, str(participants)
    )
    result, roc = run_roc(data, settings, primary.mirna)
    write_table(result, table)
    write_table(roc, curve)
    plot_roc(result, roc, plot, f"{primary.mirna} at {primary.reference_timepoint}")
    return result
