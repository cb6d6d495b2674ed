"""Hand-made results tree for the report tests, with hostile strings.

Every table follows the output contracts in HELPERS.md. The efficacy numbers
are distinctive (EFFICACY_STRINGS) so a test can look for them in the HTML;
IDs, lot names, AE terms and reasons carry markup that must render as text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from exomir.report.firewall import write_blinded

HOSTILE_SAMPLE = "<img src=x onerror=alert(1)>"
HOSTILE_PARTICIPANT = "<script>document.title='pwned'</script>"
HOSTILE_LOT = '"><svg onload=alert(2)>'
HOSTILE_AE = "<b onmouseover=alert(3)>rash</b>"
HOSTILE_REASON = "withdrew </text><script>alert(4)</script>"
HOSTILE = [HOSTILE_SAMPLE, HOSTILE_PARTICIPANT, HOSTILE_LOT, HOSTILE_AE, HOSTILE_REASON]

#: Formatted arm-level efficacy results of the fixture (must not be in the open report).
EFFICACY_STRINGS = [
    "7.71 (3.33 to 9.99)",
    "6.43",
    "5.43",
    "-8.8 (-12.1 to -3.2)",
    "4.44",
    "2.913",
    "0.864",
]
#: Numbers the open report must show (pooled QC and design).
OPEN_STRINGS = ["TEST-001", "2.772"]

ARMS = ["placebo", "exosome"]
#: Lab range source in the fixture's lab_shifts.tsv (an assumption).
RANGE_SOURCE = "assumption: adult female range"
#: Distinctive strings of the DSMB listings (closed report only).
DEVIATION_EVIDENCE = "follow-up on day 8, window day 7 +/- 2"
ONE_ARM_BATCH = "LB-ONEARM"
TIMEPOINTS = ["baseline", "week1"]
FUNNEL_COLS = [
    "raw_reads",
    "adapter_found",
    "adapter_dimer",
    "too_short",
    "too_long",
    "no_adapter",
    "no_umi",
    "passed_reads",
    "umi_duplicates",
    "artifact",
    "rRNA",
    "snoRNA_snRNA",
    "tRNA",
    "mirna",
    "hairpin_other",
    "unassigned",
    "multimapped_mirna",
    "annotated_total",
]


def config() -> dict:
    """The fixture trial's config (validated-config shape, minimal)."""
    return {
        "trial": {
            "id": "TEST-001",
            "title": "Fixture trial <i>not italic</i>",
            "primary_mirna": "hsa-miR-126-3p",
            "data_cut": "2026-09-01",
        },
        "design": {"arms": ARMS, "timepoints": TIMEPOINTS, "strata": []},
        "sheets": {
            "samples": "config/samples.tsv",
            "participants": "config/participants.tsv",
        },
        "de": {
            "alpha": 0.05,
            "contrasts": {
                "treatment_effect": {
                    "kind": "interaction",
                    "arm": "exosome",
                    "reference_arm": "placebo",
                    "timepoint": "week1",
                    "reference_timepoint": "baseline",
                    "description": "arm x time",
                }
            },
            "control": {"exclude_names": ["miR-451a"], "min_base_mean": 50},
        },
        "qc": {"min_raw_reads": 20000, "max_a414": 0.3},
        "clinical_parameters": {
            "SYSBP": {
                "label": "Systolic blood pressure",
                "unit": "mm[Hg]",
                "domain": "VS",
                "kind": "continuous",
            },
            "UPCR": {
                "label": "Urine protein/creatinine ratio",
                "unit": "mg/mmol",
                "domain": "UR",
                "kind": "continuous",
                "transform": "log",
            },
            "EDEMA_LE": {
                "label": "Lower-limb edema",
                "unit": "1",
                "domain": "EDEMA",
                "kind": "binary",
            },
        },
        "reference": {"mirbase_version": "22", "species": "hsa"},
        "lab_reference_ranges": {
            "ALT": {
                "low": 0.0,
                "high": 33.0,
                "unit": "U/L",
                "source": "assumption: adult female range",
            }
        },
    }


def _write(root: Path, rel: str, df: pd.DataFrame) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False)


