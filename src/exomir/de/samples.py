"""Input checks and usable libraries: counts, library QC, sample table, contrast samples."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.de.settings import CONFIG_LABEL, Contrast
from exomir.errors import Issue, ValidationError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #


def check_counts(counts: pd.DataFrame, label: str = "mirna_counts.tsv") -> pd.DataFrame:
    """Check a miRNA x sample count table and return it as integers.

    Parameters
    ----------
    counts
        Table with miRNA names as index and one column per sample; cells may
        be text (as read) or numbers.
    label
        File name for messages.

    Returns
    -------
    pandas.DataFrame
        The counts as ``int64``, index named ``mirna``.

    Raises
    ------
    ValidationError
        On duplicate names, empty, non-numeric, non-integer or negative cells.
    """
    issues: list[Issue] = []
    if counts.shape[1] == 0:
        issues.append(Issue(label, "the table has no sample columns"))
    if counts.shape[0] == 0:
        issues.append(Issue(label, "the table has no miRNA rows"))
    dup_rows = sorted(set(counts.index[counts.index.duplicated()]))
    if dup_rows:
        issues.append(
            Issue(label, f"duplicate miRNA names: {', '.join(map(str, dup_rows[:10]))}")
        )
    dup_cols = sorted(set(counts.columns[counts.columns.duplicated()]))
    if dup_cols:
        issues.append(
            Issue(label, f"duplicate sample columns: {', '.join(map(str, dup_cols))}")
        )
    if issues:
        raise ValidationError(issues)
    values = counts.apply(pd.to_numeric, errors="coerce")
    problems: list[tuple[str, str, str]] = []
    raw = counts.to_numpy(dtype=object)
    num = values.to_numpy(dtype=float)
    bad_nan = np.isnan(num)
    with np.errstate(invalid="ignore"):
        bad_frac = ~bad_nan & (np.abs(num - np.round(num)) > 0)
        bad_neg = ~bad_nan & (num < 0)
    for mask, what in (
        (bad_nan, "is empty or not a number"),
        (bad_frac, "is not a whole number"),
        (bad_neg, "is negative"),
    ):
        for i, j in zip(*np.nonzero(mask), strict=True):
            problems.append((str(counts.index[i]), str(counts.columns[j]), what))
            if len(problems) >= 20:
                break
        if len(problems) >= 20:
            break
    if problems:
        for mirna, sample, what in problems[:20]:
            cell = raw[counts.index.get_loc(mirna), counts.columns.get_loc(sample)]
            issues.append(
                Issue(
                    label,
                    f"count '{cell}' {what}; counts must be non-negative integers",
                    row_id=f"mirna={mirna}",
                    column=sample,
                )
            )
        raise ValidationError(issues)
    out = values.astype(np.int64)
    out.index = out.index.astype(str)
    out.index.name = "mirna"
    out.columns = out.columns.astype(str)
    return out


def read_counts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``mirna_counts.tsv`` (first column ``mirna``, one column per sample).

    Parameters
    ----------
    path
        The count table.

    Returns
    -------
    pandas.DataFrame
        miRNA x sample ``int64`` counts.

    Raises
    ------
    ValidationError
        If the file is missing or malformed, or a count is not a non-negative
        integer.
    """
    label = str(path)
    if not Path(path).is_file():
        raise ValidationError([Issue(label, "the file does not exist")])
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
    if header[0] != "mirna":
        raise ValidationError(
            [Issue(label, f"the first column must be 'mirna', not '{header[0]}'")]
        )
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise ValidationError(
            [Issue(label, f"duplicate columns: {', '.join(dup)}", line=1)]
        )
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return check_counts(df.set_index("mirna"), label)


def read_library_qc(path: str | os.PathLike[str] | None) -> pd.DataFrame | None:
    """Read ``library_qc.tsv`` (sample_id, pass, reasons; more columns allowed).

    Parameters
    ----------
    path
        The QC table, or ``None`` when there is none.

    Returns
    -------
    pandas.DataFrame or None
        Indexed by sample_id with a boolean ``pass`` and text ``reasons``.

    Raises
    ------
    ValidationError
        If the file lacks the columns or a ``pass`` value is not true/false.
    """
    if path is None:
        return None
    label = str(path)
    if not Path(path).is_file():
        raise ValidationError([Issue(label, "the file does not exist")])
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return check_library_qc(df, label)


