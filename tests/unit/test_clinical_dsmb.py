"""DSMB listings (exomir.clinical.dsmb) on hand-made sheets, hand-computed truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.clinical import dsmb

ARMS = ["placebo", "exosome"]


def test_ae_listing_order_fields_and_population() -> None:
    part = pd.DataFrame({"participant_id": ["P1", "P2"], "arm": ["placebo", "exosome"]})
    ae = pd.DataFrame(
        {
            "participant_id": ["P2", "P1", "P1"],
            "ae_id": ["A1", "A2", "A1"],
            "meddra_pt": ["Hypersensitivity", "Headache", "Nausea"],
            "onset_day": [0, 5, 1],
            "ctcae_grade": [3, 1, 2],
            "serious": ["N", "N", "N"],
            "related": ["probable", "not", "unlikely"],
            "action": ["interrupted", "none", "none"],
            "outcome": ["recovered", "recovered", "recovering"],
        }
    )
    pop = part[part["participant_id"] == "P1"]
    out = dsmb.ae_listing(ae, part, pop, ARMS)
    assert list(out.columns) == dsmb.AE_LISTING_COLUMNS
    # placebo first, then by onset day within the participant
    assert list(zip(out["participant_id"], out["ae_id"], strict=True)) == [
        ("P1", "A1"),
        ("P1", "A2"),
        ("P2", "A1"),
    ]
    assert out["soc"].tolist() == ["SOC not coded"] * 3
    row = out.iloc[2]
    assert (row["arm"], row["action"], row["ctcae_grade"]) == (
        "exosome",
        "interrupted",
        3,
    )
    # P2 is not dosed: listed, not dropped, and marked
    assert out["in_safety_population"].tolist() == [True, True, False]


def test_enrolment_by_month_plan_and_site() -> None:
    part = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4"],
            "arm": ["placebo", "exosome", "placebo", "exosome"],
            "site_id": ["S1", "S2", "S1", None],
            "randomization_date": ["2024-01-15", "2024-01-20", "2024-03-02", None],
        }
    )
    out = dsmb.enrolment_table(part, target=8, start="2024-01-01", months=4)
    m = out[out["table"] == "month"]
    assert m["period"].tolist() == [
        "2024-01",
        "2024-02",
        "2024-03",
        "2024-04",
        "not recorded",
    ]
    assert m["n_randomised"].tolist() == [2, 0, 1, 0, 1]
    assert m["cumulative"].tolist() == [2, 2, 3, 3, 4]
    # linear plan: round(8 * m / 4)
    assert m["planned_cumulative"].tolist()[:4] == [2, 4, 6, 8]
    s = out[out["table"] == "site"].set_index("site")
    assert s["n_randomised"].to_dict() == {"S1": 2, "S2": 1, "not recorded": 1}
    assert s.loc["S1", "percent"] == 50.0
    assert (s.loc["S1", "first_randomised"], s.loc["S1", "last_randomised"]) == (
        "2024-01-15",
        "2024-03-02",
    )
    # no plan, no site column: observed accrual only, all sites "not recorded"
    bare = dsmb.enrolment_table(part.drop(columns=["site_id"]))
    assert bare[bare["table"] == "month"]["planned_cumulative"].isna().all()
    site = bare[bare["table"] == "site"]
    assert site["site"].tolist() == ["not recorded"]
    assert site["n_randomised"].tolist() == [4]


def _deviation_sheets() -> tuple[pd.DataFrame, pd.DataFrame, dict, pd.DataFrame]:
    part = pd.DataFrame(
        {
            "participant_id": [f"P{i}" for i in range(1, 9)],
            "arm": ["placebo", "exosome"] * 4,
            "route": ["IV"] * 8,
            "postpartum_day_at_dose": [5, 10, 16, 7, 7, 7, 7, 7],
        }
    )
    disp = pd.DataFrame(
        {
            "screening_id": [f"S{i}" for i in range(1, 9)],
            "participant_id": [f"P{i}" for i in range(1, 9)],
            "randomized": [True] * 8,
            "arm": ["placebo", "exosome"] * 3 + ["placebo", "exosome"],
            "dosed": [True] * 6 + [False, True],
            "completed_week1": [True] * 6 + [False, True],
            "discontinued_reason": [None] * 4 + ["withdrew consent", None, None, None],
            "in_mitt": [True] * 8,
            "in_pp": [False, False, False, True, True, True, False, True],
            "major_deviation": [
                "visit out of window",
                "eligibility criterion not met (postpartum day > 14)",
                "eligibility criterion not met (postpartum day > 14)",
                None,
                None,
                "incomplete infusion (< 80% of volume)",
                None,
                None,
            ],
        }
    )
    # participants sheet says P8 is placebo; disposition says exosome
    part.loc[7, "arm"] = "placebo"
    days = {
        "P1": 8.0,
        "P2": 10.0,
        "P3": 7.0,
        "P4": 11.0,
        "P5": 7.0,
        "P6": 6.0,
        "P8": 6.0,
    }
    ae = pd.DataFrame(
        {
            "participant_id": ["P6"],
            "ae_id": ["A1"],
            "meddra_pt": ["Infusion related reaction"],
            "action": ["interrupted"],
        }
    )
    return disp, part, days, ae


def test_deviation_listing_checks() -> None:
    disp, part, days, ae = _deviation_sheets()
    out = dsmb.deviation_listing(disp, part, days, target_day=7, window=2, ae=ae)
    got = {(r.participant_id, r.kind, r.check): r.status for r in out.itertuples()}
    assert got == {
        # day 8 is inside 7 +/- 2: the recorded reason is contradicted
        ("P1", "major_deviation", "follow-up visit day"): "contradiction",
        # postpartum day 10 does not meet "> 14"; 16 does
        ("P2", "major_deviation", "participants.postpartum_day_at_dose > 14"): (
            "contradiction"
        ),
        ("P3", "major_deviation", "participants.postpartum_day_at_dose > 14"): (
            "consistent"
        ),
        # P2's visit (day 10) is out of window too, and no window deviation says so
        ("P2", "visit_window", "follow-up visit day"): "not recorded",
        # day 11 is outside the window with no deviation recorded, yet in PP
        ("P4", "visit_window", "follow-up visit day"): "not recorded",
        ("P4", "visit_window", "disposition.in_pp"): "contradiction",
        # a withdrawal reason for a participant marked completed
        ("P5", "disposition", "disposition.completed_week1"): "contradiction",
        # the interrupted infusion is on the AE sheet; but a major deviation in PP
        ("P6", "major_deviation", "adverse_events.action"): "consistent",
        ("P6", "major_deviation", "disposition.in_pp"): "contradiction",
        # not dosed but in mITT
        ("P7", "disposition", "disposition.in_mitt"): "contradiction",
        ("P8", "disposition", "participants.arm"): "contradiction",
    }
    p1 = out[out["participant_id"] == "P1"].iloc[0]
    assert p1["evidence"] == "follow-up on day 8, window day 7 +/- 2"
    assert list(out.columns) == dsmb.DEVIATION_COLUMNS


def test_followup_days_prefers_measurements() -> None:
    samples = pd.DataFrame(
        {
            "participant_id": ["P1", "P2"],
            "timepoint": ["week1", "week1"],
            "days_since_dose": [9, 6],
        }
    )
    meas = pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P1"],
            "visit": ["week1", "week1", "baseline"],
            "days_since_dose": [7, 8, 0],
        }
    )
    assert dsmb.followup_days(meas, samples, "week1") == {"P1": 7.5, "P2": 6.0}


def test_batch_balance_counts_and_single_arm_flag() -> None:
    part = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4"],
            "arm": ["placebo", "exosome", "placebo", "exosome"],
        }
    )
    samples = pd.DataFrame(
        {
            "sample_id": ["S1", "S2", "S3", "S4", "S5"],
            "participant_id": ["P1", "P2", "P3", "P3", "P4"],
            "extraction_batch": ["E1", "E1", "E2", "E2", None],
            "library_batch": ["B1", "B1", "B2", "B2", "B3"],
        }
    )
    out = dsmb.batch_balance(samples, part, ARMS)
    assert set(out["batch_type"]) == {"extraction_batch", "library_batch"}
    n = {(r.batch_type, r.batch, r.arm): r.n_libraries for r in out.itertuples()}
    assert n[("extraction_batch", "E2", "placebo")] == 2
    assert n[("extraction_batch", "E2", "exosome")] == 0
    assert n[("extraction_batch", "not recorded", "exosome")] == 1
    assert n[("library_batch", "B1", "all")] == 2
    flag = out[out["arm"] == "all"].set_index(["batch_type", "batch"])["single_arm"]
    assert flag.to_dict() == {
        ("extraction_batch", "E1"): False,
        ("extraction_batch", "E2"): True,
        ("extraction_batch", "not recorded"): False,
        ("library_batch", "B1"): False,
        ("library_batch", "B2"): True,
        ("library_batch", "B3"): False,
    }
    assert not np.any(out["n_libraries"] < 0)


def test_limit_phrase_needs_a_word_boundary() -> None:
    """'dosage > 5' is not an age limit; 'age < 18' is."""
    row = {"age_years": 30.0}
    assert dsmb._limit_check("dosage > 5 mL", row) is None
    assert dsmb._limit_check("eligibility not met (age < 18)", row) == (
        "participants.age_years < 18",
        "contradiction",
        "age_years = 30 does not meet 'age < 18'",
    )
