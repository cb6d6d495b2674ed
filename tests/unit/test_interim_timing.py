"""Interim by information time (exomir.clinical.interim_timing) on constructed accrual."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from exomir.clinical import interim
from exomir.clinical.interim_timing import (
    current_planned_look,
    find_look,
    primary_visit_dates,
)
from exomir.primary.settings import primary_settings

CFG = {
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "design": {
        "arms": ["placebo", "exosome"],
        "timepoints": ["baseline", "week1"],
        "strata": [],
    },
    "reference": {"species": "hsa"},
}
START = pd.Timestamp("2025-01-01")


def _dates(n: int, step: int = 3) -> pd.Series:
    """Participant i's week-1 draw on day step * i (P00 first)."""
    ids = [f"P{i:02d}" for i in range(n)]
    return pd.Series([START + pd.Timedelta(days=step * i) for i in range(n)], ids)


def test_current_planned_look() -> None:
    assert current_planned_look((0.5, 1.0), ()) == (1, 0.5)
    assert current_planned_look((0.25, 0.5, 1.0), (0.26,)) == (2, 0.5)
    assert current_planned_look((0.5, 1.0), (0.5,)) is None


def test_look_date_is_the_day_the_target_was_reached() -> None:
    # 30 evaluable, planned 40, fraction 0.5 -> target ceil(20) = 20: the 20th
    # draw is P19 on day 3 * 19 = 57.
    d = _dates(30)
    t = find_look(list(d.index), d, 1, 0.5, 40, None)
    assert t.target == 20 and t.reached
    assert t.look_date == START + pd.Timedelta(days=57)
    assert t.included == frozenset(d.index[:20])
    # Fraction 1/3 of 40 = 13.33 -> ceil 14: the 14th draw (P13, day 39).
    t = find_look(list(d.index), d, 1, 1 / 3, 40, None)
    assert t.target == 14 and t.look_date == START + pd.Timedelta(days=39)


def test_ties_on_the_look_day_are_all_in() -> None:
    d = _dates(30)
    d.iloc[20] = d.iloc[19]  # P20 drawn the same day as P19
    t = find_look(list(d.index), d, 1, 0.5, 40, None)
    assert len(t.included) == 21 and "P20" in t.included


def test_data_cut_before_target_and_target_not_reached() -> None:
    d = _dates(30)
    cut = START + pd.Timedelta(days=31)  # P00..P10 drawn by then
    t = find_look(list(d.index), d, 1, 0.5, 40, cut)
    assert not t.reached and t.look_date == cut and len(t.included) == 11
    assert "data_cut" in t.rule
    t = find_look(list(d.index[:12]), d, 1, 0.5, 40, None)
    assert not t.reached and t.look_date == d.iloc[11] and len(t.included) == 12


def test_undated_participants_are_counted_and_left_out() -> None:
    d = _dates(30)
    d.iloc[[0, 1]] = pd.NaT
    t = find_look(list(d.index), d, 1, 0.5, 40, None)
    assert t.n_undated == 2
    # the 20th dated draw is now P21 (day 63)
    assert t.look_date == START + pd.Timedelta(days=63)
    assert "P00" not in t.included and len(t.included) == 20


def test_primary_visit_dates_take_the_day_of_the_visit_draw() -> None:
    s = pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P2", "P3"],
            "timepoint": ["baseline", "week1", "week1", "week1"],
            "collection_datetime": [
                "2025-01-01T08:00:00",
                "2025-01-09T17:45:00",
                None,
                "2025-02-01T07:00:00",
            ],
        }
    )
    d = primary_visit_dates(s, "week1")
    assert d["P1"] == pd.Timestamp("2025-01-09")
    assert pd.isna(d["P2"]) and d["P3"] == pd.Timestamp("2025-02-01")


def _trial(tmp_path: Path, n: int = 40) -> tuple[Path, Path, Path, pd.DataFrame]:
    """Accrual: participant i's week-1 draw on day 3 i; 4 without follow-up."""
    rng = np.random.default_rng(5)
    ids = [f"P{i:02d}" for i in range(n)]
    treated = np.tile([0.0, 1.0], n // 2)
    bl = rng.normal(8, 1, n)
    fu = 1 + 0.8 * bl + 0.5 * treated + rng.normal(0, 0.6, n)
    fu[-4:] = np.nan
    vals = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": np.where(treated == 1, "exosome", "placebo"),
            "treated": treated,
            "y_baseline": bl,
            "y_followup": fu,
        }
    )
    vpath = tmp_path / "vals.tsv"
    vals.to_csv(vpath, sep="\t", index=False)
    # The primary stage's row on all 36 evaluable (statsmodels HC3 directly).
    ok = vals["y_followup"].notna()
    x = sm.add_constant(vals.loc[ok, ["treated", "y_baseline"]])
    fit = sm.OLS(vals.loc[ok, "y_followup"], x).fit(cov_type="HC3")
    apath = tmp_path / "anc.tsv"
    pd.DataFrame(
        {
            "analysis": ["primary_ancova"],
            "estimate_log2": [fit.params["treated"]],
            "se_log2": [fit.bse["treated"]],
            "n": [int(ok.sum())],
            "df": [fit.df_resid],
        }
    ).to_csv(apath, sep="\t", index=False)
    spath = tmp_path / "samples.tsv"
    days = [START + pd.Timedelta(days=3 * i) for i in range(n)]
    pd.DataFrame(
        {
            "sample_id": [f"{p}_W1" for p in ids],
            "participant_id": ids,
            "timepoint": "week1",
            "collection_datetime": [f"{d.date()}T10:00:00" for d in days],
            "fastq": "x.fq.gz",
            "protocol": "truseq",
        }
    ).to_csv(spath, sep="\t", index=False)
    return vpath, apath, spath, vals


