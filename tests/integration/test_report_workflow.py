"""The report rule inside the workflow: planned, built, and `snakemake --report`."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from _workflow import copy_run, copy_scenario, run_snakemake

REPORTS = ["results/report/exomir_report.html", "results/report/dsmb_closed.html"]
PDFS = ["results/report/exomir_report.pdf", "results/report/dsmb_closed.pdf"]


def test_dry_run_plans_the_reports(tmp_path: Path) -> None:
    scn = copy_scenario("real_human", tmp_path)
    out = run_snakemake(scn, "--dry-run").stdout
    for rule in ("report_open", "report_closed", "report_blind", "report_pdf"):
        assert rule in out
    for path in REPORTS + PDFS + ["results/report/provenance.json"]:
        assert path in out


@pytest.mark.slow
def test_workflow_builds_both_reports_and_the_snakemake_report(
    real_human_run: Path, tmp_path: Path
) -> None:
    scn = real_human_run  # `rule all` includes the reports
    for path in REPORTS:
        html = (scn / path).read_text(encoding="utf-8")
        assert "could not be rendered" not in html
        assert "Not run:" in html  # pathway/clinical stages are not in this run
        assert 'data-section="qc"' in html
    for path in PDFS:
        assert (scn / path).read_bytes()[:5] == b"%PDF-"
    # provenance: every file the reports read, hashed as it is now
    prov = json.loads((scn / "results/report/provenance.json").read_text())
    for audience in ("open", "closed"):
        rec = prov["reports"][audience]
        assert rec["workflow_run_started"].startswith("20")
        files = {f["path"]: f["sha256"] for f in rec["files_read"]}
        assert "results/qc/read_funnel.tsv" in files
        for rel, sha in files.items():
            assert hashlib.sha256((scn / rel).read_bytes()).hexdigest() == sha, rel
        cfg = (scn / "config/config.yaml").read_bytes()
        assert rec["config_sha256"] == hashlib.sha256(cfg).hexdigest()
    # every captioned output goes into the Snakemake report
    run_snakemake(
        copy_run(scn, tmp_path / "run"), "--report", str(tmp_path / "report.zip")
    )
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    for name in (
        "read_funnel.tsv",
        "library_qc.tsv",
        "exomir_report.html",
        "dsmb_closed.html",
    ):
        assert any(n.endswith("/" + name) for n in names), name
