"""MMRM by REML (exomir.stats.mmrm) against R nlme::gls and planted truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.stats.mmrm import DEFAULT_COVARIANCE, fit_mmrm
from exomir.stats.models import NotEstimable

DATA = Path(__file__).resolve().parents[1] / "data" / "mmrm"
VISITS = ["week1", "month1", "month3", "month6"]
KW = dict(
    outcome="value",
    subject="participant_id",
    visit="visit",
    visits=VISITS,
    arm="arm",
    arms=("placebo", "exosome"),
    baseline="baseline",
    covariates=["stratum"],
)


@pytest.mark.parametrize("dataset", ["balanced", "unbalanced"])
@pytest.mark.parametrize("structure", DEFAULT_COVARIANCE)
def test_agreement_with_r_nlme_gls(dataset: str, structure: str) -> None:
    """Estimates, SEs, df and REML log-likelihood equal R's to 1e-4 (absolute)."""
    data = pd.read_csv(DATA / f"{dataset}.tsv", sep="\t")
    r_eff = pd.read_csv(DATA / f"r_{dataset}_effects.tsv", sep="\t")
    r_eff = r_eff.loc[r_eff["structure"] == structure].set_index("visit")
    r_fit = pd.read_csv(DATA / f"r_{dataset}_fit.tsv", sep="\t").set_index("structure")
    r_sigma = pd.read_csv(DATA / f"r_{dataset}_sigma.tsv", sep="\t")
    r_sigma = r_sigma.loc[r_sigma["structure"] == structure, VISITS].to_numpy()

    res = fit_mmrm(data, covariance=(structure,), df_method="residual", **KW)

    assert res.covariance == structure and res.fallback_reason is None
    eff = res.visit_effects.set_index("visit")
    assert list(eff.index) == VISITS
    np.testing.assert_allclose(
        eff["estimate"], r_eff.loc[VISITS, "estimate"], atol=1e-4
    )
    np.testing.assert_allclose(eff["se"], r_eff.loc[VISITS, "se"], atol=1e-4)
    np.testing.assert_allclose(eff["p_value"], r_eff.loc[VISITS, "p_value"], atol=1e-4)
    assert (eff["df"] == r_eff.loc[VISITS, "df"]).all()
    assert res.overall["estimate"] == pytest.approx(
        r_eff.loc["overall", "estimate"], abs=1e-4
    )
    assert res.overall["se"] == pytest.approx(r_eff.loc["overall", "se"], abs=1e-4)
    assert res.loglik == pytest.approx(r_fit.loc[structure, "loglik"], abs=1e-4)
    assert res.n_obs == r_fit.loc[structure, "n_obs"] == len(data)
    # fitted covariance: relative 1e-3 (R's optimiser tolerance)
    np.testing.assert_allclose(res.sigma.to_numpy(), r_sigma, rtol=1e-3)


def test_counts_ci_and_overall_are_consistent() -> None:
    """n per arm per visit counts the observed rows; CI = est +/- t * se."""
    from scipy import stats

    data = pd.read_csv(DATA / "unbalanced.tsv", sep="\t")
    res = fit_mmrm(data, df_method="residual", **KW)
    assert res.covariance == "unstructured" and res.converged
    eff = res.visit_effects.set_index("visit")
    observed = data.groupby(["visit", "arm"]).size()
    for v in VISITS:
        assert eff.loc[v, "n_control"] == observed[(v, "placebo")]
        assert eff.loc[v, "n_treated"] == observed[(v, "exosome")]
    tq = stats.t.ppf(0.975, eff["df"])
    np.testing.assert_allclose(eff["ci_high"] - eff["estimate"], tq * eff["se"])
    assert res.overall["estimate"] == pytest.approx(eff["estimate"].mean())
    assert res.n_subjects == data["participant_id"].nunique()


