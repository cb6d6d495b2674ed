"""Run ``bowtie-align-s`` directly and parse its integer-only output."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass


logger = logging.getLogger(__name__)


class _Bowtie:
    """One bowtie 1 run in the background: input and output are files.

    Reads are written in bowtie's raw format (``-r``, one sequence a line);
    bowtie names them by their 0-based line number, which is what the output
    reports. Every query must be non-empty, without white space, and at least
    ``-v`` + 1 long (bowtie stops with an error on shorter reads).
    """

    def __init__(
        self,
        index: Path,
        queries: Sequence[str] | np.ndarray,
        args: list[str],
        threads: int,
        work: Path,
        label: str,
    ) -> None:
        self.label = label
        raw = isinstance(queries, np.ndarray)  # newline-terminated ASCII bytes
        self.n = int(np.count_nonzero(queries == 10)) if raw else len(queries)
        self.started = time.perf_counter()
        self.cmd = [
            *_bowtie_command(index),
            "-x",
            os.fspath(index),
            "-r",
            "-p",
            str(max(1, threads)),
            *args,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        if not self.n:
            return
        self.reads = work / f"{label}.seq"
        self.out = work / f"{label}.out"
        self.err = work / f"{label}.log"
        with open(self.reads, "wb") as fh:
            if isinstance(queries, np.ndarray):
                fh.write(queries.data)
            else:
                fh.write("\n".join(queries).encode("ascii", "replace"))
                fh.write(b"\n")
        self.cmd.append(os.fspath(self.reads))
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=err)

    def output(self) -> bytes:
        """Wait for bowtie; return its output (``b""`` if there were no reads).

        Raises
        ------
        RuntimeError
            If bowtie failed; the message holds the end of its stderr.
        """
        if self.proc is None:
            return b""
        rc = self.proc.wait()
        if rc != 0:
            msg = self.err.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"bowtie failed ({rc}): {' '.join(self.cmd)}\n{msg}")
        data = self.out.read_bytes()
        logger.debug(
            "bowtie %s: %d reads, %d lines, %.2f s",
            self.label,
            self.n,
            data.count(b"\n"),
            time.perf_counter() - self.started,
        )
        return data

    def stop(self) -> None:
        """Kill bowtie if it still runs (after an error elsewhere)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _bowtie_command(index: Path) -> list[str]:
    """Return the command that runs bowtie 1 on ``index``.

    ``bowtie`` is a Python wrapper that picks ``bowtie-align-s`` (or ``-l``
    for a large index) next to itself and replaces itself with it; starting
    the interpreter costs 0.15-0.25 s a call, more than aligning 30,000 reads.
    The aligner is run directly when it is found there, as the wrapper would.
    """
    wrapper = shutil.which("bowtie")
    if wrapper is not None:
        large = not Path(f"{os.fspath(index)}.1.ebwt").exists() and (
            Path(f"{os.fspath(index)}.1.ebwtl").exists()
        )
        binary = Path(wrapper).resolve().parent / (
            "bowtie-align-l" if large else "bowtie-align-s"
        )
        if binary.is_file() and os.access(binary, os.X_OK):
            return [os.fspath(binary), "--wrapper", "basic-0"]
    return ["bowtie"]


def _int_table(data: bytes, ncols: int) -> np.ndarray:
    """Parse bowtie output whose columns are all integers into an array."""
    nrows = data.count(b"\n")
    if not nrows:
        return np.zeros((0, ncols), dtype=np.int64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            values = np.fromstring(data, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        values = np.zeros(0, dtype=np.int64)
    if values.size != nrows * ncols:
        values = np.array([int(x) for x in data.split()], dtype=np.int64)
    return values.reshape(nrows, ncols)


def _first_category(data: bytes, n_queries: int) -> np.ndarray:
    """Lowest category of each query in ``read<TAB>category`` bowtie output.

    Returns an array over the queries, -1 where a query has no line.
    """
    table = _int_table(data, 2)
    best = np.full(n_queries, np.iinfo(np.int64).max, dtype=np.int64)
    if len(table):
        np.minimum.at(best, table[:, 0], table[:, 1])
    best[best == np.iinfo(np.int64).max] = -1
    return best
