"""The whole-trial benchmark's figures (bench/trial_summary.py, bench/bench_trial.py).

No workflow run: the ratios and the README block are checked on a hand-written
JSON with hand-computed values, the log parsing on a hand-written Snakemake
log, and the README's block against the rendering of
``results/bench/trial.json`` when that file is in the repository (so the
README's figures cannot drift from the JSON).
"""

import datetime as dt
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import trial_summary as ts  # noqa: E402

#: A small run, figures chosen so that every ratio is easy to compute by hand.
RUN = {
    "machine": {
        "date_utc": "2026-12-07T12:00:00Z",
        "exomir_commit": "0123456789abcdef",
        "exomir_tree_modified": False,
        "nproc": 2,
        "cpu_model": "Test CPU",
        "memory_gb": 8.0,
        "load_before": [0.25, 0.2, 0.1],
        "load_after": [1.5, 1.0, 0.5],
    },
    "scenario": {
        "command": "exomir simulate OUT --preset demo",
        "participants": 5,
        "libraries": 10,
        "libraries_by_protocol": {"qiaseq": 4, "truseq": 6},
        "raw_reads_by_protocol": {"qiaseq": 400_000, "truseq": 600_000},
        "reads_per_library_mean": 100_000,
        "total_raw_reads": 1_000_000,
    },
    "simulation": {"wall_s": 30.0},
    "single_library": {
        "rounds": 3,
        # 1,000,000 reads/s
        "truseq": {"raw_reads": 100_000, "seconds": 0.1},
        # 500,000 reads/s
        "qiaseq": {"raw_reads": 100_000, "seconds": 0.2},
        # 250,000 reads/s
        "conventional": {"raw_reads": 100_000, "seconds": 0.4},
    },
    "workflow": {"cores": 2, "wall_s": 2.1, "cpu_s": 3.5, "snakemake_cpu_s": 0.5},
    "reads_stage": {
        "library_jobs": 10,
        "wall_span_s": 1.75,
        "library_jobs_wall_s_sum": 1.5,
        "seconds_other_jobs_only": 0.35,
    },
    "stages": {
        "reads": {
            "jobs": 10,
            "wall_s_sum": 1.5,
            "span_s": 1.75,
            "cpu_s_sum": 2.5,
            "cpu_jobs_measured": 10,
            "max_rss_mb": 512.0,
        },
        "clinical": {
            "jobs": 4,
            "wall_s_sum": 150.0,
            "span_s": 200.0,
            "cpu_s_sum": 12.0,
            "cpu_jobs_measured": 2,
            "max_rss_mb": None,
        },
    },
}


def test_ratios_hand_computed() -> None:
    r = ts.compute_ratios(RUN)
    # trial's mix at the single-library rates: 1e6 / (0.6e6/1e6 + 0.4e6/5e5)
    mix = 1e6 / (0.6 + 0.8)
    assert r["single_library_reads_per_s"] == round(mix) == 714_286
    assert r["single_library_reads_per_s_by_protocol"] == {
        "qiaseq": 500_000,
        "truseq": 1_000_000,
    }
    assert r["reads_stage_reads_per_s"] == round(1e6 / 1.75) == 571_429
    # (a) (1e6 / 1.75) / (1e6 / 1.4) = 1.4 / 1.75 = 0.8: below the 0.90 target
    assert r["reads_vs_single_library"] == pytest.approx(0.8)
    assert r["reads_vs_single_library_pass"] is False
    assert r["reads_vs_single_library_summed_jobs"] == pytest.approx(
        1.4 / 1.5, abs=1e-4
    )
    # without the 0.35 s of other jobs: 1.4 s, exactly the single-library rate
    assert r["reads_vs_single_library_without_other_jobs"] == pytest.approx(1.0)
    assert r["whole_vs_reads_stage_without_other_jobs"] == pytest.approx(1.5)
    # (b) 2.1 / 1.75 = 1.2: within 1.25
    assert r["whole_vs_reads_stage"] == pytest.approx(1.2)
    assert r["whole_vs_reads_stage_pass"] is True
    # (c) 1e6 reads at 250,000 reads/s = 4 s; 4 / 2.1 and 4 / 1.75
    assert r["conventional_reads_per_s"] == 250_000
    assert r["conventional_projected_s"] == pytest.approx(4.0)
    assert r["conventional_vs_whole"] == pytest.approx(4 / 2.1, abs=1e-4)
    assert r["conventional_vs_reads_stage"] == pytest.approx(4 / 1.75, abs=1e-4)


