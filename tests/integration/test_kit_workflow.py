"""Workflow: libraries with ``protocol: auto`` (exomir.reads.kit).

One run of the real human scenario up to the read QC, with every library's
protocol set to ``auto``, one library's FASTQ swapped for the real exRNAQC
plasma library (also TruSeq-type, ~100 nt reads) and one for reads without
any adapter. The real libraries must be detected as TruSeq (their evidence in
the preprocess JSON); the adapter-less library must be stopped alone, with its
candidates in the read QC, while the others pass.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pandas as pd
import pytest
from _workflow import copy_scenario, run_snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("kit")
    scn = copy_scenario("real_human", tmp)
    rng = random.Random(16)
    junk = tmp / "data" / "no_adapter.fastq.gz"
    with gzip.open(junk, "wt") as fh:
        for i in range(2000):
            seq = "".join(rng.choice("ACGT") for _ in range(51))
            fh.write(f"@junk{i}\n{seq}\n+\n{'I' * 51}\n")
    sheet = scn / "config" / "samples.tsv"
    df = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    df["protocol"] = "auto"
    df.loc[df["sample_id"] == "H02_BL", "fastq"] = (
        "../../data/real/exrnaqc/RNA014939_S3_R1.fastq.gz"
    )
    df.loc[df["sample_id"] == "H02_W1", "fastq"] = "../../data/no_adapter.fastq.gz"
    df.to_csv(sheet, sep="\t", index=False)
    run_snakemake(scn, "results/qc/library_qc.tsv")
    return scn


def test_auto_detects_and_records_evidence(auto_run: Path) -> None:
    for sample in ("H01_BL", "H01_W1", "H02_BL"):
        js = json.loads(
            (auto_run / "results/preprocess" / f"{sample}.json").read_text()
        )
        det = js["kit_detection"]
        assert js["protocol"] == "truseq" and det["chosen"] == "truseq"
        assert det["candidates"]["truseq"] > 0.9 and det["offset"] == 0
        assert js["failed_reason"] == "" and js["passed_reads"] > 0
        assert js["suggestion"] == ""


def test_undetermined_library_is_stopped_alone(auto_run: Path) -> None:
    js = json.loads((auto_run / "results/preprocess/H02_W1.json").read_text())
    assert js["kit_detection"]["chosen"] is None
    assert js["raw_reads"] == 2000 == js["no_adapter"]
    qc = pd.read_csv(auto_run / "results/qc/library_qc.tsv", sep="\t")
    row = qc.set_index("sample_id").loc["H02_W1"]
    assert not row["pass"]
    assert row["reasons"].startswith("stopped: library kit could not be determined")
    assert "truseq 0.0%" in row["reasons"] and "polya" in row["reasons"]
    passed = (auto_run / "results/qc/passed_samples.txt").read_text().split()
    assert "H02_W1" not in passed
    assert {"H01_BL", "H01_W1", "H02_BL"} <= set(passed)
