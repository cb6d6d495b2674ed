"""Residual covariance structures of the MMRM (:mod:`exomir.stats.mmrm`).

Each structure maps unconstrained parameters to a visit x visit covariance
matrix: ``unstructured`` through its Cholesky factor (log diagonal, free lower
triangle), the others through log SDs and a bounded correlation. Start values
come from a pairwise residual covariance.
"""

from __future__ import annotations

import math

import numpy as np


def n_params(structure: str, t: int) -> int:
    """Return the number of covariance parameters of a structure over ``t`` visits."""
    return {
        "unstructured": t * (t + 1) // 2,
        "heterogeneous_cs": t + 1,
        "heterogeneous_ar1": t + 1,
        "compound_symmetry": 2,
    }[structure]


def _bounded(x: float, lo: float) -> float:
    """Map the real line onto ``(lo, 1)`` (a correlation with a lower bound)."""
    return lo + (1.0 - lo) / (1.0 + math.exp(-x))


def _unbounded(r: float, lo: float) -> float:
    """Inverse of :func:`_bounded`."""
    u = min(max((r - lo) / (1.0 - lo), 1e-6), 1 - 1e-6)
    return math.log(u / (1 - u))


def sigma_of(structure: str, theta: np.ndarray, t: int) -> np.ndarray:
    """Covariance matrix across the ``t`` visits from unconstrained parameters."""
    if structure == "unstructured":
        chol = np.zeros((t, t))
        chol[np.diag_indices(t)] = np.exp(theta[:t])
        chol[np.tril_indices(t, -1)] = theta[t:]
        return chol @ chol.T
    idx = np.arange(t)
    if structure == "compound_symmetry":
        sd = np.full(t, math.exp(theta[0]))
        rho = _bounded(float(theta[1]), -1.0 / max(t - 1, 1))
        corr = np.where(idx[:, None] == idx[None, :], 1.0, rho)
    else:
        sd = np.exp(theta[:t])
        if structure == "heterogeneous_cs":
            rho = _bounded(float(theta[t]), -1.0 / max(t - 1, 1))
            corr = np.where(idx[:, None] == idx[None, :], 1.0, rho)
        else:  # heterogeneous_ar1
            rho = math.tanh(float(theta[t]))
            corr = rho ** np.abs(idx[:, None] - idx[None, :]).astype(float)
    return corr * np.outer(sd, sd)


def start_values(structure: str, s0: np.ndarray) -> np.ndarray:
    """Start values of a structure from a pairwise residual covariance ``s0``."""
    t = s0.shape[0]
    sd = np.sqrt(np.clip(np.diag(s0), 1e-12, None))
    corr = s0 / np.outer(sd, sd)
    off = corr[np.triu_indices(t, 1)] if t > 1 else np.array([0.0])
    rho = float(np.clip(np.nanmean(off), -0.5 / max(t - 1, 1), 0.95))
    if structure == "unstructured":
        # nearest positive-definite matrix by eigenvalue clipping
        w, v = np.linalg.eigh(s0)
        s_pd = (v * np.clip(w, 1e-3 * max(w.max(), 1e-12), None)) @ v.T
        chol = np.linalg.cholesky(s_pd)
        return np.concatenate([np.log(np.diag(chol)), chol[np.tril_indices(t, -1)]])
    if structure == "compound_symmetry":
        return np.array([math.log(float(np.mean(sd))), _unbounded(rho, -1.0 / (t - 1))])
    last = (
        _unbounded(rho, -1.0 / (t - 1))
        if structure == "heterogeneous_cs"
        else (math.atanh(min(max(rho, -0.9), 0.9)))
    )
    return np.concatenate([np.log(sd), [last]])
