"""Snakemake shim: EV product characterisation (NTA exports -> lot certificate).

Expected rule (``workflow/rules/ev.smk``)::

    rule ev_qc:
        input:
            lots=..., runs=..., participants=...,  # ev_lots / ev_nta_runs / participants
            nta=[...],                              # the exports (for the DAG only)
        output:
            lot_qc=..., lot_summary=..., nta_runs=..., distributions=...,
            misev=..., dose=..., fig_sizes=..., fig_lots=...
        params:
            ev={...},        # the validated `ev:` section of config.yaml
        log: "logs/ev_qc/ev_qc.log"
        script: "../scripts/ev_qc.py"

Exports are resolved against the working directory (the scenario). All logic
is in :func:`exomir.ev.lots.run_ev_qc`; lots whose export cannot be read are
reported as not characterised in the outputs and as ERROR lines in the log.
"""

import logging
from typing import Any

from exomir.ev.lots import run_ev_qc
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    try:
        run_ev_qc(
            smk.input.lots,
            smk.input.runs,
            smk.input.participants,
            dict(smk.output.items()),
            base=".",
            cfg=dict(smk.params.ev),
        )
    except Exception:
        logging.getLogger("exomir.ev").exception("EV characterisation failed")
        raise


if "snakemake" in globals():
    main(globals()["snakemake"])
