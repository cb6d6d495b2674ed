# Protein biomarker layer, quantification (docs/proteins.md): every ELISA plate of
# sheets.protein_plates (plate map + plate-reader export) -> standard curves,
# quantification range, sample concentrations and plate verdicts
# (exomir.proteins.run). Included only when the config names sheets.protein_plates;
# the settings (config proteins.curve / proteins.acceptance) are checked here, at
# parse time, and handed to the job as typed frozen dataclasses.

from exomir.proteins.settings import panel, quant_settings
from exomir.proteins.sheets import plate_input_files

PROTEIN_SETTINGS = quant_settings(CFG)
PROTEIN_PANEL = panel(CFG)
PROTEIN_OUTPUTS = [
    "results/proteins/concentrations.tsv",
    "results/proteins/wells.tsv",
    "results/proteins/standards.tsv",
    "results/proteins/curves.tsv",
    "results/proteins/plate_qc.tsv",
    "results/proteins/standard_curves",
]


rule protein_quant:
    input:
        samples=get_sheet("protein_samples"),
        plates=get_sheet("protein_plates"),
        files=plate_input_files(SCENARIO.tables["protein_plates"], SCENARIO.directory),
    output:
        concentrations="results/proteins/concentrations.tsv",
        wells="results/proteins/wells.tsv",
        standards="results/proteins/standards.tsv",
        curves="results/proteins/curves.tsv",
        plate_qc="results/proteins/plate_qc.tsv",
        figures=directory("results/proteins/standard_curves"),
    log:
        "logs/protein_quant/protein_quant.log",
    benchmark:
        "benchmarks/protein_quant/protein_quant.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        settings=PROTEIN_SETTINGS,
        panel=PROTEIN_PANEL,
    script:
        "../scripts/protein_quant.py"
