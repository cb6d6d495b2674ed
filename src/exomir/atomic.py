"""Write files so that they appear complete or not at all.

Every table, FASTQ and report exomir writes goes through these helpers: the
content is written to a temporary file in the destination directory and renamed
over the final name only when it is complete. A process killed part-way leaves
no half-written output behind (only a ``.tmp-*`` file, which is removed on the
next attempt or ignored).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported by callers; not needed to write bytes
    import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path that is renamed to ``path`` on success.

    Parameters
    ----------
    path
        Final destination. Its parent directory is created if needed.

    Yields
    ------
    Path
        A path in the same directory as ``path``; write the content there.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{final.name}.", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file owner-only; give it the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """Open a file for writing that only appears under its name when complete.

    Parameters
    ----------
    path
        Final destination.
    mode
        ``"w"`` for text or ``"wb"`` for bytes.
    encoding
        Text encoding (ignored in binary mode).

    Yields
    ------
    IO
        The open file object.
    """
    with atomic_path(path) as tmp:
        if "b" in mode:
            with open(tmp, mode) as fh:
                yield fh
        else:
            with open(tmp, mode, encoding=encoding, newline="\n") as fh:
                yield fh


@contextlib.contextmanager
def atomic_gzip(path: str | os.PathLike[str], level: int = 6) -> Iterator[IO[bytes]]:
    """Open a gzip file for binary writing, atomically and reproducibly.

    The gzip header carries no file name and a zero modification time, so the
    same content always gives the same bytes.

    Parameters
    ----------
    path
        Final destination (``.gz``).
    level
        Compression level.

    Yields
    ------
    IO[bytes]
        A binary file object; bytes written are compressed.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=level, mtime=0
            ) as gz:
                yield gz  # type: ignore[misc]


def write_tsv(
    df: pd.DataFrame, path: str | os.PathLike[str], index: bool = False
) -> None:
    """Write a DataFrame as TSV atomically, with a fixed float format.

    Parameters
    ----------
    df
        Table to write; the caller sorts rows for determinism.
    path
        Destination.
    index
        Whether to write the index as the first column.
    """
    with atomic_open(path) as fh:
        df.to_csv(fh, sep="\t", index=index, lineterminator="\n")
