"""End-to-end reads benchmark: one FASTQ.gz library to miRNA counts.

Simulates one TruSeq library (default 5,000,000 reads x 75 nt; and a QIAseq
library of ``--qiaseq-reads``, timed through exomir only) with the trial
simulator (real miRBase and contaminant sequences, plasma composition,
sequencing errors), then times in the same run, on the same file, each
command ``--repeats`` times (default 3) in interleaved rounds, each round
starting with another command, and reports the medians (and every run's
wall time): on a VM the first large allocation after an idle spell is slow
to touch, and a single run would charge it to whichever command came first:

* ``zcat FILE | wc -l``: the decompression floor;
* exomir: preprocessing (validation, 3' quality trimming at Q20 as in the
  default config, adapter trimming, collapsing) + annotation (contaminants,
  bowtie to miRBase hairpins, isomiRs) + per-library counts, as the
  workflow's rule ``library`` runs them (one process, ``threads=2``,
  :func:`exomir.reads.library.process_library`); the numba kernels are
  compiled (and cached) before timing, like the indexes;
* the same two stages as two processes (``threads=2`` each; the same
  files), for the effect of running them in one;
* exomir's preprocessing once more on the dnaio path (``FAST_SCAN = False``,
  byte-identical output), for the effect of the compiled scan, and once
  with ``threads=1`` (identical output), for the effect of the second
  scanning thread;
* exomir's annotation once more with bowtie for the contaminant search
  (``CONTAMINANT_SEARCH = False``, the same output files), for the effect of
  the compiled search;
* the conventional chain: ``cutadapt -j 2`` (adapter + quality trimming, length
  filter) writing trimmed FASTQ, then ``bowtie -p 2`` on every trimmed read
  against the same hairpin index, then counting reads per hairpin from the
  alignments (``samtools view | cut | sort | uniq -c``). It does no contaminant
  filtering and no isomiR annotation, so it does less work than exomir.

The reference indexes are built once before timing (the workflow builds them
once per run, not per library). Peak memory is the largest resident set of any
process of each command (``wait4`` rusage); CPU seconds (user + system of
the command and its children) are reported too, as they vary less than wall
time on a shared machine. Figures go to a JSON file.

Usage::

    .venv/bin/python bench/bench_reads.py results/bench/reads.json [--reads 5000000]
"""

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
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
ADAPTER = "TGGAATTCTCGGGTGCCAAGG"


CPU_SECONDS: dict[str, float] = {}


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB of its process tree).

    The CPU seconds (user + system, the command and its children) of the last
    call are left in ``CPU_SECONDS["last"]``: on a shared machine they vary
    less than wall time.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    CPU_SECONDS["last"] = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime
    )
    return wall, usage.ru_maxrss / 1024.0


