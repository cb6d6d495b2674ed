"""Differential expression of plasma miRNAs for the trial design (pydeseq2).

This module answers the miRNA questions of analysis_spec.md §1 from the miRNA
count table and the sample and participant sheets:

* ``interaction`` contrasts (the key treatment effect): paired participants of
  two arms, design ``~ participant + timepoint + treated_followup`` where
  ``treated_followup`` is 1 for libraries of the treated arm at the follow-up
  timepoint and 0 otherwise (the arm x time interaction; the arm main effect is
  absorbed by the participant terms, spec §1.2 design A);
* ``within_arm`` contrasts: paired participants of one arm,
  ``~ participant + timepoint`` (design B, descriptive only);
* ``between_arms`` contrasts: all usable libraries of two arms at one
  timepoint, ``~ arm + covariates`` (design C; at the reference timepoint it is
  the baseline balance check C').

Rules, in the order they are applied
------------------------------------
1. **Usable libraries.** A library is left out of every analysis, with its
   reason, when it is excluded in the sample sheet, failed read QC
   (``library_qc.tsv``) or has no miRNA reads. Paired designs also leave out
   participants without a usable library at both timepoints; unpaired designs
   keep them.
2. **Feature filter** (spec §1.4.7), computed once on all usable libraries: a
   library *expresses* a miRNA when the miRNA's RPM (miRNA reads as
   denominator) is at least ``de.min_rpm`` **and** its read count is at least
   ``de.min_count``; a miRNA is kept when at least ``de.min_frac`` of the
   libraries of at least one arm x timepoint cell express it. The count
   companion is edgeR ``filterByExpr``'s ``min.count`` idea: at low depth
   (e.g. 200 k miRNA reads, where 5 RPM is a single read) the RPM rule alone
   keeps miRNAs seen once or twice per library, whose Wald tests are
   unreliable; at usual depth (>= 2 M miRNA reads, 5 RPM >= 10 reads) the
   RPM rule is the binding one. All-zero miRNAs are always dropped; the primary miRNA
   is always kept (it is the pre-specified endpoint). Every contrast uses the
   same filtered set; miRNAs with no read in a contrast's libraries get empty
   statistics in that contrast.
3. **Size factors from control miRNAs** (spec §1.4.2): median-of-ratios over
   the filtered miRNAs that are not red-cell, platelet or placental (C19MC)
   miRNAs and not the primary miRNA (lists and regular expressions in
   ``de.control``), with a count > 0 in every usable library and a mean
   normalised count of at least ``de.control.min_base_mean`` (normalised with
   median-of-ratios over all filtered miRNAs). ``size_factors_fit_type: auto``
   uses ``ratio`` when at least ``de.control.min_mirnas`` such miRNAs exist and
   ``poscounts`` (without the all-positive requirement) otherwise.
   The same normalisation is stored for every library in
   ``results/counts/mirna.h5ad`` (layers ``counts``, ``normalised``, ``vst``;
   :func:`counts_anndata`, rule ``normalise_counts``) and reused by the DE
   normalisation step (:func:`normalise` with ``counts_layers``).
4. **Fit** with pydeseq2 (``refit_cooks`` Cook's outlier replacement for cells
   with at least ``min_replicates`` libraries, Wald p-values from a t
   reference with the residual degrees of freedom by default
   (``de.wald_reference``, see :class:`DESettings`), Cook's filtering of
   p-values, independent filtering and Benjamini-Hochberg FDR at ``de.alpha``
   within the contrast), then apeGLM-type shrinkage of the tested
   coefficient.

Designs are built here as explicit design-matrix DataFrames (not formulas) so
that reference levels come from the configuration (first arm, first
timepoint), the tested effect is always a single design column (so
``lfc_shrink(coeff=...)`` works), and rank problems are found before pydeseq2
runs: covariates that add nothing to the design (e.g. a library batch that is
constant within participant in a paired design) are dropped with a note.

Output tables are sorted by ``padj`` (missing last), then ``pvalue``, then
``mirna``; floats are written with 6 significant digits; missing values are
empty cells.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from exomir.atomic import atomic_path
from exomir.errors import Issue, ValidationError
from exomir.notcomputed import NotComputed
from exomir.tables import write_table

log = logging.getLogger(__name__)

KINDS = ("interaction", "within_arm", "between_arms")
CONFIG_LABEL = "config/config.yaml"
#: Name of the 0/1 design column of the interaction designs.
TREATED_FOLLOWUP = "treated_followup"
#: Float format of the written tables.

#: Default size-factor exclusions (analysis_spec.md §1.4.2). Names are matched
#: with or without the species prefix, so they also work for e.g. ``mmu``.
DEFAULT_RBC = [
    "miR-451a",
    "miR-486-5p",
    "miR-486-3p",
    "miR-16-5p",
    "miR-92a-3p",
    "miR-144-3p",
    "miR-144-5p",
    "miR-25-3p",
]
DEFAULT_PLATELET = [
    "miR-223-3p",
    "miR-126-3p",
    "miR-126-5p",
    "miR-197-3p",
    "miR-24-3p",
    "miR-21-5p",
]
#: Chromosome 19 miRNA cluster (placental): miR-498, miR-512, miR-515 to
#: miR-527 (not miR-513/514, which are on chromosome X), miR-1283, miR-1323.
DEFAULT_C19MC_REGEX = [
    r"^[a-z]{3,4}-miR-(498|512|51[5-9]|52[0-7]|1283|1323)[a-z]?(-[0-9])?(-[35]p)?$"
]


class DesignError(ValidationError):
    """A contrast cannot be estimated from the libraries available."""


# --------------------------------------------------------------------------- #
# Settings
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Contrast:
    """One differential-expression question.

    Attributes
    ----------
    name
        Contrast name (file stem of its outputs).
    kind
        ``interaction``, ``within_arm`` or ``between_arms``.
    arm
        Treated arm (interaction, between_arms) or the arm analysed (within_arm).
    reference_arm
        Reference arm (interaction, between_arms); ``None`` for within_arm.
    timepoint
        Follow-up timepoint (interaction, within_arm) or the timepoint compared
        (between_arms).
    reference_timepoint
        Reference timepoint (interaction, within_arm); ``None`` for between_arms.
    covariates
        Extra sample or participant columns in the design.
    description
        Human-readable description for reports.
    """

    name: str
    kind: str
    arm: str
    reference_arm: str | None
    timepoint: str
    reference_timepoint: str | None
    covariates: tuple[str, ...] = ()
    description: str = ""

    @property
    def paired(self) -> bool:
        """Whether the design uses paired participants only."""
        return self.kind != "between_arms"

    @property
    def arms(self) -> tuple[str, ...]:
        """Arms whose libraries enter the design (reference first)."""
        if self.kind == "within_arm":
            return (self.arm,)
        return (str(self.reference_arm), self.arm)

    @property
    def timepoints(self) -> tuple[str, ...]:
        """Timepoints whose libraries enter the design (reference first)."""
        if self.kind == "between_arms":
            return (self.timepoint,)
        return (str(self.reference_timepoint), self.timepoint)

    @property
    def coefficient(self) -> str:
        """Design column of the tested effect."""
        if self.kind == "interaction":
            return TREATED_FOLLOWUP
        if self.kind == "within_arm":
            return f"timepoint[T.{self.timepoint}]"
        return f"arm[T.{self.arm}]"


@dataclass(frozen=True)
class DESettings:
    """Settings of the differential-expression stage (config ``de``).

    Attributes
    ----------
    contrasts
        Contrasts by name, in configuration order.
    arms
        Arms of the trial, reference first (config ``design.arms``).
    timepoints
        Timepoints, reference first (config ``design.timepoints``).
    primary_mirna
        Primary miRNA (config ``trial.primary_mirna``).
    min_rpm, min_frac, min_count
        Feature filter (rule 2 of the module docstring).
    exclude_names, exclude_regex
        Size-factor control exclusions (names with or without species prefix;
        regular expressions matched against the whole name).
    control_min_base_mean
        Minimum mean normalised count of a control miRNA.
    control_min_mirnas
        ``auto`` fit type: minimum all-positive control miRNAs for ``ratio``.
    size_factors_fit_type
        ``auto``, ``ratio`` or ``poscounts``.
    alpha
        FDR level (independent filtering and significance).
    shrinkage
        Whether to shrink the tested coefficient (apeGLM-type prior).
    refit_cooks, min_replicates, cooks_filter, independent_filter
        pydeseq2 options.
    pca_ntop
        Most variable miRNAs used for the PCA.
    label_top
        miRNAs labelled in volcano plots (besides the primary miRNA).
    wald_reference
        Null distribution of the Wald statistic: ``t`` (default) with
        (libraries - design columns) degrees of freedom, as DESeq2's
        ``useT=TRUE``, or ``normal`` (DESeq2's and pydeseq2's default). The
        default is ``t`` because the normal reference is anti-conservative in
        the paired designs, whose participant terms use up half the libraries:
        in bench/bench_de_calibration.py (40 simulated trials, about 63
        paired participants, about 60 residual df) the mean false discovery
        proportion of the interaction at FDR 5% was 9.1% with the normal
        reference and 5.2% with t, and null p-values fell below 0.001 1.9
        and 1.2 times as often as nominal (results/bench/de_calibration.json).
    """

    contrasts: dict[str, Contrast]
    arms: tuple[str, ...]
    timepoints: tuple[str, ...]
    primary_mirna: str
    min_rpm: float = 5.0
    min_frac: float = 0.5
    min_count: int = 10
    exclude_names: tuple[str, ...] = tuple(DEFAULT_RBC + DEFAULT_PLATELET)
    exclude_regex: tuple[str, ...] = tuple(DEFAULT_C19MC_REGEX)
    control_min_base_mean: float = 50.0
    control_min_mirnas: int = 30
    size_factors_fit_type: str = "auto"
    alpha: float = 0.05
    shrinkage: bool = True
    refit_cooks: bool = True
    min_replicates: int = 7
    cooks_filter: bool = True
    independent_filter: bool = True
    pca_ntop: int = 500
    label_top: int = 10
    wald_reference: str = "t"


def default_contrasts(arms: Sequence[str], timepoints: Sequence[str]) -> dict:
    """Contrasts derived from the design when config ``de.contrasts`` is empty.

    Parameters
    ----------
    arms
        Arms, reference first; the last is the treated arm.
    timepoints
        Timepoints, reference first; the last is the follow-up.

    Returns
    -------
    dict
        Name -> contrast specification (as in the configuration): with the
        default design, ``treatment_effect``, ``time_placebo``,
        ``time_exosome``, ``arms_week1`` and ``arms_baseline``.
    """
    ref_arm, arm = arms[0], arms[-1]
    out: dict[str, dict[str, Any]] = {}
    if len(timepoints) >= 2:
        ref_tp, tp = timepoints[0], timepoints[-1]
        out["treatment_effect"] = {
            "kind": "interaction",
            "arm": arm,
            "reference_arm": ref_arm,
            "timepoint": tp,
            "reference_timepoint": ref_tp,
            "covariates": [],
            "description": f"{arm} vs {ref_arm}: change {ref_tp} to {tp} (arm x time)",
        }
        for a in arms:
            out[f"time_{a}"] = {
                "kind": "within_arm",
                "arm": a,
                "timepoint": tp,
                "reference_timepoint": ref_tp,
                "covariates": [],
                "description": f"{tp} vs {ref_tp} within {a} (descriptive)",
            }
    between = (
        [timepoints[-1]] if len(timepoints) < 2 else [timepoints[-1], timepoints[0]]
    )
    for t in between:
        balance = len(timepoints) >= 2 and t == timepoints[0]
        out[f"arms_{t}"] = {
            "kind": "between_arms",
            "arm": arm,
            "reference_arm": ref_arm,
            "timepoint": t,
            "covariates": ["library_batch"],
            "description": (
                f"{arm} vs {ref_arm} at {t}"
                + (" (baseline balance check)" if balance else "")
            ),
        }
    return out


def _contrast_from_spec(
    name: str, spec: Mapping[str, Any], arms: Sequence[str], tps: Sequence[str]
) -> tuple[Contrast | None, list[Issue]]:
    where = f"de.contrasts.{name}"
    issues: list[Issue] = []

    def bad(msg: str) -> None:
        issues.append(Issue(CONFIG_LABEL, msg, column=where))

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
        bad(f"contrast name '{name}' must be letters, digits, '_', '.', '+', '-'")
    kind = spec.get("kind")
    if kind not in KINDS:
        bad(f"kind '{kind}' is not one of: {', '.join(KINDS)}")
        return None, issues
    arm = spec.get("arm") or (None if kind == "within_arm" else arms[-1])
    ref_arm = spec.get("reference_arm")
    tp = spec.get("timepoint") or tps[-1]
    ref_tp = spec.get("reference_timepoint")
    if kind == "within_arm":
        if arm is None:
            bad("a within_arm contrast needs 'arm' (the arm whose change is tested)")
        if ref_arm is not None:
            bad("a within_arm contrast has no reference_arm; remove it")
        ref_tp = ref_tp or tps[0]
    elif kind == "interaction":
        ref_arm = ref_arm or arms[0]
        ref_tp = ref_tp or tps[0]
    else:
        ref_arm = ref_arm or arms[0]
        if ref_tp is not None:
            bad(
                "a between_arms contrast compares arms at one timepoint; "
                "remove reference_timepoint"
            )
    for key, value, allowed, cfg in (
        ("arm", arm, arms, "design.arms"),
        ("reference_arm", ref_arm, arms, "design.arms"),
        ("timepoint", tp, tps, "design.timepoints"),
        ("reference_timepoint", ref_tp, tps, "design.timepoints"),
    ):
        if value is not None and value not in allowed:
            bad(
                f"{key} '{value}' is not a level of this trial; use one of: "
                f"{', '.join(allowed)} ({cfg})"
            )
    if kind != "within_arm" and arm is not None and arm == ref_arm:
        bad(f"arm and reference_arm are both '{arm}'; a contrast needs two levels")
    if kind != "between_arms" and tp == ref_tp:
        bad(f"timepoint and reference_timepoint are both '{tp}'; a contrast needs two")
    covs = spec.get("covariates") or []
    if not isinstance(covs, list) or not all(isinstance(c, str) for c in covs):
        bad("covariates must be a list of column names")
        covs = []
    reserved = {"participant", "arm", "timepoint", TREATED_FOLLOWUP, "participant_id"}
    for c in covs:
        if c in reserved:
            bad(f"covariate '{c}' is part of the design already; remove it")
    if issues:
        return None, issues
    return (
        Contrast(
            name=name,
            kind=str(kind),
            arm=str(arm),
            reference_arm=ref_arm,
            timepoint=str(tp),
            reference_timepoint=ref_tp,
            covariates=tuple(covs),
            description=str(spec.get("description") or ""),
        ),
        issues,
    )


def de_settings(config: Mapping[str, Any]) -> DESettings:
    """Build and check the DE settings from a validated configuration.

    Parameters
    ----------
    config
        Configuration as returned by :func:`exomir.config.load_config`; the
        ``de`` section may be missing (defaults are used).

    Returns
    -------
    DESettings
        The settings, with every contrast's levels checked against the design.

    Raises
    ------
    ValidationError
        If a contrast names an unknown arm or timepoint, has one level only,
        or is otherwise malformed.
    """
    design = config["design"]
    arms = tuple(design["arms"])
    tps = tuple(design["timepoints"])
    de = dict(config.get("de") or {})
    specs = de.get("contrasts") or default_contrasts(arms, tps)
    contrasts: dict[str, Contrast] = {}
    issues: list[Issue] = []
    for name, spec in specs.items():
        c, iss = _contrast_from_spec(str(name), spec or {}, arms, tps)
        issues += iss
        if c is not None:
            contrasts[c.name] = c
    if not specs:
        issues.append(Issue(CONFIG_LABEL, "no contrasts defined", column="de"))
    control = dict(de.get("control") or {})
    names = control.get("exclude_names")
    regex = control.get("exclude_regex")
    if names is None:
        names = DEFAULT_RBC + DEFAULT_PLATELET
    if regex is None:
        regex = DEFAULT_C19MC_REGEX
    for rx in regex:
        try:
            re.compile(rx)
        except re.error as exc:
            issues.append(
                Issue(
                    CONFIG_LABEL,
                    f"'{rx}' is not a valid regular expression: {exc}",
                    column="de.control.exclude_regex",
                )
            )
    fit_type = de.get("size_factors_fit_type", "auto")
    if fit_type not in ("auto", "ratio", "poscounts"):
        issues.append(
            Issue(
                CONFIG_LABEL,
                f"size_factors_fit_type '{fit_type}' is not one of auto, ratio, poscounts",
                column="de.size_factors_fit_type",
            )
        )
    wald_ref = de.get("wald_reference", "t")
    if wald_ref not in ("normal", "t"):
        issues.append(
            Issue(
                CONFIG_LABEL,
                f"wald_reference '{wald_ref}' is not one of normal, t",
                column="de.wald_reference",
            )
        )
    if issues:
        raise ValidationError(issues)
    return DESettings(
        contrasts=contrasts,
        arms=arms,
        timepoints=tps,
        primary_mirna=str(config["trial"]["primary_mirna"]),
        min_rpm=float(de.get("min_rpm", 5.0)),
        min_frac=float(de.get("min_frac", 0.5)),
        min_count=int(de.get("min_count", 10)),
        exclude_names=tuple(names),
        exclude_regex=tuple(regex),
        control_min_base_mean=float(control.get("min_base_mean", 50.0)),
        control_min_mirnas=int(control.get("min_mirnas", 30)),
        size_factors_fit_type=str(fit_type),
        alpha=float(de.get("alpha", 0.05)),
        shrinkage=bool(de.get("shrinkage", True)),
        refit_cooks=bool(de.get("refit_cooks", True)),
        min_replicates=int(de.get("min_replicates", 7)),
        cooks_filter=bool(de.get("cooks_filter", True)),
        independent_filter=bool(de.get("independent_filter", True)),
        pca_ntop=int(de.get("pca_ntop", 500)),
        label_top=int(de.get("label_top", 10)),
        wald_reference=str(wald_ref),
    )


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


def _as_bool(values: pd.Series) -> pd.Series:
    """Booleans with missing values as False (no object-dtype downcasting)."""
    return values.map(lambda v: v is True or v is np.True_)


def _blank(value: Any) -> bool:
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
                + ("" if _blank(extra_reason) else f": {extra_reason}")
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
# Filtering and control miRNAs
# --------------------------------------------------------------------------- #


def filter_mirnas(
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    settings: DESettings,
) -> pd.DataFrame:
    """Apply the feature filter (rule 2 of the module docstring).

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`; only usable libraries are considered.
    settings
        ``min_rpm``, ``min_count``, ``min_frac`` and ``primary_mirna`` are used.

    Returns
    -------
    pandas.DataFrame
        One row per miRNA (sorted by name): ``mirna``, ``total_count``,
        ``best_cell`` (arm|timepoint with the largest share of libraries
        expressing the miRNA, i.e. RPM >= ``min_rpm`` and count >=
        ``min_count``), ``best_frac`` (that share), ``best_frac_rpm`` (the
        largest share by the RPM rule alone), ``kept`` and ``reason``.
    """
    used = meta.index[meta["usable"]]
    sub = counts[list(used)]
    rpm = sub / sub.sum(axis=0) * 1e6
    above_rpm = rpm >= settings.min_rpm
    above = above_rpm & (sub >= settings.min_count)
    cells = meta.loc[used].groupby(["arm", "timepoint"], sort=True).groups

    def shares(mask: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {f"{a}|{t}": mask[list(idx)].mean(axis=1) for (a, t), idx in cells.items()},
            index=counts.index,
        )

    fracs = shares(above)
    fracs_rpm = shares(above_rpm)
    total = sub.sum(axis=1)
    if fracs.shape[1]:
        best_cell = fracs.idxmax(axis=1)
        best_frac = fracs.max(axis=1)
        best_rpm = fracs_rpm.max(axis=1)
    else:
        best_cell = pd.Series("", index=counts.index)
        best_frac = pd.Series(0.0, index=counts.index)
        best_rpm = pd.Series(0.0, index=counts.index)
    tol = 1e-12
    kept = best_frac >= settings.min_frac - tol
    rpm_ok = best_rpm >= settings.min_frac - tol
    reason = np.where(
        kept,
        "kept",
        np.where(
            rpm_ok,
            f"fewer than {settings.min_count:d} reads (de.min_count) in "
            f"{settings.min_frac:g} of the libraries of every arm x timepoint "
            f"cell (RPM >= {settings.min_rpm:g} alone would keep it)",
            f"RPM >= {settings.min_rpm:g} in fewer than {settings.min_frac:g} of "
            "the libraries of every arm x timepoint cell",
        ),
    )
    out = pd.DataFrame(
        {
            "mirna": counts.index,
            "total_count": total.to_numpy(),
            "best_cell": best_cell.to_numpy(),
            "best_frac": best_frac.to_numpy(),
            "best_frac_rpm": best_rpm.to_numpy(),
            "kept": kept.to_numpy(),
            "reason": reason,
        },
        index=counts.index,
    )
    zero = total == 0
    out.loc[zero, "kept"] = False
    out.loc[zero, "reason"] = "no reads in any usable library"
    n_count = int((rpm_ok & ~kept & ~zero).sum())
    if n_count:
        log.warning(
            "feature filter: %d miRNA(s) pass the RPM rule but have fewer than %d "
            "reads in too many libraries (de.min_count); left out",
            n_count,
            settings.min_count,
        )
    p = settings.primary_mirna
    if p in out.index and not out.at[p, "kept"] and not zero[p]:
        out.at[p, "kept"] = True
        out.at[p, "reason"] = "kept: primary endpoint (below the filter)"
    return out.sort_index()


def _strip_species(name: str) -> str:
    return re.sub(r"^[a-z]{3,4}-", "", name)


def exclusion_reason(mirna: str, settings: DESettings) -> str:
    """Why a miRNA may not be a size-factor control ("" if it may).

    Grouped names (identical sequences joined with ``/``) are excluded when any
    member is.

    Parameters
    ----------
    mirna
        miRNA name.
    settings
        Exclusion lists and the primary miRNA.

    Returns
    -------
    str
        The reason, or an empty string.
    """
    names = set(settings.exclude_names) | {
        _strip_species(n) for n in settings.exclude_names
    }
    for part in mirna.split("/"):
        if part == settings.primary_mirna:
            return "primary endpoint miRNA"
        if part in names or _strip_species(part) in names:
            return "excluded by name (de.control.exclude_names)"
        for rx in settings.exclude_regex:
            if re.search(rx, part):
                return "excluded by pattern (de.control.exclude_regex)"
    return ""


def _median_of_ratios(counts: np.ndarray) -> np.ndarray:
    """Median-of-ratios size factors (samples x genes, all-positive genes only)."""
    pos = (counts > 0).all(axis=0)
    if not pos.any():
        return np.ones(counts.shape[0])
    logc = np.log(counts[:, pos])
    logmeans = logc.mean(axis=0)
    return np.exp(np.median(logc - logmeans, axis=1))


@dataclass
class ControlSet:
    """Size-factor control miRNAs and the resolved fit type.

    Attributes
    ----------
    mirnas
        Control miRNAs (sorted).
    fit_type
        ``ratio`` or ``poscounts``.
    table
        Per filtered miRNA: ``mirna``, ``base_mean``, ``control`` and
        ``control_reason``.
    """

    mirnas: list[str]
    fit_type: str
    table: pd.DataFrame


def control_mirnas(
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    kept: Sequence[str],
    settings: DESettings,
) -> ControlSet:
    """Choose the size-factor control miRNAs (rule 3 of the module docstring).

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`; only usable libraries are considered.
    kept
        miRNAs that passed the feature filter.
    settings
        Exclusions, thresholds and fit type.

    Returns
    -------
    ControlSet
        The control miRNAs, the fit type and a per-miRNA table of reasons.

    Raises
    ------
    ValidationError
        If no miRNA qualifies.
    """
    used = list(meta.index[meta["usable"]])
    sub = counts.loc[list(kept), used]
    x = sub.to_numpy(dtype=float).T
    sf = _median_of_ratios(x)
    base_mean = (x / sf[:, None]).mean(axis=0)
    all_pos = (x > 0).all(axis=0)
    reasons = [exclusion_reason(m, settings) for m in sub.index]
    candidate = np.array([r == "" for r in reasons])
    high = base_mean >= settings.control_min_base_mean
    fit_type = settings.size_factors_fit_type
    n_ratio = int((candidate & all_pos & high).sum())
    if fit_type == "auto":
        fit_type = "ratio" if n_ratio >= settings.control_min_mirnas else "poscounts"
        log.info(
            "size factors: %d candidate control miRNAs are positive in every "
            "library -> fit type '%s'",
            n_ratio,
            fit_type,
        )
    final = []
    for i, _m in enumerate(sub.index):
        if reasons[i]:
            final.append(reasons[i])
        elif fit_type == "ratio" and not all_pos[i]:
            final.append("a zero count in some library")
        elif not high[i]:
            final.append(
                f"mean normalised count {base_mean[i]:.1f} < "
                f"{settings.control_min_base_mean:g}"
            )
        else:
            final.append("")
    table = pd.DataFrame(
        {
            "mirna": sub.index,
            "base_mean": base_mean,
            "control": [r == "" for r in final],
            "control_reason": [r or "control" for r in final],
        },
        index=sub.index,
    )
    chosen = sorted(table.index[table["control"]])
    if not chosen:
        raise ValidationError(
            [
                Issue(
                    CONFIG_LABEL,
                    "no miRNA qualifies as a size-factor control after the "
                    "exclusions; lower de.control.min_base_mean or shorten the "
                    "exclusion lists",
                    column="de.control",
                )
            ]
        )
    log.info("size factors from %d control miRNAs (%s)", len(chosen), fit_type)
    return ControlSet(mirnas=chosen, fit_type=fit_type, table=table.sort_index())


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
        miss = cand[cov].map(_blank) & (reason == "")
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


def _dummies(values: pd.Series, name: str, levels: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {f"{name}[T.{lvl}]": (values == lvl).astype(float) for lvl in levels[1:]},
        index=values.index,
    )


def _rank(x: pd.DataFrame) -> int:
    return int(np.linalg.matrix_rank(x.to_numpy(dtype=float))) if x.shape[1] else 0


def design_matrix(
    meta: pd.DataFrame, contrast: Contrast
) -> tuple[pd.DataFrame, list[str]]:
    """Design matrix of a contrast over its included libraries.

    Parameters
    ----------
    meta
        Included libraries (rows) with ``participant_id``, ``arm``,
        ``timepoint`` and the covariate columns.
    contrast
        The contrast.

    Returns
    -------
    tuple
        The design matrix (float DataFrame indexed like ``meta``; the tested
        column is ``contrast.coefficient``) and notes on dropped covariates.

    Raises
    ------
    DesignError
        If a factor of the contrast has a single level among the libraries,
        the design is not of full rank, or no residual degrees of freedom are
        left.
    """
    label = f"{CONFIG_LABEL} (contrast {contrast.name})"
    n = len(meta)
    notes: list[str] = []

    def fail(msg: str) -> DesignError:
        return DesignError([Issue(label, msg, column=f"de.contrasts.{contrast.name}")])

    if n == 0:
        raise fail("no usable libraries for this contrast")
    parts = [pd.DataFrame({"Intercept": np.ones(n)}, index=meta.index)]
    if contrast.paired:
        pids = sorted(meta["participant_id"].unique())
        for a in contrast.arms:
            n_a = meta.loc[meta["arm"] == a, "participant_id"].nunique()
            if n_a < (2 if contrast.kind == "within_arm" else 1):
                raise fail(
                    f"single level: {n_a} paired participant(s) in arm '{a}'; the "
                    "contrast needs paired participants (both timepoints usable)"
                    + (" in each arm" if contrast.kind == "interaction" else "")
                )
        parts.append(_dummies(meta["participant_id"], "participant", pids))
        parts.append(_dummies(meta["timepoint"], "timepoint", contrast.timepoints))
        if contrast.kind == "interaction":
            tf = (meta["arm"] == contrast.arm) & (
                meta["timepoint"] == contrast.timepoint
            )
            parts.append(pd.DataFrame({TREATED_FOLLOWUP: tf.astype(float)}))
    else:
        for a in contrast.arms:
            if (meta["arm"] == a).sum() < 1:
                raise fail(
                    f"single level: no usable library of arm '{a}' at "
                    f"{contrast.timepoint}"
                )
        parts.append(_dummies(meta["arm"], "arm", contrast.arms))
    x = pd.concat(parts, axis=1)
    if _rank(x) < x.shape[1]:
        raise fail("the design is not of full rank")
    for cov in contrast.covariates:
        col = meta[cov]
        numeric = pd.api.types.is_numeric_dtype(col.dtype) or all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in col
        )
        if numeric:
            v = col.astype(float)
            sd = v.std(ddof=0)
            if sd == 0:
                notes.append(f"covariate {cov} is constant here; dropped")
                continue
            add = pd.DataFrame({cov: (v - v.mean()) / sd})
        else:
            levels = sorted(col.astype(str).unique())
            if len(levels) < 2:
                notes.append(f"covariate {cov} has one level here; dropped")
                continue
            add = _dummies(col.astype(str), cov, levels)
        for c in add.columns:
            trial = pd.concat([x, add[[c]]], axis=1)
            if _rank(trial) > _rank(x):
                x = trial
            else:
                why = "absorbed by participant" if contrast.paired else "collinear"
                notes.append(f"design column {c} dropped ({why})")
    if x.shape[0] - x.shape[1] < 1:
        raise fail(
            f"{x.shape[0]} libraries and {x.shape[1]} design columns leave no "
            "residual degrees of freedom"
        )
    for note in notes:
        log.info("contrast %s: %s", contrast.name, note)
    return x, notes


# --------------------------------------------------------------------------- #
# pydeseq2
# --------------------------------------------------------------------------- #

#: Warnings pydeseq2 raises in normal use on small or sparse data. They are
#: caught (only when raised from pydeseq2 code), logged and noted in the
#: output instead of being shown; any other warning is re-issued unchanged.
KNOWN_PYDESEQ2_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    # Parametric trend did not converge -> pydeseq2 switches to the mean trend
    # (DESeq2 does the same, with a message).
    (UserWarning, r"dispersion trend curve fitting did not converge"),
    # Few residual degrees of freedom: the dispersion prior is imprecise.
    (UserWarning, r"residual degrees of freedom is less than 3"),
    # apeGLM-type shrinkage failed for some miRNAs; their MLE is kept.
    (UserWarning, r"had NaN/infinite values during LFC shrinkage"),
    # Optimiser steps on near-zero or extreme counts inside pydeseq2's fits.
    (RuntimeWarning, r"(overflow|divide by zero|invalid value) encountered"),
)


@contextlib.contextmanager
def pydeseq2_warnings(notes: list[str]) -> Iterator[None]:
    """Catch pydeseq2's known, benign warnings; log and note them.

    Parameters
    ----------
    notes
        List the distinct warning messages are appended to.

    Yields
    ------
    None
        Run pydeseq2 inside the block.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: set[str] = set()
    for w in caught:
        msg = str(w.message)
        known = "pydeseq2" in str(w.filename) and any(
            issubclass(w.category, cat) and re.search(rx, msg)
            for cat, rx in KNOWN_PYDESEQ2_WARNINGS
        )
        if not known:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        if msg not in seen:
            seen.add(msg)
            log.info("pydeseq2: %s", msg)
            notes.append(f"pydeseq2: {msg}")


