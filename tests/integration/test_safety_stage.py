"""Safety stage on a small simulated trial: ROC, CONSORT, AEs and the interim.

One scenario is simulated (16 participants, ~50k reads per library) and the
workflow runs up to the results/clinical tables of workflow/rules/{roc,safety,interim}.smk.
The tables are checked against the simulator's truth/ and against the other
stages' tables they must reconcile with. About 4 minutes on 2 cores.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scn(small_trial_run: Path) -> Path:
    return small_trial_run  # shared with the report-firewall tests: read only


def _tsv(d: Path, rel: str) -> pd.DataFrame:
    return pd.read_csv(d / rel, sep="\t")


def test_roc_uses_reference_label_and_covers_design_auc(scn: Path) -> None:
    roc = _tsv(scn, "results/clinical/roc.tsv").set_index("metric")
    par = _tsv(scn, "config/participants.tsv")
    qc = _tsv(scn, "results/qc/library_qc.tsv")
    ok_bl = {
        s[: -len("_BL")] for s in qc.loc[qc["pass"], "sample_id"] if s.endswith("_BL")
    }
    labelled = par[par["ed_reference"].notna() & par["participant_id"].isin(ok_bl)]
    assert roc.loc["n_positive", "value"] == (labelled["ed_reference"] == 1).sum()
    assert roc.loc["n_negative", "value"] == (labelled["ed_reference"] == 0).sum()
    # design AUC of a normal shift of d within-group SDs: Phi(d / sqrt(2))
    params = yaml.safe_load((scn / "truth" / "params.yaml").read_text())
    d = float(params["params"]["ed"]["mir126_shift_sd"])
    design_auc = stats.norm.cdf(d / math.sqrt(2))
    lo, hi = roc.loc["auc_bootstrap", ["ci_low", "ci_high"]]
    assert lo <= design_auc <= hi
    assert roc.loc["sensitivity", "denominator"] == roc.loc["n_positive", "value"]


def test_consort_reconciles_with_truth_and_primary(scn: Path) -> None:
    c = _tsv(scn, "results/clinical/consort.tsv")
    n = {(r.node, r.arm): r.n for r in c.itertuples()}
    truth = _tsv(scn, "truth/mir126.tsv")
    assert n[("randomised", "all")] == len(truth)
    for arm, k in truth["arm"].value_counts().items():
        assert n[("allocated", arm)] == k
    # molecular numbers reconcile with the primary ANCOVA population
    anc = _tsv(scn, "results/primary/mir126_ancova.tsv").set_index("analysis")
    row = anc.loc["primary_ancova"]
    assert (
        n[("sequencing_analysed_all_timepoints", row["treated_arm"])]
        == row["n_treated"]
    )
    assert (
        n[("sequencing_analysed_all_timepoints", row["reference_arm"])]
        == row["n_reference"]
    )
    # planted QC failures (truth) are all in the "sequencing QC failed" boxes
    libs = _tsv(scn, "truth/libraries.tsv")
    arm_of = dict(zip(truth["participant_id"], truth["arm"], strict=True))
    planted = libs[libs["expect_qc_fail"]]
    for (tp, arm), k in (
        planted.groupby([planted["timepoint"], planted["participant_id"].map(arm_of)])
        .size()
        .items()
    ):
        assert n[(f"sequencing_qc_failed_{tp}", arm)] >= k


def test_adverse_events_count_every_event_of_dosed(scn: Path) -> None:
    ae = _tsv(scn, "config/adverse_events.tsv")
    disp = _tsv(scn, "config/disposition.tsv")
    dosed = set(disp.loc[disp["dosed"].fillna(False).astype(bool), "participant_id"])
    tab = _tsv(scn, "results/clinical/adverse_events.tsv")
    ov = tab[(tab["table"] == "overview") & (tab["arm"] == "all")].set_index("category")
    assert ov.loc["any_ae", "n_events"] == ae["participant_id"].isin(dosed).sum()
    trig = _tsv(scn, "results/clinical/safety_triggers.tsv")
    assert list(trig["rule"]) == [
        "related_grade4_or_higher",
        "anaphylaxis",
        "related_grade3_treated",
    ]


def test_interim_at_actual_information_fraction(scn: Path) -> None:
    vals = _tsv(scn, "results/primary/mir126_values.tsv")
    n_eval = int(vals["y_followup"].notna().sum())
    tab = _tsv(scn, "results/clinical/interim.tsv")
    act = tab[(tab["schedule"] == "actual") & (tab["look"] == 1)].iloc[0]
    t = n_eval / 72
    assert act["information_fraction"] == pytest.approx(t, abs=1e-6)
    assert act["z_boundary"] == pytest.approx(
        stats.norm.isf(0.025) / math.sqrt(t), abs=1e-4
    )
    anc = _tsv(scn, "results/primary/mir126_ancova.tsv").set_index("analysis")
    z = (
        anc.loc["primary_ancova", "estimate_log2"]
        / anc.loc["primary_ancova", "se_log2"]
    )
    # the ANCOVA statistic is a t on the primary table's df; the boundary
    # compares its z-equivalent (same two-sided p), computed here with scipy
    dfree = anc.loc["primary_ancova", "df"]
    assert act["observed_t"] == pytest.approx(z, rel=1e-4)
    assert act["observed_df"] == pytest.approx(dfree)
    z_eq = math.copysign(stats.norm.isf(stats.t.sf(abs(z), dfree)), z)
    assert act["observed_z"] == pytest.approx(z_eq, rel=1e-4)
    assert act["look_role"] == "current"
    if t < 1:
        assert np.isfinite(act["futility_z_boundary"])
    opened = _tsv(scn, "results/clinical/interim_open.tsv")
    assert "arm" not in opened.columns


def test_dsmb_listings_reconcile_with_the_sheets(scn: Path) -> None:
    """AE listing, enrolment, deviations and batch balance against the sheets."""
    import re

    ae = _tsv(scn, "config/adverse_events.tsv")
    part = _tsv(scn, "config/participants.tsv")
    disp = _tsv(scn, "config/disposition.tsv")
    samples = _tsv(scn, "config/samples.tsv")
    lst = _tsv(scn, "results/clinical/ae_listing.tsv")
    # every event listed once, with the action recorded on the AE sheet
    assert sorted(zip(lst["participant_id"], lst["ae_id"], strict=True)) == sorted(
        zip(ae["participant_id"], ae["ae_id"], strict=True)
    )
    act = dict(zip(ae["ae_id"], ae["action"], strict=True))
    assert all(act[a] == b for a, b in zip(lst["ae_id"], lst["action"], strict=True))
    # enrolment: cumulative reaches every participant; the simulator's plan
    # targets every participant; sites add up
    en = _tsv(scn, "results/clinical/enrolment.tsv")
    month = en[en["table"] == "month"]
    assert month["cumulative"].iloc[-1] == len(part)
    assert month["planned_cumulative"].max() == len(part)
    site = en[en["table"] == "site"].set_index("site")["n_randomised"]
    assert site.to_dict() == part["site_id"].value_counts().to_dict()
    # every recorded major deviation is listed; an eligibility deviation
    # "postpartum day > N" is a contradiction exactly when the sheet's day <= N
    dev = _tsv(scn, "results/clinical/deviations.tsv")
    recorded = disp.dropna(subset=["major_deviation"])
    major = dev[dev["kind"] == "major_deviation"]
    assert set(major["participant_id"]) == set(recorded["participant_id"])
    ppd = dict(zip(part["participant_id"], part["postpartum_day_at_dose"], strict=True))
    for r in recorded.itertuples():
        m = re.search(r"postpartum day > (\d+)", r.major_deviation)
        if m:
            row = major[
                (major["participant_id"] == r.participant_id)
                & major["check"].str.contains("postpartum_day_at_dose")
            ]
            want = (
                "consistent"
                if ppd[r.participant_id] > int(m.group(1))
                else "contradiction"
            )
            assert row["status"].tolist() == [want]
    # batch balance: each batch type's cells add up to the libraries
    bal = _tsv(scn, "results/clinical/batch_balance.tsv")
    for bt, sub in bal[bal["arm"] != "all"].groupby("batch_type"):
        assert sub["n_libraries"].sum() == len(samples), bt
