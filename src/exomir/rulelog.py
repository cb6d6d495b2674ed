"""Logging set-up shared by the Snakemake script shims.

A shim calls :func:`setup_rule_logging` first, so that everything exomir logs
(and any exception) goes to the rule's ``log:`` file.

Snakemake prepends its own preamble to ``script:`` files, so shims must not use
``from __future__`` imports.
"""

import logging
import sys
from pathlib import Path
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_rule_logging(smk: Any) -> logging.Logger:
    """Send log records to the rule's log file (to stderr if it has none).

    Parameters
    ----------
    smk
        The ``snakemake`` object of a ``script:`` rule (anything with a ``log``
        list works).

    Returns
    -------
    logging.Logger
        The ``exomir`` logger.
    """
    logs = list(getattr(smk, "log", []) or [])
    handlers: list[logging.Handler]
    if logs:
        Path(logs[0]).parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(logs[0], mode="w", encoding="utf-8")]
    else:
        handlers = [logging.StreamHandler(sys.stderr)]
    logging.basicConfig(
        level=logging.INFO, format=FORMAT, handlers=handlers, force=True
    )
    logging.captureWarnings(True)
    return logging.getLogger("exomir")
