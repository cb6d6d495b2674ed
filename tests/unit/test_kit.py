"""Kit detection (exomir.reads.kit) against reads of known kit.

Truth is independent of the code under test: real libraries of documented
kit (miRTrace tutorial TruSeq and QIAseq files, exRNAQC TruSeq-type serum and
plasma), reads of the project's simulator, and reads built here from miRBase
mature sequences and each kit's published read layout.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import dnaio
import numpy as np
import pytest

from exomir.config import resources_dir
from exomir.reads import kit
from exomir.reads.kit import (
    KitThresholds,
    detect_kit,
    detect_kit_in_file,
    protocol_from_spec,
    suggest_protocol,
)
from exomir.reads.library import LibraryOutputs, process_library
from exomir.reads.preprocess import collapse_library
from exomir.reads.protocols import PRESETS, Protocol, TrimSettings

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "real"

TRUSEQ = "TGGAATTCTCGGGTGCCAAGG"
QIASEQ = "AACTGTAGGCACCATCAAT"
V15 = "ATCTCGTATGCCGTCTTCTGCTTG"
V10 = "TCGTATGCCGTCTTCTGCTTG"
UNIVERSAL = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCAC"
INDEX_TAIL = "AACTCCAGTCACGATCAGATCTCGTATGCCGTCTTCTGCTTG"  # TruSeq: index, P7


def _mature() -> list[str]:
    out = []
    with dnaio.open(resources_dir() / "mirbase" / "v22" / "hsa" / "mature.fa") as fa:
        for rec in fa:
            out.append(rec.sequence.upper().replace("U", "T"))
    return out


MATURE = _mature()


def _rand(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def _insert(rng: random.Random) -> str:
    """70 % miRNA (3' isomiRs), 30 % other RNA of 18-40 nt."""
    if rng.random() < 0.7:
        seq = rng.choice(MATURE[:400])
        return seq[: len(seq) - rng.randint(0, 2)]
    return _rand(rng, rng.randint(18, 40))


def _read(kind: str, rng: random.Random, length: int) -> str:
    ins = _insert(rng)
    if kind == "truseq":
        seq = ins + TRUSEQ + INDEX_TAIL
    elif kind == "nextflex":
        seq = _rand(rng, 4) + ins + _rand(rng, 4) + TRUSEQ + INDEX_TAIL
    elif kind == "qiaseq":
        seq = ins + QIASEQ + _rand(rng, 12) + UNIVERSAL
    elif kind == "cats":  # template switch, insert, poly-A tail, read-through
        seq = _rand(rng, 3) + ins + "A" * rng.randint(15, 30) + UNIVERSAL[1:]
    elif kind == "v15":  # GAIIx reads A after the end of the template
        seq = ins + V15 + "A" * 40
    elif kind == "v10":
        seq = ins + V10 + "A" * 40
    elif kind == "universal":  # e.g. NEBNext
        seq = ins + UNIVERSAL
    elif kind == "polya_noise":  # no adapter, a poly-A run
        seq = _rand(rng, rng.randint(20, 30)) + "A" * 30
    elif kind == "none":
        seq = ""
    else:  # pragma: no cover
        raise ValueError(kind)
    seq = (seq + _rand(rng, length))[:length]
    # 0.5 % substitution errors
    return "".join(rng.choice("ACGT") if rng.random() < 0.005 else b for b in seq)


def _sample(mix: dict[str, float], n: int = 6000, length: int = 50, seed: int = 1):
    rng = random.Random(seed)
    kinds = list(mix)
    weights = [mix[k] for k in kinds]
    return Counter(_read(rng.choices(kinds, weights)[0], rng, length) for _ in range(n))


# --------------------------------------------------------------------------- #
# Real libraries
# --------------------------------------------------------------------------- #

REAL_FILES = [
    ("sample1.fastq.gz", "truseq"),  # miRTrace tutorial, human TruSeq 51 nt
    ("QiaSeq_data.fastq.gz", "qiaseq"),  # miRTrace tutorial, mouse QIAseq
    ("exrnaqc/RNA014937_S1_R1.fastq.gz", "truseq"),  # serum, ~100 nt
    ("exrnaqc/RNA014938_S2_R1.fastq.gz", "truseq"),
    ("exrnaqc/RNA014939_S3_R1.fastq.gz", "truseq"),  # EDTA plasma
]


@pytest.mark.parametrize(("name", "expected"), REAL_FILES)
def test_real_libraries(name: str, expected: str) -> None:
    det = detect_kit_in_file(REAL / name)
    assert det.chosen == expected, det.reason
    assert det.offset == 0
    assert det.candidates[det.adapter] > 0.9
    # the P7 end (= v1.5 adapter) read behind the TruSeq index never wins
    assert det.candidates["illumina_v15"] < 0.05


def test_real_file_suggestions() -> None:
    """A wrong configured preset is corrected on real reads, a right one is not."""
    for name, right, wrong in (
        ("sample1.fastq.gz", "truseq", "qiaseq"),
        ("QiaSeq_data.fastq.gz", "qiaseq", "truseq"),
    ):
        _, ok = collapse_library(REAL / name, PRESETS[right], TrimSettings())
        assert ok.suggestion == "" and ok.kit_detection["chosen"] == right
        # nextflex on TruSeq reads: adapter found, offsets say 0, not 4
        if right == "truseq":
            _, nf = collapse_library(REAL / name, PRESETS["nextflex"], TrimSettings())
            assert "use protocol 'truseq'" in nf.suggestion
        with pytest.raises(ValueError, match=f"use protocol '{right}'"):
            collapse_library(REAL / name, PRESETS[wrong], TrimSettings())


# --------------------------------------------------------------------------- #
# Constructed reads of each kit
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("kind", "expected", "length"),
    [
        ("truseq", "truseq", 51),
        ("truseq", "truseq", 100),
        ("nextflex", "nextflex", 75),
        ("qiaseq", "qiaseq", 75),
        ("cats", "cats", 50),
        ("v15", "illumina_v15", 50),
        ("v10", "illumina_v10", 36),
    ],
)
def test_constructed_kits(kind: str, expected: str, length: int) -> None:
    det = detect_kit(_sample({kind: 1.0}, length=length))
    assert det.chosen == expected, det.reason
    assert det.offset == PRESETS[expected].clip_5p


