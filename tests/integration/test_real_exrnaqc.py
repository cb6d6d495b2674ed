"""Workflow scenario ``real_exrnaqc``: three real serum/plasma libraries.

Healthy-donor libraries of the exRNAQC study (BSD-3, ``tests/data/real/exrnaqc``),
TruSeq-type, ~100-nt reads, protocol ``truseq`` given in the sample sheet.
Runs the workflow up to the read QC and checks that every read is accounted
for in ``read_funnel.tsv`` and ``mirtrace_view.tsv``, and that the exact
copies of the most frequent mature sequences in the count matrix's libraries
equal an independent count (cutadapt CLI + exact string match; the same
check per library is in ``tests/unit/test_real_reads.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _workflow import copy_scenario, run_snakemake

pytestmark = pytest.mark.slow

CONTAMINANTS = ["artifact", "rRNA", "tRNA", "snoRNA_snRNA"]


@pytest.fixture(scope="module")
def scn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scn = copy_scenario("real_exrnaqc", tmp_path_factory.mktemp("exrnaqc"))
    run_snakemake(scn, "results/qc/read_funnel.tsv", "results/qc/mirtrace_view.tsv")
    return scn


def test_every_read_accounted_for(scn: Path) -> None:
    funnel = pd.read_csv(scn / "results/qc/read_funnel.tsv", sep="\t", index_col=0)
    assert list(funnel.index) == ["E01_BL", "E01_W1", "E02_BL"]
    for sample, row in funnel.iterrows():
        assert row["raw_reads"] == 10_000, sample
        final = ["adapter_dimer", "too_short", "no_umi", "umi_duplicates"]
        final += ["no_adapter_short", "annotated_total"]
        assert sum(int(row[c]) for c in final) == row["raw_reads"], sample
        cats = [*CONTAMINANTS, "mirna", "hairpin_other", "unassigned"]
        cats.append("multimapped_mirna")
        assert sum(int(row[c]) for c in cats) == row["annotated_total"], sample
        long = row["annotated_no_adapter"] + row["annotated_too_long"]
        assert row["annotated_total"] - long == row["passed_reads"], sample
        # the miRNA counts are the passed inserts' only
        ann = json.loads((scn / f"results/annotate/{sample}.json").read_text())
        assert ann["long_inserts"]["mirna"] == 0
        assert row["mirna"] == ann["mirna"]
    view = pd.read_csv(scn / "results/qc/mirtrace_view.tsv", sep="\t", index_col=0)
    parts = ["typed_reads", "low_complexity", "shorter_than_18", "no_umi"]
    assert (view[parts].sum(axis=1) == view["raw_reads"]).all()
    classes = ["miRNA", "rRNA", "tRNA", "artifact", "unknown"]
    assert (view[classes].sum(axis=1) == view["typed_reads"]).all()
    # plasma/serum: miRNA-rich libraries (61-76 % of typed reads)
    assert (view["miRNA_pct"] > 55).all()


def test_count_matrix_top_mirna(scn: Path) -> None:
    counts = pd.read_csv(scn / "results/counts/mirna_counts.tsv", sep="\t", index_col=0)
    for sample in counts.columns:
        top = counts[sample].sort_values(ascending=False, kind="stable")
        # red-cell miR-486-5p leads every serum/plasma library
        assert top.index[0] == "hsa-miR-486-5p", sample
        per_lib = pd.read_csv(scn / f"results/annotate/{sample}.mirna.tsv", sep="\t")
        assert int(per_lib["count"].sum()) == int(counts[sample].sum())