def participant_ids(n: int, hostile: bool) -> list[str]:
    ids = [f"P{i + 1:03d}" for i in range(n)]
    if hostile:
        ids[0] = HOSTILE_PARTICIPANT
    return ids


def write_reads(
    root: Path, n_participants: int = 6, hostile: bool = True, n_mirnas: int = 40
) -> list[str]:
    """Sheets, read QC, counts and DE/primary tables; return the sample IDs."""
    rng = np.random.default_rng(7)
    pids = participant_ids(n_participants, hostile)
    arms = [ARMS[i % 2] for i in range(n_participants)]
    samples = []
    for p in pids:
        for t in TIMEPOINTS:
            samples.append((f"{p}_{'BL' if t == 'baseline' else 'W1'}", p, t))
    if hostile:
        samples[1] = (HOSTILE_SAMPLE, samples[1][1], samples[1][2])
    sids = [s[0] for s in samples]
    _write(
        root,
        "config/samples.tsv",
        pd.DataFrame(samples, columns=["sample_id", "participant_id", "timepoint"]),
    )
    _write(
        root,
        "config/participants.tsv",
        pd.DataFrame({"participant_id": pids, "arm": arms}),
    )
    (root / "config" / "config.yaml").write_text(
        yaml.safe_dump(config()), encoding="utf-8"
    )
    rows = []
    for s in sids:
        raw = 100000
        dimer, short, other = 10000, 8000, 2000
        passed = raw - dimer - short - other
        dup = 20000
        mol = passed - dup
        parts = dict(
            artifact=100,
            rRNA=5000,
            snoRNA_snRNA=4000,
            tRNA=900,
            hairpin_other=0,
            multimapped_mirna=0,
        )
        parts["mirna"] = 30000
        parts["unassigned"] = mol - sum(parts.values())
        rows.append(
            dict(
                sample_id=s,
                raw_reads=raw,
                adapter_found=raw - 500,
                adapter_dimer=dimer,
                too_short=short,
                too_long=0,
                no_adapter=other,
                no_umi=0,
                passed_reads=passed,
                umi_duplicates=dup,
                annotated_total=mol,
                count_unit="molecules",
                **parts,
            )
        )
    _write(
        root,
        "results/qc/read_funnel.tsv",
        pd.DataFrame(rows)[["sample_id", *FUNNEL_COLS, "count_unit"]],
    )
    qc = pd.DataFrame(
        {
            "sample_id": sids,
            "pass": ["false" if i in (2, 3) else "true" for i in range(len(sids))],
            "reasons": [
                "raw reads 5 < 20,000 (gate qc.min_raw_reads)"
                if i == 2
                else ("hemolysis A414 0.450 > 0.3 (gate qc.max_a414)" if i == 3 else "")
                for i in range(len(sids))
            ],
            "warnings": "",
            "raw_reads": 100000,
            "passed_reads": 80000,
            "mirna_reads": 30000,
            "count_unit": "molecules",
            "annotated_fraction": 0.7,
            "adapter_dimer_share": 0.1,
            "n_mirnas_ge10": 35,
            "hemolysis_log2ratio": rng.normal(6, 1, len(sids)).round(3),
            "hemolysis_threshold": 10.5,
            "hemolysis_flag": ["true" if i == 4 else "false" for i in range(len(sids))],
            "hemolysis_a414": [0.45 if i == 3 else 0.05 for i in range(len(sids))],
            "complexity": 0.5,
        }
    )
    _write(root, "results/qc/library_qc.tsv", qc)
    lens = []
    for s in sids:
        for cat in ["passed", "too_short", "adapter_dimer"]:
            for L in range(0, 46):
                reads = (
                    int(1000 * np.exp(-((L - 22) ** 2) / 8))
                    if cat == "passed"
                    else (
                        int(50 * np.exp(-((L - 10) ** 2) / 10))
                        if cat == "too_short"
                        else (10000 if L == 0 else 0)
                    )
                )
                lens.append((s, cat, L, reads))
    _write(
        root,
        "results/qc/length_distribution.tsv",
        pd.DataFrame(lens, columns=["sample_id", "category", "length", "reads"]),
    )
    mirnas = [f"hsa-miR-{100 + i}-3p" for i in range(n_mirnas)]
    counts = pd.DataFrame(rng.poisson(200, (len(mirnas), len(sids))), columns=sids)
    counts.insert(0, "mirna", mirnas)
    _write(root, "results/counts/mirna_counts.tsv", counts)
    arm_of = dict(zip(pids, arms, strict=True))
    meta = pd.DataFrame(samples, columns=["sample_id", "participant_id", "timepoint"])
    meta["arm"] = meta["participant_id"].map(arm_of)
    smp = meta.assign(
        contrast="treatment_effect",
        included="true",
        reason="",
        size_factor=1.0,
        design_notes="",
    )
    _write(
        root,
        "results/de/treatment_effect.samples.tsv",
        smp[
            [
                "contrast",
                "sample_id",
                "participant_id",
                "arm",
                "timepoint",
                "included",
                "reason",
                "size_factor",
                "design_notes",
            ]
        ],
    )
    de = pd.DataFrame(
        {
            "mirna": mirnas,
            "baseMean": 200.0,
            "log2FoldChange": 0.1,
            "lfcSE": 0.3,
            "log2FoldChange_shrunk": 0.05,
            "lfcSE_shrunk": 0.2,
            "stat": 0.3,
            "pvalue": np.linspace(0.01, 0.9, len(mirnas)),
            "padj": 0.9,
            "cooks_outlier": "false",
            "control": "false",
        }
    )
    de.loc[0, ["log2FoldChange", "pvalue", "padj"]] = [6.4321, 1e-6, 1e-4]
    # a shrunken LFC of a low-information miRNA (printed as 0.00, not -4.3e-06)
    de.loc[1, ["log2FoldChange", "log2FoldChange_shrunk", "pvalue", "padj"]] = [
        1.2345,
        -4.3e-06,
        2e-6,
        2e-4,
    ]
    _write(root, "results/de/treatment_effect.tsv", de)
    pca = meta.assign(
        library_batch="LB01",
        PC1=rng.normal(0, 3, len(meta)).round(3),
        PC2=rng.normal(0, 2, len(meta)).round(3),
    )
    _write(root, "results/de/pca.tsv", pca)
    _write(
        root,
        "results/de/mirna_filter.tsv",
        pd.DataFrame({"mirna": mirnas, "kept": "true", "control": "true"}),
    )
    anc = pd.DataFrame(
        [
            {
                "analysis": "primary_ancova",
                "description": "ANCOVA",
                "mirna": "hsa-miR-126-3p",
                "treated_arm": "exosome",
                "reference_arm": "placebo",
                "model": "OLS, HC3",
                "covariates": "y_baseline",
                "n": 6,
                "n_treated": 3,
                "n_reference": 3,
                "estimate_log2": 2.9472,
                "se_log2": 0.4,
                "ci_low_log2": 1.7355,
                "ci_high_log2": 3.3205,
                "ratio": 7.7131,
                "ratio_ci_low": 3.3301,
                "ratio_ci_high": 9.9902,
                "pvalue": 0.00123,
                "df": 3,
                "note": "",
            }
        ]
    )
    _write(root, "results/primary/mir126_ancova.tsv", anc)
    vals = pd.DataFrame(
        {
            "participant_id": pids,
            "arm": arms,
            "y_baseline": rng.normal(5, 1, n_participants).round(3),
            "y_followup": rng.normal(5.5, 1, n_participants).round(3),
        }
    )
    _write(root, "results/primary/mir126_values.tsv", vals)
    return sids


