"""Multi-omics integration (exomir.proteins.integration) against planted truth."""

from __future__ import annotations

import time
from pathlib import Path

import anndata as ad
import mudata
import numpy as np
import pandas as pd
import pytest

from exomir.proteins import integration as integ
from exomir.proteins.analysis import protein_values
from exomir.proteins.settings_analysis import MofaSettings, protein_analysis_settings
from exomir.simulate.proteins import (
    PANEL,
    measured_concentrations,
    simulate_protein_levels,
)

PARAMS = {
    "trial": {"arms": ["placebo", "exosome"], "timepoints": ["baseline", "week1"]}
}
CONFIG = {
    "design": {"arms": ["placebo", "exosome"], "timepoints": ["baseline", "week1"]},
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "proteins": {
        "panel": {a: {"label": s["label"]} for a, s in PANEL.items()},
        "ratios": {"SFLT1_PLGF": {"numerator": "SFLT1", "denominator": "PLGF"}},
    },
}


def _trial(n: int, seed: int) -> tuple[object, pd.DataFrame, pd.DataFrame, ad.AnnData]:
    roster = pd.DataFrame(
        {
            "participant_id": [f"P{i:04d}" for i in range(n)],
            "arm": ["exosome" if i % 2 else "placebo" for i in range(n)],
        }
    )
    sim = simulate_protein_levels(
        roster, None, PARAMS, np.random.default_rng([seed, 1])
    )
    conc = measured_concentrations(sim.levels, np.random.default_rng([seed, 2]))
    rng = np.random.default_rng([seed, 3])
    mir = [f"hsa-miR-{i}" for i in range(30)] + ["hsa-miR-126-3p"]
    dm = sim.mirna_change.set_index("participant_id")["delta_log2"]
    rows, obs = [], []
    for pid in roster["participant_id"]:
        base = rng.normal(8, 1, len(mir))
        for visit in ("baseline", "week1"):
            x = base + rng.normal(0, 0.3, len(mir))
            if visit == "week1":
                x[-1] = base[-1] + dm[pid] + rng.normal(0, 0.1)
            rows.append(x)
            obs.append((pid, visit))
    o = pd.DataFrame(obs, columns=["participant_id", "timepoint"])
    o.index = [f"{a}_{b}" for a, b in obs]
    x = np.array(rows)
    adata = ad.AnnData(X=x, obs=o, var=pd.DataFrame(index=mir))
    adata.layers["log2_normed"] = x
    pops = roster.assign(in_mitt=True, in_pp=True)
    return sim, conc, pops, adata


def test_mudata_holds_change_scores(tmp_path: Path) -> None:
    s = protein_analysis_settings(CONFIG)
    _sim, conc, pops, adata = _trial(12, 1)
    pv = protein_values(conc, s)
    views = integ.build_views(integ.mirna_long(adata, "log2_normed"), pv, None, s)
    obs = integ._obs(pops, s)
    path = tmp_path / "trial.h5mu"
    integ.write_mudata(integ.build_mudata(views, obs), path)
    m = mudata.read_h5mu(path)
    assert set(m.mod) == {"mirna", "protein"} and m.n_obs == 12
    # VEGF change of P0003, by hand from the concentrations
    c = conc[(conc["participant_id"] == "P0003") & (conc["analyte"] == "VEGF")]
    c = c.set_index("visit")["concentration"]
    j = list(m["protein"].var_names).index("VEGF")
    i = list(m["protein"].obs_names).index("P0003")
    assert m["protein"].X[i, j] == pytest.approx(np.log(c["week1"] / c["baseline"]))
    assert m["protein"].layers["baseline"][i, j] == pytest.approx(np.log(c["baseline"]))
    k = list(m["mirna"].var_names).index("hsa-miR-126-3p")
    a = adata[adata.obs["participant_id"] == "P0003"]
    expect = (
        a.X[list(a.obs["timepoint"]).index("week1"), -1]
        - a.X[list(a.obs["timepoint"]).index("baseline"), -1]
    )
    assert m["mirna"].X[i, k] == pytest.approx(expect)
    assert m.obs.loc["P0003", "arm"] == "exosome"
    assert "Exploratory" in str(m.uns["exploratory"])


def test_association_recovers_planted_coupling() -> None:
    s = protein_analysis_settings(CONFIG)
    sim, conc, pops, adata = _trial(600, 2)
    views = integ.build_views(
        integ.mirna_long(adata, "log2_normed"), protein_values(conc, s), None, s
    )
    feats = integ.primary_mirna_change(views.change["mirna"], "hsa-miR-126-3p")
    res = integ.associate(feats, {}, views.change["protein"], integ._obs(pops, s), s)
    rs = res[res["analysis"] == "robust_slope"].set_index("analyte")
    truth = sim.coupling.set_index("analyte")["coefficient"]
    for code, gamma in truth.items():
        # observed miRNA change carries 2 x 0.3^2 + 0.1^2 of noise: attenuation
        expect = gamma * 0.36 / (0.36 + 0.19)
        assert rs.loc[code, "ci_low"] < expect < rs.loc[code, "ci_high"], code
        assert rs.loc[code, "estimate"] > 0 and rs.loc[code, "p_bh"] < 0.05
    assert rs.loc["SFLT1", "ci_low"] < 0 < rs.loc["SFLT1", "ci_high"]
    sp = res[res["analysis"] == "spearman_partial"].set_index("analyte")
    assert sp.loc["VEGF", "estimate"] > 0.2 and sp.loc["VEGF", "p_value"] < 1e-4
    assert res["n"].eq(600).all()


