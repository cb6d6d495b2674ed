"""Arm comparisons of pathway scores and the scores-by-arm plot.

Per pathway and method (analysis_spec.md §2.3)::

    S_P,wk1 ~ arm + S_P,bl (+ strata)     statsmodels OLS, cov_type HC3

The effect is the adjusted mean difference (treated - reference arm) with its
confidence interval; Holm adjusts over the primary pathways within a method
(and separately over the secondary pathways). Sensitivity analyses: a
permutation test of the ANCOVA t (arm labels permuted within strata) and a
mixed model ``S ~ followup * treated + (1 | participant)`` on all samples.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["adjust", "ancova_tests", "holm", "mixedlm_tests", "plot_scores"]

log = logging.getLogger("exomir.pathways")


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN kept, not counted)."""
    arr = np.asarray(p, dtype=float)
    out = np.full(arr.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(arr))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(arr[ok], kind="mergesort")]
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * arr[j]))
        out[j] = running
    return out


def _wide(scores: pd.DataFrame, baseline: str, followup: str) -> pd.DataFrame:
    keys = ["participant_id", "pathway", "method"]
    bl = scores[scores["timepoint"] == baseline].set_index(keys)["score"]
    fu = scores[scores["timepoint"] == followup].set_index(keys)["score"]
    w = pd.concat({"bl": bl, "wk1": fu}, axis=1).dropna().reset_index()
    return w


def _ols_t(y: np.ndarray, x: np.ndarray, col: int) -> float:
    beta, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    dof = x.shape[0] - rank
    s2 = resid @ resid / dof
    cov = s2 * np.linalg.pinv(x.T @ x)
    return float(beta[col] / np.sqrt(cov[col, col]))