def test_v15_with_polya_is_not_cats() -> None:
    """The reported case: adapter in 66 % of reads, poly-A in 37 %."""
    sample = _sample({"v15": 0.63, "polya_noise": 0.37})
    det = detect_kit(sample)
    assert det.anywhere["polya"] > 0.33 and det.candidates["illumina_v15"] > 0.5
    assert det.chosen == "illumina_v15", det.reason
    # configured as a custom v1.5 protocol: no suggestion (it was 'cats')
    custom = Protocol("custom", V15)
    assert suggest_protocol(det, custom, 0.66, 0.10) == ""
    assert suggest_protocol(det, PRESETS["cats"], 0.37, 0.10) == ""


def test_no_adapter_is_undetermined_with_candidates() -> None:
    det = detect_kit(_sample({"none": 1.0}))
    assert det.chosen is None
    for name in ("truseq", "qiaseq", "illumina_v15", "illumina_v10", "polya"):
        assert name in det.candidates
        assert f"{name} " in det.reason
    assert "no candidate adapter in enough reads" in det.reason


def test_mixed_adapters_are_undetermined() -> None:
    det = detect_kit(_sample({"truseq": 0.5, "qiaseq": 0.5}))
    assert det.chosen is None and "comparable" in det.reason


def test_universal_adapter_needs_custom() -> None:
    det = detect_kit(_sample({"universal": 1.0}))
    assert det.chosen is None and det.adapter == "illumina_universal"
    assert "custom protocol with adapter_3p AGATCGGAAGAGC" in det.reason


def test_truseq_without_mirnas_cannot_tell_nextflex() -> None:
    rng = random.Random(4)
    sample = Counter((_rand(rng, 24) + TRUSEQ + INDEX_TAIL)[:50] for _ in range(3000))
    det = detect_kit(sample)
    assert det.adapter == "truseq" and det.chosen is None
    assert "cannot be told apart" in det.reason


