"""CONSORT counts, AE tables, safety triggers and lab shifts (exomir.clinical)."""

from __future__ import annotations

import types
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _stage_inputs import safety_inputs

from exomir.clinical import adverse_events, consort, lab_shifts
from exomir.errors import ValidationError
from exomir.stats import newcombe_diff_ci

REPO = Path(__file__).resolve().parents[2]
ARMS = ["placebo", "exosome"]


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    """Six randomised participants (3 per arm) and two screen failures."""
    d = tmp_path / "scn"
    (d / "config").mkdir(parents=True)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["sheets"] = {
        k: f"config/{k}.tsv"
        for k in (
            "samples",
            "participants",
            "clinical_measurements",
            "adverse_events",
            "disposition",
        )
    }
    (d / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    w = lambda name, text: (d / "config" / f"{name}.tsv").write_text(text)  # noqa: E731
    w(
        "samples",
        "sample_id\tparticipant_id\ttimepoint\tfastq\tprotocol\tlibrary_batch\n"
        + "".join(
            f"P{i}_{tp}\tP{i}\t{name}\tdata/x.fastq.gz\ttruseq\tB1\n"
            for i in range(1, 7)
            for tp, name in (("BL", "baseline"), ("W1", "week1"))
        ),
    )
    w(
        "participants",
        "participant_id\tarm\troute\tstratum\n"
        "P1\tplacebo\tIV\tS\nP2\tplacebo\tIV\tS\nP3\tplacebo\tIM\tS\n"
        "P4\texosome\tIV\tS\nP5\texosome\tIV\tS\nP6\texosome\tIV\tS\n",
    )
    w(
        "disposition",
        "screening_id\tparticipant_id\teligible\texclusion_reason\trandomized\tarm\tdosed\t"
        "not_dosed_reason\tcompleted_week1\tdiscontinued_reason\tin_mitt\tin_pp\tmajor_deviation\n"
        "S1\tP1\ttrue\t\ttrue\tplacebo\ttrue\t\ttrue\t\ttrue\ttrue\t\n"
        "S2\tP2\ttrue\t\ttrue\tplacebo\ttrue\t\tfalse\tlost to follow-up\ttrue\tfalse\t\n"
        "S3\tP3\ttrue\t\ttrue\tplacebo\tfalse\tvenous access failed\tfalse\t\tfalse\tfalse\t\n"
        "S4\tP4\ttrue\t\ttrue\texosome\ttrue\t\ttrue\t\ttrue\ttrue\t\n"
        "S5\tP5\ttrue\t\ttrue\texosome\ttrue\t\ttrue\t\ttrue\tfalse\twrong visit window\n"
        "S6\tP6\ttrue\t\ttrue\texosome\ttrue\t\tfalse\twithdrew consent\ttrue\tfalse\t\n"
        "S7\t\tfalse\tchronic kidney disease\tfalse\t\tfalse\t\tfalse\t\tfalse\tfalse\t\n"
        "S8\t\tfalse\tchronic kidney disease\tfalse\t\tfalse\t\tfalse\t\tfalse\tfalse\t\n",
    )
    w(
        "adverse_events",
        "participant_id\tae_id\tmeddra_pt\tmeddra_soc\tctcae_grade\tserious\tsae_criterion\t"
        "related\taesi\taction\toutcome\n"
        "P1\tA1\tHeadache\tNervous system disorders\t1\tN\t\tnot\tnone\tnone\trecovered\n"
        "P1\tA2\tHeadache\tNervous system disorders\t2\tN\t\tnot\tnone\tnone\trecovered\n"
        "P3\tA1\tNausea\tGastrointestinal disorders\t1\tN\t\tnot\tnone\tnone\trecovered\n"
        "P4\tA1\tHypersensitivity\tImmune system disorders\t3\tN\t\tprobable\thypersensitivity\t"
        "interrupted\trecovered\n"
        "P5\tA1\tPyrexia\tGeneral disorders\t3\tY\thospitalisation\tpossible\tfever\tnone\t"
        "recovered\n"
        "P5\tA2\tHeadache\tNervous system disorders\t1\tN\t\tunlikely\tnone\tnone\trecovered\n",
    )
    w(
        "clinical_measurements",
        "participant_id\tvisit\tdomain\tparam\tvalue_num\tunit\treplicate\n"
        "P1\tbaseline\tLB\tHGB\t9.0\tg/dL\t1\n"
        "P1\tweek1\tLB\tHGB\t10.5\tg/dL\t1\n"
        "P2\tbaseline\tLB\tHGB\t12.0\tg/dL\t1\n"
        "P2\tweek1\tLB\tHGB\t11.0\tg/dL\t1\n"
        "P2\tweek1\tLB\tHGB\t8.0\tg/dL\t2\n"
        "P4\tbaseline\tLB\tHGB\t16.0\tg/dL\t1\n"
        "P4\tweek1\tLB\tHGB\t13.0\tg/dL\t1\n"
        "P5\tbaseline\tLB\tHGB\t11.0\tg/dL\t1\n",
    )
    return d


def _cfg(d: Path) -> dict:
    return yaml.safe_load((d / "config" / "config.yaml").read_text())


def _consort(d: Path, qc: Path | None, out: Path) -> pd.DataFrame:
    """Validate the scenario (as at parse time), then the clinical_consort job."""
    sh, st = safety_inputs(d, _cfg(d))
    return consort.consort_from_files(
        disposition=sh["disposition"],
        participants=sh["participants"],
        samples=sh["samples"],
        library_qc=qc,
        table=out,
        settings=st,
    )


def _adverse_events(d: Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate the scenario (as at parse time), then the clinical_adverse_events job."""
    sh, st = safety_inputs(d, _cfg(d))
    return adverse_events.adverse_events_from_files(
        adverse_events=sh["adverse_events"],
        participants=sh["participants"],
        disposition=sh["disposition"],
        table=out / "ae.tsv",
        triggers=out / "trig.tsv",
        settings=st,
    )


def _lab_shifts(d: Path, cfg: dict, out: Path) -> pd.DataFrame:
    """Validate the scenario and build the settings (as at parse time), then the job."""
    sh, st = safety_inputs(d, cfg)
    return lab_shifts.lab_shifts_from_files(
        clinical_measurements=sh["clinical_measurements"],
        participants=sh["participants"],
        disposition=sh["disposition"],
        table=out,
        settings=st,
    )


def test_consort_counts(scenario: Path, tmp_path: Path) -> None:
    qc = tmp_path / "qc.tsv"
    pd.DataFrame(
        {
            "sample_id": [
                "P1_BL",
                "P1_W1",
                "P2_BL",
                "P2_W1",
                "P4_BL",
                "P4_W1",
                "P5_BL",
                "P5_W1",
            ],
            "pass": [True, False, True, True, True, True, True, True],
            "reasons": ["", "low reads", "", "", "", "", "", ""],
        }
    ).to_csv(qc, sep="\t", index=False)
    tab = _consort(scenario, qc, tmp_path / "c.tsv")
    n = {(r.node, r.arm): r.n for r in tab.itertuples()}
    why = {(r.node, r.arm): r.reasons for r in tab.itertuples()}
    assert n[("assessed_for_eligibility", "all")] == 8
    assert n[("excluded", "all")] == 2
    assert why[("excluded", "all")] == "chronic kidney disease: 2"
    assert n[("randomised", "all")] == 6
    assert n[("allocated", "placebo")] == 3
    assert n[("received_allocated", "placebo")] == 2
    assert why[("received_allocated", "placebo")] == "IV: 2"
    assert why[("did_not_receive", "placebo")] == "venous access failed: 1"
    assert n[("lost_to_follow_up", "placebo")] == 1
    assert n[("discontinued", "exosome")] == 1
    assert why[("discontinued", "exosome")] == "withdrew consent: 1"
    assert n[("analysed_mitt", "placebo")] == 2
    assert why[("excluded_from_mitt", "placebo")] == "not dosed: 1"
    assert n[("analysed_pp", "exosome")] == 1
    assert why[("excluded_from_pp", "exosome")] == (
        "other (e.g. visit window): 1; wrong visit window: 1"
    )
    # P1 week 1 failed QC; P6 has libraries but no QC row (not passed)
    assert n[("sequencing_qc_failed_week1", "placebo")] == 1
    assert why[("sequencing_qc_failed_week1", "placebo")] == "low reads: 1"
    assert n[("sequencing_analysed_all_timepoints", "placebo")] == 1
    assert n[("sequencing_analysed_all_timepoints", "exosome")] == 2


def test_adverse_event_tables(scenario: Path, tmp_path: Path) -> None:
    tab, trig = _adverse_events(scenario, tmp_path)
    ov = tab[tab["table"] == "overview"].set_index(["category", "arm"])
    # safety population: dosed = P1, P2 (placebo), P4, P5, P6 (exosome); P3 not dosed
    assert ov.loc[
        ("any_ae", "placebo"), ["n_participants", "n_events", "n_arm"]
    ].tolist() == [
        1,
        2,
        2,
    ]
    assert ov.loc[
        ("any_ae", "exosome"), ["n_participants", "n_events", "n_arm"]
    ].tolist() == [
        2,
        3,
        3,
    ]
    assert ov.loc[("related_ae", "exosome"), "n_participants"] == 2
    assert ov.loc[("serious_ae", "exosome"), "n_participants"] == 1
    assert ov.loc[("grade_3_or_higher", "exosome"), "percent"] == pytest.approx(200 / 3)
    d, lo, hi = newcombe_diff_ci(2, 3, 1, 2)
    row = ov.loc[("any_ae", "exosome")]
    assert (
        row["risk_difference"],
        row["rd_ci_low"],
        row["rd_ci_high"],
    ) == pytest.approx((d, lo, hi))
    assert pd.isna(ov.loc[("any_ae", "placebo"), "risk_difference"])
    soc = tab[(tab["table"] == "soc_pt") & (tab["arm"] == "all")]
    # Nervous system (P1, P5) first; the not-dosed participant's nausea is left out
    assert soc["soc"].iloc[0] == "Nervous system disorders"
    assert "Gastrointestinal disorders" not in set(soc["soc"])
    aesi = tab[(tab["table"] == "aesi") & (tab["arm"] == "exosome")].set_index(
        "category"
    )
    assert aesi.loc["fever", "n_participants"] == 1
    assert aesi.loc["thromboembolic", "n_participants"] == 0
    sae = tab[tab["table"] == "sae_listing"]
    assert sae[["participant_id", "ae_id", "pt"]].values.tolist() == [
        ["P5", "A1", "Pyrexia"]
    ]
    t = trig.set_index("rule")
    assert t.loc["related_grade3_treated", "observed"] == 2
    assert bool(t.loc["related_grade3_treated", "triggered"]) is True
    assert bool(t.loc["related_grade4_or_higher", "triggered"]) is False
    assert t.loc["anaphylaxis", "observed"] == 0


def test_trigger_filters() -> None:
    ae = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P2"],
            "ae_id": ["1", "1", "2"],
            "meddra_pt": ["Anaphylactic reaction", "Headache", "Headache"],
            "ae_verbatim": ["", "", ""],
            "ctcae_grade": [4, 4, 2],
            "serious": ["Y", "N", "N"],
            "related": ["definite", "not", "possible"],
            "aesi": ["hypersensitivity", "none", "none"],
        }
    )
    pop = pd.DataFrame({"participant_id": ["P1", "P2"], "arm": ARMS})
    rules = yaml.safe_load(
        """
        - {name: ana, pt_regex: anaphyla, threshold: 1}
        - {name: g4rel, related: [possible, probable, definite], min_grade: 4, threshold: 1}
        - {name: g4_treated_people, min_grade: 4, arms: [treated], count: participants, threshold: 1}
        - {name: serious_placebo, serious: true, arms: [placebo], threshold: 1}
        """
    )
    t = adverse_events.safety_triggers(ae, pop, ARMS, rules).set_index("rule")
    assert t["observed"].to_dict() == {
        "ana": 1,
        "g4rel": 1,
        "g4_treated_people": 1,
        "serious_placebo": 1,
    }


def test_lab_shifts(scenario: Path, tmp_path: Path) -> None:
    tab = _lab_shifts(scenario, _cfg(scenario), tmp_path / "lab.tsv")
    h = tab[(tab["param"] == "HGB") & (tab["n"] > 0)]
    got = {(r.arm, r.baseline_class, r.week1_class): r.n for r in h.itertuples()}
    # default range 10-15.5 g/dL; P2 week 1 = mean(11, 8) = 9.5 -> low
    assert got == {
        ("placebo", "low", "normal"): 1,
        ("placebo", "normal", "low"): 1,
        ("exosome", "high", "normal"): 1,
        ("exosome", "normal", "missing"): 1,
        ("exosome", "missing", "missing"): 1,
    }
    assert set(tab["param"]) == {"HGB", "MCV", "MCHC", "HCT", "WBC", "PLAT"}
    assert (
        tab.groupby(["param", "arm"])["n"]
        .sum()
        .eq(tab.groupby(["param", "arm"])["n_arm"].first())
        .all()
    )


def _errors(call) -> list[str]:
    with pytest.raises(ValidationError) as info:
        call()
    return [str(i) for i in info.value.issues]


def _edit(d: Path, name: str, old: str, new: str) -> None:
    p = d / "config" / f"{name}.tsv"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


def _run_ae(d: Path, tmp: Path):
    return lambda: _adverse_events(d, tmp)


def test_bad_duplicate_ae_id(scenario: Path, tmp_path: Path) -> None:
    _edit(scenario, "adverse_events", "P1\tA2\t", "P1\tA1\t")
    errs = _errors(_run_ae(scenario, tmp_path))
    assert errs == [
        "config/adverse_events.tsv: adverse event (participant_id=P1, ae_id=A1) appears on "
        "lines 2, 3; it must be unique"
    ]


def test_bad_non_numeric_grade(scenario: Path, tmp_path: Path) -> None:
    _edit(
        scenario,
        "adverse_events",
        "P3\tA1\tNausea\tGastrointestinal disorders\t1",
        "P3\tA1\tNausea\tGastrointestinal disorders\tsevere",
    )
    errs = _errors(_run_ae(scenario, tmp_path))
    assert len(errs) == 1
    assert errs[0].startswith("config/adverse_events.tsv line 4")
    assert "column 'ctcae_grade'" in errs[0] and "'severe'" in errs[0]


def test_bad_unknown_arm(scenario: Path, tmp_path: Path) -> None:
    _edit(scenario, "participants", "P4\texosome", "P4\tMSC")
    errs = _errors(_run_ae(scenario, tmp_path))
    assert (
        "config/participants.tsv line 5 (participant_id=P4), column 'arm': 'MSC' is not an arm "
        "of this trial; use one of: placebo, exosome (config design.arms)" in errs
    )


def test_bad_participant_without_randomisation(scenario: Path, tmp_path: Path) -> None:
    _edit(
        scenario,
        "disposition",
        "S4\tP4\ttrue\t\ttrue\texosome",
        "S4\tP4\ttrue\t\tfalse\t",
    )
    errs = _errors(lambda: _consort(scenario, None, tmp_path / "c.tsv"))
    assert (
        "config/disposition.tsv: participant 'P4' of participants.tsv has no randomised row here"
        in errs
    )
    assert any(
        e.startswith("config/samples.tsv line")
        and "column 'participant_id': participant 'P4'" in e
        for e in errs
    )


def test_bad_ae_of_unknown_participant(scenario: Path, tmp_path: Path) -> None:
    _edit(scenario, "adverse_events", "P5\tA2", "P9\tA2")
    errs = _errors(_run_ae(scenario, tmp_path))
    assert errs == [
        "config/adverse_events.tsv line 7, column 'participant_id': participant 'P9' is not "
        "in participants.tsv"
    ]


def test_bad_lab_visit(scenario: Path, tmp_path: Path) -> None:
    cfg = _cfg(scenario)
    cfg["safety"] = {"lab_visits": ["baseline", "day30"]}
    errs = _errors(lambda: _lab_shifts(scenario, cfg, tmp_path / "l.tsv"))
    assert errs[0].startswith(
        "config/config.yaml, column 'safety.lab_visits': lab shift visit(s) day30 are not "
        "visits of this trial"
    )


def test_dsmb_tables_from_files(scenario: Path, tmp_path: Path) -> None:
    """The DSMB listings from validated sheets (exomir.clinical.dsmb)."""
    from exomir.clinical import dsmb

    cfg = _cfg(scenario)
    cfg["enrolment"] = {"target_randomised": 6, "planned_months": 2}
    outs = {
        k: tmp_path / f"{k}.tsv"
        for k in ("ae_listing", "enrolment", "deviations", "batch_balance")
    }
    sh, st = safety_inputs(scenario, cfg)
    got = {
        "ae_listing": dsmb.ae_listing_from_files(
            adverse_events=sh["adverse_events"],
            participants=sh["participants"],
            disposition=sh["disposition"],
            table=outs["ae_listing"],
            settings=st,
        ),
        "enrolment": dsmb.enrolment_from_files(
            participants=sh["participants"], table=outs["enrolment"], settings=st
        ),
        "deviations": dsmb.deviations_from_files(
            disposition=sh["disposition"],
            participants=sh["participants"],
            samples=sh["samples"],
            clinical_measurements=sh["clinical_measurements"],
            adverse_events=sh["adverse_events"],
            table=outs["deviations"],
            settings=st,
        ),
        "batch_balance": dsmb.batch_balance_from_files(
            samples=sh["samples"],
            participants=sh["participants"],
            table=outs["batch_balance"],
            settings=st,
        ),
    }
    assert all(p.is_file() for p in outs.values())
    ae = got["ae_listing"]
    # all six events, P3's (not dosed) marked outside the safety population
    assert len(ae) == 6
    assert ae.loc[ae["participant_id"] == "P3", "in_safety_population"].tolist() == [
        False
    ]
    hyp = ae[ae["pt"] == "Hypersensitivity"].iloc[0]
    assert (hyp["arm"], hyp["action"]) == ("exosome", "interrupted")
    # no randomisation dates or sites in the sheet: all "not recorded"
    en = got["enrolment"]
    assert en.loc[en["table"] == "site", "site"].tolist() == ["not recorded"]
    assert en.loc[en["table"] == "month", "n_randomised"].tolist() == [6]
    # P5's "wrong visit window" cannot be checked (no visit day recorded);
    # P2 lost to follow-up is not completed, so no contradiction there
    dev = got["deviations"]
    assert dev[["participant_id", "kind", "status"]].values.tolist() == [
        ["P5", "major_deviation", "not checkable"]
    ]
    # one library batch B1 holding both arms: not flagged
    bal = got["batch_balance"]
    assert bal.loc[bal["arm"] == "all", "n_libraries"].tolist() == [12]
    assert not bal["single_arm"].any()


def test_dsmb_deviations_need_disposition(scenario: Path, tmp_path: Path) -> None:
    from exomir.clinical import dsmb

    cfg = _cfg(scenario)
    del cfg["sheets"]["disposition"]
    sh, st = safety_inputs(scenario, cfg)
    with pytest.raises(ValidationError, match="disposition"):
        dsmb.deviations_from_files(
            disposition=None,
            participants=sh["participants"],
            samples=sh["samples"],
            clinical_measurements=sh["clinical_measurements"],
            adverse_events=sh["adverse_events"],
            table=tmp_path / "d.tsv",
            settings=st,
        )
    assert not (tmp_path / "d.tsv").exists()


def test_shims_pass_declared_inputs(scenario: Path, tmp_path: Path, run_script) -> None:
    """The safety shims read only their declared inputs and params.settings.

    An optional sheet the config does not name comes as an empty list (here
    the deviations job without adverse events and clinical measurements).
    """
    iocontainers = pytest.importorskip("snakemake.iocontainers")
    sh, st = safety_inputs(scenario, _cfg(scenario))

    def smk(rule: str, inputs: dict, outputs: dict) -> object:
        parts = {
            "input": inputs,
            "output": outputs,
            "params": {"settings": st},
            "log": {"log": str(tmp_path / f"{rule}.log")},
        }
        return types.SimpleNamespace(
            rule=rule,
            threads=1,
            **{k: iocontainers.Namedlist(fromdict=v) for k, v in parts.items()},
        )

    ae_in = {
        "adverse_events": str(sh["adverse_events"]),
        "participants": str(sh["participants"]),
        "disposition": [str(sh["disposition"])],
    }
    ae_out = {"table": str(tmp_path / "ae.tsv"), "triggers": str(tmp_path / "t.tsv")}
    run_script(
        "clinical_adverse_events.py", smk("clinical_adverse_events", ae_in, ae_out)
    )
    ae = pd.read_csv(tmp_path / "ae.tsv", sep="\t")
    ov = ae[(ae["table"] == "overview") & (ae["category"] == "any_ae")]
    # dosed: P1, P2 (placebo; P1 has 2 AEs) and P4-P6 (exosome; P4 1, P5 2)
    got = ov.set_index("arm")[["n_participants", "n_events", "n_arm"]]
    assert got.loc["placebo"].tolist() == [1, 2, 2]
    assert got.loc["exosome"].tolist() == [2, 3, 3]
    dev_in = {
        "disposition": [str(sh["disposition"])],
        "participants": str(sh["participants"]),
        "samples": str(sh["samples"]),
        "clinical_measurements": [],
        "adverse_events": [],
    }
    run_script(
        "clinical_dsmb_deviations.py",
        smk("clinical_dsmb_deviations", dev_in, {"table": str(tmp_path / "d.tsv")}),
    )
    dev = pd.read_csv(tmp_path / "d.tsv", sep="\t")
    assert dev[["participant_id", "kind", "status"]].values.tolist() == [
        ["P5", "major_deviation", "not checkable"]
    ]
