"""TSV tables in and out: the one reader of input tables, the one writer of results.

Input tables are read as text (no type guessing, nothing evaluated), cells are
converted to the types the schema declares (empty cell = missing), and each row
is checked with ``jsonschema``. Problems name the file, the line, the row's
identifier and the column, and say what is allowed.

Every table exomir publishes goes through :func:`write_table`: tab-separated,
Unix line ends, written atomically. Statistical results (the default) print
floats with :data:`FLOAT_FORMAT`, missing cells empty and booleans as
``true``/``false``; ``exact=True`` keeps pandas' round-trip formatting for
tables the caller already formatted or that must round-trip unchanged.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd

from exomir.atomic import atomic_open
from exomir.config import describe_schema_error, load_schema
from exomir.errors import Issue, ValidationError

#: printf format of floats in statistical result tables (six significant digits).
FLOAT_FORMAT = "%.6g"
TRUE_WORDS = {"true", "yes", "y", "1"}
FALSE_WORDS = {"false", "no", "n", "0"}
#: Column used to name a row in messages, per table.
ID_COLUMNS = {
    "samples": ["sample_id"],
    "participants": ["participant_id"],
    "clinical_measurements": ["participant_id", "visit", "param"],
    "adverse_events": ["participant_id", "ae_id"],
    "disposition": ["screening_id"],
    "ev_lots": ["lot_id"],
    "ev_nta_runs": ["lot_id", "instrument", "replicate"],
    "events": ["participant_id", "endpoint"],
    "protein_samples": ["protein_sample_id"],
    "protein_plates": ["plate_id"],
}


def _types(prop: dict[str, Any]) -> list[str]:
    if "enum" in prop:
        kinds = set()
        for v in prop["enum"]:
            if v is None:
                kinds.add("null")
            elif isinstance(v, bool):
                kinds.add("boolean")
            elif isinstance(v, int):
                kinds.add("integer")
            else:
                kinds.add("string")
        return sorted(kinds)
    t = prop.get("type", "string")
    return t if isinstance(t, list) else [t]


def convert_cell(raw: str, prop: dict[str, Any]) -> Any:
    """Convert one cell to the type its schema property declares.

    A value that cannot be converted is returned unchanged (as text) so that
    the schema check reports it with the column's description.

    Parameters
    ----------
    raw
        Cell text.
    prop
        The column's schema.

    Returns
    -------
    Any
        ``None`` for an empty cell, else an int, float, bool or str.
    """
    text = raw.strip()
    types = _types(prop)
    if text == "" or (text.upper() in ("NA", "NAN") and "string" not in types):
        return None
    if "boolean" in types:
        low = text.lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        return text
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                return text
            return int(f) if f.is_integer() else text
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            return text
    return text


def decode_issue(path: Path, file_label: str, exc: UnicodeDecodeError) -> Issue:
    """Say where a file stops being UTF-8: line and column, and the bad byte.

    A sheet saved by a spreadsheet as Latin-1 or Windows-1252 fails at its
    first accented character; the line and column (counted in characters)
    let the user find it, a byte offset does not.

    Parameters
    ----------
    path
        The file.
    file_label
        Name used in messages.
    exc
        The decoding error (its ``start`` is a byte offset in the file).

    Returns
    -------
    Issue
        The problem; line and column are in the message.
    """
    data = path.read_bytes()
    start = int(exc.start)
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    prefix = data[line_start:start]
    if line == 1 and prefix.startswith(b"\xef\xbb\xbf"):
        prefix = prefix[3:]  # a UTF-8 byte-order mark is not a column
    column = len(prefix.decode("utf-8", errors="replace")) + 1
    bad = data[start]
    return Issue(
        file_label,
        f"line {line}, column {column}: byte 0x{bad:02X} is not UTF-8 text (the "
        "file looks saved as Latin-1 or Windows-1252); save it as UTF-8",
    )


def read_tsv_text(path: Path, file_label: str) -> tuple[list[str], list[list[str]]]:
    """Read a TSV as text rows, with clear errors for unreadable files.

    Parameters
    ----------
    path
        File to read.
    file_label
        Name used in messages.

    Returns
    -------
    tuple
        Header and data rows.

    Raises
    ------
    ValidationError
        If the file is missing, empty, not UTF-8 or has ragged rows.
    """
    if not path.is_file():
        raise ValidationError([Issue(file_label, "the file does not exist")])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError([decode_issue(path, file_label, exc)]) from exc
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValidationError(
            [Issue(file_label, "the file is empty; a header row is needed")]
        )
    rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.strip() for h in rows[0]]
    issues = []
    if len(header) == 1 and ("," in header[0] or ";" in header[0]):
        raise ValidationError(
            [
                Issue(
                    file_label,
                    "the header has no tabs; the file must be tab-separated",
                    line=1,
                )
            ]
        )
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        issues.append(
            Issue(file_label, f"duplicate column names: {', '.join(dup)}", line=1)
        )
    data = []
    for i, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            issues.append(
                Issue(
                    file_label,
                    f"has {len(row)} cells but the header has {len(header)}",
                    line=i,
                )
            )
            continue
        data.append([str(i), *row])
    if issues:
        raise ValidationError(issues)
    return header, data


def read_table(
    path: str | os.PathLike[str], kind: str, file_label: str | None = None
) -> pd.DataFrame:
    """Read and validate one input table.

    Parameters
    ----------
    path
        Path of the TSV file.
    kind
        Table kind, the schema stem: ``samples``, ``participants``,
        ``clinical_measurements``, ``adverse_events``, ``disposition``,
        ``ev_lots`` or ``ev_nta_runs``.
    file_label
        Name used in messages (defaults to ``path``).

    Returns
    -------
    pandas.DataFrame
        Typed table (object columns; missing values are ``None``) with an extra
        ``_line`` column holding the file line of each row.

    Raises
    ------
    ValidationError
        With every problem found in the table.
    """
    label = file_label or str(path)
    schema = load_schema(kind)
    props: dict[str, Any] = schema["properties"]
    header, rows = read_tsv_text(Path(path), label)
    issues: list[Issue] = []
    missing = [c for c in schema.get("required", []) if c not in header]
    if missing:
        issues.append(
            Issue(label, f"required column(s) missing: {', '.join(missing)}", line=1)
        )
    if schema.get("additionalProperties") is False:
        unknown = [c for c in header if c not in props]
        if unknown:
            issues.append(
                Issue(
                    label,
                    f"unknown column(s): {', '.join(unknown)}; allowed columns are: "
                    f"{', '.join(props)}",
                    line=1,
                )
            )
    if issues:
        raise ValidationError(issues)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.FormatChecker()
    )
    id_cols = [c for c in ID_COLUMNS.get(kind, []) if c in header]
    records = []
    for row in rows:
        line = int(row[0])
        rec = {
            col: convert_cell(cell, props.get(col, {}))
            for col, cell in zip(header, row[1:], strict=True)
        }
        row_id = ", ".join(f"{c}={rec[c]}" for c in id_cols if rec.get(c) is not None)
        present = {k: v for k, v in rec.items() if v is not None}
        for err in validator.iter_errors(present):
            column = str(err.path[0]) if err.path else None
            if err.validator == "required":
                column = str(err.message).split("'")[1]
                msg = "is empty but is required"
                issues.append(
                    Issue(label, msg, line=line, column=column, row_id=row_id)
                )
                continue
            issues.append(
                Issue(
                    label,
                    describe_schema_error(err),
                    line=line,
                    column=column,
                    row_id=row_id,
                )
            )
        rec["_line"] = line
        records.append(rec)
    if issues:
        raise ValidationError(issues)
    columns = [*header, "_line"]
    return pd.DataFrame.from_records(records, columns=columns)


def write_table(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    index: bool = False,
    exact: bool = False,
) -> None:
    """Write ``df`` as TSV to ``path`` atomically.

    Parameters
    ----------
    df
        Table to write; the caller sorts rows for determinism.
    path
        Destination.
    index
        Whether to write the index as the first column.
    exact
        Keep pandas' own number and boolean formatting instead of the
        statistical-result style (see the module docstring).
    """
    if exact:
        with atomic_open(path) as fh:
            df.to_csv(fh, sep="\t", index=index, lineterminator="\n")
        return
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].map({True: "true", False: "false"})
    with atomic_open(path) as fh:
        out.to_csv(
            fh,
            sep="\t",
            index=index,
            lineterminator="\n",
            float_format=FLOAT_FORMAT,
            na_rep="",
        )


def schema_columns(kind: str) -> list[str]:
    """Return a sheet's columns in the order its JSON schema lists them.

    Writers of a sheet (the simulator) and readers that list it (DSMB report)
    take the column order from here, so the schema is its one home.

    Parameters
    ----------
    kind
        Table kind, the schema stem (e.g. ``"adverse_events"``).

    Returns
    -------
    list[str]
        The schema's ``properties`` keys, in file order.
    """
    return list(load_schema(kind)["properties"])
