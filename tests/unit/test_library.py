"""One library in one process (exomir.reads.library) against the two stages."""

from __future__ import annotations

import gzip
import json
import types
from pathlib import Path

import numpy as np
import pytest

from exomir.config import resources_dir
from exomir.reads.annotate import AnnotationParams, annotate_sample, write_annotation
from exomir.reads.fastq import FastqFormatError
from exomir.reads.integrity import file_record
from exomir.reads.library import LibraryOutputs, library_settings, process_library
from exomir.reads.preprocess import preprocess_library
from exomir.reads.protocols import PRESETS, TrimSettings
from exomir.reads.reference import (
    Reference,
)

ROOT = Path(__file__).resolve().parents[2]
RES = resources_dir()
HSA = RES / "mirbase" / "v22" / "hsa"
ADAPTER = PRESETS["truseq"].adapter_3p


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated plasma TruSeq library (real miRBase and contaminant sequences)."""
    from exomir.simulate.library import simulate_library
    from exomir.simulate.params import resolve_params
    from exomir.simulate.readmodel import build_read_params
    from exomir.simulate.references import load_references
    from exomir.simulate.study import simulate_trial

    params = resolve_params(preset="demo", participants=2)
    sim = simulate_trial(params, 5)
    refs = load_references(params)
    sample = str(sim.samples["sample_id"].iloc[0])
    path = tmp_path_factory.mktemp("lib") / "L1.fastq.gz"
    simulate_library(
        sample,
        path,
        20_000,
        sim.probs[sample],
        "truseq",
        build_read_params(params),
        np.random.default_rng(5),
        refs.hairpins,
        refs.mature_in_hairpin,
        refs.contaminants,
        ADAPTER,
        mature=refs.mature,
    )
    return path


def _outputs(d: Path) -> LibraryOutputs:
    return LibraryOutputs(
        collapsed=d / "collapsed" / "L1.fa.gz",
        stats=d / "preprocess" / "L1.json",
        mirna=d / "annotate" / "L1.mirna.tsv",
        isomir=d / "annotate" / "L1.isomir.tsv",
        annotation=d / "annotate" / "L1.json",
        gff=d / "isomirs" / "L1.gff",
    )


def _files(out: LibraryOutputs) -> list[Path]:
    return [Path(p) for p in vars(out).values()]


@pytest.mark.parametrize("threads", [1, 2])
def test_same_files_as_the_two_stages(
    library: Path, hsa_ref: Reference, tmp_path: Path, threads: int
) -> None:
    settings = TrimSettings(quality_cutoff=20)
    params = AnnotationParams(max_nta=2)
    two = _outputs(tmp_path / "two")
    long = tmp_path / "two" / "long.fa.gz"
    preprocess_library(
        library,
        two.collapsed,
        two.stats,
        PRESETS["truseq"],
        settings,
        sample="L1",
        long_out=long,
    )
    result = annotate_sample(
        two.collapsed, hsa_ref.directory, "L1", params, 2, long_inserts=long
    )
    write_annotation(result, two.mirna, two.isomir, two.annotation, two.gff)

    one = _outputs(tmp_path / "one")
    done = process_library(
        library,
        hsa_ref.directory,
        one,
        PRESETS["truseq"],
        settings,
        params,
        threads=threads,
        sample="L1",
    )
    for a, b in zip(_files(one), _files(two), strict=True):
        if a == Path(one.annotation):  # plus the record of its siblings
            recorded = json.loads(a.read_text())
            block = recorded.pop("outputs")
            assert recorded == json.loads(b.read_text())
            assert block == {k: file_record(p) for k, p in one.sibling_files().items()}
            continue
        assert a.read_bytes() == b.read_bytes(), a.name
    assert done.stats.raw_reads == 20_000
    counts = json.loads(Path(one.annotation).read_text())
    assert counts["mirna"] > 5000 and counts["total"] == done.stats.molecules


def test_bad_fastq_writes_nothing(hsa_ref: Reference, tmp_path: Path) -> None:
    fq = tmp_path / "L1.fastq.gz"
    with gzip.open(fq, "wt") as fh:
        fh.write("@r1\nACGTACGTACGT\n+\nIIIIIIIIIIII\n@r2\nACGTAC\n+\nIII\n")
    out = _outputs(tmp_path / "out")
    with pytest.raises(
        FastqFormatError,
        match=r"L1.fastq.gz: record 2: Length of sequence and qualities differ",
    ):
        process_library(
            fq, hsa_ref, out, PRESETS["truseq"], TrimSettings(), sample="L1"
        )
    assert not any(p.exists() for p in _files(out))


def test_failed_annotation_writes_nothing(
    library: Path, broken_hsa_ref: Reference, tmp_path: Path
) -> None:
    """Not even the preprocessing outputs of a library whose annotation fails."""
    broken = broken_hsa_ref
    out = _outputs(tmp_path / "out")
    with pytest.raises(RuntimeError, match="bowtie failed"):
        process_library(
            library, broken, out, PRESETS["truseq"], TrimSettings(), sample="L1"
        )
    assert not any(p.exists() for p in _files(out))


def test_snakemake_shim(
    library: Path, hsa_ref: Reference, tmp_path: Path, run_script
) -> None:
    """workflow/scripts/library.py as Snakemake runs it (a ``snakemake`` global)."""
    from snakemake import iocontainers

    out = _outputs(tmp_path)
    output = {
        "collapsed": str(out.collapsed),
        "stats": str(out.stats),
        "mirna": str(out.mirna),
        "isomir": str(out.isomir),
        "json": str(out.annotation),
        "gff": str(out.gff),
    }
    parts = {
        "input": {
            "fastq": str(library),
            "reference": str(hsa_ref.directory / "reference.json"),
        },
        "output": output,
        # as workflow/rules/common.smk passes them: config preset + name
        "params": {
            "protocol": {
                "description": "Illumina TruSeq Small RNA",
                "adapter_3p": ADAPTER,
                "clip_5p": 0,
                "clip_3p": 0,
                "umi": "none",
                "name": "truseq",
            },
            # as workflow/rules/library.smk builds it from the config
            "settings": library_settings(
                {
                    "trimming": {
                        "min_length": 16,
                        "max_length": 45,
                        "quality_cutoff": 20,
                    },
                    "annotation": {"max_nta": 2},
                }
            ),
        },
        "wildcards": {"sample": "L1"},
        "log": {"log": str(tmp_path / "L1.log")},
    }
    smk = types.SimpleNamespace(
        threads=2,
        **{k: iocontainers.Namedlist(fromdict=v) for k, v in parts.items()},
    )
    run_script("library.py", smk)
    stats = json.loads(Path(out.stats).read_text())
    assert (stats["raw_reads"], stats["protocol"]) == (20_000, "truseq")
    assert json.loads(Path(out.annotation).read_text())["mirna"] > 5000
    assert "max_nta=2" in Path(out.gff).read_text()
    assert "20000 raw reads" in (tmp_path / "L1.log").read_text()
