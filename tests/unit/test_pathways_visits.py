"""Tests of exomir.pathways.visits: the pathway-score ANCOVA at every post-dose visit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exomir.pathways.settings import PathwaySettings
from exomir.pathways.stats import adjust, ancova_tests
from exomir.pathways.visits import BY_VISIT_COLUMNS, ancova_by_visit, by_visit_step

TPS = ("baseline", "week1", "month3")


def _scores(effect: float = 0.8, n_per_arm: int = 20, seed: int = 5) -> pd.DataFrame:
    """Scores with a planted treated-arm shift of PI3K at month3 only."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(2 * n_per_arm):
        pid, arm = f"P{i:02d}", ("placebo", "exosome")[i % 2]
        for pw in ("PI3K", "MAPK"):
            u = rng.normal(0, 1)
            for tp in TPS:
                shift = effect if (pw, tp, arm) == ("PI3K", "month3", "exosome") else 0
                rows.append(
                    {
                        "sample_id": f"{pid}_{tp}",
                        "participant_id": pid,
                        "arm": arm,
                        "timepoint": tp,
                        "pathway": pw,
                        "method": "waggr",
                        "score": u + rng.normal(0, 0.4) + shift,
                        "n_mirnas": 10,
                    }
                )
    return pd.DataFrame(rows)


def _settings(n_perm: int = 200) -> PathwaySettings:
    return PathwaySettings(
        sources=(),
        id_types=(),
        primary=("PI3K", "MAPK"),
        arms=("placebo", "exosome"),
        timepoints=TPS,
        primary_mirna="hsa-miR-126-3p",
        ancova_permutations=n_perm,
        seed=3,
        primary_visit="week1",
    )


def _parts(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[["participant_id", "arm"]].drop_duplicates()


def test_planted_month3_effect_found_at_month3_only() -> None:
    scores = _scores()
    res = ancova_by_visit(scores, _parts(scores), _settings())
    assert list(res.columns) == BY_VISIT_COLUMNS
    assert list(dict.fromkeys(res["visit"])) == ["week1", "month3"]
    t = res.set_index(["visit", "pathway", "analysis"])
    m3 = t.loc[("month3", "PI3K", "ancova")]
    assert m3["ci_low"] < 0.8 < m3["ci_high"]
    assert m3["p_adjusted"] < 0.01
    assert t.loc[("month3", "PI3K", "permutation"), "p_value"] < 0.05
    for visit, pw in (("week1", "PI3K"), ("week1", "MAPK"), ("month3", "MAPK")):
        row = t.loc[(visit, pw, "ancova")]
        assert row["ci_low"] < 0 < row["ci_high"]
    # Independent check of the month3 estimate: OLS of the month3 score on
    # arm and baseline score, by least squares.
    d = scores[scores["pathway"] == "PI3K"].pivot(
        index="participant_id", columns="timepoint", values="score"
    )
    arm = (_parts(scores).set_index("participant_id")["arm"] == "exosome").astype(float)
    x = np.column_stack([np.ones(len(d)), arm[d.index], d["baseline"]])
    beta = np.linalg.lstsq(x, d["month3"].to_numpy(), rcond=None)[0]
    assert m3["estimate"] == pytest.approx(beta[1], rel=1e-10)
    assert m3["n"] == 40
    assert "holm over 2 primary" in m3["adjustment"]


def test_primary_visit_rows_equal_the_primary_ancova() -> None:
    """The week-1 rows are the ANCOVA rows tests.tsv holds for the primary visit."""
    scores = _scores()
    s = _settings()
    res = ancova_by_visit(scores, _parts(scores), s)
    wk1 = res[res["visit"] == "week1"].drop(columns="visit").reset_index(drop=True)
    ref = adjust(
        ancova_tests(
            scores,
            _parts(scores),
            list(s.arms),
            "baseline",
            "week1",
            list(s.primary),
            n_perm=s.ancova_permutations,
            seed=s.seed,
        ),
        list(s.primary),
    )
    ref = ref.sort_values(["analysis", "method", "pathway"], kind="mergesort")
    ref = ref.reset_index(drop=True)
    pd.testing.assert_frame_equal(wk1[ref.columns], ref)


def test_by_visit_step_writes_the_table(tmp_path) -> None:
    scores = _scores()
    scores.to_csv(tmp_path / "scores.tsv", sep="\t", index=False)
    parts = _parts(scores).assign(stratum="S1")
    parts.to_csv(tmp_path / "participants.tsv", sep="\t", index=False)
    out = tmp_path / "ancova_by_visit.tsv"
    by_visit_step(
        scores=tmp_path / "scores.tsv",
        participants=tmp_path / "participants.tsv",
        table=out,
        settings=_settings(n_perm=0),
    )
    t = pd.read_csv(out, sep="\t")
    assert list(t.columns) == BY_VISIT_COLUMNS
    assert len(t) == 2 * 2  # two visits x two pathways, ancova rows only
