"""Repeated measures in the stages: clinical and primary-miRNA MMRM tables, and
the invariance rule (later visits do not leak into the week-1 analyses)."""

from __future__ import annotations

import copy

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from test_clinical_models import _settings
from test_primary import CFG, OTHER

from exomir import primary
from exomir.clinical.longitudinal import clinical_mmrm
from exomir.clinical.settings import ParamSpec
from exomir.config import post_dose_visits, primary_visit
from exomir.primary.longitudinal import primary_mmrm
from exomir.stats.mmrm_table import (
    MMRM_COLUMNS,
    LongitudinalSettings,
    longitudinal_settings,
)

VISITS = ["week1", "month1", "month3"]
DAYS = {"week1": (7.0, 2.0), "month1": (30.0, 7.0), "month3": (91.0, 14.0)}
EFFECT = {"week1": -4.0, "month1": -8.0, "month3": -2.0}


def _clinical(n_per_arm: int = 50, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long SYSBP (two readings a visit) and UPCR with planted arm effects by visit."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    pids = [f"P{i:03d}" for i in range(n)]
    arms = np.repeat(["placebo", "exosome"], n_per_arm)
    strata = rng.choice(["a", "b"], n)
    rows = []
    for i, pid in enumerate(pids):
        b = rng.normal(150, 10)
        lb = rng.normal(3.0, 0.5)
        shared = rng.normal(0, 5)
        rows.append((pid, "baseline", 0, "SYSBP", b))
        rows.append((pid, "baseline", 0, "UPCR", float(np.exp(lb))))
        for v in VISITS:
            if v != "week1" and rng.random() < 0.15:
                continue  # missed visit
            day = DAYS[v][0] + (20 if (i == 0 and v == "month1") else 0)
            mean = 0.5 * b + 70 + (arms[i] == "exosome") * EFFECT[v] + shared
            for _rep in range(2):
                rows.append((pid, v, day, "SYSBP", mean + rng.normal(0, 4)))
            ly = 0.6 * lb + 1 + (arms[i] == "exosome") * -0.3 + rng.normal(0, 0.3)
            rows.append((pid, v, day, "UPCR", float(np.exp(ly))))
    clin = pd.DataFrame(
        rows,
        columns=["participant_id", "visit", "days_since_dose", "param", "value_num"],
    )
    clin["unit"] = clin["param"].map({"SYSBP": "mm[Hg]", "UPCR": "mg/mmol"})
    part = pd.DataFrame({"participant_id": pids, "arm": arms, "stratum": strata})
    return clin, part


def test_clinical_mmrm_recovers_planted_effects_and_flags_windows() -> None:
    clin, part = _clinical()
    params = {
        "SYSBP": ParamSpec(
            "SYSBP", "SBP", "VS", "mm[Hg]", "continuous", "ancova", endpoint=True
        ),
        "UPCR": ParamSpec(
            "UPCR",
            "UPCR",
            "UR",
            "mg/mmol",
            "continuous",
            "ancova",
            transform="log",
            endpoint=True,
        ),
    }
    s = _settings(params=params, strata=("stratum",), populations=("mITT",))
    pops = part.assign(in_mitt=True, in_pp=True)
    ls = LongitudinalSettings(clinical_visits=tuple(VISITS), mirna_visits=(), days=DAYS)
    res = clinical_mmrm(clin, pops, part, s, ls)
    assert list(res.columns) == MMRM_COLUMNS
    sbp = res[res["endpoint"] == "SYSBP"].set_index("visit")
    assert list(sbp.index) == [*VISITS, "overall"]
    for v in VISITS:
        assert abs(sbp.loc[v, "estimate"] - EFFECT[v]) < 3 * sbp.loc[v, "se"]
        assert sbp.loc[v, "day"] == DAYS[v][0]
        n_obs = clin[(clin["param"] == "SYSBP") & (clin["visit"] == v)]
        n_obs = n_obs.drop_duplicates("participant_id")
        assert sbp.loc[v, "n_control"] + sbp.loc[v, "n_treated"] == len(n_obs)
    assert sbp.loc["overall", "estimate"] == pytest.approx(
        np.mean([sbp.loc[v, "estimate"] for v in VISITS])
    )
    assert (sbp["covariance"] == "unstructured").all()
    assert "1 month1 value(s) outside day 30 +/- 7 (kept)" in sbp.loc["week1", "notes"]
    upcr = res[res["endpoint"] == "UPCR"].set_index("visit")
    # log scale: the planted -0.3 at every visit
    assert (
        np.abs(upcr.loc[VISITS, "estimate"] + 0.3) < 3 * upcr.loc[VISITS, "se"]
    ).all()


def test_clinical_mmrm_not_computed_says_why() -> None:
    clin, part = _clinical(n_per_arm=6)
    clin = clin[~clin["visit"].isin(["month1", "month3"]) | (clin["param"] == "UPCR")]
    params = {
        "SYSBP": ParamSpec("SYSBP", "SBP", "VS", "mm[Hg]", "continuous", "ancova")
    }
    s = _settings(params=params, populations=("mITT",))
    ls = LongitudinalSettings(clinical_visits=tuple(VISITS), mirna_visits=(), days=DAYS)
    res = clinical_mmrm(clin, part.assign(in_mitt=True, in_pp=True), part, s, ls)
    assert len(res) == 1 and res["visit"].iloc[0] == "overall"
    assert np.isnan(res["estimate"].iloc[0])
    assert (
        "not computed: fewer than 2 visits with data in both arms (week1)"
        in res["notes"].iloc[0]
    )


def _multi_visit_trial(
    seed: int = 2, n_per_arm: int = 40
) -> tuple[ad.AnnData, pd.DataFrame]:
    """log2 levels at baseline, week1 and month3 (normed = 2**y - 1)."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    pids = [f"P{i + 1:03d}" for i in range(n)]
    arms = np.where(np.arange(n) % 2 == 0, "placebo", "exosome")
    strata = rng.choice(["severe", "mild"], n)
    effect = {"baseline": 0.0, "week1": 0.6, "month3": 0.2}
    rows, values = [], []
    for i, pid in enumerate(pids):
        b = rng.normal(11.0, 0.5)
        for tp in ("baseline", "week1", "month3"):
            if tp != "baseline" and rng.random() < 0.1:
                continue
            y = b + effect[tp] * (arms[i] == "exosome") + rng.normal(0, 0.5)
            values.append([y, *rng.normal([16, 9, 12, 8, 10], 0.5)])
            rows.append(
                {
                    "sample_id": f"{pid}_{tp}",
                    "participant_id": pid,
                    "arm": arms[i],
                    "timepoint": tp,
                }
            )
    normed = 2.0 ** np.array(values) - 1
    obs = pd.DataFrame(rows)
    obs.index = obs["sample_id"].to_numpy()
    adata = ad.AnnData(
        X=np.round(normed).astype(np.int64),
        obs=obs,
        var=pd.DataFrame(index=["hsa-miR-126-3p", *OTHER]),
        layers={"normed_counts": normed},
    )
    return adata, pd.DataFrame({"participant_id": pids, "arm": arms, "stratum": strata})


def test_primary_mirna_mmrm_over_the_draws() -> None:
    adata, part = _multi_visit_trial()
    cfg = copy.deepcopy(CFG)
    cfg["design"]["timepoints"] = ["baseline", "week1", "month3"]
    cfg["design"]["primary_visit"] = "week1"
    ls = longitudinal_settings(cfg)
    assert ls.mirna_visits == ("week1", "month3") and ls.mirna and not ls.clinical
    res = primary_mmrm(adata, part, primary.primary_settings(cfg), ls)
    m = res[res["population"] == "mITT"].set_index("visit")
    assert list(m.index) == ["week1", "month3", "overall"]
    assert abs(m.loc["week1", "estimate"] - 0.6) < 3 * m.loc["week1", "se"]
    assert abs(m.loc["month3", "estimate"] - 0.2) < 3 * m.loc["month3", "se"]
    n_w1 = adata.obs[adata.obs["timepoint"] == "week1"]
    assert m.loc["week1", "n_control"] + m.loc["week1", "n_treated"] == len(n_w1)
    assert "PP" not in set(res["population"])  # no disposition given


def test_primary_mmrm_step_writes_table_and_figure(tmp_path) -> None:
    """The rule's step: mmrm.tsv read back equals the in-memory fit; PNG written."""
    from exomir.primary.longitudinal import primary_mmrm_step

    adata, part = _multi_visit_trial(seed=4, n_per_arm=20)
    part.to_csv(tmp_path / "participants.tsv", sep="\t", index=False)
    adata.write_h5ad(tmp_path / "m.h5ad")
    disp = pd.DataFrame(
        {
            "screening_id": [f"S{i}" for i in range(len(part))],
            "participant_id": part["participant_id"],
            "eligible": True,
            "randomized": True,
            "in_pp": True,
        }
    )
    disp.loc[:3, "in_pp"] = False
    disp.to_csv(tmp_path / "disposition.tsv", sep="\t", index=False)
    cfg = copy.deepcopy(CFG)
    cfg["design"]["timepoints"] = ["baseline", "week1", "month3"]
    res = primary_mmrm_step(
        h5ad=tmp_path / "m.h5ad",
        participants=tmp_path / "participants.tsv",
        disposition=tmp_path / "disposition.tsv",
        table=tmp_path / "p" / "mmrm.tsv",
        figure=tmp_path / "p" / "mmrm.png",
        settings=primary.primary_settings(cfg),
        longitudinal=longitudinal_settings(cfg),
    )
    back = pd.read_csv(tmp_path / "p" / "mmrm.tsv", sep="\t")
    assert list(back.columns) == MMRM_COLUMNS
    assert list(back["population"]) == ["mITT"] * 3 + ["PP"] * 3
    np.testing.assert_allclose(back["estimate"], res["estimate"], rtol=1e-5)
    pp = back[back["population"] == "PP"]
    assert (pp["n_control"] + pp["n_treated"]).iloc[-1] <= len(part) - 4
    assert (tmp_path / "p" / "mmrm.png").read_bytes()[:4] == b"\x89PNG"


def test_week1_analyses_do_not_see_later_visits() -> None:
    """Invariance: [baseline, week1, month3] with primary week1 = the data cut to two."""
    adata, part = _multi_visit_trial()
    cfg3 = copy.deepcopy(CFG)
    cfg3["design"]["timepoints"] = ["baseline", "week1", "month3"]
    cfg3["design"]["primary_visit"] = "week1"
    s3 = primary.primary_settings(cfg3)
    assert s3.timepoint == "week1" == primary_visit(cfg3)
    cut = adata[adata.obs["timepoint"] != "month3"].copy()
    s2 = primary.primary_settings(CFG)
    res3, data3 = primary.run_primary(adata, part, s3)
    res2, data2 = primary.run_primary(cut, part, s2)
    pd.testing.assert_frame_equal(res3, res2)
    pd.testing.assert_frame_equal(data3, data2)


def test_defaults_follow_the_primary_visit() -> None:
    """Clinical, safety and primary follow-up use design.primary_visit (the DE and
    pathway defaults are covered by their own tests)."""
    from exomir.clinical.settings import clinical_settings
    from exomir.config import load_config

    cfg = load_config("config/config.yaml")
    cfg["design"]["timepoints"] = ["baseline", "week1", "month3"]
    cfg["design"]["visits"] = [*cfg["design"]["visits"], "month3"]
    cfg["design"]["schedule"] = {
        "week1": {"day": 7, "window": 2},
        "month3": {"day": 91, "window": 14},
    }
    assert primary_visit(cfg) == "week1"
    assert post_dose_visits(cfg) == ["week1", "month3"]
    assert clinical_settings(cfg).followup_visit == "week1"
    assert clinical_settings(cfg).later_visits == ("month3",)
    assert primary.primary_settings(cfg).timepoint == "week1"
    from exomir.clinical.safety_settings import safety_stage_settings

    safety = safety_stage_settings(cfg)
    assert safety.followup_visit == "week1"
    assert safety.lab_visits == ("baseline", "week1")


def test_report_repeated_measures_closed_only(tmp_path) -> None:
    """Closed report: table, covariance note and figure; open report: nothing by arm."""
    from _report_fixture import build_tree

    from exomir.report.builder import build_report
    from exomir.stats.mmrm_table import mmrm_figure, mmrm_frame

    cfg = build_tree(tmp_path, hostile=False)
    cfg["design"]["schedule"] = {
        "week1": {"day": 7, "window": 2},
        "month3": {"day": 91, "window": 14},
    }
    cfg["sheets"]["clinical_measurements"] = "config/clinical_measurements.tsv"
    pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P2", "P2", "P3"],
            "visit": ["week1", "month3", "week1", "month3", "week1"],
            "days_since_dose": [7, 91, 12, 95, 6],
            "param": "SYSBP",
            "value_num": 140.0,
        }
    ).to_csv(tmp_path / "config" / "clinical_measurements.tsv", sep="\t", index=False)
    rows = [
        {
            "endpoint": "SYSBP",
            "population": "mITT",
            "visit": v,
            "day": d,
            "estimate": e,
            "se": 1.0,
            "df": 200.0,
            "ci_low": e - 1.97,
            "ci_high": e + 1.97,
            "p_value": 0.01,
            "n_control": 30,
            "n_treated": 31,
            "covariance": "heterogeneous_cs",
            "fallback_reason": "unstructured: the fitted covariance is singular",
            "notes": "",
        }
        for v, d, e in (
            ("week1", 7.0, -4.321),
            ("month3", 91.0, -2.468),
            ("overall", np.nan, -3.3945),
        )
    ]
    table = mmrm_frame(rows)
    (tmp_path / "results" / "clinical").mkdir(parents=True, exist_ok=True)
    from exomir.tables import write_table

    write_table(table, tmp_path / "results" / "clinical" / "mmrm.tsv")
    mmrm_figure(
        table, tmp_path / "results" / "clinical" / "mmrm.png", title="t", ylabel="d"
    )
    html = {}
    for aud in ("open", "closed"):
        out = tmp_path / "results" / "report" / f"{aud}.html"
        build_report(tmp_path, cfg, aud, out, strict=True)
        html[aud] = out.read_text(encoding="utf-8")
    assert "Repeated measures (MMRM): arm difference by visit" in html["closed"]
    assert "-4.32 (-6.29 to -2.35)" in html["closed"]
    assert "unstructured: the fitted covariance is singular" in html["closed"]
    assert "arm difference over the visits" in html["closed"]
    assert "Repeated measures" not in html["open"]
    assert "-4.32" not in html["open"]
    from exomir.report.context import ReportContext
    from exomir.report.model import Section
    from exomir.report.sections.longitudinal import visit_completeness

    sec = visit_completeness(ReportContext(tmp_path, cfg, "open"), Section("c", 8, "c"))
    comp = sec.blocks[0].data.set_index("visit")
    assert comp.iloc[:, 1].tolist() == [3, 2] and comp.iloc[:, 2].tolist() == [1, 0]
    for aud in ("open", "closed"):  # pooled completeness: both reports
        assert "Scheduled clinical visits: completeness (arms pooled)" in html[aud]
        assert "91 +/- 14" in html[aud]


def test_later_visits_do_not_make_the_week1_mitt() -> None:
    """A participant with only a month-3 value is not in the week-1 mITT (as in the
    same trial cut to two visits), but is in the repeated-measures mITT."""
    from exomir.clinical.dataset import populations
    from exomir.clinical.longitudinal import members

    part = pd.DataFrame({"participant_id": ["P1", "P2"], "arm": ["placebo", "exosome"]})
    clin = pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P2", "P2"],
            "visit": ["baseline", "week1", "baseline", "month3"],
            "days_since_dose": [0, 7, 0, 91],
            "param": "SYSBP",
            "value_num": [150.0, 140.0, 150.0, 141.0],
        }
    )
    s = _settings(later_visits=("month3",))
    pops = populations(part, None, clin, s).set_index("participant_id")
    assert bool(pops.loc["P1", "in_mitt"]) and not bool(pops.loc["P2", "in_mitt"])
    cut = populations(part, None, clin[clin["visit"] != "month3"], _settings())
    pd.testing.assert_frame_equal(pops.reset_index(), cut)
    assert set(members(pops.reset_index(), "mITT")["participant_id"]) == {"P1", "P2"}