def _arm_t_batch(y: np.ndarray, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """OLS t of column 1 of ``x`` with each row of ``labels`` in that column.

    Frisch-Waugh-Lovell: the other columns are projected out of ``y`` and of
    every relabelled arm at once, so that all relabelings cost two matrix
    products instead of one least-squares fit each. Needs ``x`` of full column
    rank (the caller checks).
    """
    z = np.delete(x, 1, axis=1)
    q, _ = np.linalg.qr(z)
    ry = y - q @ (q.T @ y)
    ra = labels.T - q @ (q.T @ labels.T)  # (n, n_perm)
    aa = np.einsum("ij,ij->j", ra, ra)
    ay = ry @ ra
    dof = x.shape[0] - x.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = ay / aa
        rss = ry @ ry - ay * beta
        t = beta / np.sqrt(rss / dof / aa)
    # a relabelling (nearly) in the span of the other columns: not finite here,
    # so that the caller fits it one by one
    t[aa <= 1e-10 * np.einsum("ij,ij->i", labels, labels)] = np.nan
    return np.asarray(t)


def _permutation_hits(
    y: np.ndarray, x: np.ndarray, labels: np.ndarray, threshold: float
) -> int:
    """Relabelings whose ``|t|`` reaches ``threshold``, exactly as :func:`_ols_t` counts.

    The t statistics of all relabelings are computed at once
    (:func:`_arm_t_batch`); they differ from :func:`_ols_t`'s in the last bits
    only, so the few whose ``|t|`` lies within 1e-6 (relative) of the
    threshold, and any that is not finite, are recomputed with :func:`_ols_t`
    itself: the count, and so the p-value, is the one of the one-fit-per-
    relabeling loop. Rank-deficient or ill-conditioned designs take that loop.
    """

    def exact(i: int) -> bool:
        xp = x.copy()
        xp[:, 1] = labels[i]
        return abs(_ols_t(y, xp, 1)) >= threshold

    if (
        len(labels) == 0
        or np.linalg.matrix_rank(x) < x.shape[1]
        or np.linalg.cond(x) > 1e8
    ):
        return sum(exact(i) for i in range(len(labels)))
    t = np.abs(_arm_t_batch(y, x, labels))
    near = ~np.isfinite(t) | (np.abs(t - threshold) <= 1e-6 * max(1.0, threshold))
    hits = int(np.sum(t[~near] >= threshold))
    return hits + sum(exact(int(i)) for i in np.flatnonzero(near))


def _permutation_row(
    d: pd.DataFrame,
    x: pd.DataFrame,
    estimate: float,
    strata: Sequence[str],
    n_perm: int,
    rng: np.random.Generator,
    base: dict[str, object],
) -> dict[str, object]:
    """Permutation p-value of the ANCOVA t (arm labels permuted within strata)."""
    xm = x.to_numpy()
    y = d["wk1"].to_numpy()
    t_obs = _ols_t(y, xm, 1)
    groups = (
        [
            np.flatnonzero(
                (d[list(strata)].astype(str).agg("|".join, axis=1) == g).to_numpy()
            )
            for g in sorted(d[list(strata)].astype(str).agg("|".join, axis=1).unique())
        ]
        if strata
        else [np.arange(len(d))]
    )
    arm = xm[:, 1].copy()
    labels = np.empty((n_perm, len(arm)))
    for i in range(n_perm):  # the permutation stream of the RNG, as drawn
        a = arm.copy()
        for g in groups:
            a[g] = arm[g][rng.permutation(len(g))]
        labels[i] = a
    hits = _permutation_hits(y, xm, labels, abs(t_obs) - 1e-12)
    return {
        **base,
        "analysis": "permutation",
        "estimate": estimate,
        "statistic": t_obs,
        "p_value": (hits + 1) / (n_perm + 1),
        "note": f"{n_perm} arm relabelings within strata; classical OLS t",
    }


def ancova_tests(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    arms: Sequence[str],
    baseline: str,
    followup: str,
    primary: Sequence[str],
    strata: Sequence[str] = (),
    cov_type: str = "HC3",
    ci_level: float = 0.95,
    n_perm: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """ANCOVA of follow-up score on arm and baseline score, per pathway/method.

    Parameters
    ----------
    scores
        Long scores with sample_id, participant_id, timepoint, pathway,
        method, score.
    participants
        One row per participant: participant_id, arm and the strata columns.
    arms
        Reference arm first, treated arm last.
    baseline, followup
        Timepoint names.
    primary
        Pathways of the primary Holm family.
    strata
        participants columns added as factors (dropped if constant).
    cov_type, ci_level
        statsmodels covariance type and CI level.
    n_perm
        Arm relabelings within strata for the permutation p-value (0 = none).
    seed
        RNG seed.

    Returns
    -------
    pandas.DataFrame
        Rows in the tests.tsv layout with analysis ``ancova`` and
        ``permutation``.
    """
    import statsmodels.api as sm

    ref_arm, trt_arm = arms[0], arms[-1]
    w = _wide(scores, baseline, followup)
    meta = participants.set_index("participant_id")
    w = w.join(meta[["arm", *strata]], on="participant_id")
    w = w[w["arm"].isin([ref_arm, trt_arm])]
    rng = np.random.default_rng(seed)
    rows = []
    contrast = f"{trt_arm}-{ref_arm}@{followup}"
    for (pw, method), d in w.groupby(["pathway", "method"], sort=True):
        d = d.sort_values("participant_id")
        x = pd.DataFrame(
            {
                "const": 1.0,
                "arm": (d["arm"] == trt_arm).astype(float).to_numpy(),
                "bl": d["bl"].to_numpy(),
            }
        )
        for s in strata:
            dummies = pd.get_dummies(d[s].astype(str), prefix=s, drop_first=True)
            for c in dummies.columns:
                x[c] = dummies[c].astype(float).to_numpy()
        n = len(d)
        base = {
            "pathway": pw,
            "method": method,
            "contrast": contrast,
            "n": n,
        }
        if n < x.shape[1] + 2 or d["arm"].nunique() < 2:
            log.warning(
                "%s/%s: %d participants with both timepoints in both arms; the "
                "ANCOVA is not estimable",
                pw,
                method,
                n,
            )
            rows.append({**base, "analysis": "ancova", "note": "not estimable"})
            continue
        fit = sm.OLS(d["wk1"].to_numpy(), x.to_numpy()).fit(cov_type=cov_type)
        ci = fit.conf_int(alpha=1 - ci_level)[1]
        rows.append(
            {
                **base,
                "analysis": "ancova",
                "estimate": float(fit.params[1]),
                "ci_low": float(ci[0]),
                "ci_high": float(ci[1]),
                "statistic": float(fit.tvalues[1]),
                "p_value": float(fit.pvalues[1]),
                "note": f"OLS {cov_type}: follow-up ~ arm + baseline"
                + (f" + {' + '.join(strata)}" if strata else ""),
            }
        )
        if n_perm > 0:
            rows.append(
                _permutation_row(d, x, float(fit.params[1]), strata, n_perm, rng, base)
            )
    res = pd.DataFrame(rows)
    return res


def mixedlm_tests(
    scores: pd.DataFrame,
    arms: Sequence[str],
    baseline: str,
    followup: str,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Mixed model sensitivity analysis: ``S ~ followup * treated + (1 | participant)``.

    Uses every sample (participants with one timepoint contribute too). The
    estimate is the follow-up x treated interaction (difference of the arms'
    mean changes), REML, Wald z interval. Convergence warnings are logged and
    written to ``note``.

    Parameters
    ----------
    scores
        Long scores with participant_id, arm, timepoint, pathway, method, score.
    arms
        Reference arm first, treated arm last.
    baseline, followup
        Timepoint names.
    ci_level
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        Rows in the tests.tsv layout with analysis ``mixedlm``.
    """
    import warnings

    import statsmodels.formula.api as smf

    ref_arm, trt_arm = arms[0], arms[-1]
    d0 = scores[
        scores["timepoint"].isin([baseline, followup])
        & scores["arm"].isin([ref_arm, trt_arm])
    ]
    rows = []
    contrast = f"{trt_arm}-{ref_arm}@{followup}"
    for (pw, method), d in d0.groupby(["pathway", "method"], sort=True):
        d = d.assign(
            followup=(d["timepoint"] == followup).astype(float),
            treated=(d["arm"] == trt_arm).astype(float),
        ).sort_values(["participant_id", "timepoint"])
        base = {
            "pathway": pw,
            "method": method,
            "analysis": "mixedlm",
            "contrast": contrast,
            "n": int(d["participant_id"].nunique()),
        }
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = smf.mixedlm(
                    "score ~ followup * treated", d, groups=d["participant_id"]
                ).fit(reml=True)
            except (ValueError, np.linalg.LinAlgError) as exc:
                log.warning("%s/%s: mixed model failed: %s", pw, method, exc)
                rows.append({**base, "note": f"not estimable: {exc}"})
                continue
        msgs = sorted({str(w.message).split("\n")[0] for w in caught})
        if msgs:
            log.warning("%s/%s mixed model: %s", pw, method, "; ".join(msgs))
        term = "followup:treated"
        ci = fit.conf_int(alpha=1 - ci_level).loc[term]
        rows.append(
            {
                **base,
                "estimate": float(fit.params[term]),
                "ci_low": float(ci.iloc[0]),
                "ci_high": float(ci.iloc[1]),
                "statistic": float(fit.tvalues[term]),
                "p_value": float(fit.pvalues[term]),
                "note": "MixedLM REML score ~ followup * treated, random participant "
                "intercept" + (f"; warnings: {'; '.join(msgs)}" if msgs else ""),
            }
        )
    return pd.DataFrame(rows)


def adjust(tests: pd.DataFrame, primary: Sequence[str]) -> pd.DataFrame:
    """Holm-adjust p-values within method and analysis (primary / secondary).

    Parameters
    ----------
    tests
        Rows with pathway, method, analysis, contrast, p_value.
    primary
        Primary pathway ids.

    Returns
    -------
    pandas.DataFrame
        With ``p_adjusted`` and ``adjustment`` filled in.
    """
    tests = tests.copy()
    tests["p_adjusted"] = np.nan
    tests["adjustment"] = ""
    fam = np.where(tests["pathway"].isin(list(primary)), "primary", "secondary")
    tests["_fam"] = fam
    for _, idx in tests.groupby(
        ["method", "analysis", "contrast", "_fam"]
    ).groups.items():
        sub = tests.loc[idx]
        tests.loc[idx, "p_adjusted"] = holm(sub["p_value"].to_numpy(dtype=float))
        tests.loc[idx, "adjustment"] = (
            f"holm over {len(sub)} {sub['_fam'].iloc[0]} pathway(s)"
        )
    return tests.drop(columns="_fam")


def plot_scores(
    scores: pd.DataFrame,
    arms: Sequence[str],
    timepoints: Sequence[str],
    pathways: Sequence[str],
    path: str | os.PathLike[str],
    methods: Sequence[str] = ("waggr", "waggr_signed"),
) -> None:
    """Scores by arm and timepoint (one panel per method and pathway).

    Lines join each participant's timepoints; thick lines are arm means.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from exomir.atomic import atomic_path

    pathways = [p for p in pathways if p in set(scores["pathway"])] or sorted(
        set(scores["pathway"])
    )[:4]
    methods = [m for m in methods if m in set(scores["method"])]
    fig, axes = plt.subplots(
        len(methods),
        len(pathways),
        figsize=(3.2 * len(pathways) + 0.5, 3.0 * len(methods) + 0.5),
        squeeze=False,
    )
    colours = plt.get_cmap("tab10")
    for i, m in enumerate(methods):
        for j, p in enumerate(pathways):
            ax = axes[i][j]
            d = scores[(scores["method"] == m) & (scores["pathway"] == p)]
            for k, arm in enumerate(arms):
                da = d[d["arm"] == arm]
                off = (k - (len(arms) - 1) / 2) * 0.15
                for _, g in da.groupby("participant_id"):
                    g = g.set_index("timepoint").reindex(timepoints)
                    ax.plot(
                        np.arange(len(timepoints)) + off,
                        g["score"].to_numpy(),
                        color=colours(k),
                        alpha=0.25,
                        lw=0.7,
                        marker="o",
                        ms=2,
                    )
                means = da.groupby("timepoint")["score"].mean().reindex(timepoints)
                ax.plot(
                    np.arange(len(timepoints)) + off,
                    means.to_numpy(),
                    color=colours(k),
                    lw=2.5,
                    label=arm,
                )
            ax.set_xticks(range(len(timepoints)), list(timepoints))
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_title(f"{p}\n{m}", fontsize=9)
            if j == 0:
                ax.set_ylabel(
                    "predicted activity (-S±)"
                    if m.endswith("signed")
                    else "targeting pressure (z)"
                )
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
