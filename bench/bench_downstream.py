"""Downstream stages at trial scale: time and memory at 160 and 1,000 libraries.

Issue 22 asks that normalisation, DE with shrinkage, pathway scoring with
permutations, the clinical bootstraps and the reports grow at most linearly
with the number of libraries, and stay under 2 GB per job at 1,000 libraries.
This benchmark measures that without reads:

1. ``setup`` simulates the trial (``exomir.simulate.study.simulate_trial``,
   preset ``trial``, the registry's design: baseline and week-1 libraries) and
   writes what ``exomir simulate`` writes except the FASTQ files: the sheets,
   ``config/config.yaml`` (from the repository template, with the interaction
   table the simulator uses when ``EXOMIR_MIRTARBASE`` or
   ``../shared/data/mirna_interactions`` provides one). The per-library counts
   that the reads stage would produce are drawn as a multinomial of each
   library's expected miRNA molecules over the simulator's realised miRNA
   proportions (as ``bench_de_calibration.py --from-simulator``), and
   ``results/qc/library_qc.tsv`` fails the libraries the simulator planted as
   low-yield or haemolysed (A414 > 0.3), as the workflow's QC gates do.
2. Each downstream step then runs in a subprocess of its own, calling the same
   package entry point as the workflow's rule (``workflow/scripts/*.py`` are
   thin shims over them), with the settings built from the validated config
   exactly as the rules build them: ``merge_h5ad`` (the AnnData step of
   ``merge_counts``), ``normalise_counts``, ``de_normalise``, ``de``
   (``treatment_effect``, shrinkage as configured: on), ``pathways_interactions``,
   ``pathways``, ``clinical_dataset`` and ``clinical_biomarker``.
3. Per step: wall time, CPU time (user + system) and peak resident memory of
   the child process (``os.wait4``), at each size; the ratio of the largest to
   the smallest size with the ratio of libraries beside it, and the growth
   exponent over all sizes (:func:`scaling`). A step running longer than
   ``--step-timeout`` is killed and recorded as timed out (a lower bound).

The permutation and bootstrap counts are lowered to keep the run light on a
shared machine (``--n-permutations``, ``--ancova-permutations``,
``--n-bootstrap``; the same at every size, so the ratios are comparable); their
cost is linear in those counts. The JSON records them. The report build is not
measured here (it needs every stage's outputs); see docs/performance.md.

Usage::

    .venv/bin/python bench/bench_downstream.py results/bench/downstream_scaling.json \
        [--participants 86 172 534] [--workdir results/bench-downstream]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: Steps in workflow order; each runs in a child process (``--child STEP``).
STEPS = (
    "merge_h5ad",
    "normalise_counts",
    "de_normalise",
    "de",
    "pathways_interactions",
    "pathways",
    "clinical_dataset",
    "clinical_biomarker",
)
#: The DE contrast fitted (the trial's main contrast).
CONTRAST = "treatment_effect"
#: Targets of issue 22.
MAX_RSS_MB = 2000


# --------------------------------------------------------------------------- #
# Child steps
# --------------------------------------------------------------------------- #


def _setup(d: Path, participants: int, seed: int, light: dict[str, int]) -> dict:
    """Simulate the trial's tables and counts into ``d`` (no reads)."""
    import numpy as np
    import pandas as pd

    from exomir.simulate.params import resolve_params
    from exomir.simulate.references import load_references
    from exomir.simulate.scenario import (
        SHEETS,
        _yaml_text,
        build_config,
        repo_config_template,
    )
    from exomir.simulate.study import simulate_trial
    from exomir.simulate.truth import write_frame

    shared = REPO.parent / "shared/data/mirna_interactions"
    mti = sorted(shared.glob("mirtarbase*_hsa*.tsv")) if shared.is_dir() else []
    if mti and not os.environ.get("EXOMIR_MIRTARBASE"):
        os.environ["EXOMIR_MIRTARBASE"] = str(mti[0])
    params = resolve_params(preset="trial", participants=participants)
    refs = load_references(params)
    sim = simulate_trial(params, seed, references=refs)
    frames = {
        "samples": sim.samples,
        "participants": sim.participants,
        "clinical_measurements": sim.clinical,
        "adverse_events": sim.adverse_events,
        "disposition": sim.disposition,
        "ev_lots": sim.ev_lots,
        "ev_nta_runs": sim.nta_runs,
    }
    for kind, rel in SHEETS.items():
        write_frame(frames[kind], d / rel)
    cfg = build_config(params, repo_config_template())
    if cfg is None:
        raise SystemExit("bench_downstream: config/config.yaml template not found")
    pw = cfg.setdefault("pathways", {})
    pw["n_permutations"] = light["n_permutations"]
    pw["ancova_permutations"] = light["ancova_permutations"]
    cl = cfg.setdefault("clinical", {})
    cl.setdefault("association", {})["n_bootstrap"] = light["n_bootstrap"]
    (d / "config" / "config.yaml").write_text(_yaml_text(cfg))

    # Counts the reads stage would give: multinomial over realised proportions.
    design = sim.expression.design.set_index("sample_id")
    probs = sim.probs
    rng = np.random.default_rng(seed + 10_000)
    sample_ids = list(sim.samples["sample_id"])
    cols = {}
    for sid in sample_ids:
        p = probs[sid].to_numpy(dtype=float)
        n = round(float(design.at[sid, "expected_molecules"]))
        cols[sid] = rng.multinomial(n, p / p.sum())
    counts = pd.DataFrame(cols, index=probs.index)
    counts = counts.loc[counts.sum(axis=1) > 0].sort_index()
    counts.index.name = "mirna"
    (d / "results" / "counts").mkdir(parents=True, exist_ok=True)
    counts.reset_index().to_csv(
        d / "results" / "counts" / "mirna_counts.tsv", sep="\t", index=False
    )
    info = sim.library_info.set_index("sample_id")
    a414 = sim.samples.set_index("sample_id").get("hemolysis_a414")
    reasons = []
    for sid in sample_ids:
        r = []
        if bool(info.at[sid, "low_yield"]):
            r.append("min_raw_reads")
        if a414 is not None and pd.notna(a414.get(sid)) and float(a414[sid]) > 0.3:
            r.append("max_a414")
        reasons.append(",".join(r))
    qc = pd.DataFrame(
        {
            "sample_id": sample_ids,
            "pass": ["false" if r else "true" for r in reasons],
            "reasons": reasons,
        }
    )
    (d / "results" / "qc").mkdir(parents=True, exist_ok=True)
    qc.to_csv(d / "results" / "qc" / "library_qc.tsv", sep="\t", index=False)
    return {
        "participants": len(sim.participants),
        "libraries": len(sample_ids),
        "libraries_failing_qc": int(sum(bool(r) for r in reasons)),
        "mirnas": int(counts.shape[0]),
        "interactions": os.environ.get("EXOMIR_MIRTARBASE") or None,
    }


