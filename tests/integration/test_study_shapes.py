"""Any study shape runs to the end: QC-only, a trial of small real libraries, none usable.

Three workflow runs (default target, 2 cores), each checked against what a user
must see:

- ``tests/scenarios/qc_only`` (a samples sheet with ``sample_id``, ``fastq``,
  ``protocol`` only): exit 0, MultiQC and the reports written, the report
  states that the trial stages are not part of the study, no DE output.
- ``tests/scenarios/real_mouse`` as shipped (gates for small libraries): exit 0,
  the libraries pass, and the verdict warns about short inserts, not adapter
  dimers. Dimers and short inserts are counted here by hand from the FASTQ
  (exact search of the first 10 adapter bases, no pipeline code).
- ``real_mouse`` with the default depth gate (1 M reads): no library passes,
  the run still exits 0, and every later stage writes "not computed" with the
  reason, which the reports show.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd
import pytest
from _workflow import REPO, copy_scenario, run_snakemake

QIASEQ = "AACTGTAGGCACCATCAAT"
NOT_COMPUTED_TABLES = [
    "results/de/mirna_filter.tsv",
    "results/de/pca.tsv",
    "results/de/arms_week1.tsv",
    "results/de/treatment_effect.samples.tsv",
    "results/primary/mir126_ancova.tsv",
    "results/primary/tipping_point.tsv",
    "results/clinical/roc.tsv",
    "results/clinical/interim.tsv",
    "results/clinical/interim_open.tsv",
]


def _report_text(path: Path) -> str:
    """Visible text of an HTML report (tags dropped, spaces collapsed)."""
    html = path.read_text(encoding="utf-8")
    html = html.split("</style>", 1)[-1]
    text = re.sub(r"<[^>]+>", " ", html)
    text = text.replace("&#39;", "'").replace("&amp;", "&").replace("&gt;", ">")
    return re.sub(r"\s+", " ", text)


def _probe_at(read: str, probe: str, mismatches: int) -> int:
    """First position where ``probe`` matches with at most ``mismatches``, or -1."""
    for pos in range(len(read) - len(probe) + 1):
        window = read[pos : pos + len(probe)]
        if sum(a != b for a, b in zip(window, probe, strict=True)) <= mismatches:
            return pos
    return -1


def _hand_counts(
    fastq: Path, adapter: str, min_length: int, mismatches: int
) -> tuple[int, int, int]:
    """(reads, adapter dimers, short inserts) from where the adapter's first 10 nt sit.

    A dimer has the adapter at read position 0 (no insert); a short insert has
    it at 1 to ``min_length - 1``.
    """
    probe = adapter[:10]
    n = dimers = short = 0
    with gzip.open(fastq, "rt") as fh:
        for i, line in enumerate(fh):
            if i % 4 != 1:
                continue
            n += 1
            pos = _probe_at(line.strip(), probe, mismatches)
            dimers += pos == 0
            short += 0 < pos < min_length
    return n, dimers, short


@pytest.fixture(scope="module")
def qc_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scn = copy_scenario("qc_only", tmp_path_factory.mktemp("qc_only"))
    proc = run_snakemake(scn, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return scn


@pytest.fixture(scope="module")
def mouse(real_mouse_run: Path) -> Path:
    return real_mouse_run


@pytest.fixture(scope="module")
def no_usable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scn = copy_scenario("real_mouse", tmp_path_factory.mktemp("none"))
    cfg = scn / "config" / "config.yaml"
    text = cfg.read_text()
    assert "min_raw_reads: 5000" in text
    cfg.write_text(text.replace("min_raw_reads: 5000", "min_raw_reads: 1000000"))
    proc = run_snakemake(scn, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return scn


@pytest.mark.slow
def test_qc_only_study_runs_reads_to_multiqc_and_says_so(qc_only: Path) -> None:
    for rel in (
        "results/counts/mirna_counts.tsv",
        "results/counts/mirna_raw.h5ad",
        "results/qc/read_funnel.tsv",
        "results/qc/library_qc.tsv",
        "results/multiqc/multiqc_report.html",
        "results/report/exomir_report.html",
        "results/report/dsmb_closed.html",
    ):
        assert (qc_only / rel).is_file(), rel
    # the trial stages are not part of the study: nothing of them is written
    assert not (qc_only / "results/de").exists()
    assert not (qc_only / "results/counts/mirna.h5ad").exists()
    text = _report_text(qc_only / "results/report/exomir_report.html")
    assert "QC-only study: the config names no participants sheet" in text
    assert "differential expression, the primary biomarker" in text
    assert "could not be rendered" not in text
    # 10,000-read libraries under the default depth gate: the verdict says so
    qc = pd.read_csv(qc_only / "results/qc/library_qc.tsv", sep="\t", index_col=0)
    assert list(qc["pass"]) == [False, False]
    assert qc.loc["S1", "reasons"].startswith(
        "raw reads 10,000 < 1,000,000 (gate qc.min_raw_reads): below the depth "
        "gate; small test libraries need smaller gates"
    )


@pytest.mark.slow
def test_real_mouse_passes_and_warns_about_short_inserts_not_dimers(
    mouse: Path,
) -> None:
    fastq = REPO / "tests/data/real/QiaSeq_data.fastq.gz"
    n, dimers, short = _hand_counts(fastq, QIASEQ, 16, mismatches=0)
    _, _, short_1mm = _hand_counts(fastq, QIASEQ, 16, mismatches=1)
    assert n == 10_000
    # by hand: 3 dimers (0.03 %); 4,967 (exact) to 5,031 (1 mismatch) short inserts
    assert dimers / n < 0.001 and short / n > 0.45
    qc = pd.read_csv(mouse / "results/qc/library_qc.tsv", sep="\t", index_col=0)
    row = qc.loc["M01_BL"]
    # the pipeline's aligner also finds adapters with errors: its short inserts
    # lie between the exact and the 1-mismatch count, its dimers within 10 reads
    assert short <= round(row["short_insert_share"] * n) <= short_1mm
    assert abs(row["adapter_dimer_share"] * n - dimers) <= 10
    assert bool(row["pass"]) is True
    assert pd.isna(row["reasons"])
    expected = (
        f"short inserts (1-15 nt) {row['short_insert_share']:.3f} > 0.3 (warn "
        "qc.warn_short_inserts): degraded or fragmented RNA, not adapter dimers"
    )
    assert row["warnings"] == expected
    assert "dimer share" not in row["warnings"]
    # the run went to the end: DE written (contrasts it cannot estimate say so)
    assert (mouse / "results/de/mirna.h5ad").is_file()
    for name in ("exomir_report.html", "dsmb_closed.html"):
        text = _report_text(mouse / "results/report" / name)
        assert "could not be rendered" not in text
        assert "PCA: not computed; the DE stage gives no principal components" in text


@pytest.mark.slow
def test_no_usable_library_completes_with_not_computed_everywhere(
    no_usable: Path,
) -> None:
    qc = pd.read_csv(no_usable / "results/qc/library_qc.tsv", sep="\t")
    assert not qc["pass"].any()
    assert (no_usable / "results/multiqc/multiqc_report.html").is_file()
    for rel in NOT_COMPUTED_TABLES:
        lines = (no_usable / rel).read_text().splitlines()
        assert lines[0] == "not_computed", rel
        assert lines[1].startswith("no usable library is left"), rel
        assert "raw reads 10,000 < 1,000,000 (gate qc.min_raw_reads)" in lines[1]
    import anndata as ad

    for rel in ("results/counts/mirna.h5ad", "results/de/mirna.h5ad"):
        adata = ad.read_h5ad(no_usable / rel)
        assert adata.n_obs == 0
        assert adata.uns["not_computed"].startswith("no usable library is left")
    for name in ("exomir_report.html", "dsmb_closed.html"):
        text = _report_text(no_usable / "results/report" / name)
        assert "Not computed: no usable library is left" in text
        if name == "dsmb_closed.html":
            assert "Not computed: primary miRNA analysis" in text
        else:  # the open report never reads the closed primary table (firewall)
            assert "results by arm are in the closed dsmb report" in text.lower()
        assert "could not be rendered" not in text


def test_qc_target_plans_reads_to_multiqc_only(tmp_path: Path) -> None:
    """`snakemake ... qc` on a trial scenario plans no DE, primary or report job."""
    scn = copy_scenario("real_human", tmp_path)
    out = run_snakemake(scn, "--dry-run", "qc").stdout
    for rule in ("library", "merge_counts", "read_qc", "multiqc"):
        assert re.search(rf"^{rule}\s+\d+", out, re.M), rule
    for rule in ("de", "de_normalise", "primary", "report_open", "normalise_counts"):
        assert not re.search(rf"^{rule}\s+\d+", out, re.M), rule
