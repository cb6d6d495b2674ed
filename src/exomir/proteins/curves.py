"""Four- and five-parameter logistic standard curves (drc's LL.4 / LL.5).

The model is that of R ``drc`` (``LL.5``; ``LL.4`` is ``f = 1``)::

    y = c + (d - c) / (1 + exp(b * (log(x) - log(e))))**f

with ``c`` and ``d`` the lower and upper limits, ``e`` the inflection (ED50
of the 4PL), ``b`` the slope (negative for a response that rises with
concentration, drc's sign) and ``f`` the asymmetry. The 4PL is reported in
drc's form (``c < d``; the sign of ``b`` gives the direction); the 5PL has no
such symmetry, so both forms are tried and the smaller residual kept. Fits are weighted least squares, ``sum w_i (y_i - f(x_i))**2``
minimised by :func:`scipy.optimize.least_squares` (Levenberg-Marquardt) with
the weights fixed before the fit; R's ``nls`` with the same weights has the
same optimum (tests/data/proteins/ compares them to 1e-3 relative).

Weights: immunoassay responses have a roughly constant CV, so the variance
of a response grows with its square; ``1/y^2`` (default) gives every standard
the same relative weight, where unweighted fits let the top of the curve
dominate and leave the low standards (which set the LLOQ) poorly fitted.
``y`` is the mean response of the standard level, floored at a fraction of
the largest level's mean so that a blank-subtracted response near zero cannot
take all the weight. ``1/y`` and ``none`` are available.

``auto`` fits both models and keeps the 5PL only when the extra asymmetry
parameter improves the weighted residual sum of squares by an F-test
(nested models, 1 and n - 5 degrees of freedom) at ``f_test_alpha``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

MODELS = ("4pl", "5pl", "auto")
WEIGHTINGS = ("1/y^2", "1/y", "none")


@dataclass(frozen=True)
class CurveFit:
    """A fitted standard curve.

    Attributes
    ----------
    model
        ``4pl`` or ``5pl``.
    b, c, d, e, f
        drc parameters (``f`` = 1 for the 4PL).
    r2
        Unweighted coefficient of determination of the standards' responses.
    rss
        Weighted residual sum of squares (the minimised criterion).
    n
        Number of wells fitted.
    converged
        Whether the optimiser reported convergence with finite parameters.
    message
        Optimiser message (why it stopped).
    f_test_p
        P-value of the 5PL-over-4PL F-test (``auto`` only), else ``None``.
    """

    model: str
    b: float
    c: float
    d: float
    e: float
    f: float
    r2: float
    rss: float
    n: int
    converged: bool
    message: str = ""
    f_test_p: float | None = None

    @property
    def params(self) -> dict[str, float]:
        """Parameters by drc name."""
        return {"b": self.b, "c": self.c, "d": self.d, "e": self.e, "f": self.f}

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        """Response at concentration ``x`` (``x = 0`` gives the zero asymptote)."""
        return ll5(np.asarray(x, dtype=float), self.b, self.c, self.d, self.e, self.f)

    def inverse(self, y: np.ndarray | float) -> np.ndarray:
        """Concentration giving response ``y``; NaN outside the asymptotes.

        Only responses strictly between ``c`` and ``d`` have a concentration;
        the caller decides whether a NaN is below or above the range by
        comparing ``y`` with the asymptotes (see :meth:`side`).
        """
        y = np.asarray(y, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            u = (self.d - self.c) / (y - self.c)
            inner = np.power(u, 1.0 / self.f) - 1.0
            x = self.e * np.power(inner, 1.0 / self.b)
        ok = (u > 1.0) & np.isfinite(u) & (inner > 0)
        return np.where(ok & np.isfinite(x), x, np.nan)

    def side(self, y: np.ndarray | float) -> np.ndarray:
        """-1 where ``y`` lies on the low-concentration side of the curve, +1 on the high."""
        y = np.asarray(y, dtype=float)
        rising = self.d > self.c
        mid = 0.5 * (self.c + self.d)
        return np.where((y > mid) == rising, 1, -1)


def ll5(x: np.ndarray, b: float, c: float, d: float, e: float, f: float) -> np.ndarray:
    """Drc's LL.5 function; ``x = 0`` gives ``c`` (``b < 0``) or ``d`` (``b > 0``)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        t = np.exp(b * (np.log(x) - math.log(e)))
        out = c + (d - c) / np.power(1.0 + t, f)
    return np.where(np.isnan(out) & (x == 0), c if b < 0 else d, out)


def standard_weights(
    y: np.ndarray, level: np.ndarray, scheme: str = "1/y^2", floor: float = 0.01
) -> np.ndarray:
    """Return fixed weights of the standard wells.

    Parameters
    ----------
    y
        Responses (blank-subtracted) of the standard wells.
    level
        Standard level of each well; wells of one level share the weight of
        the level's mean response.
    scheme
        ``1/y^2``, ``1/y`` or ``none``.
    floor
        Responses below ``floor`` x the largest level mean are raised to it.

    Returns
    -------
    numpy.ndarray
        One weight per well, scaled to mean 1 (the optimum does not depend on
        the scale).
    """
    if scheme not in WEIGHTINGS:
        raise ValueError(f"weighting '{scheme}' is not one of {', '.join(WEIGHTINGS)}")
    y = np.asarray(y, dtype=float)
    if scheme == "none" or len(y) == 0:
        return np.ones(len(y))
    level = np.asarray(level)
    means = {lv: float(np.mean(np.abs(y[level == lv]))) for lv in dict.fromkeys(level)}
    top = max(means.values()) if means else 1.0
    lo = max(floor * top, 1e-12)
    m = np.array([max(means[lv], lo) for lv in level])
    w = 1.0 / m**2 if scheme == "1/y^2" else 1.0 / m
    return w / w.mean()