def _run_step(step: str, d: Path) -> None:
    """Run one downstream step in ``d`` with the workflow's entry point."""
    os.chdir(d)
    from exomir.config import resolve_path, validate_config

    with open("config/config.yaml", encoding="utf-8") as fh:
        import yaml

        cfg = validate_config(yaml.safe_load(fh), "config/config.yaml")

    def ref(value: Any) -> str:
        return str(resolve_path(str(value), Path(".")))

    sheet = {k: ref(v) for k, v in cfg["sheets"].items()}
    res = Path("results")
    if step == "merge_h5ad":
        from exomir.reads.merge import write_mirna_h5ad
        from exomir.tables import read_table

        write_mirna_h5ad(
            res / "counts/mirna_counts.tsv",
            read_table(sheet["samples"], "samples"),
            read_table(sheet["participants"], "participants"),
            res / "counts/mirna_raw.h5ad",
        )
    elif step in ("normalise_counts", "de_normalise", "de"):
        from exomir.de.settings import de_settings
        from exomir.de.stage import contrast_step, normalise_counts_step, normalise_step

        settings = de_settings(cfg)
        common = {
            "qc": res / "qc/library_qc.tsv",
            "samples": sheet["samples"],
            "participants": sheet["participants"],
            "settings": settings,
        }
        (res / "de/plots").mkdir(parents=True, exist_ok=True)
        if step == "normalise_counts":
            normalise_counts_step(
                raw_h5ad=res / "counts/mirna_raw.h5ad",
                h5ad=res / "counts/mirna.h5ad",
                **common,
            )
        elif step == "de_normalise":
            normalise_step(
                counts=res / "counts/mirna_counts.tsv",
                counts_h5ad=res / "counts/mirna.h5ad",
                h5ad=res / "de/mirna.h5ad",
                mirnas=res / "de/mirna_filter.tsv",
                libraries=res / "de/libraries.tsv",
                pca=res / "de/pca.tsv",
                pca_plot=res / "de/plots/pca.svg",
                **common,
            )
        else:
            contrast_step(
                contrast=CONTRAST,
                counts=res / "counts/mirna_counts.tsv",
                table=res / f"de/{CONTRAST}.tsv",
                contrast_samples=res / f"de/{CONTRAST}.samples.tsv",
                volcano=res / f"de/plots/{CONTRAST}.volcano.svg",
                ma=res / f"de/plots/{CONTRAST}.ma.svg",
                threads=1,
                **common,
            )
    elif step in ("pathways_interactions", "pathways"):
        from exomir.pathways.run import interactions_step, pathways_step
        from exomir.pathways.settings import pathway_settings

        # Without a DE table (the DE step did not finish in time) the contrast
        # enrichment is left out; the benchmark records that.
        de_table = res / f"de/{CONTRAST}.tsv"
        contrasts = [CONTRAST] if de_table.is_file() else []
        settings = pathway_settings(cfg, contrasts)
        out = res / "pathways"
        out.mkdir(parents=True, exist_ok=True)
        if step == "pathways_interactions":
            interactions_step(
                sources=[ref(s["path"]) for s in cfg["pathways"]["interactions"]],
                mature=ref(cfg["reference"]["mature"]),
                interactions=out / "interactions.tsv",
                mapping=out / "mirna_mapping.tsv",
                settings=settings,
            )
        else:
            roles = cfg["pathways"].get("roles")
            pathways_step(
                h5ad=res / "de/mirna.h5ad",
                interactions=out / "interactions.tsv",
                gmts=[ref(g["gmt"]) for g in cfg["pathways"]["gene_sets"]],
                roles=ref(roles) if roles else None,
                de_tables={c: de_table for c in contrasts},
                network=out / "network.tsv",
                scores=out / "scores.tsv",
                tests=out / "tests.tsv",
                plot=out / "scores_by_arm.png",
                summary=out / "summary.json",
                settings=settings,
            )
    elif step in ("clinical_dataset", "clinical_biomarker"):
        from exomir.clinical.stage import (
            biomarker_from_files,
            clinical_stage_settings,
            dataset_from_files,
        )
        from exomir.units import conversions_path

        settings = clinical_stage_settings(cfg)
        out = res / "clinical"
        out.mkdir(parents=True, exist_ok=True)
        if step == "clinical_dataset":
            dataset_from_files(
                participants=sheet["participants"],
                clinical_measurements=sheet["clinical_measurements"],
                conversions=ref(conversions_path(cfg)),
                disposition=sheet.get("disposition"),
                dataset=out / "analysis_dataset.tsv",
                populations_out=out / "populations.tsv",
                flags=out / "data_flags.tsv",
                plausibility=out / "plausibility.tsv",
                settings=settings,
            )
        else:
            biomarker_from_files(
                participants=sheet["participants"],
                dataset=out / "analysis_dataset.tsv",
                h5ad=res / "de/mirna.h5ad",
                association=out / "association.tsv",
                baseline=out / "baseline_table.tsv",
                settings=settings,
            )
    else:
        raise SystemExit(f"bench_downstream: unknown step {step!r}")


