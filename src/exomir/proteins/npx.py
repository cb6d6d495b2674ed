"""Olink-style NPX long tables: reading, LOD flags and bridge normalisation.

An NPX export (Olink NPX Manager / NPX Signature, Olink Explore) is a long
table with one row per sample x assay x plate. NPX is already a log2 scale
(one NPX unit = a doubling of protein), so there is no standard curve: the
values go straight to the concentrations table with ``unit: NPX`` and the
analysis must not log them again. Layout and rules: ``docs/proteins_inputs.md``
("Multiplex and Olink inputs").

Columns (matched ignoring case, spaces and ``_``): required ``SampleID``,
``OlinkID``, ``Assay``, ``PlateID``, ``NPX``; optional ``UniProt``, ``Panel``,
``QC_Warning`` (or Explore's ``SampleQC``), ``LOD``, ``Normalization``,
``SampleType`` and any others (kept out of the result). The separator is
sniffed from the header (comma, semicolon or tab); with semicolon or tab a
decimal comma is accepted, as Olink software writes in European locales.

Rules, in one place:

* ``NA``/empty NPX: the assay was not measured for that sample (flag
  ``not_measured``); any other non-number is an error naming the line.
* LOD flag: ``below_lod`` when ``NPX < LOD`` (both after any bridge
  adjustment, which shifts both by the same amount). The NPX value is kept
  with the flag (``lod_policy: keep``, the Olink recommendation) or emptied
  (``lod_policy: exclude``); it is never replaced by the LOD or another value.
* Sample QC warnings (``Warning``/``WARN``/``FAIL``) are carried into the
  detail table and the plate QC table; with ``qc_warning_policy: exclude``
  (default) the sample's values get flag ``qc_warning`` and no value.
* Bridge normalisation (when ``bridge_samples`` are configured): for every
  assay ``a`` and plate ``p`` other than the reference plate ``r``,
  ``adj(a, p) = median over bridge samples b of (NPX[b, a, r] - NPX[b, a, p])``
  using only bridge samples with a finite NPX and no QC warning on both plates;
  every NPX and LOD of plate ``p`` and assay ``a`` gets ``+ adj(a, p)``. This is
  the "median of paired differences" of Olink's bridging
  (OlinkAnalyze ``olink_normalization_bridge``) applied plate by plate. A plate
  (or one of its assays) with fewer than ``min_bridge`` usable bridge samples
  is an error that names the missing bridge samples.
* A sample measured on several plates (e.g. a trial sample used as a bridge)
  gets the mean of its normalised NPX over the plates it was used on.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.errors import Issue, ValidationError
from exomir.ev.export import decode_export, parse_number

#: Canonical column -> accepted spellings (compared lower-case, without
#: spaces, ``_``, ``-`` and ``.``).
COLUMNS: dict[str, tuple[str, ...]] = {
    "sample_id": ("sampleid",),
    "olink_id": ("olinkid",),
    "assay": ("assay",),
    "plate_id": ("plateid",),
    "npx": ("npx",),
    "uniprot": ("uniprot",),
    "panel": ("panel",),
    "qc_warning": ("qcwarning", "sampleqc"),
    "lod": ("lod",),
    "normalization": ("normalization", "normalisation"),
    "sample_type": ("sampletype",),
}
#: Required columns and their names in Olink's exports (for messages).
REQUIRED = {
    "sample_id": "SampleID",
    "olink_id": "OlinkID",
    "assay": "Assay",
    "plate_id": "PlateID",
    "npx": "NPX",
}
_PASS_WORDS = {"pass", "passed", "ok", ""}
_WARN_WORDS = {"warning", "warn", "fail", "failed"}
_MISSING = {"", "na", "nan", "n/a", "null", "none"}
#: Flags of NPX rows in the concentrations table (the ones shared with the
#: ELISA/Luminex quantification plus ``below_lod`` and ``qc_warning``).
FLAGS = ("ok", "below_lod", "qc_warning", "not_measured")
CONCENTRATION_COLUMNS = [
    "protein_sample_id",
    "participant_id",
    "visit",
    "analyte",
    "concentration",
    "unit",
    "flag",
    "plate_id",
    "cv",
]
#: Default pattern of control sample IDs (plate/sample/negative controls,
#: Olink's inter-plate control ``IPC``); matched with ``re.search``.
DEFAULT_CONTROL_PATTERN = r"(?i)(control|ctrl|^ipc\b|^neg\b)"
MAX_ISSUES = 50


@dataclass(frozen=True)
class NpxSettings:
    """How NPX tables are checked and normalised (config ``proteins.npx``).

    Attributes
    ----------
    bridge_samples
        Sample IDs of the bridge samples run on every plate; empty = no
        bridge normalisation.
    min_bridge
        Minimum number of usable bridge samples per plate and assay.
    reference_plate
        Plate every other plate is adjusted to; ``None`` = the first PlateID
        in sorted order.
    lod_policy
        ``keep``: NPX below LOD keeps its value (flag ``below_lod``);
        ``exclude``: its value is left empty (flag ``below_lod``).
    qc_warning_policy
        ``exclude``: values of samples with a QC warning get flag
        ``qc_warning`` and no value; ``keep``: they keep value and flag.
    unlisted_assays
        ``error``: an assay not in the panel config is an error; ``ignore``:
        it is left out (and counted in the plate QC table).
    control_pattern
        Regular expression of control sample IDs (used when the file has no
        ``SampleType`` column).
    """

    bridge_samples: tuple[str, ...] = ()
    min_bridge: int = 8
    reference_plate: str | None = None
    lod_policy: str = "keep"
    qc_warning_policy: str = "exclude"
    unlisted_assays: str = "error"
    control_pattern: str = DEFAULT_CONTROL_PATTERN

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> NpxSettings:
        """Build the settings from a validated config (``proteins.npx``).

        Parameters
        ----------
        cfg
            The whole config; missing keys take the defaults above.

        Returns
        -------
        NpxSettings
            The settings.
        """
        block = dict((cfg.get("proteins") or {}).get("npx") or {})
        default = cls()
        return cls(
            bridge_samples=tuple(str(s) for s in block.get("bridge_samples") or ()),
            min_bridge=int(block.get("min_bridge", default.min_bridge)),
            reference_plate=block.get("reference_plate"),
            lod_policy=str(block.get("lod_policy", default.lod_policy)),
            qc_warning_policy=str(
                block.get("qc_warning_policy", default.qc_warning_policy)
            ),
            unlisted_assays=str(block.get("unlisted_assays", default.unlisted_assays)),
            control_pattern=str(block.get("control_pattern", default.control_pattern)),
        )


@dataclass
class NpxResult:
    """Everything computed from the NPX tables of a study.

    Attributes
    ----------
    detail
        One row per input row used: file, line, sample_id, plate_id,
        olink_id, assay, analyte, is_control, is_bridge, qc_warning,
        npx_raw, lod_raw, adjustment, npx, lod, flag.
    adjustments
        One row per plate x assay: plate_id, olink_id, assay, analyte,
        reference_plate, n_bridge, adjustment (0 on the reference plate).
    plate_qc
        One row per plate (see :func:`plate_qc`).
    concentrations
        Rows of the agreed concentrations table (``unit: NPX``).
    ignored_assays
        Assays left out because they are not in the panel (sorted).
    """

    detail: pd.DataFrame
    adjustments: pd.DataFrame
    plate_qc: pd.DataFrame
    concentrations: pd.DataFrame
    ignored_assays: list[str] = field(default_factory=list)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", name.strip().lstrip("\ufeff")).lower()


def _sniff(header: str) -> str:
    best, width = ",", 0
    for sep in (",", ";", "\t"):
        n = len(next(csv.reader([header], delimiter=sep)))
        if n > width:
            best, width = sep, n
    return best


def raise_issues(issues: list[Issue]) -> None:
    """Raise a :class:`ValidationError` of at most :data:`MAX_ISSUES` issues.

    Parameters
    ----------
    issues
        Problems found (not empty); beyond the cap one summary line says how
        many more there were.
    """
    if len(issues) > MAX_ISSUES:
        extra = len(issues) - MAX_ISSUES
        first = issues[0]
        issues = [
            *issues[:MAX_ISSUES],
            Issue(first.file, f"... and {extra} more problems of the same kind"),
        ]
    raise ValidationError(issues)


def _map_columns(header: list[str], label: str) -> dict[str, int]:
    keys = [_key(h) for h in header]
    found: dict[str, int] = {}
    issues: list[Issue] = []
    for canon, spellings in COLUMNS.items():
        hits = [i for i, k in enumerate(keys) if k in spellings]
        if len(hits) > 1:
            names = ", ".join(f"'{header[i]}'" for i in hits)
            issues.append(Issue(label, f"column {canon} appears twice ({names})", 1))
        elif hits:
            found[canon] = hits[0]
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        names = ", ".join(REQUIRED[c] for c in missing)
        issues.append(
            Issue(
                label,
                f"not an NPX long table: missing column(s) {names} "
                f"(header: {', '.join(header[:12])})",
                1,
            )
        )
    if issues:
        raise_issues(issues)
    return found


def _qc_flag(text: str) -> bool | None:
    low = text.strip().lower()
    if low in _PASS_WORDS or low in _MISSING:
        return False
    if low in _WARN_WORDS:
        return True
    return None


def _number(text: str, decimal_comma: bool) -> tuple[float, bool]:
    """Return (value, ok): NaN with ok=True for a missing cell."""
    if text.strip().lower() in _MISSING:
        return float("nan"), True
    value = parse_number(text, decimal_comma)
    if value is None:
        return float("nan"), False
    return value, True


def read_npx(path: str | Path, label: str | None = None) -> pd.DataFrame:
    """Read one NPX long table and check every row.

    Parameters
    ----------
    path
        The export (CSV with comma, semicolon or tab separators).
    label
        Name of the file in messages (defaults to ``path``).

    Returns
    -------
    pandas.DataFrame
        Columns file, line, sample_id, olink_id, assay, plate_id, uniprot,
        panel, sample_type, normalization, qc_warning (bool), npx, lod
        (NaN when missing or when the file has no LOD column).

    Raises
    ------
    ValidationError
        Listing every bad row: missing required cell, non-numeric NPX or
        LOD (with the line and the text found), unknown QC value, and the
        same sample x assay twice on a plate.
    """
    name = label or str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValidationError(
            [Issue(name, f"cannot read the NPX table ({exc.strerror})")]
        ) from exc
    lines, _ = decode_export(data)
    first = next((i for i, s in enumerate(lines) if s.strip()), None)
    if first is None:
        raise ValidationError([Issue(name, "the NPX table is empty")])
    sep = _sniff(lines[first])
    decimal_comma = sep != ","
    rows = list(csv.reader(lines[first:], delimiter=sep))
    header = [h.strip() for h in rows[0]]
    cols = _map_columns(header, name)
    issues: list[Issue] = []
    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for offset, cells in enumerate(rows[1:], start=2):
        lineno = first + offset
        if not any(c.strip() for c in cells):
            continue
        cells = [c.strip() for c in cells] + [""] * (len(header) - len(cells))

        def cell(c: str, cells: list[str] = cells) -> str:
            return cells[cols[c]] if c in cols else ""

        rec: dict[str, Any] = {"file": name, "line": lineno}
        for c in ("sample_id", "olink_id", "assay", "plate_id"):
            rec[c] = cell(c)
            if not rec[c]:
                issues.append(Issue(name, "empty cell", lineno, header[cols[c]], None))
        rid = f"SampleID={rec['sample_id']}, OlinkID={rec['olink_id']}"
        for c in ("uniprot", "panel", "sample_type", "normalization"):
            rec[c] = cell(c)
        for c in ("npx", "lod"):
            value, ok = _number(cell(c), decimal_comma)
            rec[c] = value
            if not ok:
                issues.append(
                    Issue(
                        name,
                        f"'{cell(c)}' is not a number (an NPX table holds "
                        "numbers, or NA for a value not measured)",
                        lineno,
                        header[cols[c]],
                        rid,
                    )
                )
        qc = _qc_flag(cell("qc_warning"))
        if qc is None:
            issues.append(
                Issue(
                    name,
                    f"QC value '{cell('qc_warning')}' is not one of Pass, "
                    "Warning (or PASS, WARN, FAIL)",
                    lineno,
                    header[cols["qc_warning"]],
                    rid,
                )
            )
        rec["qc_warning"] = bool(qc)
        dup = (rec["sample_id"], rec["olink_id"], rec["plate_id"])
        if dup in seen and all(dup):
            issues.append(
                Issue(
                    name,
                    f"sample {dup[0]} has assay {dup[1]} twice on plate {dup[2]} "
                    f"(also line {seen[dup]})",
                    lineno,
                    None,
                    rid,
                )
            )
        seen.setdefault(dup, lineno)
        records.append(rec)
    if issues:
        raise_issues(issues)
    if not records:
        raise ValidationError([Issue(name, "the NPX table has a header but no rows")])
    return pd.DataFrame.from_records(records)


def _norm_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def assign_analytes(
    table: pd.DataFrame, panel: Collection[str] | None, unlisted: str = "error"
) -> tuple[pd.DataFrame, list[str]]:
    """Name each NPX row's analyte as the panel config calls it.

    A panel analyte matches an assay when its name equals the row's Assay,
    OlinkID or UniProt, compared ignoring case and any character other than
    letters and digits (``IL-6`` = ``IL6``).

    Parameters
    ----------
    table
        Rows from :func:`read_npx`.
    panel
        Analyte names of ``proteins.panel``; ``None`` = every assay is an
        analyte named by its Assay column.
    unlisted
        ``error`` or ``ignore`` (see :class:`NpxSettings`).

    Returns
    -------
    table : pandas.DataFrame
        With an ``analyte`` column (rows of ignored assays removed).
    ignored : list[str]
        Assays left out (sorted).

    Raises
    ------
    ValidationError
        An assay that matches no panel analyte (naming file, first line and
        the panel), or matches two.
    """
    out = table.copy()
    if panel is None:
        out["analyte"] = out["assay"]
        return out, []
    by_key: dict[str, list[str]] = {}
    for a in panel:
        by_key.setdefault(_norm_name(a), []).append(a)
    analytes: list[str | None] = []
    issues: list[Issue] = []
    reported: set[str] = set()
    for row in out.itertuples(index=False):
        names = {
            m
            for v in (row.assay, row.olink_id, row.uniprot)
            if v
            for m in by_key.get(_norm_name(str(v)), [])
        }
        if len(names) == 1:
            analytes.append(names.pop())
            continue
        analytes.append(None)
        if row.assay in reported:
            continue
        reported.add(row.assay)
        if len(names) > 1:
            msg = f"assay {row.assay} matches several panel analytes: {sorted(names)}"
        elif unlisted == "ignore":
            continue
        else:
            msg = (
                f"assay {row.assay} ({row.olink_id}) is not in the panel config "
                f"(proteins.panel: {', '.join(sorted(panel))}); add it, or set "
                "proteins.npx.unlisted_assays: ignore"
            )
        issues.append(Issue(row.file, msg, row.line, "Assay"))
    if issues:
        raise_issues(issues)
    out["analyte"] = analytes
    ignored = sorted(set(out.loc[out["analyte"].isna(), "assay"]))
    return out[out["analyte"].notna()].reset_index(drop=True), ignored


def mark_samples(table: pd.DataFrame, settings: NpxSettings) -> pd.DataFrame:
    """Add ``is_control`` and ``is_bridge`` columns.

    Controls are rows whose ``SampleType`` is not ``SAMPLE`` when the file has
    that column, else sample IDs matching ``settings.control_pattern``.

    Parameters
    ----------
    table
        Rows from :func:`read_npx`.
    settings
        Bridge samples and control pattern.

    Returns
    -------
    pandas.DataFrame
        A copy with the two boolean columns.
    """
    out = table.copy()
    if out["sample_type"].astype(bool).any():
        out["is_control"] = out["sample_type"].str.upper().ne("SAMPLE") & out[
            "sample_type"
        ].astype(bool)
    else:
        pattern = re.compile(settings.control_pattern)
        out["is_control"] = out["sample_id"].map(lambda s: bool(pattern.search(s)))
    out["is_bridge"] = out["sample_id"].isin(settings.bridge_samples)
    return out
