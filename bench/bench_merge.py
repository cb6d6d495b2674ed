"""Benchmark: peak RSS of the count merge for few vs many libraries.

Usage::

    python bench/bench_merge.py OUT.json [--sizes 10 1000] [--workdir DIR]

Synthetic per-library ``.mirna.tsv`` / ``.isomir.tsv`` files (contract format)
are written once for the largest size; each size is then merged
(:func:`exomir.reads.merge.merge_counts`: miRNA TSV, isomiR TSV, h5ad) in a
fresh child process whose own peak RSS (``ru_maxrss``) and wall time are
recorded. The JSON holds one record per size and the RSS ratio of the largest
to the smallest run; a streaming merge keeps it close to 1.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ISOMIR_HEADER = (
    "sequence\tmirna\thairpin\tstart\tend\tiso_5p\tiso_3p\tiso_add3p\tiso_snv\t"
    "variant\tcount\n"
)


def generate(root: Path, n: int, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    mir_pool = sorted(f"hsa-miR-{i}-5p" for i in range(args.mirna_pool))
    iso_pool = sorted(
        {
            (
                f"hsa-miR-{i % args.mirna_pool}-5p",
                "".join(rng.choice("ACGT") for _ in range(rng.randint(18, 25))),
                rng.choice(["NA", "iso_3p:-1", "iso_add3p:+1", "iso_5p:+1"]),
            )
            for i in range(args.isomir_pool)
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    k_mir = min(args.mirnas_per_library, len(mir_pool))
    k_iso = min(args.isomirs_per_library, len(iso_pool))
    for s in range(n):
        sid = f"L{s:05d}"
        rows = sorted(rng.sample(mir_pool, k_mir))
        with open(root / f"{sid}.mirna.tsv", "w", encoding="utf-8") as fh:
            fh.write("mirna\tcount\n")
            fh.writelines(f"{m}\t{rng.randint(1, 20_000)}\n" for m in rows)
        iso = sorted(rng.sample(iso_pool, k_iso))
        with open(root / f"{sid}.isomir.tsv", "w", encoding="utf-8") as fh:
            fh.write(ISOMIR_HEADER)
            fh.writelines(
                f"{q}\t{m}\t{m.lower()}\t1\t{len(q)}\t0\t0\t0\t0\t{v}\t"
                f"{rng.randint(1, 2_000)}\n"
                for m, q, v in iso
            )


def child(libdir: Path, n: int, outdir: Path) -> None:
    """Merge the first ``n`` libraries; print peak RSS and time as JSON."""
    import pandas as pd

    from exomir.reads.merge import merge_counts

    ids = [f"L{s:05d}" for s in range(n)]
    samples = pd.DataFrame(
        {"sample_id": ids, "participant_id": [f"P{s // 2:05d}" for s in range(n)]}
    )
    participants = pd.DataFrame(
        {
            "participant_id": sorted(set(samples["participant_id"])),
        }
    )
    participants["arm"] = ["placebo", "exosome"] * (len(participants) // 2) + [
        "placebo"
    ] * (len(participants) % 2)
    t0 = time.perf_counter()
    mirna, isomir = merge_counts(
        {s: libdir / f"{s}.mirna.tsv" for s in ids},
        {s: libdir / f"{s}.isomir.tsv" for s in ids},
        samples,
        participants,
        outdir / "mirna_counts.tsv",
        outdir / "isomir_counts.tsv",
        outdir / "mirna.h5ad",
    )
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "libraries": n,
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "seconds": round(seconds, 2),
                "mirna_rows": mirna.n_features,
                "isomir_rows": isomir.n_features,
                "isomir_tsv_mb": round(
                    (outdir / "isomir_counts.tsv").stat().st_size / 2**20, 1
                ),
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="JSON file to write")
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 1000])
    p.add_argument("--mirnas-per-library", type=int, default=600)
    p.add_argument("--mirna-pool", type=int, default=2600)
    p.add_argument("--isomirs-per-library", type=int, default=3000)
    p.add_argument("--isomir-pool", type=int, default=60000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument(
        "--child", nargs=3, metavar=("LIBDIR", "N", "OUTDIR"), help=argparse.SUPPRESS
    )
    args = p.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), int(args.child[1]), Path(args.child[2]))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench_merge.") as tmp:
        work = args.workdir or Path(tmp)
        libdir = work / "libraries"
        t0 = time.perf_counter()
        generate(libdir, max(args.sizes), args)
        gen_s = time.perf_counter() - t0
        runs = []
        for n in args.sizes:
            outdir = work / f"out_{n}"
            outdir.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    str(args.out),
                    "--child",
                    str(libdir),
                    str(n),
                    str(outdir),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr)
                return proc.returncode
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"{n} libraries: {runs[-1]}", file=sys.stderr)
    small = min(runs, key=lambda r: r["libraries"])
    large = max(runs, key=lambda r: r["libraries"])
    result = {
        "benchmark": "exomir.reads.merge.merge_counts peak RSS vs number of libraries",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "parameters": {
            k: getattr(args, k)
            for k in (
                "mirnas_per_library",
                "mirna_pool",
                "isomirs_per_library",
                "isomir_pool",
                "seed",
            )
        },
        "generate_seconds": round(gen_s, 1),
        "runs": runs,
        "rss_ratio_largest_to_smallest": round(
            large["peak_rss_mb"] / small["peak_rss_mb"], 3
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