@dataclass
class ContrastResult:
    """Result of one contrast.

    Attributes
    ----------
    contrast
        The contrast.
    table
        Per-miRNA results, sorted (see the module docstring).
    samples
        Candidate libraries with ``included`` and ``reason``.
    design_columns
        Columns of the design matrix.
    size_factors
        Size factors of the included libraries.
    notes
        Dropped covariates, pydeseq2 warnings, fit-type choices.
    """

    contrast: Contrast
    table: pd.DataFrame
    samples: pd.DataFrame
    design_columns: list[str]
    size_factors: pd.Series
    notes: list[str] = field(default_factory=list)


RESULT_COLUMNS = [
    "mirna",
    "baseMean",
    "log2FoldChange",
    "lfcSE",
    "log2FoldChange_shrunk",
    "lfcSE_shrunk",
    "stat",
    "pvalue",
    "padj",
    "cooks_outlier",
    "control",
]


def sort_results(table: pd.DataFrame) -> pd.DataFrame:
    """Sort a results table by padj (missing last), pvalue, then miRNA.

    Parameters
    ----------
    table
        Results with ``padj``, ``pvalue`` and ``mirna``.

    Returns
    -------
    pandas.DataFrame
        Sorted copy with a fresh index.
    """
    return table.sort_values(
        ["padj", "pvalue", "mirna"], na_position="last", kind="mergesort"
    ).reset_index(drop=True)


