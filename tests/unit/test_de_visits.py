"""Tests of the DE stage across visits: per-visit contrasts, the LRT, invariance.

The LRT's agreement with R DESeq2 (nbinomLRT) is checked against fixtures made
by tests/data/deseq2_lrt/make_fixtures.R (see the README there).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir import de
from exomir.de.lrt import fit_lrt, lrt_columns, lrt_design, lrt_statistics
from exomir.errors import ValidationError

FIXTURES = Path(__file__).parents[1] / "data" / "deseq2_lrt"
TPS = ["baseline", "week1", "month3", "month12"]
CFG = {
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "design": {"arms": ["placebo", "exosome"], "timepoints": TPS},
}
#: Planted arm x month3 effects (log2) of the synthetic trial.
PLANTED = {f"hsa-miR-y{i:03d}-5p": v for i, v in enumerate([2.0, -2.0, 1.8, -1.8, 2.2])}


def simulate_visits(
    n_per_arm: int = 10, n_null: int = 150, seed: int = 11
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """NB trial with four draws, arm x month3 effects and a month3-only miRNA.

    Returns counts (miRNA x sample), samples and participants. Baseline and
    week-1 counts are drawn before any later visit's, from their own generator,
    so cutting the trial to two visits gives the same week-1 data.
    """
    names = ["hsa-miR-126-3p", *PLANTED, "hsa-miR-late-3p"]
    names += [f"hsa-miR-n{i:03d}-3p" for i in range(n_null)]
    rng0 = np.random.default_rng([seed, 0])
    mu0 = np.exp(rng0.normal(np.log(300), 1.0, len(names)))
    mu0[0] = 3000.0
    beta3 = np.array([PLANTED.get(m, 0.0) for m in names])
    late = np.array([m == "hsa-miR-late-3p" for m in names])
    pids = [f"P{i + 1:02d}" for i in range(2 * n_per_arm)]
    arms = ["placebo" if i % 2 == 0 else "exosome" for i in range(len(pids))]
    u = {p: rng0.normal(0, 0.3, len(names)) for p in pids}
    cols, rows = {}, []
    for k, tp in enumerate(TPS):
        rng = np.random.default_rng([seed, 1 + k])
        for pid, arm in zip(pids, arms, strict=True):
            eta = u[pid] + np.log(2) * beta3 * (tp == "month3" and arm == "exosome")
            mu = mu0 * np.exp(eta) * np.exp(rng.normal(0, 0.25))
            mu = np.where(late & (tp != "month3"), 0.0, mu)
            mu = np.where(late & (tp == "month3"), 400.0, mu)
            alpha = 0.08 + 1.0 / np.maximum(mu, 1e-9)
            x = np.where(
                mu > 0, rng.negative_binomial(1 / alpha, 1 / (1 + mu * alpha)), 0
            )
            sid = f"{pid}_{tp}"
            cols[sid] = x
            rows.append(
                {
                    "sample_id": sid,
                    "participant_id": pid,
                    "timepoint": tp,
                    "library_batch": "B1",
                }
            )
    counts = pd.DataFrame(cols, index=pd.Index(names, name="mirna")).astype(np.int64)
    parts = pd.DataFrame({"participant_id": pids, "arm": arms})
    return counts, pd.DataFrame(rows), parts


@pytest.fixture(scope="module")
def visits() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return simulate_visits()


# --------------------------------------------------------------------------- #
# Settings
# --------------------------------------------------------------------------- #


def test_two_timepoints_keep_the_five_contrasts_and_no_lrt() -> None:
    cfg = copy.deepcopy(CFG)
    cfg["design"]["timepoints"] = ["baseline", "week1"]
    s = de.de_settings(cfg)
    assert list(s.contrasts) == [
        "treatment_effect",
        "time_placebo",
        "time_exosome",
        "arms_week1",
        "arms_baseline",
    ]
    assert s.lrt is None
    assert s.filter_scope(("baseline", "week1")) is None
    assert s.filter_scope(("baseline",)) is None


def test_per_visit_contrasts_and_lrt_are_derived() -> None:
    s = de.de_settings(CFG)
    assert list(s.contrasts)[:5] == [
        "treatment_effect",
        "time_placebo",
        "time_exosome",
        "arms_week1",
        "arms_baseline",
    ]
    assert s.contrasts["treatment_effect"].timepoints == ("baseline", "week1")
    for t in ("month3", "month12"):
        c = s.contrasts[f"treatment_effect_{t}"]
        assert (c.kind, c.timepoints, c.arms) == (
            "interaction",
            ("baseline", t),
            ("placebo", "exosome"),
        )
        assert s.contrasts[f"time_exosome_{t}"].timepoints == ("baseline", t)
        assert s.contrasts[f"arms_{t}"].timepoints == (t,)
    assert len(s.contrasts) == 5 + 2 * 4
    assert s.lrt is not None
    assert s.lrt.timepoints == tuple(TPS)
    assert s.lrt.terms == [f"treated_followup[{t}]" for t in TPS[1:]]
    # filter scopes: the trial as if cut to the reference and the fit's visits
    assert s.filter_scope(("baseline", "week1")) == ("baseline", "week1")
    assert s.filter_scope(("week1",)) == ("baseline", "week1")
    assert s.filter_scope(("baseline",)) == ("baseline", "week1")
    assert s.filter_scope(("month3",)) == ("baseline", "month3")
    assert s.filter_scope(tuple(TPS)) is None


def test_primary_visit_moves_the_primary_contrasts() -> None:
    cfg = copy.deepcopy(CFG)
    cfg["design"]["primary_visit"] = "month3"
    s = de.de_settings(cfg)
    assert s.contrasts["treatment_effect"].timepoint == "month3"
    assert "arms_month3" in list(s.contrasts)[:5]
    assert s.contrasts["treatment_effect_week1"].timepoint == "week1"
    assert "treatment_effect_month3" not in s.contrasts
    # an explicit contrast without a timepoint uses the primary visit
    cfg["de"] = {"contrasts": {"te": {"kind": "interaction"}}}
    assert de.de_settings(cfg).contrasts["te"].timepoint == "month3"


def test_lrt_config() -> None:
    cfg = copy.deepcopy(CFG)
    cfg["de"] = {"lrt": {"timepoints": ["baseline", "month3"]}}
    assert de.de_settings(cfg).lrt is None  # one post-dose timepoint: auto = off
    cfg["de"]["lrt"]["enabled"] = True
    spec = de.de_settings(cfg).lrt
    assert spec is not None and spec.post_dose == ("month3",)
    cfg["de"] = {"lrt": {"enabled": False}}
    assert de.de_settings(cfg).lrt is None


@pytest.mark.parametrize(
    ("lrt", "message"),
    [
        ({"timepoints": ["baseline", "month6"]}, "timepoint 'month6' is not a level"),
        ({"timepoints": ["week1", "month3"]}, "must be the reference 'baseline'"),
        ({"arm": "exosme"}, "arm 'exosme' is not a level"),
        ({"reference_arm": "exosome"}, "both 'exosome'"),
        ({"covariates": ["timepoint"]}, "part of the design"),
    ],
)
def test_bad_lrt_config_is_a_config_error(lrt: dict, message: str) -> None:
    cfg = copy.deepcopy(CFG)
    cfg["de"] = {"lrt": lrt}
    with pytest.raises(ValidationError, match=re.escape(message)):
        de.de_settings(cfg)


# --------------------------------------------------------------------------- #
# Agreement with R DESeq2's nbinomLRT
# --------------------------------------------------------------------------- #


def _fixture() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series]:
    counts = de.read_counts(FIXTURES / "counts.tsv")
    cd = pd.read_csv(FIXTURES / "coldata.tsv", sep="\t", dtype=str)
    r = pd.read_csv(FIXTURES / "r_lrt.tsv", sep="\t").set_index("mirna")
    sf = pd.read_csv(FIXTURES / "r_lrt_size_factors.tsv", sep="\t")
    return counts, cd, r, sf.set_index("sample_id")["size_factor"]


def test_lrt_statistics_equal_r_at_r_dispersions() -> None:
    """The LRT itself: R's size factors and dispersions in, R's statistics out."""
    counts, cd, r, sf = _fixture()
    spec = de.de_settings(CFG).lrt
    assert spec is not None
    meta = cd.set_index("sample_id", drop=False).loc[sf.index]
    full, reduced, _ = lrt_design(meta, spec)
    stat, beta = lrt_statistics(
        counts.loc[r.index, sf.index].T.to_numpy(),
        sf.to_numpy(),
        r["dispersion"].to_numpy(),
        full.to_numpy(),
        full[reduced].to_numpy(),
    )
    np.testing.assert_allclose(stat, r["stat"], rtol=1e-6, atol=1e-5)
    for t in ("week1", "month3", "month12"):
        lfc = beta[:, list(full.columns).index(f"treated_followup[{t}]")] / np.log(2)
        np.testing.assert_allclose(lfc, r[f"lfc_{t}"], atol=1e-4)


def test_lrt_pipeline_agrees_with_r_deseq2() -> None:
    """Whole test (pydeseq2 size factors and dispersions) against DESeq2."""
    counts, cd, r, sf_r = _fixture()
    cfg = copy.deepcopy(CFG)
    excluded = pd.read_csv(FIXTURES / "mirnas.tsv", sep="\t")["mirna"][:7]
    cfg["de"] = {"control": {"exclude_names": list(excluded)}}
    s = de.de_settings(cfg)
    prep = de.prepare(
        counts,
        cd[["sample_id", "participant_id", "timepoint"]],
        cd[["participant_id", "arm"]].drop_duplicates(),
        s,
    )
    ref = pd.read_csv(FIXTURES / "mirnas.tsv", sep="\t").set_index("mirna")
    assert set(prep.kept) == set(ref.index[ref["kept"]])
    assert set(prep.control.mirnas) == set(ref.index[ref["control"]])
    assert s.lrt is not None
    res = fit_lrt(prep.counts, prep.meta, s.lrt, s, prep.control, prep.kept)
    assert list(res.table.columns) == lrt_columns(s.lrt)
    left = set(res.samples.index[~res.samples["included"]])
    assert left == {"P17_baseline", "P24_week1", "P24_month3", "P24_month12"}
    np.testing.assert_allclose(res.size_factors[sf_r.index], sf_r, rtol=1e-6)
    j = res.table.set_index("mirna").join(r, rsuffix="_r", how="inner")
    assert len(j) == len(r) == len(prep.kept)
    assert (j["df"] == 3).all()
    # dispersions differ slightly between the implementations (low counts)
    assert ((j["stat"] - j["stat_r"]).abs() <= 0.05 * (1 + j["stat_r"])).all()
    logp = -np.log10(j["pvalue"])
    assert (logp - -np.log10(j["pvalue_r"])).abs().max() <= 0.05
    assert (j["log2FoldChange_month3"] - j["lfc_month3"]).abs().max() <= 0.01
    sig, sig_r = set(j.index[j["padj"] < 0.05]), set(j.index[j["padj_r"] < 0.05])
    assert len(sig_r) >= 6 and sig == sig_r


# --------------------------------------------------------------------------- #
# Synthetic trial: planted arm x month3 effects, calibration, invariance
# --------------------------------------------------------------------------- #


def test_lrt_recovers_planted_month3_effects(visits) -> None:
    counts, samples, parts = visits
    s = de.de_settings(CFG)
    prep = de.prepare(counts, samples, parts, s)
    assert s.lrt is not None
    res = fit_lrt(prep.counts, prep.meta, s.lrt, s, prep.control, prep.kept)
    t = res.table.set_index("mirna")
    hits = set(t.index[t["padj"] < 0.05])
    assert set(PLANTED) <= hits
    for m, v in PLANTED.items():
        assert abs(t.at[m, "log2FoldChange_month3"] - v) < 0.6
        assert abs(t.at[m, "log2FoldChange_week1"]) < 0.6
    null = t.loc[t.index.str.startswith("hsa-miR-n"), "pvalue"].dropna()
    assert len(null) >= 140
    assert len(hits - set(PLANTED) - {"hsa-miR-late-3p"}) <= 3
    # roughly calibrated: share below 0.05 and the median of null p-values
    assert 0.0 <= (null < 0.05).mean() <= 0.10
    assert 0.35 <= null.median() <= 0.65


def _cut(visits, tps: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    counts, samples, parts = visits
    smp = samples[samples["timepoint"].isin(tps)]
    return counts[list(smp["sample_id"])], smp, parts


def test_week1_contrast_unchanged_by_later_visits(visits, tmp_path: Path) -> None:
    """The invariance rule: the trial with four draws and the same trial cut to
    baseline and week1 give byte-identical primary contrast tables."""
    two = copy.deepcopy(CFG)
    two["design"]["timepoints"] = ["baseline", "week1"]
    s2, s4 = de.de_settings(two), de.de_settings(CFG)
    out = {}
    for label, s, data in (
        ("two", s2, _cut(visits, ["baseline", "week1"])),
        ("four", s4, visits),
    ):
        for name in ("treatment_effect", "time_exosome", "arms_week1", "arms_baseline"):
            scope = s.filter_scope(s.contrasts[name].timepoints)
            prep = de.prepare(*data, s, scope=scope)
            paths = [tmp_path / f"{label}.{name}.tsv", tmp_path / f"{label}.{name}.s"]
            de.run_contrast(prep, name, *paths)
            out[label, name] = paths
    for name in ("treatment_effect", "time_exosome", "arms_week1", "arms_baseline"):
        a, b = out["two", name], out["four", name]
        assert a[0].read_bytes() == b[0].read_bytes(), name
        sa = pd.read_csv(a[1], sep="\t").drop(columns="design_notes")
        sb = pd.read_csv(b[1], sep="\t").drop(columns="design_notes")
        pd.testing.assert_frame_equal(sa, sb)
    notes = pd.read_csv(out["four", "treatment_effect"][1], sep="\t")["design_notes"]
    assert notes.str.contains("libraries of baseline, week1").all()
    # Without the scope, the month3-only miRNA passes the cohort-wide filter
    # and enters (and changes) the week-1 table: the scope is what keeps it out.
    prep = de.prepare(*visits, s4)
    assert "hsa-miR-late-3p" in prep.kept
    de.run_contrast(prep, "treatment_effect", tmp_path / "all.tsv", tmp_path / "all.s")
    assert (tmp_path / "all.tsv").read_bytes() != out["two", "treatment_effect"][
        0
    ].read_bytes()


def test_month3_contrast_finds_the_planted_effects(visits, tmp_path: Path) -> None:
    s = de.de_settings(CFG)
    name = "treatment_effect_month3"
    prep = de.prepare(*visits, s, scope=s.filter_scope(s.contrasts[name].timepoints))
    res = de.run_contrast(prep, name, tmp_path / "m3.tsv", tmp_path / "m3.s")
    t = res.table.set_index("mirna")
    assert set(PLANTED) <= set(t.index[t["padj"] < 0.05])
    assert set(res.table["mirna"]) >= {"hsa-miR-late-3p"}


def test_unknown_lrt_covariate_is_named_by_preflight() -> None:
    from exomir.preflight import check_contrasts

    cfg = copy.deepcopy(CFG)
    cfg["de"] = {"lrt": {"covariates": ["sequencing_lane"]}}
    tables = {
        "samples": pd.DataFrame(
            columns=["sample_id", "participant_id", "timepoint", "library_batch"]
        ),
        "participants": pd.DataFrame(columns=["participant_id", "arm"]),
    }
    (issue,) = check_contrasts(cfg, tables)
    assert issue.column == "de.lrt.covariates"
    assert "'sequencing_lane'" in issue.message
