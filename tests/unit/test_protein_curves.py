"""Standard curves: agreement with R (nls port = drc's LL.4/LL.5 optimum) and inverses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.proteins.curves import fit_curve, ll5, standard_weights

DATA = Path(__file__).parents[1] / "data" / "proteins"


@pytest.fixture(scope="module")
def r_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        pd.read_csv(DATA / "curve_data.tsv", sep="\t"),
        pd.read_csv(DATA / "curve_fits_R.tsv", sep="\t"),
    )


def test_weights_equal_r(r_data):
    data, _ = r_data
    for _, d in data.groupby("dataset"):
        w = standard_weights(d["y"].to_numpy(), d["x"].to_numpy(), d["scheme"].iloc[0])
        np.testing.assert_allclose(w, d["weight"].to_numpy(), rtol=1e-8)


@pytest.mark.parametrize("row", range(7))
def test_parameters_equal_r(r_data, row):
    data, fits = r_data
    ref = fits.iloc[row]
    d = data[data["dataset"] == ref["dataset"]]
    fit = fit_curve(d["x"], d["y"], d["weight"].to_numpy(), model=ref["model"])
    assert fit.converged
    for p in "bcdef":
        assert fit.params[p] == pytest.approx(ref[p], rel=1e-3), p
    assert fit.rss == pytest.approx(ref["rss"], rel=1e-6)


def test_auto_prefers_5pl_only_when_it_helps():
    x = np.repeat(2000 / 2.0 ** np.arange(10), 2)
    rng = np.random.default_rng(3)
    asym = ll5(x, -2.0, 0.03, 3.0, 900, 0.3) * np.exp(rng.normal(0, 0.01, len(x)))
    sym = ll5(x, -1.0, 0.03, 3.0, 100, 1.0) * np.exp(rng.normal(0, 0.03, len(x)))
    fit_a = fit_curve(x, asym, standard_weights(asym, x), "auto")
    fit_s = fit_curve(x, sym, standard_weights(sym, x), "auto")
    assert fit_a.model == "5pl" and fit_a.f_test_p < 0.05
    assert fit_s.model == "4pl" and fit_s.f_test_p is not None


def test_inverse_and_outside_asymptotes():
    x = np.repeat(1000 / 2.0 ** np.arange(8), 2)
    y = ll5(x, -1.2, 0.05, 2.5, 150, 0.7)
    fit = fit_curve(x, y, standard_weights(y, x), "5pl")
    np.testing.assert_allclose(
        fit.inverse(fit.predict([10.0, 150.0, 900.0])), [10, 150, 900], rtol=1e-6
    )
    assert np.isnan(fit.inverse([fit.c - 0.01, fit.d + 0.01])).all()
    assert list(fit.side([fit.c - 0.01, fit.d + 0.01])) == [-1, 1]


def test_too_few_standards_is_an_error():
    with pytest.raises(ValueError, match="at least 4 positive"):
        fit_curve([0, 1, 2, 4], [0.1, 0.2, 0.4, 0.8])
