# exomir: plasma small-RNA-seq, EV product and clinical endpoints of an exosome
# trial, from reads to one report.
#
# Run from the repository with a scenario directory that holds config/:
#     snakemake -s Snakefile --directory DIR --cores N
# Reads -> counts -> read QC -> MultiQC only (any scenario):
#     snakemake -s Snakefile --directory DIR --cores N qc
#
# Path grammar (relative to DIR):
#     results/<stage>/<sample>.<ext>   per-library outputs
#     results/<stage>/<table>.tsv      cohort tables
#     results/reference/               indexes built from the configured references
#     logs/<rule>/<sample>.log         one log per job
#     benchmarks/<rule>/<sample>.tsv   run time and memory of heavy jobs


from snakemake.utils import min_version

min_version("9.0")


# Nothing in the config is executed: refuse YTE templates (`__use_yte__`), YAML
# tags and template syntax before Snakemake's loader reads the file
# (exomir.config_guard). Files given with --configfile were read by Snakemake
# before this point; they are checked too, and refused.
from exomir.config_guard import refuse_config_code
from exomir.errors import ValidationError

try:
    for _cfg in ["config/config.yaml", *map(str, workflow.overwrite_configfiles)]:
        refuse_config_code(_cfg)
except ValidationError as exc:
    raise SystemExit(f"exomir: the configuration is refused.\n{exc}")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    sample="|".join(sorted(SAMPLES)),


include: "workflow/rules/guard.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/library.smk"
include: "workflow/rules/counts.smk"
include: "workflow/rules/qc.smk"


# The trial stages need participants, trial and design (a QC-only study has none).
# Each stage file sets its `<STAGE>_OUTPUTS` list (common.smk starts them empty).
if TRIAL:

    include: "workflow/rules/de.smk"
    include: "workflow/rules/primary.smk"
    include: "workflow/rules/safety.smk"
    include: "workflow/rules/roc.smk"
    include: "workflow/rules/interim.smk"
    include: "workflow/rules/pathways.smk"
    include: "workflow/rules/sites.smk"


if has_clinical_sheets():

    include: "workflow/rules/clinical.smk"
    include: "workflow/rules/merge.smk"
    include: "workflow/rules/integration.smk"


if has_ev_sheets():

    include: "workflow/rules/ev.smk"


if has_sheet("protein_plates"):

    include: "workflow/rules/proteins.smk"


if TRIAL and has_sheet("events"):

    include: "workflow/rules/events.smk"


include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
        DAMAGED_REMOVED,  # damaged intermediates removed at start: rebuilt now


# Reads -> counts -> read QC -> MultiQC, nothing else: `snakemake ... qc`.
rule qc:
    input:
        QC_TARGETS,
        DAMAGED_REMOVED,
