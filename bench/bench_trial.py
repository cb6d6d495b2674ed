"""Whole-trial benchmark: simulate the registry's trial and run the workflow.

Simulates a trial with ``exomir simulate OUTDIR --preset demo --participants N
--reads R`` (the registry's design; 80 participants and 5,000,000 reads per
library by default), then runs the whole workflow on it exactly as a user
does (``snakemake -s Snakefile --cores N --directory OUTDIR``, default
profile), and writes one JSON file with:

* the machine: cores, CPU model, memory, load average before and after,
  date, and the exomir git commit;
* the scenario: participants, libraries, reads per library, total raw reads
  (from the simulator's ``truth/funnel.tsv``);
* the whole run: wall time, CPU time (user + system of Snakemake and every
  job), peak resident set of any one process;
* per rule: jobs, sum and max of wall time, sum of CPU time and max of peak
  RSS, read from the ``benchmarks/<rule>/*.tsv`` files the workflow writes
  (Snakemake's ``benchmark:`` columns ``s``, ``cpu_time``, ``max_rss``);
  rules without benchmark files get their job count from Snakemake's log;
* the reads stage's sustained throughput: total raw reads divided by the wall
  span of the ``library`` jobs, first start to last end, taken from the
  timestamps of Snakemake's log (one-second resolution).

It measures and never asserts. The scenario folder must not exist yet (a stale
one would make Snakemake skip the work). ``make bench-trial`` runs it.

Usage::

    .venv/bin/python bench/bench_trial.py results/bench/trial.json \
        --scenario results/bench-trial --participants 80 --reads 5e6 --cores 2
"""

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reads import CPU_SECONDS, timed

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
VENV = Path(PY).parent


