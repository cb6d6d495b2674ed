"""The bad-input corpus (tests/bad_inputs/*.yaml): load cases, apply their edits.

A case is one small YAML file: a base scenario, a list of edits that break it,
and the located message the project must give (tests/bad_inputs/README.md has
the format). This module knows nothing about what exomir checks: it only edits
files the way a user would get them wrong and records where (the line it
changed), so the expected messages are independent of the code under test.

Copy-on-write: a case's scenario is a tree of hard links to the base scenario,
and every edit writes a new file in place of the link (never into it), so the
base stays untouched and a copy costs almost nothing.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).resolve().parents[1] / "bad_inputs"
BASES = ("simulated", "real_human")
STAGES = ("validate", "run")
EDIT_KINDS = (
    "set_cell",
    "append_row",
    "replace_text",
    "write_file",
    "reencode",
    "set_config",
    "delete_config",
    "fastq_edit",
)
CASE_KEYS = {"description", "base", "stage", "edits", "expect", "xfail"}


class CorpusError(Exception):
    """A case file or edit that is wrong (a test-harness error, never an xfail)."""


def _need(ok: object, message: str) -> None:
    if not ok:
        raise CorpusError(message)


@dataclass
class Case:
    """One corpus case (see tests/bad_inputs/README.md)."""

    id: str
    description: str
    base: str
    stage: str
    edits: list[dict[str, Any]]
    messages: list[list[str]]
    log: str | None = None
    sample: str | None = None
    xfail: str | None = None
    places: dict[str, str] = field(default_factory=dict)


def load_cases() -> list[Case]:
    """Read every ``tests/bad_inputs/*.yaml`` case, checking its form.

    Returns
    -------
    list[Case]
        Cases sorted by id (the file name without ``.yaml``).
    """
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        where = f"{path.name}"
        unknown = set(data) - CASE_KEYS
        _need(not unknown, f"{where}: unknown keys {sorted(unknown)}")
        base = data.get("base", "simulated")
        stage = data.get("stage", "validate")
        _need(base in BASES, f"{where}: base must be one of {BASES}")
        _need(stage in STAGES, f"{where}: stage must be one of {STAGES}")
        edits = data["edits"]
        _need(edits, f"{where}: no edits")
        for e in edits:
            _need(
                len(e) == 1 and next(iter(e)) in EDIT_KINDS,
                (f"{where}: an edit must be one of {EDIT_KINDS}: {e}"),
            )
        expect = data["expect"]
        msgs = expect["message"]
        if msgs and isinstance(msgs[0], str):
            msgs = [msgs]
        _need(msgs and all(m for m in msgs), f"{where}: expect.message is empty")
        if stage == "run":
            _need(
                expect.get("log") and expect.get("sample"),
                (f"{where}: run-time cases name the failing job's log and sample"),
            )
        xf = data.get("xfail")
        _need(
            xf is None or (isinstance(xf, str) and xf.strip()),
            (f"{where}: xfail must give the reason as text"),
        )
        cases.append(
            Case(
                id=path.stem,
                description=data["description"],
                base=base,
                stage=stage,
                edits=edits,
                messages=msgs,
                log=expect.get("log"),
                sample=expect.get("sample"),
                xfail=xf,
            )
        )
    return cases


def cow_copy(src: Path, dest: Path) -> Path:
    """Copy a scenario tree as hard links (edits replace files, never write in)."""
    shutil.copytree(src, dest, copy_function=os.link, symlinks=True)
    return dest


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` as a new file at ``path`` (breaking any hard link)."""
    if path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _read_tsv(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    return list(csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))


def _write_tsv(path: Path, rows: list[list[str]]) -> None:
    _replace(path, ("\n".join("\t".join(r) for r in rows) + "\n").encode("utf-8"))


def _find_row(rows: list[list[str]], where: dict[str, Any], file: str) -> int:
    header = rows[0]
    for col in where:
        _need(col in header, f"{file} has no column {col}")
    hits = [
        i
        for i, r in enumerate(rows[1:], start=1)
        if all(r[header.index(c)] == str(v) for c, v in where.items())
    ]
    _need(len(hits) == 1, f"{file}: {where} matches {len(hits)} rows, not one")
    return hits[0]


def _set_key(cfg: dict[str, Any], dotted: str, value: Any, delete: bool) -> None:
    keys = dotted.split(".")
    node = cfg
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    if delete:
        _need(keys[-1] in node, f"config has no key {dotted}")
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


def _fastq_edit(path: Path, spec: dict[str, Any]) -> int | None:
    """Edit the text of a FASTQ(.gz); return the first line changed (1-based)."""
    raw = path.read_bytes()
    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    lines = text.decode("ascii").split("\n")
    line = None
    if "line" in spec:
        line = int(spec["line"])
        lines[line - 1] = str(spec["value"])
    if "keep_lines" in spec:
        keep = int(spec["keep_lines"])
        lines = lines[:keep]
        line = keep
    out = "\n".join(lines)
    if spec.get("keep_lines") is not None and spec.get("newline_at_end", True):
        out += "\n"
    data = out.encode("ascii")
    if spec.get("compress", True):
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as fh:
            fh.write(data)
        data = buf.getvalue()
    _replace(path, data)
    return line


def apply_edits(scn: Path, case: Case) -> dict[str, str]:
    """Apply a case's edits to the scenario ``scn``.

    Returns
    -------
    dict
        Placeholders for the expected messages: ``line`` is the file line the
        last located edit changed (header = line 1), ``dir`` the scenario.
    """
    places: dict[str, str] = {"dir": str(scn)}
    for edit in case.edits:
        kind, spec = next(iter(edit.items()))
        path = scn / spec["file"] if "file" in spec else None
        if kind == "set_cell":
            rows = _read_tsv(path)
            i = _find_row(rows, spec["where"], spec["file"])
            col = spec["column"]
            _need(col in rows[0], f"{spec['file']} has no column {col}")
            rows[i][rows[0].index(col)] = str(spec["value"])
            _write_tsv(path, rows)
            places["line"] = str(i + 1)
        elif kind == "append_row":
            rows = _read_tsv(path)
            vals = {k: str(v) for k, v in spec["values"].items()}
            unknown = set(vals) - set(rows[0])
            _need(not unknown, f"{spec['file']} has no columns {sorted(unknown)}")
            rows = [r for r in rows if any(c.strip() for c in r)]
            rows.append([vals.get(c, "") for c in rows[0]])
            _write_tsv(path, rows)
            places["line"] = str(len(rows))
        elif kind == "replace_text":
            enc = spec.get("encoding", "utf-8")
            text = path.read_bytes().decode(enc)
            old, new = spec["old"], spec["new"]
            _need(text.count(old) >= 1, f"{spec['file']}: '{old}' not found")
            pos = text.index(old)
            places["line"] = str(text.count("\n", 0, pos) + 1)
            count = int(spec.get("count", 1))
            _replace(path, text.replace(old, new, count).encode(enc))
        elif kind == "write_file":
            enc = spec.get("encoding", "utf-8")
            _replace(path, str(spec.get("text", "")).encode(enc))
        elif kind == "reencode":
            text = path.read_text(encoding="utf-8")
            _replace(path, text.encode(spec["encoding"]))
        elif kind in ("set_config", "delete_config"):
            cfg_path = scn / "config" / "config.yaml"
            cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
            _set_key(cfg, spec["key"], spec.get("value"), kind == "delete_config")
            _replace(cfg_path, yaml.safe_dump(cfg, sort_keys=False).encode("utf-8"))
        elif kind == "fastq_edit":
            line = _fastq_edit(path, spec)
            if line is not None:
                places["line"] = str(line)
    return places


def expected(case: Case, places: dict[str, str]) -> list[list[str]]:
    """The case's expected message parts with ``{line}`` and ``{dir}`` filled in."""
    return [[part.format(**places) for part in msg] for msg in case.messages]


def missing_messages(output: str, wanted: list[list[str]]) -> list[list[str]]:
    """Expected messages with no single output line holding all of their parts."""
    lines = output.splitlines()
    return [msg for msg in wanted if not any(all(p in ln for p in msg) for ln in lines)]


def tree(path: Path) -> set[str]:
    """Every file and folder under ``path``, relative to it."""
    return {str(p.relative_to(path)) for p in path.rglob("*")}
