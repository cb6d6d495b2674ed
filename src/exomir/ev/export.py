"""Reading instrument export files: the error type, bytes, text and numbers.

Both NTA readers (:mod:`exomir.ev.nanosight`, :mod:`exomir.ev.zetaview`) and the
header checks of ``exomir validate`` share these, so every export problem is
reported the same way: file, line and reason.
"""

from __future__ import annotations

import math
import re
from pathlib import Path


class NtaFormatError(ValueError):
    """An instrument export that cannot be read, with the place of the problem.

    Parameters
    ----------
    file
        The file as the user named it (e.g. the path in ``ev_nta_runs.tsv``).
    line
        1-based line number of the problem, or ``None`` for the whole file.
    reason
        What is wrong, in words a lab scientist can act on.

    Attributes
    ----------
    file, line, reason
        As given.
    """

    def __init__(self, file: str, line: int | None, reason: str):
        self.file = file
        self.line = line
        self.reason = reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


def decode_export(data: bytes) -> tuple[list[str], str]:
    """Decode an instrument export into lines.

    Both instruments write Latin-1, but files that went through a text editor
    or a LIMS may be UTF-8 (with or without a byte-order mark). The bytes are
    tried as UTF-8 first (which fails on any Latin-1 byte above 0x7F that does
    not form a valid UTF-8 sequence) and read as Latin-1 otherwise. NUL bytes
    (ZetaView profile exports contain some) are removed; LF, CRLF and CR line
    ends are all accepted.

    Parameters
    ----------
    data
        Raw file content.

    Returns
    -------
    lines : list[str]
        Text lines without line ends.
    encoding : str
        ``"utf-8"`` or ``"latin-1"``.
    """
    data = data.replace(b"\x00", b"")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        encoding = "latin-1"
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), encoding


_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def parse_number(text: str | None, decimal_comma: bool = False) -> float | None:
    """Parse a number as instruments write it, or return ``None``.

    Accepts ``2.08e+08``, ``2.500E+0``, ``-0.0`` and, with a decimal comma,
    ``2,500E+0``. ``NaN``, ``Not recorded``, empty cells and words give
    ``None``.

    Parameters
    ----------
    text
        Cell text.
    decimal_comma
        Whether ``,`` is the decimal separator. Even when false, a lone comma
        in a tab- or semicolon-separated cell is read as a decimal comma.

    Returns
    -------
    float or None
        The value, or ``None`` if the cell holds no finite number.
    """
    if text is None:
        return None
    s = text.strip().replace(" ", "")
    if not s or not _NUMBER.match(s):
        return None
    if "," in s:
        if not decimal_comma and "." in s:
            return None
        s = s.replace(",", ".")
    value = float(s)
    return value if math.isfinite(value) else None


def read_bytes(path: str | Path, label: str) -> bytes:
    """Read a file, turning a missing or unreadable file into an NTA error.

    Parameters
    ----------
    path
        File to read.
    label
        Name used in messages.

    Returns
    -------
    bytes
        The content.

    Raises
    ------
    NtaFormatError
        If the file is missing, unreadable or empty.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise NtaFormatError(
            label, None, f"cannot read the file ({exc.strerror})"
        ) from exc
    if not data.strip(b"\x00\r\n\t ,;"):
        raise NtaFormatError(label, 1, "the file is empty")
    return data