def test_ratios_missing_inputs_are_none() -> None:
    run = json.loads(json.dumps(RUN))
    del run["single_library"]["qiaseq"]  # a kit of the trial not measured
    del run["reads_stage"]["wall_span_s"]
    r = ts.compute_ratios(run)
    assert r["single_library_reads_per_s"] is None
    assert r["reads_vs_single_library"] is None
    assert r["reads_vs_single_library_pass"] is None
    assert r["whole_vs_reads_stage"] is None
    assert r["conventional_projected_s"] == pytest.approx(4.0)


def test_render_shows_the_computed_figures() -> None:
    text = ts.render(RUN)
    assert "2026-12-07T12:00:00Z" in text and "0123456789" in text
    assert "Test CPU" in text and "load average 0.25 before, 1.50 after" in text
    assert "5 participants, 10 libraries (4 qiaseq, 6 truseq)" in text
    assert "`exomir simulate OUT --preset demo`" in text
    assert "0.571 M reads/s sustained" in text
    assert "0.714 M reads/s (trial's mix of kits" in text
    assert "(a) reads stage / single library: 0.80 (target >= 0.90: NOT met)" in text
    assert "on the summed job times 0.93, without the 0.35 s of other jobs" in text
    assert "inside the span 1.00." in text
    assert "without the other jobs inside the span 1.50." in text
    assert "(b) whole trial / reads stage (wall): 1.20 (target <= 1.25: met)" in text
    assert "0.250 M reads/s, projected 4.0 s" in text
    assert "1.90 x exomir's whole trial, 2.29 x its reads stage" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1] == "| reads | 10 | 1.5 s | 1.8 s | 2.5 s | 512 MB |"
    assert rows[2] == (
        "| clinical/primary/MMRM/survival | 4 | 150 s (2.5 min) | 200 s (3.3 min) "
        "| 12.0 s (2 of 4 jobs) | n/a |"
    )


def test_update_readme_between_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\nbefore\n{ts.START}\nold\n{ts.END}\nafter\n")
    block = ts.render(RUN)
    assert ts.update_readme(readme, block) is True
    text = readme.read_text()
    assert text.startswith("# T\n\nbefore\n") and text.endswith(f"{ts.END}\nafter\n")
    assert ts.readme_block(readme) == block
    assert ts.update_readme(readme, block) is False
    bare = tmp_path / "BARE.md"
    bare.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        ts.update_readme(bare, block)
    assert bare.read_text() == "# no markers\n"


def test_every_workflow_rule_has_a_stage() -> None:
    names = set()
    for smk in [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]:
        names |= set(re.findall(r"^\s*rule (\w+):", smk.read_text(), re.M))
    assert {"library", "build_reference", "de", "report_open"} <= names
    other = sorted(n for n in names if ts.stage_of(n) == "other")
    assert other == ["all", "qc"], other
    assert ts.stage_of("library") == "reads"
    assert ts.stage_of("clinical_dsmb_enrolment") == "clinical"
    assert ts.stage_of("report_blind") == "reports"