def _run(tmp_path: Path, name: str, cfg: dict, **kw: object) -> pd.DataFrame:
    vpath, apath, spath, _ = _trial(tmp_path)
    out = tmp_path / f"{name}.tsv"
    interim.interim_step(
        ancova=apath,
        values=vpath,
        table=out,
        settings=interim.interim_settings({"interim": cfg}),
        samples=spath,
        looks=tmp_path / f"{name}_looks.tsv",
        primary=primary_settings(CFG),
        **kw,  # type: ignore[arg-type]
    )
    return pd.read_csv(out, sep="\t")


def test_look_at_half_information_refits_on_the_interim_dataset(
    tmp_path: Path,
) -> None:
    # planned 60, fraction 0.5 -> target 30: participants P00..P29 (day 87).
    _run(
        tmp_path, "timed", {"planned_evaluable": 60, "look_timing": "information_time"}
    )
    looks = pd.read_csv(tmp_path / "timed_looks.tsv", sep="\t")
    r = looks.iloc[0]
    assert r["target_evaluable"] == 30 and bool(r["target_reached"])
    assert r["look_date"] == (START + pd.Timedelta(days=87)).date().isoformat()
    assert r["n_evaluable_at_look"] == 30 and r["n_evaluable_in_data"] == 36
    assert r["actual_fraction"] == pytest.approx(0.5)
    assert r["z_boundary_planned"] == pytest.approx(2.772, abs=5e-4)
    assert r["z_boundary_actual"] == pytest.approx(2.772, abs=5e-4)
    tab = pd.read_csv(tmp_path / "timed.tsv", sep="\t")
    cur = tab[tab["look_role"] == "current"].iloc[0]
    # The statistic is the HC3 ANCOVA of the first 30 participants only.
    _, _, _, vals = _trial(tmp_path)
    sub = vals.iloc[:30]
    x = sm.add_constant(sub[["treated", "y_baseline"]])
    fit = sm.OLS(sub["y_followup"], x).fit(cov_type="HC3")
    t = fit.params["treated"] / fit.bse["treated"]
    assert cur["observed_t"] == pytest.approx(t, rel=1e-5)  # written %.6g
    assert cur["observed_df"] == 27
    assert cur["n_evaluable"] == 30
    assert "refitted on the 30 participants" in cur["decision_note"]


def test_actual_fraction_past_plan_recomputes_boundary(tmp_path: Path) -> None:
    # Same-day ties are absent here; a data cut after the last draw, planned 50:
    # target 25 reached on day 72 -> 25 in; the boundary at t = 0.5 (25/50).
    # With planned 70 -> target 35 is never reached (36 evaluable, P35 day 105,
    # but the cut at day 90 leaves 31): actual t = 31/70, boundary at that t.
    _run(
        tmp_path,
        "cut",
        {"planned_evaluable": 70, "look_timing": "information_time"},
        data_cut=(START + pd.Timedelta(days=90)).date().isoformat(),
    )
    r = pd.read_csv(tmp_path / "cut_looks.tsv", sep="\t").iloc[0]
    assert not bool(r["target_reached"]) and r["n_evaluable_at_look"] == 31
    t = 31 / 70
    assert r["actual_fraction"] == pytest.approx(t)
    # OBF-type first look: alpha(t) = 2 - 2 Phi(z_{0.025} / sqrt(t)) -> |z| = z/sqrt(t)
    assert r["z_boundary_actual"] == pytest.approx(
        stats.norm.isf(0.025) / math.sqrt(t), abs=1e-5
    )
    assert r["data_cut"] == "2025-04-01"


def test_same_result_keeps_interim_table_byte_identical(tmp_path: Path) -> None:
    # planned 72, fraction 0.5 -> target 36 = every evaluable participant.
    _run(tmp_path, "data", {"planned_evaluable": 72})
    _run(
        tmp_path, "timed", {"planned_evaluable": 72, "look_timing": "information_time"}
    )
    a = (tmp_path / "data.tsv").read_bytes()
    b = (tmp_path / "timed.tsv").read_bytes()
    assert a == b
    assert not (tmp_path / "data_looks.tsv").exists()
    r = pd.read_csv(tmp_path / "timed_looks.tsv", sep="\t").iloc[0]
    assert "primary ANCOVA as run" in r["interim_dataset"]


def test_bad_data_cut_names_the_config_key(tmp_path: Path) -> None:
    from exomir.errors import ValidationError

    with pytest.raises(ValidationError, match=r"trial\.data_cut.*not a date"):
        _run(
            tmp_path,
            "bad",
            {"planned_evaluable": 60, "look_timing": "information_time"},
            data_cut="next spring",
        )
    assert not (tmp_path / "bad.tsv").exists()