def check_library_qc(df: pd.DataFrame, label: str = "library_qc.tsv") -> pd.DataFrame:
    """Check a library QC table and convert ``pass`` to booleans.

    Parameters
    ----------
    df
        Table with columns ``sample_id`` and ``pass`` (``reasons`` optional).
    label
        File name for messages.

    Returns
    -------
    pandas.DataFrame
        Indexed by sample_id.

    Raises
    ------
    ValidationError
        On missing columns, duplicate samples or unreadable ``pass`` values.
    """
    missing = [c for c in ("sample_id", "pass") if c not in df.columns]
    if missing:
        raise ValidationError(
            [Issue(label, f"missing column(s): {', '.join(missing)}")]
        )
    out = df.copy()
    if "reasons" not in out.columns:
        out["reasons"] = ""
    issues = []
    truth = {
        "true": True,
        "1": True,
        "yes": True,
        "false": False,
        "0": False,
        "no": False,
    }
    values = []
    for i, v in enumerate(out["pass"].tolist(), start=2):
        if isinstance(v, bool | np.bool_):
            values.append(bool(v))
            continue
        key = str(v).strip().lower()
        if key not in truth:
            issues.append(Issue(label, f"pass '{v}' is not true or false", line=i))
            values.append(False)
        else:
            values.append(truth[key])
    dup = sorted(set(out["sample_id"][out["sample_id"].duplicated()]))
    if dup:
        issues.append(Issue(label, f"duplicate sample_id: {', '.join(dup)}"))
    if issues:
        raise ValidationError(issues)
    out["pass"] = values
    out["reasons"] = out["reasons"].fillna("").astype(str)
    return out.set_index("sample_id", drop=False)


def as_bool(values: pd.Series) -> pd.Series:
    """Booleans with missing values as False (no object-dtype downcasting)."""
    return values.map(lambda v: v is True or v is np.True_)