def test_polya_needs_strength_and_no_specific_adapter() -> None:
    weak = detect_kit(_sample({"polya_noise": 0.2, "none": 0.8}))
    assert weak.chosen is None
    strong = detect_kit(_sample({"polya_noise": 0.6, "none": 0.4}))
    # poly-A without miRNA anchors: CATS on poly-A strength alone
    assert strong.chosen == "cats"
    # poly-A with the TruSeq adapter in 20 % of reads: TruSeq, not CATS
    det = detect_kit(_sample({"truseq": 0.2, "polya_noise": 0.8}))
    assert det.chosen == "truseq", det.reason


def test_template_switch_signature_supports_weak_polya() -> None:
    """20 % CATS reads (poly-A under 30 %) with miRNAs at offset 3: CATS."""
    det = detect_kit(_sample({"cats": 0.2, "none": 0.8}))
    assert det.candidates["polya"] < 0.3 and det.offset == 3
    assert det.chosen == "cats", det.reason


def test_offset_contradicts_cats() -> None:
    """Poly-A reads whose miRNAs start at 0 are not CATS (no template switch)."""
    rng = random.Random(2)
    sample = Counter(
        (_insert(rng) + "A" * 30 + _rand(rng, 50))[:50] for _ in range(4000)
    )
    det = detect_kit(sample)
    assert det.offset == 0 and det.chosen is None
    assert "fits none of cats" in det.reason


# --------------------------------------------------------------------------- #
# Suggestion rule
# --------------------------------------------------------------------------- #


def test_suggestion_needs_clear_evidence() -> None:
    det = detect_kit(_sample({"qiaseq": 1.0}))
    truseq = PRESETS["truseq"]
    # configured adapter missing, detected one strong: suggest
    assert "use protocol 'qiaseq'" in suggest_protocol(det, truseq, 0.01, 0.10)
    # configured adapter above the failure gate: no suggestion
    assert suggest_protocol(det, truseq, 0.15, 0.10) == ""
    # detected share not 3x the configured one: no suggestion
    weak = kit.KitDetection(
        sample_reads=1000,
        candidates={"qiaseq": 0.25},
        chosen="qiaseq",
        adapter="qiaseq",
    )
    assert suggest_protocol(weak, truseq, 0.09, 0.10) == ""
    # undetermined: nothing to suggest
    assert suggest_protocol(detect_kit(_sample({"none": 1.0})), truseq, 0, 0.1) == ""
    # same adapter, offset evidence: nextflex reads declared truseq
    nf = detect_kit(_sample({"nextflex": 1.0}, length=75))
    assert "use protocol 'nextflex'" in suggest_protocol(nf, truseq, 0.95, 0.10)


def test_thresholds_from_config() -> None:
    th = KitThresholds.from_mapping({"sample_reads": 500, "dominance": 2})
    assert th.sample_reads == 500 and th.dominance == 2
    with pytest.raises(ValueError, match="unknown kit_detection"):
        KitThresholds.from_mapping({"sample": 1})
    with pytest.raises(ValueError, match="min_share"):
        KitThresholds.from_mapping({"min_share": 2})


def test_protocol_from_spec() -> None:
    assert protocol_from_spec({"preset": "truseq"}) == PRESETS["truseq"]
    auto = protocol_from_spec(
        {"name": "auto", "presets": {"cats": {"adapter_3p": "A" * 10, "clip_5p": 3}}},
        {"sample_reads": 10},
    )
    assert isinstance(auto, kit.AutoProtocol)
    assert auto.presets["cats"].adapter_3p == "A" * 10
    assert auto.presets["illumina_v15"].adapter_3p == V15  # built-in fills in
    assert auto.thresholds.sample_reads == 10


