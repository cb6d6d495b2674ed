r"""pydeseq2 fits of paired designs in time linear in the number of libraries.

Paired designs (``~ participant + timepoint + arm:timepoint``, the within-arm
time contrasts, the likelihood-ratio test) carry one 0/1 column per
participant. These indicator columns have pairwise disjoint supports (each
library belongs to one participant), so in ``X' W X`` their block is diagonal
and only the few other columns (intercept, timepoint, arm x time, covariates)
are dense: an *arrow* matrix

.. math::

    H = \begin{pmatrix} D & B \\ B' & C \end{pmatrix},
    \qquad S = C - B' D^{-1} B,

with ``D`` diagonal (m x m, one entry per participant) and ``C`` k x k. With
the Schur complement ``S`` every quantity pydeseq2 needs per miRNA -- solves,
log-determinants, the diagonal of the inverse, the hat-matrix diagonal, Wald
standard errors -- costs O(n k^2) instead of O(n p^2 + p^3) (n libraries,
p = m + k columns). The parametrisation is unchanged (same columns, same
order), so every coefficient, ridge, prior and Cox-Reid term is the same
quantity as in pydeseq2's dense code and the results agree to floating-point
rounding (tests/unit/test_de_inference.py checks that against
:class:`pydeseq2.default_inference.DefaultInference`).

:class:`StructuredInference` subclasses pydeseq2's ``DefaultInference`` and
reproduces its methods' mathematics exactly (IRLS with its ridge, clipping
rule, convergence rule and L-BFGS-B fallback; the dispersion L-BFGS-B with the
same objective and gradient; the apeGLM-type shrinkage with the same
objective, gradient, starting point and optimiser options). A design without
the structure (:meth:`ArrowDesign.detect` returns ``None``) is passed to the
parent class unchanged, so such fits stay byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_backend
from pydeseq2.default_inference import DefaultInference
from pydeseq2.grid_search import grid_fit_beta, grid_fit_shrink_beta
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import gammaln, polygamma
from scipy.stats import norm

#: Fewest disjoint indicator columns for which the structured algebra is used.
#: Below this the dense p x p algebra is cheap and pydeseq2's code runs as is.
MIN_BLOCKS = 8


# --------------------------------------------------------------------------- #
# The arrow structure
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ArrowDesign:
    """A design matrix split into disjoint indicator columns and dense columns.

    Attributes
    ----------
    n, p
        Rows (libraries) and columns of the design.
    blocks
        Indices of the indicator columns (m of them), in design order.
    dense
        Indices of the other columns (k of them), in design order.
    group
        Per row, the position in ``blocks`` of the indicator that is 1 on it,
        or -1 if none is (e.g. the reference participant's libraries).
    z
        The dense columns, n x k.
    """

    n: int
    p: int
    blocks: np.ndarray
    dense: np.ndarray
    group: np.ndarray
    z: np.ndarray

    @property
    def m(self) -> int:
        """Number of indicator columns."""
        return len(self.blocks)

    @property
    def k(self) -> int:
        """Number of dense columns."""
        return len(self.dense)

    @classmethod
    def detect(
        cls, x: np.ndarray | pd.DataFrame, min_blocks: int = MIN_BLOCKS
    ) -> ArrowDesign | None:
        """Find disjoint 0/1 columns of ``x``; ``None`` if fewer than ``min_blocks``.

        Columns holding only 0 and 1 are taken greedily, smallest support
        first, while their supports stay pairwise disjoint (participant
        dummies have one to a few rows each; timepoint or arm x time columns
        overlap them and stay dense). Any disjoint set gives exact algebra;
        the greedy choice only decides how much is gained. The structure is
        used only when there are at least ``min_blocks`` indicators and more
        indicators than dense columns.
        """
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or not np.isfinite(x).all():
            return None
        n, p = x.shape
        binary = ((x == 0.0) | (x == 1.0)).all(axis=0)
        size = (x == 1.0).sum(axis=0)
        cand = [j for j in np.argsort(size, kind="stable") if binary[j] and size[j]]
        covered = np.zeros(n, dtype=bool)
        group = np.full(n, -1, dtype=np.int64)
        chosen: list[int] = []
        for j in cand:
            rows = np.flatnonzero(x[:, j] == 1.0)
            if covered[rows].any():
                continue
            covered[rows] = True
            chosen.append(int(j))
        if len(chosen) < min_blocks or len(chosen) <= p - len(chosen):
            return None
        blocks = np.array(sorted(chosen), dtype=np.int64)
        for pos, j in enumerate(blocks):
            group[x[:, j] == 1.0] = pos
        taken = set(chosen)
        dense = np.array([j for j in range(p) if j not in taken], dtype=np.int64)
        return cls(n, p, blocks, dense, group, np.ascontiguousarray(x[:, dense]))

    # -- products with X ---------------------------------------------------- #

    @cached_property
    def _indicator(self) -> sparse.csr_matrix:
        """Sparse m x n matrix of the indicator columns (transposed)."""
        rows = np.flatnonzero(self.group >= 0)
        return sparse.csr_matrix(
            (np.ones(len(rows)), (self.group[rows], rows)), shape=(self.m, self.n)
        )

    @cached_property
    def _grouped(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows in an indicator group and their group positions."""
        rows = np.flatnonzero(self.group >= 0)
        return rows, self.group[rows]

    @cached_property
    def _zz(self) -> np.ndarray:
        """Products of the dense columns, n x k^2 (row i: z_i z_i' flattened)."""
        k = self.k
        return (self.z[:, :, None] * self.z[:, None, :]).reshape(self.n, k * k)

    def xb(self, beta: np.ndarray) -> np.ndarray:
        """``X @ beta.T`` for coefficients ``beta`` (G x p): n x G."""
        beta = np.atleast_2d(beta)
        pad = np.concatenate([beta[:, self.blocks], np.zeros((len(beta), 1))], axis=1)
        return pad[:, self.group].T + self.z @ beta[:, self.dense].T

    def xb1(self, beta: np.ndarray) -> np.ndarray:
        """``X @ beta`` for one coefficient vector (p,): n values."""
        pad = np.append(beta[self.blocks], 0.0)
        return pad[self.group] + self.z @ beta[self.dense]

    def xtv(self, v: np.ndarray, ind: sparse.csr_matrix | None = None) -> np.ndarray:
        """``X.T @ v`` for ``v`` n x G: returned G x p."""
        ind = self._indicator if ind is None else ind
        out = np.empty((v.shape[1], self.p))
        out[:, self.blocks] = np.asarray(ind @ v).T
        out[:, self.dense] = (self.z.T @ v).T
        return out

    def xtv1(self, v: np.ndarray) -> np.ndarray:
        """``X.T @ v`` for one vector ``v`` (n,): p values."""
        out = np.empty(self.p)
        rows, grp = self._grouped
        out[self.blocks] = np.bincount(grp, weights=v[rows], minlength=self.m)
        out[self.dense] = self.z.T @ v
        return out

    def dense_matrix(self) -> np.ndarray:
        """Return the design matrix itself (for checks)."""
        x = np.zeros((self.n, self.p))
        g = self.group >= 0
        x[np.flatnonzero(g), self.blocks[self.group[g]]] = 1.0
        x[:, self.dense] = self.z
        return x

    def full_rank(self) -> bool:
        """Whether X has full column rank (O(n k^2)).

        With the indicators' supports non-empty, rank(X) = m + rank of the
        dense columns after removing their mean within each indicator group.
        """
        w = np.ones((self.n, 1))
        f = self.factor(w)
        s = f.s[0]
        return bool(np.linalg.matrix_rank(s, hermitian=True) == self.k)

    def factor(self, w: np.ndarray, ridge: np.ndarray | None = None) -> ArrowFactor:
        """Factor ``X' diag(w_g) X + diag(ridge)`` for each column g of ``w`` (n x G)."""
        w = np.asarray(w, dtype=float)
        G, k = w.shape[1], self.k
        if G == 1:
            # One matrix (the per-miRNA optimisations): bincount, no sparse product.
            rows, grp = self._grouped
            wg = w[rows, 0]
            d = np.bincount(grp, weights=wg, minlength=self.m)[None, :]
            b = np.empty((1, self.m, k))
            for a in range(k):
                b[0, :, a] = np.bincount(
                    grp, weights=wg * self.z[rows, a], minlength=self.m
                )
        else:
            ind = self._indicator
            d = np.asarray(ind @ w).T  # G x m
            b = np.empty((G, self.m, k))
            for a in range(k):
                b[:, :, a] = np.asarray(ind @ (w * self.z[:, a : a + 1])).T
        c = (w.T @ self._zz).reshape(G, k, k)
        if ridge is not None:
            d = d + ridge[self.blocks][None, :]
            c = c + np.diag(ridge[self.dense])[None, :, :]
        u = b / d[:, :, None]
        s = c - np.matmul(b.transpose(0, 2, 1), u)
        return ArrowFactor(self, d, b, u, s)

    def repeat(self, fac: ArrowFactor, n_genes: int) -> ArrowFactor:
        """Broadcast the single factor ``fac`` to ``n_genes`` identical matrices."""
        return ArrowFactor(
            self,
            np.broadcast_to(fac.d, (n_genes, self.m)),
            np.broadcast_to(fac.b, (n_genes, self.m, self.k)),
            np.broadcast_to(fac.u, (n_genes, self.m, self.k)),
            np.broadcast_to(fac.s, (n_genes, self.k, self.k)),
        )


@dataclass
class ArrowFactor:
    """Schur-complement factorisation of G arrow matrices (one per miRNA).

    Attributes
    ----------
    design
        The structure.
    d
        Diagonal block, G x m.
    b
        Off-diagonal block, G x m x k.
    u
        ``b / d``, G x m x k.
    s
        Schur complement ``C - B' D^-1 B``, G x k x k.
    """

    design: ArrowDesign
    d: np.ndarray
    b: np.ndarray
    u: np.ndarray
    s: np.ndarray

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve ``H x = rhs`` for each matrix; ``rhs`` and result G x p."""
        ad = self.design
        r_d, r_c = rhs[:, ad.blocks], rhs[:, ad.dense]
        t = r_c - np.einsum("gmk,gm->gk", self.u, r_d)
        x_c = np.linalg.solve(self.s, t[:, :, None])[:, :, 0]
        x_d = (r_d - np.einsum("gmk,gk->gm", self.b, x_c)) / self.d
        out = np.empty_like(rhs, dtype=float)
        out[:, ad.blocks] = x_d
        out[:, ad.dense] = x_c
        return out

    def logdet(self) -> np.ndarray:
        """``log |det H|`` per matrix (as ``numpy.linalg.slogdet(H)[1]``)."""
        return np.log(np.abs(self.d)).sum(axis=1) + np.linalg.slogdet(self.s)[1]

    def s_inv(self) -> np.ndarray:
        """Inverse of the Schur complements, G x k x k."""
        return np.linalg.inv(self.s)

    def inv_diag(self) -> np.ndarray:
        """Diagonal of ``H^-1`` per matrix, G x p."""
        ad = self.design
        si = self.s_inv()
        out = np.empty((self.d.shape[0], ad.p))
        out[:, ad.blocks] = 1.0 / self.d + np.einsum(
            "gmk,gkl,gml->gm", self.u, si, self.u
        )
        out[:, ad.dense] = np.diagonal(si, axis1=1, axis2=2)
        return out

    def leverage(self) -> np.ndarray:
        """``x_i' H^-1 x_i`` for every row i, n x G.

        For a row in indicator group j: ``1/d_j + (z_i - u_j)' S^-1 (z_i - u_j)``;
        for a row in no group: ``z_i' S^-1 z_i``.
        """
        ad = self.design
        G = self.d.shape[0]
        si = self.s_inv()
        u_pad = np.concatenate([self.u, np.zeros((G, 1, ad.k))], axis=1)
        v = ad.z[None, :, :] - u_pad[:, ad.group, :]  # G x n x k
        q = (np.matmul(v, si) * v).sum(axis=2)
        dinv = np.concatenate([1.0 / self.d, np.zeros((G, 1))], axis=1)
        return (q + dinv[:, ad.group]).T


# --------------------------------------------------------------------------- #
# Negative-binomial pieces (vectorised over miRNAs)
# --------------------------------------------------------------------------- #


def nb_nll_genes(counts: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Negative-binomial negative log-likelihood per column (pydeseq2's ``nb_nll``).

    ``counts`` and ``mu`` are n x G, ``alpha`` G values.
    """
    n = counts.shape[0]
    a1 = 1.0 / alpha
    logbinom = gammaln(counts + a1) - gammaln(counts + 1.0) - gammaln(a1)
    return n * a1 * np.log(alpha) + (
        -logbinom + (counts + a1) * np.log(a1 + mu) - counts * np.log(mu)
    ).sum(axis=0)


def _nb_nll1(counts: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    """``nb_nll`` of one miRNA, scalar dispersion (as pydeseq2's scalar branch)."""
    n = len(counts)
    a1 = 1.0 / alpha
    logbinom = gammaln(counts + a1) - gammaln(counts + 1.0) - gammaln(a1)
    return float(
        n * a1 * np.log(alpha)
        + (-logbinom + (counts + a1) * np.log(a1 + mu) - counts * np.log(mu)).sum()
    )


def _dnb_nll1(counts: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    """Return the derivative of ``nb_nll`` in alpha (pydeseq2's ``dnb_nll``)."""
    a1 = 1.0 / alpha
    return float(
        -(
            a1**2
            * (
                polygamma(0, a1)
                - polygamma(0, counts + a1)
                + np.log(1 + mu * alpha)
                + (counts - mu) / (mu + a1)
            ).sum()
        )
    )


# --------------------------------------------------------------------------- #
# Per-miRNA optimisations (module level: picklable for joblib)
# --------------------------------------------------------------------------- #


def _alpha_mle_one(
    ad: ArrowDesign,
    counts: np.ndarray,
    mu: np.ndarray,
    alpha_hat: float,
    min_disp: float,
    max_disp: float,
    prior_disp_var: float | None,
    cr_reg: bool,
    prior_reg: bool,
    optimizer: str,
) -> tuple[float, bool]:
    """pydeseq2's ``fit_alpha_mle`` for one miRNA with the arrow algebra.

    Same objective (NB likelihood, Cox-Reid ``0.5 log det X'WX``, optional
    log-normal prior), same gradient, same L-BFGS-B call and the same grid
    search (with the Cox-Reid term, without the prior, as pydeseq2) when
    L-BFGS-B fails. The Cox-Reid gradient ``0.5 tr((X'WX)^-1 X'W'X)`` is
    ``0.5 sum_i w'_i x_i'(X'WX)^-1 x_i``.
    """
    log_alpha_hat = np.log(alpha_hat)
    mu_col = mu[:, None]

    def loss(log_alpha: float) -> float:
        alpha = np.exp(log_alpha)
        reg = 0.0
        if cr_reg:
            w = mu_col / (1 + mu_col * alpha)
            reg += 0.5 * float(ad.factor(w).logdet()[0])
        if prior_reg:
            assert prior_disp_var is not None
            reg += (log_alpha - log_alpha_hat) ** 2 / (2 * prior_disp_var)
        return _nb_nll1(counts, mu, alpha) + reg

    def dloss(log_alpha: float) -> float:
        alpha = np.exp(log_alpha)
        reg_grad = 0.0
        if cr_reg:
            w = mu_col / (1 + mu_col * alpha)
            dw = -(w[:, 0] ** 2)
            lev = ad.factor(w).leverage()[:, 0]
            reg_grad += 0.5 * float(dw @ lev) * alpha
        if prior_reg:
            assert prior_disp_var is not None
            reg_grad += (log_alpha - log_alpha_hat) / prior_disp_var
        return alpha * _dnb_nll1(counts, mu, alpha) + reg_grad

    res = minimize(
        lambda x: loss(x[0]),
        x0=np.asarray([np.log(alpha_hat)]),
        jac=lambda x: np.asarray([dloss(x[0])]),
        method=optimizer,
        bounds=(
            [(np.log(min_disp), np.log(max_disp))] if optimizer == "L-BFGS-B" else None
        ),
    )
    if res.success:
        return float(np.exp(res.x[0])), bool(res.success)
    return float(np.exp(_grid_alpha(ad, counts, mu, min_disp, max_disp))), False


def _grid_alpha(
    ad: ArrowDesign,
    counts: np.ndarray,
    mu: np.ndarray,
    min_disp: float,
    max_disp: float,
    grid_length: int = 100,
) -> float:
    """pydeseq2's ``grid_fit_alpha`` as ``fit_alpha_mle`` calls it (Cox-Reid, no prior)."""

    def loss(log_alpha: np.ndarray) -> np.ndarray:
        alpha = np.exp(log_alpha)
        w = mu[:, None] / (1 + mu[:, None] * alpha)
        reg = 0.5 * ad.factor(w).logdet()
        a1 = 1.0 / alpha
        c = counts[:, None]
        logbinom = gammaln(c + a1) - gammaln(counts + 1)[:, None] - gammaln(a1)
        nll = len(counts) * a1 * np.log(alpha) + (
            -logbinom
            + (c + a1) * np.log(mu[:, None] + a1)
            - (counts * np.log(mu))[:, None]
        ).sum(axis=0)
        return nll + reg

    grid = np.linspace(np.log(min_disp), np.log(max_disp), grid_length)
    idx = int(np.argmin(loss(grid)))
    delta = grid[1] - grid[0]
    fine = np.linspace(grid[idx] - delta, grid[idx] + delta, grid_length)
    return float(fine[int(np.argmin(loss(fine)))])


def _irls_fallback_one(
    ad: ArrowDesign,
    counts: np.ndarray,
    size_factors: np.ndarray,
    disp: float,
    min_mu: float,
    beta_init: np.ndarray,
    min_beta: float,
    max_beta: float,
    optimizer: str,
    ridge: float,
) -> tuple[np.ndarray, bool]:
    """pydeseq2's L-BFGS-B fallback of ``irls_solver`` (diverging IRLS) for one miRNA."""
    p = ad.p

    def f(beta: np.ndarray) -> float:
        mu_ = np.maximum(size_factors * np.exp(ad.xb1(beta)), min_mu)
        return _nb_nll1(counts, mu_, disp) + 0.5 * float((ridge * beta**2).sum())

    def df(beta: np.ndarray) -> np.ndarray:
        mu_ = np.maximum(size_factors * np.exp(ad.xb1(beta)), min_mu)
        return (
            -ad.xtv1(counts)
            + ad.xtv1((1 / disp + counts) * mu_ / (1 / disp + mu_))
            + ridge * beta
        )

    res = minimize(
        f,
        beta_init,
        jac=df,
        method=optimizer,
        bounds=([(min_beta, max_beta)] * p if optimizer == "L-BFGS-B" else None),
    )
    beta = res.x
    if not res.success and p <= 2:
        beta = grid_fit_beta(counts, size_factors, ad.dense_matrix(), disp)
    return beta, bool(res.success)


@dataclass
class ShrinkInverseHessian:
    """Diagonal of the inverse Hessian pydeseq2's ``nbinomGLM`` returns, for one miRNA.

    pydeseq2 inverts ``X' diag(frac) X + 1 h'`` (its Hessian with the prior
    terms ``h`` added to every row, by broadcasting) as a dense p x p matrix
    and reads one diagonal entry. Only the diagonal is kept here (O(p)
    instead of O(p^2) memory); indexing ``[i, i]`` works as on the matrix.
    """

    diag: np.ndarray

    def __getitem__(self, key: tuple[int, int]) -> float:
        """Return the entry ``[i, i]``; off-diagonal entries are not kept."""
        i, j = key
        if i != j:
            raise IndexError("only the diagonal of the inverse Hessian is kept")
        return float(self.diag[i])

    def diagonal(self) -> np.ndarray:
        """Return the diagonal."""
        return self.diag


def _shrink_one(
    ad: ArrowDesign,
    counts: np.ndarray,
    size: float,
    offset: np.ndarray,
    prior_no_shrink_scale: float,
    prior_scale: float,
    optimizer: str,
    shrink_index: int,
) -> tuple[np.ndarray, ShrinkInverseHessian, bool]:
    """pydeseq2's ``nbinomGLM`` (apeGLM-type shrinkage) for one miRNA.

    Same objective and gradient (``X @ beta`` and ``X.T @ r`` by the arrow
    structure), same start, scaling constant and optimiser options, so
    scipy's iterates are pydeseq2's up to rounding. The returned inverse
    Hessian diagonal is that of pydeseq2's matrix ``M + 1 h'`` (``M`` =
    ``X' diag(frac) X``), by Sherman-Morrison on the arrow factor of ``M``.
    """
    p = ad.p
    shrink_mask = np.zeros(p)
    shrink_mask[shrink_index] = 1
    no_shrink_mask = np.ones(p) - shrink_mask
    beta_init = np.ones(p) * 0.1 * (-1) ** (np.arange(p))
    log_size = np.log(size)

    def fn(beta: np.ndarray) -> float:
        xbeta = ad.xb1(beta)
        prior = ((beta * no_shrink_mask) ** 2 / (2 * prior_no_shrink_scale**2)).sum()
        prior += np.log1p((beta[shrink_index] / prior_scale) ** 2)
        nll = (
            counts * xbeta - (counts + size) * np.logaddexp(xbeta + offset, log_size)
        ).sum(axis=0)
        return float(prior - nll)

    cnst = max(fn(np.zeros(p)), 1.0)

    def f(beta: np.ndarray) -> float:
        return fn(beta) / cnst

    def df(beta: np.ndarray) -> np.ndarray:
        xbeta = ad.xb1(beta)
        d_neg_prior = beta * no_shrink_mask / prior_no_shrink_scale**2 + 2 * beta * (
            shrink_mask
        ) / (prior_scale**2 + beta[shrink_index] ** 2)
        d_nll = ad.xtv1(counts - (counts + size) / (1 + size * np.exp(-xbeta - offset)))
        return (d_neg_prior - d_nll) / cnst

    res = minimize(
        f,
        beta_init,
        jac=df,
        method=optimizer,
        options={"ftol": 1e-8, "gtol": 1e-8},
    )
    beta = res.x
    converged = bool(res.success)
    if not converged and p == 2:
        beta = grid_fit_shrink_beta(
            counts,
            offset,
            ad.dense_matrix(),
            size,
            prior_no_shrink_scale,
            prior_scale,
            cnst,
            grid_length=60,
            min_beta=-30,
            max_beta=30,
        )
    # Hessian as pydeseq2 builds it: M + (one row of prior terms added to each row).
    xbeta = ad.xb1(beta)
    e = np.exp(xbeta + offset)
    frac = (counts + size) * size * e / (size + e) ** 2
    h11 = 1 / prior_no_shrink_scale**2
    h22 = (
        2
        * (prior_scale**2 - beta[shrink_index] ** 2)
        / (prior_scale**2 + beta[shrink_index] ** 2) ** 2
    )
    h = no_shrink_mask * h11 + shrink_mask * h22
    fac = ad.factor(frac[:, None])
    minv_diag = fac.inv_diag()[0]
    a = fac.solve(np.ones((1, p)))[0]  # M^-1 1
    bvec = fac.solve(h[None, :])[0]  # M^-1 h (M symmetric)
    diag = minv_diag - a * bvec / (1.0 + h @ a)
    return beta, ShrinkInverseHessian(diag), converged


def _chunks(n: int, parts: int) -> list[np.ndarray]:
    """Split ``range(n)`` into ``parts`` contiguous chunks (no empty one)."""
    parts = max(1, min(parts, n))
    return [c for c in np.array_split(np.arange(n), parts) if len(c)]


def _run_genes(
    fn: Callable[[int], Any], n_genes: int, n_cpus: int, backend: str
) -> list[Any]:
    """Run ``fn(i)`` for each miRNA, in order (joblib processes when n_cpus > 1)."""
    if n_cpus <= 1 or n_genes < 2:
        return [fn(i) for i in range(n_genes)]
    chunks = _chunks(n_genes, n_cpus)
    with parallel_backend(backend, inner_max_num_threads=1):
        parts = Parallel(n_jobs=n_cpus)(delayed(_run_chunk)(fn, c) for c in chunks)
    return [r for part in parts for r in part]


def _run_chunk(fn: Callable[[int], Any], idx: np.ndarray) -> list[Any]:
    """Run ``fn`` on the miRNAs of one chunk (in a joblib worker)."""
    return [fn(int(i)) for i in idx]


# --------------------------------------------------------------------------- #
# The inference class
# --------------------------------------------------------------------------- #


class StructuredInference(DefaultInference):
    """pydeseq2 inference with arrow-matrix algebra for designs with participant blocks.

    Every method whose per-miRNA cost grows with the number of design
    columns (``lin_reg_mu``, ``irls``, ``alpha_mle``, ``wald_test``,
    ``lfc_shrink_nbinom_glm``, ``fit_rough_dispersions``) detects the
    structure in the design it is given (:meth:`ArrowDesign.detect`) and,
    without it, runs :class:`~pydeseq2.default_inference.DefaultInference`'s
    code unchanged. The linear algebra of IRLS, the Wald test and the rough
    dispersions is vectorised over miRNAs (one process); the dispersion and
    shrinkage optimisations stay scipy's per-miRNA L-BFGS-B (same objective
    and gradient values up to rounding), spread over ``n_cpus`` processes.
    ``fit_moments_dispersions`` and ``dispersion_trend_gamma_glm`` do not
    depend on the design and are inherited.
    """

    def __init__(
        self,
        joblib_verbosity: int = 0,
        batch_size: int = 128,
        n_cpus: int | None = None,
        backend: str = "loky",
        min_blocks: int = MIN_BLOCKS,
    ):
        super().__init__(joblib_verbosity, batch_size, n_cpus, backend)
        self.min_blocks = min_blocks
        #: Per method name, calls that used the structured algebra (for tests).
        self.structured_calls: dict[str, int] = {}

    def _arrow(self, design_matrix: Any, method: str) -> ArrowDesign | None:
        ad = ArrowDesign.detect(design_matrix, self.min_blocks)
        if ad is not None:
            self.structured_calls[method] = self.structured_calls.get(method, 0) + 1
        return ad

    # -- least squares (W = 1) --------------------------------------------- #

    @staticmethod
    def _least_squares_fit(ad: ArrowDesign, y: np.ndarray) -> np.ndarray:
        """Fitted values ``X (X'X)^-1 X' y`` for each column of ``y`` (n x G)."""
        fac = ad.factor(np.ones((ad.n, 1)))
        rhs = ad.xtv(y)
        big = ad.repeat(fac, rhs.shape[0])
        return ad.xb(big.solve(rhs))

    def lin_reg_mu(  # noqa: D102
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        min_mu: float,
    ) -> np.ndarray:
        ad = self._arrow(design_matrix, "lin_reg_mu")
        if ad is None:
            return super().lin_reg_mu(counts, size_factors, design_matrix, min_mu)
        y = counts / size_factors[:, None]
        mu_hat = size_factors[:, None] * self._least_squares_fit(ad, y)
        return np.maximum(mu_hat, min_mu)

    def fit_rough_dispersions(
        self, normed_counts: np.ndarray, design_matrix: Any
    ) -> np.ndarray:
        """pydeseq2's ``fit_rough_dispersions`` (linear-model residuals), structured."""
        ad = self._arrow(design_matrix, "fit_rough_dispersions")
        if ad is None:
            return DefaultInference.fit_rough_dispersions(normed_counts, design_matrix)
        num_samples, num_vars = ad.n, ad.p
        if num_samples == num_vars:
            raise ValueError(
                "The number of samples and the number of design variables are "
                "equal, i.e., there are no replicates to estimate the "
                "dispersion. Please use a design with fewer variables."
            )
        y_hat = np.maximum(self._least_squares_fit(ad, normed_counts), 1)
        alpha_rde = (
            ((normed_counts - y_hat) ** 2 - y_hat)
            / ((num_samples - num_vars) * y_hat**2)
        ).sum(axis=0)
        return np.maximum(alpha_rde, 0)

    # -- IRLS --------------------------------------------------------------- #

    def irls(  # noqa: D102
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        min_mu: float,
        beta_tol: float,
        min_beta: float = -30,
        max_beta: float = 30,
        optimizer: Literal["BFGS", "L-BFGS-B"] = "L-BFGS-B",
        maxiter: int = 250,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ad = self._arrow(design_matrix, "irls")
        if ad is None:
            return super().irls(
                counts,
                size_factors,
                design_matrix,
                disp,
                min_mu,
                beta_tol,
                min_beta,
                max_beta,
                optimizer,
                maxiter,
            )
        assert optimizer in ["BFGS", "L-BFGS-B"]
        counts = np.asarray(counts, dtype=float)
        disp = np.asarray(disp, dtype=float)
        sf = np.asarray(size_factors, dtype=float)[:, None]
        n_genes, p = counts.shape[1], ad.p
        ridge = np.full(p, 1e-6)
        ind = ad._indicator

        # Start: least squares of log(counts / sf + 0.1) when X has full rank.
        if ad.full_rank():
            y = np.log(counts / sf + 0.1)
            fac1 = ad.factor(np.ones((ad.n, 1)))
            beta_init = ad.repeat(fac1, n_genes).solve(ad.xtv(y, ind))
        else:
            beta_init = np.zeros((n_genes, p))
            beta_init[:, 0] = np.log(counts / sf).mean(axis=0)
        beta = beta_init.copy()
        mu = np.maximum(sf * np.exp(ad.xb(beta)), min_mu)
        dev = np.full(n_genes, 1000.0)
        dev_ratio = np.ones(n_genes)
        converged = np.ones(n_genes, dtype=bool)
        fallback = np.zeros(n_genes, dtype=bool)
        active = np.ones(n_genes, dtype=bool)
        i = 0
        while active.any():
            idx = np.flatnonzero(active)
            mu_a, c_a, d_a = mu[:, idx], counts[:, idx], disp[idx]
            w = mu_a / (1.0 + mu_a * d_a)
            z = np.log(mu_a / sf) + (c_a - mu_a) / mu_a
            beta_hat = ad.factor(w, ridge).solve(ad.xtv(w * z, ind))
            i += 1
            diverge = (np.abs(beta_hat) > max_beta).sum(axis=1) > 0
            if i >= maxiter:
                diverge[:] = True
            fallback[idx[diverge]] = True
            active[idx[diverge]] = False
            keep = ~diverge
            idx_k = idx[keep]
            if len(idx_k):
                beta[idx_k] = beta_hat[keep]
                mu_k = np.maximum(sf * np.exp(ad.xb(beta[idx_k])), min_mu)
                mu[:, idx_k] = mu_k
                old_dev = dev[idx_k]
                new_dev = -2 * nb_nll_genes(counts[:, idx_k], mu_k, disp[idx_k])
                dev[idx_k] = new_dev
                with np.errstate(invalid="ignore"):
                    ratio = np.abs(new_dev - old_dev) / (np.abs(new_dev) + 0.1)
                    dev_ratio[idx_k] = ratio
                    active[idx_k] = ratio > beta_tol

        fb = np.flatnonzero(fallback)
        if len(fb):

            def one(j: int) -> tuple[np.ndarray, bool]:
                g = fb[j]
                return _irls_fallback_one(
                    ad,
                    counts[:, g],
                    sf[:, 0],
                    float(disp[g]),
                    min_mu,
                    beta_init[g],
                    min_beta,
                    max_beta,
                    optimizer,
                    1e-6,
                )

            for j, (b_j, ok) in enumerate(
                _run_genes(one, len(fb), self.n_cpus, self._backend)
            ):
                beta[fb[j]] = b_j
                converged[fb[j]] = ok
            mu[:, fb] = np.maximum(sf * np.exp(ad.xb(beta[fb])), min_mu)

        # Hat diagonal W^1/2 X (X'WX + ridge)^-1 X' W^1/2 with the thresholded mu.
        w = mu / (1.0 + mu * disp)
        hat = w * ad.factor(w, ridge).leverage()
        # Unthresholded mu, as pydeseq2 returns it.
        mu_out = sf * np.exp(ad.xb(beta))
        return beta, mu_out, hat, converged

    # -- dispersions -------------------------------------------------------- #

    def alpha_mle(  # noqa: D102
        self,
        counts: np.ndarray,
        design_matrix: np.ndarray,
        mu: np.ndarray,
        alpha_hat: np.ndarray,
        min_disp: float,
        max_disp: float,
        prior_disp_var: float | None = None,
        cr_reg: bool = True,
        prior_reg: bool = False,
        optimizer: Literal["BFGS", "L-BFGS-B"] = "L-BFGS-B",
    ) -> tuple[np.ndarray, np.ndarray]:
        ad = self._arrow(design_matrix, "alpha_mle")
        if ad is None:
            return super().alpha_mle(
                counts,
                design_matrix,
                mu,
                alpha_hat,
                min_disp,
                max_disp,
                prior_disp_var,
                cr_reg,
                prior_reg,
                optimizer,
            )
        assert optimizer in ["BFGS", "L-BFGS-B"]
        if prior_reg:
            assert prior_disp_var is not None, (
                "Sigma_prior is required for prior regularization"
            )
        counts = np.asarray(counts, dtype=float)
        mu = np.asarray(mu, dtype=float)

        def one(i: int) -> tuple[float, bool]:
            return _alpha_mle_one(
                ad,
                counts[:, i],
                mu[:, i],
                float(alpha_hat[i]),
                min_disp,
                max_disp,
                prior_disp_var,
                cr_reg,
                prior_reg,
                optimizer,
            )

        res = _run_genes(one, counts.shape[1], self.n_cpus, self._backend)
        disp = np.array([r[0] for r in res], dtype=float)
        ok = np.array([r[1] for r in res], dtype=bool)
        return disp, ok

    # -- Wald test ---------------------------------------------------------- #

    def wald_test(  # noqa: D102
        self,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        lfc: np.ndarray,
        mu: np.ndarray,
        ridge_factor: np.ndarray,
        contrast: np.ndarray,
        lfc_null: np.ndarray,
        alt_hypothesis: (
            Literal["greaterAbs", "lessAbs", "greater", "less"] | None
        ) = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ridge_factor = np.asarray(ridge_factor, dtype=float)
        ad = self._arrow(design_matrix, "wald_test")
        diagonal_ridge = (
            np.count_nonzero(ridge_factor - np.diag(np.diag(ridge_factor))) == 0
        )
        if ad is None or not diagonal_ridge:
            return super().wald_test(
                design_matrix,
                disp,
                lfc,
                mu,
                ridge_factor,
                contrast,
                lfc_null,
                alt_hypothesis,
            )
        mu = np.asarray(mu, dtype=float)
        lfc = np.asarray(lfc, dtype=float)
        contrast = np.asarray(contrast, dtype=float)
        n_genes = mu.shape[1]
        w = mu / (1 + mu * np.asarray(disp, dtype=float))
        # se^2 = c' H^-1 M H^-1 c with M = X'WX, H = M + ridge: v = H^-1 c.
        v = ad.factor(w, np.diag(ridge_factor)).solve(
            np.broadcast_to(contrast, (n_genes, ad.p)).copy()
        )
        xv = ad.xb(v)  # n x G
        se = np.sqrt((w * xv**2).sum(axis=0))
        null = np.broadcast_to(np.asarray(lfc_null, dtype=float), (n_genes,))[:, None]

        def greater(nl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            stat = np.fmax((lfc - nl) / se[:, None], 0) @ contrast
            return stat, norm.sf(stat)

        def less(nl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            stat = np.fmin((lfc - nl) / se[:, None], 0) @ contrast
            return stat, norm.sf(np.abs(stat))

        if alt_hypothesis is None:
            stat = ((lfc - null) @ contrast) / se
            pval = 2 * norm.sf(np.abs(stat))
        elif alt_hypothesis == "greater":
            stat, pval = greater(null)
        elif alt_hypothesis == "less":
            stat, pval = less(null)
        elif alt_hypothesis == "greaterAbs":
            stat = (
                np.sign(lfc) * np.fmax((np.abs(lfc) - null) / se[:, None], 0)
            ) @ contrast
            pval = 2 * norm.sf(np.abs(stat))
        else:  # lessAbs
            s_a, p_a = greater(-np.abs(null))
            s_b, p_b = less(np.abs(null))
            stat = np.where(np.abs(s_b) < np.abs(s_a), s_b, s_a)
            pval = np.maximum(p_a, p_b)
        return np.asarray(pval), np.asarray(stat), se

    # -- shrinkage ---------------------------------------------------------- #

    def lfc_shrink_nbinom_glm(  # noqa: D102
        self,
        design_matrix: np.ndarray,
        counts: np.ndarray,
        size: np.ndarray,
        offset: np.ndarray,
        prior_no_shrink_scale: float,
        prior_scale: float,
        optimizer: str,
        shrink_index: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ad = self._arrow(design_matrix, "lfc_shrink_nbinom_glm")
        if ad is None or optimizer != "L-BFGS-B":
            return super().lfc_shrink_nbinom_glm(
                design_matrix,
                counts,
                size,
                offset,
                prior_no_shrink_scale,
                prior_scale,
                optimizer,
                shrink_index,
            )
        counts = np.asarray(counts, dtype=float)
        offset = np.asarray(offset, dtype=float)

        def one(i: int) -> tuple[np.ndarray, ShrinkInverseHessian, bool]:
            return _shrink_one(
                ad,
                counts[:, i],
                float(size[i]),
                offset,
                prior_no_shrink_scale,
                prior_scale,
                optimizer,
                shrink_index,
            )

        res = _run_genes(one, counts.shape[1], self.n_cpus, self._backend)
        lfcs = np.array([r[0] for r in res])
        inv_h = np.empty(len(res), dtype=object)
        for i, r in enumerate(res):
            inv_h[i] = r[1]
        ok = np.array([r[2] for r in res], dtype=bool)
        return lfcs, inv_h, ok


def inference_for(design: pd.DataFrame | np.ndarray, n_cpus: int) -> Any:
    """Return the inference for a fit: structured if the design has participant blocks.

    Parameters
    ----------
    design
        The design matrix of the fit.
    n_cpus
        Processes for pydeseq2.

    Returns
    -------
    DefaultInference
        :class:`StructuredInference` when :meth:`ArrowDesign.detect` finds the
        structure, else pydeseq2's ``DefaultInference`` (unchanged results).
    """
    if ArrowDesign.detect(design) is not None:
        return StructuredInference(n_cpus=n_cpus)
    return DefaultInference(n_cpus=n_cpus)