def _structured(
    n: int, seed: int
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) % 2
    z = rng.normal(size=n) + 1.0 * t
    pids = pd.Index([f"P{i:03d}" for i in range(n)])
    views = {
        "mirna": pd.DataFrame(
            np.outer(z, rng.normal(1, 0.2, 200)) + rng.normal(0, 1.5, (n, 200)),
            index=pids,
        ).add_prefix("m"),
        "protein": pd.DataFrame(
            np.outer(z, rng.normal(1, 0.2, 8)) + rng.normal(0, 1, (n, 8)), index=pids
        ).add_prefix("p"),
        "clinical": pd.DataFrame(rng.normal(0, 1, (n, 10)), index=pids).add_prefix("c"),
    }
    obs = pd.DataFrame(
        {"arm": np.where(t, "exosome", "placebo"), "treated": t.astype(float)},
        index=pids,
    )
    return views, obs, z


def test_mofa_deterministic_fast_and_finds_planted_factor() -> None:
    s = protein_analysis_settings(CONFIG)
    views, obs, z = _structured(80, 4)
    views["protein"].iloc[3, 2] = np.nan  # missing values are allowed
    t0 = time.perf_counter()
    a = integ.fit_mofa(views, obs.index, MofaSettings(n_factors=5, seed=7))
    elapsed = time.perf_counter() - t0
    b = integ.fit_mofa(views, obs.index, MofaSettings(n_factors=5, seed=7))
    assert elapsed < 60
    pd.testing.assert_frame_equal(a.factors, b.factors)
    pd.testing.assert_frame_equal(a.loadings, b.loadings)
    r = abs(np.corrcoef(a.factors["Factor1"], z)[0, 1])
    assert r > 0.95
    var = a.variance.set_index(["factor", "view"])["r2"]
    assert var[("Factor1", "mirna")] > 0.2 and var[("Factor1", "protein")] > 0.2
    assert var[("Factor1", "clinical")] < 0.05
    tests = integ.factor_arm_tests(a, obs, s).set_index("factor")
    assert tests.loc["Factor1", "p_value"] < 1e-3
    assert tests.loc["Factor1", "n_treatment"] == 40


def test_mofa_refuses_too_few_participants() -> None:
    views, obs, _z = _structured(6, 1)
    with pytest.raises(ValueError, match="MOFA not fitted"):
        integ.fit_mofa(views, obs.index, MofaSettings(n_factors=5))


def test_integrate_from_files(tmp_path: Path) -> None:
    """The rule's file-level entry point, with pathway scores and a clinical view."""
    s = protein_analysis_settings(CONFIG)
    _sim, conc, pops, adata = _trial(30, 5)
    conc.to_csv(tmp_path / "conc.tsv", sep="\t", index=False)
    pops.to_csv(tmp_path / "pops.tsv", sep="\t", index=False)
    adata.write_h5ad(tmp_path / "mirna.h5ad")
    rng = np.random.default_rng(0)
    pids = list(pops["participant_id"])
    ds = pd.DataFrame(
        {
            "participant_id": pids,
            "arm": pops["arm"],
            "param": "SYSBP",
            "bl": rng.normal(150, 10, 30),
            "wk1": rng.normal(135, 10, 30),
            "bl_cat": "",
            "wk1_cat": "",
        }
    )
    ds.to_csv(tmp_path / "dataset.tsv", sep="\t", index=False)
    scores = pd.DataFrame(
        [
            (p, v, pw, "waggr", rng.normal())
            for p in pids
            for v in ("baseline", "week1")
            for pw in ("WP4172", "WP382", "OTHER")
        ],
        columns=["participant_id", "timepoint", "pathway", "method", "score"],
    )
    scores.to_csv(tmp_path / "scores.tsv", sep="\t", index=False)
    out = {
        k: tmp_path / f"{k}.{ext}"
        for k, ext in (
            ("h5mu", "h5mu"),
            ("summary", "tsv"),
            ("association", "tsv"),
            ("factors", "tsv"),
            ("factor_values", "tsv"),
            ("loadings", "tsv"),
            ("variance", "tsv"),
            ("loadings_png", "png"),
        )
    }
    integ.integrate_from_files(
        concentrations=tmp_path / "conc.tsv",
        populations=tmp_path / "pops.tsv",
        mirna=tmp_path / "mirna.h5ad",
        dataset=tmp_path / "dataset.tsv",
        pathway_scores=tmp_path / "scores.tsv",
        settings=s,
        **out,
    )
    m = mudata.read_h5mu(out["h5mu"])
    assert set(m.mod) == {"mirna", "protein", "clinical"}
    assoc = pd.read_csv(out["association"], sep="\t")
    assert list(dict.fromkeys(assoc["feature"])) == [
        "hsa-miR-126-3p",
        "WP4172",
        "WP382",
    ]
    assert len(assoc) == 3 * 2 * 8
    summ = pd.read_csv(out["summary"], sep="\t").set_index("view")
    assert summ.loc["clinical", "n_features"] == 1 and "arm" not in summ.columns
    assert out["loadings_png"].read_bytes()[:4] == b"\x89PNG"
