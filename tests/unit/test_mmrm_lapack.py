"""The MMRM's direct LAPACK calls give scipy.linalg's results bit for bit.

:mod:`exomir.stats.mmrm` calls ``dpotrf``/``dtrtrs``/``dpotrs`` itself
(issue 22: scipy.linalg's argument handling cost more than the factorisations)
and caches the GLS parts per covariance. The references are scipy.linalg's
public functions and an uncached evaluation: equality is exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from exomir.stats import mmrm


def _spd(rng: np.random.Generator, k: int) -> np.ndarray:
    a = rng.normal(size=(k, k))
    return a @ a.T + k * np.eye(k)


@pytest.mark.parametrize("k", [1, 2, 5, 9])
def test_lapack_helpers_equal_scipy_linalg(k: int) -> None:
    rng = np.random.default_rng(k)
    s = _spd(rng, k)
    b = rng.normal(size=(k, 7))
    c = mmrm._cholesky(s)
    assert np.array_equal(c, linalg.cholesky(s, lower=True, check_finite=False))
    assert np.array_equal(
        mmrm._solve_lower(c, b),
        linalg.solve_triangular(c, b, lower=True, check_finite=False),
    )
    c_order = np.ascontiguousarray(c)  # the other branch of solve_triangular
    assert np.array_equal(
        mmrm._solve_lower(c_order, b),
        linalg.solve_triangular(c_order, b, lower=True, check_finite=False),
    )
    f = mmrm._cholesky(s, clean=False)
    ref = linalg.cho_factor(s, lower=True, check_finite=False)
    for rhs in (b, b[:, 0], np.eye(k)):
        assert np.array_equal(
            mmrm._cho_solve(f, rhs), linalg.cho_solve(ref, rhs, check_finite=False)
        )


def test_not_positive_definite_is_reported() -> None:
    with pytest.raises(linalg.LinAlgError):
        mmrm._cholesky(np.array([[1.0, 2.0], [2.0, 1.0]]))


def test_cached_parts_equal_a_fresh_evaluation() -> None:
    rng = np.random.default_rng(7)
    n, t, p = 30, 3, 4
    x = rng.normal(size=(n * t, p))
    y = rng.normal(size=n * t)
    subj = np.repeat(np.arange(n), t)
    vidx = np.tile(np.arange(t), n)
    keep = rng.random(n * t) > 0.2  # some visits missing: several patterns
    pats = mmrm._patterns(x[keep], y[keep], subj[keep], vidx[keep])
    assert len(pats) > 1
    sigma = _spd(rng, t)
    cache = mmrm._PartsCache()
    fresh = mmrm._reml_parts(sigma, pats, p)
    assert fresh is not None
    for _ in range(2):  # the second call comes from the cache
        got = cache.get(sigma.copy(), pats, p)
        assert got is not None
        assert got[0] == fresh[0]
        assert np.array_equal(got[1], fresh[1]) and np.array_equal(got[2], fresh[2])
    g_cached = mmrm._sigma_gradient(sigma, pats, p, cache)
    g_fresh = mmrm._sigma_gradient(sigma, pats, p)
    assert g_cached is not None and np.array_equal(g_cached, g_fresh)
    assert mmrm._reml_parts(np.zeros((t, t)), pats, p) is None  # singular