def is_blank(value: Any) -> bool:
    """Whether a sheet cell is missing (``None`` or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def sample_table(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    participants: pd.DataFrame,
    library_qc: pd.DataFrame | None = None,
    counts_label: str = "mirna_counts.tsv",
) -> pd.DataFrame:
    """Join libraries, participants and QC, and mark which libraries are usable.

    Parameters
    ----------
    counts
        miRNA x sample counts (from :func:`read_counts`).
    samples
        Sample sheet (``sample_id``, ``participant_id``, ``timepoint``, ...).
    participants
        Participants (``participant_id``, ``arm``, strata, ...).
    library_qc
        QC table from :func:`read_library_qc`, or ``None`` (all pass).
    counts_label
        File name of the counts for messages.

    Returns
    -------
    pandas.DataFrame
        One row per library of the sample sheet, indexed by sample_id, with
        the sheet and participant columns plus ``mirna_reads``, ``usable``
        (bool) and ``reason`` (why it is not usable; empty if usable).

    Raises
    ------
    ValidationError
        If a library of the counts is not in the sample sheet, a usable library
        of the sheet is not in the counts, a library's participant is unknown,
        or a library is missing from the QC table.
    """
    smp = samples.drop(columns=["_line"], errors="ignore").copy()
    smp.index = pd.Index(smp["sample_id"].astype(str).to_numpy())
    par = participants.drop(columns=["_line"], errors="ignore").copy()
    par.index = par["participant_id"].astype(str)
    issues: list[Issue] = []
    extra = sorted(set(counts.columns) - set(smp.index))
    if extra:
        issues.append(
            Issue(
                counts_label,
                "libraries in the count table are not in the sample sheet: "
                + ", ".join(extra),
            )
        )
    unknown = sorted(set(smp["participant_id"]) - set(par.index))
    if unknown:
        issues.append(
            Issue(
                "samples.tsv",
                "participants not in participants.tsv: " + ", ".join(map(str, unknown)),
            )
        )
    if library_qc is not None:
        no_qc = sorted(set(counts.columns) - set(library_qc.index))
        if no_qc:
            issues.append(
                Issue(
                    "library_qc.tsv",
                    "libraries of the count table have no QC row: " + ", ".join(no_qc),
                )
            )
    if issues:
        raise ValidationError(issues)
    par_cols = [c for c in par.columns if c not in smp.columns]
    meta = smp.join(par[par_cols], on="participant_id")
    totals = counts.sum(axis=0)
    meta["mirna_reads"] = [int(totals.get(s, 0)) for s in meta.index]
    reasons: list[str] = []
    missing: list[str] = []
    for sid, row in meta.iterrows():
        why = []
        if row.get("exclude") in (True, np.True_):
            extra_reason = row.get("exclude_reason")
            why.append(
                "excluded in the sample sheet"
                + ("" if is_blank(extra_reason) else f": {extra_reason}")
            )
        if library_qc is not None and sid in library_qc.index:
            q = library_qc.loc[sid]
            if not bool(q["pass"]):
                why.append(
                    "failed library QC" + (f": {q['reasons']}" if q["reasons"] else "")
                )
        if sid not in counts.columns:
            if not why:
                missing.append(str(sid))
            why.append("not in the miRNA count table")
        elif meta.at[sid, "mirna_reads"] == 0:
            why.append("no miRNA reads")
        reasons.append("; ".join(why))
    if missing:
        raise ValidationError(
            [
                Issue(
                    counts_label,
                    "libraries of the sample sheet are missing from the count "
                    "table (and not excluded or failed): " + ", ".join(missing),
                )
            ]
        )
    meta["reason"] = reasons
    meta["usable"] = meta["reason"] == ""
    for sid in meta.index[~meta["usable"]]:
        log.info("library %s is not used: %s", sid, meta.at[sid, "reason"])
    return meta


# --------------------------------------------------------------------------- #
# Sample selection and design matrices
# --------------------------------------------------------------------------- #


def select_samples(meta: pd.DataFrame, contrast: Contrast) -> pd.DataFrame:
    """Candidate libraries of a contrast, with inclusion and reasons.

    Parameters
    ----------
    meta
        From :func:`sample_table`.
    contrast
        The contrast.

    Returns
    -------
    pandas.DataFrame
        Libraries of the contrast's arms and timepoints (sorted by sample_id)
        with ``sample_id``, ``participant_id``, ``arm``, ``timepoint``,
        ``included`` and ``reason``.
    """
    cand = meta[
        meta["arm"].isin(contrast.arms) & meta["timepoint"].isin(contrast.timepoints)
    ].copy()
    reason = cand["reason"].where(~cand["usable"], "")
    for cov in contrast.covariates:
        if cov not in cand.columns:
            raise ValidationError(
                [
                    Issue(
                        CONFIG_LABEL,
                        f"covariate '{cov}' of contrast '{contrast.name}' is not a "
                        "column of samples.tsv or participants.tsv",
                        column=f"de.contrasts.{contrast.name}.covariates",
                    )
                ]
            )
        miss = cand[cov].map(is_blank) & (reason == "")
        reason[miss] = f"missing covariate {cov}"
    if contrast.paired:
        ok = cand[reason == ""]
        have = ok.groupby("participant_id")["timepoint"].agg(set)
        for sid, row in cand.iterrows():
            if reason[sid]:
                continue
            got = have.get(row["participant_id"], set())
            lacking = [t for t in contrast.timepoints if t not in got]
            if lacking:
                other = cand[
                    (cand["participant_id"] == row["participant_id"])
                    & (cand["timepoint"] == lacking[0])
                ]
                if other.empty:
                    reason[sid] = f"unpaired: no {lacking[0]} library"
                else:
                    reason[sid] = (
                        f"unpaired: the {lacking[0]} library is not used "
                        f"({reason[other.index[0]]})"
                    )
    cols = ["sample_id", "participant_id", "arm", "timepoint"]
    out = cand[cols].copy()
    out["included"] = reason == ""
    out["reason"] = reason
    return out.sort_index()
