"""Snakemake shim: build the small-RNA reference directory.

Expected rule (paths already resolved, e.g. ``@resources/`` expanded)::

    rule build_reference:
        input:
            mature=..., hairpin=...,
            contaminants=[...],          # all contaminant FASTAs (for the DAG)
        output:
            directory("results/reference"),   # or ".../reference.json"
        params:
            species="hsa",
            mirbase_version="22",        # -> mirGFF3 source "miRBasev22"
            contaminants={"artifact": [...], "rRNA": [...], ...},  # config order
            contaminant_species={"rRNA": "hsa", ...},   # exomir.species
            species_notes=[...],         # human-only classes, logged + manifest
        threads: 2
        log: "logs/build_reference.log"
        script: "../scripts/build_reference.py"

All logic is in :func:`exomir.reads.reference.prepare_reference`.
"""

import logging
from pathlib import Path
from typing import Any

from exomir.reads.reference import MANIFEST, prepare_reference
from exomir.rulelog import setup_rule_logging


def main(smk: Any) -> None:
    setup_rule_logging(smk)
    out = Path(smk.output[0])
    refdir = out.parent if out.name == MANIFEST else out
    params = dict(smk.params.items())
    database = (
        params.get("database") or f"miRBasev{params.get('mirbase_version', '22')}"
    )
    contaminants = {
        str(cat): [str(p) for p in paths]
        for cat, paths in (params.get("contaminants") or {}).items()
    }
    try:
        prepare_reference(
            mature_fasta=smk.input.mature,
            hairpin_fasta=smk.input.hairpin,
            outdir=refdir,
            species=params.get("species", "hsa"),
            contaminants=contaminants,
            database=database,
            threads=smk.threads,
            contaminant_species=dict(params.get("contaminant_species") or {}),
            notes=list(params.get("species_notes") or []),
        )
    except Exception:
        logging.getLogger(__name__).exception("building the reference failed")
        raise


if "snakemake" in globals():
    main(globals()["snakemake"])
