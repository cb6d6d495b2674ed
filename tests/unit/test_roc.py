"""ROC of the primary miRNA against the ED reference (exomir.clinical.roc)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exomir.clinical import roc
from exomir.errors import ValidationError

# Scores (higher = dysfunction) built so that the Youden cut reproduces the
# registry's 6/7 = 85.71% and 9/11 = 81.82%.
POS_SCORE = [2, 5, 6, 7, 8, 9, 10]
NEG_SCORE = [0, 0.5, 1, 1.5, 2.5, 3, 3.5, 4, 4.5, 5.5, 6.5]


def _data(sign: float = -1.0) -> pd.DataFrame:
    """Marker x = -score (lower level = dysfunction, the default direction)."""
    x = sign * np.array(POS_SCORE + NEG_SCORE, dtype=float)
    y = [1] * len(POS_SCORE) + [0] * len(NEG_SCORE)
    ids = [f"P{i:02d}" for i in range(len(y))]
    return pd.DataFrame({"participant_id": ids, "x": x, "y": y})


def _settings(**kw: object) -> roc.RocSettings:
    return roc.RocSettings(n_bootstrap=300, **kw)


def test_hand_counted_auc_and_youden() -> None:
    """Mann-Whitney pairs by hand.

    Negatives below each positive: 10, 9, 8, 7 -> 11 each; 6 -> 10 (6.5 is
    above); 5 -> 9; 2 -> 4 (0, 0.5, 1, 1.5). AUC = (44 + 10 + 9 + 4) / 77.
    Youden: at score >= 5, 6/7 positives and 2/11 negatives (5.5, 6.5) are
    called positive: J = 6/7 + 9/11 - 1, larger than at 6 (5/7 + 10/11 - 1) or
    7 (4/7).
    """
    tab, curve = roc.run_roc(_data(), _settings(), "hsa-miR-126-3p")
    m = tab.set_index("metric")
    assert m.loc["auc", "value"] == pytest.approx(67 / 77)
    assert m.loc["sensitivity", ["numerator", "denominator"]].tolist() == [6, 7]
    assert m.loc["specificity", ["numerator", "denominator"]].tolist() == [9, 11]
    assert m.loc["sensitivity", "note"] == "6/7 = 85.71%"
    assert m.loc["specificity", "note"] == "9/11 = 81.82%"
    assert m.loc["youden_j", "value"] == pytest.approx(6 / 7 + 9 / 11 - 1)
    # marker units: positive if log2 level <= -5
    assert m.loc["cutoff", "value"] == pytest.approx(-5.0)
    assert m.loc["auc", "registry_value"] == pytest.approx(0.792)
    assert m.loc["sensitivity", "ci_method"] == "Wilson"
    assert m.loc["auc", "ci_low"] < m.loc["auc", "value"] < m.loc["auc", "ci_high"]
    lo, hi = m.loc["auc_bootstrap", ["ci_low", "ci_high"]]
    assert lo < 67 / 77 <= hi
    # Re-optimising the cut in resamples is optimistic: corrected J is smaller.
    assert m.loc["youden_j_optimism_corrected", "value"] < m.loc["youden_j", "value"]
    assert curve["fpr"].iloc[0] == 0 and curve["tpr"].iloc[-1] == 1


def test_direction_is_explicit() -> None:
    """With direction 'higher' the same data give 1 - AUC."""
    tab, _ = roc.run_roc(_data(), _settings(direction="higher"))
    assert tab.set_index("metric").loc["auc", "value"] == pytest.approx(10 / 77)
    tab, _ = roc.run_roc(_data(sign=1.0), _settings(direction="higher"))
    assert tab.set_index("metric").loc["auc", "value"] == pytest.approx(67 / 77)


def test_delong_on_tiny_fixture() -> None:
    """Scores 3, 5, 7 vs 1, 5, 6: AUC 11/18, DeLong variance 78/972 (see test_stats)."""
    d = pd.DataFrame(
        {
            "participant_id": list("abcdef"),
            "x": [-3, -5, -7, -1, -5, -6],
            "y": [1, 1, 1, 0, 0, 0],
        }
    )
    tab, _ = roc.run_roc(d, _settings())
    row = tab.set_index("metric").loc["auc"]
    assert row["value"] == pytest.approx(11 / 18)
    assert row["note"] == f"DeLong variance {78 / 972:.6g}"


def test_refuses_without_reference() -> None:
    """No ed_reference: every row says why; the arm is never used as the label."""
    par = pd.DataFrame(
        {"participant_id": ["P1", "P2", "P3"], "arm": ["placebo", "exosome", "exosome"]}
    )
    base = pd.DataFrame({"participant_id": ["P1", "P2", "P3"], "x": [1.0, 2.0, 3.0]})
    data = roc.marker_and_label(par, base)
    tab, curve = roc.run_roc(data, _settings())
    assert curve.empty
    assert set(tab["note"]) == {roc.NOT_COMPUTED}
    assert tab["value"].isna().all()
    par["ed_reference"] = [None, None, None]
    tab, _ = roc.run_roc(roc.marker_and_label(par, base), _settings())
    assert set(tab["note"]) == {roc.NOT_COMPUTED}


def test_too_few_per_class_and_bad_label() -> None:
    par = pd.DataFrame(
        {"participant_id": ["P1", "P2", "P3"], "ed_reference": [1, 0, 0]}
    )
    base = pd.DataFrame({"participant_id": ["P1", "P2", "P3"], "x": [1.0, 2.0, 3.0]})
    tab, _ = roc.run_roc(roc.marker_and_label(par, base), _settings())
    assert tab["note"].iloc[0].startswith("not computed: 1 reference-positive and 2")
    par["ed_reference"] = [1, 0, 2]
    with pytest.raises(ValidationError) as info:
        roc.marker_and_label(par, base)
    assert str(info.value.issues[0]) == (
        "participants.tsv (participant_id=P3), column 'ed_reference': "
        "'2' is not a reference label; use 0, 1 or leave empty"
    )


def test_plot_written(tmp_path) -> None:
    tab, curve = roc.run_roc(_data(), _settings())
    roc.plot_roc(tab, curve, tmp_path / "roc.png")
    roc.plot_roc(roc.not_computed(), curve.iloc[0:0], tmp_path / "none.png")
    assert (tmp_path / "roc.png").stat().st_size > 0
    assert (tmp_path / "none.png").stat().st_size > 0
