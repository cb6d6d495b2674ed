"""Whole-trial benchmark: simulate the registry's trial and run the workflow.

One invocation, on one machine state (``make bench-trial`` runs it):

1. checks the free disk space against an estimate (about 65 bytes per
   simulated read, e.g. 80 x 2 x 5e6 reads -> about 52 GB) and stops with a
   clear message if it is short;
2. simulates the registry's trial (``exomir simulate OUT --preset demo --set
   'trial.timepoints=[baseline, week1]' --participants N --reads R``: blood
   draws at baseline and week 1, otherwise the whole protocol: visits to 24
   months, three sites, long-term events, proteins); the exact command is
   recorded;
3. measures the single-library throughput as ``make bench`` does
   (bench/bench_reads.py's commands, imported): one TruSeq and one QIAseq
   library of the trial itself (the library of each kit closest to the mean
   depth, copied aside), each through
   :func:`exomir.reads.library.process_library` in one process, and the
   conventional chain (cutadapt + bowtie on every trimmed read + counting) on
   the TruSeq one; ``--rounds`` interleaved rounds, medians;
4. runs the whole workflow as a user does (``snakemake -s Snakefile --cores N
   --directory OUT``, default profile), polling Snakemake's own process for
   its CPU time, and records per rule and per stage (reads, references,
   counts/merge, DE, pathways, clinical, EV, proteins, reports, other): jobs,
   wall time (summed jobs and first start to last end), CPU time and peak
   memory, from the ``benchmarks/<rule>/*.tsv`` files the workflow writes and
   the timestamps of Snakemake's log;
5. derives the issue's ratios (bench/trial_summary.py): (a) reads-stage
   sustained throughput / single-library throughput (target >= 0.90), (b)
   whole-workflow wall / reads-stage wall (target <= 1.25), (c) the
   conventional chain's projected time for the trial's reads and its ratio to
   exomir's whole trial; pass flags are recorded, never asserted;
6. writes the JSON and, when it is the repository's
   ``results/bench/trial.json`` (or with ``--readme``), renders the README
   block between ``<!-- bench-trial:start -->`` and ``<!-- bench-trial:end -->``.

``--clean-fastq`` deletes the simulated FASTQ files after the run (the rest
of the scenario folder is kept). ``--render-only`` re-renders the README from
an existing JSON. The scenario folder must not exist yet (a finished run there
would make Snakemake skip the work).

Usage::

    .venv/bin/python bench/bench_trial.py results/bench/trial.json \
        --scenario results/bench-trial --participants 80 --reads 5e6 --cores 2
    .venv/bin/python bench/bench_trial.py results/bench/trial.json --render-only
"""

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reads import (
    CPU_SECONDS,
    conventional_chain,
    interleaved_rounds,
    library_code,
    timed,
)
from trial_summary import STAGES, compute_ratios, render, stage_of, update_readme

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
VENV = Path(PY).parent
HERE = Path(__file__).resolve().parent
#: The registry's blood draws (the demo preset draws at month 3 too).
TIMEPOINTS = "[baseline, week1]"
#: Disk per simulated read (gzipped 75-nt FASTQ, measured ~63 bytes) and the
#: margin for the workflow's outputs and the single-library copies.
BYTES_PER_READ = 65
DISK_MARGIN_BYTES = 2 * 1024**3
DEFAULT_JSON = REPO / "results" / "bench" / "trial.json"


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


def disk_need(participants: int, reads: float) -> int:
    """Bytes the run needs: the FASTQ files (2 libraries per participant at
    :data:`BYTES_PER_READ`), four more libraries' worth for the single-library
    copies and the conventional chain's trimmed FASTQ, and a margin."""
    return int(BYTES_PER_READ * reads * (2 * participants + 4) + DISK_MARGIN_BYTES)


def check_disk(folder: Path, participants: int, reads: float) -> dict:
    """Free space where ``folder`` will be against :func:`disk_need`.

    Stops (SystemExit, one line) when the disk is short, before anything is
    written.
    """
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    need = disk_need(participants, reads)
    if free < need:
        raise SystemExit(
            f"bench_trial: not enough disk for {folder}: the trial needs about "
            f"{need / 1e9:.1f} GB ({participants} participants x 2 libraries x "
            f"{reads:g} reads x {BYTES_PER_READ} bytes per read, plus scratch and "
            f"margin) and {free / 1e9:.1f} GB are free on the file system of "
            f"{probe}; free space, choose another TRIAL_DIR or lower "
            "PARTICIPANTS/READS"
        )
    return {
        "free_gb_before": round(free / 1e9, 2),
        "estimate_gb": round(need / 1e9, 2),
        "bytes_per_read_assumed": BYTES_PER_READ,
    }


