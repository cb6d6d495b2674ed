"""Clinical unit conversion table: reading it and looking up factors.

One home for unit conversion, used by validation (:mod:`exomir.validate`,
:mod:`exomir.clinical.plausibility`) and by the clinical stage
(:func:`exomir.clinical.dataset.convert_units`). The shipped table is
``resources/clinical/unit_conversions.tsv``; config ``clinical.unit_conversions``
names another.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.config import resolve_path
from exomir.errors import Issue, ValidationError

DEFAULT_TABLE = "@resources/clinical/unit_conversions.tsv"

__all__ = [
    "DEFAULT_TABLE",
    "conversion_factor",
    "conversions_path",
    "default_conversions",
    "load_unit_conversions",
]


def load_unit_conversions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the unit conversion table.

    Parameters
    ----------
    path
        TSV with ``param`` (``*`` = any parameter), ``from_unit``, ``to_unit``,
        ``factor`` and ``note``.

    Returns
    -------
    pandas.DataFrame
        The table (``factor`` as float).

    Raises
    ------
    ValidationError
        If the file is missing, lacks a column or has a non-numeric factor.
    """
    label = str(path)
    if not Path(path).is_file():
        raise ValidationError([Issue(label, "unit conversion table does not exist")])
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    need = ["param", "from_unit", "to_unit", "factor"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValidationError(
            [Issue(label, f"missing column(s): {', '.join(missing)}", line=1)]
        )
    fac = pd.to_numeric(df["factor"], errors="coerce")
    bad = df.index[fac.isna() | ~(fac > 0)]
    if len(bad):
        raise ValidationError(
            [
                Issue(label, "factor must be a positive number", line=int(i) + 2)
                for i in bad
            ]
        )
    return df.assign(factor=fac.astype(float))


def conversion_factor(
    conversions: pd.DataFrame | None, param: str, from_unit: str, to_unit: str
) -> float | None:
    """Factor turning a value in ``from_unit`` into ``to_unit`` (``None`` if unknown).

    A parameter-specific row wins over a ``*`` row.
    """
    if from_unit == to_unit:
        return 1.0
    if conversions is None:
        return None
    hit = conversions[
        (conversions["from_unit"] == from_unit) & (conversions["to_unit"] == to_unit)
    ]
    own = hit[hit["param"] == param]
    if len(own):
        return float(own["factor"].iloc[0])
    anyp = hit[hit["param"] == "*"]
    if len(anyp):
        return float(anyp["factor"].iloc[0])
    return None


def default_conversions(config: Mapping[str, Any], base: Path) -> pd.DataFrame:
    """Conversion table named by config ``clinical.unit_conversions``."""
    return load_unit_conversions(resolve_path(conversions_path(config), base))


def conversions_path(config: Mapping[str, Any]) -> str:
    """Config ``clinical.unit_conversions`` (the shipped table by default)."""
    return str((config.get("clinical") or {}).get("unit_conversions", DEFAULT_TABLE))
