"""The firewall between the closed results and the open report.

The open report must be built from files that hold no allocation: not only must
it show nothing by arm, the job that builds it must not read a file that could
reveal one (analysis_spec §3.5; an auditor checks the open report rule's
inputs). The rule is default-deny:

* files in :data:`OPEN_SAFE` hold no arm information and are read as they are;
* files in :data:`BLINDED` hold an arm column or rows by arm; the blinding job
  (rule ``report_blind``, :func:`write_blinded`) writes a copy under
  :data:`OPEN_DIR` with the arm removed (columns dropped, rows pooled), and the
  open report reads only that copy;
* every other results file is closed: the open report never reads it, and a
  section that needs one says that its results by arm are in the closed report.

:class:`exomir.report.context.ReportContext` applies this when its audience is
``open``; the workflow gives the open report rule only open-safe and blinded
files as inputs.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from exomir.clinical.interim_columns import INTERIM_COLUMNS
from exomir.notcomputed import MARKER
from exomir.report.labels import pool_reasons
from exomir.tables import write_table

LOG = logging.getLogger("exomir.report")

#: Where the blinded copies go (same relative path below it).
OPEN_DIR = "results/report/open"
#: Columns that name an arm or a per-arm result.
ARM_COLUMNS = ("arm", "treated_arm", "reference_arm", "group")
#: Values of an ``arm`` column that mean "all arms together".
POOLED = frozenset({"all", "total", "overall", "pooled", "any"})
#: Arm label of rows pooled by the blinding job from by-arm rows.
POOLED_BY_BLINDING = "arms pooled"

#: Results files (glob patterns) without arm information: read as they are.
OPEN_SAFE = (
    "results/qc/*",
    "results/multiqc/*",
    "results/counts/*",
    "results/de/mirna_filter.tsv",
    "results/clinical/roc.tsv",
    "results/clinical/roc_curve.tsv",
    "results/clinical/roc.png",
    "results/clinical/interim_open.tsv",
    "results/clinical/plausibility.tsv",
    "results/clinical/enrolment.tsv",
    "results/clinical/sites_open.tsv",
    "results/clinical/interim_looks.tsv",
    "results/events/events_open.tsv",
    "results/ev/lot_qc.tsv",
    "results/ev/lot_summary.tsv",
    "results/ev/misev_checklist.tsv",
    "results/ev/size_distributions.png",
    "results/ev/lot_metrics.png",
    "results/pathways/network.tsv",
    "results/reference/*",
    "results/proteins/flag_summary.tsv",
    "results/proteins/plate_qc.tsv",
    "results/proteins/curves.tsv",
    "results/proteins/standards.tsv",
    "results/merged/views_summary.tsv",
)

#: First interim column that depends on the arms. ``INTERIM_COLUMNS`` lists the
#: design first (schedule, information, alpha spending, efficacy and futility
#: boundaries: functions of t and the design only), then the observed
#: statistic, its decision and both conditional powers, which depend on the
#: arms (the design-effect conditional power is a function of the observed z).
FIRST_ARM_DEPENDENT_INTERIM_COLUMN = "observed_t"
#: Interim columns the open report keeps: the design part of the table. A
#: column added after the observed statistic is withheld by default.
INTERIM_DESIGN_COLUMNS = tuple(
    INTERIM_COLUMNS[: INTERIM_COLUMNS.index(FIRST_ARM_DEPENDENT_INTERIM_COLUMN)]
)


def _drop_arm(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in ARM_COLUMNS if c in df.columns])


def _pooled_rows(df: pd.DataFrame) -> pd.DataFrame:
    if "arm" not in df.columns:
        return df
    return df[df["arm"].str.strip().str.lower().isin(POOLED)]


def _consort(df: pd.DataFrame) -> pd.DataFrame:
    """Pooled rows as written, and each by-arm node summed over the arms."""
    if "arm" not in df.columns:
        return df
    pooled = df["arm"].str.strip().str.lower().isin(POOLED)
    rows = [df[pooled]]
    by_arm = df[~pooled]
    if len(by_arm):
        n = pd.to_numeric(by_arm["n"], errors="coerce").fillna(0).astype(int)
        agg = []
        for node, sub in by_arm.assign(_n=n).groupby("node", sort=False):
            reasons = pool_reasons(list(sub["reasons"])) if "reasons" in sub else ""
            agg.append(
                {
                    "node": node,
                    "arm": POOLED_BY_BLINDING,
                    "n": str(int(sub["_n"].sum())),
                    "reasons": reasons,
                }
            )
        rows.append(pd.DataFrame(agg, columns=df.columns).fillna(""))
    return pd.concat(rows, ignore_index=True)


def _adverse_events(df: pd.DataFrame) -> pd.DataFrame:
    """Keep the overview only: its pooled rows, or its rows summed over the arms."""
    if "table" not in df.columns:
        return df.iloc[0:0]
    ov = df[df["table"] == "overview"]
    pooled = _pooled_rows(ov)
    if len(pooled):
        keep = [
            c
            for c in ("table", "category", "arm", "n_participants", "n_events", "n_arm")
            if c in pooled.columns
        ]
        out = pooled[keep].copy()
        if "percent" in pooled.columns:
            out["percent"] = pooled["percent"]
        return out
    nums = ov.assign(
        n_participants=pd.to_numeric(ov["n_participants"], errors="coerce"),
        n_events=pd.to_numeric(ov["n_events"], errors="coerce"),
    )
    agg = (
        nums.groupby("category", sort=False)[["n_participants", "n_events"]]
        .sum()
        .reset_index()
        .astype({"n_participants": int, "n_events": int})
    )
    agg.insert(0, "table", "overview")
    agg.insert(2, "arm", POOLED_BY_BLINDING)
    return agg.astype(str)


def _interim(df: pd.DataFrame) -> pd.DataFrame:
    return df[[c for c in df.columns if c in INTERIM_DESIGN_COLUMNS]]


#: Files with arm information and how the blinding job strips it.
BLINDED: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "results/clinical/analysis_dataset.tsv": _drop_arm,
    "results/primary/mir126_values.tsv": _drop_arm,
    "results/de/pca.tsv": _drop_arm,
    "results/clinical/consort.tsv": _consort,
    "results/clinical/baseline_table.tsv": _pooled_rows,
    "results/clinical/adverse_events.tsv": _adverse_events,
    "results/clinical/interim.tsv": _interim,
}
#: Input sheets with an arm column, blinded the same way (by sheet kind).
BLINDED_SHEETS = {"participants": _drop_arm}


def is_open_safe(rel: str) -> bool:
    """Whether a results file holds no arm information."""
    return any(fnmatch.fnmatchcase(rel, pat) for pat in OPEN_SAFE)


def blinded_path(rel: str) -> str:
    """Path of the blinded copy of a results file (or ``sheets/<kind>.tsv``)."""
    return f"{OPEN_DIR}/{rel.removeprefix('results/')}"


def sheet_blinded_path(kind: str) -> str:
    """Path of the blinded copy of an input sheet."""
    return f"{OPEN_DIR}/sheets/{kind}.tsv"


def open_inputs(files: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Split a report's results files for the open report.

    Returns
    -------
    tuple
        The open-safe files (read as they are) and, for each file to blind,
        its blinded copy (``source -> copy``). Every other file is closed.
    """
    safe = sorted({f for f in files if is_open_safe(f)})
    blind = {f: blinded_path(f) for f in sorted(set(files)) if f in BLINDED}
    return safe, blind