def _simulate(
    rng: np.random.Generator, n_per_arm: int, effect: np.ndarray
) -> pd.DataFrame:
    """A two-arm trial over len(effect) visits with an AR-like correlation."""
    t = len(effect)
    n = 2 * n_per_arm
    idx = np.arange(t)
    sd = np.linspace(1.0, 1.6, t)
    cov = 0.7 ** np.abs(idx[:, None] - idx[None, :]) * np.outer(sd, sd)
    base = rng.normal(0, 1, n)
    treated = np.repeat([0, 1], n_per_arm)
    y = (
        0.6 * base[:, None]
        + treated[:, None] * effect
        + rng.multivariate_normal(np.zeros(t), cov, n)
    )
    visits = [f"v{i + 1}" for i in range(t)]
    return pd.DataFrame(
        {
            "participant_id": np.repeat([f"S{i:03d}" for i in range(n)], t),
            "arm": np.repeat(np.where(treated == 1, "exosome", "placebo"), t),
            "baseline": np.repeat(base, t),
            "visit": np.tile(visits, n),
            "value": y.ravel(),
        }
    )


def test_recovers_planted_effects_with_missing_visits() -> None:
    """Estimates of planted effects within 3 SE when 20% of visits are missing."""
    rng = np.random.default_rng(7)
    effect = np.array([0.0, 0.5, 1.0])
    data = _simulate(rng, 60, effect)
    data = data.loc[rng.random(len(data)) > 0.2]
    res = fit_mmrm(
        data,
        outcome="value",
        subject="participant_id",
        visit="visit",
        visits=["v1", "v2", "v3"],
        arm="arm",
        arms=("placebo", "exosome"),
        baseline="baseline",
    )
    z = (res.visit_effects["estimate"] - effect) / res.visit_effects["se"]
    assert (np.abs(z) < 3).all()
    assert res.sigma.loc["v3", "v3"] > res.sigma.loc["v1", "v1"]


def test_fallback_when_two_visits_never_observed_together() -> None:
    """Unstructured is not identifiable -> the next structure, with the reason."""
    rng = np.random.default_rng(3)
    data = _simulate(rng, 30, np.array([0.2, 0.4, 0.6]))
    # v1 and v3 never both observed in the same participant
    odd = data["participant_id"].str[1:].astype(int) % 2 == 1
    data = data.loc[
        ~((odd & (data["visit"] == "v1")) | (~odd & (data["visit"] == "v3")))
    ]
    res = fit_mmrm(
        data,
        outcome="value",
        subject="participant_id",
        visit="visit",
        visits=["v1", "v2", "v3"],
        arm="arm",
        arms=("placebo", "exosome"),
    )
    assert res.covariance == "heterogeneous_cs"
    assert res.fallback_reason is not None
    assert res.fallback_reason.startswith("unstructured: only 0 participant(s)")


def test_bad_input_is_not_estimable() -> None:
    """Duplicated participant x visit, one visit, unknown structure: clear errors."""
    data = pd.read_csv(DATA / "balanced.tsv", sep="\t")
    dup = pd.concat([data, data.iloc[[0]]])
    with pytest.raises(NotEstimable, match="P001 has two rows at visit week1"):
        fit_mmrm(dup, **KW)
    with pytest.raises(NotEstimable, match="fewer than 2"):
        fit_mmrm(data, **(KW | {"visits": ["week1"]}))
    with pytest.raises(NotEstimable, match="unknown covariance"):
        fit_mmrm(data, covariance=("toeplitz",), **KW)


def test_satterthwaite_df_is_exact_in_the_balanced_multivariate_case() -> None:
    """Complete balanced data, visit-specific regressors, unstructured covariance:
    GLS = OLS per visit and each contrast's variance is a scaled chi-square with
    n - 3 df (intercept, arm, baseline per visit), so Satterthwaite gives n - 3."""
    rng = np.random.default_rng(11)
    data = _simulate(rng, 30, np.array([0.0, 0.3, 0.6, 0.2]))
    kw = dict(
        outcome="value",
        subject="participant_id",
        visit="visit",
        visits=["v1", "v2", "v3", "v4"],
        arm="arm",
        arms=("placebo", "exosome"),
        baseline="baseline",
    )
    res = fit_mmrm(data, **kw)
    assert res.covariance == "unstructured"
    np.testing.assert_allclose(res.visit_effects["df"], 57.0, rtol=1e-3)
    assert res.overall["df"] == pytest.approx(57.0, rel=1e-3)
    # with missing visits the df drop below the residual N - p
    sub = data.loc[np.random.default_rng(1).random(len(data)) > 0.25]
    res = fit_mmrm(sub, **kw)
    assert (res.visit_effects["df"] < len(sub) - 12).all()
    assert (res.visit_effects["df"] > 20).all()
