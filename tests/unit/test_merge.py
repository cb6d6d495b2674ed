"""Tests for exomir.reads.merge: cohort count tables from per-library files."""

from __future__ import annotations

import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest

from exomir.reads.merge import (
    build_obs,
    merge_counts,
    merge_isomir_counts,
    merge_mirna_counts,
    read_count_matrix,
)

REPO = Path(__file__).resolve().parents[2]
ISOMIR_HEADER = (
    "sequence\tmirna\thairpin\tstart\tend\tiso_5p\tiso_3p\tiso_add3p\tiso_snv\t"
    "variant\tcount\n"
)


def write_mirna(path: Path, rows: list[tuple[str, int]]) -> Path:
    path.write_text(
        "mirna\tcount\n" + "".join(f"{m}\t{c}\n" for m, c in rows), encoding="utf-8"
    )
    return path


def write_isomir(path: Path, rows: list[tuple[str, str, str, int]]) -> Path:
    """rows: (mirna, sequence, variant, count)."""
    body = "".join(
        f"{seq}\t{mir}\t{mir.lower()}\t1\t22\t0\t0\t0\t0\t{var}\t{c}\n"
        for mir, seq, var, c in rows
    )
    path.write_text(ISOMIR_HEADER + body, encoding="utf-8")
    return path


def read_text_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture
def sheets() -> tuple[pd.DataFrame, pd.DataFrame]:
    samples = pd.DataFrame(
        {
            "sample_id": ["S2", "S1", "S3"],
            "participant_id": ["P1", "P1", "P2"],
            "timepoint": ["baseline", "week1", "baseline"],
            "exclude": [False, True, None],
            "hemolysis_a414": [0.1, None, 0.2],
            # object column of Python ints and None, as exomir.tables.read_table gives
            "plasma_volume_ul": pd.Series([500, 500, None], dtype=object),
            "_line": [2, 3, 4],
        }
    )
    participants = pd.DataFrame(
        {
            "participant_id": ["P1", "P2"],
            "arm": ["placebo", "exosome"],
            "age_years": [31, 29],
            "pe_severe_features": ["true", "false"],
        }
    )
    return samples, participants


@pytest.fixture
def libraries(tmp_path: Path) -> dict[str, dict[str, Path]]:
    d = tmp_path / "annotate"
    d.mkdir()
    mirna = {
        "S1": write_mirna(
            d / "S1.mirna.tsv", [("hsa-let-7a-5p", 10), ("hsa-miR-21-5p", 5)]
        ),
        "S2": write_mirna(
            d / "S2.mirna.tsv", [("hsa-miR-16-5p", 3), ("hsa-miR-21-5p", 7)]
        ),
        "S3": write_mirna(d / "S3.mirna.tsv", [("hsa-miR-451a", 100)]),
    }
    isomir = {
        "S1": write_isomir(
            d / "S1.isomir.tsv",
            [
                ("hsa-let-7a-5p", "TGAGGTAGTAGGTTGTATAGTT", "NA", 8),
                ("hsa-let-7a-5p", "TGAGGTAGTAGGTTGTATAGTTA", "iso_add3p:+1", 2),
                ("hsa-miR-21-5p", "TAGCTTATCAGACTGATGTTGA", "NA", 5),
            ],
        ),
        "S2": write_isomir(
            d / "S2.isomir.tsv",
            [
                ("hsa-miR-16-5p", "TAGCAGCACGTAAATATTGGCG", "NA", 3),
                ("hsa-miR-21-5p", "TAGCTTATCAGACTGATGTTGA", "NA", 7),
            ],
        ),
        "S3": write_isomir(
            d / "S3.isomir.tsv", [("hsa-miR-451a", "AAACCGTTACCATTACTGAGTT", "NA", 100)]
        ),
    }
    return {"mirna": mirna, "isomir": isomir}


def test_mirna_union_zero_fill_and_order(libraries, tmp_path):
    out = tmp_path / "mirna_counts.tsv"
    summary = merge_mirna_counts(libraries["mirna"], out)
    assert out.read_text() == (
        "mirna\tS1\tS2\tS3\n"
        "hsa-let-7a-5p\t10\t0\t0\n"
        "hsa-miR-16-5p\t0\t3\t0\n"
        "hsa-miR-21-5p\t5\t7\t0\n"
        "hsa-miR-451a\t0\t0\t100\n"
    )
    assert summary.n_features == 4
    assert summary.samples == ("S1", "S2", "S3")
    assert summary.totals == {"S1": 15, "S2": 10, "S3": 100}
    counts = read_count_matrix(out)
    assert counts.sum().to_dict() == summary.totals
    assert counts.dtypes.unique().tolist() == [np.dtype("int64")]


