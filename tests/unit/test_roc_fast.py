"""The ROC bootstrap's curve and AUC equal scikit-learn's bit for bit.

:func:`exomir.clinical.roc._roc_points` and :func:`exomir.clinical.roc._auc`
replace ``sklearn.metrics.roc_curve`` / ``roc_auc_score`` inside the
bootstrap (issue 22: scikit-learn's input validation took nearly all of the
ROC job). The reference is scikit-learn itself on the same resamples,
including tied scores and both ``drop_intermediate`` settings.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from exomir.clinical.roc import RocSettings, _auc, _bootstrap, _roc_points, youden


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("drop", [False, True])
def test_curve_equals_scikit_learn(seed: int, drop: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 150))
    y = (rng.random(n) < 0.3).astype(int)
    y[:2] = [0, 1]
    x = rng.normal(size=n) + y
    if seed % 2:
        x = np.round(x, 1)  # ties
    ref = roc_curve(y, x, drop_intermediate=drop)
    got = _roc_points(y, x, drop_intermediate=drop)
    for a, b in zip(got, ref, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert _auc(y, x) == roc_auc_score(y, x)


def test_bootstrap_equals_the_scikit_learn_loop() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(60) < 0.4).astype(int)
    x = np.round(rng.normal(size=60) - y, 1)
    s = RocSettings(n_bootstrap=200, seed=9)
    got = _bootstrap(y, x, s)
    # the loop of the analysis plan, with scikit-learn on every resample
    r = np.random.default_rng(s.seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    aucs, cuts = [], []
    for _ in range(s.n_bootstrap):
        idx = np.concatenate(
            [r.choice(pos, len(pos), replace=True), r.choice(neg, len(neg))]
        )
        aucs.append(roc_auc_score(y[idx], x[idx]))
        cuts.append(youden(y[idx], x[idx])[0])
    assert np.array_equal(got["auc"], aucs)
    assert np.array_equal(got["cut"], cuts)
    assert float(np.median(aucs)) < 0.5  # positives planted lower
