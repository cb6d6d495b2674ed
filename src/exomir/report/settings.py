"""Settings of one report job, built once when the workflow is parsed.

The report quotes the config (trial, design, DE and QC settings, interim
design, parameter labels, references) but never re-reads or re-validates it:
the rule passes a :class:`ReportSettings` built from the validated config.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exomir.report.model import AUDIENCES, Audience

#: Config sections the report shows or labels its tables with.
REPORT_CONFIG_KEYS = (
    "trial",
    "design",
    "sheets",
    "de",
    "qc",
    "interim",
    "clinical",
    "clinical_parameters",
    "lab_reference_ranges",
    "pathways",
    "reference",
    "contaminants",
    "time_to_event",
)


@dataclass(frozen=True)
class ReportSettings:
    """What one report job needs: its audience, the quoted config, withheld files.

    Attributes
    ----------
    audience
        ``"open"`` (pooled) or ``"closed"`` (DSMB, by arm).
    config
        The sections :data:`REPORT_CONFIG_KEYS` of the validated config (a copy).
    withheld
        Open report: the closed results files of this run, named and never read.
    """

    audience: Audience
    config: dict[str, Any] = field(hash=False)
    withheld: tuple[str, ...] = ()


def report_settings(
    cfg: Mapping[str, Any], audience: str, withheld: Iterable[str] = ()
) -> ReportSettings:
    """Build the settings of the ``audience`` report from the validated config.

    Raises
    ------
    ValueError
        ``audience`` is neither ``"open"`` nor ``"closed"``.
    """
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, got {audience!r}")
    quoted = {k: copy.deepcopy(cfg[k]) for k in REPORT_CONFIG_KEYS if k in cfg}
    return ReportSettings(
        audience=audience,  # type: ignore[arg-type]  # checked against AUDIENCES
        config=quoted,
        withheld=tuple(str(p) for p in withheld),
    )
