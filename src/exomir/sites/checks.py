"""Check participants' ``site_id`` against ``design.sites``.

When ``design.sites`` is given, the site is an analysis factor: every
participant must carry one of its codes. Without it ``site_id`` stays free
text and is not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from exomir.errors import Issue
from exomir.sites import SITE_COLUMN, configured_sites


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value != value or str(value).strip() == ""


def site_issues(
    participants: pd.DataFrame, cfg: Mapping[str, Any], label: str
) -> list[Issue]:
    """Problems with ``site_id`` when ``design.sites`` lists the sites.

    Parameters
    ----------
    participants
        participants.tsv as read by :func:`exomir.tables.read_table` (``_line``).
    cfg
        Validated configuration.
    label
        File name for messages.

    Returns
    -------
    list[Issue]
        One issue per participant with a missing or unknown site (naming the
        row, the column and the allowed codes), or one for a missing column.
    """
    sites = configured_sites(cfg)
    if not sites:
        return []
    allowed = ", ".join(sites)
    if SITE_COLUMN not in participants.columns:
        return [
            Issue(
                label,
                f"column '{SITE_COLUMN}' is missing but config design.sites lists the "
                f"sites ({allowed}); add it, or remove design.sites",
                line=1,
                column=SITE_COLUMN,
            )
        ]
    issues: list[Issue] = []
    for _, row in participants.iterrows():
        value = row[SITE_COLUMN]
        if not _missing(value) and str(value) in sites:
            continue
        what = (
            "site_id is empty"
            if _missing(value)
            else f"site '{value}' is not in config design.sites"
        )
        issues.append(
            Issue(
                label,
                f"{what}; use one of: {allowed}",
                line=int(row["_line"]) if "_line" in row.index else None,
                column=SITE_COLUMN,
                row_id=f"participant_id={row['participant_id']}",
            )
        )
    return issues
