"""Pathway network weights, per-sample scores, enrichment and the arm tests.

Expected values are hand-computed from the definitions of analysis_spec.md
§2.2-2.3 or come from the planted truth of a simulated trial.
"""

import logging
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from exomir.errors import ValidationError
from exomir.pathways.genesets import GeneSet, read_gmt, read_roles, to_symbols
from exomir.pathways.scoring import (
    build_network,
    contrast_enrichment,
    degree_strata,
    sample_scores,
    ulm_t,
    zscores,
)
from exomir.pathways.stats import adjust, ancova_tests, holm, mixedlm_tests
from exomir.simulate.pathways import simulate_trial, synthetic_interactions


def _gs(pid, genes, id_type="symbol"):
    return GeneSet(pid, pid, frozenset(genes), id_type, "test.gmt", frozenset(genes))


def _inter(pairs):
    return pd.DataFrame(
        [{"mirna": m, "target_symbol": g, "target_entrez": ""} for m, g in pairs]
    )


ROLES = pd.DataFrame(
    {
        "family": ["PI3K_AKT", "MAPK"],
        "gene": ["PIK3R2", "SPRED1"],
        "entrez": ["5296", "161742"],
        "role": [-1, -1],
    }
)


def test_weights_and_signed_weights_by_hand():
    inter = _inter(
        [
            ("hsa-miR-126-3p", "PIK3R2"),
            ("hsa-miR-126-3p", "SPRED1"),
            ("hsa-miR-126-3p", "VEGFA"),
            ("hsa-miR-126-3p", "OTHER"),
            ("hsa-miR-21-5p", "AKT1"),
            ("hsa-miR-21-5p", "PTEN2"),
        ]
    )
    sets = [_gs("PI3K", ["PIK3R2", "AKT1", "VEGFA"]), _gs("MAPK", ["SPRED1", "KRAS"])]
    net = build_network(inter, sets, {"PI3K": "PI3K_AKT", "MAPK": "MAPK"}, ROLES)
    r = net.set_index(["pathway", "mirna"])
    # miR-126: K = 4; in PI3K 2 targets (PIK3R2 brake, VEGFA) -> w = 2/2, w± = 0.
    assert r.loc[("PI3K", "hsa-miR-126-3p"), "weight"] == pytest.approx(1.0)
    assert r.loc[("PI3K", "hsa-miR-126-3p"), "signed_weight"] == pytest.approx(0.0)
    # In MAPK only SPRED1 (a brake): w = 1/2, w± = -1/2.
    assert r.loc[("MAPK", "hsa-miR-126-3p"), "weight"] == pytest.approx(0.5)
    assert r.loc[("MAPK", "hsa-miR-126-3p"), "signed_weight"] == pytest.approx(-0.5)
    # miR-21: K = 2, 1 target in PI3K: w = 1/sqrt(2).
    assert r.loc[("PI3K", "hsa-miR-21-5p"), "weight"] == pytest.approx(1 / math.sqrt(2))
    assert ("MAPK", "hsa-miR-21-5p") not in r.index
    # The expression filter removes miRNAs, but K_m stays the whole-network count.
    net2 = build_network(inter, sets, {}, ROLES, expressed=["hsa-miR-21-5p"])
    assert set(net2["mirna"]) == {"hsa-miR-21-5p"}
    assert net2["n_targets_total"].tolist() == [2]


def test_weighted_roles():
    """A role of -3 makes one brake outweigh two effectors: (1 + 1 - 3) / sqrt(3)."""
    inter = _inter([("m", "PIK3R2"), ("m", "AKT1"), ("m", "VEGFA")])
    roles = ROLES.assign(role=[-3.0, -1.0])
    net = build_network(
        inter, [_gs("PI3K", ["PIK3R2", "AKT1", "VEGFA"])], {"PI3K": "PI3K_AKT"}, roles
    )
    assert net.loc[0, "signed_weight"] == pytest.approx(-1 / math.sqrt(3))
    assert net.loc[0, "weight"] == pytest.approx(3 / math.sqrt(3))