def write_ev(root: Path, hostile: bool = True) -> None:
    lot = HOSTILE_LOT if hostile else "EVL-1"
    _write(
        root,
        "results/ev/lot_summary.tsv",
        pd.DataFrame(
            [
                {
                    "lot_id": lot,
                    "verdict": "pass",
                    "verdict_reason": "",
                    "release_decision": "released",
                    "n_runs": 2,
                    "conc_per_ml": 3.3e11,
                    "mode_nm": 91.2,
                    "d10_nm": 63.1,
                    "d50_nm": 110.2,
                    "d90_nm": 190.3,
                    "particles_per_ug": 1.3e10,
                }
            ]
        ),
    )
    _write(
        root,
        "results/ev/lot_qc.tsv",
        pd.DataFrame(
            [
                {
                    "lot_id": lot,
                    "criterion": "mode_nm",
                    "value": 91.2,
                    "limit": "< 200",
                    "status": "pass",
                }
            ]
        ),
    )


def write_downstream(root: Path, pids: list[str], hostile: bool = True) -> None:
    """Pathway, clinical, ROC, CONSORT, safety and interim tables (contracts)."""
    arms = [ARMS[i % 2] for i in range(len(pids))]
    pw = HOSTILE_AE if hostile else "PI3K-AKT"
    scores = [
        (f"{p}_BL", p, a, t, pwy, "waggr", 0.1 * i)
        for i, (p, a) in enumerate(zip(pids, arms, strict=True))
        for t in TIMEPOINTS
        for pwy in (pw, "MAPK")
    ]
    _write(
        root,
        "results/pathways/scores.tsv",
        pd.DataFrame(
            scores,
            columns=[
                "sample_id",
                "participant_id",
                "arm",
                "timepoint",
                "pathway",
                "method",
                "score",
            ],
        ),
    )
    _write(
        root,
        "results/pathways/tests.tsv",
        pd.DataFrame(
            [
                {
                    "pathway": "MAPK",
                    "method": "waggr",
                    "analysis": "ancova",
                    "contrast": "exosome - placebo",
                    "estimate": 5.4321,
                    "ci_low": 1.0,
                    "ci_high": 9.0,
                    "statistic": 2.2,
                    "p_value": 0.03,
                    "p_adjusted": 0.06,
                    "adjustment": "holm",
                    "n": 6,
                }
            ]
        ),
    )
    _write(
        root,
        "results/pathways/network.tsv",
        pd.DataFrame(
            [
                {
                    "pathway": "MAPK",
                    "mirna": "hsa-miR-126-3p",
                    "n_targets_in_pathway": 2,
                    "n_targets_total": 40,
                    "weight": 0.316,
                    "signed_weight": -0.316,
                }
            ]
        ),
    )
    ep = [
        {
            "param": "SYSBP",
            "label": "Systolic <u>BP</u>",
            "domain": "VS",
            "kind": "continuous",
            "model": "ANCOVA",
            "analysis": "primary",
            "population": "mITT",
            "effect_measure": "difference",
            "estimate": -8.7654,
            "ci_low": -12.1,
            "ci_high": -3.2,
            "p_value": 0.004,
            "n_treatment": 3,
            "n_control": 3,
            "mean_chg_treatment": -15.25,
            "sd_chg_treatment": 6.5,
            "mean_chg_control": -6.5,
            "sd_chg_control": 5.25,
            "assessor_blinded_fraction": 1.0,
            "detection_bias": "",
        },
        {
            "param": "EDEMA_LE",
            "label": "Lower-limb edema",
            "domain": "EDEMA",
            "kind": "binary",
            "model": "logistic",
            "analysis": "primary",
            "population": "mITT",
            "effect_measure": "odds ratio",
            "estimate": 0.5,
            "ci_low": 0.1,
            "ci_high": 2.5,
            "p_value": 0.036,
            "n_treatment": 3,
            "n_control": 3,
            "assessor_blinded_fraction": 0.0,
            "detection_bias": "at risk: assessor not blinded in 100% of readings "
            "(open-label)",
        },
        {
            "param": "HGB",
            "label": "Haemoglobin",
            "domain": "LB",
            "kind": "continuous",
            "model": "ANCOVA",
            "analysis": "primary",
            "population": "mITT",
            "effect_measure": "difference",
            "estimate": 0.31,
            "ci_low": -0.2,
            "ci_high": 0.8,
            "p_value": 0.2,
            "n_treatment": 3,
            "n_control": 3,
        },
    ]
    _write(root, "results/clinical/endpoints.tsv", pd.DataFrame(ep))
    base = [
        (
            "Age (years)",
            "",
            arm,
            3 if arm != "all" else 6,
            "31.2 (5.1)" if arm == "all" else "30.0 (4.0)",
            "mean (SD)",
        )
        for arm in ["all", *ARMS]
    ]
    # UPCR is analysed on the log scale: geometric mean; one missing value
    base += [
        (
            "UPCR",
            "",
            arm,
            {"all": 5, "placebo": 3, "exosome": 2}[arm],
            {"all": "41.7", "placebo": "35.2", "exosome": "53.9"}[arm] + " (×/÷ 1.80)",
            "geometric mean (×/÷ GSD)",
        )
        for arm in ["all", *ARMS]
    ]
    # the clinical stage's VST row of the primary miRNA (not shown: one scale)
    base += [
        (
            "hsa-miR-126-3p (log2)",
            "",
            arm,
            6 if arm == "all" else 3,
            "11.11 (0.5)",
            "mean (SD)",
        )
        for arm in ["all", *ARMS]
    ]
    _write(
        root,
        "results/clinical/baseline_table.tsv",
        pd.DataFrame(
            base, columns=["variable", "level", "arm", "n", "summary", "statistic"]
        ),
    )
    _write(
        root,
        "results/clinical/association.tsv",
        pd.DataFrame(
            [
                {
                    "param": "SYSBP",
                    "analysis": "ols_slope",
                    "arm": "pooled",
                    "estimate": 4.4444,
                    "ci_low": 1.0,
                    "ci_high": 7.0,
                    "p_value": 0.01,
                    "p_bh": 0.02,
                    "n": 6,
                },
                {
                    "param": "SYSBP",
                    "analysis": "spearman",
                    "arm": "exosome",
                    "estimate": 0.5,
                    "ci_low": 0.1,
                    "ci_high": 0.8,
                    "p_value": 0.1,
                    "p_bh": 0.2,
                    "n": 3,
                },
            ]
        ),
    )
    _write(
        root,
        "results/clinical/analysis_dataset.tsv",
        pd.DataFrame(
            {
                "participant_id": pids,
                "arm": arms,
                "param": "SYSBP",
                "bl": 150,
                "wk1": 140,
                "chg": -10,
                "flags": "",
            }
        ),
    )
    _write(
        root,
        "results/clinical/plausibility.tsv",
        pd.DataFrame(
            [
                {
                    "participant_id": pids[0],
                    "visit": "week1",
                    "param": "SYSBP",
                    "value": 235,
                    "unit": "mm[Hg]",
                    "soft_low": 70,
                    "soft_high": 220,
                    "limit_source": "shipped default (clinical.plausibility_limits)",
                    "source_lines": "58",
                    "action": "kept in the primary analysis; excluded in the "
                    "sensitivity analysis excluding_implausible",
                    "note": "",
                }
            ]
        ),
    )
    roc = [
        ("auc", 0.792, 0.70, 0.89, "DeLong", "", ""),
        ("sensitivity", 0.8571, 0.72, 0.93, "Wilson", 36, 42),
        ("specificity", 0.8182, 0.68, 0.91, "Wilson", 36, 44),
        ("youden_j", 0.675, "", "", "", "", ""),
    ]
    _write(
        root,
        "results/clinical/roc.tsv",
        pd.DataFrame(
            roc,
            columns=[
                "metric",
                "value",
                "ci_low",
                "ci_high",
                "ci_method",
                "numerator",
                "denominator",
            ],
        ).assign(registry_value=""),
    )
    _write(
        root,
        "results/clinical/roc_curve.tsv",
        pd.DataFrame(
            {
                "fpr": [0, 0, 0.1818, 0.5, 1],
                "tpr": [0, 0.5, 0.8571, 0.95, 1],
                "threshold": [9, 6, 5, 4, 1],
            }
        ),
    )
    consort = [
        ("assessed for eligibility", "all", 10, ""),
        (
            "excluded",
            "all",
            4,
            "not eligible: 3; " + (HOSTILE_REASON if hostile else "declined: 1"),
        ),
        ("randomised", "all", 6, ""),
    ]
    for arm in ARMS:
        consort += [
            ("allocated", arm, 3, ""),
            ("received intervention", arm, 3, ""),
            ("lost to follow-up", arm, 0, ""),
            ("analysed (mITT)", arm, 3, ""),
        ]
    _write(
        root,
        "results/clinical/consort.tsv",
        pd.DataFrame(consort, columns=["node", "arm", "n", "reasons"]),
    )
    ae = [
        {
            "table": "overview",
            "category": "any AE",
            "soc": "",
            "pt": "",
            "arm": arm,
            "n_participants": 2,
            "n_events": 3,
            "percent": 66.7,
            "risk_difference": "",
            "rd_ci_low": "",
            "rd_ci_high": "",
        }
        for arm in ARMS
    ]
    ae += [
        {
            "table": "soc_pt",
            "category": "",
            "soc": "Skin",
            "pt": HOSTILE_AE if hostile else "Rash",
            "arm": "exosome",
            "n_participants": 1,
            "n_events": 1,
            "percent": 33.3,
            "risk_difference": 33.3,
            "rd_ci_low": -20.0,
            "rd_ci_high": 70.0,
        }
    ]
    ae += [
        {
            "table": "sae_listing",
            "category": pids[0],
            "soc": "Vascular",
            "pt": "Hypertension",
            "arm": "placebo",
            "n_participants": 1,
            "n_events": 1,
            "percent": "",
            "risk_difference": "",
            "rd_ci_low": "",
            "rd_ci_high": "",
        }
    ]
    _write(root, "results/clinical/adverse_events.tsv", pd.DataFrame(ae))
    _write(
        root,
        "results/clinical/lab_shifts.tsv",
        pd.DataFrame(
            [
                (p, arm, "normal", "high", 1, 0.0, 33.0, "U/L", RANGE_SOURCE)
                for p in ("ALT",)
                for arm in ARMS
            ],
            columns=[
                "param",
                "arm",
                "baseline_class",
                "week1_class",
                "n",
                "low_limit",
                "high_limit",
                "unit",
                "range_source",
            ],
        ),
    )
    # Interim: plan t = 0.5, 1.0 (72 evaluable); this look at 18/72 = 0.25 (an
    # unplanned early look); boundaries are the published/closed-form values
    # (3.920 = 1.96 / sqrt(.25); 2.772 / 1.979 from analysis_spec 3.5; per side
    # 4.333 / 2.963 / 1.969). The primary ANCOVA statistic is t(14) = 2.9135
    # (two-sided p 0.01134, z-equivalent 2.532 by scipy). The conditional powers
    # are render-contract strings (EFFICACY_STRINGS), not derived values.
    blank = {
        "observed_t": "",
        "observed_df": "",
        "observed_p": "",
        "observed_z": "",
        "crossed": "",
        "conditional_power": "",
        "conditional_power_design": "",
        "futility_flag": "",
        "decision_note": "",
    }
    design = [
        (
            "planned",
            1,
            "planned",
            0.5,
            36,
            0.005575,
            2.7718,
            0.005575,
            2.9626,
            0.003051,
            0.7588,
        ),
        ("planned", 2, "planned", 1.0, 72, 0.05, 1.9793, 0.047781, 1.9686, 0.049, ""),
        (
            "actual",
            1,
            "current",
            0.25,
            18,
            0.000089,
            3.9199,
            0.000089,
            4.3326,
            0.000015,
            0.4348,
        ),
        (
            "actual",
            2,
            "remaining",
            0.5,
            36,
            0.005575,
            2.7740,
            0.005538,
            2.9631,
            0.003045,
            0.7589,
        ),
        ("actual", 3, "final", 1.0, 72, 0.05, 1.9794, 0.047774, 1.9686, 0.048999, ""),
    ]
    rows = []
    for sched, look, role, t, n, spent, zt, pt, zs, ps, fut in design:
        rows.append(
            {
                "report": "closed",
                "schedule": sched,
                "look": look,
                "look_role": role,
                "information_fraction": t,
                "n_evaluable": n,
                "alpha_spent": spent,
                "nominal_p": pt,
                "z_boundary": zt,
                "z_boundary_total": zt,
                "nominal_p_total": pt,
                "z_boundary_per_side": zs,
                "nominal_p_per_side": ps,
                "futility_z_boundary": fut,
                **blank,
            }
        )
    rows[2].update(
        observed_t=2.9135,
        observed_df=14,
        observed_p=0.011336,
        observed_z=2.5322,
        crossed="false",
        conditional_power=0.8642,
        conditional_power_design=0.7351,
        futility_flag="false",
        decision_note="t = 18/72 = 0.250; |z| = 2.532 < 3.920; continue",
    )
    _write(root, "results/clinical/interim.tsv", pd.DataFrame(rows))
    _write(
        root,
        "results/clinical/safety_triggers.tsv",
        pd.DataFrame(
            [
                {
                    "rule": "related grade >= 4 AE in exosome arm",
                    "threshold": 1,
                    "observed": 0,
                    "triggered": "false",
                }
            ]
        ),
    )


