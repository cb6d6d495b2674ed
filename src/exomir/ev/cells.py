"""Reading lot-sheet cells: numbers, text, words and marker calls."""

from __future__ import annotations

import math
from typing import Any


def cell_num(value: Any) -> float:
    """Read a cell as a number (NaN when empty or not a number)."""
    if value is None:
        return math.nan
    try:
        f = float(value)
    except (TypeError, ValueError):
        return math.nan
    return f


def cell_text(value: Any) -> str:
    """Read a cell as stripped text ('' when empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def marker_call(value: Any) -> str | None:
    """Read a marker cell as ``"pos"``, ``"neg"`` or ``None`` (not reported).

    Parameters
    ----------
    value
        Cell value, e.g. ``pos``, ``Negative``, ``+``, ``pos (92%)``,
        ``not detected``.

    Returns
    -------
    str or None
        The call.
    """
    t = cell_text(value).lower()
    if not t:
        return None
    if t.startswith(("not detected", "nd", "neg", "-")):
        return "neg"
    if t.startswith(("pos", "+", "detected")):
        return "pos"
    return None


def cell_words(value: Any) -> str:
    """Read a cell as lower-case words (for comparing results such as 'No growth')."""
    return " ".join(cell_text(value).lower().replace("_", " ").split())
