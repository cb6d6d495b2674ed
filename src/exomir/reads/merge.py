"""Merge per-library miRNA and isomiR counts into cohort tables.

Design and details: docs/reads_outputs.md ("Count matrices").
"""

from __future__ import annotations

import heapq
import logging
import os
import resource
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open, atomic_path

if TYPE_CHECKING:
    import anndata

log = logging.getLogger(__name__)

#: Key columns of the merged miRNA table (also the sort key).
MIRNA_KEY: tuple[str, ...] = ("mirna",)
#: Key columns of the merged isomiR table (also the sort key).
ISOMIR_KEY: tuple[str, ...] = ("mirna", "sequence", "variant")
#: Name of the count column in the per-library tables.
COUNT_COLUMN = "count"
#: Default upper bound on simultaneously open library files per merge level.
DEFAULT_MAX_OPEN_FILES = 64

PathLike = str | os.PathLike[str]
Key = tuple[str, ...]


@dataclass(frozen=True)
class MergeSummary:
    """What one merge wrote.

    Attributes
    ----------
    path
        The merged table.
    n_features
        Number of data rows (distinct keys).
    samples
        Library columns, in output order.
    totals
        Sum of counts per library (equal to the column sums of the table).
    """

    path: Path
    n_features: int
    samples: tuple[str, ...]
    totals: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Source:
    """One input of a merge level: a library file or a merged block file."""

    path: Path
    offset: int
    width: int
    label: str
    #: Column indices of the key and of the count (library files only).
    key_idx: tuple[int, ...] = ()
    count_idx: int = -1


