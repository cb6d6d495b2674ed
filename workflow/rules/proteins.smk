# Protein biomarker layer, quantification (docs/proteins.md): every ELISA plate of
# sheets.protein_plates (plate map + plate-reader export) -> standard curves,
# quantification range, sample concentrations and plate verdicts
# (exomir.proteins.run); Luminex rows (xPONENT export) are quantified the same way,
# Olink rows (NPX tables) join the concentrations with unit NPX. Included only when
# the config names sheets.protein_plates; the settings (config proteins.curve /
# acceptance / luminex / npx) are checked here, at parse time, and handed to the
# job as typed frozen dataclasses.

from exomir.proteins.luminex import LuminexSettings
from exomir.proteins.npx import NpxSettings
from exomir.proteins.settings import panel, quant_settings
from exomir.proteins.sheets import plate_input_files

PROTEIN_SETTINGS = quant_settings(CFG)
PROTEIN_PANEL = panel(CFG)
PROTEIN_LUMINEX = LuminexSettings.from_config(CFG)
PROTEIN_NPX = NpxSettings.from_config(CFG)
PROTEIN_OUTPUTS = [
    "results/proteins/concentrations.tsv",
    "results/proteins/wells.tsv",
    "results/proteins/standards.tsv",
    "results/proteins/curves.tsv",
    "results/proteins/plate_qc.tsv",
    "results/proteins/standard_curves",
    "results/proteins/bead_counts.tsv",
    "results/proteins/npx_plate_qc.tsv",
    "results/proteins/npx_bridge_adjustments.tsv",
    "results/proteins/npx_detail.tsv",
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
        bead_counts="results/proteins/bead_counts.tsv",
        npx_plate_qc="results/proteins/npx_plate_qc.tsv",
        npx_bridge_adjustments="results/proteins/npx_bridge_adjustments.tsv",
        npx_detail="results/proteins/npx_detail.tsv",
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
        luminex=PROTEIN_LUMINEX,
        npx=PROTEIN_NPX,
    script:
        "../scripts/protein_quant.py"
