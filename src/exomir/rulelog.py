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
    sys.excepthook = _one_line_hook(logs[0] if logs else None)
    return logging.getLogger("exomir")


def one_line_message(exc: BaseException) -> str:
    """Return the one-line message shown for an error that stops a rule.

    The error's type comes first (``FastqFormatError``,
    ``DamagedIntermediateError``, ``OutputWriteError``...), then its message,
    which for exomir's errors names the file and record or line.

    Parameters
    ----------
    exc
        The exception.

    Returns
    -------
    str
        The first line of the message.
    """
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_line_hook(log_file: str | None) -> Any:
    """Build an excepthook: the traceback goes to the log, one line to stderr."""

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        logging.getLogger("exomir").error(
            "stopped by an error", exc_info=(exc_type, exc, tb)
        )
        where = f" (traceback in {log_file})" if log_file else ""
        sys.stderr.write(f"exomir error: {one_line_message(exc)}{where}\n")

    return hook


def run_rule(
    smk: Any, step: Any, logger: str = "exomir", not_computed: bool = True
) -> bool:
    """Run one rule's step the way every shim does.

    Logging goes to the rule's log file; the step is skipped (its outputs
    written as "not computed") when an input is "not computed", and a
    :class:`~exomir.notcomputed.NotComputed` it raises does the same; any other
    error is logged with its traceback and re-raised, so the rule fails.

    Parameters
    ----------
    smk
        The ``snakemake`` object of a ``script:`` rule.
    step
        Callable without arguments that computes and writes the outputs.
    logger
        Name of the logger the failure is reported on.
    not_computed
        ``False`` for a rule that reads "not computed" inputs as they are (the
        reports and their blinded copies say why a result is missing): the
        step always runs.

    Returns
    -------
    bool
        ``True`` when the step computed results.
    """
    from exomir.notcomputed import run_step

    setup_rule_logging(smk)
    try:
        if not not_computed:
            step()
            return True
        return run_step(smk.input, smk.output, step)
    except Exception:
        logging.getLogger(logger).exception("rule %s failed", smk.rule)
        raise


def optional_input(files: Any) -> str | None:
    """Return the one file of an optional rule input, or ``None``.

    A rule gives an optional input (a sheet the config may not name, a stage
    that may not run) as an empty list when it is absent.

    Parameters
    ----------
    files
        ``snakemake.input.<name>``: a path or a list of at most one path.
    """
    paths = [files] if isinstance(files, str) else list(files or [])
    return str(paths[0]) if paths else None