def simulate(fastq: Path, n_reads: int, seed: int, protocol: str = "truseq") -> dict:
    """Write one library with the trial simulator; return its truth funnel."""
    from exomir.simulate.params import resolve_params
    from exomir.simulate.readmodel import build_read_params
    from exomir.simulate.references import load_references
    from exomir.simulate.study import simulate_trial

    params = resolve_params(preset="small", participants=2)
    sim = simulate_trial(params, seed)
    refs = load_references(params)
    rp = build_read_params(params)
    sample = str(sim.samples["sample_id"].iloc[0])
    from exomir.simulate.library import simulate_library
    from exomir.simulate.readmodel import default_adapter

    truth = simulate_library(
        sample,
        fastq,
        n_reads,
        sim.probs[sample],
        protocol,
        rp,
        np.random.default_rng(seed),
        refs.hairpins,
        refs.mature_in_hairpin,
        refs.contaminants,
        default_adapter(protocol),
        mature=refs.mature,
    )
    return {k: int(v) for k, v in truth.funnel.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="JSON file to write")
    ap.add_argument("--reads", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument(
        "--qiaseq-reads",
        type=int,
        default=5_000_000,
        help="reads of a second, QIAseq (UMI) library timed the same way (0: none)",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each command, interleaved; medians are reported",
    )
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="exomir-bench-reads-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.prepare_only:
        prepare(work, args.reads, args.seed, args.qiaseq_reads)
        return
    # Simulation and index building run in a child process, so that this
    # process stays small: forked children inherit its resident set, which
    # would otherwise inflate the peak-memory figures of the timed commands.
    t0 = time.perf_counter()
    subprocess.run(
        [
            PY,
            __file__,
            str(args.out),
            "--reads",
            str(args.reads),
            "--seed",
            str(args.seed),
            "--qiaseq-reads",
            str(args.qiaseq_reads),
            "--workdir",
            str(work),
            "--prepare-only",
        ],
        check=True,
    )
    sim_s = time.perf_counter() - t0
    fq = work / "lib.fastq.gz"
    refdir = work / "reference"
    prep = json.loads((work / "prepare.json").read_text())
    funnel = prep["funnel"]
    hairpin_index = prep["hairpin_index"]
    run(args, work, fq, refdir, hairpin_index, funnel, sim_s, prep["qiaseq_funnel"])


def prepare(work: Path, n_reads: int, seed: int, qiaseq_reads: int) -> None:
    """Simulate the libraries and build the reference (child process)."""
    funnel = simulate(work / "lib.fastq.gz", n_reads, seed)
    umi_funnel = None
    if qiaseq_reads:
        umi_funnel = simulate(work / "umi.fastq.gz", qiaseq_reads, seed + 1, "qiaseq")
    hairpin_index = build_reference(work)
    warm_up(work, work / "reference")
    (work / "prepare.json").write_text(
        json.dumps(
            {
                "funnel": funnel,
                "qiaseq_funnel": umi_funnel,
                "hairpin_index": hairpin_index,
            }
        )
    )


def build_reference(work: Path) -> str:
    """Build the human reference into ``work/reference``; return the hairpin index.

    miRBase v22 hsa and the shipped contaminant sets, as the workflow's rule
    ``build_reference`` builds them (bench/bench_trial.py uses it too).
    """
    from exomir.config import resources_dir
    from exomir.reads.reference import load_reference, prepare_reference

    res = resources_dir()
    refdir = work / "reference"
    contaminants = {
        "artifact": [str(res / "contaminants/artifact.fa")],
        "rRNA": [str(res / "contaminants/rrna_hsa.fa")],
        "tRNA": [str(res / "contaminants/trna_hsa.fa")],
        "snoRNA_snRNA": [str(res / "contaminants/snorna_snrna_hsa.fa")],
    }
    prepare_reference(
        res / "mirbase/v22/hsa/mature.fa",
        res / "mirbase/v22/hsa/hairpin.fa",
        refdir,
        species="hsa",
        contaminants=contaminants,
        threads=2,
    )
    return str(load_reference(refdir).hairpin_index)


def warm_up(work: Path, refdir: Path) -> None:
    """Compile the numba kernels once (cached on disk), on the first reads.

    Like building the index, this is a one-off cost of an installation, not of
    a library.
    """
    import gzip

    from exomir.reads.annotate import annotate_sample
    from exomir.reads.preprocess import preprocess_library
    from exomir.reads.protocols import PRESETS, TrimSettings

    for name, preset in (("umi", "qiaseq"), ("lib", "truseq")):
        if not (work / f"{name}.fastq.gz").exists():
            continue
        small = work / "warm.fastq.gz"
        with (
            gzip.open(work / f"{name}.fastq.gz", "rb") as src,
            gzip.open(small, "wb") as dst,
        ):
            for _ in range(40_000):
                dst.write(src.readline())
        for q in (0, 20):
            preprocess_library(
                small,
                work / "warm.fa.gz",
                work / "warm.json",
                PRESETS[preset],
                TrimSettings(quality_cutoff=q),
            )
    annotate_sample(work / "warm.fa.gz", refdir, "warm", threads=2)


def interleaved_rounds(
    commands: dict[str, list[tuple[str, list[str]]]],
    rounds: int,
    after: Callable[[str], None] | None = None,
) -> dict[str, list[dict]]:
    """Time every command ``rounds`` times in interleaved rounds.

    ``commands`` maps a name to its steps ``(label, argv)``; a run sums its
    steps' wall and CPU seconds and keeps their peak RSS, and a labelled step
    is also recorded on its own (``<label>_seconds``, ``<label>_cpu_seconds``).
    Each round starts with another command, so that none always pays for being
    first (fresh memory is slow to touch on a VM). ``after(name)`` runs after
    each run of a command (e.g. to read what the run wrote).
    """
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    names = list(commands)
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            run = {"seconds": 0.0, "cpu_seconds": 0.0, "peak_rss_mb": 0.0}
            for label, cmd in commands[name]:
                wall, rss = timed(cmd)
                run["seconds"] += wall
                run["cpu_seconds"] += CPU_SECONDS["last"]
                run["peak_rss_mb"] = max(run["peak_rss_mb"], rss)
                if label:
                    run[f"{label}_seconds"] = wall
                    run[f"{label}_cpu_seconds"] = CPU_SECONDS["last"]
            runs[name].append(run)
            if after is not None:
                after(name)
    return runs


def library_code(
    fq: Path, refdir: Path, work: Path, preset: str = "truseq", stem: str = "one"
) -> str:
    """Python code running one library as the workflow's rule ``library`` does.

    One process, both stages (:func:`exomir.reads.library.process_library`,
    ``threads=2``, quality trimming at Q20 as in the default config); outputs
    ``work/<stem>.*`` and the in-process stage times in ``work/<stem>.times.json``.
    """
    return (
        "import json; from exomir.reads.library import LibraryOutputs, process_library;"
        "from exomir.reads.protocols import PRESETS, TrimSettings;"
        f"r = process_library('{fq}', '{refdir}', LibraryOutputs("
        f"'{work}/{stem}.fa.gz', '{work}/{stem}.json', '{work}/{stem}.mirna.tsv',"
        f" '{work}/{stem}.isomir.tsv', '{work}/{stem}.ann.json', '{work}/{stem}.gff'),"
        f" PRESETS['{preset}'], TrimSettings(quality_cutoff=20), threads=2,"
        " sample='lib');"
        f"open('{work}/{stem}.times.json', 'w').write(json.dumps(dict("
        "preprocess=r.preprocess_seconds, annotate=r.annotate_seconds,"
        " write=r.write_seconds)))"
    )


def conventional_chain(
    fq: Path, hairpin_index: str, work: Path
) -> list[tuple[str, list[str]]]:
    """The conventional chain's commands on a TruSeq library: (label, command).

    ``cutadapt -j 2`` (adapter + quality trimming, length filter) writing
    trimmed FASTQ, then ``bowtie -p 2`` on every trimmed read against the
    hairpin index, then counting reads per hairpin from the alignments.
    """
    trimmed = work / "trimmed.fastq"
    cut = [
        str(Path(PY).parent / "cutadapt"),
        "-j",
        "2",
        "-a",
        ADAPTER,
        "-q",
        "20",
        "-e",
        "0.1",
        "-O",
        "3",
        "-m",
        "16",
        "-M",
        "45",
        "--discard-untrimmed",
        "-o",
        str(trimmed),
        str(fq),
        "--quiet",
    ]
    bt = (
        f"bowtie -p 2 -v 1 -a --best --strata --norc -x {hairpin_index} -q {trimmed} -S"
        f" 2>/dev/null | samtools view -F 4 - | cut -f 3 | sort | uniq -c > {work}/conv_counts.txt"
    )
    return [("cutadapt", cut), ("bowtie_count", ["bash", "-c", bt])]


def run(
    args: argparse.Namespace,
    work: Path,
    fq: Path,
    refdir: Path,
    hairpin_index: str,
    funnel: dict,
    sim_s: float,
    qiaseq_funnel: dict | None = None,
) -> None:
    """Time the commands (interleaved, ``args.repeats`` rounds); write the JSON."""
    results: dict = {}
    load_before = os.getloadavg()
    # (b) exomir, quality trimming as in the workflow's default config and cutadapt -q 20
    pre = (
        "from exomir.reads.preprocess import preprocess_library;"
        "from exomir.reads.protocols import PRESETS, TrimSettings;"
        f"preprocess_library('{fq}', '{work}/lib.fa.gz', '{work}/lib.json',"
        " PRESETS['truseq'], TrimSettings(quality_cutoff=20), threads=2,"
        f" sample='lib', long_out='{work}/lib.long.fa.gz')"
    )
    # the long inserts go from one process to the other in a file, as they did
    # in the workflow's two rules; without them the categories differ
    ann = (
        "from exomir.reads.annotate import annotate_sample, write_annotation;"
        f"r = annotate_sample('{work}/lib.fa.gz', '{refdir}', 'lib', threads=2,"
        f" long_inserts='{work}/lib.long.fa.gz');"
        f"write_annotation(r, '{work}/lib.mirna.tsv', '{work}/lib.isomir.tsv',"
        f" '{work}/lib.ann.json', '{work}/lib.gff')"
    )
    # as the workflow's rule `library` runs it: one process, both stages
    one = library_code(fq, refdir, work)
    # the same preprocessing on the dnaio path (no compiled scan), for the
    # effect of that lever; its output is byte-identical
    old = "import exomir.reads.preprocess as pp; pp.FAST_SCAN = False;" + pre.replace(
        f"'{work}/lib.fa.gz', '{work}/lib.json'",
        f"'{work}/old.fa.gz', '{work}/old.json'",
    )
    # the compiled scan on one thread (the two halves of each block one after
    # the other, no read-ahead): the effect of the second scanning thread
    single = pre.replace("threads=2", "threads=1").replace(
        f"'{work}/lib.fa.gz', '{work}/lib.json'",
        f"'{work}/single.fa.gz', '{work}/single.json'",
    )
    # the same annotation with bowtie for every contaminant search (no
    # compiled search), for the effect of that lever; same output files
    bt_ann = (
        "import exomir.reads.annotate.contaminants as A; A.CONTAMINANT_SEARCH = False;"
        + (
            ann.replace(f"'{work}/lib.mirna.tsv'", f"'{work}/bt.mirna.tsv'")
            .replace(f"'{work}/lib.isomir.tsv'", f"'{work}/bt.isomir.tsv'")
            .replace(f"'{work}/lib.ann.json'", f"'{work}/bt.ann.json'")
            .replace(f"'{work}/lib.gff'", f"'{work}/bt.gff'")
        )
    )
    commands: dict[str, list[tuple[str, list[str]]]] = {
        "zcat_wc": [("", ["bash", "-c", f"zcat {fq} | wc -l > /dev/null"])],
        "exomir": [("", [PY, "-c", one])],
        "exomir_two_processes": [
            ("preprocess", [PY, "-c", pre]),
            ("annotate", [PY, "-c", ann]),
        ],
        "exomir_preprocess_dnaio_path": [("", [PY, "-c", old])],
        "exomir_preprocess_one_thread": [("", [PY, "-c", single])],
        "exomir_annotate_bowtie_contaminants": [("", [PY, "-c", bt_ann])],
        # (c) conventional chain
        "conventional": conventional_chain(fq, hairpin_index, work),
    }
    umi_fq = work / "umi.fastq.gz"
    if args.qiaseq_reads:
        # a QIAseq (UMI) library through the rule `library`, and its
        # preprocessing on the dnaio path (the same collapsed file)
        def qiaseq(code: str, stem: str) -> list[tuple[str, list[str]]]:
            """The same command on the QIAseq library, outputs ``umi{stem}.*``."""
            code = (
                code.replace(f"'{fq}'", f"'{umi_fq}'")
                .replace(f"'{work}/{stem}.", f"'{work}/umi{stem}.")
                .replace("PRESETS['truseq']", "PRESETS['qiaseq']")
            )
            return [("", [PY, "-c", code])]

        # one.* -> umione.*, old.* -> umiold.*
        commands["exomir_qiaseq"] = qiaseq(one, "one")
        commands["exomir_qiaseq_preprocess_dnaio_path"] = qiaseq(old, "old")
    in_process: list[dict] = []

    def keep_stage_times(name: str) -> None:
        # each run overwrites its times.json: read it before the next run
        if name in ("exomir", "exomir_qiaseq"):
            stem = "one" if name == "exomir" else "umione"
            times = json.loads((work / f"{stem}.times.json").read_text())
            in_process.append({"name": name, **times})

    runs = interleaved_rounds(commands, args.repeats, after=keep_stage_times)
    for name, done in runs.items():
        entry = {
            key: float(np.median([r[key] for r in done]))
            for key in done[0]
            if key != "peak_rss_mb"
        }
        entry["peak_rss_mb"] = max(r["peak_rss_mb"] for r in done)
        entry["seconds_each_run"] = [r["seconds"] for r in done]
        results[name] = entry
    for name in ("exomir", "exomir_qiaseq"):
        mine = [t for t in in_process if t["name"] == name]
        for stage in ("preprocess", "annotate", "write"):
            if mine:
                results[name][f"{stage}_seconds_in_process"] = float(
                    np.median([t[stage] for t in mine])
                )

    def content(stem: str, ext: str) -> object:
        data = (work / f"{stem}.{ext}").read_bytes()
        if ext != "ann.json":
            return data
        # the one-process job also lists its output files (names differ by stem)
        return {k: v for k, v in json.loads(data).items() if k != "outputs"}

    def same(a: str, b: str, exts: tuple[str, ...]) -> bool:
        return all(content(a, e) == content(b, e) for e in exts)

    results["exomir_two_processes"]["identical_output"] = same(
        "one", "lib", ("fa.gz", "mirna.tsv", "isomir.tsv", "ann.json", "gff")
    )
    results["exomir_preprocess_dnaio_path"]["identical_output"] = same(
        "old", "lib", ("fa.gz",)
    )
    results["exomir_preprocess_one_thread"]["identical_output"] = same(
        "single", "lib", ("fa.gz", "json")
    )
    results["exomir_annotate_bowtie_contaminants"]["identical_output"] = same(
        "bt", "lib", ("mirna.tsv", "isomir.tsv", "ann.json", "gff")
    )
    if args.qiaseq_reads:
        results["exomir_qiaseq_preprocess_dnaio_path"]["identical_output"] = same(
            "umiold", "umione", ("fa.gz",)
        )

    for name, entry in results.items():
        n = args.qiaseq_reads if "qiaseq" in name else args.reads
        entry["reads_per_second"] = n / entry["seconds"]
    stats = json.loads((work / "lib.json").read_text())
    out = {
        "benchmark": "reads end to end, one library, FASTQ.gz to miRNA counts",
        "reads": args.reads,
        "qiaseq_reads": args.qiaseq_reads,
        "repeats": args.repeats,
        "read_length": 75,
        "protocol": "truseq",
        "cores": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "quality_cutoff": 20,
        "python": platform.python_version(),
        "simulate_seconds": sim_s,
        "truth_funnel": funnel,
        "qiaseq_truth_funnel": qiaseq_funnel,
        "exomir_unique_inserts": stats.get("unique_inserts"),
        "results": results,
        "ratios": {
            "exomir_vs_conventional_speedup": results["conventional"]["seconds"]
            / results["exomir"]["seconds"],
            "exomir_vs_zcat_time": results["exomir"]["seconds"]
            / results["zcat_wc"]["seconds"],
            "exomir_vs_conventional_cpu": results["conventional"]["cpu_seconds"]
            / results["exomir"]["cpu_seconds"],
            "one_process_vs_two": results["exomir_two_processes"]["seconds"]
            / results["exomir"]["seconds"],
            "preprocess_compiled_vs_dnaio_path": results[
                "exomir_preprocess_dnaio_path"
            ]["seconds"]
            / results["exomir_two_processes"]["preprocess_seconds"],
            "preprocess_two_threads_vs_one": results["exomir_preprocess_one_thread"][
                "seconds"
            ]
            / results["exomir_two_processes"]["preprocess_seconds"],
            "annotate_compiled_contaminant_search_vs_bowtie": results[
                "exomir_annotate_bowtie_contaminants"
            ]["seconds"]
            / results["exomir_two_processes"]["annotate_seconds"],
        },
        "targets": {
            "reads_per_second_min": 1_000_000,
            "speedup_vs_conventional_min": 3.0,
            "peak_rss_mb_max": 2048,
        },
    }
    if args.qiaseq_reads:
        out["ratios"]["qiaseq_preprocess_compiled_vs_dnaio_path"] = (
            results["exomir_qiaseq_preprocess_dnaio_path"]["seconds"]
            / results["exomir_qiaseq"]["preprocess_seconds_in_process"]
        )
    out["targets"]["met"] = {
        "reads_per_second": results["exomir"]["reads_per_second"] >= 1_000_000,
        "speedup": out["ratios"]["exomir_vs_conventional_speedup"] >= 3.0,
        "memory": results["exomir"]["peak_rss_mb"] <= 2048,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(json.dumps(out["results"], indent=2))
    print(json.dumps(out["ratios"], indent=2))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
