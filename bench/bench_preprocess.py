"""Throughput benchmark for the per-library preprocessing step.

Generates a synthetic small-RNA library (default 5 M reads x 75 nt, inserts of
18-24 nt drawn from ~2,000 distinct sequences, TruSeq 3' adapter and the
usual index-primer read-through after it, gzip level 1) and times, in the same
run and on the same file:

* ``zcat FILE | wc -l`` (the decompression floor, single core),
* ``cutadapt -j 2 -q 20`` with the preset's adapter, ``-e 0.1 -O 3 -m 16
  -M 45 --discard-untrimmed`` and uncompressed output (reference tool),
* ``exomir.reads.preprocess.preprocess_library`` with ``threads=2``,
  with and without 3' quality trimming.

Usage::

    .venv/bin/python bench/bench_preprocess.py results.json \
        [--reads 5000000] [--error-rate 0.001] [--workdir DIR] [--keep]

The JSON holds reads/s for every command plus the exomir counts so that the
run can be checked (passed reads must be close to cutadapt's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TRUSEQ = "TGGAATTCTCGGGTGCCAAGG"
# What follows the TruSeq small-RNA 3' adapter in a real read (RA3 remainder,
# index primer with index ATCACG, then the P7 end and poly-A run-off).
TRUSEQ_TAIL = "AACTCCAGTCACATCACGATCTCGTATGCCGTCTTCTGCTTG" + "A" * 40
QIASEQ = "AACTGTAGGCACCATCAAT"
QIASEQ_TAIL = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCACATCACG" + "A" * 40

_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)


def generate_library(
    path: Path,
    n_reads: int,
    n_distinct: int = 2000,
    read_length: int = 75,
    error_rate: float = 0.001,
    umi: bool = False,
    seed: int = 1,
    chunk: int = 500_000,
) -> None:
    """Write a synthetic small-RNA FASTQ.gz (gzip level 1 via pigz or gzip).

    Parameters
    ----------
    path
        Output ``.fastq.gz``.
    n_reads
        Number of reads.
    n_distinct
        Number of distinct inserts (18-24 nt, uniform random bases).
    read_length
        Read length.
    error_rate
        Per-base substitution rate applied to every read position.
    umi
        Build QIAseq-like reads (insert, QIAseq adapter, 12-nt random UMI,
        constant tail) instead of TruSeq ones.
    seed
        Random seed.
    chunk
        Reads generated per block (memory ~ chunk x 170 bytes).
    """
    rng = np.random.default_rng(seed)
    adapter, tail = (QIASEQ, QIASEQ_TAIL) if umi else (TRUSEQ, TRUSEQ_TAIL)
    templates = np.empty((n_distinct, read_length), dtype=np.uint8)
    umi_start = np.empty(n_distinct, dtype=np.int64)
    for i in range(n_distinct):
        length = int(rng.integers(18, 25))
        insert = _BASES[rng.integers(0, 4, length)].tobytes().decode()
        read = insert + adapter + ("N" * 12 if umi else "") + tail
        templates[i] = np.frombuffer(read[:read_length].encode(), dtype=np.uint8)
        umi_start[i] = length + len(adapter)
    # Zipf-like abundance: a few sequences dominate, as in plasma miRNA data.
    weights = 1.0 / np.arange(1, n_distinct + 1) ** 1.1
    weights /= weights.sum()
    # NextSeq-style binned qualities.
    qchars = np.frombuffer(b"EA</6", dtype=np.uint8)
    qprob = np.array([0.86, 0.08, 0.03, 0.02, 0.01])
    width = len(str(n_reads))
    rec_len = 2 + width + 1 + read_length + 3 + read_length + 1
    compressor = ["pigz", "-1", "-p", "2", "-n"] if shutil.which("pigz") else None
    with open(path, "wb") as out:
        if compressor:
            proc = subprocess.Popen(compressor, stdin=subprocess.PIPE, stdout=out)
            sink = proc.stdin
        else:  # pragma: no cover - pigz is installed in the dev image
            import gzip

            proc = None
            sink = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0)
        assert sink is not None
        done = 0
        while done < n_reads:
            n = min(chunk, n_reads - done)
            pick = rng.choice(n_distinct, size=n, p=weights)
            seqs = templates[pick].copy()
            if umi:
                cols = umi_start[pick][:, None] + np.arange(12)[None, :]
                ok = cols < read_length
                rows = np.broadcast_to(np.arange(n)[:, None], cols.shape)
                seqs[rows[ok], cols[ok]] = _BASES[rng.integers(0, 4, int(ok.sum()))]
            if error_rate > 0:
                mask = rng.random(seqs.shape) < error_rate
                seqs[mask] = _BASES[rng.integers(0, 4, int(mask.sum()))]
            quals = qchars[rng.choice(len(qchars), size=seqs.shape, p=qprob)]
            rec = np.empty((n, rec_len), dtype=np.uint8)
            ids = np.char.zfill(np.arange(done, done + n).astype(str), width).astype(
                f"S{width}"
            )
            rec[:, 0] = ord("@")
            rec[:, 1] = ord("r")
            rec[:, 2 : 2 + width] = np.frombuffer(ids.tobytes(), np.uint8).reshape(
                n, width
            )
            p = 2 + width
            rec[:, p] = ord("\n")
            rec[:, p + 1 : p + 1 + read_length] = seqs
            p += 1 + read_length
            rec[:, p : p + 3] = np.frombuffer(b"\n+\n", np.uint8)
            p += 3
            rec[:, p : p + read_length] = quals
            rec[:, -1] = ord("\n")
            sink.write(rec.tobytes())
            done += n
        sink.close()
        if proc is not None and proc.wait() != 0:
            raise RuntimeError("pigz failed")


def _time(cmd: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        ["bash", "-c", cmd], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_out")
    parser.add_argument("--reads", type=int, default=5_000_000)
    parser.add_argument("--distinct", type=int, default=2000)
    parser.add_argument("--error-rate", type=float, default=0.001)
    parser.add_argument("--umi", action="store_true", help="QIAseq-like library")
    parser.add_argument(
        "--fastq",
        default=None,
        help="benchmark this FASTQ.gz instead of a generated one (--umi: QIAseq)",
    )
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-cutadapt", action="store_true")
    args = parser.parse_args(argv)

    from exomir.reads.preprocess import preprocess_library
    from exomir.reads.protocols import PRESETS, TrimSettings

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="exomir-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    fq = workdir / f"synthetic_{args.reads}{'_umi' if args.umi else ''}.fastq.gz"
    if args.fastq:
        fq = Path(args.fastq)
    elif not fq.exists():
        t0 = time.perf_counter()
        generate_library(
            fq, args.reads, args.distinct, error_rate=args.error_rate, umi=args.umi
        )
        print(f"generated {fq} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    protocol = PRESETS["qiaseq" if args.umi else "truseq"]
    zcat_seconds, lines = _time(f"zcat {fq} | wc -l")
    n = int(lines) // 4
    results: dict[str, object] = {
        "fastq": str(fq) if args.fastq else "generated",
        "reads": n,
        "distinct_inserts": None if args.fastq else args.distinct,
        "error_rate": None if args.fastq else args.error_rate,
        "protocol": protocol.name,
        "file_bytes": fq.stat().st_size,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "timings": {},
    }
    timings: dict[str, dict[str, float]] = {}

    def record(name: str, seconds: float) -> None:
        # keep the best of the repeats (other load on the machine only slows)
        best = min(seconds, timings.get(name, {}).get("seconds", float("inf")))
        timings[name] = {"seconds": round(best, 3), "reads_per_s": round(n / best)}
        print(
            f"{name:32s} {seconds:7.2f}s {n / seconds:12,.0f} reads/s", file=sys.stderr
        )

    record("zcat | wc -l", zcat_seconds)
    for i in range(args.repeats):
        if i:
            record("zcat | wc -l", _time(f"zcat {fq} | wc -l")[0])
        if not args.no_cutadapt:
            cutadapt = Path(sys.executable).with_name("cutadapt")
            cmd = (
                f"{cutadapt} -j 2 -a {protocol.adapter_3p} -e 0.1 -O 3 -m 16 -M 45 "
                f"-q 20 --discard-untrimmed -o {workdir / 'cutadapt.fastq'} {fq}"
            )
            record("cutadapt -j 2 -q 20 (trim+filter)", _time(cmd)[0])
        for label, qcut in (("exomir threads=2", 0), ("exomir threads=2 q20", 20)):
            settings = TrimSettings(quality_cutoff=qcut)
            t0 = time.perf_counter()
            stats = preprocess_library(
                fq,
                workdir / "collapsed.fa.gz",
                workdir / "stats.json",
                protocol,
                settings,
                threads=2,
            )
            record(label, time.perf_counter() - t0)
            results[f"stats_{label}"] = {
                k: v for k, v in stats.to_dict().items() if k != "length_hist"
            }
    results["timings"] = timings
    results["peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    results["load_average_after"] = os.getloadavg()
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
