"""What a section renderer reads: the results tree, the config and the audience."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.notcomputed import reason_of
from exomir.report import firewall
from exomir.report.model import Audience

LOG = logging.getLogger("exomir.report")

#: Values of an ``arm`` column that mean "all arms together".
POOLED_ARMS = frozenset({"all", "total", "overall", "pooled", "any"})


@dataclass
class ReportContext:
    """Inputs of one report build.

    Parameters
    ----------
    root
        The workflow's working directory (holds ``results/`` and ``config/``).
    config
        The validated config mapping.
    audience
        ``"open"`` (pooled) or ``"closed"`` (DSMB, by arm).
    available
        When given, only these relative paths count as present (the report
        rule passes its declared inputs so that stale files of a stage that is
        not part of the workflow are never shown). ``None``: any existing file.
    withheld
        Open report only: closed results files of this run (by name; they are
        never read). A section that needs one says its results are in the
        closed report instead of "not run". ``None``: closed files that exist.

    Notes
    -----
    In the open report the firewall (:mod:`exomir.report.firewall`) applies:
    a closed results file counts as absent, a file with arm information is
    read from its blinded copy, and the participants sheet from its copy
    without the arm column.
    """

    root: Path
    config: dict[str, Any]
    audience: Audience
    available: set[str] | None = None
    withheld: set[str] | None = None
    sources: list[str] = field(default_factory=list)
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Results files written as "not computed" (relative path -> reason); such
    #: a file counts as absent and the report shows the reason instead.
    not_computed: dict[str, str] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        """Whether this is the closed (by-arm) report."""
        return self.audience == "closed"

    @property
    def arms(self) -> list[str]:
        """Configured arm names, reference (control) first."""
        return [str(a) for a in self.config.get("design", {}).get("arms", [])]

    @property
    def timepoints(self) -> list[str]:
        """Configured timepoints, baseline first."""
        return [str(t) for t in self.config.get("design", {}).get("timepoints", [])]

    def _present(self, rel: str) -> bool:
        rel = os.path.normpath(rel)
        if self.available is not None and rel not in self.available:
            return False
        if not (self.root / rel).is_file():
            return False
        if rel not in self.not_computed:
            reason = reason_of(self.root / rel)
            if reason is None:
                return True
            self.not_computed[rel] = reason
        return False

    def _route(self, rel: str) -> str | None:
        """Return the file read for ``rel`` (``None``: closed, not for this audience)."""
        rel = os.path.normpath(rel)
        if self.closed or not rel.startswith("results/"):
            return rel
        if rel in firewall.BLINDED:
            return firewall.blinded_path(rel)
        return rel if firewall.is_open_safe(rel) else None

    def has(self, rel: str) -> bool:
        """Whether a results file is present (and declared, see ``available``)."""
        routed = self._route(rel)
        return routed is not None and self._present(routed)

    def is_withheld(self, rel: str) -> bool:
        """Open report: whether ``rel`` is a closed file of this run (never read)."""
        rel = os.path.normpath(rel)
        if self.closed or self._route(rel) is not None:
            return False
        if self.withheld is not None:
            return rel in self.withheld
        return (self.root / rel).is_file()

    def missing(self, *rels: str) -> list[str]:
        """Return the paths among ``rels`` that are absent."""
        return [r for r in rels if not self.has(r)]

    def file(self, rel: str) -> Path:
        """Absolute path of a present results file (recorded as a source)."""
        routed = self._route(rel)
        if routed is None:
            raise PermissionError(f"{rel} is a closed results file (open report)")
        if routed not in self.sources:
            self.sources.append(routed)
        return self.root / routed

    def table(self, rel: str) -> pd.DataFrame | None:
        """Read a TSV as text cells; ``None`` when it is absent.

        Cells are kept as strings (IDs stay as written); use :func:`num` to
        get numbers out of a column.
        """
        if not self.has(rel):
            return None
        if rel not in self._cache:
            df = pd.read_csv(self.file(rel), sep="\t", dtype=str, keep_default_na=False)
            self._cache[rel] = df
        return self._cache[rel].copy()

    def sheet(self, kind: str) -> pd.DataFrame | None:
        """Read a configured input sheet (``config/samples.tsv`` ...)."""
        path = self.config.get("sheets", {}).get(kind)
        if not path or str(path).startswith("@"):
            return None
        if not self.closed and kind in firewall.BLINDED_SHEETS:
            path = firewall.sheet_blinded_path(kind)
        full = self.root / str(path)
        if not full.is_file():
            return None
        if str(path) not in self.sources:
            self.sources.append(str(path))
        return pd.read_csv(full, sep="\t", dtype=str, keep_default_na=False)


def num(values: pd.Series) -> pd.Series:
    """Numeric view of a text column (blank or text cells become NaN)."""
    return pd.to_numeric(values, errors="coerce")


def is_true(values: pd.Series) -> pd.Series:
    """Boolean view of a text column written as true/false (or 1/0, yes/no)."""
    return values.astype(str).str.strip().str.lower().isin({"true", "1", "yes", "y"})
