"""Run every benchmark and write its figures to ``results/bench/*.json``.

Benchmarks measure; they never assert. Each compares exomir with a reference
command measured side by side in the same run (shared machines are noisy, so
ratios from one run are what to read). ``make bench`` runs this script.

Usage::

    .venv/bin/python bench/run_all.py --out results/bench [--only reads merge ...]
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable


def reads_accuracy(out: Path) -> list[str]:
    """Simulate the demo trial (if absent), run the workflow, compare with truth."""
    repo = HERE.parent
    demo = repo / "demo"
    venv = Path(PY).parent
    if not (demo / "truth" / "params.yaml").exists():
        subprocess.run(["make", "-C", str(repo), "demo-data"], check=True)
    subprocess.run(
        [
            str(venv / "snakemake"),
            "-s",
            str(repo / "Snakefile"),
            "--directory",
            str(demo),
            "--cores",
            "2",
            "results/qc/read_funnel.tsv",
        ],
        check=True,
    )
    return [PY, str(HERE / "reads_accuracy.py"), str(demo), "--out", str(out)]


#: name -> command (the output JSON path is filled in).
BENCHMARKS = {
    "reads_accuracy": reads_accuracy,
    "reads": lambda out: [
        PY,
        str(HERE / "bench_reads.py"),
        str(out),
        "--reads",
        "5000000",
    ],
    "preprocess": lambda out: [PY, str(HERE / "bench_preprocess.py"), str(out)],
    "merge": lambda out: [
        PY,
        str(HERE / "bench_merge.py"),
        str(out),
        "--sizes",
        "10",
        "1000",
    ],
    "de_calibration": lambda out: [
        PY,
        str(HERE / "bench_de_calibration.py"),
        "--out",
        str(out),
    ],
    "pathway_calibration": lambda out: [
        PY,
        str(HERE / "bench_pathway_calibration.py"),
        str(out),
    ],
    "survival_calibration": lambda out: [
        PY,
        str(HERE / "bench_survival_calibration.py"),
        str(out),
    ],
}


def main() -> int:
    ap = argparse.ArgumentParser(description="run exomir's benchmarks")
    ap.add_argument("--out", type=Path, default=Path("results/bench"))
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    ap.add_argument("--cores", type=int, default=2, help="informational")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in args.only or list(BENCHMARKS):
        out = args.out / f"{name}.json"
        print(f"== benchmark {name} -> {out}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(BENCHMARKS[name](out), check=False)
        print(
            f"== {name}: exit {proc.returncode} in {time.perf_counter() - start:.0f} s"
        )
        if proc.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed benchmarks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
