"""Stage outputs that are written as "not computed", with the reason.

A stage that cannot compute anything from its inputs (no library passed QC, so
nothing is left to normalise, test or model) still writes every declared
output, so that the workflow completes and the reports can say why. The
outputs then carry the reason instead of results:

- ``.tsv``: a one-column table, header ``not_computed``, one row with the
  reason (:data:`MARKER`); :func:`reason_of` recognises it.
- ``.h5ad``: an AnnData with no observations whose ``uns["not_computed"]``
  holds the reason.
- ``.svg`` / ``.png``: a figure showing "not computed" and the reason.
- anything else: a text file ``not computed: <reason>``.

A stage raises :class:`NotComputed` when it finds nothing to compute; the
script shims run their step through :func:`run_step`, which also passes an
upstream "not computed" on to every output without running the step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from exomir.atomic import atomic_open, atomic_path

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Header of a "not computed" TSV.
MARKER = "not_computed"


class NotComputed(Exception):
    """Nothing can be computed from the inputs (e.g. no usable library).

    Parameters
    ----------
    reason
        One sentence a reader of the report can act on.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reason_of(path: PathLike) -> str | None:
    """Reason stored in a "not computed" output, or ``None`` for real results.

    Parameters
    ----------
    path
        A TSV or h5ad output of a stage (other files are never markers).

    Returns
    -------
    str or None
        The reason, if the file is a "not computed" placeholder.
    """
    p = Path(path)
    if not p.is_file():
        return None
    if p.suffix == ".tsv":
        with open(p, encoding="utf-8") as fh:
            if fh.readline().rstrip("\r\n") != MARKER:
                return None
            return fh.readline().rstrip("\r\n") or "no reason recorded"
    if p.suffix == ".h5ad":
        import h5py

        with h5py.File(p, "r") as f:
            uns = f.get("uns")
            if uns is None or MARKER not in uns:
                return None
            value = uns[MARKER][()]
        return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _message_figure(reason: str, path: Path) -> None:
    if path.suffix == ".svg":  # the DE stage's deterministic SVG settings
        from exomir.de import plots

        plots.message_plot(f"not computed\n{reason}", path)
        return
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 2.0))
    ax = fig.add_subplot()
    ax.axis("off")
    text = f"not computed\n{reason}"
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})


def write_output(path: PathLike, reason: str) -> None:
    """Write one output as "not computed" (format by the file suffix).

    Parameters
    ----------
    path
        The declared output.
    reason
        Why nothing was computed.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    one_line = " ".join(reason.split())
    if p.suffix == ".tsv":
        with atomic_open(p) as fh:
            fh.write(f"{MARKER}\n{one_line}\n")
    elif p.suffix == ".h5ad":
        import anndata as ad

        adata = ad.AnnData(uns={MARKER: one_line})
        with atomic_path(p) as tmp:
            adata.write_h5ad(tmp)
    elif p.suffix in (".svg", ".png"):
        _message_figure(one_line, p)
    else:
        with atomic_open(p) as fh:
            fh.write(f"not computed: {one_line}\n")


def write_outputs(paths: Iterable[PathLike], reason: str) -> None:
    """Write every output as "not computed" and log the reason once.

    Parameters
    ----------
    paths
        The declared outputs of the step.
    reason
        Why nothing was computed.
    """
    paths = list(paths)
    log.warning("not computed: %s (%d outputs)", reason, len(paths))
    for p in paths:
        write_output(p, reason)


def upstream_reason(paths: Iterable[PathLike]) -> str | None:
    """Return the reason of the first "not computed" input, or ``None``.

    Parameters
    ----------
    paths
        Input files of a step.

    Returns
    -------
    str or None
        ``"<reason> (<file>)"`` for the first placeholder input.
    """
    for p in paths:
        reason = reason_of(p)
        if reason is not None:
            return reason if "(upstream: " in reason else f"{reason} (upstream: {p})"
    return None


def _flatten(files: Any) -> list[str]:
    if isinstance(files, str | os.PathLike):
        return [str(files)]
    if isinstance(files, Mapping):
        files = files.values()
    out: list[str] = []
    for f in files:
        out.extend(_flatten(f))
    return out


def run_step(inputs: Any, outputs: Any, step: Callable[[], Any]) -> bool:
    """Run a stage step, or write its outputs as "not computed".

    The step is skipped when an input is itself "not computed" (the reason is
    passed on); a :class:`NotComputed` raised by the step writes every output
    with its reason. Any other error propagates (the rule fails as before).

    Parameters
    ----------
    inputs, outputs
        The rule's input and output files (Snakemake ``Namedlist`` objects,
        mappings or lists of paths; nested lists allowed).
    step
        Runs the stage and writes its real outputs.

    Returns
    -------
    bool
        ``True`` when the step computed results.
    """
    out_paths = _flatten(outputs)
    reason = upstream_reason(_flatten(inputs))
    if reason is not None:
        write_outputs(out_paths, reason)
        return False
    try:
        step()
    except NotComputed as exc:
        write_outputs(out_paths, exc.reason)
        return False
    return True
