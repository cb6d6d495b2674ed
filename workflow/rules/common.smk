# Helpers shared by the workflow stages. Configuration and sheet validation at load
# time, sample lists, wildcard constraints and input functions.

import sys
from pathlib import Path

from exomir.config import is_trial_study, resolve_path, validate_config
from exomir.errors import ValidationError
from exomir.ev.lots import nta_input_files
from exomir.report.firewall import BLINDED_SHEETS, open_inputs, sheet_blinded_path
from exomir.units import conversions_path
from exomir.validate import validate_config_and_tables

try:
    CFG = validate_config(config, "config/config.yaml")
    SCENARIO = validate_config_and_tables(Path("."), CFG)
except ValidationError as exc:
    raise SystemExit(f"exomir: the inputs are not valid.\n{exc}")

SAMPLES_DF = SCENARIO.samples
SAMPLES = list(SAMPLES_DF["sample_id"])
# A trial study names sheets.participants; without it the study is QC-only
# (reads -> counts -> read QC -> MultiQC, and the report says so).
TRIAL = is_trial_study(CFG)

# Targets of each stage. The stage file (included by the Snakefile before
# `rule all`) sets its list; a stage that is not part of this study keeps the
# empty one. `rule all`, the merge and the report read these lists only.
DE_OUTPUTS = []
PRIMARY_OUTPUTS = []
SAFETY_OUTPUTS = []
ROC_OUTPUTS = []
INTERIM_OUTPUTS = []
PATHWAY_OUTPUTS = []
CLINICAL_OUTPUTS = []
MERGE_OUTPUTS = []
REPORT_OUTPUTS = []
SITES_OUTPUTS = []
PROTEIN_OUTPUTS = []
PROTEIN_EFFECT_OUTPUTS = []
INTEGRATION_OUTPUTS = []
EVENTS_OUTPUTS = []


def ref_path(value):
    """Resolve a config path ('@resources/...' = shipped references)."""
    return str(resolve_path(value, Path(".")))


def get_fastq(wildcards):
    """FASTQ file of one library."""
    return str(SCENARIO.path(str(SAMPLES_DF.loc[wildcards.sample, "fastq"])))


def get_protocol(wildcards):
    """Protocol settings of one library (preset, with the sheet's overrides)."""
    row = SAMPLES_DF.loc[wildcards.sample]
    name = row["protocol"]
    if name == "auto":  # kit detected from the reads (exomir.reads.kit)
        return {"name": "auto", "presets": dict(CFG["protocols"])}
    if name == "custom":
        proto = {"adapter_3p": row["adapter_3p"], "clip_5p": 0, "clip_3p": 0}
        proto["umi"] = row.get("umi_scheme") or "none"
    else:
        proto = dict(CFG["protocols"][name])
        if row.get("adapter_3p"):
            proto["adapter_3p"] = row["adapter_3p"]
    proto["name"] = name
    return proto


def get_contaminant_fastas():
    """Contaminant FASTA files, category -> list of paths."""
    return {
        cat: [ref_path(p) for p in paths] for cat, paths in CFG["contaminants"].items()
    }


def get_contaminant_files():
    """Every contaminant FASTA, in config order (inputs of the index build)."""
    return [p for paths in get_contaminant_fastas().values() for p in paths]


def get_sheet(kind):
    """Path of a configured sheet."""
    return ref_path(CFG["sheets"][kind])


def has_sheet(kind):
    """Whether the config names this sheet."""
    return kind in CFG["sheets"]


def get_sheets(*kinds):
    """Paths of the configured sheets among ``kinds`` (missing ones skipped)."""
    return [get_sheet(k) for k in kinds if has_sheet(k)]


def has_ev_sheets():
    """Whether the config names the EV lot and NTA run sheets."""
    return "ev_lots" in CFG["sheets"] and "ev_nta_runs" in CFG["sheets"]


def get_nta_files():
    """NTA export files of every run (inputs of the EV stage)."""
    if not has_ev_sheets():
        return []
    return nta_input_files(SCENARIO.tables["ev_nta_runs"], SCENARIO.directory)


def get_ev_tables():
    """EV lot summary and dose tables for the AnnData (none without EV sheets)."""
    if not has_ev_sheets():
        return []
    return ["results/ev/lot_summary.tsv", "results/ev/dose_per_participant.tsv"]


def has_clinical_sheets():
    """Whether the config names the clinical measurements sheet."""
    return "clinical_measurements" in CFG["sheets"]


def get_unit_conversions():
    """The unit conversion table (config clinical.unit_conversions)."""
    return ref_path(conversions_path(CFG))


def get_ev_dose_table(wildcards):
    """Per-participant EV dose for the merge (none without EV sheets)."""
    if not has_ev_sheets():
        return []
    return ["results/ev/dose_per_participant.tsv"]


def get_pathway_scores(wildcards):
    """Pathway scores for the merge, when the pathways stage is included."""
    if "results/pathways/scores.tsv" in PATHWAY_OUTPUTS:
        return ["results/pathways/scores.tsv"]
    return []


