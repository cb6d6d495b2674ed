"""Tests of exomir.reads.reference (reference preparation)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from exomir.reads.reference import (
    MANIFEST,
    ReferenceSettings,
    combined_contaminant_records,
    default_contaminants,
    derive_mature_loci,
    feature_name,
    iter_fasta,
    load_reference,
    normalise_sequence,
    prepare_reference,
    read_species_fasta,
    reverse_complement,
)

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT / "resources"
HSA = RES / "mirbase" / "v22" / "hsa"
MMU = RES / "mirbase" / "v22" / "mmu"

needs_bowtie = pytest.mark.skipif(
    shutil.which("bowtie-build") is None, reason="bowtie-build not installed"
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def tiny_mirbase(tmp_path: Path) -> tuple[Path, Path]:
    hairpin = _write(
        tmp_path / "hairpin.fa",
        ">hsa-mir-1 MI1 Homo sapiens\nAAAAUGAGGUAGUAGGUUGUAUAGUUCCCCCCCCCCGGGG\n"
        "CUAUACAAUCUACUGUCUUUCAAAA\n"
        ">hsa-mir-2 MI2\nGGGGUGAGGUAGUAGGUUGUAUAGUUGGGGGGGGGG\n"
        ">mmu-mir-1 MI3\nAAAAUGAGGUAGUAGGUUGUAUAGUUCCCC\n"
        ">hsa-mir-3 MI4\nCCCCAUCGUGCAUCCCUUUAGAGUGUCCCC\n",
    )
    mature = _write(
        tmp_path / "mature.fa",
        ">hsa-let-x-5p MIMAT1\nUGAGGUAGUAGGUUGUAUAGUU\n"
        ">hsa-let-x-3p MIMAT2\nCUAUACAAUCUACUGUCUUUC\n"
        ">mmu-let-x-5p MIMAT3\nUGAGGUAGUAGGUUGUAUAGUU\n"
        ">hsa-miR-b-3p MIMAT4\nAUCGUGCAUCCCUUUAGAGUGU\n"
        ">hsa-miR-a-3p MIMAT5\nAUCGUGCAUCCCUUUAGAGUGU\n"
        ">hsa-miR-none MIMAT6\nGGGGGGGGGGGGGGGGGGGGGA\n",
    )
    return mature, hairpin


def test_normalise_sequence() -> None:
    assert normalise_sequence("ugaCu") == "TGACT"


def test_feature_name_sorts_and_joins() -> None:
    assert feature_name(["hsa-miR-517b-3p", "hsa-miR-517a-3p"]) == (
        "hsa-miR-517a-3p/hsa-miR-517b-3p"
    )
    assert feature_name(["hsa-miR-1"]) == "hsa-miR-1"


def test_read_species_fasta_filters_prefix(tiny_mirbase: tuple[Path, Path]) -> None:
    mature, hairpin = tiny_mirbase
    hp = read_species_fasta(hairpin, "hsa")
    assert list(hp) == ["hsa-mir-1", "hsa-mir-2", "hsa-mir-3"]
    assert hp["hsa-mir-1"].startswith("AAAATGAGG")  # U -> T, multi-line joined
    assert hp["hsa-mir-1"].endswith("CTATACAATCTACTGTCTTTCAAAA")
    assert list(read_species_fasta(hairpin, "mmu")) == ["mmu-mir-1"]
    with pytest.raises(ValueError, match="no record"):
        read_species_fasta(mature, "rno")


def test_derive_loci_groups_and_multiple_hairpins(
    tiny_mirbase: tuple[Path, Path],
) -> None:
    mature, hairpin = tiny_mirbase
    loci, unplaced = derive_mature_loci(
        read_species_fasta(mature, "hsa"), read_species_fasta(hairpin, "hsa")
    )
    assert unplaced == ["hsa-miR-none"]
    got = {(lo.feature, lo.hairpin, lo.start, lo.end) for lo in loci}
    assert got == {
        ("hsa-let-x-5p", "hsa-mir-1", 5, 26),
        ("hsa-let-x-5p", "hsa-mir-2", 5, 26),  # one mature, two loci
        ("hsa-let-x-3p", "hsa-mir-1", 41, 61),
        ("hsa-miR-a-3p/hsa-miR-b-3p", "hsa-mir-3", 5, 26),  # identical sequence
    }


def test_human_mirbase_loci() -> None:
    loci, unplaced = derive_mature_loci(
        read_species_fasta(HSA / "mature.fa", "hsa"),
        read_species_fasta(HSA / "hairpin.fa", "hsa"),
    )
    assert unplaced == []
    by_feature: dict[str, set[str]] = {}
    for lo in loci:
        by_feature.setdefault(lo.feature, set()).add(lo.hairpin)
    assert by_feature["hsa-miR-16-5p"] == {"hsa-mir-16-1", "hsa-mir-16-2"}
    assert "hsa-miR-517a-3p/hsa-miR-517b-3p" in by_feature
    assert "hsa-miR-517a-3p" not in by_feature
    assert by_feature["hsa-miR-126-3p"] == {"hsa-mir-126"}
    mir126 = next(lo for lo in loci if lo.feature == "hsa-miR-126-3p")
    # miRBase GFF3: hairpin chr9:136670602, mature 136670653-136670674 (+)
    assert (mir126.start, mir126.end) == (52, 73)
    groups = {f for f in by_feature if "/" in f}
    assert len(groups) == 16


@needs_bowtie
def test_prepare_reference_tiny(
    tmp_path: Path, tiny_mirbase: tuple[Path, Path]
) -> None:
    mature, hairpin = tiny_mirbase
    trna = _write(
        tmp_path / "trna.fa", ">t1\nGCATTGGTGGTTCAGTGGTAGAATTCTCGC\n>t2\nACGTCCA\n"
    )
    yrna = _write(
        tmp_path / "yrna.fa", ">RNY1\nGGCUGGUCCGAAGGUAGUGAGUUAUCUCAAUUGAUUG\n"
    )
    outdir = tmp_path / "ref"
    manifest_path = prepare_reference(
        mature,
        hairpin,
        outdir,
        species="hsa",
        contaminants={"tRNA": [trna], "YRNA": [yrna]},
        database="miRBasev22",
    )
    assert manifest_path == outdir / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    assert manifest["species"] == "hsa"
    assert manifest["unplaced_matures"] == ["hsa-miR-none"]
    assert manifest["identical_sequence_groups"] == ["hsa-miR-a-3p/hsa-miR-b-3p"]
    assert [c["category"] for c in manifest["contaminants"]] == ["tRNA", "YRNA"]
    assert (outdir / "hairpin.1.ebwt").exists()
    assert (outdir / "contaminants" / "02_YRNA.1.ebwt").exists()
    # tRNAs get the CCA tail; other categories are indexed as given (U -> T)
    trna_seqs = dict(iter_fasta(outdir / "contaminants" / "01_tRNA.fa"))
    assert trna_seqs == {"t1": "GCATTGGTGGTTCAGTGGTAGAATTCTCGCCCA", "t2": "ACGTCCA"}
    yrna_seqs = dict(iter_fasta(outdir / "contaminants" / "02_YRNA.fa"))
    assert yrna_seqs["RNY1"].startswith("GGCTGGTCCG")

    # One combined index for the annotation, records named by category position.
    assert manifest["combined_contaminants"] == {
        "index": "contaminants/combined",
        "categories": ["tRNA", "YRNA"],
        "n_sequences": 3,
    }
    assert (outdir / "contaminants" / "combined.1.ebwt").exists()
    combined = (outdir / "contaminants" / "combined.fa").read_text().splitlines()
    assert [line for line in combined if line.startswith(">")] == [
        ">0 tRNA t1",
        ">0 tRNA t2",
        ">1 YRNA RNY1",
    ]

    ref = load_reference(outdir)
    assert ref.contaminant_index == outdir / "contaminants" / "combined"
    assert ref.species == "hsa" and ref.database == "miRBasev22"
    assert set(ref.hairpins) == {"hsa-mir-1", "hsa-mir-2", "hsa-mir-3"}
    assert [lo.feature for lo in ref.loci["hsa-mir-1"]] == [
        "hsa-let-x-5p",
        "hsa-let-x-3p",
    ]
    assert ref.contaminants[1].category == "YRNA"
    assert load_reference(manifest_path).directory == outdir

    # Rebuilding replaces the directory as a whole; no temporary leftovers.
    (outdir / "stale.txt").write_text("x")
    prepare_reference(mature, hairpin, outdir, species="hsa", contaminants=None)
    assert not (outdir / "stale.txt").exists()
    assert not (outdir / "contaminants").exists()
    assert load_reference(outdir).contaminant_index is None
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@needs_bowtie
def test_prepare_reference_rejects_bad_input(
    tmp_path: Path, tiny_mirbase: tuple[Path, Path]
) -> None:
    mature, hairpin = tiny_mirbase
    empty = _write(tmp_path / "empty.fa", "")
    with pytest.raises(ValueError, match="category"):
        prepare_reference(
            mature, hairpin, tmp_path / "r1", contaminants={"a/b": [empty]}
        )
    with pytest.raises(ValueError, match="no sequences"):
        prepare_reference(mature, hairpin, tmp_path / "r2", contaminants={"x": [empty]})
    assert not (tmp_path / "r2").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_reverse_complement() -> None:
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("") == ""


def test_combined_records_drop_only_redundant_sequences() -> None:
    long_ = "ACGTTGCAAGGCTTACCGATGGA"
    categories = [
        [("a1", "TTTTGGGGCCCC")],
        [
            ("b1", long_[3:15]),  # inside b2: dropped
            ("b2", long_),
            ("b3", long_),  # identical copy: dropped
            ("b4", reverse_complement(long_[5:20])),  # reverse strand: dropped
            ("b5", "GGCCCCAAAATT"),  # overlaps a1, not inside it: kept
            ("b6", "TTGGGGCC"),  # inside a1 (an earlier category): dropped
            ("b7", "ACGTNNACGT"),  # with N: forward strand only, kept
        ],
        [("c1", long_), ("c2", "CCCCCCCCCCCCCCCCCC")],  # c1 is in category b
    ]
    assert combined_contaminant_records(categories) == [
        (0, "a1", "TTTTGGGGCCCC"),
        (1, "b2", long_),
        (1, "b5", "GGCCCCAAAATT"),
        (1, "b7", "ACGTNNACGT"),
        (2, "c2", "CCCCCCCCCCCCCCCCCC"),
    ]
    # A sequence of an earlier category inside a later one is kept in both.
    assert combined_contaminant_records(
        [[("x", "ACGTACGTAC")], [("y", "GGACGTACGTACGG")]]
    ) == [
        (0, "x", "ACGTACGTAC"),
        (1, "y", "GGACGTACGTACGG"),
    ]


def test_default_contaminants_exist() -> None:
    cats = default_contaminants(RES)
    assert list(cats) == ["artifact", "rRNA", "tRNA", "snoRNA_snRNA"]
    for files in cats.values():
        assert all(f.exists() for f in files)


@needs_bowtie
def test_mouse_reference_and_hairpin_gff3_read_by_mirtop(tmp_path: Path) -> None:
    outdir = tmp_path / "mmu"
    prepare_reference(MMU / "mature.fa", MMU / "hairpin.fa", outdir, species="mmu")
    ref = load_reference(outdir)
    locus = [lo for lo in ref.loci["mmu-mir-126a"] if lo.feature == "mmu-miR-126a-3p"]
    assert len(locus) == 1
    hp = ref.hairpins["mmu-mir-126a"]
    assert hp[locus[0].start - 1 : locus[0].end] == "TCGTACCGTGAGTAATAATGCG"
    assert all(name.startswith("mmu-") for name in ref.hairpins)
    from mirtop.mirna import mapper

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = mapper.read_gtf_to_precursor(str(outdir / "mirna_hairpin.gff3"))
    # mirtop keeps 0-based inclusive positions on the hairpin
    assert parsed["mmu-mir-126a"]["mmu-miR-126a-3p"][:2] == [
        locus[0].start - 1,
        locus[0].end - 1,
    ]


@needs_bowtie
def test_build_reference_shim(
    tmp_path: Path, tiny_mirbase: tuple[Path, Path], run_script
) -> None:
    import types

    from snakemake import iocontainers

    mature, hairpin = tiny_mirbase
    trna = _write(tmp_path / "trna.fa", ">t1\nGCATTGGTGGTTCAGTGGTAGAATTCTCGC\n")
    smk = types.SimpleNamespace(
        threads=1,
        rule="build_reference",
        input=iocontainers.Namedlist(
            fromdict={
                "mature": str(mature),
                "hairpin": str(hairpin),
                "contaminants": [str(trna)],
            }
        ),
        output=iocontainers.Namedlist(
            fromdict={"manifest": str(tmp_path / "ref" / "reference.json")}
        ),
        params=iocontainers.Namedlist(
            fromdict={
                "settings": ReferenceSettings(
                    species="hsa",
                    database="miRBasev22.1",
                    categories=(("tRNA", 1),),
                    contaminant_species=(("tRNA", "hsa"),),
                    notes=(),
                )
            }
        ),
        log=iocontainers.Namedlist(fromdict={"log": str(tmp_path / "ref.log")}),
    )
    run_script("build_reference.py", smk)
    ref = load_reference(tmp_path / "ref")
    assert ref.database == "miRBasev22.1"
    assert [c.category for c in ref.contaminants] == ["tRNA"]
    assert "reference" in (tmp_path / "ref.log").read_text()
