"""The batched ANCOVA permutation test counts exactly as one fit per relabeling.

:func:`exomir.pathways.stats._permutation_hits` computes the t statistics of
all relabelings at once (issue 22); the reference is the plain loop of
:func:`exomir.pathways.stats._ols_t` over the same relabelings, which the
p-value used before. The counts must be equal, including designs where a
relabeling falls into the span of the other columns and ties at the threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from exomir.pathways.stats import _arm_t_batch, _ols_t, _permutation_hits


def _loop(y: np.ndarray, x: np.ndarray, labels: np.ndarray, thr: float) -> int:
    hits = 0
    for a in labels:
        xp = x.copy()
        xp[:, 1] = a
        hits += abs(_ols_t(y, xp, 1)) >= thr
    return hits


@pytest.mark.parametrize("seed", range(6))
def test_counts_equal_the_one_fit_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 60))
    arm = (rng.random(n) < 0.5).astype(float)
    arm[:2] = [0.0, 1.0]
    stratum = (rng.random(n) < 0.4).astype(float)
    x = np.column_stack([np.ones(n), arm, rng.normal(size=n), stratum])
    y = 0.7 * arm + x[:, 2] + rng.normal(size=n)
    labels = np.array([rng.permutation(arm) for _ in range(400)])
    labels[0] = arm  # the observed labels: |t| equals the threshold
    labels[1] = stratum  # in the span of the other columns
    thr = abs(_ols_t(y, x, 1)) - 1e-12
    assert _permutation_hits(y, x, labels, thr) == _loop(y, x, labels, thr)


def test_batch_t_matches_the_single_fits() -> None:
    rng = np.random.default_rng(11)
    n = 40
    x = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(size=n)])
    y = rng.normal(size=n)
    labels = np.array([rng.permutation(x[:, 1]) for _ in range(50)])
    ref = []
    for a in labels:
        xp = x.copy()
        xp[:, 1] = a
        ref.append(_ols_t(y, xp, 1))
    np.testing.assert_allclose(_arm_t_batch(y, x, labels), ref, rtol=1e-10)


def test_rank_deficient_design_takes_the_loop() -> None:
    rng = np.random.default_rng(2)
    n = 30
    x = np.column_stack([np.ones(n), rng.integers(0, 2, n), np.zeros(n)])
    y = rng.normal(size=n)
    labels = np.array([rng.permutation(x[:, 1]) for _ in range(100)])
    thr = abs(_ols_t(y, x, 1)) - 1e-12
    assert _permutation_hits(y, x, labels, thr) == _loop(y, x, labels, thr)