def test_isomir_merge_keys_and_na_variant(libraries, tmp_path):
    out = tmp_path / "isomir_counts.tsv"
    summary = merge_isomir_counts(libraries["isomir"], out)
    table = read_text_table(out)
    assert list(table.columns) == ["mirna", "sequence", "variant", "S1", "S2", "S3"]
    assert table.values.tolist() == [
        ["hsa-let-7a-5p", "TGAGGTAGTAGGTTGTATAGTT", "NA", "8", "0", "0"],
        ["hsa-let-7a-5p", "TGAGGTAGTAGGTTGTATAGTTA", "iso_add3p:+1", "2", "0", "0"],
        ["hsa-miR-16-5p", "TAGCAGCACGTAAATATTGGCG", "NA", "0", "3", "0"],
        ["hsa-miR-21-5p", "TAGCTTATCAGACTGATGTTGA", "NA", "5", "7", "0"],
        ["hsa-miR-451a", "AAACCGTTACCATTACTGAGTT", "NA", "0", "0", "100"],
    ]
    assert summary.totals == {"S1": 15, "S2": 10, "S3": 100}


def test_unsorted_duplicate_and_zero_rows(tmp_path):
    a = write_mirna(
        tmp_path / "a.tsv",
        [("hsa-miR-b", 2), ("hsa-miR-a", 1), ("hsa-miR-b", 3), ("hsa-miR-z", 0)],
    )
    empty = write_mirna(tmp_path / "e.tsv", [])
    out = tmp_path / "m.tsv"
    summary = merge_mirna_counts({"A": a, "E": empty}, out)
    # unsorted input sorted, duplicate key summed, zero-count row not "seen"
    assert out.read_text() == "mirna\tA\tE\nhsa-miR-a\t1\t0\nhsa-miR-b\t5\t0\n"
    assert summary.totals == {"A": 6, "E": 0}


def test_integral_float_counts_accepted_other_values_rejected(tmp_path):
    ok = tmp_path / "ok.tsv"
    ok.write_text("mirna\tcount\nm1\t12.0\n")
    merge_mirna_counts({"A": ok}, tmp_path / "o.tsv")
    assert (tmp_path / "o.tsv").read_text() == "mirna\tA\nm1\t12\n"
    bad = tmp_path / "bad.tsv"
    bad.write_text("mirna\tcount\nm1\t1.5\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: count '1.5' is not an integer"):
        merge_mirna_counts({"A": bad}, tmp_path / "o2.tsv")
    assert not (tmp_path / "o2.tsv").exists()