def get_final_outputs():
    """Everything `rule all` builds."""
    targets = [
        "results/counts/mirna_counts.tsv",
        "results/counts/isomir_counts.tsv",
        "results/counts/mirna.h5ad",
        "results/qc/read_funnel.tsv",
        "results/qc/library_qc.tsv",
        "results/multiqc/multiqc_report.html",
    ]
    if not TRIAL:  # QC-only study: the raw counts object, no normalisation
        targets[2] = "results/counts/mirna_raw.h5ad"
    targets += DE_OUTPUTS + PRIMARY_OUTPUTS
    targets += SAFETY_OUTPUTS + ROC_OUTPUTS + INTERIM_OUTPUTS
    targets += PATHWAY_OUTPUTS
    targets += REPORT_OUTPUTS
    targets += CLINICAL_OUTPUTS + MERGE_OUTPUTS
    targets += SITES_OUTPUTS
    targets += PROTEIN_OUTPUTS
    targets += PROTEIN_EFFECT_OUTPUTS + INTEGRATION_OUTPUTS
    if has_ev_sheets():
        targets += [
            "results/ev/lot_qc.tsv",
            "results/ev/lot_summary.tsv",
            "results/ev/misev_checklist.tsv",
            "results/ev/dose_per_participant.tsv",
            "results/ev/size_distributions.png",
            "results/ev/lot_metrics.png",
        ]
    return targets


def get_pathway_interaction_files():
    """Interaction tables of the pathway stage (config pathways.interactions)."""
    return [ref_path(str(s["path"])) for s in CFG["pathways"]["interactions"]]


# Results files the HTML report reads, by stage. THE place to extend when a
# stage is added: its `<STAGE>_OUTPUTS` list goes under its report stage here;
# its .tsv/.png/.svg files become inputs of the report, and a stage whose lists
# are empty shows "not run".
REPORT_FILE_TYPES = (".tsv", ".png", ".svg")


def report_stage_files():
    """Results files of every stage in this workflow run, by stage (report inputs)."""
    stages = {
        "reads": [
            "results/qc/read_funnel.tsv",
            "results/qc/library_qc.tsv",
            "results/qc/length_distribution.tsv",
            "results/counts/mirna_counts.tsv",
        ],
        "de": (
            [
                *DE_OUTPUTS,
                *PRIMARY_OUTPUTS,
                "results/de/pca.tsv",
                "results/de/mirna_filter.tsv",
                "results/primary/mir126_values.tsv",
            ]
            if TRIAL
            else []
        ),
        "ev": [],
    }
    if has_ev_sheets():
        stages["ev"] = [
            "results/ev/lot_qc.tsv",
            "results/ev/lot_summary.tsv",
            "results/ev/misev_checklist.tsv",
            "results/ev/dose_per_participant.tsv",
            "results/ev/size_distributions.png",
            "results/ev/lot_metrics.png",
        ]
    stages["pathways"] = PATHWAY_OUTPUTS
    stages["clinical"] = CLINICAL_OUTPUTS
    stages["safety"] = SAFETY_OUTPUTS + ROC_OUTPUTS + INTERIM_OUTPUTS
    stages["sites"] = SITES_OUTPUTS
    stages["proteins"] = PROTEIN_OUTPUTS
    stages["protein_effects"] = PROTEIN_EFFECT_OUTPUTS
    stages["integration"] = INTEGRATION_OUTPUTS
    stages["events"] = EVENTS_OUTPUTS
    return {
        stage: [f for f in dict.fromkeys(files) if str(f).endswith(REPORT_FILE_TYPES)]
        for stage, files in stages.items()
    }


def report_results_files():
    """Every results file a report of this run may read (closed report inputs)."""
    return sorted({f for fs in report_stage_files().values() for f in fs})


def get_report_inputs(wildcards):
    """Inputs of the closed report: results files and the sheets it reads."""
    sheets = [
        get_sheet(k)
        for k in ("samples", "participants", "clinical_measurements")
        if k in CFG["sheets"]
    ]
    return {
        "results": report_results_files(),
        "sheets": sheets,
        "config": "config/config.yaml",
    }


def get_blind_sources():
    """Files with arm information that the blinding job copies without it."""
    _, blind = open_inputs(report_results_files())
    sheets = {k: get_sheet(k) for k in BLINDED_SHEETS if k in CFG["sheets"]}
    return blind, sheets


def get_open_report_inputs(wildcards):
    """Inputs of the open report: open-safe results and blinded copies only."""
    safe, blind = open_inputs(report_results_files())
    _, sheets = get_blind_sources()
    return {
        "results": safe + list(blind.values()),
        "sheets": [
            *[
                get_sheet(k)
                for k in ("samples", "clinical_measurements")
                if has_sheet(k)
            ],
            *[sheet_blinded_path(k) for k in sheets],
        ],
        "config": "config/config.yaml",
    }


def get_withheld_files():
    """Closed results files of this run: the open report names them, never reads them."""
    safe, blind = open_inputs(report_results_files())
    return sorted(set(report_results_files()) - set(safe) - set(blind))


def get_report_references():
    """Reference files the pathway section reads (the roles file, when shipped)."""
    if "pathways" not in CFG:
        return []
    roles = (CFG["pathways"] or {}).get(
        "roles", "@resources/pathways/pathway_roles.tsv"
    )
    return (
        [ref_path(str(roles))] if roles and Path(ref_path(str(roles))).is_file() else []
    )


# The outputs of `snakemake ... qc`: reads -> counts -> read QC -> MultiQC, on
# any scenario (trial or QC-only).
QC_TARGETS = [
    "results/counts/mirna_counts.tsv",
    "results/counts/isomir_counts.tsv",
    "results/counts/mirna_raw.h5ad",
    "results/qc/read_funnel.tsv",
    "results/qc/library_qc.tsv",
    "results/qc/length_distribution.tsv",
    "results/multiqc/multiqc_report.html",
]