def test_gene_set_without_overlap_is_an_error():
    inter = _inter([("hsa-miR-1", "A"), ("hsa-miR-2", "B")])
    with pytest.raises(ValidationError, match="shares no gene"):
        build_network(inter, [_gs("P", ["X", "Y"])], {}, None)


def _toy():
    rng = np.random.default_rng(1)
    mirnas = [f"m{i}" for i in range(8)]
    pairs = [(m, f"G{j}") for i, m in enumerate(mirnas) for j in range(i % 3 + 1 + i)]
    inter = _inter(pairs)
    sets = [_gs("P", [f"G{j}" for j in range(0, 12, 2)])]
    net = build_network(inter, sets, {"P": "PI3K_AKT"}, None)
    z = pd.DataFrame(
        rng.normal(size=(5, 8)), index=[f"s{i}" for i in range(5)], columns=mirnas
    )
    return net, z


def test_sample_scores_match_hand_computation():
    net, z = _toy()
    s = sample_scores(z, net, tmin=5).set_index(["sample_id", "method"])
    w = net.set_index("mirna")["weight"]
    hand = (z[w.index] * w).sum(axis=1) / w.sum()
    for sid in z.index:
        assert s.loc[(sid, "waggr"), "score"] == pytest.approx(hand[sid], abs=1e-10)
        # ULM: t of the slope of z on w over the miRNAs in the network.
        fit = sm.OLS(
            z.loc[sid, w.index].to_numpy(), sm.add_constant(w.to_numpy())
        ).fit()
        assert s.loc[(sid, "ulm"), "score"] == pytest.approx(fit.tvalues[1], abs=1e-8)
        # No family: signed = unsigned weights, reported as -S.
        assert s.loc[(sid, "waggr_signed"), "score"] == pytest.approx(
            -hand[sid], abs=1e-10
        )
    assert set(s["n_mirnas"]) == {len(w)}


def test_too_few_mirnas_gives_no_score_and_a_warning(caplog):
    net, z = _toy()
    with caplog.at_level(logging.WARNING, logger="exomir.pathways"):
        with pytest.raises(ValidationError, match="tmin=50"):
            sample_scores(z, net, tmin=50)
    assert "fewer than tmin=50" in caplog.text


def test_mir126_rise_is_pressure_up_and_predicted_activation():
    """analysis_spec §7.5: miR-126 represses the brakes, so its rise predicts activation."""
    inter = _inter(
        [("hsa-miR-126-3p", "PIK3R2"), ("hsa-miR-126-3p", "SPRED1")]
        + [(f"hsa-miR-o{i}", f"E{i}") for i in range(6)]
    )
    sets = [_gs("PI3K", ["PIK3R2"] + [f"E{i}" for i in range(6)])]
    net = build_network(inter, sets, {"PI3K": "PI3K_AKT"}, ROLES)
    cols = sorted(set(net["mirna"]))
    before = np.random.default_rng(2).normal(scale=0.1, size=len(cols))
    z = pd.DataFrame([before, before], index=["before", "after"], columns=cols)
    z.loc["after", "hsa-miR-126-3p"] += 2.0
    s = sample_scores(z, net, tmin=5).set_index(["sample_id", "method"])["score"]
    w = net.set_index("mirna")
    # Hand values of the change: 2 w / sum|w| (pressure), -2 w± / sum|w±| (activity).
    d_pressure = 2 * w.loc["hsa-miR-126-3p", "weight"] / w["weight"].sum()
    d_activity = (
        -2 * w.loc["hsa-miR-126-3p", "signed_weight"] / w["signed_weight"].abs().sum()
    )
    assert s[("after", "waggr")] - s[("before", "waggr")] == pytest.approx(d_pressure)
    assert d_pressure > 0  # more targeting pressure ...
    assert s[("after", "waggr_signed")] - s[
        ("before", "waggr_signed")
    ] == pytest.approx(d_activity)
    assert d_activity > 0  # ... but predicted activation