LOG = """\
[Mon Dec  7 10:00:00 2026]
rule library:
    jobid: 1
[Mon Dec  7 10:00:05 2026]
Finished jobid: 1 (Rule: library)
[Mon Dec  7 10:00:05 2026]
localrule ev_qc:
    jobid: 2
[Mon Dec  7 10:00:07 2026]
Finished jobid: 2 (Rule: ev_qc)
[Mon Dec  7 10:00:07 2026]
rule library:
    jobid: 3
[Mon Dec  7 10:00:12 2026]
Finished jobid: 3 (Rule: library)
[Mon Dec  7 10:00:13 2026]
rule library:
    jobid: 4
[Mon Dec  7 10:00:15 2026]
Finished jobid: 4 (Rule: library)
[Mon Dec  7 10:00:15 2026]
localrule de:
    jobid: 5
[Mon Dec  7 10:00:20 2026]
Finished jobid: 5 (Rule: de)
"""


def test_reads_stage_from_the_log(tmp_path: Path) -> None:
    import bench_trial as bt

    log = tmp_path / "run.snakemake.log"
    log.write_text(LOG)
    jobs = bt.parse_log(log)
    assert sorted(jobs) == ["de", "ev_qc", "library"]
    assert jobs["library"][0] == (
        dt.datetime(2026, 12, 7, 10, 0, 0),
        dt.datetime(2026, 12, 7, 10, 0, 5),
    )
    rules = {"library": {"jobs": 3, "wall_s_sum": 12.0}}
    rs = bt.reads_stage_figures(jobs, rules, 1500, log.name)
    # span 10:00:00 -> 10:00:15: 15 s, 100 reads/s; ev_qc alone for 2 s
    # inside it, nothing running 10:00:12 -> 10:00:13; de starts at the end
    assert rs["wall_span_s"] == 15.0
    assert rs["reads_per_s"] == 100
    assert rs["other_jobs_in_span"] == {"ev_qc": 1}
    assert rs["seconds_other_jobs_only"] == 2
    assert rs["seconds_idle"] == 1
    assert rs["reads_per_s_per_job"] == 125
    stages = bt.stage_figures(
        {
            "library": {
                "jobs": 3,
                "source": "benchmark files",
                "wall_s_sum": 12.0,
                "cpu_s_sum": 20.0,
                "max_rss_mb": 300.0,
            },
            "ev_qc": {"jobs": 1, "source": "snakemake log (jobs only)"},
            "de": {
                "jobs": 1,
                "source": "benchmark files",
                "wall_s_sum": 4.5,
                "cpu_s_sum": 4.0,
                "max_rss_mb": 800.0,
            },
        },
        jobs,
    )
    assert list(stages) == ["reads", "DE", "EV"]
    assert stages["reads"]["span_s"] == 15.0
    assert stages["EV"]["wall_s_sum"] == 2.0  # from the log
    assert stages["EV"]["cpu_jobs_measured"] == 0
    assert stages["DE"]["max_rss_mb"] == 800.0


def test_disk_need() -> None:
    import bench_trial as bt

    # 80 participants x 2 libraries x 5e6 reads x 65 bytes = 52 GB, plus four
    # libraries of scratch and the 2 GiB margin
    need = bt.disk_need(80, 5e6)
    assert need == 65 * 5e6 * 164 + 2 * 1024**3
    assert 54e9 < need < 56e9


def test_readme_block_matches_trial_json() -> None:
    trial = REPO / "results" / "bench" / "trial.json"
    if not trial.exists():
        pytest.skip("results/bench/trial.json not recorded yet")
    block = ts.readme_block(REPO / "README.md")
    assert block == ts.render(json.loads(trial.read_text())), (
        "README's whole-trial block differs from results/bench/trial.json: run "
        ".venv/bin/python bench/bench_trial.py results/bench/trial.json --render-only"
    )


def test_reuse_refuses_unfinished_or_run_folders(tmp_path: Path) -> None:
    import bench_trial as bt

    with pytest.raises(SystemExit, match="not a finished simulation"):
        bt.check_reusable(tmp_path, ["simulate", str(tmp_path)])
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "params.yaml").write_text("seed: 1\n")
    (tmp_path / "truth" / "funnel.tsv").write_text("sample_id\traw_reads\n")
    (tmp_path / ".snakemake").mkdir()
    with pytest.raises(SystemExit, match="has run there already"):
        bt.check_reusable(tmp_path, ["simulate", str(tmp_path)])