def write_dsmb(root: Path, pids: list[str]) -> None:
    """DSMB listings: AE listing, enrolment, deviations, batch balance."""
    arms = [ARMS[i % 2] for i in range(len(pids))]
    ae = [
        (pids[0], arms[0], "A1", "Nervous system disorders", "Headache", "",
         "2025-01-02", 1, "2025-01-03", 1, "N", "", "not", "none", "none",
         "recovered", True),
        (pids[1], arms[1], "A1", "Immune system disorders", "Hypersensitivity", "",
         "2025-01-05", 0, "2025-01-06", 3, "N", "", "probable", "hypersensitivity",
         "interrupted", "recovered", True),
    ]  # fmt: skip
    from exomir.clinical import dsmb

    _write(
        root,
        "results/clinical/ae_listing.tsv",
        pd.DataFrame(ae, columns=dsmb.AE_LISTING_COLUMNS),
    )
    _write(
        root,
        "results/clinical/enrolment.tsv",
        pd.DataFrame(
            [
                {"table": "month", "period": "2025-01", "n_randomised": 4,
                 "cumulative": 4, "planned_cumulative": 3, "target": 6},
                {"table": "month", "period": "2025-02", "n_randomised": 2,
                 "cumulative": 6, "planned_cumulative": 6, "target": 6},
                {"table": "site", "site": "SITE-A", "n_randomised": 4,
                 "percent": 66.7, "first_randomised": "2025-01-02",
                 "last_randomised": "2025-02-10"},
                {"table": "site", "site": "SITE-B", "n_randomised": 2,
                 "percent": 33.3, "first_randomised": "2025-01-09",
                 "last_randomised": "2025-02-20"},
            ],
            columns=dsmb.ENROLMENT_COLUMNS,
        ),
    )  # fmt: skip
    _write(
        root,
        "results/clinical/deviations.tsv",
        pd.DataFrame(
            [
                (pids[2], arms[2], "major_deviation", "visit out of window",
                 "follow-up visit day", "contradiction", DEVIATION_EVIDENCE),
            ],
            columns=dsmb.DEVIATION_COLUMNS,
        ),
    )  # fmt: skip
    n = len(pids)
    _write(
        root,
        "results/clinical/batch_balance.tsv",
        pd.DataFrame(
            [
                ("library_batch", ONE_ARM_BATCH, "placebo", 0, n, True),
                ("library_batch", ONE_ARM_BATCH, "exosome", n, n, True),
                ("library_batch", ONE_ARM_BATCH, "all", n, n, True),
                ("library_batch", "LB2", "placebo", n // 2, n, False),
                ("library_batch", "LB2", "exosome", n - n // 2, n, False),
                ("library_batch", "LB2", "all", n, n, False),
            ],
            columns=dsmb.BATCH_COLUMNS,
        ),
    )


def build_tree(
    root: Path, hostile: bool = True, n_participants: int = 6, full: bool = True
) -> dict:
    """Write the whole fixture under ``root``; return the config."""
    write_reads(root, n_participants=n_participants, hostile=hostile)
    write_ev(root, hostile=hostile)
    if full:
        write_downstream(
            root, participant_ids(n_participants, hostile), hostile=hostile
        )
        write_dsmb(root, participant_ids(n_participants, hostile))
    blind(root)
    return config()


def blind(root: Path) -> list[str]:
    """Write the blinded copies the open report reads (rule report_blind)."""
    files = [p.relative_to(root).as_posix() for p in (root / "results").rglob("*.tsv")]
    return write_blinded(root, sorted(files), config()["sheets"])