def check_reusable(scenario: Path, sim_cmd: list[str]) -> None:
    """Stop unless ``scenario`` is what ``exomir <sim_cmd>`` writes, never run.

    The simulator's resolved parameters and seed (``--print-params``) must
    equal those recorded in ``truth/params.yaml`` (the same parameters and
    seed give the same bytes; ``--threads`` does not change them), every FASTQ
    file of ``config/samples.tsv`` must be there, and the folder must hold no
    workflow results or Snakemake state (a finished run would be skipped).
    """
    import yaml

    truth = scenario / "truth" / "params.yaml"
    if not truth.exists() or not (scenario / "truth" / "funnel.tsv").exists():
        raise SystemExit(
            f"bench_trial: {scenario} is not a finished simulation (no "
            "truth/params.yaml or truth/funnel.tsv); remove it or simulate again"
        )
    for state in ("results", ".snakemake", "benchmarks"):
        if (scenario / state).exists():
            raise SystemExit(
                f"bench_trial: {scenario / state} exists: the workflow has run "
                "there already; --reuse needs a simulated, never-run folder"
            )
    wanted = subprocess.run(
        [str(VENV / "exomir"), *sim_cmd, "--print-params"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    want, have = yaml.safe_load(wanted), yaml.safe_load(truth.read_text())
    if want.get("params") != have.get("params") or want.get("seed") != have.get("seed"):
        raise SystemExit(
            f"bench_trial: {truth}: the existing trial was simulated with other "
            f"parameters or seed than `exomir {shlex.join(sim_cmd)}`; --reuse "
            "needs the same participants, reads, seed and preset"
        )
    missing = [
        lib["sample"]
        for lib in scenario_libraries(scenario)
        if not lib["fastq"].exists()
    ]
    if missing:
        raise SystemExit(
            f"bench_trial: {scenario}: FASTQ files missing for {len(missing)} "
            f"libraries (first: {missing[0]}); --reuse needs every FASTQ file"
        )


def scenario_libraries(scenario: Path) -> list[dict]:
    """Per library: sample, protocol, FASTQ path and raw reads (the truth)."""
    with (scenario / "truth" / "funnel.tsv").open() as fh:
        raw = {
            r["sample_id"]: int(r["raw_reads"])
            for r in csv.DictReader(fh, delimiter="\t")
        }
    libs = []
    with (scenario / "config" / "samples.tsv").open() as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            sample = row["sample_id"]
            libs.append(
                {
                    "sample": sample,
                    "protocol": row["protocol"],
                    "fastq": scenario / row["fastq"],
                    "raw_reads": raw[sample],
                }
            )
    return libs


def pick_library(libs: list[dict], protocol: str) -> dict | None:
    """The library of a kit whose depth is closest to the trial's mean."""
    mine = [lib for lib in libs if lib["protocol"] == protocol]
    if not mine:
        return None
    mean = sum(lib["raw_reads"] for lib in libs) / len(libs)
    return min(mine, key=lambda lib: (abs(lib["raw_reads"] - mean), lib["sample"]))


def single_library(libs: list[dict], work: Path, rounds: int) -> dict:
    """Single-library throughput as ``make bench`` measures it, on the trial's reads.

    One library per kit present (TruSeq and/or QIAseq), copied into ``work``
    (bench_reads' file names), the reference built and the numba kernels
    compiled in a child process (bench_reads.build_reference / warm_up), then
    ``rounds`` interleaved rounds of each command (bench_reads.library_code,
    and bench_reads.conventional_chain on the TruSeq library), each round
    starting with another command; medians.
    """
    picked = {
        kit: lib
        for kit in ("truseq", "qiaseq")
        if (lib := pick_library(libs, kit)) is not None
    }
    names = {"truseq": "lib", "qiaseq": "umi"}
    for kit, lib in picked.items():
        shutil.copyfile(lib["fastq"], work / f"{names[kit]}.fastq.gz")
    t0 = time.perf_counter()
    subprocess.run(
        [
            PY,
            "-c",
            f"import sys, json; sys.path.insert(0, {str(HERE)!r});"
            "from bench_reads import build_reference, warm_up;"
            f"from pathlib import Path; w = Path({str(work)!r});"
            "h = build_reference(w); warm_up(w, w / 'reference');"
            "(w / 'index.json').write_text(json.dumps(h))",
        ],
        check=True,
    )
    prepare_s = time.perf_counter() - t0
    hairpin_index = json.loads((work / "index.json").read_text())
    refdir = work / "reference"
    commands: dict[str, list[tuple[str, list[str]]]] = {}
    for kit in picked:
        fq = work / f"{names[kit]}.fastq.gz"
        commands[kit] = [("", [PY, "-c", library_code(fq, refdir, work, kit, kit)])]
    if "truseq" in picked:
        commands["conventional"] = conventional_chain(
            work / "lib.fastq.gz", hairpin_index, work
        )
    runs = interleaved_rounds(commands, rounds)
    out: dict = {
        "rounds": rounds,
        "prepare_s": round(prepare_s, 2),
        "method": "bench/bench_reads.py's commands on libraries of this trial "
        "(the library of each kit closest to the mean depth): exomir = "
        "process_library in one process (threads=2, Q20), as the workflow's "
        "rule `library`; conventional = cutadapt -j 2 + bowtie -p 2 on every "
        "trimmed read + samtools/sort/uniq counting (TruSeq library); reference "
        "built and numba kernels compiled before timing; interleaved rounds, "
        "medians; interpreter start and imports included",
    }
    for name, done in runs.items():
        kit = "truseq" if name == "conventional" else name
        entry = {
            "sample": picked[kit]["sample"],
            "raw_reads": picked[kit]["raw_reads"],
        }
        for key in done[0]:
            if key != "peak_rss_mb":
                entry[key] = round(float(np.median([r[key] for r in done])), 3)
        entry["peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in done), 1)
        entry["seconds_each_run"] = [round(r["seconds"], 3) for r in done]
        entry["reads_per_s"] = round(entry["raw_reads"] / entry["seconds"])
        out[name] = entry
    return out


def run_polled(cmd: list[str], cwd: Path) -> dict:
    """Run a command; wall, CPU (it and its children), peak RSS, its own CPU.

    A failed command is reported (``returncode``), not raised, so that the
    figures gathered so far can still be written.

    The process's own CPU time (without its children) and resident set are
    sampled every 0.2 s while it runs (psutil): for Snakemake, that is the
    scheduler's cost apart from the jobs'.
    """
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd)
    own = {"cpu_s": 0.0, "rss_mb": 0.0}
    done = threading.Event()

    def poll() -> None:
        try:
            ps = psutil.Process(proc.pid)
            while not done.is_set():
                t = ps.cpu_times()
                own["cpu_s"] = max(own["cpu_s"], t.user + t.system)
                own["rss_mb"] = max(own["rss_mb"], ps.memory_info().rss / 1024**2)
                done.wait(0.2)
        except (psutil.Error, OSError):
            return

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    poller.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime)
        + (after.ru_stime - before.ru_stime),
        "peak_rss_mb": usage.ru_maxrss / 1024.0,
        "own_cpu_s": own["cpu_s"],
        "own_peak_rss_mb": own["rss_mb"],
        "returncode": code,
    }