def _start_4pl(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return starting values (b, c, d, log e) from a logit regression on log x (drc form)."""
    span = float(np.ptp(y)) or 1.0
    pos = x > 0
    c0 = float(y.min()) - 0.05 * span
    d0 = float(y.max()) + 0.05 * span
    z = np.log((d0 - y[pos]) / (y[pos] - c0))
    lx = np.log(x[pos])
    slope, icpt = np.polyfit(lx, z, 1) if np.ptp(lx) > 0 else (-1.0, 0.0)
    if not np.isfinite(slope) or abs(slope) < 1e-6:
        slope = -1.0
    log_e = float(np.clip(-icpt / slope, lx.min() - 2, lx.max() + 2))
    return np.array([slope, c0, d0, log_e])


def _fit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, p0: np.ndarray, five: bool
) -> optimize.OptimizeResult:
    sw = np.sqrt(w)

    def resid(p: np.ndarray) -> np.ndarray:
        b, c, d, log_e = p[:4]
        f = math.exp(p[4]) if five else 1.0
        return sw * (y - ll5(x, b, c, d, math.exp(log_e), f))

    return optimize.least_squares(
        resid,
        p0,
        method="lm",
        x_scale="jac",
        ftol=1e-15,
        xtol=1e-15,
        gtol=1e-15,
        max_nfev=20000,
    )


def _as_fit(
    res: optimize.OptimizeResult, x: np.ndarray, y: np.ndarray, five: bool
) -> CurveFit:
    b, c, d, log_e = (float(v) for v in res.x[:4])
    f = math.exp(float(res.x[4])) if five else 1.0
    if not five and c > d:  # LL.4 is unchanged by (b, c, d) -> (-b, d, c): drc's form
        b, c, d = -b, d, c
    e = math.exp(log_e)
    pred = ll5(x, b, c, d, e, f)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    finite = all(np.isfinite([b, c, d, e, f])) and e > 0
    return CurveFit(
        model="5pl" if five else "4pl",
        b=b,
        c=c,
        d=d,
        e=e,
        f=f,
        r2=r2,
        rss=float(2.0 * res.cost),
        n=len(y),
        converged=bool(res.success) and finite and res.status > 0,
        message=str(res.message),
    )


def fit_curve(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    model: str = "4pl",
    f_test_alpha: float = 0.05,
) -> CurveFit:
    """Fit a 4PL or 5PL curve (or choose between them) by weighted least squares.

    Parameters
    ----------
    x
        Nominal concentrations of the standard wells (0 allowed).
    y
        Their responses (blank-subtracted OD or MFI).
    weights
        Fixed weights (see :func:`standard_weights`); ``None`` = unweighted.
    model
        ``4pl``, ``5pl`` or ``auto`` (module docstring).
    f_test_alpha
        Level of the F-test of ``auto``.

    Returns
    -------
    CurveFit
        The fit; ``converged`` is False when the optimiser failed (the caller
        fails the plate rather than using it).

    Raises
    ------
    ValueError
        Fewer than 5 wells (4PL) or 6 (5PL), or fewer than 4 distinct
        positive concentrations.
    """
    if model not in MODELS:
        raise ValueError(f"model '{model}' is not one of {', '.join(MODELS)}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(w)
    x, y, w = x[keep], y[keep], w[keep]
    if len(np.unique(x[x > 0])) < 4 or len(y) < 5:
        raise ValueError(
            f"a logistic curve needs at least 4 positive standard concentrations and 5 "
            f"wells; got {len(np.unique(x[x > 0]))} and {len(y)}"
        )
    p0 = _start_4pl(x, y)
    four = _as_fit(_fit(x, y, w, p0, False), x, y, False)
    if model == "4pl" or (model == "auto" and len(y) < 6):
        return four
    if len(y) < 6:
        raise ValueError(f"a 5PL curve needs at least 6 wells; got {len(y)}")
    best: CurveFit | None = None
    # LL.5 has no (b, c, d) -> (-b, d, c) symmetry: start from both forms.
    starts = [
        np.array([sb * four.b, c0, d0, math.log(four.e), math.log(f0)])
        for sb, c0, d0 in ((1, four.c, four.d), (-1, four.d, four.c))
        for f0 in (1.0, 0.5, 2.0)
    ]
    for s in starts:
        cand = _as_fit(_fit(x, y, w, s, True), x, y, True)
        if cand.converged and (best is None or cand.rss < best.rss):
            best = cand
    if best is None:
        best = _as_fit(_fit(x, y, w, starts[0], True), x, y, True)
    if model == "5pl":
        return best
    dfree = len(y) - 5
    if not best.converged or best.rss >= four.rss:
        p = 1.0
    else:
        fstat = (four.rss - best.rss) / (best.rss / dfree) if best.rss > 0 else math.inf
        p = float(stats.f.sf(fstat, 1, dfree))
    chosen = best if p < f_test_alpha else four
    return CurveFit(**{**chosen.__dict__, "f_test_p": p})
