"""Snakemake shim: MultiQC custom content for the read QC, then MultiQC.

Calls :func:`exomir.reads.multiqc.make_multiqc_report`. Rule interface::

    input:
        funnel="results/qc/read_funnel.tsv",
        lengths="results/qc/length_distribution.tsv",
        library_qc="results/qc/library_qc.tsv",
        extra=[],  # optional: fastp JSON / cutadapt logs or their directories
    output:
        html="results/multiqc/multiqc_report.html",
        data=directory("results/multiqc/multiqc_report_data"),
        content=multiext("results/multiqc/custom_content/exomir_",
                         "general_stats_mqc.tsv", "library_qc_mqc.tsv",
                         "read_funnel_mqc.tsv", "length_distribution_mqc.yaml",
                         "complexity_mqc.tsv", "hemolysis_mqc.tsv"),
    log:
        "logs/multiqc/multiqc.log",
    params:
        content_dir="results/multiqc/custom_content",
        title=f"{config['trial']['id']}: small-RNA QC",

``content_dir`` defaults to ``custom_content/`` beside the report.
"""

from pathlib import Path
from typing import Any

from exomir.reads.multiqc import make_multiqc_report
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    html = Path(smk.output.html)
    content_dir = (
        getattr(smk.params, "content_dir", None) or html.parent / "custom_content"
    )
    make_multiqc_report(
        smk.input.funnel,
        smk.input.lengths,
        smk.input.library_qc,
        content_dir,
        html,
        extra_inputs=list(getattr(smk.input, "extra", []) or []),
        title=getattr(smk.params, "title", None),
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