def machine() -> dict:
    """Describe the machine: cores, CPU model, memory, load, commit."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 2)
                break
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "exomir_commit": commit,
        "exomir_tree_modified": bool(dirty),
    }


def read_benchmarks(scenario: Path) -> dict[str, dict]:
    """Per rule: jobs and summed / max ``s``, ``cpu_time``, ``max_rss``.

    Each rule's ``benchmark:`` path is ``benchmarks/<rule>/<job>.tsv`` (one
    row per job; Snakemake writes ``NA`` where it could not measure).
    """
    rules: dict[str, dict] = {}
    for rule_dir in sorted(
        p for p in (scenario / "benchmarks").glob("*") if p.is_dir()
    ):
        wall: list[float] = []
        cpu: list[float] = []
        rss: list[float] = []
        files = sorted(rule_dir.glob("*.tsv"))
        for tsv in files:
            with tsv.open() as fh:
                for row in csv.DictReader(fh, delimiter="\t"):
                    for key, dest in (("s", wall), ("cpu_time", cpu), ("max_rss", rss)):
                        value = row.get(key, "NA")
                        if value not in ("", "NA", None):
                            dest.append(float(value))
        rules[rule_dir.name] = {
            "jobs": len(files),
            "source": "benchmark files",
            "wall_s_sum": round(sum(wall), 2),
            "wall_s_max": round(max(wall), 2) if wall else None,
            "cpu_s_sum": round(sum(cpu), 2),
            "max_rss_mb": round(max(rss), 1) if rss else None,
        }
    return rules


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_DONE = re.compile(r"^Finished jobid: (\d+) \(Rule: (\S+)\)")


def parse_log(log: Path) -> dict[str, list[tuple[dt.datetime, dt.datetime | None]]]:
    """Per rule, each job's (start, end) from a Snakemake log's timestamps."""
    stamp: dt.datetime | None = None
    pending: str | None = None
    started: dict[str, tuple[str, dt.datetime]] = {}
    jobs: dict[str, list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
    ended: dict[str, dt.datetime] = {}
    for line in log.read_text().splitlines():
        if m := _STAMP.match(line):
            stamp = dt.datetime.strptime(
                " ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y"
            )
        elif m := _RULE.match(line):
            pending = m.group(1)
        elif (m := _JOBID.match(line)) and pending is not None and stamp is not None:
            started[m.group(1)] = (pending, stamp)
            pending = None
        elif (m := _DONE.match(line)) and stamp is not None:
            ended[m.group(1)] = stamp
    for jobid, (rule, start) in started.items():
        jobs[rule].append((start, ended.get(jobid)))
    return dict(jobs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="JSON file to write")
    ap.add_argument(
        "--scenario",
        type=Path,
        required=True,
        help="folder to simulate into (must not exist)",
    )
    ap.add_argument("--participants", type=int, default=80)
    ap.add_argument(
        "--reads", type=float, default=5e6, help="mean raw reads per library"
    )
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261126)
    args = ap.parse_args()
    scenario = args.scenario.resolve()
    if scenario.exists():
        raise SystemExit(
            f"bench_trial: {scenario} already exists; remove it or choose another "
            "scenario folder (a finished run there would make Snakemake skip the work)"
        )
    info = machine()
    info["date_utc"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    info["load_before"] = [round(x, 2) for x in os.getloadavg()]

    scenario.parent.mkdir(parents=True, exist_ok=True)
    sim_wall, _ = timed(
        [
            str(VENV / "exomir"),
            "simulate",
            str(scenario),
            "--preset",
            "demo",
            "--participants",
            str(args.participants),
            "--reads",
            f"{args.reads:g}",
            "--seed",
            str(args.seed),
            "--threads",
            str(args.cores),
        ]
    )
    sim_cpu = CPU_SECONDS["last"]

    run_wall, run_rss = timed(
        [
            str(VENV / "snakemake"),
            "-s",
            str(REPO / "Snakefile"),
            "--cores",
            str(args.cores),
            "--directory",
            str(scenario),
        ],
        cwd=REPO,
    )
    run_cpu = CPU_SECONDS["last"]
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]

    with (scenario / "truth" / "funnel.tsv").open() as fh:
        raw = [int(r["raw_reads"]) for r in csv.DictReader(fh, delimiter="\t")]
    total_reads = sum(raw)

    logs = sorted((scenario / ".snakemake" / "log").glob("*.snakemake.log"))
    log_jobs = parse_log(logs[-1]) if logs else {}
    rules = read_benchmarks(scenario)
    for rule, spans in sorted(log_jobs.items()):
        if rule in rules:
            rules[rule]["jobs_in_log"] = len(spans)
        else:
            rules[rule] = {"jobs": len(spans), "source": "snakemake log (jobs only)"}

    lib = [s for s in log_jobs.get("library", []) if s[1] is not None]
    reads_stage: dict = {
        "method": "total raw reads / (last library job's end - first library "
        "job's start), both from the timestamps of Snakemake's log "
        f"({logs[-1].name if logs else 'missing'}; one-second resolution)",
    }
    if lib:
        first = min(s for s, _ in lib)
        last = max(e for _, e in lib if e is not None)
        span = max((last - first).total_seconds(), 1.0)
        reads_stage |= {
            "library_jobs": len(lib),
            "first_start": first.isoformat(),
            "last_end": last.isoformat(),
            "wall_span_s": span,
            "reads_per_s": round(total_reads / span),
        }
    lib_wall = rules.get("library", {}).get("wall_s_sum")
    if lib_wall:
        reads_stage |= {
            "library_jobs_wall_s_sum": lib_wall,
            "reads_per_s_per_job": round(total_reads / lib_wall),
            "note": "the span can include other rules' jobs run in between "
            "(Snakemake schedules what is ready); reads_per_s_per_job is total "
            "raw reads / summed wall time of the library jobs (benchmark `s`), "
            "i.e. one job at a time",
        }

    result = {
        "benchmark": "whole trial: simulate, then the whole workflow with "
        "`snakemake --cores N` (default profile)",
        "machine": info,
        "scenario": {
            "command": f"exomir simulate OUT --preset demo --participants "
            f"{args.participants} --reads {args.reads:g} --seed {args.seed}",
            "participants": args.participants,
            "libraries": len(raw),
            "reads_per_library_mean_requested": args.reads,
            "reads_per_library_mean": round(total_reads / len(raw)) if raw else 0,
            "total_raw_reads": total_reads,
            "folder": str(scenario),
        },
        "simulation": {"wall_s": round(sim_wall, 2), "cpu_s": round(sim_cpu, 2)},
        "workflow": {
            "cores": args.cores,
            "wall_s": round(run_wall, 2),
            "cpu_s": round(run_cpu, 2),
            "peak_rss_mb_any_process": round(run_rss, 1),
            "note": "wall and CPU time (user + system) of the whole `snakemake` "
            "command, Snakemake itself and every job included",
        },
        "rules": dict(sorted(rules.items())),
        "reads_stage": reads_stage,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["workflow"] | {"reads_stage": reads_stage}, indent=2))


if __name__ == "__main__":
    main()