def blind_table(rel: str, src: str | Path, dest: str | Path) -> None:
    """Write the blinded copy of one results file.

    Raises
    ------
    KeyError
        ``rel`` is not a file the firewall knows how to blind.
    """
    df = pd.read_csv(src, sep="\t", dtype=str, keep_default_na=False)
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    if list(df.columns) == [MARKER]:  # "not computed" (with its reason): as is
        write_table(df, dest, exact=True)
        return
    write_table(BLINDED[rel](df), dest, exact=True)


def blind_sheet(kind: str, src: str | Path, dest: str | Path) -> None:
    """Write the blinded copy of an input sheet (arm columns removed)."""
    df = pd.read_csv(src, sep="\t", dtype=str, keep_default_na=False)
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    write_table(BLINDED_SHEETS[kind](df), dest, exact=True)


def write_blinded(
    root: Path, files: Iterable[str], sheets: dict[str, str]
) -> list[str]:
    """Blind every present file and sheet of a results tree (tests, library use).

    Parameters
    ----------
    root
        The workflow's working directory.
    files
        Results files (relative); those not in :data:`BLINDED` are skipped.
    sheets
        Sheet kind -> relative path (only kinds in :data:`BLINDED_SHEETS`).

    Returns
    -------
    list of str
        The blinded copies written (relative paths).
    """
    written = []
    for rel in files:
        if rel in BLINDED and (root / rel).is_file():
            blind_table(rel, root / rel, root / blinded_path(rel))
            written.append(blinded_path(rel))
    for kind, rel in sheets.items():
        if kind in BLINDED_SHEETS and (root / rel).is_file():
            blind_sheet(kind, root / rel, root / sheet_blinded_path(kind))
            written.append(sheet_blinded_path(kind))
    return written


def blind_step(
    results: Iterable[str | Path],
    blinded: Iterable[str | Path],
    sheets: Iterable[str | Path],
    blinded_sheets: Iterable[str | Path],
    kinds: Iterable[str],
) -> None:
    """Write the blinded copy of each results file and sheet (rule ``report_blind``).

    Parameters
    ----------
    results, blinded
        Results files with arm information (relative paths, keys of
        :data:`BLINDED`) and their copies, pairwise.
    sheets, blinded_sheets, kinds
        Input sheets, their copies and their kinds, pairwise.

    Raises
    ------
    KeyError
        A results file is not one the firewall knows how to blind.
    """
    for src, dest in zip(results, blinded, strict=True):
        if str(src) not in BLINDED:
            raise KeyError(f"{src}: not a file the firewall can blind")
        blind_table(str(src), src, dest)
        LOG.info("blinded %s -> %s", src, dest)
    for kind, src, dest in zip(kinds, sheets, blinded_sheets, strict=True):
        blind_sheet(kind, src, dest)
        LOG.info("blinded sheet %s (%s) -> %s", kind, src, dest)
