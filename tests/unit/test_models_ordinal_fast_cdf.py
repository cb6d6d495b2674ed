"""The proportional-odds fit with the direct logit cdf gives statsmodels' fit bit for bit.

:func:`exomir.stats.models.ordinal_fit` replaces ``scipy.stats.logistic.cdf``
by ``scipy.special.expit`` (issue 22: the clinical endpoints spent most of
their time in scipy.stats' argument checks). The reference is statsmodels'
own ``OrderedModel(distr="logit")`` on the same data: every estimate, SE and
the log-likelihood must be identical, not merely close.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit
from statsmodels.miscmodels.ordinal_model import OrderedModel

from exomir.stats.models import ordinal_fit


def test_expit_is_scipy_logistic_cdf_bitwise() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [rng.normal(0, 8, 20000), [np.inf, -np.inf, 0.0, -0.0, 750.0, -750.0]]
    )
    assert np.array_equal(stats.logistic.cdf(x), expit(x))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ordinal_fit_identical_to_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 90
    arm = rng.integers(0, 2, n).astype(float)
    base = rng.integers(0, 4, n).astype(float)
    latent = 0.8 * arm + 0.6 * base + rng.logistic(size=n)
    cats = np.digitize(latent, [0.5, 1.5, 2.5])
    endog = pd.Series(
        pd.Categorical(cats, categories=[0, 1, 2, 3], ordered=True), name="y"
    )
    x = pd.DataFrame({"treated": arm, "baseline": base})
    ours, _ = ordinal_fit(endog, x)
    ref = OrderedModel(endog, x, distr="logit").fit(
        method="bfgs", disp=False, maxiter=500
    )
    assert np.array_equal(np.asarray(ours.params), np.asarray(ref.params))
    assert np.array_equal(np.asarray(ours.bse), np.asarray(ref.bse))
    assert ours.llf == ref.llf
    assert ours.params["treated"] > 0  # the simulated effect is found
