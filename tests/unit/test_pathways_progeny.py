"""decoupler is used correctly: PROGENy's published test scores are reproduced.

PROGENy's package test scores its 121-gene x 8-sample input with the top-10
model and scales each pathway across samples. The top-100 weights restricted
to the input's genes equal the top-10 model for 10 of the 14 pathways (PI3K
among them; EGFR, MAPK, NFkB and TNFa keep extra genes), so for those the
scaled decoupler waggr scores must match the published values.
"""

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "progeny"
DIFFERENT = {"EGFR", "MAPK", "NFkB", "TNFa"}


@pytest.fixture(scope="module")
def progeny():
    expr = pd.read_csv(DATA / "progeny_test_human_input.csv", index_col=0)
    expected = pd.read_csv(DATA / "progeny_test_human_def_expected.csv", index_col=0)
    net = pd.read_csv(DATA / "progeny_human_top100_weights_long.tsv", sep="\t")
    net = net[net["target"].isin(expr.index)].reset_index(drop=True)
    return expr, expected, net


def _scale(df: pd.DataFrame) -> pd.DataFrame:
    return (df - df.mean(axis=0)) / df.std(axis=0, ddof=1)


@pytest.mark.parametrize("fun", ["wsum", "wmean"])
def test_waggr_reproduces_published_progeny_scores(progeny, fun):
    import decoupler as dc

    expr, expected, net = progeny
    scores, _ = dc.mt.waggr(expr.T, net, tmin=1, times=1, fun=fun)
    scaled = _scale(scores).loc[expected.index]
    same = [p for p in expected.columns if p not in DIFFERENT]
    assert len(same) == 10 and "PI3K" in same
    diff = (scaled[same] - expected[same]).abs().to_numpy()
    assert diff.max() < 1e-6
    # The four pathways with extra genes do differ (the fixture is discriminating).
    for p in DIFFERENT:
        assert (scaled[p] - expected[p]).abs().max() > 1e-3