def fit_contrast(
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    contrast: Contrast,
    settings: DESettings,
    control: ControlSet,
    mirnas: Sequence[str] | None = None,
    n_cpus: int = 1,
) -> ContrastResult:
    """Fit one contrast with pydeseq2.

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`.
    contrast
        The contrast.
    settings
        DE settings.
    control
        From :func:`control_mirnas`.
    mirnas
        miRNAs to test (the filtered set); default all rows of ``counts``.
    n_cpus
        Processes for pydeseq2.

    Returns
    -------
    ContrastResult
        Results, sample inclusion and notes.

    Raises
    ------
    DesignError
        If the contrast cannot be estimated from the usable libraries.
    """
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    notes: list[str] = []
    chosen = select_samples(meta, contrast)
    inc = meta.loc[chosen.index[chosen["included"]]]
    design, dnotes = design_matrix(inc, contrast)
    notes += dnotes
    genes = list(mirnas) if mirnas is not None else list(counts.index)
    sub = counts.loc[genes, list(inc.index)]
    nonzero = sub.sum(axis=1) > 0
    if (~nonzero).any():
        notes.append(
            f"{int((~nonzero).sum())} filtered miRNA(s) have no reads in this "
            "contrast's libraries; their statistics are empty"
        )
    x = sub.loc[nonzero].T
    ctrl = [m for m in control.mirnas if m in x.columns]
    obs = inc[["participant_id", "arm", "timepoint"]].astype(str).copy()
    log.info(
        "contrast %s: %d libraries, %d miRNAs, %d design columns, %d controls",
        contrast.name,
        x.shape[0],
        x.shape[1],
        design.shape[1],
        len(ctrl),
    )
    # One BLAS thread: pydeseq2 fits many tiny per-miRNA problems, where BLAS
    # threading only adds overhead (measured 5-10x slower with 2 threads).
    with threadpool_limits(1), pydeseq2_warnings(notes):
        dds = DeseqDataSet(
            counts=x,
            metadata=obs,
            design=design,
            size_factors_fit_type=control.fit_type,  # type: ignore[arg-type]
            control_genes=ctrl,
            refit_cooks=settings.refit_cooks,
            min_replicates=settings.min_replicates,
            n_cpus=n_cpus,
            quiet=True,
        )
        dds.deseq2()
        vec = np.array(
            [1.0 if c == contrast.coefficient else 0.0 for c in design.columns]
        )
        ds = DeseqStats(
            dds,
            contrast=vec,
            alpha=settings.alpha,
            cooks_filter=settings.cooks_filter,
            independent_filter=settings.independent_filter,
            quiet=True,
            n_cpus=n_cpus,
        )
        if settings.wald_reference == "t":
            # As DESeq2's useT=TRUE: t reference with residual df; summary()
            # then applies Cook's and independent filtering to these p-values.
            df_resid = x.shape[0] - design.shape[1]
            ds.run_wald_test()
            stat = ds.statistics.to_numpy(dtype=float)
            pt = 2.0 * stats.t.sf(np.abs(stat), df_resid)
            ds.p_values = pd.Series(
                np.where(np.isnan(stat), np.nan, pt), index=ds.statistics.index
            )
            notes.append(f"Wald p-values from t({df_resid})")
        ds.summary()
        res = ds.results_df.copy()
        if settings.shrinkage:
            ds.lfc_shrink(coeff=contrast.coefficient)
            res["log2FoldChange_shrunk"] = ds.results_df["log2FoldChange"]
            res["lfcSE_shrunk"] = ds.results_df["lfcSE"]
        else:
            res["log2FoldChange_shrunk"] = np.nan
            res["lfcSE_shrunk"] = np.nan
    res["cooks_outlier"] = np.asarray(dds.cooks_outlier(), dtype=bool)
    table = res.reindex(genes).rename_axis(None)
    table["baseMean"] = table["baseMean"].fillna(0.0)
    table["cooks_outlier"] = _as_bool(table["cooks_outlier"])
    table.insert(0, "mirna", table.index)
    table["control"] = table["mirna"].isin(set(control.mirnas))
    table = sort_results(table[RESULT_COLUMNS])
    n_sig = int((table["padj"] < settings.alpha).sum())
    log.info(
        "contrast %s: %d miRNAs with padj < %g", contrast.name, n_sig, settings.alpha
    )
    sf = pd.Series(
        dds.obs["size_factors"].to_numpy(), index=x.index, name="size_factor"
    )
    return ContrastResult(
        contrast=contrast,
        table=table,
        samples=chosen,
        design_columns=list(design.columns),
        size_factors=sf,
        notes=notes,
    )