# --------------------------------------------------------------------------- #
# Parent: measure each child
# --------------------------------------------------------------------------- #


def measure(cmd: list[str], log: Path, timeout: float | None = None) -> dict[str, Any]:
    """Run ``cmd``; return its wall time, CPU time and peak RSS (``os.wait4``).

    A child still running after ``timeout`` seconds is killed and recorded with
    ``timed_out: true`` (its CPU time and peak RSS up to then); any other
    failure stops the benchmark.
    """
    env = os.environ | {"PYTHONPATH": str(REPO / "src")}
    t0 = time.perf_counter()
    timed_out = False
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - t0 > timeout:
                proc.kill()
                timed_out = True
                _, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 and not timed_out:
        raise SystemExit(
            f"bench_downstream: {' '.join(cmd[-4:])} failed "
            f"(exit {proc.returncode}); see {log}"
        )
    # ru_maxrss is in KiB on Linux.
    out: dict[str, Any] = {
        "wall_s": round(wall, 2),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
        "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
    }
    if timed_out:
        out["timed_out"] = True
    return out


def scaling(sizes: dict[str, Any]) -> dict[str, Any]:
    """Ratios of the largest to the smallest size and growth exponents per step.

    The exponent ``k`` in ``cost ~ libraries**k`` is the least-squares slope of
    log CPU time (and log peak RSS) on log libraries over all sizes; ``k <= 1``
    is at most linear. A step that timed out gives a lower bound.
    """
    import numpy as np

    keys = sorted(sizes, key=int)
    lo, hi = sizes[keys[0]], sizes[keys[-1]]
    lib_ratio = int(keys[-1]) / int(keys[0])
    x = np.log([int(k) for k in keys])
    rows = {}
    for step in STEPS:
        a, b = lo["steps"].get(step), hi["steps"].get(step)
        if a is None or b is None:
            continue
        cpu_ratio = b["cpu_s"] / max(a["cpu_s"], 1e-9)
        rss_ratio = b["peak_rss_mb"] / max(a["peak_rss_mb"], 1e-9)
        cpu = [sizes[k]["steps"][step]["cpu_s"] for k in keys]
        rss = [sizes[k]["steps"][step]["peak_rss_mb"] for k in keys]
        bound = any(sizes[k]["steps"][step].get("timed_out") for k in keys)
        rows[step] = {
            "wall_ratio": round(b["wall_s"] / max(a["wall_s"], 1e-9), 2),
            "cpu_ratio": round(cpu_ratio, 2),
            "rss_ratio": round(rss_ratio, 2),
            "cpu_exponent": round(float(np.polyfit(x, np.log(cpu), 1)[0]), 2),
            "rss_exponent": round(float(np.polyfit(x, np.log(rss), 1)[0]), 2),
            "lower_bound": bound,
            "linear": cpu_ratio <= lib_ratio and rss_ratio <= lib_ratio,
            "under_2gb": b["peak_rss_mb"] < MAX_RSS_MB,
        }
    return {
        "libraries": [int(k) for k in keys],
        "library_ratio": round(lib_ratio, 2),
        "target": f"CPU time and peak RSS ratio <= library ratio (exponent <= 1); "
        f"peak RSS < {MAX_RSS_MB} MB per job at the largest size",
        "steps": rows,
    }