def test_zscores_use_the_baseline_reference(caplog):
    v = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0, 10.0], "b": [5.0, 5.0, 5.0, 6.0]},
        index=["bl1", "bl2", "bl3", "wk1"],
    )
    with caplog.at_level(logging.WARNING, logger="exomir.pathways"):
        zs = zscores(v, ["bl1", "bl2", "bl3"])
    assert list(zs.z.columns) == ["a"]  # b has no baseline variation
    assert "no baseline variation" in caplog.text
    assert zs.z.loc["wk1", "a"] == pytest.approx((10 - 2) / 1.0)
    with pytest.raises(ValidationError, match="at least 3"):
        zscores(v, ["bl1"])


def test_ulm_t_and_degree_strata():
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = rng.normal(size=(4, 30))
    for row in range(4):
        fit = sm.OLS(y[row], sm.add_constant(x)).fit()
        assert ulm_t(y, x)[row] == pytest.approx(fit.tvalues[1], rel=1e-10)
    k = pd.Series(np.arange(1, 101), index=[f"m{i}" for i in range(100)])
    st = degree_strata(k, 10)
    assert st.value_counts().tolist() == [10] * 10
    assert (st.groupby(st).apply(lambda s: k[s.index].max()).diff().dropna() > 0).all()


@pytest.fixture(scope="module")
def synthetic():
    inter, sets = synthetic_interactions(seed=5)
    gsets = [_gs(p, g) for p, g in sets.items()]
    return build_network(inter, gsets, {}, None)


def test_contrast_enrichment_observed_matches_decoupler_and_detects_a_shift(synthetic):
    net = synthetic
    rng = np.random.default_rng(0)
    mirnas = sorted(set(net["mirna"]))
    stat = pd.Series(rng.normal(size=len(mirnas)), index=mirnas)
    top = net[net["pathway"] == "PI3K"].nlargest(15, "weight")["mirna"]
    stat[top] += 3.0
    res = contrast_enrichment(stat, net, n_perm=999, seed=1).set_index(
        ["pathway", "method"]
    )
    # The observed ULM equals the t of the regression over decoupler's universe.
    feats = sorted(set(net["mirna"]))
    w = (
        net[net["pathway"] == "PI3K"]
        .set_index("mirna")["weight"]
        .reindex(feats)
        .fillna(0)
    )
    t = ulm_t(stat[feats].to_numpy()[None, :], w.to_numpy())[0]
    assert res.loc[("PI3K", "ulm"), "statistic"] == pytest.approx(t, rel=1e-8)
    assert res.loc[("PI3K", "ulm"), "p_value"] < 0.01
    assert res.loc[("PI3K", "waggr"), "statistic"] > 0
    assert res["p_value"].between(1 / 1000, 1).all()


