"""Snakemake shim for rule ``primary`` (see workflow/rules/de.smk).

All logic is in :func:`exomir.primary.primary_from_files`.
"""

import logging
from pathlib import Path
from typing import Any

from exomir.primary import primary_from_files


def main(smk: Any) -> None:
    Path(smk.log[0]).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=smk.log[0],
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    try:
        primary_from_files(
            smk.config, smk.input.h5ad, smk.output.results, smk.output.data
        )
    except Exception:
        logging.getLogger("exomir.primary").exception("the primary analysis failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
