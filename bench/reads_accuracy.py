"""Accuracy of the reads-to-counts stage on a simulated scenario (issue 5).

Usage::

    python bench/reads_accuracy.py SCENARIO --out OUT.json \
        [--fp-reads 100000] [--fp-seed 20260505] [--threads 2] [--workdir DIR]

``SCENARIO`` is a directory written by ``exomir simulate`` on which the
workflow has run at least up to ``results/qc/read_funnel.tsv`` (it reads
``truth/``, ``config/config.yaml``, ``results/counts/mirna_counts.tsv``,
``results/qc/read_funnel.tsv`` and ``results/reference/``). The JSON holds,
per library and per protocol, the count error, the Pearson r, the read-funnel
differences and the false-positive rate of a contaminant-only control library;
see :mod:`exomir.simulate.accuracy` for the definitions. A summary is printed.
The exit status is 0 whether or not the targets are met (the JSON's ``pass``
and ``failures`` say); 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from exomir.simulate.accuracy import evaluate_run, format_summary, write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", type=Path, help="simulated scenario directory")
    parser.add_argument("--out", type=Path, required=True, help="output JSON")
    parser.add_argument(
        "--fp-reads",
        type=int,
        default=100_000,
        help="reads of the contaminant-only control library (0 = skip)",
    )
    parser.add_argument("--fp-seed", type=int, default=20260505)
    parser.add_argument("--threads", type=int, default=2, help="bowtie threads")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the control library here"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    for rel in (
        "truth/funnel.tsv",
        "results/counts/mirna_counts.tsv",
        "results/qc/read_funnel.tsv",
        "results/reference/reference.json",
    ):
        if not (args.scenario / rel).exists():
            parser.error(f"{args.scenario / rel} is missing (run simulate + workflow)")
    t0 = time.perf_counter()
    report = evaluate_run(
        args.scenario,
        fp_reads=args.fp_reads,
        fp_seed=args.fp_seed,
        threads=args.threads,
        workdir=args.workdir,
    )
    report["seconds"] = round(time.perf_counter() - t0, 2)
    write_report(report, args.out)
    print(format_summary(report))
    print(f"written {args.out} ({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