# --------------------------------------------------------------------------- #
# The project's read simulator
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory):
    """Simulated plasma libraries of three kits and a v1.5-adapter layout."""
    from exomir.simulate.library import simulate_library
    from exomir.simulate.params import resolve_params
    from exomir.simulate.readmodel import build_read_params
    from exomir.simulate.references import load_references
    from exomir.simulate.study import simulate_trial

    params = resolve_params(preset="demo", participants=2)
    sim = simulate_trial(params, 7)
    refs = load_references(params)
    sample = str(sim.samples["sample_id"].iloc[0])
    d = tmp_path_factory.mktemp("kits")
    out = {}
    for proto, adapter, name in (
        ("truseq", "", "truseq"),
        ("nextflex", "", "nextflex"),
        ("qiaseq", "", "qiaseq"),
        ("truseq", V15, "illumina_v15"),
    ):
        path = d / f"{name}.fastq.gz"
        simulate_library(
            sample,
            path,
            4000,
            sim.probs[sample],
            proto,
            build_read_params(params),
            np.random.default_rng(11),
            refs.hairpins,
            refs.mature_in_hairpin,
            refs.contaminants,
            adapter,
            mature=refs.mature,
        )
        out[name] = path
    return out


@pytest.mark.parametrize("name", ["truseq", "nextflex", "qiaseq", "illumina_v15"])
def test_simulated_libraries(simulated: dict[str, Path], name: str) -> None:
    det = detect_kit_in_file(simulated[name])
    assert det.chosen == name, det.reason


def _outputs(d: Path) -> LibraryOutputs:
    return LibraryOutputs(
        collapsed=d / "L.fa.gz",
        stats=d / "L.json",
        mirna=d / "L.mirna.tsv",
        isomir=d / "L.isomir.tsv",
        annotation=d / "L.ann.json",
        gff=d / "L.gff",
    )


def test_process_library_auto(simulated, hsa_ref, tmp_path: Path) -> None:
    """protocol auto: the detected kit is used and its evidence recorded."""
    auto = protocol_from_spec({"name": "auto"})
    out = _outputs(tmp_path / "auto")
    res = process_library(
        simulated["nextflex"], hsa_ref, out, auto, TrimSettings(), threads=1
    )
    ref = _outputs(tmp_path / "ref")
    process_library(
        simulated["nextflex"], hsa_ref, ref, PRESETS["nextflex"], TrimSettings()
    )
    js = json.loads(Path(out.stats).read_text())
    assert js["protocol"] == "nextflex" and js["failed_reason"] == ""
    assert js["kit_detection"]["chosen"] == "nextflex"
    assert js["kit_detection"]["candidates"]["truseq"] > 0.5
    # the same counts as the library declared nextflex
    assert Path(out.mirna).read_bytes() == Path(ref.mirna).read_bytes()
    assert res.stats.passed_reads > 0


def test_process_library_undetermined_stops_library(hsa_ref, tmp_path: Path) -> None:
    rng = random.Random(9)
    path = tmp_path / "junk.fastq.gz"
    with gzip.open(path, "wt") as fh:
        for i in range(500):
            seq = _rand(rng, 50)
            fh.write(f"@r{i}\n{seq}\n+\n{'I' * 50}\n")
    out = _outputs(tmp_path / "o")
    res = process_library(
        path, hsa_ref, out, protocol_from_spec({"name": "auto"}), TrimSettings()
    )
    for p in vars(out).values():
        assert Path(p).exists(), p
    js = json.loads(Path(out.stats).read_text())
    assert js["raw_reads"] == 500 and js["no_adapter"] == 500
    assert js["passed_reads"] == 0 and js["protocol"] == "auto"
    assert js["failed_reason"].startswith("library kit could not be determined")
    assert "truseq 0.0%" in js["failed_reason"]
    assert js["kit_detection"]["chosen"] is None
    assert sum(js["length_hist"]["no_adapter"]) == 500
    assert res.annotation is not None


def test_bad_fastq_names_file_and_record(tmp_path: Path) -> None:
    from exomir.reads.fastq import FastqFormatError

    path = tmp_path / "bad.fastq"
    path.write_text("@r1\nACGT\n+\nIIII\n@r2\nACGT\nIIII\n")
    with pytest.raises(FastqFormatError, match=r"bad\.fastq: record 2"):
        kit.read_sample(path, 100)