def test_planted_pathway_effect_detected_with_the_right_sign(synthetic):
    """A coordinated rise of PI3K-targeting miRNAs in the treated arm at week 1."""
    net = synthetic
    sim = simulate_trial(net, "PI3K", delta=0.5, n_per_arm=20, seed=11)
    truth = sim.truth.iloc[0]
    ref = list(sim.obs.index[sim.obs["timepoint"] == "baseline"])
    zs = zscores(sim.values, ref)
    scores = sample_scores(zs.z, net, tmin=5).join(
        sim.obs[["participant_id", "arm", "timepoint"]], on="sample_id"
    )
    parts = sim.obs[["participant_id", "arm", "stratum"]].drop_duplicates()
    tests = ancova_tests(
        scores,
        parts,
        ["placebo", "exosome"],
        "baseline",
        "week1",
        ["PI3K", "MAPK"],
        strata=["stratum"],
        n_perm=200,
        seed=1,
    )
    tests = adjust(tests, ["PI3K", "MAPK"]).set_index(["pathway", "method", "analysis"])
    for method in ("waggr", "ulm"):
        row = tests.loc[("PI3K", method, "ancova")]
        assert np.sign(row["estimate"]) == truth["expected_direction"] == 1
        assert row["p_adjusted"] < 0.01
        assert row["ci_low"] > 0
        assert tests.loc[("PI3K", method, "permutation"), "p_value"] < 0.05
    assert tests.loc[("PI3K", "waggr", "ancova"), "n"] == 40
    # The mixed-model sensitivity analysis agrees in sign.
    mixed = mixedlm_tests(scores, ["placebo", "exosome"], "baseline", "week1")
    row = mixed.set_index(["pathway", "method"]).loc[("PI3K", "waggr")]
    assert np.sign(row["estimate"]) == 1 and row["p_value"] < 0.01


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, np.nan, 0.2]
    ok = [0.01, 0.04, 0.03, 0.2]
    expected = multipletests(ok, method="holm")[1]
    got = holm(p)
    assert np.isnan(got[3])
    assert np.allclose(np.delete(got, 3), expected)


def test_read_gmt_ids_and_entrez_mapping(tmp_path, caplog):
    gmt = tmp_path / "wp.gmt"
    gmt.write_text(
        "PI3K-Akt Signaling Pathway%WikiPathways%WP4172\tWP4172\t5296\t161742\t999999\n",
        encoding="utf-8",
    )
    (gs,) = read_gmt(gmt, "entrez")
    assert gs.id == "WP4172" and gs.name == "PI3K-Akt Signaling Pathway"
    with caplog.at_level(logging.INFO, logger="exomir.pathways"):
        gs = to_symbols(gs, {"5296": "PIK3R2", "161742": "SPRED1"})
    assert gs.symbols == {"PIK3R2", "SPRED1"}
    assert "1 of 3 Entrez IDs have no symbol" in caplog.text
    sym = tmp_path / "sym.gmt"
    sym.write_text("HALLMARK_X\turl\tAKT1\tPTEN\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="not Entrez IDs"):
        read_gmt(sym, "entrez")


def test_shipped_roles_file_reads(tmp_path):
    from exomir.config import resources_dir

    roles = read_roles(resources_dir() / "pathways" / "pathway_roles.tsv")
    r = roles.set_index(["family", "gene"])["role"]
    assert r[("PI3K_AKT", "PIK3R2")] == -1 and r[("MAPK", "SPRED1")] == -1
    assert r[("PI3K_AKT", "PTEN")] == -1
    bad = tmp_path / "roles.tsv"
    bad.write_text("family\tgene\trole\nMAPK\tSPRED1\t0\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="allowed"):
        read_roles(bad)


def test_contrast_without_tested_mirnas_is_reported_not_fatal(caplog) -> None:
    """A DE table that tests no network miRNA gives 'not computed' rows and a warning."""
    from exomir.pathways.run import enrichment_for_contrast

    net = pd.DataFrame(
        {
            "pathway": ["P1", "P1", "P2"],
            "mirna": ["m1", "m2", "m1"],
            "weight": [1.0, 0.5, 1.0],
            "signed_weight": [1.0, 0.5, -1.0],
        }
    )
    stat = pd.Series({"m1": np.nan, "m2": np.nan, "other": 1.5})
    with caplog.at_level(logging.WARNING, logger="exomir.pathways"):
        rows = enrichment_for_contrast(
            "time_placebo", stat, net, tmin=1, n_permutations=10, degree_bins=2, seed=1
        )
    assert list(rows["pathway"]) == ["P1", "P2"]
    assert rows["note"].str.startswith("not computed").all()
    assert "1 tested miRNAs" in rows["note"].iloc[0]
    assert "time_placebo" in caplog.text
