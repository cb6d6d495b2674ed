"""The arrow-matrix pydeseq2 inference equals pydeseq2's dense fit.

Truth here is independent of the code under test: numpy's dense linear
algebra for the arrow identities, and pydeseq2's own ``DefaultInference``
(dense p x p algebra per miRNA) for whole fits of simulated paired trials.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference
from pydeseq2.ds import DeseqStats

from exomir.de.fit import pydeseq2_warnings
from exomir.de.inference import ArrowDesign, StructuredInference, inference_for
from exomir.de.lrt import lrt_statistics, nb_loglik

# Tolerances of structured vs dense whole fits. Both solve the same equations
# and their iterates differ only by rounding, so most miRNAs agree to 1e-9 or
# better (TYPICAL: asserted for the median). A few do not, for reasons of the
# optimisers, not of the algebra: the dispersion and the shrunken LFC are
# where scipy's L-BFGS-B stops (default factr for the dispersion, ftol = gtol
# = 1e-8 for the shrinkage, p ~ 30 coefficients), and rounding moves that
# stopping point; pydeseq2's dense code alone moves as much when its inputs
# are perturbed by 1e-12 (docs/performance.md, "DE"). Measured worst cases:
# 1.3e-6 relative for a dispersion (and what follows from it), 7e-5 SE for a
# shrunken LFC, 2e-3 relative for its SE. Asserted: RTOL for every miRNA,
# 1e-3 SE for shrunken LFCs, 1e-2 relative for their SEs.
# Cook's distance carries h / (1 - h)^2, which amplifies rounding in h where
# a leverage is within 1e-3 of 1 (1e-4 relative measured there).
RTOL = 1e-5
TYPICAL = 1e-9


def paired_design(
    n_part: int, n_time: int, covariate: bool, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Intercept + participant + timepoint + arm:timepoint (+ a covariate)."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n_part):
        arm = "treated" if j % 2 else "placebo"
        for t in range(n_time):
            if t > 0 and rng.random() < 0.1:  # some missing follow-up draws
                continue
            rows.append((f"P{j:02d}", arm, f"T{t}"))
    obs = pd.DataFrame(rows, columns=["participant_id", "arm", "timepoint"])
    obs.index = [f"S{i:03d}" for i in range(len(obs))]
    pids = sorted(obs["participant_id"].unique())
    cols = {"Intercept": np.ones(len(obs))}
    for p in pids[1:]:
        cols[f"participant[{p}]"] = (obs["participant_id"] == p).to_numpy(float)
    for t in range(1, n_time):
        cols[f"timepoint[T{t}]"] = (obs["timepoint"] == f"T{t}").to_numpy(float)
    for t in range(1, n_time):
        cols[f"treated_T{t}"] = (
            (obs["timepoint"] == f"T{t}") & (obs["arm"] == "treated")
        ).to_numpy(float)
    if covariate:
        cols["haemolysis"] = rng.normal(0, 1, len(obs))
    x = pd.DataFrame(cols, index=obs.index)
    return obs, x


def simulate_counts(x: pd.DataFrame, n_genes: int, seed: int) -> pd.DataFrame:
    """NB counts from the design: some zero-heavy miRNAs, one gross outlier."""
    rng = np.random.default_rng(seed)
    n, p = x.shape
    beta = np.zeros((p, n_genes))
    beta[0] = rng.normal(np.log(200), 1.5, n_genes)
    beta[1:] = rng.normal(0, 0.4, (p - 1, n_genes))
    sf = np.exp(rng.normal(0, 0.3, n))
    mu = sf[:, None] * np.exp(x.to_numpy() @ beta)
    disp = 0.05 + 2.0 / np.exp(beta[0])
    counts = rng.negative_binomial(1 / disp, 1 / (1 + mu * disp))
    counts[:, :3] = (counts[:, :3] * (rng.random((n, 3)) < 0.3)) // 50  # zero-heavy
    counts[5, 7] = counts[:, 7].max() * 40 + 500  # an outlier for Cook's
    return pd.DataFrame(
        counts, index=x.index, columns=[f"miR-{i:03d}" for i in range(n_genes)]
    )


def fit(
    counts: pd.DataFrame, obs: pd.DataFrame, x: pd.DataFrame, inference
) -> tuple[DeseqDataSet, pd.DataFrame]:
    """Fit, Wald-test and shrink the last arm x time coefficient with ``inference``."""
    with pydeseq2_warnings([]):  # as exomir.de.fit: known warnings are noted
        return _fit(counts, obs, x, inference)


def _fit(
    counts: pd.DataFrame, obs: pd.DataFrame, x: pd.DataFrame, inference
) -> tuple[DeseqDataSet, pd.DataFrame]:
    dds = DeseqDataSet(
        counts=counts,
        metadata=obs,
        design=x,
        refit_cooks=True,
        min_replicates=1,  # every library replaceable: exercises the refit
        n_cpus=1,
        inference=inference,
        quiet=True,
    )
    dds.deseq2()
    coef = [c for c in x.columns if c.startswith("treated_")][-1]
    vec = np.array([1.0 if c == coef else 0.0 for c in x.columns])
    ds = DeseqStats(dds, contrast=vec, quiet=True, n_cpus=1, inference=inference)
    ds.summary()
    res = ds.results_df.copy()
    ds.lfc_shrink(coeff=coef)
    res["lfc_shrunk"] = ds.results_df["log2FoldChange"]
    res["se_shrunk"] = ds.results_df["lfcSE"]
    return dds, res


def assert_agree(
    a, b, rtol: float = RTOL, atol: float = 1e-12, typical: float = TYPICAL
) -> None:
    """Equal NaN patterns, every value within ``rtol``, the median within ``typical``."""
    assert_close(a, b, rtol=rtol, atol=atol)
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    ok = ~np.isnan(b)
    rel = np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), atol / typical)
    assert float(np.median(rel)) <= typical, float(np.median(rel))


def assert_close(a, b, rtol: float = RTOL, atol: float = 1e-12) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- #
# Arrow algebra against dense numpy
# --------------------------------------------------------------------------- #


def test_detects_participant_blocks_only_in_paired_designs() -> None:
    _obs, x = paired_design(12, 2, True, 1)
    ad = ArrowDesign.detect(x)
    assert ad is not None
    assert [x.columns[j] for j in ad.blocks] == [
        c for c in x.columns if c.startswith("participant[")
    ]
    assert [x.columns[j] for j in ad.dense] == [
        "Intercept",
        "timepoint[T1]",
        "treated_T1",
        "haemolysis",
    ]
    np.testing.assert_array_equal(ad.dense_matrix(), x.to_numpy())
    # A two-group design (no participant blocks) keeps the dense code.
    two = pd.DataFrame({"Intercept": 1.0, "arm": [0.0, 1.0] * 10})
    assert ArrowDesign.detect(two) is None
    assert type(inference_for(two, 1)) is DefaultInference
    assert type(inference_for(x, 1)) is StructuredInference


def test_solve_logdet_inverse_diagonal_and_leverage_match_dense_algebra() -> None:
    rng = np.random.default_rng(7)
    _obs, x = paired_design(15, 3, True, 2)
    xd = x.to_numpy()
    ad = ArrowDesign.detect(xd)
    assert ad is not None
    n, p = xd.shape
    w = rng.uniform(0.1, 50.0, (n, 4))
    ridge = np.full(p, 1e-6)
    fac = ad.factor(w, ridge)
    rhs = rng.normal(size=(4, p))
    sol, logdet = fac.solve(rhs), fac.logdet()
    diag, lev = fac.inv_diag(), fac.leverage()
    for g in range(4):
        h = (xd.T * w[:, g]) @ xd + np.diag(ridge)
        hinv = np.linalg.inv(h)
        np.testing.assert_allclose(sol[g], np.linalg.solve(h, rhs[g]), rtol=1e-9)
        np.testing.assert_allclose(logdet[g], np.linalg.slogdet(h)[1], rtol=1e-12)
        np.testing.assert_allclose(diag[g], np.diag(hinv), rtol=1e-9)
        np.testing.assert_allclose(
            lev[:, g], np.einsum("ij,jk,ik->i", xd, hinv, xd), rtol=1e-9
        )
    beta = rng.normal(size=(3, p))
    v = rng.normal(size=(n, 3))
    np.testing.assert_allclose(ad.xb(beta), xd @ beta.T, rtol=1e-12)
    np.testing.assert_allclose(ad.xtv(v), (xd.T @ v).T, rtol=1e-12)
    np.testing.assert_allclose(ad.xb1(beta[0]), xd @ beta[0], rtol=1e-12)
    np.testing.assert_allclose(ad.xtv1(v[:, 0]), xd.T @ v[:, 0], rtol=1e-12)
    assert ad.full_rank()
    xd2 = xd.copy()
    xd2[:, -1] = xd2[:, 2] + xd2[:, 3]  # covariate = sum of two participants
    ad2 = ArrowDesign.detect(xd2)
    assert ad2 is not None and not ad2.full_rank()


def test_a_hand_checkable_arrow_matrix() -> None:
    # Two participants with two libraries each, one reference library:
    # columns participant A, participant B, intercept.
    x = np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1], [0, 0, 1]], dtype=float)
    ad = ArrowDesign.detect(x, min_blocks=2)
    assert ad is not None
    fac = ad.factor(np.ones((5, 1)))
    # X'X = [[2,0,2],[0,2,2],[2,2,5]]; S = 5 - 2*2/2 - 2*2/2 = 1; det = 4.
    np.testing.assert_allclose(fac.s[0], [[1.0]])
    np.testing.assert_allclose(fac.logdet(), [np.log(4.0)])
    # (X'X)^-1 = [[1.5,1,-1],[1,1.5,-1],[-1,-1,1]]; hat = X (X'X)^-1 X' diagonal.
    np.testing.assert_allclose(fac.inv_diag()[0], [1.5, 1.5, 1.0])
    np.testing.assert_allclose(fac.leverage()[:, 0], [0.5, 0.5, 0.5, 0.5, 1.0])


# --------------------------------------------------------------------------- #
# Whole pydeseq2 fits: structured == dense
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("n_part", "n_time", "covariate"),
    [(12, 2, False), (16, 3, True), (24, 2, True)],
)
def test_structured_fit_equals_pydeseq2_dense_fit(
    n_part: int, n_time: int, covariate: bool
) -> None:
    obs, x = paired_design(n_part, n_time, covariate, seed=n_part)
    counts = simulate_counts(x, 30, seed=n_part + 100)
    structured = StructuredInference(n_cpus=1)
    dds_s, res_s = fit(counts, obs, x, structured)
    dds_d, res_d = fit(counts, obs, x, DefaultInference(n_cpus=1))
    # Every per-miRNA method of the fit took the structured path.
    for method in ("irls", "alpha_mle", "wald_test", "lfc_shrink_nbinom_glm"):
        assert structured.structured_calls.get(method, 0) >= 1, method
    assert dds_s.var["refitted"].any()  # the planted outlier was replaced
    for col in ("genewise_dispersions", "MAP_dispersions", "dispersions"):
        assert_agree(dds_s.var[col], dds_d.var[col])
    assert_agree(dds_s.varm["LFC"], dds_d.varm["LFC"], atol=1e-7)
    hat = dds_d.obsm["_hat_diagonals"]
    near_one = np.zeros(dds_d.layers["cooks"].shape, dtype=bool)
    near_one[:, np.asarray(dds_d.var["non_zero"])] = hat > 0.999
    cooks_s, cooks_d = dds_s.layers["cooks"], dds_d.layers["cooks"]
    assert_agree(cooks_s[~near_one], cooks_d[~near_one], atol=1e-10)
    assert_close(cooks_s[near_one], cooks_d[near_one], rtol=1e-3, atol=1e-10)
    np.testing.assert_array_equal(dds_s.cooks_outlier(), dds_d.cooks_outlier())
    for col in ("baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"):
        assert_agree(res_s[col], res_d[col])
    gap = (res_s["lfc_shrunk"] - res_d["lfc_shrunk"]).abs()
    np.testing.assert_array_equal(gap.isna(), res_d["lfc_shrunk"].isna())
    se = res_d["se_shrunk"]
    assert (gap.dropna() <= 1e-3 * se.dropna() + 1e-10).all()
    assert float(np.nanmedian(gap / se)) <= 1e-6
    # The shrunken SE is read off the Hessian at the optimiser's stopping point,
    # and for zero-heavy miRNAs it moves with it (2e-3 relative measured).
    assert_agree(res_s["se_shrunk"], se, rtol=1e-2, typical=1e-6)
    sig_s = set(res_s.index[res_s["padj"] < 0.1])
    assert sig_s == set(res_d.index[res_d["padj"] < 0.1])


def test_lrt_statistics_equal_dense() -> None:
    _obs, x = paired_design(16, 3, False, seed=5)
    counts = simulate_counts(x, 25, seed=6).to_numpy(dtype=float)
    counts = counts[:, counts.sum(axis=0) > 0]
    rng = np.random.default_rng(8)
    sf = np.exp(rng.normal(0, 0.2, len(x)))
    disp = rng.uniform(0.05, 0.5, counts.shape[1])
    full = x.to_numpy()
    reduced = x[[c for c in x.columns if not c.startswith("treated_")]].to_numpy()
    stat_s, beta_s = lrt_statistics(counts, sf, disp, full, reduced)
    # Dense truth: pydeseq2's DefaultInference directly.
    dense = DefaultInference(n_cpus=1)
    ll = []
    for xm in (full, reduced):
        beta, _mu, _h, _c = dense.irls(counts, sf, xm, disp, 0.5, 1e-8)

        ll.append(nb_loglik(counts, sf[:, None] * np.exp(xm @ beta.T), disp))
        if xm is full:
            beta_d = beta
    stat_d = np.maximum(2 * (ll[0] - ll[1]), 0)
    assert_close(stat_s, stat_d, rtol=1e-6, atol=1e-6)
    assert_close(beta_s, beta_d, atol=1e-7)


def test_alternative_hypotheses_of_the_wald_test_equal_dense() -> None:
    rng = np.random.default_rng(11)
    _obs, x = paired_design(14, 2, True, 3)
    xd = x.to_numpy()
    n, p = xd.shape
    mu = rng.uniform(1, 500, (n, 6))
    lfc = rng.normal(0, 1, (6, p))
    disp = rng.uniform(0.01, 1, 6)
    c = np.zeros(p)
    c[-2] = 1.0
    ridge = np.diag(np.repeat(1e-6, p))
    s, d = StructuredInference(n_cpus=1), DefaultInference(n_cpus=1)
    for alt in (None, "greater", "less", "greaterAbs", "lessAbs"):
        out_s = s.wald_test(xd, disp, lfc, mu, ridge, c, 0.2, alt)
        out_d = d.wald_test(xd, disp, lfc, mu, ridge, c, 0.2, alt)
        for a, b in zip(out_s, out_d, strict=True):
            assert_close(a, b, rtol=1e-9)


def test_warnings_of_the_structured_fit_are_noted_like_pydeseq2s() -> None:
    import warnings

    notes: list[str] = []
    with pydeseq2_warnings(notes):
        warnings.warn_explicit(
            "overflow encountered in exp",
            RuntimeWarning,
            "/x/src/exomir/de/inference.py",
            1,
        )
    assert notes == ["pydeseq2: overflow encountered in exp"]


def test_processes_give_the_same_fits_as_one() -> None:
    # The rule runs with 2 threads: the per-miRNA optimisations then run in
    # joblib processes, which must not change any number.
    _obs, x = paired_design(10, 2, False, seed=4)
    xd = x.to_numpy()
    counts = simulate_counts(x, 10, seed=9).to_numpy(dtype=float)[:, 3:]
    rng = np.random.default_rng(3)
    mu = counts.mean(axis=0)[None, :] * rng.uniform(0.5, 1.5, counts.shape) + 0.5
    alpha0 = np.full(counts.shape[1], 0.1)
    offset = rng.normal(0, 0.2, len(xd))
    out = []
    for n_cpus in (1, 2):
        inf = StructuredInference(n_cpus=n_cpus)
        disp, ok = inf.alpha_mle(counts, xd, mu, alpha0, 1e-8, 10.0)
        lfc, inv_h, ok2 = inf.lfc_shrink_nbinom_glm(
            xd, counts, 1 / disp, offset, 15.0, 0.5, "L-BFGS-B", xd.shape[1] - 1
        )
        out.append((disp, ok, lfc, [h.diagonal() for h in inv_h], ok2))
    for a, b in zip(out[0], out[1], strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_linear_model_starts_equal_dense() -> None:
    # lin_reg_mu runs when a design has as many distinct rows as columns (not
    # the paired designs, which pass through IRLS) and fit_rough_dispersions
    # in every fit: both are least squares, here by the arrow algebra.
    _obs, x = paired_design(14, 2, True, 6)
    xd = x.to_numpy()
    counts = simulate_counts(x, 12, seed=10).to_numpy(dtype=float)
    sf = np.exp(np.random.default_rng(4).normal(0, 0.3, len(xd)))
    s, d = StructuredInference(n_cpus=1), DefaultInference(n_cpus=1)
    assert_close(
        s.lin_reg_mu(counts, sf, xd, 0.5), d.lin_reg_mu(counts, sf, xd, 0.5), 1e-9
    )
    normed = counts / sf[:, None]
    assert_close(
        s.fit_rough_dispersions(normed, xd),
        d.fit_rough_dispersions(normed, xd),
        1e-9,
    )
    assert s.structured_calls == {"lin_reg_mu": 1, "fit_rough_dispersions": 1}
