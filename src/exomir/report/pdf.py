"""Print a report to PDF with headless Chromium.

The report's print style does the layout: every collapsed table is opened
(``details::details-content``), and the page margins carry the audience banner
("CLOSED" on every page of the DSMB report), the data cut and "Page n of N"
(CSS page-margin boxes). Chromium's own header and footer are switched off.
Chromium runs with no network, no extensions and a throw-away profile; the PDF
is written next to its destination and renamed into place, so a failed print
leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Flags for a headless print that makes no request of its own.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--no-pdf-header-footer",
    "--virtual-time-budget=15000",
)


class PdfError(RuntimeError):
    """The PDF could not be printed (no Chromium, or Chromium failed)."""


def find_chromium() -> str | None:
    """Path of a Chromium binary: ``$EXOMIR_CHROMIUM``, then the usual names."""
    env = os.environ.get("EXOMIR_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: str | Path, pdf: str | Path, timeout: float = 300) -> Path:
    """Print one HTML file to PDF.

    Parameters
    ----------
    html
        The report file (opened as a ``file://`` URL).
    pdf
        Destination; replaced only when the print succeeded.
    timeout
        Seconds before Chromium is stopped.

    Returns
    -------
    Path
        The PDF written.

    Raises
    ------
    PdfError
        No Chromium found, Chromium failed, or it wrote no PDF.
    """
    exe = find_chromium()
    if exe is None:
        raise PdfError(
            "cannot print the report to PDF: Chromium was not found (install Debian's "
            "'chromium' package, set EXOMIR_CHROMIUM=/path/to/chromium, or switch the "
            "PDFs off with 'report: {pdf: false}' in config/config.yaml)"
        )
    src, dest = Path(html).resolve(), Path(pdf)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pdf-", dir=dest.parent) as tmp:
        out = Path(tmp) / dest.name
        cmd = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={out}",
            src.as_uri(),
        ]
        try:
            res = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise PdfError(
                f"{src}: Chromium did not finish printing within {timeout:.0f} s"
            ) from exc
        if res.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            tail = "\n".join(res.stderr.strip().splitlines()[-5:])
            raise PdfError(
                f"{src}: Chromium could not print the report to PDF "
                f"(exit {res.returncode}):\n{tail}"
            )
        os.replace(out, dest)
    return dest
