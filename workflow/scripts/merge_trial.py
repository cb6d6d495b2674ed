"""Snakemake shim for rule ``merge_trial`` (see workflow/rules/merge.smk).

All logic is in :func:`exomir.clinical.merge.merge_from_files`.
"""

from typing import Any

from exomir.clinical.merge import merge_from_files
from exomir.rulelog import optional_input, run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: merge_from_files(
            participants=smk.input.participants,
            dataset_path=smk.input.dataset,
            populations_path=smk.input.populations,
            h5ad_path=smk.input.h5ad,
            participants_out=smk.output.participants,
            h5ad_out=smk.output.h5ad,
            settings=smk.params.settings,
            dose_path=optional_input(smk.input.dose),
            pathways_path=optional_input(smk.input.pathways),
        ),
        logger="exomir.clinical.merge",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