def test_missing_column_is_reported(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("name\tcount\nm1\t1\n")
    with pytest.raises(ValueError, match=r"missing column.*mirna"):
        merge_mirna_counts({"A": bad}, tmp_path / "o.tsv")


def test_hierarchical_merge_equals_single_level(tmp_path):
    rng = random.Random(7)
    pool = [(f"hsa-miR-{i}", "ACGT" * 5 + "ACGT"[i % 4], "NA") for i in range(60)]
    files = {}
    for s in range(11):
        rows = sorted(rng.sample(pool, 20))
        files[f"L{s:02d}"] = write_isomir(
            tmp_path / f"L{s}.tsv", [(m, q, v, rng.randint(1, 50)) for m, q, v in rows]
        )
    flat = merge_isomir_counts(files, tmp_path / "flat.tsv", max_open_files=64)
    deep = merge_isomir_counts(files, tmp_path / "deep.tsv", max_open_files=2)
    assert (tmp_path / "flat.tsv").read_bytes() == (tmp_path / "deep.tsv").read_bytes()
    assert flat.totals == deep.totals
    table = read_count_matrix(tmp_path / "deep.tsv", ("mirna", "sequence", "variant"))
    assert table.sum().to_dict() == flat.totals
    assert table.index.is_monotonic_increasing
    assert not list(tmp_path.glob(".tmp-*"))


def test_merge_counts_sheet_order_and_h5ad(libraries, sheets, tmp_path):
    samples, participants = sheets
    out = tmp_path / "counts"
    mirna, isomir = merge_counts(
        libraries["mirna"],
        libraries["isomir"],
        samples,
        participants,
        out / "mirna_counts.tsv",
        out / "isomir_counts.tsv",
        out / "mirna.h5ad",
    )
    # columns follow the sample sheet (S2, S1, S3), not the mapping order
    assert mirna.samples == isomir.samples == ("S2", "S1", "S3")
    assert read_text_table(out / "mirna_counts.tsv").columns.tolist() == [
        "mirna",
        "S2",
        "S1",
        "S3",
    ]
    adata = anndata.read_h5ad(out / "mirna.h5ad")
    assert adata.obs_names.tolist() == ["S2", "S1", "S3"]
    assert adata.var_names.tolist() == [
        "hsa-let-7a-5p",
        "hsa-miR-16-5p",
        "hsa-miR-21-5p",
        "hsa-miR-451a",
    ]
    assert adata.var.index.name == "mirna"
    assert adata.X.dtype == np.int32
    np.testing.assert_array_equal(
        adata.X, [[0, 3, 7, 0], [10, 0, 5, 0], [0, 0, 0, 100]]
    )
    obs = adata.obs
    assert obs["arm"].tolist() == ["placebo", "placebo", "exosome"]
    assert isinstance(obs["arm"].dtype, pd.CategoricalDtype)
    assert obs["age_years"].tolist() == [31, 31, 29]
    assert obs["exclude"].dtype == "boolean"
    assert obs["exclude"].tolist()[:2] == [False, True]
    assert pd.isna(obs["exclude"].iloc[2])
    assert obs["pe_severe_features"].tolist() == [True, True, False]
    assert obs["plasma_volume_ul"].dtype == "Int64"
    assert "_line" not in obs.columns


def test_merge_counts_rejects_unknown_and_mismatched(libraries, sheets, tmp_path):
    samples, participants = sheets
    outs = (tmp_path / "m.tsv", tmp_path / "i.tsv", tmp_path / "m.h5ad")
    extra = dict(libraries["mirna"], S9=libraries["mirna"]["S1"])
    with pytest.raises(ValueError, match="differ for: S9"):
        merge_counts(extra, libraries["isomir"], samples, participants, *outs)
    extra_iso = dict(libraries["isomir"], S9=libraries["isomir"]["S1"])
    with pytest.raises(ValueError, match="not in the sample sheet: S9"):
        merge_counts(extra, extra_iso, samples, participants, *outs)


def test_build_obs_rejects_duplicate_participants(sheets):
    samples, participants = sheets
    dup = pd.concat([participants, participants.iloc[:1]])
    with pytest.raises(ValueError, match="repeats participant_id P1"):
        build_obs(samples, dup, ["S1"])


# --------------------------------------------------------------------------- #
# Memory does not grow with the number of libraries
# --------------------------------------------------------------------------- #


def _synthetic_cohort(root: Path, n: int, seed: int = 1) -> tuple[dict, dict]:
    """n libraries: 150 isomiRs (pool 3,000) and 80 miRNAs (pool 400) each."""
    rng = random.Random(seed)
    mir_pool = sorted(f"hsa-miR-{i}-5p" for i in range(400))
    iso_pool = sorted(
        (f"hsa-miR-{i % 400}-5p", "".join(rng.choice("ACGT") for _ in range(22)), "NA")
        for i in range(3000)
    )
    root.mkdir(parents=True, exist_ok=True)
    mirna, isomir = {}, {}
    for s in range(n):
        sid = f"L{s:04d}"
        mirna[sid] = write_mirna(
            root / f"{sid}.mirna.tsv",
            [(m, rng.randint(1, 10_000)) for m in sorted(rng.sample(mir_pool, 80))],
        )
        isomir[sid] = write_isomir(
            root / f"{sid}.isomir.tsv",
            [
                (m, q, v, rng.randint(1, 500))
                for m, q, v in sorted(rng.sample(iso_pool, 150))
            ],
        )
    return mirna, isomir


def _peak_bytes(mirna: dict, isomir: dict, out: Path) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        merge_mirna_counts(mirna, out / "m.tsv", max_open_files=16)
        merge_isomir_counts(isomir, out / "i.tsv", max_open_files=16)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_scale_with_libraries(tmp_path):
    mirna, isomir = _synthetic_cohort(tmp_path / "libs", 200)
    first = list(mirna)[:20]
    small = _peak_bytes(
        {s: mirna[s] for s in first}, {s: isomir[s] for s in first}, tmp_path / "o20"
    )
    large = _peak_bytes(mirna, isomir, tmp_path / "o200")
    # 10x the libraries (and a larger union of keys), but the same fan-in: peak
    # Python memory stays within a small factor (one output row is O(N)).
    assert large < 2.0 * small, (small, large)
    iso = read_count_matrix(
        tmp_path / "o200" / "i.tsv", ("mirna", "sequence", "variant")
    )
    assert iso.shape[1] == 200
    assert (iso.sum() == 0).sum() == 0


def test_bench_script_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "bench_merge.py"),
            str(out),
            "--sizes",
            "3",
            "6",
            "--isomirs-per-library",
            "20",
            "--isomir-pool",
            "100",
            "--mirnas-per-library",
            "10",
            "--mirna-pool",
            "30",
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    result = json.loads(out.read_text())
    assert [r["libraries"] for r in result["runs"]] == [3, 6]
    assert all(r["peak_rss_mb"] > 0 for r in result["runs"])
    assert result["rss_ratio_largest_to_smallest"] > 0
