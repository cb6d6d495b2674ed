"""Validate a whole scenario: configuration, every table, and the links between them.

``validate_scenario(directory)`` is what ``exomir validate`` and the Snakefile
run before anything else. It collects every problem and raises one
:class:`~exomir.errors.ValidationError` listing them all, each naming the file,
line, row and column, what is wrong and what is allowed.

Cross-table rules checked here:

* one FASTQ per library (by path and by content), the first records of every
  FASTQ (all records and the whole gzip stream with ``deep``), the primary
  miRNA in the configured miRBase, and the DE contrasts' levels and covariates
  (:mod:`exomir.preflight`);
* every library's participant exists in ``participants.tsv`` and, when a
  disposition table is given, was randomised;
* one library per participant and timepoint; sample IDs are unique;
* timepoints, arms, visits, protocols and clinical parameters are those of the
  configuration; clinical units are the configured UCUM units or convertible to them
  (resources/clinical/unit_conversions.tsv); no duplicate clinical visit records;
  clinical values within their hard plausibility limits, DBP below SBP and
  derived values (MAP) possible (:mod:`exomir.clinical.plausibility`);
  clinical measurements only of randomised participants;
* FASTQ and NTA export files exist, and so do the configured reference files
  (miRBase and contaminant FASTAs, after :mod:`exomir.species` filled in the
  species' shipped ones); NTA export headers name a verified software version
  and a dilution (file or sheet, agreeing);
* EV lots referenced by participants and NTA runs exist in ``ev_lots.tsv``;
* protein samples, plates and their maps and exports
  (:mod:`exomir.proteins.sheets`).
* long-term events and the participants' follow-up dates
  (:mod:`exomir.validate_events`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from exomir.config import is_trial_study, load_config, resolve_path
from exomir.errors import Issue, ValidationError
from exomir.preflight import preflight_issues
from exomir.sites.checks import site_issues
from exomir.tables import read_table
from exomir.units import default_conversions
from exomir.validate_clinical import check_clinical
from exomir.validate_events import check_events, check_last_contact

OPTIONAL_SHEETS = (
    "clinical_measurements",
    "adverse_events",
    "disposition",
    "ev_lots",
    "ev_nta_runs",
    "events",
    "protein_samples",
    "protein_plates",
)


@dataclass
class Scenario:
    """A validated scenario: its directory, configuration and tables.

    Attributes
    ----------
    directory
        Scenario directory; relative paths resolve against it.
    config
        Validated configuration with defaults.
    tables
        Table kind -> DataFrame (only the sheets configured).
    """

    directory: Path
    config: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def samples(self) -> pd.DataFrame:
        """Sample sheet indexed by ``sample_id`` (sheet order kept)."""
        return self.tables["samples"].set_index("sample_id", drop=False)

    @property
    def participants(self) -> pd.DataFrame:
        """Participants indexed by ``participant_id``."""
        return self.tables["participants"].set_index("participant_id", drop=False)

    def path(self, value: str) -> Path:
        """Resolve a path from the config or a sheet against the scenario."""
        return resolve_path(value, self.directory)


def _row_id(row: pd.Series, cols: list[str]) -> str:
    return ", ".join(f"{c}={row[c]}" for c in cols if c in row and row[c] is not None)


def _check_unique(
    df: pd.DataFrame, cols: list[str], label: str, what: str, issues: list[Issue]
) -> None:
    dup = df[df.duplicated(cols, keep=False)]
    for key, grp in dup.groupby(cols, sort=True):
        key_t = key if isinstance(key, tuple) else (key,)
        lines = ", ".join(str(x) for x in grp["_line"])
        desc = ", ".join(f"{c}={v}" for c, v in zip(cols, key_t, strict=True))
        issues.append(
            Issue(label, f"{what} ({desc}) appears on lines {lines}; it must be unique")
        )


def _protocol_issues(
    row: pd.Series, protocols: dict[str, Any], label: str, line: int, rid: str
) -> list[Issue]:
    """Check one library's protocol, 3' adapter and UMI scheme against config protocols."""
    issues: list[Issue] = []
    proto = row["protocol"]
    if proto not in protocols and proto not in ("custom", "auto"):
        issues.append(
            Issue(
                label,
                f"protocol '{proto}' is not defined; use one of: "
                f"{', '.join([*protocols, 'custom', 'auto'])} (config protocols)",
                line=line,
                column="protocol",
                row_id=rid,
            )
        )
    elif proto == "auto" and row.get("adapter_3p"):
        issues.append(
            Issue(
                label,
                "protocol 'auto' detects the kit from the reads and takes no "
                "adapter_3p; leave adapter_3p empty or name the protocol",
                line=line,
                column="adapter_3p",
                row_id=rid,
            )
        )
    elif proto == "custom" and not row.get("adapter_3p"):
        issues.append(
            Issue(
                label,
                "protocol 'custom' needs the 3' adapter in column adapter_3p",
                line=line,
                column="adapter_3p",
                row_id=rid,
            )
        )
    elif proto in protocols and row.get("umi_scheme") not in (
        None,
        protocols[proto]["umi"],
    ):
        issues.append(
            Issue(
                label,
                f"umi_scheme '{row['umi_scheme']}' contradicts protocol '{proto}', "
                f"whose UMI scheme is '{protocols[proto]['umi']}'",
                line=line,
                column="umi_scheme",
                row_id=rid,
            )
        )
    return issues


def check_samples(
    samples: pd.DataFrame,
    participants: pd.DataFrame | None,
    cfg: dict[str, Any],
    directory: Path,
    label: str,
    check_files: bool = True,
) -> list[Issue]:
    """Check the sample sheet against the configuration and participants.

    Parameters
    ----------
    samples
        Table from :func:`exomir.tables.read_table`.
    participants
        Participants table, or ``None`` if it failed to load.
    cfg
        Validated configuration.
    directory
        Scenario directory for FASTQ paths.
    label
        File name for messages.
    check_files
        Whether to check that FASTQ files exist.

    Returns
    -------
    list[Issue]
        Problems found.
    """
    issues: list[Issue] = []
    _check_unique(samples, ["sample_id"], label, "sample_id", issues)
    trial = is_trial_study(cfg)
    if trial:
        absent = [c for c in ("participant_id", "timepoint") if c not in samples]
        for col in absent:
            issues.append(
                Issue(
                    label,
                    f"column '{col}' is missing; a study with sheets.participants "
                    "needs participant_id and timepoint for every library",
                    column=col,
                )
            )
        if absent:
            return issues
        _check_unique(
            samples, ["participant_id", "timepoint"], label, "a library for", issues
        )
    timepoints = cfg["design"]["timepoints"] if trial else []
    protocols = cfg["protocols"]
    known = set(participants["participant_id"]) if participants is not None else None
    for _, row in samples.iterrows():
        rid = _row_id(row, ["sample_id"])
        line = int(row["_line"])
        if trial and row["timepoint"] not in timepoints:
            issues.append(
                Issue(
                    label,
                    f"'{row['timepoint']}' is not a timepoint of this trial; use one "
                    f"of: {', '.join(timepoints)} (config design.timepoints)",
                    line=line,
                    column="timepoint",
                    row_id=rid,
                )
            )
        if trial and known is not None and row["participant_id"] not in known:
            issues.append(
                Issue(
                    label,
                    f"participant '{row['participant_id']}' is not in participants.tsv",
                    line=line,
                    column="participant_id",
                    row_id=rid,
                )
            )
        issues += _protocol_issues(row, protocols, label, line, rid)
        if check_files:
            fq = resolve_path(str(row["fastq"]), directory)
            if not fq.is_file():
                issues.append(
                    Issue(
                        label,
                        f"FASTQ file '{row['fastq']}' does not exist (looked for {fq})",
                        line=line,
                        column="fastq",
                        row_id=rid,
                    )
                )
        if row.get("exclude") and not row.get("exclude_reason"):
            issues.append(
                Issue(
                    label,
                    "the library is excluded but exclude_reason is empty; say why",
                    line=line,
                    column="exclude_reason",
                    row_id=rid,
                )
            )
    return issues


def check_participants(
    participants: pd.DataFrame,
    cfg: dict[str, Any],
    label: str,
    lots: set[str] | None,
) -> list[Issue]:
    """Check participants against the configured arms, strata and EV lots.

    Parameters
    ----------
    participants
        Participants table.
    cfg
        Validated configuration.
    label
        File name for messages.
    lots
        Known EV lot IDs, or ``None`` when no lot table is configured.

    Returns
    -------
    list[Issue]
        Problems found.
    """
    issues: list[Issue] = []
    _check_unique(participants, ["participant_id"], label, "participant_id", issues)
    arms = cfg["design"]["arms"]
    for col in cfg["design"].get("strata", []):
        if col not in participants.columns:
            issues.append(
                Issue(
                    label,
                    f"stratification column '{col}' (config design.strata) is missing",
                    line=1,
                )
            )
    issues += site_issues(participants, cfg, label)
    for _, row in participants.iterrows():
        rid = _row_id(row, ["participant_id"])
        line = int(row["_line"])
        if row["arm"] not in arms:
            issues.append(
                Issue(
                    label,
                    f"'{row['arm']}' is not an arm of this trial; use one of: "
                    f"{', '.join(arms)} (config design.arms)",
                    line=line,
                    column="arm",
                    row_id=rid,
                )
            )
        lot = row.get("ev_lot_id")
        if lot is not None and lots is not None and lot not in lots:
            issues.append(
                Issue(
                    label,
                    f"EV lot '{lot}' is not in ev_lots.tsv",
                    line=line,
                    column="ev_lot_id",
                    row_id=rid,
                )
            )
    return issues


def _check_disposition(
    tables: dict[str, pd.DataFrame],
    labels: dict[str, str],
    known: set[str] | None,
    arms: list[str],
) -> list[Issue]:
    """Check disposition rows and that measured or sequenced people were randomised."""
    issues: list[Issue] = []
    parts = tables.get("participants")
    disp = tables["disposition"]
    label = labels["disposition"]
    _check_unique(disp, ["screening_id"], label, "screening_id", issues)
    arm_of = (
        dict(zip(parts["participant_id"], parts["arm"], strict=True))
        if parts is not None
        else {}
    )
    randomised = set()
    for _, row in disp.iterrows():
        line = int(row["_line"])
        rid = _row_id(row, ["screening_id"])
        if row["randomized"]:
            pid = row.get("participant_id")
            if not pid:
                issues.append(
                    Issue(
                        label,
                        "randomised but participant_id is empty",
                        line=line,
                        column="participant_id",
                        row_id=rid,
                    )
                )
                continue
            randomised.add(pid)
            if known is not None and pid not in known:
                issues.append(
                    Issue(
                        label,
                        f"randomised participant '{pid}' is not in participants.tsv",
                        line=line,
                        column="participant_id",
                        row_id=rid,
                    )
                )
            if row.get("arm") is not None and row["arm"] not in arms:
                issues.append(
                    Issue(
                        label,
                        f"'{row['arm']}' is not an arm; use one of: {', '.join(arms)}",
                        line=line,
                        column="arm",
                        row_id=rid,
                    )
                )
            elif pid in arm_of and row.get("arm") not in (None, arm_of[pid]):
                issues.append(
                    Issue(
                        label,
                        f"arm '{row['arm']}' differs from participants.tsv "
                        f"('{arm_of[pid]}')",
                        line=line,
                        column="arm",
                        row_id=rid,
                    )
                )
    if known is not None:
        for pid in sorted(known - randomised):
            issues.append(
                Issue(
                    label,
                    f"participant '{pid}' of participants.tsv has no randomised row here",
                )
            )
    if "clinical_measurements" in tables:
        clin = tables["clinical_measurements"]
        unrand = clin[~clin["participant_id"].isin(randomised)]
        for pid, grp in unrand.groupby("participant_id", sort=True):
            if known is None or pid in known:
                issues.append(
                    Issue(
                        labels["clinical_measurements"],
                        f"participant '{pid}' has {len(grp)} measurement(s) "
                        f"(first on line {int(grp['_line'].iloc[0])}, parameter "
                        f"{grp['param'].iloc[0]}) but was not randomised "
                        "according to disposition.tsv",
                        column="participant_id",
                        row_id=f"participant_id={pid}",
                    )
                )
    if "samples" in tables:
        smp = tables["samples"]
        for _, row in smp[~smp["participant_id"].isin(randomised)].iterrows():
            if known is None or row["participant_id"] in known:
                issues.append(
                    Issue(
                        labels["samples"],
                        f"participant '{row['participant_id']}' "
                        "was not randomised according to disposition.tsv",
                        line=int(row["_line"]),
                        column="participant_id",
                        row_id=f"sample_id={row['sample_id']}",
                    )
                )
    return issues


def _check_ev(
    tables: dict[str, pd.DataFrame],
    cfg: dict[str, Any],
    labels: dict[str, str],
    directory: Path,
    check_files: bool,
) -> list[Issue]:
    """Check EV lots (unique) and NTA runs (known lot, export files and headers)."""
    issues: list[Issue] = []
    lots = set(tables["ev_lots"]["lot_id"]) if "ev_lots" in tables else None
    if "ev_lots" in tables:
        _check_unique(
            tables["ev_lots"], ["lot_id"], labels["ev_lots"], "lot_id", issues
        )
    if "ev_nta_runs" in tables:
        runs = tables["ev_nta_runs"]
        label = labels["ev_nta_runs"]
        for _, row in runs.iterrows():
            line = int(row["_line"])
            rid = _row_id(row, ["lot_id", "instrument", "replicate"])
            if lots is not None and row["lot_id"] not in lots:
                issues.append(
                    Issue(
                        label,
                        f"lot '{row['lot_id']}' is not in ev_lots.tsv",
                        line=line,
                        column="lot_id",
                        row_id=rid,
                    )
                )
            if check_files:
                f = resolve_path(str(row["file"]), directory)
                if not f.is_file():
                    issues.append(
                        Issue(
                            label,
                            f"export file '{row['file']}' does not exist (looked for {f})",
                            line=line,
                            column="file",
                            row_id=rid,
                        )
                    )
        if check_files:
            # NTA export headers: unverified software, missing dilution.
            from exomir.ev.headers import check_nta_exports

            nta_cfg = (cfg.get("ev") or {}).get("nta") or {}
            issues += check_nta_exports(runs, directory, label, nta_cfg)
    return issues


def check_other(
    tables: dict[str, pd.DataFrame],
    cfg: dict[str, Any],
    labels: dict[str, str],
    directory: Path,
    check_files: bool,
) -> list[Issue]:
    """Check adverse events, disposition and EV tables against the others.

    Parameters
    ----------
    tables
        All loaded tables.
    cfg
        Validated configuration.
    labels
        Table kind -> file name for messages.
    directory
        Scenario directory.
    check_files
        Whether to check that NTA export files exist.

    Returns
    -------
    list[Issue]
        Problems found.
    """
    issues: list[Issue] = []
    parts = tables.get("participants")
    known = set(parts["participant_id"]) if parts is not None else None
    arms = cfg.get("design", {}).get("arms", [])
    if "adverse_events" in tables:
        ae = tables["adverse_events"]
        label = labels["adverse_events"]
        _check_unique(ae, ["participant_id", "ae_id"], label, "adverse event", issues)
        if known is not None:
            for _, row in ae[~ae["participant_id"].isin(known)].iterrows():
                issues.append(
                    Issue(
                        label,
                        f"participant '{row['participant_id']}' is not in participants.tsv",
                        line=int(row["_line"]),
                        column="participant_id",
                    )
                )
    if "disposition" in tables:
        issues += _check_disposition(tables, labels, known, arms)
    issues += _check_ev(tables, cfg, labels, directory, check_files)
    return issues


def validate_scenario(
    directory: str | os.PathLike[str] = ".",
    config_path: str | os.PathLike[str] | None = None,
    check_files: bool = True,
    deep: bool = False,
) -> Scenario:
    """Validate a scenario's configuration and all its tables.

    Parameters
    ----------
    directory
        Scenario directory (holds ``config/config.yaml`` by default).
    config_path
        Configuration file; default ``<directory>/config/config.yaml``.
    check_files
        Whether to check that FASTQ and NTA files exist.
    deep
        Also parse every FASTQ record and decompress every gzip file to its
        end (see :func:`exomir.preflight.check_fastq_files`).

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ValidationError
        Listing every problem found.
    """
    base = Path(directory)
    cfg_path = Path(config_path) if config_path else base / "config" / "config.yaml"
    cfg = load_config(cfg_path)
    return validate_config_and_tables(base, cfg, check_files=check_files, deep=deep)


def validate_config_and_tables(
    base: Path, cfg: dict[str, Any], check_files: bool = True, deep: bool = False
) -> Scenario:
    """Validate the tables of an already validated configuration.

    Parameters
    ----------
    base
        Scenario directory.
    cfg
        Validated configuration (see :func:`exomir.config.validate_config`).
    check_files
        Whether to check that FASTQ and NTA files exist (and read the first
        records of each FASTQ).
    deep
        Parse every FASTQ record and decompress every gzip file to its end.

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ValidationError
        Listing every problem found.
    """
    issues: list[Issue] = []
    tables: dict[str, pd.DataFrame] = {}
    labels: dict[str, str] = {}
    for kind in ("samples", "participants", *OPTIONAL_SHEETS):
        rel = cfg["sheets"].get(kind)
        if rel is None:
            continue
        labels[kind] = rel
        try:
            tables[kind] = read_table(resolve_path(rel, base), kind, rel)
        except ValidationError as exc:
            issues.extend(exc.issues)
    parts = tables.get("participants")
    lots = set(tables["ev_lots"]["lot_id"]) if "ev_lots" in tables else None
    if "samples" in tables:
        issues += check_samples(
            tables["samples"], parts, cfg, base, labels["samples"], check_files
        )
    if parts is not None:
        issues += check_participants(parts, cfg, labels["participants"], lots)
    issues += preflight_issues(tables, cfg, labels, base, check_files, deep)
    if "clinical_measurements" in tables:
        known = set(parts["participant_id"]) if parts is not None else None
        try:
            conversions = default_conversions(cfg, base)
        except ValidationError as exc:
            issues.extend(exc.issues)
            conversions = None
        issues += check_clinical(
            tables["clinical_measurements"],
            cfg,
            known,
            labels["clinical_measurements"],
            conversions,
        )
        from exomir.clinical.plausibility import check_clinical_plausibility

        issues += check_clinical_plausibility(
            tables["clinical_measurements"],
            cfg,
            labels["clinical_measurements"],
            conversions,
            base,
        )
    issues += check_other(tables, cfg, labels, base, check_files)
    if "protein_samples" in tables or "protein_plates" in tables:
        from exomir.proteins.sheets import check_protein_sheets

        issues += check_protein_sheets(tables, cfg, labels, base, check_files)
    if parts is not None:
        issues += check_last_contact(
            parts, cfg, labels["participants"], "events" in cfg["sheets"]
        )
    if "events" in tables:
        issues += check_events(
            tables["events"],
            parts,
            cfg,
            labels["events"],
            labels.get("participants") or "participants.tsv",
        )
    if check_files:
        from exomir.species import check_reference_files

        issues += check_reference_files(cfg, base)
    if issues:
        raise ValidationError(issues)
    return Scenario(directory=base, config=cfg, tables=tables)
