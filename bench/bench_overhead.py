"""Per-job overhead: what a workflow job spends before and besides its work.

Simulates a small scenario (``exomir simulate --preset small``; two
participants, four libraries of ``--reads`` reads by default), runs the
per-library rule and one light cohort rule (``clinical_dataset``) with
Snakemake, keeping the job scripts Snakemake writes (``--skip-script-cleanup``),
and then times those scripts directly, in interleaved rounds (medians):

``interpreter``
    ``python -c pass``.
``job``
    the job script as Snakemake runs it (``python SCRIPT``): the whole job.
``phases``
    the same script through ``bench/overhead_driver.py``, which times, in one
    process: Snakemake's script wrapper (the imports its preamble makes),
    the rest of the preamble (unpickling the ``snakemake`` object, which
    imports exomir's modules for pickled parameters), the shim's imports,
    loading the cached numba kernels, the job, and the job once more in the
    same process (the work alone). Overhead = job minus the work.
``*_cpu_s``
    the CPU seconds (user + system) of the same: the job's from the
    operating system, the phases' from ``time.process_time``. On a machine
    shared with other work the wall times grow with the load; the CPU times
    much less, so they are closer to what an idle machine takes.
``cold_kernels``
    (library job, ``--cold`` rounds) the phases with an empty
    ``NUMBA_CACHE_DIR``: the kernels are compiled, as in a fresh clone's
    first jobs.

With ``--compare-src DIR`` every measurement is also made with
``PYTHONPATH=DIR`` (another checkout's ``src``, e.g. main's) in the same
rounds, on job scripts written by that checkout's ``Snakefile`` (the pickled
parameters name its classes) for a copy of the same simulated scenario, so
before and after come from the same conditions. It measures and
never asserts. ``make bench-overhead`` runs it.

Usage::

    .venv/bin/python bench/bench_overhead.py results/bench/overhead.json \
        [--reads 200000] [--rounds 5] [--compare-src ../main/src]
"""

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_trial import machine

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
VENV = Path(PY).parent
DRIVER = Path(__file__).resolve().parent / "overhead_driver.py"
RULES = {"library": "library", "cohort": "clinical_dataset"}


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str, float]:
    """Run a command; return its wall seconds, stdout and CPU seconds (fail loudly)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall, proc.stdout, _children_cpu() - cpu


def prepare(
    scenario: Path, reads: int, cores: int, variants: dict[str, str]
) -> dict[str, dict[str, Path]]:
    """Simulate the scenario once; per variant, run the two rules with its code.

    Each variant gets its own copy of the simulated scenario (``scenario /
    variant``) and its own job scripts, written by Snakemake running that
    checkout's ``Snakefile`` with its ``src`` (the pickled parameters name
    that checkout's classes). Returns variant -> job -> script.
    """
    sim = ["simulate", "--preset", "small", "--participants", "2"]
    first = scenario / "this"
    subprocess.run(
        [str(VENV / "exomir"), *sim, "--reads", str(reads), str(first)], check=True
    )
    for variant in variants:  # copies of the inputs, before any run
        if not (scenario / variant).exists():
            shutil.copytree(first, scenario / variant)
    out: dict[str, dict[str, Path]] = {}
    for variant, src in variants.items():
        folder = scenario / variant
        checkout = Path(src).parent
        smk = [str(VENV / "snakemake"), "-s", str(checkout / "Snakefile")]
        opts = ["--cores", str(cores), "--quiet", "--skip-script-cleanup"]
        subprocess.run(
            [*smk, "--directory", str(folder), *opts, "--until", *RULES.values()],
            check=True,
            cwd=checkout,
            env=dict(os.environ, PYTHONPATH=src),
        )
        scripts = sorted((folder / ".snakemake" / "scripts").glob("*.py"))
        out[variant] = {}
        for key, rule in RULES.items():
            found = [s for s in scripts if s.name.endswith(f".{rule}.py")]
            if not found:
                raise SystemExit(f"no job script of rule {rule} in {folder}")
            out[variant][key] = found[0]
    return out


def median(values: list[float]) -> float:
    """Median rounded to milliseconds."""
    return round(statistics.median(values), 3)


def summarise(samples: dict) -> dict:
    """Medians per job, variant and component; overhead = job - work."""
    out: dict = {}
    for (job, variant), rows in samples.items():
        entry = {"rounds": len(rows["job"])}
        entry["job_s"] = median(rows["job"])
        entry["job_cpu_s"] = median(rows["job_cpu"])
        entry["interpreter_s"] = median(rows["interpreter"])
        phases = rows["phases"]
        for name in phases[0]:
            entry[f"{name}_s"] = median([p[name] for p in phases])
        entry["work_s"] = entry.pop("second_run_s")
        entry["work_cpu_s"] = entry.pop("second_run_cpu_s")
        entry["overhead_s"] = round(entry["job_s"] - entry["work_s"], 3)
        entry["overhead_cpu_s"] = round(entry["job_cpu_s"] - entry["work_cpu_s"], 3)
        entry.pop("kernel_signatures_s", None)
        entry["kernel_signatures"] = int(phases[0].get("kernel_signatures", 0))
        if rows.get("cold"):
            # an empty cache: the job compiles its kernels in its first run
            cold = median([p["first_run"] for p in rows["cold"]])
            entry["cold_first_run_s"] = cold
            entry["kernel_compile_s"] = round(cold - entry["first_run_s"], 3)
        out.setdefault(job, {})[variant] = entry
    return out


def main() -> None:
    """Parse arguments, prepare, measure interleaved, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--scenario", type=Path, default=None)
    ap.add_argument("--reads", type=float, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cold", type=int, default=1, help="rounds with no numba cache")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--compare-src", type=Path, default=None)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="exomir-overhead-"))
    scenario = args.scenario or tmp / "scenario"
    if scenario.exists():
        raise SystemExit(f"{scenario} exists; give a new --scenario folder")
    load_before = os.getloadavg()
    variants = {"this": str(REPO / "src")}
    if args.compare_src:
        variants["compare"] = str(args.compare_src.resolve())
    all_scripts = prepare(scenario, int(args.reads), args.cores, variants)
    samples: dict = {}
    load_rounds: list[float] = []
    for rnd in range(args.rounds):
        for job in RULES:
            for variant, src in variants.items():
                script = all_scripts[variant][job]
                folder = scenario / variant
                env = dict(os.environ, PYTHONPATH=src)
                rows = samples.setdefault(
                    (job, variant),
                    {
                        "job": [],
                        "job_cpu": [],
                        "interpreter": [],
                        "phases": [],
                        "cold": [],
                    },
                )
                rows["interpreter"].append(run([PY, "-c", "pass"], folder, env)[0])
                wall, _, cpu = run([PY, str(script)], folder, env)
                rows["job"].append(wall)
                rows["job_cpu"].append(cpu)
                cmd = [PY, str(DRIVER), str(script)]
                if job == "library":
                    cmd.append("--warm-kernels")
                rows["phases"].append(json.loads(run(cmd, folder, env)[1]))
                if job == "library" and rnd < args.cold:
                    cache = tempfile.mkdtemp(prefix="numba-", dir=tmp)
                    cold_env = dict(env, NUMBA_CACHE_DIR=cache)
                    rows["cold"].append(json.loads(run(cmd, folder, cold_env)[1]))
        load_rounds.append(round(os.getloadavg()[0], 2))
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    for cache in tmp.glob("numba-*"):  # the cold rounds' compiled kernels
        shutil.rmtree(cache)

    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "load_1min_after_each_round": load_rounds,
        "reads_per_library": int(args.reads),
        "rounds": args.rounds,
        "variants": variants,
        "jobs": {
            variant: {k: v.name for k, v in scripts.items()}
            for variant, scripts in all_scripts.items()
        },
        "rules": RULES,
        "results": summarise(samples),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["results"], indent=2))


if __name__ == "__main__":
    main()
