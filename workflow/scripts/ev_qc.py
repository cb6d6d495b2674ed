"""Snakemake shim of rule ``ev_qc``: NTA exports and EV sheets -> lot certificate.

All logic is in :func:`exomir.ev.lots.run_ev_qc`; export paths in the run sheet
are relative to the working directory (the scenario), and the rule declares
every export as an input.
"""

from typing import Any

from exomir.ev.lots import OUTPUT_NAMES, run_ev_qc
from exomir.rulelog import run_rule


def main(smk: Any) -> None:
    run_rule(
        smk,
        lambda: run_ev_qc(
            lots_path=smk.input.lots,
            runs_path=smk.input.runs,
            participants_path=smk.input.participants,
            outputs={key: smk.output[key] for key in OUTPUT_NAMES},
            base=".",
            settings=smk.params.settings,
        ),
        logger="exomir.ev",
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