def test_cli_detect_kit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exomir.cli import main

    assert main(["detect-kit", str(REAL / "QiaSeq_data.fastq.gz")]) == 0
    assert ": qiaseq: QIAGEN QIAseq miRNA adapter" in capsys.readouterr().out
    junk = tmp_path / "junk.fastq"
    junk.write_text("".join(f"@r{i}\n{'ACGT' * 8}\n+\n{'I' * 32}\n" for i in range(50)))
    assert main(["detect-kit", "--json", str(junk)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out[str(junk)]["chosen"] is None
    bad = tmp_path / "bad.fastq"
    bad.write_text("@r1\nACGT\n")
    assert main(["detect-kit", str(bad)]) == 2
    assert "bad.fastq: record 1" in capsys.readouterr().err


def _write_fastq(path: Path, sample: Counter[str]) -> None:
    with gzip.open(path, "wt") as fh:
        i = 0
        for seq, n in sorted(sample.items()):
            for _ in range(n):
                i += 1
                fh.write(f"@r{i}\n{seq}\n+\n{'I' * len(seq)}\n")


def test_v15_library_preprocess_json(tmp_path: Path) -> None:
    """The reported library: v1.5 adapter in ~2/3 of 50-nt reads, poly-A in ~1/3.

    Before: the JSON suggested ``cats``. Now the configured v1.5 adapter gives
    no suggestion, and a library wrongly declared TruSeq fails with the v1.5
    preset (not CATS) as the suggestion.
    """
    path = tmp_path / "gaiix.fastq.gz"
    _write_fastq(path, _sample({"v15": 0.63, "polya_noise": 0.37}, n=4000))
    custom = Protocol("custom", V15)
    _, stats = collapse_library(path, custom, TrimSettings())
    assert 0.55 < stats.adapter_fraction < 0.75
    assert stats.suggestion == "" and stats.detection["suggestion"] == ""
    assert stats.kit_detection["chosen"] == "illumina_v15"
    with pytest.raises(ValueError) as info:
        collapse_library(path, PRESETS["truseq"], TrimSettings())
    assert "use protocol 'illumina_v15'" in str(info.value)
    assert "cats" not in str(info.value).split("use protocol")[1]


#: The presets the shipped config.yaml listed before they got one home in
#: exomir.reads.protocols (written out here as the independent truth).
FORMER_CONFIG_PRESETS = {
    "truseq": ("TGGAATTCTCGGGTGCCAAGG", 0, 0, "none"),
    "nextflex": ("TGGAATTCTCGGGTGCCAAGG", 4, 4, "none"),
    "qiaseq": ("AACTGTAGGCACCATCAAT", 0, 0, "qiaseq12"),
    "cats": ("AAAAAAAAAA", 3, 0, "none"),
    "illumina_v15": ("ATCTCGTATGCCGTCTTCTGCTTG", 0, 0, "none"),
    "illumina_v10": ("TCGTATGCCGTCTTCTGCTTG", 0, 0, "none"),
}


def test_config_protocols_are_the_built_in_presets_plus_overrides() -> None:
    import yaml

    from exomir.config import validate_config
    from exomir.reads.kit import CANDIDATES

    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert "protocols" not in raw  # the presets live in the package
    table = validate_config(raw)["protocols"]
    got = {
        name: (p["adapter_3p"], p["clip_5p"], p["clip_3p"], p["umi"])
        for name, p in table.items()
    }
    assert got == FORMER_CONFIG_PRESETS
    assert list(table) == list(FORMER_CONFIG_PRESETS)
    raw["protocols"] = {
        "cats": {
            "adapter_3p": "GATCGGAAGAGC",
            "clip_5p": 3,
            "clip_3p": 0,
            "umi": "none",
        },
        "mykit": {
            "adapter_3p": "ACGTACGTACGT",
            "clip_5p": 1,
            "clip_3p": 2,
            "umi": "none",
        },
    }
    table = validate_config(raw)["protocols"]
    assert table["cats"]["adapter_3p"] == "GATCGGAAGAGC"
    assert table["mykit"]["clip_3p"] == 2
    assert table["truseq"]["adapter_3p"] == "TGGAATTCTCGGGTGCCAAGG"
    # kit detection sees the override too
    auto = protocol_from_spec({"name": "auto", "presets": table})
    assert auto.presets["cats"].adapter_3p == "GATCGGAAGAGC"
    assert CANDIDATES[0].adapter == PRESETS["truseq"].adapter_3p
