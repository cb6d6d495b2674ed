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
* EV lots referenced by participants and NTA runs exist in ``ev_lots.tsv``.
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
from exomir.tables import read_table
from exomir.units import conversion_factor, default_conversions

OPTIONAL_SHEETS = (
    "clinical_measurements",
    "adverse_events",
    "disposition",
    "ev_lots",
    "ev_nta_runs",
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


def check_clinical(
    clin: pd.DataFrame,
    cfg: dict[str, Any],
    known: set[str] | None,
    label: str,
    conversions: pd.DataFrame | None = None,
) -> list[Issue]:
    """Check clinical measurements: participants, visits, parameters and units.

    A unit other than the configured one is accepted when the unit conversion
    table lists the pair (the clinical stage converts the value); otherwise it
    is an error. The same participant, visit, parameter, side and replicate
    twice is an error (duplicate visit record).

    Parameters
    ----------
    clin
        Clinical measurements table.
    cfg
        Validated configuration.
    known
        Known participant IDs, or ``None``.
    label
        File name for messages.
    conversions
        Unit conversion table (:func:`exomir.units.load_unit_conversions`)
        or ``None`` (no conversion allowed).

    Returns
    -------
    list[Issue]
        Problems found.
    """
    issues: list[Issue] = []
    visits = cfg["design"]["visits"]
    params = cfg["clinical_parameters"]
    key = ["participant_id", "visit", "param", "laterality", "replicate"]
    keyed = clin[[c for c in key if c in clin.columns] + ["_line"]].copy()
    for c in key:
        if c not in keyed.columns:
            keyed[c] = ""
    keyed[key] = keyed[key].astype(object).where(keyed[key].notna(), "")
    dup = keyed[keyed.duplicated(key, keep=False)]
    for k, grp in dup.groupby(key, sort=True):
        lines = ", ".join(str(x) for x in grp["_line"])
        side = f", laterality={k[3]}" if k[3] != "" else ""
        rep = f", replicate={k[4]}" if k[4] != "" else ""
        issues.append(
            Issue(
                label,
                f"duplicate measurement on lines {lines}: the same visit, parameter"
                f"{', side' if side else ''} and replicate appear more than once; "
                "number repeated readings in column replicate or remove the copy",
                row_id=f"participant_id={k[0]}, visit={k[1]}, param={k[2]}{side}{rep}",
                column="replicate",
            )
        )
    for rec in clin.to_dict("records"):
        rid = _row_id(pd.Series(rec), ["participant_id", "visit", "param"])
        line = int(rec["_line"])
        if known is not None and rec["participant_id"] not in known:
            issues.append(
                Issue(
                    label,
                    f"participant '{rec['participant_id']}' is not in participants.tsv",
                    line=line,
                    column="participant_id",
                    row_id=rid,
                )
            )
        if rec["visit"] not in visits:
            issues.append(
                Issue(
                    label,
                    f"'{rec['visit']}' is not a visit of this trial; use one of: "
                    f"{', '.join(visits)} (config design.visits)",
                    line=line,
                    column="visit",
                    row_id=rid,
                )
            )
        spec = params.get(rec["param"])
        if spec is None:
            issues.append(
                Issue(
                    label,
                    f"unknown parameter '{rec['param']}'; known parameters are: "
                    f"{', '.join(params)} (config clinical_parameters)",
                    line=line,
                    column="param",
                    row_id=rid,
                )
            )
            continue
        if (
            rec["unit"] != spec["unit"]
            and conversion_factor(conversions, rec["param"], rec["unit"], spec["unit"])
            is None
        ):
            issues.append(
                Issue(
                    label,
                    f"unit '{rec['unit']}' is not the expected UCUM unit "
                    f"'{spec['unit']}' for {rec['param']} and no conversion is known "
                    "(config clinical.unit_conversions); convert the value",
                    line=line,
                    column="unit",
                    row_id=rid,
                )
            )
        if rec["domain"] != spec["domain"]:
            issues.append(
                Issue(
                    label,
                    f"domain '{rec['domain']}' should be '{spec['domain']}' for "
                    f"{rec['param']}",
                    line=line,
                    column="domain",
                    row_id=rid,
                )
            )
        if spec["kind"] == "continuous":
            v = rec.get("value_num")
            if v is None:
                issues.append(
                    Issue(
                        label,
                        f"{rec['param']} is numeric but value_num is empty",
                        line=line,
                        column="value_num",
                        row_id=rid,
                    )
                )
            elif not isinstance(v, int | float):
                issues.append(
                    Issue(
                        label,
                        f"'{v}' is not a number; {rec['param']} needs a numeric "
                        "value_num (decimal point, no unit or comparator)",
                        line=line,
                        column="value_num",
                        row_id=rid,
                    )
                )
        else:
            cats = spec.get("categories", [])
            if rec.get("value_cat") not in cats:
                issues.append(
                    Issue(
                        label,
                        f"'{rec.get('value_cat')}' is not a level of {rec['param']}; "
                        f"use one of: {', '.join(cats)}",
                        line=line,
                        column="value_cat",
                        row_id=rid,
                    )
                )
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
    if check_files:
        from exomir.species import check_reference_files

        issues += check_reference_files(cfg, base)
    if issues:
        raise ValidationError(issues)
    return Scenario(directory=base, config=cfg, tables=tables)
