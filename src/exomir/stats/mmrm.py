"""Mixed model for repeated measures (MMRM) fitted by REML.

The model of the analysis plan for a continuous outcome measured at several
post-dose visits: one row per participant x observed post-dose visit, fixed
effects ``visit + visit:arm + visit:baseline + covariates`` (no intercept; one
mean per visit in the control arm, one arm difference per visit, one baseline
slope per visit) and a residual covariance across the visits of a participant.
The covariance is unstructured when that fit converges; otherwise the first
structure of a pre-specified fallback order that converges is used and the
reason is recorded (see :data:`DEFAULT_COVARIANCE`).

Why hand-written: statsmodels' ``MixedLM`` models the within-participant
covariance through random effects only and cannot fit an unstructured (or
heterogeneous) residual covariance; no other installed Python package fits
this model. The REML likelihood is short to write with numpy/scipy: the
covariance is parametrised through its Cholesky factor (log diagonal), the
fixed effects are profiled out by generalised least squares, participants
are grouped by their pattern of observed visits so that each pattern needs one
Cholesky factorisation per evaluation, and the gradient is analytic. Missing visits are handled under
missing-at-random by using each participant's observed visits only (the
likelihood of the observed part of the multivariate normal). The results agree
with R ``nlme::gls`` (``corSymm`` + ``varIdent`` for the unstructured
covariance) to better than 1e-4: see ``tests/data/mmrm``.

Degrees of freedom: Satterthwaite's by default (as R ``mmrm``): the residual
``N - p`` of ``nlme::gls`` counts every visit as a participant and overstates
the information when visits are missing or correlated; Satterthwaite's df
reflects the uncertainty of the estimated covariance (it is exactly ``n - 3``
in the balanced multivariate case, tested). ``df_method="residual"`` gives
``N - p`` (used for the comparison with ``nlme::gls``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.linalg import LinAlgError, lapack
from threadpoolctl import threadpool_limits

from exomir.stats.mmrm_covariance import n_params, sigma_of, start_values
from exomir.stats.models import (
    CollinearError,
    NotEstimable,
    drop_collinear,
    level_dummies,
)

#: Covariance structures in the pre-specified order: unstructured; then
#: heterogeneous compound symmetry (a variance per visit, one common
#: correlation), which keeps the per-visit variances that matter most for the
#: per-visit SEs and makes no assumption about the spacing of the visits
#: (visits from day 1 to month 24 are far from equally spaced, so a
#: correlation decaying with the visit index is a weaker assumption to fall
#: back on first); then heterogeneous AR(1) on the visit order; then compound
#: symmetry (two parameters), which almost always converges.
DEFAULT_COVARIANCE: tuple[str, ...] = (
    "unstructured",
    "heterogeneous_cs",
    "heterogeneous_ar1",
    "compound_symmetry",
)

#: Minimum number of participants observed at both visits of every pair for
#: the unstructured correlation of that pair to be estimated.
MIN_PAIR = 3


@dataclass(frozen=True)
class MmrmResult:
    """Result of :func:`fit_mmrm`.

    ``visit_effects`` has one row per visit: ``visit, estimate, se, df,
    ci_low, ci_high, p_value, n_control, n_treated`` (treated - control);
    ``overall`` is the equal-weight average of the visit effects (keys
    ``estimate, se, df, ci_low, ci_high, p_value``). ``covariance`` is the
    structure used, ``fallback_reason`` why the structures before it were not
    used (``None`` when the first one converged). ``coefficients`` and
    ``vcov`` are the fixed effects and their covariance (named columns),
    ``sigma`` the fitted residual covariance across visits, ``loglik`` the
    REML log-likelihood (nlme's convention), ``n_subjects`` and ``n_obs`` the
    data used, ``notes`` what was excluded or dropped, ``n_by_arm`` the
    participants of (control, treated) in the fit.
    """

    visit_effects: pd.DataFrame
    overall: dict[str, float]
    covariance: str
    fallback_reason: str | None
    converged: bool
    coefficients: pd.Series
    vcov: pd.DataFrame
    sigma: pd.DataFrame
    loglik: float
    n_subjects: int
    n_obs: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    n_by_arm: tuple[int, int] = (0, 0)


# ---- data in observed-visit patterns ------------------------------------------


@dataclass(frozen=True)
class _Pattern:
    """Participants sharing one set of observed visits.

    ``xy`` stacks the design and the outcome of the pattern's participants
    visit by visit: shape ``(n_visits, n_sub * (p + 1))``, so that one
    triangular solve whitens all of them.
    """

    visits: np.ndarray  # indices of the observed visits
    xy: np.ndarray
    n_sub: int
    ix: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the pattern's visit x visit block of a covariance matrix (np.ix_ once)
        object.__setattr__(self, "ix", np.ix_(self.visits, self.visits))


def _patterns(
    x: np.ndarray, y: np.ndarray, subj: np.ndarray, vidx: np.ndarray
) -> list[_Pattern]:
    """Group the rows (sorted by subject, visit) by pattern of observed visits."""
    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    starts = np.flatnonzero(np.r_[True, subj[1:] != subj[:-1]])
    ends = np.r_[starts[1:], len(subj)]
    for a, b in zip(starts, ends, strict=True):
        groups.setdefault(tuple(vidx[a:b].tolist()), []).append(np.arange(a, b))
    out = []
    xy = np.column_stack([x, y])
    for key in sorted(groups):
        rows = np.stack(groups[key])  # (n_sub, k)
        block = xy[rows].transpose(1, 0, 2)  # (k, n_sub, p + 1)
        out.append(
            _Pattern(
                np.array(key),
                np.ascontiguousarray(block.reshape(len(key), -1)),
                len(rows),
            )
        )
    return out


# ---- LAPACK calls -------------------------------------------------------------
# The likelihood factorises hundreds of thousands of small matrices per trial;
# scipy.linalg's cholesky / solve_triangular / cho_solve spend most of their
# time in argument handling around one LAPACK call. These helpers make the very
# same LAPACK calls (same routine, flags and operand layout as scipy.linalg
# with ``check_finite=False``), so every result is bit-for-bit unchanged
# (tests/unit/test_mmrm_lapack.py).


def _cholesky(a: np.ndarray, clean: bool = True) -> np.ndarray:
    """Lower Cholesky factor (``scipy.linalg.cholesky(a, lower=True)``; ``clean=False``: ``cho_factor``)."""
    c, info = lapack.dpotrf(a, lower=1, clean=int(clean), overwrite_a=0)
    if info > 0:
        raise LinAlgError(
            f"{info}-th leading minor of the array is not positive definite"
        )
    if info < 0:
        raise ValueError(f"illegal value in argument {-info} of POTRF")
    return np.asarray(c)


def _solve_lower(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``scipy.linalg.solve_triangular(chol, b, lower=True)``."""
    if chol.flags.f_contiguous:
        x, info = lapack.dtrtrs(chol, b, overwrite_b=0, lower=1, trans=0, unitdiag=0)
    else:  # scipy solves the transposed system for C-ordered factors
        x, info = lapack.dtrtrs(chol.T, b, overwrite_b=0, lower=0, trans=1, unitdiag=0)
    if info > 0:
        raise LinAlgError(f"singular matrix: resolution failed at diagonal {info - 1}")
    if info < 0:
        raise ValueError(f"illegal value in argument {-info} of TRTRS")
    return np.asarray(x)


def _cho_solve(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``scipy.linalg.cho_solve((chol, True), b)``."""
    x, info = lapack.dpotrs(chol, b, lower=1, overwrite_b=0)
    if info != 0:
        raise ValueError(f"illegal value in argument {-info} of POTRS")
    return np.asarray(x)


class _PartsCache:
    """The last few :func:`_reml_parts` results of one fit, keyed by the covariance.

    The optimiser asks for -2 REML and for its gradient at the same point, and
    the gradient needs the same GLS parts (:func:`_sigma_gradient`); computing
    them once is exact, as the key is the covariance matrix's bytes.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.items: dict[bytes, tuple[float, np.ndarray, np.ndarray] | None] = {}

    def get(
        self, sigma: np.ndarray, pats: Sequence[_Pattern], p: int
    ) -> tuple[float, np.ndarray, np.ndarray] | None:
        key = np.ascontiguousarray(sigma, dtype=float).tobytes()
        if key in self.items:
            return self.items[key]
        parts = _reml_parts(sigma, pats, p)
        if len(self.items) >= self.size:
            self.items.pop(next(iter(self.items)))
        self.items[key] = parts
        return parts


def _reml_parts(
    sigma: np.ndarray, pats: Sequence[_Pattern], p: int
) -> tuple[float, np.ndarray, np.ndarray] | None:
    """-2 x REML log-likelihood (without constants), beta and (X'V^-1X)^-1.

    Returns ``None`` when the covariance is not positive definite.
    """
    cross = np.zeros((p + 1, p + 1))
    logdet = 0.0
    for pat in pats:
        sub = sigma[pat.ix]
        try:
            chol = _cholesky(sub)
        except LinAlgError:
            return None
        logdet += pat.n_sub * 2.0 * float(np.log(np.diag(chol)).sum())
        w = _solve_lower(chol, pat.xy)
        w = w.reshape(-1, p + 1)
        cross += w.T @ w
    xtx, xty, yty = cross[:p, :p], cross[:p, p], float(cross[p, p])
    try:
        cx = _cholesky(xtx)
    except LinAlgError:
        return None
    beta = _cho_solve(cx, xty)
    rss = yty - float(xty @ beta)
    m2 = logdet + 2.0 * float(np.log(np.diag(cx)).sum()) + rss
    vcov = _cho_solve(cx, np.eye(p))
    return m2, beta, vcov


def _objective(
    structure: str,
    pats: Sequence[_Pattern],
    t: int,
    p: int,
    cache: _PartsCache | None = None,
) -> Callable[[np.ndarray], float]:
    """-2 x REML log-likelihood as a function of the covariance parameters."""
    parts_of = cache.get if cache is not None else _reml_parts

    def f(theta: np.ndarray) -> float:
        if not np.all(np.isfinite(theta)) or np.abs(theta).max() > 50:
            return 1e300
        parts = parts_of(sigma_of(structure, theta, t), pats, p)
        return 1e300 if parts is None else parts[0]

    return f


def _sigma_gradient(
    sigma: np.ndarray,
    pats: Sequence[_Pattern],
    p: int,
    cache: _PartsCache | None = None,
) -> np.ndarray | None:
    """Gradient of -2 REML with respect to the entries of the covariance matrix.

    With ``W_i = V_i^-1``, ``Phi = (X'V^-1X)^-1`` and the GLS residuals
    ``r_i``: ``d(-2 REML) = sum_i tr(G_i dV_i)`` with
    ``G_i = W_i - W_i X_i Phi X_i' W_i - W_i r_i r_i' W_i`` (the derivative of
    ``r'V^-1r`` through beta vanishes at the GLS estimate); ``G`` sums the
    ``G_i`` into the visit x visit matrix. ``None`` when not positive definite.
    """
    parts = (
        cache.get(sigma, pats, p) if cache is not None else _reml_parts(sigma, pats, p)
    )
    if parts is None:
        return None
    _, beta, phi = parts
    t = sigma.shape[0]
    grad = np.zeros((t, t))
    for pat in pats:
        k = len(pat.visits)
        sub = sigma[pat.ix]
        chol = _cholesky(sub, clean=False)  # cho_factor(sub, lower=True)
        w = _cho_solve(chol, np.eye(k))
        xy = pat.xy.reshape(k, pat.n_sub, p + 1)
        x3 = xy[:, :, :p]
        r = xy[:, :, p] - x3 @ beta  # (k, n)
        wr = w @ r
        wx = (w @ x3.reshape(k, -1)).reshape(k, pat.n_sub, p)
        m = np.einsum("kna,ab,lnb->kl", wx, phi, wx)
        grad[pat.ix] += pat.n_sub * w - m - wr @ wr.T
    return grad


def _gradient_function(
    structure: str,
    pats: Sequence[_Pattern],
    t: int,
    p: int,
    cache: _PartsCache | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """Analytic gradient of -2 REML in the covariance parameters.

    The gradient in the covariance entries (:func:`_sigma_gradient`) is
    chained with the derivative of the parametrisation: analytic for the
    Cholesky factor of the unstructured covariance, central differences of
    the (cheap) parameter-to-matrix map for the other structures.
    """

    def g(theta: np.ndarray) -> np.ndarray:
        sigma = sigma_of(structure, theta, t)
        gs = (
            _sigma_gradient(sigma, pats, p, cache)
            if np.all(np.isfinite(sigma))
            else None
        )
        if gs is None:
            return np.full(len(theta), np.nan)
        if structure == "unstructured":
            chol = np.zeros((t, t))
            chol[np.diag_indices(t)] = np.exp(theta[:t])
            chol[np.tril_indices(t, -1)] = theta[t:]
            gl = 2.0 * gs @ chol
            return np.concatenate(
                [np.diag(gl) * np.diag(chol), gl[np.tril_indices(t, -1)]]
            )
        out = np.empty(len(theta))
        for i in range(len(theta)):
            e = np.zeros(len(theta))
            e[i] = 1e-6
            ds = (
                sigma_of(structure, theta + e, t) - sigma_of(structure, theta - e, t)
            ) / 2e-6
            out[i] = float((gs * ds).sum())
        return out

    return g


# ---- design -------------------------------------------------------------------


def _design(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    visit: str,
    visits: Sequence[str],
    arm: str,
    arms: Sequence[str],
    baseline: str | None,
    covariates: Sequence[str],
    notes: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """Rows used (sorted by subject, visit), the fixed-effects design, arm columns, visits.

    Visits with fewer than two observations in an arm are dropped (a note says
    so): their arm difference is not estimable.
    """
    need = [
        subject,
        visit,
        arm,
        outcome,
        *([baseline] if baseline else []),
        *covariates,
    ]
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise NotEstimable(f"column(s) {', '.join(missing)} not in the data")
    d = data.loc[
        data[visit].isin(list(visits)) & data[arm].isin(list(arms)), need
    ].copy()
    d = d.loc[d[outcome].notna()]
    if d.duplicated([subject, visit]).any():
        dup = d.loc[d.duplicated([subject, visit]), [subject, visit]].iloc[0]
        raise NotEstimable(
            f"participant {dup[subject]} has two rows at visit {dup[visit]}"
        )
    subj_cols = [c for c in need if c not in (visit, outcome)]
    incomplete = d[subj_cols].isna().any(axis=1)
    if incomplete.any():
        n_sub = d.loc[incomplete, subject].nunique()
        notes.append(f"{n_sub} participant(s) without baseline or covariate excluded")
        d = d.loc[~incomplete]
    counts = d.groupby([visit, arm]).size()
    used = [v for v in visits if all(counts.get((v, a), 0) >= 2 for a in arms[:2])]
    if len(used) < len(visits):
        dropped = [v for v in visits if v not in used]
        notes.append(f"visit(s) {', '.join(dropped)} dropped (fewer than 2 per arm)")
        if len(used) < 2:
            raise NotEstimable(
                f"fewer than 2 visits with data in both arms ({', '.join(used) or 'none'})"
            )
        visits = used
        d = d.loc[d[visit].isin(visits)]
    order = {v: i for i, v in enumerate(visits)}
    d["_vidx"] = d[visit].map(order).astype(int)
    d = d.sort_values([subject, "_vidx"], kind="mergesort").reset_index(drop=True)
    treated = (d[arm] == arms[1]).astype(float)
    cols: dict[str, pd.Series] = {}
    arm_cols = []
    for v in visits:
        cols[f"visit[{v}]"] = (d[visit] == v).astype(float)
    for v in visits:
        name = f"visit[{v}]:treated"
        cols[name] = cols[f"visit[{v}]"] * treated
        arm_cols.append(name)
    if baseline:
        for v in visits:
            cols[f"visit[{v}]:baseline"] = cols[f"visit[{v}]"] * d[baseline].astype(
                float
            )
    for c in covariates:
        if pd.api.types.is_numeric_dtype(d[c]) and not pd.api.types.is_bool_dtype(d[c]):
            cols[c] = d[c].astype(float)
        else:
            dummies, _, small = level_dummies(d[c].astype(str), c)
            if small:
                notes.append(
                    f"{c}: level(s) {', '.join(small)} pooled with the reference"
                )
            cols.update(dummies)
    try:
        x = drop_collinear(pd.DataFrame(cols), arm_cols, notes)
    except CollinearError as exc:
        raise NotEstimable(str(exc)) from exc
    return d, x, arm_cols, list(visits)


def _fit_structure(
    structure: str, pats: Sequence[_Pattern], s0: np.ndarray, p: int
) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """Minimise -2 REML for one structure.

    BFGS with the analytic gradient, then damped Newton steps with the
    Hessian from central differences of the gradient. Returns the
    parameters, the Hessian of -2 REML there (``None`` on failure) and the
    failure reason (``None`` when the fit converged).
    """
    t = s0.shape[0]
    cache = _PartsCache()
    f = _objective(structure, pats, t, p, cache)
    g = _gradient_function(structure, pats, t, p, cache)
    theta0 = start_values(structure, s0)
    if not np.isfinite(f(theta0)) or f(theta0) >= 1e300:
        return theta0, None, "start values give a singular covariance"
    res = optimize.minimize(
        f, theta0, jac=g, method="BFGS", options={"gtol": 1e-8, "maxiter": 5000}
    )
    theta, hess = _newton_polish(f, g, res.x)
    if not np.all(np.isfinite(theta)) or f(theta) >= 1e300:
        return theta, None, "the optimiser did not find a finite likelihood"
    w = np.linalg.eigvalsh(sigma_of(structure, theta, t))
    if w.min() <= 1e-8 * w.max():
        return theta, None, "the fitted covariance is singular"
    grad = g(theta)
    if not np.all(np.isfinite(grad)) or np.abs(grad).max() > 1e-3:
        return (
            theta,
            None,
            f"the optimiser did not converge (max |gradient| {np.abs(grad).max():.2g})",
        )
    if not np.all(np.isfinite(hess)) or np.linalg.eigvalsh(hess).min() <= 0:
        return theta, None, "the likelihood is flat in some covariance parameter"
    return theta, hess, None


_STEP = 1e-5


def _hessian(g: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Hessian by central differences of the analytic gradient (symmetrised)."""
    k = len(x)
    h = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = _STEP
        h[i] = (g(x + e) - g(x - e)) / (2 * _STEP)
    return (h + h.T) / 2


def _newton_polish(
    f: Callable[[np.ndarray], float],
    g: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    steps: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Take damped Newton steps from the quasi-Newton optimum.

    BFGS stops where its line search can no longer improve -2 REML, which
    can leave the SEs a few 1e-5 from R's; Newton steps with the Hessian take
    the optimum to the precision of ``nlme``. Returns the point and the
    Hessian there.
    """
    fx = f(x)
    hess = _hessian(g, x)
    moved = False
    for _ in range(steps):
        grad = g(x)
        if not np.all(np.isfinite(grad)) or np.abs(grad).max() < 1e-7:
            break
        try:
            if np.linalg.eigvalsh(hess).min() <= 0:
                break
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        for _ in range(30):
            xn = x - step
            fn = f(xn)
            if fn <= fx:
                break
            step = step / 2
        else:
            break
        x, fx, moved = xn, fn, True
    # the Hessian of the start point serves the steps; recomputed at the end
    return x, (_hessian(g, x) if moved else hess)


def _satterthwaite(
    structure: str,
    theta: np.ndarray,
    hess: np.ndarray,
    pats: Sequence[_Pattern],
    p: int,
    t: int,
    contrasts: np.ndarray,
) -> np.ndarray:
    """Satterthwaite degrees of freedom of the contrasts (rows of ``contrasts``).

    ``df = 2 (c'Phi c)^2 / (g' A g)`` with ``Phi = (X'V^-1X)^-1``, ``g`` its
    gradient in the covariance parameters (central differences) and ``A``
    the asymptotic covariance of the REML estimates, twice the inverse
    Hessian of -2 REML. Invariant to the parametrisation of the covariance,
    so it is the df R ``mmrm`` reports by default.
    """
    k = len(theta)
    grads = np.empty((k, len(contrasts)))
    for i in range(k):
        e = np.zeros(k)
        e[i] = _STEP
        hi = _reml_parts(sigma_of(structure, theta + e, t), pats, p)
        lo = _reml_parts(sigma_of(structure, theta - e, t), pats, p)
        if hi is None or lo is None:
            return np.full(len(contrasts), np.nan)
        dphi = (hi[2] - lo[2]) / (2 * _STEP)
        grads[i] = np.einsum("ca,ab,cb->c", contrasts, dphi, contrasts)
    base = _reml_parts(sigma_of(structure, theta, t), pats, p)
    assert base is not None
    var = np.einsum("ca,ab,cb->c", contrasts, base[2], contrasts)
    a = 2.0 * np.linalg.inv(hess)
    denom = np.einsum("kc,kl,lc->c", grads, a, grads)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(2.0 * var**2 / denom, dtype=float)


def _choose(
    covariance: Sequence[str],
    pats: Sequence[_Pattern],
    s0: np.ndarray,
    subj: np.ndarray,
    vidx: np.ndarray,
    df_resid: int,
) -> tuple[str, np.ndarray, np.ndarray, list[str]]:
    """Fit the structures in order; the first that converges, and why others did not."""
    t = s0.shape[0]
    p = pats[0].xy.shape[1] // pats[0].n_sub - 1
    reasons: list[str] = []
    for structure in covariance:
        reason = _identifiable(structure, subj, vidx, t, df_resid)
        if reason is None:
            # small matrices: threaded BLAS only adds overhead (and contention)
            with threadpool_limits(1):
                theta, hess, reason = _fit_structure(structure, pats, s0, p)
            if reason is None and hess is not None:
                return structure, theta, hess, reasons
        reasons.append(f"{structure}: {reason}")
    raise NotEstimable("no covariance structure converged (" + "; ".join(reasons) + ")")


def _dfs(
    method: str,
    structure: str,
    theta: np.ndarray,
    hess: np.ndarray,
    pats: Sequence[_Pattern],
    cmat: np.ndarray,
    df_resid: int,
    notes: list[str],
) -> np.ndarray:
    """Degrees of freedom of the contrasts: Satterthwaite (capped at N - p) or N - p."""
    dfs = np.full(len(cmat), float(df_resid))
    if method != "satterthwaite":
        return dfs
    t = len(cmat) - 1
    with threadpool_limits(1):
        sat = _satterthwaite(structure, theta, hess, pats, cmat.shape[1], t, cmat)
    if np.isfinite(sat).all():
        return np.asarray(np.clip(sat, 1.0, float(df_resid)), dtype=float)
    notes.append("Satterthwaite df not computable; residual df N - p used")
    return dfs


def _effects_table(
    visits: Sequence[str],
    arm_cols: Sequence[str],
    coef: pd.Series,
    vc: pd.DataFrame,
    dfs: np.ndarray,
    counts: pd.Series,
    arms: Sequence[str],
    ci_level: float,
) -> pd.DataFrame:
    """Per-visit arm differences with SE, df, CI, p and the n of each arm."""
    rows = []
    for i, (v, col) in enumerate(zip(visits, arm_cols, strict=True)):
        est, se = float(coef[col]), math.sqrt(float(vc.loc[col, col]))
        rows.append(
            _row(est, se, float(dfs[i]), ci_level)
            | {
                "visit": v,
                "n_control": int(counts.get((v, arms[0]), 0)),
                "n_treated": int(counts.get((v, arms[1]), 0)),
            }
        )
    return pd.DataFrame(rows)[
        [
            "visit",
            "estimate",
            "se",
            "df",
            "ci_low",
            "ci_high",
            "p_value",
            "n_control",
            "n_treated",
        ]
    ]


def fit_mmrm(
    data: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    visit: str,
    visits: Sequence[str],
    arm: str,
    arms: Sequence[str],
    baseline: str | None = None,
    covariates: Sequence[str] = (),
    covariance: Sequence[str] = DEFAULT_COVARIANCE,
    ci_level: float = 0.95,
    df_method: str = "satterthwaite",
) -> MmrmResult:
    """Fit an MMRM and estimate the arm difference at each visit and overall.

    Parameters
    ----------
    data
        Long: one row per participant x post-dose visit (a missing outcome is
        ignored: each participant contributes the visits observed; MAR).
    outcome, subject, visit, arm
        Column names.
    visits
        Post-dose visits in order (other visit codes are ignored).
    arms
        ``(control, treated)`` arm labels.
    baseline
        Baseline value column (``visit:baseline`` slopes), or ``None``.
    covariates
        Participant-level columns (text: treatment-coded; numbers: linear).
    covariance
        Structures to try in order (names in :data:`DEFAULT_COVARIANCE`).
    ci_level
        Confidence level of the t-based intervals.
    df_method
        ``satterthwaite`` (default, as R ``mmrm``) or ``residual`` (``N - p``,
        as ``nlme::gls``).

    Raises
    ------
    NotEstimable
        < 2 visits, no residual df, a duplicated participant x visit, a
        missing column, or no structure converged.
    """
    notes: list[str] = []
    if df_method not in ("satterthwaite", "residual"):
        raise NotEstimable(f"unknown df method: {df_method}")
    unknown = [c for c in covariance if c not in DEFAULT_COVARIANCE]
    if unknown or not covariance:
        raise NotEstimable(
            f"unknown covariance structure(s): {', '.join(unknown) or 'none'}"
        )
    if len(visits) < 2:
        raise NotEstimable("fewer than 2 post-dose visits")
    d, x, arm_cols, visits = _design(
        data,
        visits=visits,
        outcome=outcome,
        subject=subject,
        visit=visit,
        arm=arm,
        arms=arms,
        baseline=baseline,
        covariates=covariates,
        notes=notes,
    )
    counts = d.groupby([visit, arm]).size()
    t = len(visits)
    if t < 2:
        raise NotEstimable("fewer than 2 post-dose visits")
    xv = x.to_numpy(dtype=float)
    yv = d[outcome].to_numpy(dtype=float)
    n_obs, p = xv.shape
    if n_obs - p < 1:
        raise NotEstimable("no residual degrees of freedom")
    subj = d[subject].astype(str).to_numpy()
    vidx = d["_vidx"].to_numpy()
    pats = _patterns(xv, yv, subj, vidx)
    s0 = _pairwise_cov(xv, yv, subj, vidx, t)
    structure, theta, hess, reasons = _choose(
        covariance, pats, s0, subj, vidx, n_obs - p
    )
    sigma = sigma_of(structure, theta, t)
    parts = _reml_parts(sigma, pats, p)
    assert parts is not None  # the structure converged with this covariance
    m2, beta, vcov = parts
    loglik = -0.5 * (m2 + (n_obs - p) * math.log(2 * math.pi))
    names = list(map(str, x.columns))
    coef = pd.Series(beta, index=names)
    vc = pd.DataFrame(vcov, index=names, columns=names)
    cmat = np.zeros((t + 1, p))
    for i, col in enumerate(arm_cols):
        cmat[i, names.index(col)] = 1.0
        cmat[t, names.index(col)] = 1.0 / t
    dfs = _dfs(df_method, structure, theta, hess, pats, cmat, n_obs - p, notes)
    effects = _effects_table(visits, arm_cols, coef, vc, dfs, counts, arms, ci_level)
    c = cmat[t]
    overall = _row(
        float(c @ beta), math.sqrt(float(c @ vcov @ c)), float(dfs[t]), ci_level
    )
    return MmrmResult(
        visit_effects=effects,
        overall=overall,
        covariance=structure,
        fallback_reason="; ".join(reasons) or None,
        converged=True,
        coefficients=coef,
        vcov=vc,
        sigma=pd.DataFrame(sigma, index=list(visits), columns=list(visits)),
        loglik=float(loglik),
        n_subjects=int(d[subject].nunique()),
        n_obs=int(n_obs),
        notes=tuple(notes),
        n_by_arm=(
            int(d.loc[d[arm] == arms[0], subject].nunique()),
            int(d.loc[d[arm] == arms[1], subject].nunique()),
        ),
    )


def _row(est: float, se: float, df: float, ci_level: float) -> dict[str, Any]:
    """Estimate, SE, df, t-based CI and two-sided p."""
    tq = float(stats.t.ppf(0.5 + ci_level / 2, df))
    p = float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else math.nan
    return {
        "estimate": est,
        "se": se,
        "df": df,
        "ci_low": est - tq * se,
        "ci_high": est + tq * se,
        "p_value": p,
    }


def _identifiable(
    structure: str, subj: np.ndarray, vidx: np.ndarray, t: int, df_resid: int
) -> str | None:
    """Why a structure cannot be estimated from these data (``None``: it can)."""
    k = n_params(structure, t)
    if k >= df_resid:
        return f"{k} covariance parameters for {df_resid} residual df"
    if structure != "unstructured":
        return None
    obs = pd.crosstab(subj, vidx).reindex(columns=range(t), fill_value=0).to_numpy() > 0
    pair = obs.T.astype(int) @ obs.astype(int)
    low = [(i, j) for i in range(t) for j in range(i + 1, t) if pair[i, j] < MIN_PAIR]
    if low:
        i, j = low[0]
        return (
            f"only {pair[i, j]} participant(s) observed at both visit {i + 1} and visit {j + 1} "
            f"(at least {MIN_PAIR} needed)"
        )
    return None


def _pairwise_cov(
    x: np.ndarray, y: np.ndarray, subj: np.ndarray, vidx: np.ndarray, t: int
) -> np.ndarray:
    """Pairwise-complete covariance of the OLS residuals across visits (start values)."""
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    res = pd.DataFrame({"s": subj, "v": vidx, "r": y - x @ beta})
    wide = res.pivot(index="s", columns="v", values="r").reindex(columns=range(t))
    s0 = wide.cov(min_periods=2).to_numpy()
    var = np.nanmean(np.diag(s0)) if np.isfinite(np.diag(s0)).any() else 1.0
    diag = np.where(np.isfinite(np.diag(s0)), np.diag(s0), var)
    s0 = np.where(np.isfinite(s0), s0, 0.0)
    np.fill_diagonal(s0, np.maximum(diag, 1e-8 * var + 1e-12))
    return s0
