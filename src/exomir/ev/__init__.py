"""EV product characterisation: NTA exports, lot certificate and dose.

Reads the nanoparticle-tracking exports of the exosome product (analysis_spec
§4, layouts in ``EV_FORMATS.md``) into one record, :class:`NtaRun`, and judges
each lot against the release criteria. Modules: ``export``, ``stats`` and
``record`` (shared by the readers), ``nanosight`` and ``zetaview`` (readers),
``headers`` (checks of ``exomir validate``), ``settings``, ``runs``,
``summary``, ``certificate``, ``misev``, ``dose``, ``anndata``, ``plots``, and
``lots`` (the workflow step :func:`exomir.ev.lots.run_ev_qc`). Conventions
(units, bins, percentiles, mode) are in ``docs/ev.md``.
"""

from exomir.ev.export import NtaFormatError, decode_export, parse_number, read_bytes
from exomir.ev.record import NtaRun, agreement, resolve_dilution
from exomir.ev.stats import (
    DEFAULT_WINDOW,
    cdf_at,
    estimate_mode,
    percentile,
    size_stats,
)

__all__ = [
    "DEFAULT_WINDOW",
    "NtaFormatError",
    "NtaRun",
    "agreement",
    "cdf_at",
    "decode_export",
    "estimate_mode",
    "parse_number",
    "percentile",
    "read_bytes",
    "resolve_dilution",
    "size_stats",
]