Span = tuple[dt.datetime, dt.datetime | None]


def stage_figures(rules: dict[str, dict], log_jobs: dict[str, list[Span]]) -> dict:
    """Per stage (trial_summary.STAGES order): the rules' figures added up.

    Rule ``all`` (the target, no work) is left out. Wall time summed over
    jobs comes from the benchmark files (``s``) where
    the rule has them, else from the log's timestamps (one-second
    resolution); CPU time only from benchmark files (``cpu_jobs_measured``
    says of how many jobs); the span is the stage's first job start to last
    job end in the log.
    """
    stages: dict[str, dict] = {}
    for rule, fig in sorted(rules.items()):
        if rule == "all":  # the target rule: no work
            continue
        st = stages.setdefault(
            stage_of(rule),
            {
                "rules": [],
                "jobs": 0,
                "wall_s_sum": 0.0,
                "cpu_s_sum": 0.0,
                "cpu_jobs_measured": 0,
                "max_rss_mb": None,
                "spans": [],
            },
        )
        spans = [s for s in log_jobs.get(rule, []) if s[1] is not None]
        st["rules"].append(rule)
        st["jobs"] += fig["jobs"]
        st["spans"].extend(spans)
        if fig.get("source") == "benchmark files":
            st["wall_s_sum"] += fig["wall_s_sum"]
            st["cpu_s_sum"] += fig["cpu_s_sum"]
            st["cpu_jobs_measured"] += fig["jobs"]
            if fig.get("max_rss_mb") is not None:
                st["max_rss_mb"] = max(st["max_rss_mb"] or 0.0, fig["max_rss_mb"])
        else:
            st["wall_s_sum"] += sum((e - s).total_seconds() for s, e in spans)
    out = {}
    for stage in STAGES:
        if stage not in stages:
            continue
        st = stages[stage]
        spans = st.pop("spans")
        st["span_s"] = (
            (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()
            if spans
            else None
        )
        st["wall_s_sum"] = round(st["wall_s_sum"], 2)
        st["cpu_s_sum"] = round(st["cpu_s_sum"], 2)
        out[stage] = st
    return out


def reads_stage_figures(
    log_jobs: dict[str, list[Span]], rules: dict[str, dict], total_reads: int, log: str
) -> dict:
    """The reads stage's sustained throughput and what else ran in its span.

    Span: first ``library`` job start to last end (Snakemake's log, one-second
    resolution). Inside it, the seconds in which no library job ran split into
    seconds with other jobs running and idle seconds (scheduling gaps).
    """
    reads_stage: dict = {
        "method": "total raw reads / (last library job's end - first library "
        f"job's start), both from the timestamps of Snakemake's log ({log}; "
        "one-second resolution)",
    }
    lib = [s for s in log_jobs.get("library", []) if s[1] is not None]
    if lib:
        first = min(s for s, _ in lib)
        last = max(e for _, e in lib if e is not None)
        span = max((last - first).total_seconds(), 1.0)
        n = int((last - first).total_seconds())

        def busy(spans: list[Span]) -> np.ndarray:
            sec = np.zeros(max(n, 1), dtype=bool)
            for s, e in spans:
                a = int((s - first).total_seconds())
                b = int(((e or last) - first).total_seconds())
                sec[max(a, 0) : max(min(b, n), a + 1)] = True
            return sec

        others = [
            (rule, s)
            for rule, spans in log_jobs.items()
            if rule not in ("library", "all")
            for s in spans
            if s[0] < last and (s[1] or last) > first
        ]
        lib_busy = busy(lib)
        other_busy = busy([s for _, s in others]) & ~lib_busy
        counts: dict[str, int] = defaultdict(int)
        for rule, _ in others:
            counts[rule] += 1
        reads_stage |= {
            "library_jobs": len(lib),
            "first_start": first.isoformat(),
            "last_end": last.isoformat(),
            "wall_span_s": span,
            "reads_per_s": round(total_reads / span),
            "other_jobs_in_span": dict(sorted(counts.items())),
            "seconds_other_jobs_only": int(other_busy.sum()),
            "seconds_idle": int((~lib_busy & ~other_busy).sum()),
        }
    lib_wall = rules.get("library", {}).get("wall_s_sum")
    if lib_wall:
        reads_stage |= {
            "library_jobs_wall_s_sum": lib_wall,
            "reads_per_s_per_job": round(total_reads / lib_wall),
            "note": "the span includes other rules' jobs run in between "
            "(Snakemake schedules what is ready; seconds_other_jobs_only) and "
            "Snakemake's gaps between jobs (seconds_idle); reads_per_s_per_job "
            "is total raw reads / summed wall time of the library jobs "
            "(benchmark `s`), i.e. one job at a time",
        }
    return reads_stage


def display_path(path: Path) -> str:
    """A path relative to the repository when inside it, else absolute."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def write_readme(result: dict, readme: Path) -> None:
    """Render the JSON's block into the README (message either way)."""
    if update_readme(readme, render(result)):
        print(f"bench_trial: {readme} updated (whole-trial block)")
    else:
        print(f"bench_trial: {readme} already up to date")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="JSON file to write (read: --render-only)")
    ap.add_argument(
        "--scenario", type=Path, help="folder to simulate into (must not exist)"
    )
    ap.add_argument("--participants", type=int, default=80)
    ap.add_argument(
        "--reads", type=float, default=5e6, help="mean raw reads per library"
    )
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds of the single-library commands (medians)",
    )
    ap.add_argument(
        "--clean-fastq",
        action="store_true",
        help="delete the simulated FASTQ files after the run (keep the rest)",
    )
    ap.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="README to render the block into (default: README.md when the "
        "JSON is results/bench/trial.json or with --render-only)",
    )
    ap.add_argument("--no-readme", action="store_true", help="leave README alone")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="use an existing, simulated and never-run scenario folder (its "
        "parameters must equal those of the simulate command; not timed)",
    )
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="only re-render the README block from the existing JSON",
    )
    args = ap.parse_args()
    readme = args.readme
    if readme is None and (args.render_only or args.out.resolve() == DEFAULT_JSON):
        readme = REPO / "README.md"
    if args.no_readme:
        readme = None
    if args.render_only:
        if not args.out.exists():
            raise SystemExit(f"bench_trial: {args.out} does not exist (--render-only)")
        if readme is None:
            sys.stdout.write(render(json.loads(args.out.read_text())))
        else:
            write_readme(json.loads(args.out.read_text()), readme)
        return
    if args.scenario is None:
        raise SystemExit(
            "bench_trial: --scenario FOLDER is required (to simulate into)"
        )
    scenario = args.scenario.resolve()
    sim_cmd = [
        "simulate",
        str(scenario),
        "--preset",
        "demo",
        "--set",
        f"trial.timepoints={TIMEPOINTS}",
        "--participants",
        str(args.participants),
        "--reads",
        str(int(args.reads)) if args.reads == int(args.reads) else f"{args.reads:g}",
        "--seed",
        str(args.seed),
        "--threads",
        str(args.cores),
    ]
    if scenario.exists() and not args.reuse:
        raise SystemExit(
            f"bench_trial: {scenario} already exists; remove it or choose another "
            "scenario folder (a finished run there would make Snakemake skip the "
            "work), or reuse a simulated, never-run folder with --reuse "
            "(TRIAL_REUSE=1)"
        )
    reused = scenario.exists()
    if reused:
        check_reusable(scenario, sim_cmd)
    disk = check_disk(scenario, 0 if reused else args.participants, args.reads)
    info = machine()
    info["date_utc"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    info["load_before"] = [round(x, 2) for x in os.getloadavg()]

    # 1. the trial
    if not reused and not os.environ.get("EXOMIR_MIRTARBASE"):
        print(
            "bench_trial: EXOMIR_MIRTARBASE is not set: the simulated trial will "
            "have no miRNA-target table and the pathway stage will not run "
            "(make bench-trial sets it from MIRTARBASE)",
            file=sys.stderr,
        )
    if reused:
        sim_wall = sim_cpu = None
    else:
        scenario.parent.mkdir(parents=True, exist_ok=True)
        sim_wall, _ = timed([str(VENV / "exomir"), *sim_cmd])
        sim_cpu = CPU_SECONDS["last"]
    libs = scenario_libraries(scenario)
    total_reads = sum(lib["raw_reads"] for lib in libs)
    fastq_bytes = sum(lib["fastq"].stat().st_size for lib in libs)
    by_kit: dict[str, dict[str, int]] = {}
    for lib in libs:
        kit = by_kit.setdefault(lib["protocol"], {"libraries": 0, "raw_reads": 0})
        kit["libraries"] += 1
        kit["raw_reads"] += lib["raw_reads"]

    # 2. one library alone, same reads, same machine state
    info["load_before_single_library"] = [round(x, 2) for x in os.getloadavg()]
    work = Path(
        tempfile.mkdtemp(prefix=f"{scenario.name}-single-", dir=scenario.parent)
    )
    try:
        single = single_library(libs, work, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # 3. the whole workflow
    info["load_before_workflow"] = [round(x, 2) for x in os.getloadavg()]
    wf_cmd = [
        str(VENV / "snakemake"),
        "-s",
        str(REPO / "Snakefile"),
        "--cores",
        str(args.cores),
        "--directory",
        str(scenario),
    ]
    wf = run_polled(wf_cmd, REPO)
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]

    logs = sorted((scenario / ".snakemake" / "log").glob("*.snakemake.log"))
    log_jobs = parse_log(logs[-1]) if logs else {}
    rules = read_benchmarks(scenario)
    for rule, spans in sorted(log_jobs.items()):
        if rule in rules:
            rules[rule]["jobs_in_log"] = len(spans)
        else:
            rules[rule] = {"jobs": len(spans), "source": "snakemake log (jobs only)"}
    stages = stage_figures(rules, log_jobs)
    reads_stage = reads_stage_figures(
        log_jobs, rules, total_reads, logs[-1].name if logs else "missing"
    )
    jobs_cpu = sum(st["cpu_s_sum"] for st in stages.values())

    # 4. disk: optionally drop the FASTQ files
    failed = wf["returncode"] != 0
    if args.clean_fastq and not failed:
        for lib in libs:
            lib["fastq"].unlink(missing_ok=True)
    disk |= {
        "fastq_bytes": fastq_bytes,
        "fastq_bytes_per_read": round(fastq_bytes / total_reads, 1)
        if total_reads
        else None,
        "fastq_deleted_after_run": args.clean_fastq and not failed,
        "free_gb_after": round(shutil.disk_usage(scenario).free / 1e9, 2),
    }

    result = {
        "benchmark": "whole trial: simulate the registry's trial, time one library "
        "alone (exomir and the conventional chain) on its reads, then the whole "
        "workflow with `snakemake --cores N` (default profile)",
        "machine": info,
        "scenario": {
            "command": shlex.join(
                ["exomir", *sim_cmd[:1], display_path(scenario), *sim_cmd[2:]]
            ),
            "participants": args.participants,
            "timepoints": TIMEPOINTS,
            "libraries": len(libs),
            "libraries_by_protocol": {
                k: v["libraries"] for k, v in sorted(by_kit.items())
            },
            "raw_reads_by_protocol": {
                k: v["raw_reads"] for k, v in sorted(by_kit.items())
            },
            "reads_per_library_mean_requested": args.reads,
            "reads_per_library_mean": round(total_reads / len(libs)) if libs else 0,
            "total_raw_reads": total_reads,
            "folder": str(scenario),
        },
        "disk": disk,
        "simulation": {
            "reused": reused,
            "wall_s": None if sim_wall is None else round(sim_wall, 2),
            "cpu_s": None if sim_cpu is None else round(sim_cpu, 2),
        },
        "single_library": single,
        "workflow": {
            "command": shlex.join(
                [
                    "snakemake",
                    "-s",
                    "Snakefile",
                    "--cores",
                    str(args.cores),
                    "--directory",
                    display_path(scenario),
                ]
            ),
            "cores": args.cores,
            "wall_s": round(wf["wall_s"], 2),
            "cpu_s": round(wf["cpu_s"], 2),
            "peak_rss_mb_any_process": round(wf["peak_rss_mb"], 1),
            "snakemake_cpu_s": round(wf["own_cpu_s"], 2),
            "snakemake_peak_rss_mb": round(wf["own_peak_rss_mb"], 1),
            "jobs_cpu_s_benchmarked": round(jobs_cpu, 2),
            "cpu_s_unattributed": round(wf["cpu_s"] - wf["own_cpu_s"] - jobs_cpu, 2),
            "note": "wall and CPU time (user + system) of the whole `snakemake` "
            "command, Snakemake itself and every job included; snakemake_cpu_s is "
            "Snakemake's own process (sampled every 0.2 s, without its children); "
            "cpu_s_unattributed = cpu_s - snakemake_cpu_s - the benchmarked jobs' "
            "CPU: jobs without a benchmark file and job start-up outside it",
        },
        "stages": stages,
        "rules": dict(sorted(rules.items())),
        "reads_stage": reads_stage,
    }
    result["ratios"] = compute_ratios(result)
    if failed:
        # what was measured, beside the JSON (never in its place: the README
        # and the committed figures must come from a complete run)
        result["workflow"]["failed_returncode"] = wf["returncode"]
        partial = args.out.with_name(args.out.stem + ".failed.json")
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(result, indent=2) + "\n")
        raise SystemExit(
            f"bench_trial: the workflow failed (exit code {wf['returncode']}; "
            f"Snakemake's log in {scenario / '.snakemake' / 'log'}); the figures "
            f"measured so far are in {partial}, FASTQ files kept"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print(json.dumps(result["workflow"] | {"ratios": result["ratios"]}, indent=2))
    if readme is not None:
        write_readme(result, readme)
    else:
        print(
            f"bench_trial: README not updated (JSON is not {display_path(DEFAULT_JSON)}); "
            "the block would be:\n" + render(result)
        )


if __name__ == "__main__":
    main()