def machine() -> dict[str, Any]:
    """The machine as bench-trial describes it, with the run's date and load.

    Imported here, not at the top: the measured child steps run this script
    too and must not pay for the import.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_trial

    return bench_trial.machine() | {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, nargs="?", help="JSON file to write")
    ap.add_argument(
        "--participants",
        type=int,
        nargs="+",
        default=[86, 172, 534],
        help="trial sizes in participants (default 86 172 534: about 160, 320 and 1,000 libraries)",
    )
    ap.add_argument("--workdir", type=Path, default=REPO / "results/bench-downstream")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--n-permutations", type=int, default=1000)
    ap.add_argument("--ancova-permutations", type=int, default=200)
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument(
        "--step-timeout",
        type=float,
        default=1800,
        help="seconds after which a step is killed and recorded as timed out",
    )
    ap.add_argument(
        "--append",
        action="store_true",
        help="add these sizes to the sizes already in the JSON file",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    light = {
        "n_permutations": args.n_permutations,
        "ancova_permutations": args.ancova_permutations,
        "n_bootstrap": args.n_bootstrap,
    }
    if args.child == "setup":
        info = _setup(args.dir, args.participants[0], args.seed, light)
        (args.dir / "setup.json").write_text(json.dumps(info, indent=2) + "\n")
        return 0
    if args.child:
        _run_step(args.child, args.dir)
        return 0
    if args.out is None:
        ap.error("the JSON output path is required")

    result: dict[str, Any] = {
        "benchmark": "downstream stages without reads (issue 22); each step in a "
        "child process calling the workflow rule's package entry point",
        "machine": machine(),
        "settings": light
        | {
            "contrast": CONTRAST,
            "seed": args.seed,
            "threads_per_step": 1,
            "note": "permutation and bootstrap counts lowered from the defaults "
            "(10000, 2000, 2000) to keep the run light; identical at every size",
        },
        "sizes": {},
    }
    if args.append and args.out.is_file():
        old = json.loads(args.out.read_text())
        if old.get("settings", {}).get("n_permutations") != light["n_permutations"]:
            raise SystemExit("bench_downstream: --append with different settings")
        result["sizes"] = old["sizes"]
    for n in args.participants:
        d = args.workdir / f"p{n}"
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        (d / "logs").mkdir()
        me = [sys.executable, str(Path(__file__).resolve())]
        flags = [
            "--seed",
            str(args.seed),
            "--n-permutations",
            str(args.n_permutations),
            "--ancova-permutations",
            str(args.ancova_permutations),
            "--n-bootstrap",
            str(args.n_bootstrap),
        ]
        setup = measure(
            [
                *me,
                *flags,
                "--participants",
                str(n),
                "--child",
                "setup",
                "--dir",
                str(d),
            ],
            d / "logs/setup.log",
        )
        info = json.loads((d / "setup.json").read_text())
        load = [round(x, 2) for x in os.getloadavg()]
        steps = {}
        for step in STEPS:
            steps[step] = measure(
                [*me, *flags, "--child", step, "--dir", str(d)],
                d / f"logs/{step}.log",
                timeout=args.step_timeout,
            )
            print(f"{info['libraries']} libraries: {step} {steps[step]}", flush=True)
        steps["pathways"]["contrast_enrichment"] = "de" in steps and not steps[
            "de"
        ].get("timed_out")
        result["sizes"][str(info["libraries"])] = info | {
            "load_before": load,
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "simulation": setup,
            "steps": steps,
        }
    if len(result["sizes"]) >= 2:
        result["scaling"] = scaling(result["sizes"])
    result["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"]["peak_rss_mb_parent"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result.get("scaling", {}), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
