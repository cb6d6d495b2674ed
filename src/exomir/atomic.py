"""Write files so that they appear complete or not at all.

Every table, FASTQ and report exomir writes goes through these helpers: the
content is written to a temporary file in the destination directory and renamed
over the final name only when it is complete. A process killed part-way leaves
no half-written output behind (only a ``.tmp-*`` file, which is removed on the
next run: :func:`remove_stale_temporaries`, called when the workflow starts).

An operating-system error while writing (read-only folder, full disk, no
permission) is raised as :class:`OutputWriteError`, which names the final
destination rather than the temporary file.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

#: Prefix of the temporary files (``.tmp-<final name>.<random>``).
TMP_PREFIX = ".tmp-"

if TYPE_CHECKING:  # pandas is imported by callers; not needed to write bytes
    pass


class OutputWriteError(OSError):
    """An output could not be written; names the destination, not the temporary.

    Parameters
    ----------
    destination
        Final path of the output.
    cause
        The operating-system error.
    """

    def __init__(self, destination: str | os.PathLike[str], cause: OSError):
        reason = cause.strerror or str(cause)
        super().__init__(cause.errno, reason, str(destination))
        self.destination = str(destination)

    def __str__(self) -> str:
        """Say which output failed and why (e.g. read-only folder, disk full)."""
        return f"cannot write {self.destination}: {self.strerror}"

    def __reduce__(self):  # keep picklable (Snakemake, multiprocessing)
        """Return the constructor arguments for pickling."""
        return (_rebuild_write_error, (self.destination, self.errno, self.strerror))


def _rebuild_write_error(
    destination: str, errno: int | None, strerror: str | None
) -> OutputWriteError:
    return OutputWriteError(destination, OSError(errno, strerror))


def _is_write_error(exc: OSError, tmp: Path | None) -> bool:
    """Whether ``exc`` is about writing the output (not about reading an input)."""
    return exc.filename is None or (tmp is not None and exc.filename == str(tmp))


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
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f"{TMP_PREFIX}{final.name}.", dir=final.parent
        )
    except OutputWriteError:
        raise
    except OSError as exc:  # read-only or missing folder, no permission
        raise OutputWriteError(final, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file owner-only; give it the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        os.replace(tmp, final)
    except OutputWriteError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if _is_write_error(exc, tmp):  # disk full, quota: name the destination
            raise OutputWriteError(final, exc) from exc
        raise
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


def remove_stale_temporaries(root: str | os.PathLike[str]) -> list[Path]:
    """Remove the ``.tmp-*`` files a killed run left under ``root``.

    Called by the workflow when it starts (``onstart``, after Snakemake has
    locked the directory, so no other run of this directory is writing).

    Parameters
    ----------
    root
        Folder to search recursively (``results/``); nothing is done if it
        does not exist.

    Returns
    -------
    list[Path]
        The files removed.
    """
    base = Path(root)
    if not base.is_dir():
        return []
    removed = []
    for tmp in sorted(base.rglob(f"{TMP_PREFIX}*")):
        if tmp.is_file() or tmp.is_symlink():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
