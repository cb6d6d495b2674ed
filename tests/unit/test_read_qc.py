"""Tests for exomir.reads.qc and exomir.reads.multiqc on tiny synthetic libraries.

Every library is described by a few numbers (``Lib``); the helpers write the
per-library files of docs/CONTRACTS.md (preprocess JSON in the format of
exomir.reads.preprocess, annotation JSON, ``.mirna.tsv``). Expected values are
computed by hand in the comments.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import runpy
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import pytest

from exomir.reads.funnel import collapsed_complexity, length_distribution, read_funnel
from exomir.reads.hemolysis import hemolysis_log2ratio
from exomir.reads.merge import merge_mirna_counts
from exomir.reads.multiqc import (
    CUSTOM_CONTENT_FILES,
    MultiQCSettings,
    make_multiqc_report,
)
from exomir.reads.qc import (
    QCGates,
    dimer_reads,
    read_qc_settings,
    run_read_qc,
)

CONTAMINANTS = ["artifact", "rRNA", "tRNA", "snoRNA_snRNA"]
#: Gates with the haemolysis MAD flag switched off (k huge), for gate tests.
NO_MAD = {"hemolysis_mad_k": 1000}


@dataclass
class Lib:
    """One synthetic library (defaults: a clean library that passes)."""

    sample: str
    raw: int = 2_000_000
    no_adapter: int = 100_000
    dimer: int = 200_000
    short: int = 100_000
    long_: int = 100_000
    umi_dup: int = 0
    umi: bool = False
    n_mirnas: int = 120
    mirna_each: int = 5_000
    c451: int = 20_000
    c23: int = 5_000
    extra_mirnas: list[tuple[str, int]] = field(default_factory=list)
    artifact: int = 10_000
    rrna: int = 90_000
    trna: int = 200_000
    sno: int = 50_000
    hairpin: int = 10_000
    exclude: bool = False
    exclude_reason: str = ""
    a414: float | None = None

    @property
    def passed(self) -> int:
        return self.raw - self.no_adapter - self.dimer - self.short - self.long_

    @property
    def molecules(self) -> int:
        return self.passed - self.umi_dup

    def mirna_rows(self) -> list[tuple[str, int]]:
        rows = [
            (f"hsa-miR-{1000 + i}-5p", self.mirna_each) for i in range(self.n_mirnas)
        ]
        rows += [("hsa-miR-451a", self.c451), ("hsa-miR-23a-3p", self.c23)]
        return sorted(rows + self.extra_mirnas)

    @property
    def mirna(self) -> int:
        return sum(c for _, c in self.mirna_rows())

    @property
    def unassigned(self) -> int:
        other = self.artifact + self.rrna + self.trna + self.sno + self.hairpin
        value = self.molecules - self.mirna - other
        assert value >= 0, "inconsistent synthetic library"
        return value


def write_library(root: Path, lib: Lib) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    hist_passed = [0] * 16 + [lib.passed // 4, lib.passed // 2, lib.passed // 4]
    hist_passed[17] += lib.passed - sum(hist_passed)
    pre = {
        "sample": lib.sample,
        "protocol": "qiaseq" if lib.umi else "truseq",
        "protocol_settings": {"umi": "qiaseq12" if lib.umi else "none"},
        "raw_reads": lib.raw,
        "adapter_found": lib.raw - lib.no_adapter,
        "adapter_dimer": lib.dimer,
        "too_short": lib.short,
        "too_long": lib.long_,
        "no_adapter": lib.no_adapter,
        "no_umi": 0,
        "passed_reads": lib.passed,
        "umi_duplicates": lib.umi_dup,
        "molecules": lib.molecules,
        "unique_inserts": 10_000,
        "length_hist": {"passed": hist_passed, "adapter_dimer": [lib.dimer, 0, 0]},
    }
    ann = {
        "artifact": lib.artifact,
        "rRNA": lib.rrna,
        "tRNA": lib.trna,
        "snoRNA_snRNA": lib.sno,
        "mirna": lib.mirna,
        "hairpin_other": lib.hairpin,
        "unassigned": lib.unassigned,
        "multimapped_mirna": 100,
        "total": lib.molecules,
    }
    paths = {
        "pre": root / f"{lib.sample}.pre.json",
        "ann": root / f"{lib.sample}.json",
        "mirna": root / f"{lib.sample}.mirna.tsv",
    }
    paths["pre"].write_text(json.dumps(pre))
    paths["ann"].write_text(json.dumps(ann))
    paths["mirna"].write_text(
        "mirna\tcount\n" + "".join(f"{m}\t{c}\n" for m, c in lib.mirna_rows())
    )
    return paths


def sheet(libs: list[Lib]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [lib.sample for lib in libs],
            "participant_id": [f"P{i}" for i in range(len(libs))],
            "exclude": [lib.exclude for lib in libs],
            "exclude_reason": [lib.exclude_reason or None for lib in libs],
            "hemolysis_a414": [lib.a414 for lib in libs],
        }
    )


def run_cohort(tmp_path: Path, libs: list[Lib], gates: dict | None = None) -> dict:
    files = {lib.sample: write_library(tmp_path / "lib", lib) for lib in libs}
    merge_mirna_counts(
        {s: f["mirna"] for s, f in files.items()}, tmp_path / "mirna_counts.tsv"
    )
    qc = tmp_path / "qc"
    outs = {
        "funnel": qc / "read_funnel.tsv",
        "pct": qc / "read_funnel_pct.tsv",
        "library_qc": qc / "library_qc.tsv",
        "passed": qc / "passed_samples.txt",
        "lengths": qc / "length_distribution.tsv",
    }
    verdicts = run_read_qc(
        {s: f["pre"] for s, f in files.items()},
        {s: f["ann"] for s, f in files.items()},
        tmp_path / "mirna_counts.tsv",
        sheet(libs),
        gates=gates,
        contaminants=CONTAMINANTS,
        funnel_out=outs["funnel"],
        funnel_pct_out=outs["pct"],
        library_qc_out=outs["library_qc"],
        passed_out=outs["passed"],
        lengths_out=outs["lengths"],
    )
    return {"verdicts": verdicts.set_index("sample_id"), **outs}


def text_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).set_index(
        "sample_id"
    )


# --------------------------------------------------------------------------- #
# Read funnel and length distribution
# --------------------------------------------------------------------------- #


def test_read_funnel_counts_and_percentages(tmp_path):
    good = Lib("S1")
    umi = Lib("S2", umi=True, umi_dup=500_000, trna=100_000)
    out = run_cohort(tmp_path, [good, umi])
    funnel = text_table(out["funnel"])
    assert list(funnel.columns) == [
        "raw_reads", "adapter_found", "adapter_dimer", "too_short", "too_long",
        "no_adapter", "no_umi", "passed_reads", "umi_duplicates",
        "artifact", "rRNA", "tRNA", "snoRNA_snRNA",
        "mirna", "hairpin_other", "unassigned", "multimapped_mirna",
        "annotated_total", "no_adapter_short", "annotated_no_adapter",
        "annotated_too_long", "count_unit",
    ]  # fmt: skip
    # S1: passed = 2,000,000 - 100,000 - 200,000 - 100,000 - 100,000 = 1,500,000
    # mirna = 120 x 5,000 + 20,000 + 5,000 = 625,000
    # unassigned = 1,500,000 - 625,000 - (10k + 90k + 200k + 50k + 10k) = 515,000
    assert funnel.loc["S1"].tolist() == [
        "2000000", "1900000", "200000", "100000", "100000", "100000", "0",
        "1500000", "0", "10000", "90000", "200000", "50000",
        "625000", "10000", "515000", "100", "1500000",
        "100000", "0", "0", "reads",
    ]  # fmt: skip
    # S2 (UMI): molecules = 1,500,000 - 500,000; categories are molecules
    assert funnel.loc["S2", "umi_duplicates"] == "500000"
    assert funnel.loc["S2", "annotated_total"] == "1000000"
    assert funnel.loc["S2", "count_unit"] == "molecules"

    pct = text_table(out["pct"])
    assert "raw_reads" not in pct.columns
    assert pct.loc["S1", "adapter_dimer"] == "10.0000"  # 200k / 2M
    assert pct.loc["S1", "passed_reads"] == "75.0000"  # 1.5M / 2M
    assert pct.loc["S1", "mirna"] == "41.6667"  # 625k / 1.5M annotated
    assert pct.loc["S1", "umi_duplicates"] == "0.0000"
    assert pct.loc["S2", "umi_duplicates"] == "33.3333"  # 500k / (500k + 1M)
    assert pct.loc["S2", "mirna"] == "62.5000"  # 625k / 1M molecules


def test_long_inserts_join_the_funnel_and_every_read_is_counted_once():
    """Reads without the adapter and too-long inserts are annotated too.

    Hand-computed: 1,000 raw reads = 20 dimers + 80 too short + 700 passed
    + 150 without the adapter (30 of them shorter than min_length) + 50 too
    long. The 170 long-insert reads are annotated (never miRNA) and join the
    categories; the categories then add up to ``annotated_total`` and the
    disjoint final categories to the raw reads.
    """
    pre = {
        "raw_reads": 1000, "adapter_found": 850, "no_adapter": 150,
        "adapter_dimer": 20, "too_short": 80, "too_long": 50, "passed_reads": 700,
        "no_adapter_short": 30, "molecules": 700,
    }  # fmt: skip
    ann = dict.fromkeys(CONTAMINANTS, 0)
    ann.update(mirna=600, hairpin_other=0, unassigned=100, total=700)
    ann["long_inserts"] = dict.fromkeys(CONTAMINANTS, 0)
    ann["long_inserts"].update(
        artifact=40, rRNA=70, mirna=0, hairpin_other=10, unassigned=50, total=170
    )
    row = read_funnel({"A": pre}, {"A": ann}, CONTAMINANTS).loc["A"]
    assert row["annotated_total"] == 870
    assert (row["artifact"], row["rRNA"], row["hairpin_other"]) == (40, 70, 10)
    assert (row["mirna"], row["unassigned"]) == (600, 150)
    assert (row["no_adapter_short"], row["annotated_no_adapter"]) == (30, 120)
    assert row["annotated_too_long"] == 50
    cats = [*CONTAMINANTS, "mirna", "hairpin_other", "unassigned"]
    assert sum(row[c] for c in cats) == row["annotated_total"]
    final = ["adapter_dimer", "too_short", "no_umi", "umi_duplicates"]
    final += ["no_adapter_short", "annotated_total"]
    assert sum(row[c] for c in final) == row["raw_reads"]
    # the MultiQC stacked bar counts each read once too (no "other" segment)
    from exomir.reads.multiqc import funnel_segments

    seg = funnel_segments(read_funnel({"A": pre}, {"A": ann}, CONTAMINANTS))
    assert "other" not in seg.columns
    assert int(seg.loc["A"].sum()) == 1000
    assert (seg.loc["A", "no_adapter"], seg.loc["A", "too_long"]) == (30, 0)


def test_too_short_counting_dimers_is_made_disjoint():
    pre = {
        "raw_reads": 100, "adapter_found": 90, "no_adapter": 10,
        "adapter_dimer": 20, "too_short": 30, "too_long": 5, "passed_reads": 55,
    }  # fmt: skip
    ann = dict.fromkeys([*CONTAMINANTS, "hairpin_other", "unassigned"], 0)
    ann["mirna"] = 55
    funnel = read_funnel({"A": pre}, {"A": ann}, CONTAMINANTS)
    # 90 = 30 + 5 + 55: too_short includes the 20 dimers -> 10 short inserts
    assert funnel.loc["A", ["adapter_dimer", "too_short"]].tolist() == [20, 10]
    pre_disjoint = dict(pre, too_short=10)  # 90 = 20 + 10 + 5 + 55
    funnel = read_funnel({"A": pre_disjoint}, {"A": ann}, CONTAMINANTS)
    assert funnel.loc["A", ["adapter_dimer", "too_short"]].tolist() == [20, 10]


def test_missing_annotation_category_is_an_error():
    pre = {
        "raw_reads": 10, "adapter_found": 10, "adapter_dimer": 0, "too_short": 0,
        "too_long": 0, "passed_reads": 10,
    }  # fmt: skip
    ann = {"mirna": 10, "hairpin_other": 0, "unassigned": 0, "rRNA": 0}
    with pytest.raises(
        ValueError, match="annotation JSON of A: missing count 'artifact'"
    ):
        read_funnel({"A": pre}, {"A": ann}, CONTAMINANTS)


def test_length_distribution_long_table(tmp_path):
    out = run_cohort(tmp_path, [Lib("S1"), Lib("S2", dimer=100_000)])
    lengths = pd.read_csv(out["lengths"], sep="\t")
    assert list(lengths.columns) == ["sample_id", "category", "length", "reads"]
    s1 = lengths[lengths["sample_id"] == "S1"]
    # categories sorted, lengths ascending, zeros kept
    assert s1["category"].tolist() == ["adapter_dimer"] * 3 + ["passed"] * 19
    dimer = s1[s1["category"] == "adapter_dimer"]
    assert dimer[["length", "reads"]].values.tolist() == [[0, 200_000], [1, 0], [2, 0]]
    passed = s1[s1["category"] == "passed"].set_index("length")["reads"]
    assert passed.sum() == 1_500_000
    assert passed.loc[16:18].tolist() == [375_000, 750_000, 375_000]
    assert lengths["sample_id"].drop_duplicates().tolist() == ["S1", "S2"]


def test_length_distribution_accepts_flat_histogram():
    df = length_distribution({"A": {"length_distribution": {"22": 5, "21": 3}}})
    assert df.values.tolist() == [
        ["A", "all_inserts", 21, 3],
        ["A", "all_inserts", 22, 5],
    ]


# --------------------------------------------------------------------------- #
# Verdicts: one test per gate, exact reason text
# --------------------------------------------------------------------------- #


GATE_CASES = [
    (
        Lib("RAW", raw=900_000, no_adapter=10_000, dimer=50_000, short=20_000,
            long_=20_000, trna=50_000, sno=10_000, artifact=5_000, rrna=10_000,
            hairpin=5_000),
        "raw reads 900,000 < 1,000,000 (gate qc.min_raw_reads): below the depth "
        "gate; small test libraries need smaller gates (see 'QC gates' in "
        "config/README.md)",
    ),
    (
        # 120 x 350 + 900 + 220 = 43,120 miRNA reads
        Lib("MIR", mirna_each=350, c451=900, c23=220, trna=800_000),
        "mirna reads 43,120 < 100,000 (gate qc.min_mirna_reads)",
    ),
    (
        # (625,000 + 10,000 + 20,000 + 5,000) / (660,000 + 740,000) = 0.4714
        Lib("ANN", trna=20_000, sno=5_000),
        "annotated fraction 0.471 < 0.5 (gate qc.min_annotated_fraction)",
    ),
    (
        # 1,600,000 0-nt inserts / 3,000,000 = 0.5333 (short inserts not counted)
        Lib("DIM", raw=3_000_000, dimer=1_600_000, short=0),
        "adapter-dimer share (insert 0 nt) 0.533 > 0.5 (gate qc.max_adapter_dimer)",
    ),
    (
        # 97 + miR-451a + miR-23a-3p = 99 miRNAs >= 10; the one with 9 reads not
        Lib("N10", n_mirnas=97, mirna_each=6_000, extra_mirnas=[("hsa-miR-9", 9)]),
        "miRNAs with >= 10 reads 99 < 100 (gate qc.min_mirnas_ge10)",
    ),
    (Lib("A414", a414=0.35), "hemolysis A414 0.350 > 0.3 (gate qc.max_a414)"),
    (
        Lib("EXC", exclude=True, exclude_reason="consent withdrawn"),
        "excluded in sample sheet: consent withdrawn",
    ),
    (Lib("EXN", exclude=True), "excluded in sample sheet (no reason given)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lib", "reason"), GATE_CASES, ids=[c[0].sample for c in GATE_CASES]
)
def test_each_gate_reason_text(tmp_path, lib, reason):
    out = run_cohort(tmp_path, [Lib("GOOD"), lib], gates=NO_MAD)
    qc = text_table(out["library_qc"])
    assert qc.loc[lib.sample, "pass"] == "false"
    assert qc.loc[lib.sample, "reasons"] == reason
    assert qc.loc["GOOD", "pass"] == "true"
    assert qc.loc["GOOD", "reasons"] == ""
    assert out["passed"].read_text() == "GOOD\n"


def test_warn_level_adapter_dimer_passes_with_warning(tmp_path):
    # 650,000 / 2,000,000 = 0.325: above warn 0.3, below fail 0.5
    lib = Lib("WARN", dimer=650_000, short=50_000, no_adapter=50_000, long_=50_000)
    out = run_cohort(tmp_path, [lib], gates=NO_MAD)
    qc = text_table(out["library_qc"])
    assert qc.loc["WARN", "pass"] == "true"
    assert qc.loc["WARN", "warnings"] == (
        "adapter-dimer share (insert 0 nt) 0.325 > 0.3 (warn qc.warn_adapter_dimer)"
    )
    assert qc.loc["WARN", "adapter_dimer_share"] == "0.325000"
    assert qc.loc["WARN", "short_insert_share"] == "0.025000"


def test_short_inserts_warn_and_do_not_count_as_dimers(tmp_path):
    # 10,000 dimers and 700,000 1-15-nt inserts of 2,000,000 reads: the old
    # combined share (0.355) would have warned about dimers; now the dimers are
    # 0.005 (no warning) and the short inserts 0.350 get their own warning
    lib = Lib("DEG", dimer=10_000, short=700_000, no_adapter=50_000, long_=50_000)
    out = run_cohort(tmp_path, [lib], gates=NO_MAD)
    qc = text_table(out["library_qc"])
    assert qc.loc["DEG", "pass"] == "true"
    assert qc.loc["DEG", "adapter_dimer_share"] == "0.005000"
    assert qc.loc["DEG", "short_insert_share"] == "0.350000"
    assert qc.loc["DEG", "warnings"] == (
        "short inserts (below trimming.min_length) 0.350 > 0.3 (warn "
        "qc.warn_short_inserts): degraded or fragmented RNA, not adapter dimers"
    )


def test_dimer_max_insert_counts_few_nt_inserts_from_the_histogram():
    funnel = pd.DataFrame(
        {"adapter_dimer": [5, 7], "too_short": [100, 0]}, index=["A", "B"]
    )
    lengths = pd.DataFrame(
        {
            "sample_id": ["A"] * 5,
            "category": ["too_short"] * 4 + ["passed"],
            "length": [1, 2, 3, 4, 2],
            "reads": [10, 20, 30, 40, 999],
        }
    )
    # A: 5 + (10 + 20 + 30) for inserts of 1-3 nt; B has no short inserts
    assert list(dimer_reads(funnel, lengths, 3)) == [65, 7]
    assert list(dimer_reads(funnel, lengths, 0)) == [5, 7]
    assert list(dimer_reads(funnel, None, 3)) == [5, 7]


def test_several_reasons_joined_in_gate_order(tmp_path):
    lib = Lib(
        "BAD", raw=900_000, no_adapter=10_000, dimer=50_000, short=20_000,
        long_=20_000, mirna_each=350, c451=900, c23=220, trna=50_000, sno=10_000,
        artifact=5_000, rrna=10_000, hairpin=5_000, a414=0.5,
    )  # fmt: skip
    out = run_cohort(tmp_path, [lib], gates=NO_MAD)
    qc = text_table(out["library_qc"])
    assert qc.loc["BAD", "reasons"] == (
        "raw reads 900,000 < 1,000,000 (gate qc.min_raw_reads): below the depth "
        "gate; small test libraries need smaller gates (see 'QC gates' in "
        "config/README.md); "
        "mirna reads 43,120 < 100,000 (gate qc.min_mirna_reads); "
        # (43,120 + 5,000 + 50,000 + 10,000) / (108,120 + 676,880 unassigned)
        "annotated fraction 0.138 < 0.5 (gate qc.min_annotated_fraction); "
        "hemolysis A414 0.500 > 0.3 (gate qc.max_a414)"
    )


def test_umi_library_reports_molecules(tmp_path):
    lib = Lib("Q", umi=True, umi_dup=500_000, trna=600_000, mirna_each=300,
              c451=1_000, c23=250)  # fmt: skip
    out = run_cohort(tmp_path, [lib], gates=NO_MAD)
    qc = text_table(out["library_qc"])
    # 120 x 300 + 1,000 + 250 = 37,250 molecules
    assert qc.loc["Q", "reasons"] == (
        "mirna molecules 37,250 < 100,000 (gate qc.min_mirna_reads)"
    )
    assert qc.loc["Q", "count_unit"] == "molecules"
    assert qc.loc["Q", "umi_duplicate_rate"] == "0.333333"


def test_metrics_and_formatting(tmp_path):
    out = run_cohort(tmp_path, [Lib("S1", a414=0.1)])
    row = text_table(out["library_qc"]).loc["S1"]
    assert row["raw_reads"] == "2000000"
    assert row["mirna_reads"] == "625000"
    # (625,000 + 10,000 + 200,000 + 50,000) / (885,000 + 515,000): artifact and
    # rRNA are left out of numerator and denominator
    assert row["annotated_fraction"] == f"{885_000 / 1_400_000:.6f}"
    assert row["adapter_dimer_share"] == "0.100000"  # 200k 0-nt inserts / 2M
    assert row["short_insert_share"] == "0.050000"  # 100k 1-15-nt inserts / 2M
    assert row["n_mirnas_ge10"] == "122"
    # RPM: 20,000 / 625,000 * 1e6 = 32,000 and 5,000 / 625,000 * 1e6 = 8,000
    assert row["hemolysis_log2ratio"] == f"{math.log2(32_001 / 8_001):.6f}"
    assert row["hemolysis_threshold"] == ""  # cohort of 1: no MAD threshold
    assert row["hemolysis_flag"] == "false"
    assert row["hemolysis_a414"] == "0.100000"
    assert row["unique_inserts"] == "10000"
    assert row["complexity"] == f"{10_000 / 1_500_000:.6f}"
    assert row["top10_fraction"] == ""  # no collapsed FASTA given
    assert row["umi_duplicate_rate"] == ""  # not a UMI library
    assert row["excluded"] == "false"


# --------------------------------------------------------------------------- #
# Haemolysis MAD flag and exclusion
# --------------------------------------------------------------------------- #


def _log2ratio(lib: Lib) -> float:
    total = lib.mirna
    return math.log2((lib.c451 / total * 1e6 + 1) / (lib.c23 / total * 1e6 + 1))


def test_hemolysis_mad_flags_only_the_planted_library(tmp_path):
    clean = [Lib(f"C{i}", c451=c) for i, c in enumerate([20_000, 21_000, 19_000, 22_000, 18_000, 20_500])]  # fmt: skip
    planted = Lib("HEMO", c451=200_000)
    # excluded library with an extreme ratio: must not move the cohort statistics
    excluded = Lib("EXC", c451=300_000, exclude=True, exclude_reason="clotted")
    libs = [*clean, planted, excluded]
    out = run_cohort(tmp_path, libs)
    qc = text_table(out["library_qc"])

    cohort = [_log2ratio(lib) for lib in [*clean, planted]]
    med = statistics.median(cohort)
    mad = 1.4826 * statistics.median(abs(r - med) for r in cohort)
    thr = med + 3 * mad
    assert qc.loc["HEMO", "hemolysis_flag"] == "true"
    assert qc.loc["HEMO", "warnings"] == (
        f"hemolysis log2(miR-451a/miR-23a-3p) {_log2ratio(planted):.2f} > {thr:.2f} "
        f"(cohort median {med:.2f} + 3 x MAD {mad:.2f}; flag qc.hemolysis_mad_k)"
    )
    # a flag is a warning by default: the library still passes
    assert qc.loc["HEMO", "pass"] == "true"
    assert float(qc.loc["C0", "hemolysis_threshold"]) == pytest.approx(thr, abs=1e-6)
    for lib in clean:
        assert qc.loc[lib.sample, "hemolysis_flag"] == "false"
        assert qc.loc[lib.sample, "warnings"] == ""
    assert qc.loc["EXC", "pass"] == "false"
    assert qc.loc["EXC", "reasons"] == "excluded in sample sheet: clotted"
    assert qc.loc["EXC", "exclude_reason"] == "clotted"
    passed = out["passed"].read_text().splitlines()
    assert passed == [lib.sample for lib in [*clean, planted]]

    strict = run_cohort(
        tmp_path / "strict", libs, gates={"fail_on_hemolysis_flag": True}
    )
    qc = text_table(strict["library_qc"])
    assert qc.loc["HEMO", "pass"] == "false"
    assert qc.loc["HEMO", "reasons"].startswith("hemolysis log2(miR-451a/miR-23a-3p)")


def test_gates_from_config_mapping(caplog):
    config = {
        "min_raw_reads": 1000000, "min_mirna_reads": 100000,
        "min_annotated_fraction": 0.5, "max_adapter_dimer": 0.5,
        "warn_adapter_dimer": 0.3, "min_mirnas_ge10": 100, "hemolysis_mad_k": 3,
        "max_a414": 0.3,
    }  # fmt: skip
    assert QCGates.from_mapping(config) == QCGates()
    assert QCGates.from_mapping(None) == QCGates()
    with caplog.at_level(logging.WARNING):
        gates = QCGates.from_mapping({"min_raw_reads": 5, "pca_outlier_sd": 4})
    assert gates.min_raw_reads == 5
    assert "ignoring unknown qc keys: pca_outlier_sd" in caplog.text


def test_collapsed_complexity(tmp_path):
    path = tmp_path / "S.fa.gz"
    counts = [500, 200, 100, 50, 40, 30, 20, 10, 10, 10, 5, 5, 5, 5, 5, 5]
    with gzip.open(path, "wt") as fh:
        for rank, c in enumerate(counts, start=1):
            fh.write(f">P001_BL_{rank}_x{c}\nACGTACGTACGTACGTACGT\n")
    result = collapsed_complexity(path)
    total = sum(counts)  # 1,000
    assert result == {
        "unique_inserts": 16.0,
        "collapsed_total": float(total),
        "complexity": 16 / total,
        "top10_fraction": 970 / total,
    }


# --------------------------------------------------------------------------- #
# MultiQC custom content
# --------------------------------------------------------------------------- #


def test_multiqc_parses_custom_content(tmp_path):
    libs = [
        Lib("P001_BL"),
        Lib("P001_WK1", umi=True, umi_dup=500_000, trna=100_000),
        replace(Lib("P002_BL", c451=200_000), a414=0.4),
    ]
    out = run_cohort(tmp_path, libs)
    content = tmp_path / "multiqc" / "custom_content"
    report = tmp_path / "multiqc" / "multiqc_report.html"
    files = make_multiqc_report(
        out["funnel"],
        out["lengths"],
        out["library_qc"],
        content,
        report,
        extra_inputs=[tmp_path / "no_trimmer_logs_here"],
        title="exomir test",
    )
    assert [f.name for f in files[:-1]] == list(CUSTOM_CONTENT_FILES)
    assert files[-1] == report and report.exists()
    for f in files[:-1]:
        text = f.read_text()
        if f.suffix == ".tsv":
            assert text.startswith("# id: exomir_")
            assert "# plot_type: " in text
        else:
            assert text.startswith("id: exomir_")
        if "general_stats" not in f.name:
            assert "section_name: " in text
    plot_types = {
        "exomir_read_funnel_mqc.tsv": "bargraph",
        "exomir_length_distribution_mqc.yaml": "linegraph",
        "exomir_library_qc_mqc.tsv": "table",
        "exomir_general_stats_mqc.tsv": "generalstats",
    }
    for name, plot_type in plot_types.items():
        assert f"plot_type: {plot_type}\n" in (content / name).read_text()

    data_dir = report.parent / "multiqc_report_data"
    data = json.loads((data_dir / "multiqc_data.json").read_text())
    assert set(data["report_plot_data"]) >= {
        "exomir_read_funnel_plot",
        "exomir_length_distribution_plot",
        "exomir_library_qc_table",
        "exomir_complexity_table",
        "exomir_hemolysis_table",
    }
    gs_headers = data["report_general_stats_headers"]
    gs_columns = {c for h in gs_headers.values() for c in h}
    assert {"exomir_qc", "exomir_mirna_reads", "exomir_hemolysis"} <= gs_columns
    html = report.read_text()
    for section in ("exomir_library_qc", "exomir_read_funnel", "exomir_hemolysis"):
        assert f'id="{section}-section"' in html
    # the stacked bar adds up to the raw reads, sample names unchanged
    bars = pd.read_csv(data_dir / "multiqc_exomir_read_funnel_plot.txt", sep="\t")
    bars = bars.set_index("Sample")
    assert bars.sum(axis=1).to_dict() == {lib.sample: lib.raw for lib in libs}
    assert bars.loc["P001_WK1", "umi_duplicates"] == 500_000
    qc = pd.read_csv(data_dir / "multiqc_exomir_library_qc_table.txt", sep="\t")
    assert qc.set_index("Sample").loc["P002_BL", "qc"] == "FAIL"
    lengths = pd.read_csv(
        data_dir / "multiqc_exomir_length_distribution_plot.txt", sep="\t"
    ).set_index("Sample")
    assert sorted(lengths.index) == sorted(lib.sample for lib in libs)
    assert lengths.sum(axis=1).round(6).tolist() == [100.0] * 3


# --------------------------------------------------------------------------- #
# Snakemake shims (run as scripts with a stand-in ``snakemake`` object)
# --------------------------------------------------------------------------- #

SCRIPTS = Path(__file__).resolve().parents[2] / "workflow" / "scripts"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)


def _run_shim(name: str, **parts) -> None:
    from types import SimpleNamespace

    from snakemake.iocontainers import Namedlist

    smk = SimpleNamespace(
        input=Namedlist(fromdict=parts["input"]),
        output=Namedlist(fromdict=parts["output"]),
        params=Namedlist(fromdict=parts["params"]),
        log=[str(parts["log"])],
        threads=1,
        rule=name.removesuffix(".py"),
    )
    runpy.run_path(str(SCRIPTS / name), init_globals={"snakemake": smk})


def test_shims_end_to_end(tmp_path, restore_logging):
    libs = [Lib("A_BL"), Lib("A_W1", a414=0.5), Lib("B_BL", exclude=True)]
    files = {lib.sample: write_library(tmp_path / "lib", lib) for lib in libs}
    for s in files:  # one isomiR per library is enough here
        (tmp_path / "lib" / f"{s}.isomir.tsv").write_text(
            "sequence\tmirna\tvariant\tcount\nAAACCGTTACCATTACTGAGTT\thsa-miR-451a\tNA\t7\n"
        )
    samples = tmp_path / "samples.tsv"
    samples.write_text(
        "sample_id\tparticipant_id\ttimepoint\tfastq\tprotocol\themolysis_a414\t"
        "exclude\texclude_reason\n"
        "A_BL\tA\tbaseline\tA_BL.fq.gz\ttruseq\t0.1\tfalse\t\n"
        "A_W1\tA\tweek1\tA_W1.fq.gz\ttruseq\t0.5\tfalse\t\n"
        "B_BL\tB\tbaseline\tB_BL.fq.gz\ttruseq\t\ttrue\tlost in transit\n"
    )
    participants = tmp_path / "participants.tsv"
    participants.write_text("participant_id\tarm\nA\tplacebo\nB\texosome\n")
    ids = [lib.sample for lib in libs]
    counts = tmp_path / "results" / "counts"
    qc = tmp_path / "results" / "qc"
    _run_shim(
        "merge_counts.py",
        input={
            "mirna": [str(files[s]["mirna"]) for s in ids],
            "isomir": [str(tmp_path / "lib" / f"{s}.isomir.tsv") for s in ids],
            "annotation": [str(files[s]["ann"]) for s in ids],
            "samples": str(samples),
            "participants": [str(participants)],
            "ev": [],
        },
        output={
            "mirna": str(counts / "mirna_counts.tsv"),
            "isomir": str(counts / "isomir_counts.tsv"),
            "h5ad": str(counts / "mirna.h5ad"),
        },
        params={"samples": ids},
        log=tmp_path / "logs" / "merge.log",
    )
    _run_shim(
        "read_qc.py",
        input={
            "preprocess": [str(files[s]["pre"]) for s in ids],
            "annotation": [str(files[s]["ann"]) for s in ids],
            "collapsed": [],
            "counts": str(counts / "mirna_counts.tsv"),
            "samples": str(samples),
        },
        output={
            "funnel": str(qc / "read_funnel.tsv"),
            "funnel_pct": str(qc / "read_funnel_pct.tsv"),
            "library_qc": str(qc / "library_qc.tsv"),
            "passed": str(qc / "passed_samples.txt"),
            "lengths": str(qc / "length_distribution.tsv"),
            "mirtrace": str(qc / "mirtrace_view.tsv"),
        },
        params={
            "settings": read_qc_settings(
                {
                    "reference": {"species": "hsa"},
                    "qc": {"min_raw_reads": 1_000_000, "max_a414": 0.3},
                    "contaminants": {c: [] for c in CONTAMINANTS},
                },
                ids,
            )
        },
        log=tmp_path / "logs" / "read_qc.log",
    )
    verdict = text_table(qc / "library_qc.tsv")
    assert verdict["pass"].to_dict() == {
        "A_BL": "true",
        "A_W1": "false",
        "B_BL": "false",
    }
    assert verdict.loc["B_BL", "reasons"] == "excluded in sample sheet: lost in transit"
    assert (qc / "passed_samples.txt").read_text() == "A_BL\n"
    html = tmp_path / "results" / "multiqc" / "multiqc_report.html"
    _run_shim(
        "multiqc_content.py",
        input={
            "funnel": str(qc / "read_funnel.tsv"),
            "lengths": str(qc / "length_distribution.tsv"),
            "library_qc": str(qc / "library_qc.tsv"),
        },
        output={
            "html": str(html),
            "data": str(html.parent / "multiqc_report_data"),
            "content": str(html.parent / "custom_content"),
        },
        params={"settings": MultiQCSettings(title="shim test")},
        log=tmp_path / "logs" / "multiqc.log",
    )
    assert html.exists()
    assert (html.parent / "custom_content" / CUSTOM_CONTENT_FILES[0]).exists()
    assert (html.parent / "multiqc_report_data" / "multiqc_data.json").exists()
    assert "wrote" in (tmp_path / "logs" / "merge.log").read_text()
    assert (
        "library QC: 1 passed, 2 failed"
        in (tmp_path / "logs" / "read_qc.log").read_text()
    )


def test_hemolysis_ratio_pseudocount_and_undetected_pair():
    counts = pd.DataFrame(
        {"A": [30, 10, 960], "B": [0, 0, 1000], "C": [0, 0, 0]},
        index=["hsa-miR-451a", "hsa-miR-23a-3p", "hsa-miR-1-5p"],
    )
    ratio = hemolysis_log2ratio(counts)
    # A: RPM 30,000 and 10,000 -> log2(30,001 / 10,001)
    assert ratio["A"] == pytest.approx(math.log2(30_001 / 10_001))
    assert math.isnan(ratio["B"])  # neither miRNA detected
    assert math.isnan(ratio["C"])  # no miRNA reads at all
    grouped = counts.rename(index={"hsa-miR-23a-3p": "hsa-miR-23a-3p/hsa-miR-23c"})
    assert hemolysis_log2ratio(grouped)["A"] == ratio["A"]


def test_stage_settings_are_built_from_the_config():
    """Parse-time settings: the species sets the haemolysis pair, trial the title."""
    from exomir.reads.multiqc import multiqc_settings

    cfg = {
        "reference": {"species": "mmu"},
        "qc": {"min_raw_reads": 10, "prefilter_categories": ["rRNA"]},
        "contaminants": {"rRNA": ["a.fa"], "tRNA": ["b.fa"]},
        "trial": {"id": "NCT1"},
    }
    settings = read_qc_settings(cfg, ["S2", "S1"])
    assert settings.samples == ("S2", "S1")
    assert settings.gates.min_raw_reads == 10
    assert settings.gates.prefilter_categories == ("rRNA",)
    assert settings.contaminants == ("rRNA", "tRNA")
    assert settings.hemolysis_pair == ("mmu-miR-451a", "mmu-miR-23a-3p")
    assert multiqc_settings(cfg).title == "exomir read QC: NCT1"
    assert multiqc_settings({}).title == "exomir read QC: QC-only study"


def test_complexity_takes_the_top_inserts_from_the_json_without_the_fasta(tmp_path):
    """With ``top_inserts_total`` in the JSON the FASTA is not opened."""
    from exomir.reads.funnel import complexity_table

    pre = {"S1": {"unique_inserts": 4, "molecules": 20, "top_inserts_total": 15}}
    missing = {"S1": tmp_path / "absent.fa.gz"}  # would raise if it were read
    table = complexity_table(pre, missing)
    assert table.loc["S1", "top10_fraction"] == 15 / 20
    assert table.loc["S1", "complexity"] == 4 / 20
    # older JSONs (no key) still read the FASTA
    fa = tmp_path / "S1.fa.gz"
    with gzip.open(fa, "wt") as fh:
        for rank, count in enumerate([9, 6, 3, 2], 1):
            fh.write(f">S1_{rank}_x{count}\nACGT\n")
    old = {"S1": {"unique_inserts": 4, "molecules": 20}}
    assert complexity_table(old, {"S1": fa}).loc["S1", "top10_fraction"] == 1.0