def _parse_count(text: str, path: Path, lineno: int) -> int:
    """Parse an integer count, accepting integral floats such as ``"12.0"``."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise ValueError(f"{path}:{lineno}: count {text!r} is not an integer")
    return int(value)


def _header_indices(
    header: list[str], key_columns: Sequence[str], path: Path
) -> tuple[tuple[int, ...], int]:
    """Locate the key and count columns in a library header."""
    wanted = [*key_columns, COUNT_COLUMN]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; header is "
            f"{', '.join(header)}"
        )
    return tuple(header.index(c) for c in key_columns), header.index(COUNT_COLUMN)


def _split(line: str) -> list[str]:
    return line.rstrip("\r\n").split("\t")


def _check_library(
    path: Path, key_columns: Sequence[str], label: str, tmpdir: Path
) -> tuple[_Source, int]:
    """Pass 1 for one library: validate, total, and sort if needed.

    Returns
    -------
    tuple[_Source, int]
        The source to merge (the file itself, or a sorted temporary copy) and
        the sum of its counts.
    """
    total = 0
    is_sorted = True
    with open(path, encoding="utf-8") as fh:
        header_line = fh.readline()
        if not header_line:
            raise ValueError(f"{path}: empty file (no header)")
        header = _split(header_line)
        key_idx, count_idx = _header_indices(header, key_columns, path)
        prev: Key | None = None
        for lineno, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            cells = _split(line)
            if len(cells) != len(header):
                raise ValueError(
                    f"{path}:{lineno}: {len(cells)} fields, header has {len(header)}"
                )
            total += _parse_count(cells[count_idx], path, lineno)
            key = tuple(cells[i] for i in key_idx)
            if prev is not None and key < prev:
                is_sorted = False
            prev = key
    if is_sorted:
        return _Source(path, 0, 1, label, key_idx, count_idx), total

    log.warning(
        "%s: not sorted by %s; sorting a temporary copy", path, ", ".join(key_columns)
    )
    with open(path, encoding="utf-8") as fh:
        fh.readline()
        rows = [_split(line) for line in fh if line.strip()]
    rows.sort(key=lambda cells: tuple(cells[i] for i in key_idx))
    fd, name = tempfile.mkstemp(prefix="sorted-", suffix=".tsv", dir=tmpdir)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
        out.write("\t".join(header) + "\n")
        for cells in rows:
            out.write("\t".join(cells) + "\n")
    del rows
    return _Source(Path(name), 0, 1, label, key_idx, count_idx), total


def _iter_library(src: _Source) -> Iterator[tuple[Key, int, list[str]]]:
    """Stream one sorted library: ``(key, offset, [count])``, duplicates summed.

    Rows with a zero total are skipped (a feature is only "seen" with count > 0).
    """
    with open(src.path, encoding="utf-8") as fh:
        fh.readline()
        current: Key | None = None
        acc = 0
        for lineno, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            cells = _split(line)
            key = tuple(cells[i] for i in src.key_idx)
            count = _parse_count(cells[src.count_idx], src.path, lineno)
            if key == current:
                acc += count
                continue
            if current is not None and acc:
                yield current, src.offset, [str(acc)]
            current, acc = key, count
        if current is not None and acc:
            yield current, src.offset, [str(acc)]


def _iter_block(src: _Source, key_len: int) -> Iterator[tuple[Key, int, list[str]]]:
    """Stream a merged block file (no header): ``(key, offset, counts)``."""
    with open(src.path, encoding="utf-8") as fh:
        for line in fh:
            cells = _split(line)
            yield tuple(cells[:key_len]), src.offset, cells[key_len:]


def _iter_source(src: _Source, key_len: int) -> Iterator[tuple[Key, int, list[str]]]:
    if src.key_idx:
        return _iter_library(src)
    return _iter_block(src, key_len)


def _write_rows(
    sources: Sequence[_Source], key_len: int, base: int, width: int, out: IO[str]
) -> int:
    """K-way merge ``sources`` into ``out``; return the number of rows written.

    Each output row is the key followed by ``width`` counts; a source with
    offset ``o`` fills columns ``o - base`` to ``o - base + source.width``.
    """
    streams = [_iter_source(s, key_len) for s in sources]
    template = ["0"] * width
    n_rows = 0
    current: Key | None = None
    row: list[str] = template
    for key, offset, values in heapq.merge(*streams, key=itemgetter(0)):
        if key != current:
            if current is not None:
                out.write("\t".join((*current, *row)) + "\n")
                n_rows += 1
            current = key
            row = template.copy()
        start = offset - base
        row[start : start + len(values)] = values
    if current is not None:
        out.write("\t".join((*current, *row)) + "\n")
        n_rows += 1
    return n_rows


def _effective_max_open(max_open_files: int) -> int:
    """Cap the fan-in by the process's open-file limit (keep headroom)."""
    if max_open_files < 2:
        raise ValueError("max_open_files must be at least 2")
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_open_files
    return max(2, min(max_open_files, soft // 2 - 16))


def _merge_library_files(
    files: Mapping[str, PathLike],
    key_columns: Sequence[str],
    out_path: PathLike,
    max_open_files: int,
) -> MergeSummary:
    """Merge per-library sorted tables into one wide table (see module doc)."""
    samples = tuple(files)
    if len(set(samples)) != len(samples):
        raise ValueError("duplicate sample ids")
    for s in samples:
        if not s or any(ch in s for ch in "\t\n\r"):
            raise ValueError(f"invalid sample id {s!r}")
    fan_in = _effective_max_open(max_open_files)
    key_len = len(key_columns)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix=f".tmp-{out_path.name}.", dir=out_path.parent
    ) as tmp:
        tmpdir = Path(tmp)
        sources: list[_Source] = []
        totals: dict[str, int] = {}
        for i, sample in enumerate(samples):
            src, total = _check_library(
                Path(files[sample]), key_columns, sample, tmpdir
            )
            sources.append(_Source(src.path, i, 1, sample, src.key_idx, src.count_idx))
            totals[sample] = total
        level = 0
        while len(sources) > fan_in:
            level += 1
            merged: list[_Source] = []
            for start in range(0, len(sources), fan_in):
                group = sources[start : start + fan_in]
                base = group[0].offset
                width = sum(s.width for s in group)
                block = tmpdir / f"block-{level}-{start // fan_in}.tsv"
                with open(block, "w", encoding="utf-8", newline="\n") as fh:
                    _write_rows(group, key_len, base, width, fh)
                merged.append(_Source(block, base, width, f"block {block.name}"))
            log.info(
                "merge level %d: %d inputs -> %d blocks",
                level,
                len(sources),
                len(merged),
            )
            sources = merged
        with atomic_open(out_path) as fh:
            fh.write("\t".join((*key_columns, *samples)) + "\n")
            n_rows = _write_rows(sources, key_len, 0, len(samples), fh)
    log.info("wrote %s: %d rows x %d libraries", out_path, n_rows, len(samples))
    return MergeSummary(out_path, n_rows, samples, totals)


def merge_mirna_counts(
    mirna_files: Mapping[str, PathLike],
    out_path: PathLike,
    *,
    max_open_files: int = DEFAULT_MAX_OPEN_FILES,
) -> MergeSummary:
    """Merge per-library mature-miRNA counts into ``mirna_counts.tsv``.

    Parameters
    ----------
    mirna_files
        ``sample_id -> results/annotate/{sample}.mirna.tsv``; the mapping order
        is the column order.
    out_path
        Destination TSV (written atomically).
    max_open_files
        Maximum number of library files open at once (fan-in of one merge
        level); bounded further by the process's open-file limit.

    Returns
    -------
    MergeSummary
        Row count, column order and per-library totals.
    """
    return _merge_library_files(mirna_files, MIRNA_KEY, out_path, max_open_files)


def merge_isomir_counts(
    isomir_files: Mapping[str, PathLike],
    out_path: PathLike,
    *,
    max_open_files: int = DEFAULT_MAX_OPEN_FILES,
) -> MergeSummary:
    """Merge per-library isomiR counts into ``isomir_counts.tsv``.

    Rows are keyed and sorted by (``mirna``, ``sequence``, ``variant``); other
    per-library columns (hairpin, coordinates, iso_* flags) are not carried
    over, since they are a function of the key and available per library.

    Parameters
    ----------
    isomir_files
        ``sample_id -> results/annotate/{sample}.isomir.tsv``; the mapping order
        is the column order.
    out_path
        Destination TSV (written atomically).
    max_open_files
        Maximum number of library files open at once per merge level.

    Returns
    -------
    MergeSummary
        Row count, column order and per-library totals.
    """
    return _merge_library_files(isomir_files, ISOMIR_KEY, out_path, max_open_files)


def read_count_matrix(
    path: PathLike, key_columns: Sequence[str] = MIRNA_KEY
) -> pd.DataFrame:
    """Read a merged count table into a features x samples integer DataFrame.

    Parameters
    ----------
    path
        ``mirna_counts.tsv`` or ``isomir_counts.tsv``.
    key_columns
        Key columns that form the (multi-)index.

    Returns
    -------
    pandas.DataFrame
        Integer counts (``int64``); index = key, columns = sample ids (str).
    """
    header = pd.read_csv(path, sep="\t", nrows=0).columns
    dtypes: dict[str, type] = dict.fromkeys(header, np.int64)
    for c in key_columns:
        dtypes[c] = str
    df = pd.read_csv(
        path, sep="\t", dtype=dtypes, keep_default_na=False, na_filter=False
    )
    return df.set_index(list(key_columns))


def read_dense_counts(path: PathLike) -> tuple[list[str], list[str], np.ndarray]:
    """Read ``mirna_counts.tsv`` into a samples x features array, row by row.

    Leaner than :func:`read_count_matrix` for wide tables: the array is
    allocated once (two passes over the file), no per-column parsing objects.

    Parameters
    ----------
    path
        Merged ``mirna_counts.tsv`` (one key column).

    Returns
    -------
    tuple[list[str], list[str], numpy.ndarray]
        Feature names, sample ids and the ``int32`` counts (samples x
        features; ``int64`` if a count exceeds the int32 range).
    """
    with open(path, encoding="utf-8") as fh:
        header = _split(fh.readline())
        n_rows = sum(1 for line in fh if line.strip())
    samples = header[1:]
    counts = np.zeros((len(samples), n_rows), dtype=np.int64)
    features: list[str] = []
    with open(path, encoding="utf-8") as fh:
        fh.readline()
        for line in fh:
            if not line.strip():
                continue
            cells = _split(line)
            if len(cells) != len(header):
                raise ValueError(f"{path}: row {cells[0]!r} has {len(cells)} fields")
            counts[:, len(features)] = np.array(cells[1:], dtype=np.int64)
            features.append(cells[0])
    if counts.size == 0 or counts.max() <= np.iinfo(np.int32).max:
        counts = counts.astype(np.int32)
    return features, samples, counts


def _sheet_order(samples: pd.DataFrame, sample_ids: Sequence[str]) -> list[str]:
    """Order ``sample_ids`` as in the sample sheet; reject unknown ids."""
    sheet = [str(s) for s in samples["sample_id"]]
    if len(set(sheet)) != len(sheet):
        raise ValueError("samples sheet has duplicate sample_id values")
    unknown = sorted(set(sample_ids) - set(sheet))
    if unknown:
        raise ValueError(f"libraries not in the sample sheet: {', '.join(unknown)}")
    missing = [s for s in sheet if s not in set(sample_ids)]
    if missing:
        log.info("sample-sheet rows without a library to merge: %s", ", ".join(missing))
    wanted = set(sample_ids)
    return [s for s in sheet if s in wanted]


def _obs_column(values: pd.Series) -> pd.Series | pd.Categorical:
    """Give an obs column a dtype that ``anndata`` writes cleanly.

    Booleans (also ``true``/``false`` text) become nullable ``boolean``, Python
    numbers in object columns become numeric (``Int64`` for integers with
    gaps), everything else becomes a categorical of strings.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.rename_categories(lambda c: str(c))
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(
        values.dtype
    ):
        return values
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return pd.Categorical(
            values.dt.strftime("%Y-%m-%dT%H:%M:%S").where(values.notna())
        )
    non_null = [v for v in values if not pd.isna(v)]
    if non_null and all(isinstance(v, bool | np.bool_) for v in non_null):
        return values.map(lambda v: pd.NA if pd.isna(v) else bool(v)).astype("boolean")
    if non_null and all(
        isinstance(v, int | float | np.integer | np.floating)
        and not isinstance(v, bool | np.bool_)
        for v in non_null
    ):
        if all(float(v).is_integer() for v in non_null):
            return values.map(lambda v: pd.NA if pd.isna(v) else int(v)).astype("Int64")
        return values.map(lambda v: np.nan if pd.isna(v) else float(v)).astype(float)
    if non_null and {str(v).strip().lower() for v in non_null} <= {"true", "false"}:
        return values.map(
            lambda v: pd.NA if pd.isna(v) else str(v).strip().lower() == "true"
        ).astype("boolean")
    return pd.Categorical(values.map(lambda v: v if pd.isna(v) else str(v)))


def build_obs(
    samples: pd.DataFrame,
    participants: pd.DataFrame | None,
    sample_ids: Sequence[str],
) -> pd.DataFrame:
    """Sample metadata for the AnnData: samples joined with participants.

    Parameters
    ----------
    samples
        The sample sheet (``config/samples.tsv``), with ``sample_id`` and
        ``participant_id`` columns.
    participants
        The participant sheet (``config/participants.tsv``), one row per
        ``participant_id``; ``None`` for a QC-only study (no join).
    sample_ids
        Rows to keep, in output order.

    Returns
    -------
    pandas.DataFrame
        Index ``sample_id`` (str). Columns of ``samples`` then those of
        ``participants`` (a clashing name gets the suffix ``_participant``;
        internal columns starting with ``_``, e.g. ``_line``, are dropped);
        strings as categoricals, booleans as nullable ``boolean``, numbers as
        numeric dtypes.
    """
    if participants is None:  # a QC-only study: the sample sheet alone
        if "sample_id" not in samples.columns:
            raise ValueError("samples table has no 'sample_id' column")
        sheet = samples.copy()
        sheet["sample_id"] = sheet["sample_id"].astype(str)
        obs = sheet.set_index("sample_id", drop=True).loc[list(sample_ids)]
        return _finish_obs(obs)
    for col, df, name in (
        ("sample_id", samples, "samples"),
        ("participant_id", samples, "samples"),
        ("participant_id", participants, "participants"),
    ):
        if col not in df.columns:
            raise ValueError(f"{name} table has no {col!r} column")
    part = participants.copy()
    part["participant_id"] = part["participant_id"].astype(str)
    dup = part["participant_id"][part["participant_id"].duplicated()].unique()
    if len(dup):
        raise ValueError(f"participants table repeats participant_id {', '.join(dup)}")
    sheet = samples.copy()
    sheet["sample_id"] = sheet["sample_id"].astype(str)
    sheet["participant_id"] = sheet["participant_id"].astype(str)
    sheet = sheet.set_index("sample_id", drop=True).loc[list(sample_ids)]
    unknown = sorted(set(sheet["participant_id"]) - set(part["participant_id"]))
    if unknown:
        log.warning("participant_id not in participants table: %s", ", ".join(unknown))
    obs = sheet.reset_index().merge(
        part,
        on="participant_id",
        how="left",
        suffixes=("", "_participant"),
        validate="many_to_one",
    )
    return _finish_obs(obs.set_index("sample_id"))


def _finish_obs(obs: pd.DataFrame) -> pd.DataFrame:
    """Drop internal columns, make the index str and the columns AnnData dtypes."""
    obs = obs.drop(columns=[c for c in obs.columns if str(c).startswith("_")])
    obs.index = pd.Index([str(s) for s in obs.index], name="sample_id")
    for col in obs.columns:
        obs[col] = _obs_column(obs[col])
    obs.columns = [str(c) for c in obs.columns]
    return obs


def build_mirna_anndata(
    counts_path: PathLike, samples: pd.DataFrame, participants: pd.DataFrame | None
) -> anndata.AnnData:
    """AnnData (samples x miRNAs) from ``mirna_counts.tsv`` and the sheets.

    Parameters
    ----------
    counts_path
        Merged ``mirna_counts.tsv``.
    samples
        Sample sheet DataFrame.
    participants
        Participant sheet DataFrame.

    Returns
    -------
    anndata.AnnData
        ``X``: dense int32 counts (int64 if a count exceeds the int32 range);
        ``obs``: :func:`build_obs`; ``var`` index ``mirna``.
    """
    import anndata

    features, columns, x = read_dense_counts(counts_path)
    order = _sheet_order(samples, columns)
    if order != columns:
        x = x[[columns.index(c) for c in order], :]
    var = pd.DataFrame(index=pd.Index(features, name="mirna"))
    obs = build_obs(samples, participants, order)
    adata = anndata.AnnData(X=x, obs=obs, var=var)
    adata.uns["exomir"] = {
        "counts": "mature miRNA counts (reads; molecules for UMI libraries)"
    }
    return adata


def write_mirna_h5ad(
    counts_path: PathLike,
    samples: pd.DataFrame,
    participants: pd.DataFrame | None,
    out_path: PathLike,
    extend: Callable[[anndata.AnnData], Any] | None = None,
) -> Path:
    """Write ``mirna.h5ad`` atomically (see :func:`build_mirna_anndata`).

    Parameters
    ----------
    counts_path
        Merged ``mirna_counts.tsv``.
    samples
        Sample sheet DataFrame.
    participants
        Participant sheet DataFrame.
    out_path
        Destination ``.h5ad``.
    extend
        Called with the AnnData before it is written, to add tables of other
        stages (e.g. :func:`exomir.ev.lots.add_lots_to_anndata`).

    Returns
    -------
    Path
        ``out_path``.
    """
    adata = build_mirna_anndata(counts_path, samples, participants)
    if extend is not None:
        extend(adata)
    with atomic_path(out_path) as tmp:
        adata.write_h5ad(tmp)
    return Path(out_path)


def merge_counts(
    mirna_files: Mapping[str, PathLike],
    isomir_files: Mapping[str, PathLike],
    samples: pd.DataFrame,
    participants: pd.DataFrame | None,
    mirna_out: PathLike,
    isomir_out: PathLike,
    h5ad_out: PathLike,
    *,
    max_open_files: int = DEFAULT_MAX_OPEN_FILES,
    extend: Callable[[anndata.AnnData], Any] | None = None,
) -> tuple[MergeSummary, MergeSummary]:
    """Merge all libraries: miRNA TSV, isomiR TSV and the miRNA AnnData.

    Columns follow the order of ``samples`` (the sample sheet), whatever the
    order of the mappings; every library must be a row of the sheet.

    Parameters
    ----------
    mirna_files
        ``sample_id -> {sample}.mirna.tsv``.
    isomir_files
        ``sample_id -> {sample}.isomir.tsv`` (same sample ids).
    samples
        Sample sheet DataFrame (``sample_id``, ``participant_id``, ...).
    participants
        Participant sheet DataFrame (``participant_id``, ...).
    mirna_out
        ``results/counts/mirna_counts.tsv``.
    isomir_out
        ``results/counts/isomir_counts.tsv``.
    h5ad_out
        ``results/counts/mirna.h5ad``.
    max_open_files
        Fan-in bound of the streaming merge.
    extend
        Passed to :func:`write_mirna_h5ad`.

    Returns
    -------
    tuple[MergeSummary, MergeSummary]
        Summaries of the miRNA and the isomiR merges.
    """
    if set(mirna_files) != set(isomir_files):
        diff = sorted(set(mirna_files) ^ set(isomir_files))
        raise ValueError(f"miRNA and isomiR inputs differ for: {', '.join(diff)}")
    order = _sheet_order(samples, list(mirna_files))
    mirna = merge_mirna_counts(
        {s: mirna_files[s] for s in order}, mirna_out, max_open_files=max_open_files
    )
    isomir = merge_isomir_counts(
        {s: isomir_files[s] for s in order}, isomir_out, max_open_files=max_open_files
    )
    write_mirna_h5ad(mirna_out, samples, participants, h5ad_out, extend=extend)
    return mirna, isomir


def merge_counts_step(
    *,
    mirna: Sequence[PathLike],
    isomir: Sequence[PathLike],
    annotation: Sequence[PathLike],
    samples_sheet: PathLike,
    participants: Sequence[PathLike],
    ev: Sequence[PathLike],
    mirna_out: PathLike,
    isomir_out: PathLike,
    h5ad_out: PathLike,
    samples: Sequence[str],
) -> tuple[MergeSummary, MergeSummary]:
    """Check the per-library files, then merge them (rule ``merge_counts``).

    Parameters
    ----------
    mirna, isomir, annotation
        Per-library count tables and annotation JSONs, in ``samples`` order
        (``annotation`` may be empty: no checksum check).
    samples_sheet
        The sample sheet.
    participants
        The participant sheet, or nothing in a QC-only study.
    ev
        ``[lot_summary.tsv, dose_per_participant.tsv]`` with EV sheets, else empty.
    mirna_out, isomir_out, h5ad_out
        ``results/counts/mirna_counts.tsv``, ``isomir_counts.tsv``,
        ``mirna_raw.h5ad``.
    samples
        Library ids, in the order of the per-library lists.
    """
    from exomir.reads.integrity import verify_samples
    from exomir.tables import read_table

    ids = [str(s) for s in samples]
    mirna_files = dict(zip(ids, mirna, strict=True))
    isomir_files = dict(zip(ids, isomir, strict=True))
    if annotation:  # sizes and checksums recorded by the library job
        verify_samples(
            dict(zip(ids, annotation, strict=True)),
            {"mirna": mirna_files, "isomir": isomir_files},
        )
    extend = None
    if ev:
        from exomir.ev.lots import add_lots_to_anndata

        lots = pd.read_csv(ev[0], sep="\t")
        dose = pd.read_csv(ev[1], sep="\t")

        def extend(adata: anndata.AnnData) -> None:
            add_lots_to_anndata(adata, lots, dose)

    return merge_counts(
        mirna_files,
        isomir_files,
        read_table(samples_sheet, "samples"),
        read_table(participants[0], "participants") if participants else None,
        mirna_out,
        isomir_out,
        h5ad_out,
        extend=extend,
    )