# --------------------------------------------------------------------------- #
# Normalisation, VST and PCA
# --------------------------------------------------------------------------- #


def pca(
    values: np.ndarray, n_comps: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of a samples x features matrix (centred, not scaled), by SVD.

    Signs are fixed so that the largest absolute loading of each component is
    positive, which makes the result reproducible. Features with non-finite
    values (e.g. a VST that could not be fitted because all libraries are
    identical) are left out with zero loadings; if no feature varies, the
    scores and variance ratios are zero.

    Parameters
    ----------
    values
        Samples x features.
    n_comps
        Maximum number of components.

    Returns
    -------
    tuple
        Scores (samples x k), loadings (features x k) and variance ratios (k).
    """
    finite = np.isfinite(values).all(axis=0)
    centred = np.where(finite, values, 0.0) - np.where(finite, values, 0.0).mean(axis=0)
    k = max(1, min(n_comps, *centred.shape))
    if not np.any(centred):
        n, m = centred.shape
        return np.zeros((n, k)), np.zeros((m, k)), np.zeros(k)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    u, s, vt = u[:, :k], s[:k], vt[:k]
    sign = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    sign[sign == 0] = 1.0
    u, vt = u * sign, vt * sign[:, None]
    total = (centred**2).sum()
    ratio = s**2 / total if total > 0 else np.zeros(k)
    return u * s, vt.T, ratio


@dataclass
class Normalised:
    """Median-of-ratios normalisation and VST of the usable libraries.

    Attributes
    ----------
    samples
        Usable libraries (rows), in the order of ``meta``.
    mirnas
        miRNAs with at least one read in the usable libraries (columns).
    counts
        Raw counts (samples x mirnas, int64).
    normed
        ``counts / size_factors`` (pydeseq2 ``normed_counts``).
    vst
        pydeseq2 ``vst(use_design=False)`` (blind) values.
    size_factors
        One per usable library (median-of-ratios over the control miRNAs).
    notes
        pydeseq2 warnings met on the way.
    """

    samples: list[str]
    mirnas: list[str]
    counts: np.ndarray
    normed: np.ndarray
    vst: np.ndarray
    size_factors: np.ndarray
    notes: list[str] = field(default_factory=list)


def normalise_usable(
    counts: pd.DataFrame, meta: pd.DataFrame, control: ControlSet
) -> Normalised:
    """Size factors, normalised counts and VST of the usable libraries.

    Size factors are median-of-ratios over the control miRNAs (rule 3 of the
    module docstring) with the resolved fit type; the VST is pydeseq2's blind
    ``vst(use_design=False)`` over the miRNAs with at least one read in the
    usable libraries.

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`.
    control
        From :func:`control_mirnas`.

    Returns
    -------
    Normalised
        Arrays over usable libraries x miRNAs with reads.

    Raises
    ------
    ValidationError
        If fewer than 2 libraries are usable.
    """
    from pydeseq2.dds import DeseqDataSet

    used = [str(s) for s in meta.index[meta["usable"]]]
    if len(used) < 2:
        raise ValidationError(
            [Issue("mirna_counts.tsv", "at least 2 usable libraries are needed")]
        )
    sub = counts[used]
    genes = [str(g) for g in sub.index[sub.sum(axis=1) > 0]]
    x = sub.loc[genes].T
    notes: list[str] = []
    with threadpool_limits(1), pydeseq2_warnings(notes):
        dds = DeseqDataSet(
            counts=x,
            metadata=pd.DataFrame(
                {"participant_id": meta.loc[used, "participant_id"].astype(str)},
                index=x.index,
            ),
            design=pd.DataFrame({"Intercept": np.ones(len(used))}, index=x.index),
            size_factors_fit_type=control.fit_type,  # type: ignore[arg-type]
            control_genes=[m for m in control.mirnas if m in x.columns],
            quiet=True,
            n_cpus=1,
        )
        dds.vst(use_design=False)
    return Normalised(
        samples=used,
        mirnas=genes,
        counts=x.to_numpy(dtype=np.int64),
        normed=np.asarray(dds.layers["normed_counts"], dtype=float),
        vst=np.asarray(dds.layers["vst_counts"], dtype=float),
        size_factors=np.asarray(dds.obs["size_factors"], dtype=float),
        notes=notes,
    )


#: Layers of ``results/counts/mirna.h5ad`` written by :func:`counts_anndata`.
COUNTS_LAYERS = ("counts", "normalised", "vst")


def counts_anndata(raw: Any, prep: Prepared) -> Any:
    """Add normalised-count layers to the cohort count AnnData.

    The object keeps every library and miRNA of ``raw`` (the merge output);
    the normalisation is that of the DE stage (:func:`normalise_usable` with
    the control set of :func:`control_mirnas`), computed on the usable
    (QC-passed, not excluded, with miRNA reads) libraries only, so adding or
    failing a library never changes the values of the others silently.

    Parameters
    ----------
    raw
        ``anndata.AnnData`` from :func:`exomir.reads.merge.build_mirna_anndata`
        (samples x miRNAs, ``X`` raw counts).
    prep
        From :func:`prepare` on the same counts.

    Returns
    -------
    anndata.AnnData
        Copy of ``raw`` with layers ``counts`` (raw, as ``X``),
        ``normalised`` (``counts / size_factor``) and ``vst`` (blind VST);
        both are NaN for libraries that are not usable (decision: they took
        no part in the size factors and no analysis uses them, so no number
        is made up for them), and ``vst`` is also NaN for miRNAs without a
        read in any usable library (``normalised`` is 0 there). ``obs`` gains
        ``usable``, ``exclusion_reason`` and ``size_factor`` (NaN when not
        usable); ``var`` gains ``filter_pass`` and ``control``;
        ``uns["normalisation"]`` records the method, fit type, control miRNAs
        and notes.

    Raises
    ------
    ValidationError
        If ``raw`` and ``prep`` do not hold the same libraries and counts.
    """
    out = raw.copy()
    samples = [str(s) for s in out.obs_names]
    mirnas = [str(m) for m in out.var_names]
    label = "results/counts/mirna.h5ad"
    missing = sorted(set(prep.counts.columns) - set(samples))
    if missing or set(prep.counts.index) != set(mirnas):
        raise ValidationError(
            [
                Issue(
                    label,
                    "the AnnData and the count table differ in libraries or miRNAs"
                    + (
                        f" (libraries missing: {', '.join(missing)})" if missing else ""
                    ),
                )
            ]
        )
    x = np.asarray(out.X.toarray() if hasattr(out.X, "toarray") else out.X)
    ref = prep.counts.loc[mirnas, samples].to_numpy().T
    if not np.array_equal(x.astype(np.int64), ref.astype(np.int64)):
        raise ValidationError(
            [Issue(label, "the AnnData counts differ from the count table")]
        )
    norm = normalise_usable(prep.counts, prep.meta, prep.control)
    rows = [samples.index(s) for s in norm.samples]
    cols = [mirnas.index(m) for m in norm.mirnas]
    normed = np.full(x.shape, np.nan)
    vst = np.full(x.shape, np.nan)
    normed[rows, :] = 0.0
    normed[np.ix_(rows, cols)] = norm.normed
    vst[np.ix_(rows, cols)] = norm.vst
    out.layers["counts"] = x.copy()
    out.layers["normalised"] = normed
    out.layers["vst"] = vst
    usable = prep.meta["usable"].reindex(samples)
    reason = prep.meta["reason"].reindex(samples)
    out.obs["usable"] = _as_bool(usable).to_numpy()
    out.obs["exclusion_reason"] = ["" if _blank(r) else str(r) for r in reason.tolist()]
    sf = np.full(len(samples), np.nan)
    sf[rows] = norm.size_factors
    out.obs["size_factor"] = sf
    out.var["filter_pass"] = _as_bool(prep.filt["kept"].reindex(mirnas)).to_numpy()
    out.var["control"] = np.isin(mirnas, prep.control.mirnas)
    out.uns["normalisation"] = {
        "method": (
            "median-of-ratios (pydeseq2) over the control miRNAs, usable "
            "libraries only; vst: pydeseq2 vst(use_design=False)"
        ),
        "size_factors_fit_type": prep.control.fit_type,
        "control_mirnas": list(prep.control.mirnas),
        "not_usable": "normalised and vst are NaN for libraries with usable=false",
        "notes": list(norm.notes),
    }
    n_bad = len(samples) - len(rows)
    if n_bad:
        log.warning(
            "normalised counts: %d of %d libraries are not usable (NaN layers)",
            n_bad,
            len(samples),
        )
    return out


def _from_counts_anndata(
    layers: Any, meta: pd.DataFrame, control: ControlSet
) -> Normalised:
    """Take the usable libraries' :class:`Normalised` from the counts AnnData."""
    label = "results/counts/mirna.h5ad"
    used = [str(s) for s in meta.index[meta["usable"]]]
    have = layers.obs_names[_as_bool(layers.obs["usable"]).to_numpy()]
    issues = []
    if sorted(map(str, have)) != sorted(used):
        issues.append(
            Issue(
                label,
                "its usable libraries differ from those of the DE inputs; "
                "re-run the counts normalisation",
            )
        )
    if list(layers.uns["normalisation"]["control_mirnas"]) != list(control.mirnas):
        issues.append(
            Issue(label, "its control miRNAs differ from those of the DE settings")
        )
    if issues:
        raise ValidationError(issues)
    sub = layers[used]
    counts = np.asarray(sub.layers["counts"])
    keep = counts.sum(axis=0) > 0
    return Normalised(
        samples=used,
        mirnas=[str(m) for m in sub.var_names[keep]],
        counts=counts[:, keep].astype(np.int64),
        normed=np.asarray(sub.layers["normalised"])[:, keep],
        vst=np.asarray(sub.layers["vst"])[:, keep],
        size_factors=sub.obs["size_factor"].to_numpy(dtype=float),
        notes=list(layers.uns["normalisation"].get("notes", [])),
    )


def normalise(
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    filt: pd.DataFrame,
    control: ControlSet,
    settings: DESettings,
    pseudocount: float = 1.0,
    counts_layers: Any = None,
) -> Any:
    """Normalised counts, log2 values, VST and PCA of all usable libraries.

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`.
    filt
        From :func:`filter_mirnas`.
    control
        From :func:`control_mirnas`.
    settings
        DE settings (``pca_ntop``).
    pseudocount
        Added before log2 in the ``log2_normed`` layer.
    counts_layers
        The counts AnnData with normalised layers (:func:`counts_anndata`,
        ``results/counts/mirna.h5ad``): its ``normalised``, ``vst`` and
        ``size_factor`` are used instead of being computed again (they must
        be for the same usable libraries and control miRNAs). ``None``
        computes them (:func:`normalise_usable`).

    Returns
    -------
    anndata.AnnData
        Usable libraries x miRNAs with at least one read. ``X`` holds raw
        counts; layers ``normed_counts`` (median-of-ratios over the control
        miRNAs), ``log2_normed`` (log2(normed + pseudocount)) and
        ``vst_counts`` (pydeseq2 ``vst(use_design=False)``, i.e. blind);
        ``obs`` the sample and participant columns and ``size_factor``;
        ``var`` ``filter_pass`` and ``control``; PCA of the VST values of the
        ``pca_ntop`` most variable filtered miRNAs in ``obsm["X_pca"]``,
        ``varm["PCs"]`` and ``uns["pca"]["variance_ratio"]`` (scanpy layout).
    """
    import anndata as ad

    if counts_layers is None:
        norm = normalise_usable(counts, meta, control)
    else:
        norm = _from_counts_anndata(counts_layers, meta, control)
    used, genes = norm.samples, norm.mirnas
    obs = meta.loc[used].drop(columns=["usable", "reason"]).copy()
    for c in obs.columns:
        if obs[c].dtype == object:
            obs[c] = obs[c].map(lambda v: "" if _blank(v) else str(v))
    normed, vst = norm.normed, norm.vst
    obs["size_factor"] = norm.size_factors
    var = pd.DataFrame(index=pd.Index(genes, name="mirna"))
    var["filter_pass"] = _as_bool(filt.reindex(genes)["kept"]).to_numpy()
    var["control"] = var.index.isin(control.mirnas)
    adata = ad.AnnData(
        X=norm.counts,
        obs=obs,
        var=var,
        layers={
            "normed_counts": normed,
            "log2_normed": np.log2(normed + pseudocount),
            "vst_counts": vst,
        },
    )
    fp = np.flatnonzero(var["filter_pass"].to_numpy())
    if len(fp) >= 2 and len(used) >= 3:
        v = vst[:, fp]
        top = fp[np.argsort(-v.var(axis=0), kind="mergesort")[: settings.pca_ntop]]
        top = np.sort(top)
        scores, loadings, ratio = pca(vst[:, top])
        pcs = np.zeros((len(genes), scores.shape[1]))
        pcs[top] = loadings
        adata.obsm["X_pca"] = scores
        adata.varm["PCs"] = pcs
        adata.uns["pca"] = {
            "variance_ratio": ratio,
            "params": {"layer": "vst_counts", "n_top": len(top)},
        }
    adata.uns["de_normalisation"] = {
        "size_factors_fit_type": control.fit_type,
        "control_mirnas": list(control.mirnas),
        "pseudocount": float(pseudocount),
        "notes": norm.notes,
    }
    return adata


# --------------------------------------------------------------------------- #
# Writing and running
# --------------------------------------------------------------------------- #


@dataclass
class Prepared:
    """Inputs shared by all contrasts.

    Attributes
    ----------
    counts
        miRNA x sample counts.
    meta
        Library table from :func:`sample_table`.
    filt
        Feature filter table.
    control
        Size-factor controls.
    settings
        DE settings.
    """

    counts: pd.DataFrame
    meta: pd.DataFrame
    filt: pd.DataFrame
    control: ControlSet
    settings: DESettings

    @property
    def kept(self) -> list[str]:
        """MiRNAs that passed the filter."""
        return list(self.filt.index[self.filt["kept"]])

    def mirna_table(self) -> pd.DataFrame:
        """Per-miRNA filter and control table (sorted by miRNA)."""
        t = self.filt.join(
            self.control.table[["base_mean", "control", "control_reason"]]
        )
        t["control"] = _as_bool(t["control"])
        t["control_reason"] = t["control_reason"].fillna("not filtered in")
        return t.reset_index(drop=True)


def prepare(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    participants: pd.DataFrame,
    config: Mapping[str, Any],
    library_qc: pd.DataFrame | None = None,
    counts_label: str = "mirna_counts.tsv",
) -> Prepared:
    """Check the inputs, mark usable libraries, filter and choose controls.

    Parameters
    ----------
    counts
        miRNA x sample counts (checked with :func:`check_counts`).
    samples, participants
        Sheets as DataFrames.
    config
        Validated configuration.
    library_qc
        QC table or ``None``.
    counts_label
        File name of the counts for messages.

    Returns
    -------
    Prepared
        Everything the contrasts and the normalisation need.

    Raises
    ------
    ValidationError
        On any input problem (see :func:`check_counts`, :func:`sample_table`,
        :func:`de_settings`).
    NotComputed
        When no library is usable (e.g. none passed QC): the workflow writes
        the stage outputs as "not computed" (:mod:`exomir.notcomputed`).
    """
    settings = de_settings(config)
    counts = check_counts(counts, counts_label)
    meta = sample_table(counts, samples, participants, library_qc, counts_label)
    if not meta["usable"].any():
        why = sorted(set(meta["reason"]))
        raise NotComputed(
            f"no usable library is left in {counts_label}: none of the "
            f"{len(meta)} libraries can be used ({'; '.join(why)})"
        )
    filt = filter_mirnas(counts, meta, settings)
    n_kept = int(filt["kept"].sum())
    log.info("feature filter: %d of %d miRNAs kept", n_kept, len(filt))
    if n_kept == 0:
        raise ValidationError(
            [
                Issue(
                    CONFIG_LABEL,
                    "no miRNA passes the feature filter; lower de.min_rpm, de.min_count "
                    "or de.min_frac",
                    column="de",
                )
            ]
        )
    control = control_mirnas(counts, meta, list(filt.index[filt["kept"]]), settings)
    return Prepared(counts, meta, filt, control, settings)


def run_contrast(
    prep: Prepared,
    name: str,
    table_path: str | os.PathLike[str],
    samples_path: str | os.PathLike[str],
    volcano_path: str | os.PathLike[str] | None = None,
    ma_path: str | os.PathLike[str] | None = None,
    n_cpus: int = 1,
) -> ContrastResult:
    """Fit one configured contrast and write its table, sample list and plots.

    Parameters
    ----------
    prep
        From :func:`prepare`.
    name
        Contrast name (a key of config ``de.contrasts``).
    table_path
        Results TSV (``results/de/{contrast}.tsv``).
    samples_path
        Libraries of the contrast with ``included`` and ``reason``.
    volcano_path, ma_path
        SVG plots, or ``None`` to skip.
    n_cpus
        Processes for pydeseq2.

    Returns
    -------
    ContrastResult
        The result.

    Raises
    ------
    ValidationError
        If the contrast is not configured.
    """
    if name not in prep.settings.contrasts:
        raise ValidationError(
            [
                Issue(
                    CONFIG_LABEL,
                    f"contrast '{name}' is not configured; known: "
                    + ", ".join(prep.settings.contrasts),
                    column="de.contrasts",
                )
            ]
        )
    contrast = prep.settings.contrasts[name]
    res = fit_contrast(
        prep.counts, prep.meta, contrast, prep.settings, prep.control, prep.kept, n_cpus
    )
    write_table(res.table, table_path)
    smp = res.samples.copy()
    smp["size_factor"] = smp.index.map(res.size_factors)
    smp.insert(0, "contrast", name)
    notes = "; ".join(res.notes)
    smp["design_notes"] = notes
    write_table(smp.reset_index(drop=True), samples_path)
    if volcano_path or ma_path:
        from exomir import plots_de

        title = contrast.description or name
        if volcano_path:
            plots_de.volcano(
                res.table,
                volcano_path,
                alpha=prep.settings.alpha,
                title=title,
                highlight=[prep.settings.primary_mirna],
                label_top=prep.settings.label_top,
            )
        if ma_path:
            plots_de.ma_plot(
                res.table,
                ma_path,
                alpha=prep.settings.alpha,
                title=title,
                highlight=[prep.settings.primary_mirna],
            )
    return res


def run_normalisation(
    prep: Prepared,
    h5ad_path: str | os.PathLike[str],
    mirna_table_path: str | os.PathLike[str],
    pca_table_path: str | os.PathLike[str],
    pca_plot_path: str | os.PathLike[str] | None = None,
    pseudocount: float = 1.0,
    library_table_path: str | os.PathLike[str] | None = None,
    counts_layers: Any = None,
) -> Any:
    """Write normalised counts (h5ad), the miRNA filter table and the PCA.

    Parameters
    ----------
    prep
        From :func:`prepare`.
    h5ad_path
        AnnData output (see :func:`normalise`).
    mirna_table_path
        Per-miRNA filter and control table.
    pca_table_path
        PC1-PC4 per usable library with arm, timepoint and batch.
    pca_plot_path
        SVG of PC1 vs PC2 coloured by arm, timepoint and batch, or ``None``.
    pseudocount
        For the ``log2_normed`` layer.
    library_table_path
        Every library of the sheet with ``usable`` and ``reason``, or ``None``.
    counts_layers
        The counts AnnData with normalised layers (see :func:`normalise`), or
        ``None`` to compute them.

    Returns
    -------
    anndata.AnnData
        The object written.
    """
    adata = normalise(
        prep.counts,
        prep.meta,
        prep.filt,
        prep.control,
        prep.settings,
        pseudocount,
        counts_layers=counts_layers,
    )
    with atomic_path(h5ad_path) as tmp:
        adata.write_h5ad(tmp)
    write_table(prep.mirna_table(), mirna_table_path)
    keep = [
        c
        for c in ("sample_id", "participant_id", "arm", "timepoint", "library_batch")
        if c in adata.obs.columns
    ]
    pcs = adata.obs[keep].copy()
    if "X_pca" in adata.obsm:
        k = min(4, adata.obsm["X_pca"].shape[1])
        for i in range(k):
            pcs[f"PC{i + 1}"] = adata.obsm["X_pca"][:, i]
    pcs = pcs.sort_values("sample_id")
    write_table(pcs, pca_table_path)
    if library_table_path is not None:
        cols = [
            c
            for c in (
                "sample_id",
                "participant_id",
                "arm",
                "timepoint",
                "library_batch",
                "mirna_reads",
                "usable",
                "reason",
            )
            if c in prep.meta.columns
        ]
        write_table(prep.meta[cols].sort_index(), library_table_path)
    if pca_plot_path is not None:
        from exomir import plots_de

        if "X_pca" in adata.obsm:
            plots_de.pca_plot(
                pcs,
                adata.uns["pca"]["variance_ratio"],
                pca_plot_path,
                colour_by=[
                    c for c in ("arm", "timepoint", "library_batch") if c in pcs
                ],
            )
        else:
            plots_de.message_plot(
                "PCA not computed: fewer than 3 usable libraries or 2 filtered miRNAs",
                pca_plot_path,
            )
    return adata


def load_inputs(
    config: Mapping[str, Any],
    counts_path: str | os.PathLike[str],
    qc_path: str | os.PathLike[str] | None,
    directory: str | os.PathLike[str] = ".",
    counts: pd.DataFrame | None = None,
) -> Prepared:
    """Validate the scenario and read counts and QC (for the workflow scripts).

    Parameters
    ----------
    config
        Configuration dict (e.g. ``snakemake.config``); validated here.
    counts_path
        ``results/counts/mirna_counts.tsv``.
    qc_path
        ``results/qc/library_qc.tsv`` or ``None``.
    directory
        Scenario directory.
    counts
        The counts already read (miRNA x sample), e.g. from the count AnnData;
        ``counts_path`` then only names them in messages.

    Returns
    -------
    Prepared
        See :func:`prepare`.
    """
    from exomir.config import validate_config
    from exomir.validate import validate_config_and_tables

    cfg = validate_config(dict(config))
    scen = validate_config_and_tables(Path(directory), cfg, check_files=False)
    if counts is None:
        counts = read_counts(counts_path)
    qc = read_library_qc(qc_path)
    return prepare(
        counts,
        scen.tables["samples"],
        scen.tables["participants"],
        cfg,
        qc,
        counts_label=str(counts_path),
    )


def write_not_estimable(
    prep: Prepared,
    name: str,
    error: ValidationError,
    outputs: Mapping[str, str | os.PathLike[str]],
) -> None:
    """Write the outputs of a contrast that cannot be estimated.

    The results table has its header only; the sample table lists the
    candidate libraries with ``design_notes`` holding the reason; plots show
    the reason as text.

    Parameters
    ----------
    prep
        From :func:`prepare`.
    name
        Contrast name.
    error
        The :class:`DesignError` raised by :func:`fit_contrast`.
    outputs
        ``table``, ``samples`` and optionally ``volcano`` and ``ma`` paths.
    """
    reason = "; ".join(i.message for i in error.issues)
    write_table(pd.DataFrame(columns=RESULT_COLUMNS), outputs["table"])
    smp = select_samples(prep.meta, prep.settings.contrasts[name])
    smp.insert(0, "contrast", name)
    smp["size_factor"] = np.nan
    smp["design_notes"] = f"not estimable: {reason}"
    write_table(smp.reset_index(drop=True), outputs["samples"])
    from exomir import plots_de

    for key in ("volcano", "ma"):
        if outputs.get(key):
            plots_de.message_plot(f"{name}: not estimable\n{reason}", outputs[key])


def workflow_step(
    config: Mapping[str, Any],
    counts_path: str | os.PathLike[str],
    qc_path: str | os.PathLike[str] | None,
    outputs: Mapping[str, str | os.PathLike[str]],
    contrast: str | None = None,
    threads: int = 1,
    directory: str | os.PathLike[str] = ".",
    counts_h5ad: str | os.PathLike[str] | None = None,
) -> None:
    """Run one workflow step: the normalisation, or one contrast.

    Parameters
    ----------
    config
        Configuration dict (``snakemake.config``).
    counts_path
        ``results/counts/mirna_counts.tsv``.
    qc_path
        ``results/qc/library_qc.tsv`` or ``None``.
    outputs
        For the normalisation: ``h5ad``, ``mirnas``, ``libraries``, ``pca``,
        ``pca_plot``; for a contrast: ``table``, ``samples``, ``volcano``,
        ``ma``.
    contrast
        Contrast name, or ``None`` for the normalisation.
    threads
        Processes for pydeseq2.
    directory
        Scenario directory.
    counts_h5ad
        For the normalisation: ``results/counts/mirna.h5ad`` with the layers
        of :func:`counts_anndata`, whose normalised values and VST are used
        (not computed again); ``None`` computes them.

    Notes
    -----
    A contrast that the usable libraries cannot support (a single level, no
    residual degrees of freedom) is logged as an error and written as "not
    estimable" (see :func:`write_not_estimable`) so that the report can say
    why; input and configuration errors still stop the step.
    """
    prep = load_inputs(config, counts_path, qc_path, directory)
    if contrast is None:
        pseudo = float((config.get("primary") or {}).get("pseudocount", 1.0))
        layers = None
        if counts_h5ad is not None:
            import anndata as ad

            layers = ad.read_h5ad(counts_h5ad)
        run_normalisation(
            prep,
            outputs["h5ad"],
            outputs["mirnas"],
            outputs["pca"],
            outputs.get("pca_plot"),
            pseudocount=pseudo,
            library_table_path=outputs.get("libraries"),
            counts_layers=layers,
        )
        return
    try:
        run_contrast(
            prep,
            contrast,
            outputs["table"],
            outputs["samples"],
            outputs.get("volcano"),
            outputs.get("ma"),
            n_cpus=threads,
        )
    except DesignError as exc:
        log.error("contrast %s is not estimable:\n%s", contrast, exc)
        write_not_estimable(prep, contrast, exc, outputs)


def counts_matrix(adata: Any) -> pd.DataFrame:
    """Return the raw counts of an AnnData as a miRNA x sample ``int64`` table.

    Parameters
    ----------
    adata
        ``anndata.AnnData`` with raw counts in ``X``.

    Returns
    -------
    pandas.DataFrame
        Index ``mirna``, one column per library.
    """
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X
    out = pd.DataFrame(
        np.asarray(x, dtype=np.int64).T,
        index=pd.Index([str(m) for m in adata.var_names], name="mirna"),
        columns=[str(s) for s in adata.obs_names],
    )
    return out


def normalise_counts_step(
    config: Mapping[str, Any],
    raw_h5ad: str | os.PathLike[str],
    qc_path: str | os.PathLike[str] | None,
    out_h5ad: str | os.PathLike[str],
    directory: str | os.PathLike[str] = ".",
) -> Any:
    """Write ``results/counts/mirna.h5ad``: the merged counts plus layers.

    Reads the AnnData of the merge (``results/counts/mirna_raw.h5ad``), marks
    the usable libraries from the sheets and ``library_qc.tsv``, chooses the
    control miRNAs as the DE stage does (:func:`prepare`) and adds the layers
    of :func:`counts_anndata`.

    Parameters
    ----------
    config
        Configuration dict (``snakemake.config``); validated here.
    raw_h5ad
        AnnData written by :func:`exomir.reads.merge.merge_counts`.
    qc_path
        ``results/qc/library_qc.tsv`` or ``None`` (all libraries pass).
    out_h5ad
        Destination.
    directory
        Scenario directory.

    Returns
    -------
    anndata.AnnData
        The object written.
    """
    import anndata as ad

    raw = ad.read_h5ad(raw_h5ad)
    prep = load_inputs(config, raw_h5ad, qc_path, directory, counts=counts_matrix(raw))
    out = counts_anndata(raw, prep)
    with atomic_path(out_h5ad) as tmp:
        out.write_h5ad(tmp)
    return out
