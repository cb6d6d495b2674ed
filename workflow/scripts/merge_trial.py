"""Snakemake shim for rule ``merge_trial`` (see workflow/rules/merge.smk).

All logic is in :func:`exomir.clinical.merge.merge_from_files`. The EV dose
table and the pathway scores are optional inputs (empty lists when their
stages are not part of the workflow).
"""

import logging
from typing import Any

from exomir.clinical.merge import merge_from_files
from exomir.notcomputed import run_step
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    dose = list(smk.input.get("dose", []))
    pathways = list(smk.input.get("pathways", []))

    def step() -> None:
        merge_from_files(
            smk.config,
            smk.input.dataset,
            smk.input.populations,
            smk.input.h5ad,
            smk.output.participants,
            smk.output.h5ad,
            dose_path=dose[0] if dose else None,
            pathways_path=pathways[0] if pathways else None,
        )

    try:
        run_step(smk.input, smk.output, step)
    except Exception:
        logging.getLogger("exomir.clinical").exception("the trial merge failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
