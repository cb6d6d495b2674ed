"""Luminex plates from xPONENT exports (multiplex bead assays).

The export itself (header, ``DataType:`` blocks, ``Location`` cells) is read
by :mod:`exomir.proteins.xponent`; this module turns it into a
:class:`~exomir.proteins.plates.PlateData`, the structure the ELISA readers
return too, so one quantification serves both.

What is taken: the signal of each well and analyte from the configured block
(``proteins.luminex.datatype``, default ``Median``: the median fluorescence
intensity, MFI), the bead count of each well and analyte (``Count`` block;
below ``min_bead_count`` the read is flagged ``low_count`` in
:attr:`LuminexPlate.bead_counts`, never removed or changed), the dilution of
each well (``Dilution Factor`` block, or a ``Dilution`` column of the data
block) and the sample names. The layout comes from the plate map when the
plates sheet gives one, else from the sample names xPONENT writes
(``Background0``/``Blank1``: blank; ``Standard3``: standard ``S3``;
``Control1``: QC ``C1``; any other name: a protein sample ID) with the nominal
concentrations of ``proteins.luminex.standards`` / ``controls``.

Rejected, naming file and line: no block of the configured data type, no
``Count`` block (unless ``min_bead_count`` is 0), a ``Location`` that is not a
well, a well twice in a block, a non-numeric value, an analyte not in the
panel config, blocks that disagree on wells or analytes, a standard or
control without a nominal. Layouts and examples: ``docs/proteins_inputs.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from exomir.errors import Issue, ValidationError
from exomir.proteins.textexport import LAYOUT_COLUMNS
from exomir.proteins.xponent import XponentExport, name_key, parse_xponent, well_table

if TYPE_CHECKING:  # pragma: no cover - typing only
    from exomir.proteins.plates import PlateData

_BLANK = re.compile(r"(?i)^(background|blank|bkg)\s*\d*$")
_STANDARD = re.compile(r"(?i)^(standard|std)\s*(\d+)$")
_CONTROL = re.compile(r"(?i)^(control|ctrl|qc)\s*(\d+)$")
_DEFAULT_NAME = re.compile(r"(?i)^unknown\s*\d*$")
_REGION = re.compile(r"\s*\(\s*\d+\s*\)\s*$")


@dataclass(frozen=True)
class LuminexSettings:
    """How xPONENT exports are read (config ``proteins.luminex``).

    Attributes
    ----------
    min_bead_count
        Reads of fewer beads are flagged ``low_count`` (0 = no check, and
        then a missing ``Count`` block is accepted).
    datatype
        Data block giving the signal (``Median``, ``Net MFI``, ...).
    standards
        Analyte -> nominal concentrations of the standards, used when the
        layout comes from the sample names: ``{levels: {S1: c1, S2: c2, ...}}``
        or ``{top: c1, dilution_factor: f}`` (``S<k>`` = top / f^(k-1)).
    controls
        Analyte -> ``{C1: nominal, ...}`` for ``Control<k>`` wells.
    """

    min_bead_count: int = 35
    datatype: str = "Median"
    standards: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    controls: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> LuminexSettings:
        """Build the settings from a validated config (``proteins.luminex``).

        Parameters
        ----------
        cfg
            The whole config; missing keys take the defaults.

        Returns
        -------
        LuminexSettings
            The settings.
        """
        block = dict((cfg.get("proteins") or {}).get("luminex") or {})
        default = cls()
        return cls(
            min_bead_count=int(block.get("min_bead_count", default.min_bead_count)),
            datatype=str(block.get("datatype", default.datatype)),
            standards=dict(block.get("standards") or {}),
            controls=dict(block.get("controls") or {}),
        )


@dataclass
class LuminexPlate:
    """A Luminex plate read from an export.

    Attributes
    ----------
    plate
        The :class:`~exomir.proteins.plates.PlateData` (reads = well,
        analyte, signal; layout from the map or the sample names).
    bead_counts
        well, analyte, count, low_count (count < ``min_bead_count``, or no
        count), sorted by well and analyte.
    header
        Export header (:attr:`XponentExport.header`).
    unmapped_wells
        Wells acquired in the export but absent from the plate map (their
        reads are not in ``plate``; listed so nothing is dropped silently).
    """

    plate: PlateData
    bead_counts: pd.DataFrame
    header: dict[str, str]
    unmapped_wells: list[str] = field(default_factory=list)


def match_analytes(
    names: list[str], panel: Collection[str] | None
) -> dict[str, str | None]:
    """Map export analyte names to panel analyte names.

    Names are compared ignoring case, any character other than letters and
    digits, and a trailing bead region in brackets (``IL-6 (25)`` = ``IL6``).

    Parameters
    ----------
    names
        Analyte columns of the export.
    panel
        Analyte names of ``proteins.panel``; ``None`` keeps the export's names.

    Returns
    -------
    dict[str, str or None]
        Export name -> panel name (``None``: not in the panel).
    """
    if panel is None:
        return {n: n for n in names}
    by_key = {name_key(p): p for p in panel}
    return {n: by_key.get(name_key(_REGION.sub("", n))) for n in names}


@dataclass
class LuminexWells:
    """Per-well content of an export, before any layout.

    Attributes
    ----------
    signals
        line, well, sample, analyte (panel name), column (export name), signal.
    counts
        well, analyte, count, low_count.
    dilution
        well -> dilution factor (1 where the export gives none).
    samples
        well -> sample name, in acquisition order.
    """

    signals: pd.DataFrame
    counts: pd.DataFrame
    dilution: dict[str, float]
    samples: dict[str, str]


def _pick_plate(
    table: pd.DataFrame, plate_number: int | None, name: str, datatype: str
) -> pd.DataFrame:
    numbers = sorted(set(table["plate_no"]))
    if plate_number is None:
        if len(numbers) > 1:
            raise ValidationError(
                [
                    Issue(
                        name,
                        f"the '{datatype}' block holds plates {numbers} (Location "
                        "n(plate,well)); give the plate number to read",
                    )
                ]
            )
        return table
    return table[table["plate_no"] == plate_number]


def read_wells(
    export: XponentExport,
    settings: LuminexSettings,
    *,
    panel: Collection[str] | None = None,
    plate_number: int | None = None,
) -> LuminexWells:
    """Signals, bead counts, dilutions and sample names of every well.

    Parameters
    ----------
    export
        From :func:`parse_xponent`.
    settings
        Data type and bead-count threshold.
    panel
        Analyte names of ``proteins.panel`` (``None``: the export's names).
    plate_number
        Plate of a multi-plate batch (``None``: the export must hold one).

    Returns
    -------
    LuminexWells
        The per-well tables.

    Raises
    ------
    ValidationError
        Any :func:`well_table` problem, an analyte not in the panel (naming
        the header line and column), a Count block missing (with
        ``min_bead_count`` > 0) or disagreeing with the data block on wells or
        analytes.
    """
    name = export.file
    data = well_table(export, settings.datatype)
    assert data is not None
    data = _pick_plate(data, plate_number, name, settings.datatype)
    if data.empty:
        raise ValidationError(
            [Issue(name, f"the '{settings.datatype}' block has no wells")]
        )
    is_dil = data["column"].map(name_key).isin(["dilution", "dilutionfactor"])
    analyte_cols = list(dict.fromkeys(data.loc[~is_dil, "column"]))
    mapping = match_analytes(analyte_cols, panel)
    block = export.blocks[settings.datatype]
    bad = [c for c, a in mapping.items() if a is None]
    if bad:
        raise ValidationError(
            [
                Issue(
                    name,
                    f"analyte '{c}' is not in the panel config (proteins.panel: "
                    f"{', '.join(sorted(panel or []))})",
                    block.line + 1,
                    c,
                )
                for c in bad
            ]
        )
    dilution = {w: 1.0 for w in data["well"]}
    for w, v in data.loc[is_dil, ["well", "value"]].itertuples(index=False):
        dilution[w] = v
    dil_block = well_table(export, "Dilution Factor", required=False)
    if dil_block is not None:
        dil_block = _pick_plate(dil_block, plate_number, name, "Dilution Factor")
        for w, v in dil_block[["well", "value"]].itertuples(index=False):
            dilution[w] = v
    bad_dil = [w for w, v in dilution.items() if not (v > 0)]
    if bad_dil:
        raise ValidationError(
            [
                Issue(name, f"dilution of well {w} is not a positive number")
                for w in bad_dil
            ]
        )
    signals = data[~is_dil].rename(columns={"value": "signal"}).copy()
    signals["analyte"] = signals["column"].map(mapping)
    counts = _bead_counts(export, settings, signals, plate_number)
    samples = dict(zip(data["well"], data["sample"], strict=False))
    return LuminexWells(
        signals=signals[
            ["line", "well", "sample", "analyte", "column", "signal"]
        ].reset_index(drop=True),
        counts=counts,
        dilution=dilution,
        samples=samples,
    )


def _bead_counts(
    export: XponentExport,
    settings: LuminexSettings,
    signals: pd.DataFrame,
    plate_number: int | None,
) -> pd.DataFrame:
    name = export.file
    table = well_table(export, "Count", required=settings.min_bead_count > 0)
    if table is None:
        out = signals[["well", "analyte"]].copy()
        out["count"] = math.nan
        out["low_count"] = False
        return out
    table = _pick_plate(table, plate_number, name, "Count")
    table = table[~table["column"].map(name_key).isin(["dilution", "dilutionfactor"])]
    got = set(zip(table["well"], table["column"], strict=True))
    want = set(zip(signals["well"], signals["column"], strict=True))
    issues = []
    for well, col in sorted(want - got)[:10]:
        issues.append(
            Issue(
                name,
                f"well {well}, analyte {col}: in the '{settings.datatype}' block but "
                "not in the 'Count' block",
                export.blocks["Count"].line,
            )
        )
    for well, col in sorted(got - want)[:10]:
        issues.append(
            Issue(
                name,
                f"well {well}, analyte {col}: in the 'Count' block but not in the "
                f"'{settings.datatype}' block",
                export.blocks["Count"].line,
            )
        )
    if issues:
        raise ValidationError(issues)
    merged = signals[["well", "column", "analyte"]].merge(
        table[["well", "column", "value"]], on=["well", "column"], how="left"
    )
    merged = merged.rename(columns={"value": "count"})
    merged["low_count"] = ~(merged["count"] >= settings.min_bead_count)
    return merged[["well", "analyte", "count", "low_count"]]


def _nominals(spec: Mapping[str, Any], levels: list[int]) -> dict[int, float] | None:
    if "levels" in spec:
        named = {str(k).upper(): float(v) for k, v in spec["levels"].items()}
        out = {k: named.get(f"S{k}") for k in levels}
        return None if any(v is None for v in out.values()) else out  # type: ignore[return-value]
    if "top" in spec and "dilution_factor" in spec:
        top, f = float(spec["top"]), float(spec["dilution_factor"])
        return {k: top / f ** (k - 1) for k in levels}
    return None


def layout_from_names(
    wells: LuminexWells, settings: LuminexSettings, file: str
) -> pd.DataFrame:
    """Plate layout from the sample names written by xPONENT.

    ``Background<k>``/``Blank<k>``: blank; ``Standard<k>``: standard level
    ``S<k>`` with the nominal of ``proteins.luminex.standards`` for each
    analyte; ``Control<k>``: QC level ``C<k>`` with the nominal of
    ``proteins.luminex.controls``; any other name: a protein sample with the
    well's dilution. Replicates are numbered in well order.

    Parameters
    ----------
    wells
        From :func:`read_wells`.
    settings
        Nominal concentrations of standards and controls.
    file
        Name of the export in messages.

    Returns
    -------
    pandas.DataFrame
        :data:`LAYOUT_COLUMNS`; standards and QCs have one row per analyte.

    Raises
    ------
    ValidationError
        A standard or control level without a configured nominal for an
        analyte of the export, or a sample still named ``Unknown<k>``.
    """
    analytes = list(dict.fromkeys(wells.signals["analyte"]))
    std_levels = sorted(
        {int(m.group(2)) for s in wells.samples.values() if (m := _STANDARD.match(s))}
    )
    issues: list[Issue] = []
    std_nominal: dict[str, dict[int, float]] = {}
    for a in analytes if std_levels else []:
        got = _nominals(settings.standards.get(a, {}), std_levels)
        if got is None:
            issues.append(
                Issue(
                    file,
                    f"standards S{std_levels[0]}..S{std_levels[-1]} of analyte {a} "
                    "have no nominal concentrations: give the plate map (plates "
                    f"sheet 'map') or proteins.luminex.standards.{a}",
                )
            )
        else:
            std_nominal[a] = got
    recs: list[dict[str, Any]] = []
    for well, sample in wells.samples.items():
        base: dict[str, Any] = {"well": well, "protein_sample_id": None}
        base.update(level=None, nominal=math.nan, dilution=1.0, analyte=None)
        if _BLANK.match(sample):
            recs.append({**base, "role": "blank"})
        elif m := _STANDARD.match(sample):
            k = int(m.group(2))
            for a, noms in std_nominal.items():
                recs.append(
                    {**base, "role": "standard", "level": f"S{k}", "nominal": noms[k]}
                    | {"analyte": a}
                )
        elif m := _CONTROL.match(sample):
            level = f"C{int(m.group(2))}"
            for a in analytes:
                nominal = settings.controls.get(a, {}).get(level)
                if nominal is None:
                    issues.append(
                        Issue(
                            file,
                            f"control {sample} (well {well}) has no nominal for "
                            f"analyte {a}: give the plate map or "
                            f"proteins.luminex.controls.{a}.{level}",
                        )
                    )
                    continue
                recs.append(
                    {**base, "role": "qc", "level": level, "nominal": float(nominal)}
                    | {"analyte": a}
                )
        elif _DEFAULT_NAME.match(sample) or not sample:
            issues.append(
                Issue(
                    file,
                    f"well {well} is named '{sample}' (xPONENT's default name): name "
                    "the samples by protein_sample_id in the batch, or give the "
                    "plate map (plates sheet 'map')",
                    row_id=f"well={well}",
                )
            )
        else:
            recs.append(
                {**base, "role": "sample", "protein_sample_id": sample}
                | {"dilution": wells.dilution.get(well, 1.0)}
            )
    if issues:
        raise ValidationError(issues)
    lay = pd.DataFrame.from_records(
        recs, columns=[c for c in LAYOUT_COLUMNS if c != "replicate"]
    )
    key = lay[["role", "protein_sample_id", "level", "dilution", "analyte"]].astype(str)
    lay["replicate"] = lay.groupby(key.agg("|".join, axis=1), sort=False).cumcount() + 1
    return lay[LAYOUT_COLUMNS]


def read_luminex(
    plate_id: str,
    reads_path: str | Path,
    *,
    map_path: str | Path | None = None,
    panel: Collection[str] | None = None,
    settings: LuminexSettings | None = None,
    plate_number: int | None = None,
    reads_label: str | None = None,
    map_label: str | None = None,
) -> LuminexPlate:
    """Read one Luminex plate (xPONENT export, optional plate map).

    Parameters
    ----------
    plate_id
        Plate identifier (plates sheet).
    reads_path
        The xPONENT CSV export.
    map_path
        Plate map (read by :func:`exomir.proteins.plates.read_plate_map`);
        ``None``: layout from the export's sample names.
    panel
        Analyte names of ``proteins.panel``.
    settings
        :class:`LuminexSettings` (default: the defaults).
    plate_number
        Plate of a multi-plate batch export.
    reads_label, map_label
        Names of the files in messages.

    Returns
    -------
    LuminexPlate
        The plate, bead counts and header.

    Raises
    ------
    ValidationError
        Any problem of the export or the map; a mapped well without a read.
    """
    from exomir.proteins.plates import PlateData, read_plate_map, well_sort_key

    settings = settings or LuminexSettings()
    rname = reads_label or str(reads_path)
    export = parse_xponent(reads_path, rname)
    wells = read_wells(export, settings, panel=panel, plate_number=plate_number)
    unmapped: list[str] = []
    if map_path is not None:
        mname = map_label or str(map_path)
        lay, _ = read_plate_map(map_path, label=mname, plate_id=plate_id)
        lay = lay[LAYOUT_COLUMNS]
        missing = [w for w in dict.fromkeys(lay["well"]) if w not in wells.samples]
        if missing:
            raise ValidationError(
                [
                    Issue(
                        rname,
                        f"map and reads disagree: {len(missing)} well(s) of the map "
                        f"{mname} were not acquired ({', '.join(missing[:8])})",
                        row_id=f"plate={plate_id}",
                    )
                ]
            )
        unmapped = [w for w in wells.samples if w not in set(lay["well"])]
    else:
        lay = layout_from_names(wells, settings, rname)
    keep = wells.signals[wells.signals["well"].isin(set(lay["well"]))]
    reads = keep[["well", "analyte", "signal"]].sort_values(
        ["well", "analyte"],
        key=lambda s: well_sort_key(s) if s.name == "well" else s,
    )
    counts = wells.counts.sort_values(
        ["well", "analyte"],
        key=lambda s: well_sort_key(s) if s.name == "well" else s,
    )
    big = any(w[0] > "H" or int(w[1:]) > 12 for w in wells.samples)
    plate = PlateData(
        plate_id=plate_id,
        assay="luminex",
        source=Path(reads_path),
        reads=reads.reset_index(drop=True),
        layout=lay.sort_values("well", key=well_sort_key, kind="stable").reset_index(
            drop=True
        ),
        size=384 if big else 96,
        map_source=Path(map_path) if map_path is not None else None,
    )
    return LuminexPlate(plate, counts.reset_index(drop=True), export.header, unmapped)
