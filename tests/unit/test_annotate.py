"""Tests of exomir.reads.annotate and exomir.reads.gff (miRNA/isomiR annotation)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.reads.annotate import (
    ISOMIR_COLUMNS,
    AnnotationParams,
    CollapsedReads,
    annotate_reads,
    annotate_sample,
    parse_count,
    read_collapsed,
    write_annotation,
)
from exomir.reads.annotate.collapsed import _Layout
from exomir.reads.annotate.hairpins import _HairpinFilter, _parse_mismatches
from exomir.reads.gff import mirgff_cigar, mirtop_uid, snv_class, variant_string
from exomir.reads.reference import (
    Reference,
    iter_fasta,
    load_reference,
    prepare_reference,
    reverse_complement,
)

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT / "resources"
HSA = RES / "mirbase" / "v22" / "hsa"
MMU = RES / "mirbase" / "v22" / "mmu"

pytestmark = pytest.mark.skipif(
    shutil.which("bowtie") is None or shutil.which("bowtie-build") is None,
    reason="bowtie not installed",
)


def _mirtop_cli() -> str | None:
    local = Path(sys.executable).parent / "mirtop"
    return str(local) if local.exists() else shutil.which("mirtop")


MIRTOP = _mirtop_cli()
needs_mirtop = pytest.mark.skipif(MIRTOP is None, reason="mirtop CLI not installed")

MIR126_3P = "TCGTACCGTGAGTAATAATGCG"  # hsa-mir-126 positions 52-73, then CC GTCC
MIR16_5P = "TAGCAGCACGTAAATATTGGCG"
MIR517A_3P = "ATCGTGCATCCCTTTAGAGTGT"
RANDOM = "GATTACAGATTACAGATTACAGAT"

# name -> (sequence, count, expected category, expected variant or None)
CASES: dict[str, tuple[str, int, str, str | None]] = {
    "canonical": (MIR126_3P, 100, "mirna", "NA"),
    "3p-1": (MIR126_3P[:-1], 20, "mirna", "iso_3p:-1"),
    "5p+1": (MIR126_3P[1:], 7, "mirna", "iso_5p:+1"),
    "5p-1": ("C" + MIR126_3P, 6, "mirna", "iso_5p:-1"),
    "3p+2": (MIR126_3P + "CC", 4, "mirna", "iso_3p:+2"),
    "addA": (MIR126_3P + "A", 5, "mirna", "iso_add3p:1"),
    "addAA": (MIR126_3P + "AA", 3, "mirna", "iso_add3p:2"),
    "3p-1_addU": (MIR126_3P[:-1] + "T", 2, "mirna", "iso_3p:-1,iso_add3p:1"),
    "snv": (MIR126_3P[:10] + "C" + MIR126_3P[11:], 2, "mirna", "iso_snv_central"),
    "snv_seed": (MIR126_3P[:3] + "A" + MIR126_3P[4:], 1, "mirna", "iso_snv_seed"),
    "mir16": (MIR16_5P, 9, "mirna", "NA"),
    "mir517": (MIR517A_3P, 6, "mirna", "NA"),
    "tie_1268": ("CGGGCGTGGTGGTGGGGGT", 4, "multimapped_mirna", None),
    "loop126": ("ACGCGCTGTGACACTTCAAACT", 8, "hairpin_other", None),  # hairpin loop
    "trna": ("", 50, "tRNA", None),  # filled from trna_hsa.fa below
    "rrna": ("", 30, "rRNA", None),  # filled from rrna_hsa.fa below
    "adapter": ("TGGAATTCTCGGGTGCCAAGG", 3, "artifact", None),
    "random": (RANDOM, 11, "unassigned", None),
    "with_n": (MIR126_3P[:5] + "N" + MIR126_3P[6:], 2, "unassigned", None),
}


def _cases() -> dict[str, tuple[str, int, str, str | None]]:
    cases = dict(CASES)
    trna = next(iter(iter_fasta(RES / "contaminants" / "trna_hsa.fa")))[1]
    rrna = dict(iter_fasta(RES / "contaminants" / "rrna_hsa.fa"))[
        "RNA18SN5|NR_003286.4"
    ]
    cases["trna"] = (trna[:30], 50, "tRNA", None)
    cases["rrna"] = (rrna[500:525], 30, "rRNA", None)
    return cases


def write_collapsed(path: Path, sample: str, seqs: list[tuple[str, int]]) -> Path:
    """Write a collapsed FASTA.gz as the preprocessing stage does."""
    ordered = sorted(seqs, key=lambda x: (-x[1], x[0]))
    with gzip.open(path, "wt") as fh:
        for rank, (seq, count) in enumerate(ordered, start=1):
            fh.write(f">{sample}_{rank}_x{count}\n{seq}\n")
    return path


@pytest.fixture(scope="module")
def annotated(hsa_ref: Reference, tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("ann")
    cases = _cases()
    fa = write_collapsed(
        d / "S1.fa.gz", "S1", [(s, n) for s, n, _, _ in cases.values()]
    )
    result = annotate_sample(fa, hsa_ref.directory, "S1", threads=2)
    paths = {
        "mirna_tsv": d / "annotate" / "S1.mirna.tsv",
        "isomir_tsv": d / "annotate" / "S1.isomir.tsv",
        "json_path": d / "annotate" / "S1.json",
        "gff_path": d / "isomirs" / "S1.gff",
    }
    write_annotation(result, **paths)
    return cases, result, paths


# --------------------------------------------------------------------------- units


def test_parse_count() -> None:
    assert parse_count("S1_12_x345") == 345
    assert parse_count("S1_x_1_x7 extra words") == 7
    for bad in ("S1_12", "S1_1_x0", ""):
        with pytest.raises(ValueError, match="_x"):
            parse_count(bad)


def test_read_collapsed_merges_duplicates(tmp_path: Path) -> None:
    fa = tmp_path / "x.fa.gz"
    with gzip.open(fa, "wt") as fh:
        fh.write(">a_1_x5\nacgu\n>a_2_x3\nGGGG\n>a_3_x2\nACGT\n")
    reads = read_collapsed(fa)
    assert reads.sequences == ["ACGT", "GGGG"]
    assert reads.counts.tolist() == [7, 3]
    assert reads.total == 10


def test_annotate_sample_merges_duplicates(hsa_ref: Reference, tmp_path: Path) -> None:
    """Upper-case ACGT duplicates take the compiled reader, then are merged.

    The duplicate check runs beside the annotation; the result is that of
    the merged reads (hand-counted: 5 + 2 reads of miR-126-3p).
    """
    fa = tmp_path / "dup.fa.gz"
    with gzip.open(fa, "wt") as fh:
        fh.write(f">a_1_x5\n{MIR126_3P}\n>a_2_x3\n{RANDOM}\n>a_3_x2\n{MIR126_3P}\n")
    result = annotate_sample(fa, hsa_ref, "a", threads=2)
    assert result.mirna.to_dict("list") == {"mirna": ["hsa-miR-126-3p"], "count": [7]}
    assert result.categories["total"] == 10
    assert result.n_unique == 2
    assert result.read_categories == ["mirna", "unassigned"]
    assert read_collapsed(fa).sequences == [MIR126_3P, RANDOM]


def _read_collapsed_by_record(path: Path) -> tuple[list[str], list[int]]:
    """The record-by-record reading (dnaio), for comparison."""
    import dnaio

    merged: dict[str, int] = {}
    with dnaio.open(str(path), fileformat="fasta") as reader:
        for rec in reader:
            seq = rec.sequence.upper().replace("U", "T")
            merged[seq] = merged.get(seq, 0) + parse_count(rec.name)
    return list(merged), list(merged.values())


@pytest.mark.parametrize(
    "text",
    [
        ">s_1_x9\nACGT\n>s_2_x1\nTTTT\n",
        ">s_1_x9 desc_x4\nacgu\n>s_2_x3\tmore\nACGT\n>s_x_3_x2\nGG\n",
        ">s_1_x9\r\nACGT\r\n>s_2_x007\r\nGGN\r\n",
        ">s_1_x5\nAC\nGT\n>s_2_x1\nAAAA\n",  # multi-line: record by record
        ">s_1_x5\n>s_2_x1\nAC\nGT\n",  # empty record, then two lines
        ">s_1_x5\n\n>s_2_x1\nA>C\n",  # empty sequence; '>' inside a sequence
        "",
    ],
)
def test_read_collapsed_fast_path_matches_record_parser(
    tmp_path: Path, text: str
) -> None:
    for name, opener in (("x.fa", open), ("x.fa.gz", gzip.open)):
        path = tmp_path / name
        with opener(path, "wt", newline="") as fh:
            fh.write(text)
        reads = read_collapsed(path)
        seqs, counts = _read_collapsed_by_record(path)
        assert reads.sequences == seqs
        assert reads.counts.tolist() == counts
        assert reads.counts.dtype == np.int64


@pytest.mark.parametrize("header", ["s_12", "s_1_x0", "s_1_x5b", ""])
def test_read_collapsed_rejects_bad_counts(tmp_path: Path, header: str) -> None:
    path = tmp_path / "x.fa.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(f">s_1_x3\nACGT\n>{header}\nGGGG\n")
    with pytest.raises(ValueError, match="_x"):
        read_collapsed(path)


def test_variant_vocabulary() -> None:
    assert variant_string(0, 0, 0) == "NA"
    assert variant_string(1, 0, 0) == "iso_5p:+1"
    assert variant_string(-2, 3, 0) == "iso_3p:+3,iso_5p:-2"
    assert variant_string(0, -1, 2, [11]) == "iso_3p:-1,iso_add3p:2,iso_snv_central"
    assert [snv_class(p) for p in (1, 2, 7, 8, 9, 12, 13, 17, 18)] == [
        "iso_snv",
        "iso_snv_seed",
        "iso_snv_seed",
        "iso_snv_central_offset",
        "iso_snv_central",
        "iso_snv_central",
        "iso_snv_central_supp",
        "iso_snv_central_supp",
        "iso_snv",
    ]


def test_mirtop_uid_matches_mirtop() -> None:
    from mirtop.mirna import realign

    rng = random.Random(3)
    seqs = ["A", "T", "ACGT", MIR126_3P]
    seqs += [
        "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 45)))
        for _ in range(500)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [realign.make_id(s) for s in seqs]
    assert [mirtop_uid(s) for s in seqs] == expected
    assert mirtop_uid(MIR126_3P) == "iso-22-WL341OU4K"
    with pytest.raises(ValueError):
        mirtop_uid("ACGN")


def test_cigar_and_mismatch_parsing() -> None:
    hp = "GGG" + MIR126_3P + "CCGT"
    assert mirgff_cigar(MIR126_3P, hp, 3, 22, 0) == "22M"
    read = MIR126_3P[:10] + "C" + MIR126_3P[11:] + "AA"
    assert mirgff_cigar(read, hp, 3, 22, 2) == "10MA11M2S"
    assert _parse_mismatches("") == []
    assert _parse_mismatches("10:A>C,21:G>T") == [(10, "A", "C"), (21, "G", "T")]


def test_params_validation() -> None:
    with pytest.raises(ValueError):
        AnnotationParams(hairpin_mismatches=2)
    with pytest.raises(ValueError):
        AnnotationParams(max_nta=-1)
    assert "max_shift_5p=3" in AnnotationParams().describe()


# ---------------------------------------------------------------- handmade library


def test_categories_exact(annotated) -> None:
    cases, _, paths = annotated
    expected: dict[str, int] = {
        "artifact": 0,
        "rRNA": 0,
        "tRNA": 0,
        "snoRNA_snRNA": 0,
        "mirna": 0,
        "multimapped_mirna": 0,
        "hairpin_other": 0,
        "unassigned": 0,
    }
    for _seq, n, cat, _ in cases.values():
        expected[cat] += n
    expected["total"] = sum(n for _, n, _, _ in cases.values())
    data = json.loads(paths["json_path"].read_text())
    # the long inserts and the miRTrace view are nested objects after these
    assert list(data)[-2:] == ["long_inserts", "mirtrace_view"]
    on_disk = {k: v for k, v in data.items() if not isinstance(v, dict)}
    assert on_disk == expected
    assert list(on_disk) == list(expected)  # config order, then fixed keys
    assert sum(v for k, v in on_disk.items() if k != "total") == on_disk["total"]
    # no long inserts given: all zero
    assert set(data["long_inserts"].values()) == {0}


def test_mirna_counts_exact(annotated) -> None:
    _, _, paths = annotated
    mirna = pd.read_csv(paths["mirna_tsv"], sep="\t")
    assert list(mirna.columns) == ["mirna", "count"]
    assert mirna.to_dict("list") == {
        "mirna": ["hsa-miR-126-3p", "hsa-miR-16-5p", "hsa-miR-517a-3p/hsa-miR-517b-3p"],
        "count": [100 + 20 + 7 + 6 + 4 + 5 + 3 + 2 + 2 + 1, 9, 6],
    }


def test_isomir_table(annotated) -> None:
    cases, _, paths = annotated
    iso = pd.read_csv(paths["isomir_tsv"], sep="\t", keep_default_na=False)
    assert list(iso.columns) == ISOMIR_COLUMNS
    assert iso[["mirna", "sequence"]].equals(
        iso[["mirna", "sequence"]]
        .sort_values(["mirna", "sequence"])
        .reset_index(drop=True)
    )
    by_seq = iso.set_index("sequence")
    for name, (seq, n, cat, variant) in cases.items():
        if cat != "mirna":
            assert seq not in by_seq.index, name
            continue
        row = by_seq.loc[seq]
        assert row["variant"] == variant, name
        assert row["count"] == n, name
    canon = by_seq.loc[MIR126_3P]
    assert (canon["hairpin"], canon["start"], canon["end"]) == ("hsa-mir-126", 52, 73)
    add2 = by_seq.loc[MIR126_3P + "AA"]
    assert (add2["iso_5p"], add2["iso_3p"], add2["iso_add3p"], add2["iso_snv"]) == (
        0,
        0,
        2,
        0,
    )
    assert add2["end"] == 75  # the whole read, added bases included
    snv = by_seq.loc[cases["snv"][0]]
    assert (snv["iso_snv"], snv["iso_add3p"]) == (1, 0)
    five = by_seq.loc[cases["5p-1"][0]]
    assert (five["iso_5p"], five["start"]) == (-1, 51)
    # One mature on two hairpins: counted once, representative = first hairpin.
    assert by_seq.loc[MIR16_5P, "hairpin"] == "hsa-mir-16-1"
    assert by_seq.loc[MIR517A_3P, "mirna"] == "hsa-miR-517a-3p/hsa-miR-517b-3p"
    # Per-miRNA counts are the sums of their isomiRs.
    mirna = pd.read_csv(paths["mirna_tsv"], sep="\t").set_index("mirna")["count"]
    assert iso.groupby("mirna")["count"].sum().to_dict() == mirna.to_dict()


def test_gff_lines(annotated) -> None:
    _, _, paths = annotated
    text = paths["gff_path"].read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert header[-1] == "## COLDATA: S1"
    assert any("VERSION 1.2" in h for h in header)
    assert any(h.startswith("## source-ontology: miRBasev22") for h in header)
    assert len(body) == 12
    rows = {}
    for line in body:
        cols = line.split("\t")
        attrs = dict(kv.split("=", 1) for kv in cols[8].split(";"))
        rows[attrs["Read"]] = (cols, attrs)
    cols, attrs = rows[MIR126_3P]
    assert cols[:8] == [
        "hsa-mir-126",
        "miRBasev22",
        "ref_miRNA",
        "52",
        "73",
        ".",
        "+",
        ".",
    ]
    assert attrs["UID"] == "iso-22-WL341OU4K"
    assert (attrs["Variant"], attrs["Cigar"], attrs["Expression"]) == (
        "NA",
        "22M",
        "100",
    )
    cols, attrs = rows[MIR126_3P + "AA"]
    assert (cols[2], attrs["Variant"], attrs["Cigar"]) == (
        "isomiR",
        "iso_add3p:2",
        "22M2S",
    )
    _, attrs = rows[MIR16_5P]
    assert (attrs["Parent"], attrs["Hits"]) == ("hsa-mir-16-1", "2")
    assert attrs["loci"] == "hsa-mir-16-1,hsa-mir-16-2"


@needs_mirtop
def test_gff_accepted_by_mirtop(annotated, hsa_ref: Reference, tmp_path: Path) -> None:
    _, result, paths = annotated
    gff = str(paths["gff_path"])
    val = subprocess.run(
        [MIRTOP, "validate", "-o", str(tmp_path / "val"), gff],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert val.returncode == 0, val.stderr
    log = val.stdout + val.stderr
    for bad in ("ERROR", "INCORRECT", "not in a correct format", "NOT STANDARD"):
        assert bad not in log, log
    stats = subprocess.run(
        [MIRTOP, "stats", "-o", str(tmp_path / "stats"), gff],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert stats.returncode == 0, stats.stderr
    table = pd.read_csv(
        tmp_path / "stats" / "mirtop_stats.txt", comment="#", index_col=0
    )
    # mirtop repeats some categories (with 0) in later blocks: keep the first.
    first = table.drop_duplicates("category", keep="first")
    sums = dict(zip(first["category"], first["counts"], strict=True))
    assert sums["ref_miRNA_sum"] == 100 + 9 + 6
    assert sums["ref_miRNA_sum"] + sums["isomiR_sum"] == result.categories["mirna"]
    assert sums["iso_add3p_sum"] == 5 + 3 + 2
    counts = subprocess.run(
        [
            MIRTOP,
            "counts",
            "--gff",
            gff,
            "--hairpin",
            str(hsa_ref.directory / "hairpin.fa"),
            "--gtf",
            str(hsa_ref.directory / "mirna_hairpin.gff3"),
            "--sps",
            "hsa",
            "--add-extra",
            "-o",
            str(tmp_path / "counts"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert counts.returncode == 0, counts.stderr
    tsv = pd.read_csv(tmp_path / "counts" / "S1.tsv", sep="\t")
    assert len(tsv) == 12 and tsv["S1"].sum() == result.categories["mirna"]


@needs_mirtop
def test_agrees_with_mirtop_bam_annotation(
    annotated, hsa_ref: Reference, tmp_path: Path
) -> None:
    """mirtop's own annotation of a bowtie BAM gives the same names and variants."""
    cases, result, _ = annotated
    names = [
        "canonical",
        "3p-1",
        "5p+1",
        "5p-1",
        "3p+2",
        "addA",
        "snv",
        "mir16",
        "mir517",
    ]
    fasta = tmp_path / "reads.fa"
    with open(fasta, "w") as fh:
        for k, name in enumerate(names):
            seq, n, _, _ = cases[name]
            fh.write(f">r{k}_x{n}\n{seq}\n")
    sam = subprocess.run(
        [
            "bowtie",
            "-x",
            str(hsa_ref.hairpin_index),
            "-f",
            str(fasta),
            "-v",
            "1",
            "-a",
            "--best",
            "--strata",
            "--norc",
            "-S",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import pysam

    (tmp_path / "reads.sam").write_text(sam)
    pysam.view(
        "-b",
        "-o",
        str(tmp_path / "reads.bam"),
        str(tmp_path / "reads.sam"),
        catch_stdout=False,
    )
    # The shipped miRBase GFF3 ends with blank lines, which mirtop cannot parse.
    gtf = tmp_path / "mirna.gff3"
    lines = (HSA / "mirna.gff3").read_text().splitlines(keepends=True)
    gtf.write_text("".join(x for x in lines if x.strip()))
    run = subprocess.run(
        [
            MIRTOP,
            "gff",
            "--format",
            "BAM",
            "--hairpin",
            str(hsa_ref.directory / "hairpin.fa"),
            "--gtf",
            str(gtf),
            "--sps",
            "hsa",
            "-o",
            str(tmp_path / "mt"),
            str(tmp_path / "reads.bam"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    theirs: dict[str, list[tuple[str, str]]] = {}
    for line in (tmp_path / "mt" / "reads.gff").read_text().splitlines():
        if line.startswith("#"):
            continue
        attrs = dict(
            kv.strip().split(" ", 1)
            for kv in line.split("\t")[8].split(";")
            if kv.strip()
        )
        theirs.setdefault(attrs["Read"], []).append((attrs["Name"], attrs["Variant"]))
    ours = result.isomirs.set_index("sequence")
    for name in names:
        seq = cases[name][0]
        mine = (ours.loc[seq, "mirna"], ours.loc[seq, "variant"])
        got = theirs[seq]
        if name == "mir517":
            # mirtop names the miRBase mature of each hairpin; we name the group.
            assert {n for n, _ in got} <= set(mine[0].split("/")), got
            assert {v for _, v in got} == {mine[1]}
        else:
            assert got[0] == mine, (name, got, mine)


# ----------------------------------------------------------------------- mouse


def test_mouse_mir126a(tmp_path: Path) -> None:
    ref_dir = tmp_path / "mmu"
    prepare_reference(MMU / "mature.fa", MMU / "hairpin.fa", ref_dir, species="mmu")
    fa = write_collapsed(
        tmp_path / "M1.fa.gz",
        "M1",
        [(MIR126_3P, 40), (MIR126_3P[:-2], 6), (MIR126_3P + "T", 3), (RANDOM, 2)],
    )
    result = annotate_sample(fa, ref_dir, "M1")
    assert result.categories == {
        "mirna": 49,
        "multimapped_mirna": 0,
        "hairpin_other": 0,
        "unassigned": 2,
        "total": 51,
    }
    assert result.mirna.to_dict("list") == {"mirna": ["mmu-miR-126a-3p"], "count": [49]}
    variants = dict(
        zip(result.isomirs["sequence"], result.isomirs["variant"], strict=True)
    )
    assert variants == {
        MIR126_3P: "NA",
        MIR126_3P[:-2]: "iso_3p:-2",
        MIR126_3P + "T": "iso_add3p:1",
    }
    assert set(result.isomirs["hairpin"]) == {"mmu-mir-126a"}


# ------------------------------------------------------------------ edge cases


def test_empty_library(hsa_ref: Reference, tmp_path: Path) -> None:
    fa = tmp_path / "E.fa.gz"
    with gzip.open(fa, "wt"):
        pass
    result = annotate_sample(fa, hsa_ref, "E")
    out = {
        "mirna_tsv": tmp_path / "E.mirna.tsv",
        "isomir_tsv": tmp_path / "E.isomir.tsv",
        "json_path": tmp_path / "E.json",
        "gff_path": tmp_path / "E.gff",
    }
    write_annotation(result, **out)
    assert out["mirna_tsv"].read_text() == "mirna\tcount\n"
    assert out["isomir_tsv"].read_text() == "\t".join(ISOMIR_COLUMNS) + "\n"
    assert json.loads(out["json_path"].read_text())["total"] == 0
    assert out["gff_path"].read_text().splitlines()[-1] == "## COLDATA: E"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_bowtie_failure_is_reported(broken_hsa_ref: Reference) -> None:
    broken = dataclasses.replace(
        broken_hsa_ref, contaminants=[], contaminant_index=None
    )
    reads = CollapsedReads([MIR126_3P], np.array([1], dtype=np.int64))
    with pytest.raises(RuntimeError, match="bowtie failed"):
        annotate_sample(reads, broken, "X")


def test_max_nta_zero_turns_tail_into_snv(hsa_ref: Reference) -> None:
    # Without NTA detection the mismatching tail base is templated with an SNV.
    reads = CollapsedReads([MIR126_3P + "A", MIR126_3P + "AA"], np.array([3, 2]))
    result = annotate_sample(reads, hsa_ref, "X", AnnotationParams(max_nta=0))
    assert result.isomirs["variant"].tolist() == ["iso_3p:+1,iso_snv"]
    assert result.categories["mirna"] == 3


# --------------------------------------------------------------- simulated data


def _simulate(ref: Reference, rng: random.Random, n_mirna: int, n_other: int):
    """Simulated inserts: miRNA isomiRs and fragments of non-miRNA small RNAs."""
    loci = [lo for los in ref.loci.values() for lo in los]
    truth: dict[str, str] = {}
    for _ in range(n_mirna):
        lo = rng.choice(loci)
        hp = ref.hairpins[lo.hairpin]
        s5 = rng.choice([0, 0, 0, 0, 1, -1, 2])
        s3 = rng.choice([0, 0, 0, -1, -1, -2, 1, 2, 3])
        a, b = lo.start - 1 + s5, lo.end + s3
        if a < 0 or b > len(hp):
            continue
        seq = hp[a:b]
        if rng.random() < 0.05:
            p = rng.randrange(1, len(seq) - 1)
            seq = (
                seq[:p] + rng.choice([c for c in "ACGT" if c != seq[p]]) + seq[p + 1 :]
            )
        seq += "".join(
            rng.choice("AAAT") for _ in range(rng.choice([0, 0, 0, 0, 1, 1, 2]))
        )
        truth.setdefault(seq, "mirna")
    pools = {
        cat: [s.replace("N", "") for _, s in iter_fasta(RES / "contaminants" / f)]
        for cat, f in [
            ("rRNA", "rrna_hsa.fa"),
            ("tRNA", "trna_hsa.fa"),
            ("snoRNA_snRNA", "snorna_snrna_hsa.fa"),
        ]
    }
    for _ in range(n_other):
        cat = rng.choice(["rRNA", "tRNA", "tRNA", "snoRNA_snRNA", "random"])
        length = rng.randint(16, 40)
        if cat == "random":
            seq = "".join(rng.choice("ACGT") for _ in range(length))
        else:
            src = rng.choice(pools[cat]) + ("CCA" if cat == "tRNA" else "")
            if len(src) <= length:
                continue
            p = rng.choice([0, len(src) - length, rng.randrange(len(src) - length)])
            seq = src[p : p + length]
        truth.setdefault(seq, cat)
    return truth


def test_simulated_false_positive_rate(hsa_ref: Reference) -> None:
    """Non-miRNA inserts counted as miRNA stay below 0.5 % (target of the stage)."""
    truth = _simulate(hsa_ref, random.Random(20261126), n_mirna=1500, n_other=3000)
    seqs = sorted(truth)
    reads = CollapsedReads(seqs, np.ones(len(seqs), dtype=np.int64))
    result = annotate_sample(reads, hsa_ref, "SIM", threads=2)
    called = dict(zip(seqs, result.read_categories, strict=True))
    other = [s for s in seqs if truth[s] != "mirna"]
    mirna = [s for s in seqs if truth[s] == "mirna"]
    false_mirna = [s for s in other if called[s] in ("mirna", "multimapped_mirna")]
    assert len(other) > 2500
    assert len(false_mirna) / len(other) <= 0.005, false_mirna
    found = sum(called[s] in ("mirna", "multimapped_mirna") for s in mirna)
    assert found / len(mirna) >= 0.98
    same_class = sum(called[s] == truth[s] for s in other if truth[s] != "random")
    assert same_class / sum(truth[s] != "random" for s in other) >= 0.97


def test_exact_contaminant_beats_edited_mirna(hsa_ref: Reference) -> None:
    # A tRNA 5' fragment that is hsa-miR-4448 only with an SNV and 3 added bases.
    trf = "GGCTCGTTGGTCTAGGGGTATGA"
    reads = CollapsedReads([trf, MIR126_3P + "A"], np.array([5, 3], dtype=np.int64))
    result = annotate_sample(reads, hsa_ref, "X")
    assert result.read_categories == ["tRNA", "mirna"]
    assert result.categories["tRNA"] == 5 and result.categories["mirna"] == 3
    params = AnnotationParams(exact_contaminant_wins=False)
    off = annotate_sample(reads, hsa_ref, "X", params)
    assert off.read_categories == ["mirna", "mirna"]
    row = off.isomirs.set_index("sequence").loc[trf]
    assert (row["mirna"], row["variant"]) == (
        "hsa-miR-4448",
        "iso_add3p:3,iso_snv_seed",
    )


# ------------------------------------------------------------ speed-ups, exactness


def _within_one(prefix: str, kmers: set[str]) -> bool:
    if prefix in kmers:
        return True
    return any(
        prefix[:i] + b + prefix[i + 1 :] in kmers
        for i in range(len(prefix))
        for b in "ACGT"
        if b != prefix[i]
    )


@pytest.mark.parametrize(("k", "mismatches"), [(16, 1), (13, 1), (16, 0)])
def test_hairpin_prefilter_is_exact(
    hsa_ref: Reference, k: int, mismatches: int
) -> None:
    """The pre-filter keeps exactly the reads whose first k bases are within
    ``mismatches`` of a hairpin k-mer: every read bowtie could align."""
    rng = random.Random(k + mismatches)
    hairpins = list(hsa_ref.hairpins.values())
    reads = []
    for _ in range(3000):
        hp = rng.choice(hairpins)
        start = rng.randrange(len(hp) - 30)
        seq = list(hp[start : start + rng.randint(k, 30)])
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            seq[rng.randrange(len(seq))] = rng.choice("ACGT")
        reads.append("".join(seq))
    reads += ["".join(rng.choice("ACGT") for _ in range(k + 3)) for _ in range(2000)]
    kmers = {hp[i : i + k] for hp in hairpins for i in range(len(hp) - k + 1)}
    layout = _Layout.of(reads)
    rows = np.arange(len(reads))
    filt = _HairpinFilter(hairpins, k, mismatches)
    got = filt.contains(layout.prefix_keys(rows, k))
    assert filt.select(layout, rows).tolist() == got.tolist()  # compiled loop
    if mismatches:
        expected = [_within_one(r[:k], kmers) for r in reads]
    else:
        expected = [r[:k] in kmers for r in reads]
    assert got.tolist() == expected
    assert 0 < sum(expected) < len(reads)


def test_hairpin_prefilter_non_acgt_and_boundaries() -> None:
    hairpins = ["ACGTACGTACGTNCGTACG", "TTTTTTTTTTTTTTTT"]
    filt = _HairpinFilter(hairpins, 12, 1)
    reads = [
        "ACGTACGTACGTAC",  # the N window read with any base: kept
        "CGTACGTAGGTACG",  # one mismatch, but N in the window too: kept (superset)
        "ACGTTTTTTTTT",  # would span the two hairpins: not kept
        "TTTTTTTTTTTA",  # one mismatch to the second hairpin
        "GGGGGGGGGGGG",
    ]
    layout = _Layout.of(reads)
    keys = layout.prefix_keys(np.arange(len(reads)), 12)
    assert filt.contains(keys).tolist() == [True, True, False, True, False]
    rows = np.arange(len(reads))
    assert filt.select(layout, rows).tolist() == [True, True, False, True, False]


def test_layout_flags() -> None:
    layout = _Layout.of(["ACGT", "", "ACNT", "AC GT", "acgt", "TTTT"])
    assert layout.acgt.tolist() == [True, True, False, False, False, True]
    assert layout.clean.tolist() == [True, True, True, False, True, True]
    assert layout.lengths.tolist() == [4, 0, 4, 0, 4, 4]


@pytest.fixture(scope="module")
def tiny_contaminant_ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """hsa miRBase plus two made-up categories with near-identical sequences."""
    d = tmp_path_factory.mktemp("tinyref")
    rng = random.Random(7)
    base = "".join(rng.choice("ACGT") for _ in range(60))
    other = "".join(rng.choice("ACGT") for _ in range(60))
    variant = base[:30] + ("A" if base[30] != "A" else "C") + base[31:]
    (d / "a.fa").write_text(f">a1\n{base}\n>shared\n{other}\n")
    (d / "b.fa").write_text(f">b1\n{variant}\n>shared\n{other}\n")
    out = d / "ref"
    prepare_reference(
        HSA / "mature.fa",
        HSA / "hairpin.fa",
        out,
        species="hsa",
        contaminants={"catA": [d / "a.fa"], "catB": [d / "b.fa"]},
    )
    return load_reference(out)


def _tiny_cases(ref: Reference) -> dict[str, str]:
    records = dict(iter_fasta(ref.directory / "contaminants" / "01_catA.fa"))
    base, other = records["a1"], records["shared"]
    variant = dict(iter_fasta(ref.directory / "contaminants" / "02_catB.fa"))["b1"]
    two = list(variant[20:45])
    for p in (3, 12):
        two[p] = "A" if two[p] != "A" else "C"
    return {
        "exact_A": base[5:30],  # in catA only (the variant starts at 30)
        "exact_B_1mm_A": variant[20:45],  # best hit catB, catA one mismatch away
        "both_exact": other[10:35],  # the same in both: config order, catA
        "revcomp_B": reverse_complement(variant[25:50]),
        "two_mm_B": "".join(two),  # catB with 2 mismatches (catA: 3)
        "mirna": MIR126_3P,
        "short": "A",
        "empty": "",
    }


@pytest.mark.parametrize(
    ("mismatches", "two_mm"), [(0, "unassigned"), (1, "unassigned"), (2, "catB")]
)
def test_contaminant_first_category_among_best_hits(
    tiny_contaminant_ref: Reference, mismatches: int, two_mm: str
) -> None:
    cases = _tiny_cases(tiny_contaminant_ref)
    reads = CollapsedReads(list(cases.values()), np.arange(1, len(cases) + 1))
    params = AnnotationParams(contaminant_mismatches=mismatches)
    cats, _ = annotate_reads(reads, tiny_contaminant_ref, params, threads=2)
    got = dict(zip(cases, cats, strict=True))
    # bowtie refuses reads of <= -v bases: never aligned; else whatever it does
    assert got.pop("short") in (
        {"unassigned"} if mismatches else {"unassigned", "catA"}
    )
    assert got == {
        "exact_A": "catA",
        "exact_B_1mm_A": "catB",
        "both_exact": "catA",
        "revcomp_B": "catB",
        "two_mm_B": two_mm,
        "mirna": "mirna",
        "empty": "unassigned",
    }


def test_reference_without_combined_index(
    tiny_contaminant_ref: Reference, tmp_path: Path
) -> None:
    """A reference directory from before the combined index still works."""
    old = tmp_path / "old"
    shutil.copytree(tiny_contaminant_ref.directory, old)
    manifest = json.loads((old / "reference.json").read_text())
    del manifest["combined_contaminants"]
    (old / "reference.json").write_text(json.dumps(manifest))
    for f in (old / "contaminants").glob("combined.*"):
        f.unlink()
    ref = load_reference(old)
    assert ref.contaminant_index is None
    cases = _tiny_cases(tiny_contaminant_ref)
    reads = CollapsedReads(list(cases.values()), np.ones(len(cases), dtype=np.int64))
    new = annotate_reads(reads, tiny_contaminant_ref, threads=2)
    assert annotate_reads(reads, ref, threads=2, tmpdir=tmp_path) == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_failure_stops_background_search(
    broken_hsa_ref: Reference, tmp_path: Path
) -> None:
    broken = broken_hsa_ref
    reads = CollapsedReads([MIR126_3P, RANDOM] * 1000, np.ones(2000, dtype=np.int64))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(RuntimeError, match="bowtie failed"):
        annotate_sample(reads, broken, "X", threads=2, tmpdir=work)
    assert list(work.iterdir()) == []


def test_same_bytes_twice_and_v2(annotated, hsa_ref: Reference, tmp_path: Path) -> None:
    cases, result, paths = annotated
    fa = tmp_path / "S1.fa.gz"
    write_collapsed(fa, "S1", [(s, n) for s, n, _, _ in cases.values()])
    again = annotate_sample(fa, hsa_ref.directory, "S1", threads=2)
    out = {k: tmp_path / "again" / Path(v).name for k, v in paths.items()}
    write_annotation(again, **out)
    for key, path in paths.items():
        assert out[key].read_bytes() == Path(path).read_bytes(), key
    # With 2 contaminant mismatches (the two-run search) the handmade
    # library gets the same categories.
    v2 = annotate_sample(fa, hsa_ref, "S1", AnnotationParams(contaminant_mismatches=2))
    assert v2.categories == result.categories
    assert v2.read_categories == result.read_categories


def test_read_collapsed_all_headers_bad(tmp_path: Path) -> None:
    path = tmp_path / "x.fa"
    path.write_text(">a\nACGT\n>b\nGG\n")
    with pytest.raises(ValueError, match="_x"):
        read_collapsed(path)


def test_contaminant_prefilter_changes_nothing(
    hsa_ref: Reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contaminant pre-filter only skips reads bowtie cannot align.

    Fragments with 0-2 substitutions (both strands), random inserts and
    miRNAs: categories with and without the filter are the same, for 0 and 1
    contaminant mismatches.
    """
    import exomir.reads.annotate.contaminants as ann

    rng = random.Random(31)
    truth = _simulate(hsa_ref, rng, n_mirna=300, n_other=1500)
    seqs = sorted(truth)
    comp = str.maketrans("ACGT", "TGCA")
    extra = []
    for s in seqs[::3]:
        t = list(s)
        for _ in range(rng.choice([1, 1, 2])):
            p = rng.randrange(len(t))
            t[p] = rng.choice([c for c in "ACGT" if c != t[p]])
        extra.append("".join(t))
        extra.append(s.translate(comp)[::-1])
    # tRNA_77 is written "...ATGTCT.AC_CATGGCTTTCTCACCA": bowtie-build skips
    # '.' and '_', so these align across the join
    joins = ["TCTACCATGGCTTTCTCACCA", "GTCTACCATGGCTTTCTCACCA", "CCCATGTCTACCATGGC"]
    seqs = sorted(set(seqs + extra + joins + ["ACGTNACGTACGTACGTAC", "ACGTACGTACG"]))
    reads = CollapsedReads(seqs, np.ones(len(seqs), dtype=np.int64))
    for mm in (0, 1):
        params = AnnotationParams(contaminant_mismatches=mm)
        got = {}
        for flag in (True, False):
            monkeypatch.setattr(ann, "CONTAMINANT_SEARCH", flag)
            got[flag] = annotate_reads(reads, hsa_ref, params, threads=2)[0]
        assert got[True] == got[False]
        assert sum(c in ("rRNA", "tRNA", "snoRNA_snRNA") for c in got[True]) > 500
        called = dict(zip(seqs, got[True], strict=True))
        assert called["TCTACCATGGCTTTCTCACCA"] == "tRNA"
