"""Reads-to-counts accuracy on a small simulated trial (issue 5, "How well").

One scenario is simulated (4 participants, 8 libraries of ~100k reads: two
library batches, one TruSeq and one QIAseq with UMIs), the workflow runs up to
``results/qc/read_funnel.tsv`` and :func:`exomir.simulate.accuracy.evaluate_run`
compares the results with ``truth/``. The targets are those of issue 5 (see
:class:`exomir.simulate.accuracy.Targets`); they are asserted per library.
About 1 minute on 2 cores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _workflow import run_checked, snakemake_cmd

from exomir.simulate.accuracy import (
    Targets,
    count_accuracy,
    evaluate_run,
    feature_map,
    load_truth,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TARGETS = Targets()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scn = tmp_path_factory.mktemp("accuracy") / "scn"
    run_checked(
        [
            str(BIN / "exomir"),
            "simulate",
            str(scn),
            "--preset",
            "small",
            "--participants",
            "4",
            "--reads",
            "1e5",
            "--set",
            "library.participants_per_batch=2",
            "--set",
            "library.low_yield_frac=0",
            "--seed",
            "7",
            "--threads",
            "2",
        ]
    )
    run_checked(snakemake_cmd(scn, "results/qc/read_funnel.tsv"))
    return scn


@pytest.fixture(scope="module")
def report(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("fp")
    return evaluate_run(scenario, fp_reads=50_000, threads=2, workdir=work)


def _explain(lib: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in lib.items() if k != "funnel"}, indent=1)


def test_scenario_has_both_protocols(report: dict[str, Any]) -> None:
    protocols = {lib["protocol"] for lib in report["libraries"]}
    assert protocols == {"truseq", "qiaseq"}
    units = {lib["protocol"]: lib["count_unit"] for lib in report["libraries"]}
    assert units == {"truseq": "reads", "qiaseq": "molecules"}
    assert len(report["libraries"]) == 8


def test_count_error_per_library(report: dict[str, Any]) -> None:
    for lib in report["libraries"]:
        assert lib["true_total"] > 5_000, _explain(lib)
        assert lib["count_error"] <= TARGETS.max_count_error, _explain(lib)


def test_pearson_per_library(report: dict[str, Any]) -> None:
    for lib in report["libraries"]:
        assert lib["n_features_r"] >= 10, _explain(lib)
        assert lib["pearson_r"] >= TARGETS.min_pearson, _explain(lib)


def test_non_mirna_reads_counted_as_mirna(report: dict[str, Any]) -> None:
    fp = report["false_positive"]
    assert fp["truth_funnel"]["mirna"] == 0
    # the control is made of annotatable contaminants and random inserts
    for origin in ("trna", "rrna", "snorna_snrna", "unmappable"):
        assert fp["truth_funnel"][origin] > 0.2 * fp["n_reads"]
    assert fp["annotation"]["total"] > 0.95 * fp["n_reads"]
    assert fp["rate"] <= TARGETS.max_false_positive, fp


def test_funnel_within_two_points(report: dict[str, Any]) -> None:
    for lib in report["libraries"]:
        cats = lib["funnel"]
        expected = {
            "mirna",
            "trna",
            "rrna",
            "snorna_snrna",
            "unmappable",
            "adapter_dimer",
            "too_short",
        }
        if lib["count_unit"] == "molecules":
            expected.add("umi_duplicates")
        assert expected <= set(cats), lib["sample_id"]
        for name in expected:
            row = cats[name]
            assert abs(row["diff_pp"]) <= TARGETS.max_funnel_pp, (
                lib["sample_id"],
                name,
                row,
            )


def test_report_passes_and_is_json(report: dict[str, Any], tmp_path: Path) -> None:
    assert report["pass"], report["failures"]
    for group in ("all", "truseq", "qiaseq"):
        assert report["summary"][group]["n_libraries"] > 0
    # the bench script writes the same kind of report (without the control)
    out = tmp_path / "acc.json"
    run_checked(
        [
            sys.executable,
            str(REPO / "bench" / "reads_accuracy.py"),
            report["scenario"],
            "--out",
            str(out),
            "--fp-reads",
            "0",
        ]
    )
    written = json.loads(out.read_text())
    assert written["false_positive"] is None
    assert written["summary"]["all"]["count_error_pooled"] == pytest.approx(
        report["summary"]["all"]["count_error_pooled"]
    )


def test_metric_detects_a_miscounted_mirna(scenario: Path) -> None:
    """The comparison is not vacuous: moving one miRNA's counts is caught."""
    truth = load_truth(scenario / "truth")
    fmap = feature_map(scenario / "results" / "reference")
    counts = pd.read_csv(
        scenario / "results" / "counts" / "mirna_counts.tsv", sep="\t", index_col=0
    )
    truseq = truth.libraries.index[truth.libraries["protocol"] == "truseq"]
    sample = str(truseq[0])
    top = counts[sample].idxmax()
    share = counts.loc[top, sample] / counts[sample].sum()
    bad = counts.copy()
    bad.loc[top, sample] = 0
    table, _ = count_accuracy(bad, truth, fmap, {}, TARGETS)
    row = table.set_index("sample_id").loc[sample]
    assert row["count_error"] >= 0.9 * share
