"""``exomir simulate``: write a complete simulated trial scenario with its truth.

The scenario directory (layout in ``docs/CONTRACTS.md``) holds the workflow
configuration, every input table of analysis_spec §5, the FASTQ files, the NTA
exports, and a ``truth/`` folder the workflow never reads.

Randomness: the seed's ``libraries`` stream (:data:`~exomir.simulate.study.STREAMS`)
gives each library its own child stream, so the libraries can be written by
several processes and the bytes of every file depend only on the seed and the
parameters, never on ``--threads``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from exomir import __version__
from exomir.atomic import atomic_open
from exomir.simulate import ev as ev_mod
from exomir.simulate.followup import later_visits, schedule_of, seed_sequence
from exomir.simulate.library import simulate_library
from exomir.simulate.params import (
    PRESETS,
    ParamError,
    dump_params,
    qc_gates,
    recorded_params,
    resolve_params,
)
from exomir.simulate.references import References, load_references
from exomir.simulate.study import STREAMS, SimulatedTrial, simulate_trial
from exomir.simulate.truth import pathway_input_paths, write_frame, write_truth

#: Sheet kind -> path inside the scenario directory.
SHEETS = {
    "samples": "config/samples.tsv",
    "participants": "config/participants.tsv",
    "clinical_measurements": "config/clinical_measurements.tsv",
    "adverse_events": "config/adverse_events.tsv",
    "disposition": "config/disposition.tsv",
    "ev_lots": "config/ev_lots.tsv",
    "ev_nta_runs": "config/ev_nta_runs.tsv",
}
#: The long-term events sheet (written when ``events.enabled``).
EVENTS_SHEET = "config/events.tsv"
#: Sub-directories the simulator owns (removed first with ``force=True``).
OWNED_DIRS = ("config", "data", "truth")


def _log(msg: str) -> None:
    print(f"[exomir simulate] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Libraries (FASTQ), possibly in parallel

_WORKER: dict[str, Any] = {}


def _init_worker(refs: References, rp: Any) -> None:
    _WORKER["refs"] = refs
    _WORKER["rp"] = rp


def _run_library(task: tuple[Any, ...]) -> Any:
    sample_id, path, n_reads, probs, protocol, adapter, seed_seq = task
    refs: References = _WORKER["refs"]
    return simulate_library(
        sample_id,
        Path(path),
        int(n_reads),
        probs,
        protocol,
        _WORKER["rp"],
        np.random.default_rng(seed_seq),
        refs.hairpins,
        refs.mature_in_hairpin,
        refs.contaminants,
        adapter,
        mature=refs.mature,
    )


def write_libraries(
    outdir: Path,
    sim: SimulatedTrial,
    refs: References,
    threads: int = 1,
) -> list[Any]:
    """Write one FASTQ per library; identical output for any ``threads``.

    Parameters
    ----------
    outdir
        Scenario directory.
    sim
        Simulated trial with expression.
    refs
        References.
    threads
        Worker processes (1 = in this process).

    Returns
    -------
    list
        ``LibraryTruth`` per library, in ``sample_id`` order.
    """
    root = np.random.SeedSequence(sim.seed)
    lib_root = root.spawn(len(STREAMS))[STREAMS.index("libraries")]
    info = sim.library_info
    n_base = len(info) if sim.n_base_libraries is None else sim.n_base_libraries
    # Later blood draws of a long trial: children of their own seed sequence.
    seeds = lib_root.spawn(n_base) + seed_sequence(sim.seed, "libraries").spawn(
        len(info) - n_base
    )
    smp = sim.samples.set_index("sample_id")
    assert sim.probs is not None
    tasks = []
    for (_, row), ss in zip(info.iterrows(), seeds, strict=True):
        sid = str(row["sample_id"])
        tasks.append(
            (
                sid,
                str(outdir / smp.loc[sid, "fastq"]),
                int(row["depth"]),
                sim.probs[sid],
                str(row["protocol"]),
                str(smp.loc[sid, "adapter_3p"]),
                ss,
            )
        )
    if threads <= 1:
        _init_worker(refs, sim.read_params)
        try:
            return [_run_library(t) for t in tasks]
        finally:
            _WORKER.clear()
    # forkserver: no fork() of a process that may hold BLAS threads.
    ctx = multiprocessing.get_context(
        "forkserver"
        if "forkserver" in multiprocessing.get_all_start_methods()
        else None
    )
    with ProcessPoolExecutor(
        max_workers=threads,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(refs, sim.read_params),
    ) as pool:
        return list(pool.map(_run_library, tasks, chunksize=1))


# ---------------------------------------------------------------------------
# Output helpers


def repo_config_template() -> Path:
    """Return the path of the repository's ``config/config.yaml`` template.

    Returns
    -------
    Path
        ``<repo>/config/config.yaml`` (may not exist in an installed package).
    """
    return Path(__file__).resolve().parents[3] / "config" / "config.yaml"


def build_config(params: Mapping[str, Any], template: Path) -> dict[str, Any] | None:
    """Adapt the repository config template to the simulated scenario.

    Parameters
    ----------
    params
        Resolved parameters.
    template
        The template file.

    Returns
    -------
    dict or None
        The configuration, or ``None`` if the template does not exist.
    """
    if not template.is_file():
        return None
    with open(template, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    cfg.setdefault("sheets", {}).update(SHEETS)
    design = cfg.setdefault("design", {})
    design["arms"] = list(params["trial"]["arms"])
    design["timepoints"] = list(params["trial"]["timepoints"])
    design["strata"] = ["stratum"]
    cfg.setdefault("trial", {})["primary_mirna"] = params["reference"]["primary_mirna"]
    cfg.setdefault("qc", {}).update(qc_gates(params))
    # The recruitment plan of the simulated trial: every participant over the
    # enrolment period (DSMB enrolment table, linear plan).
    t = params["trial"]
    cfg["enrolment"] = {
        "target_randomised": int(t["n_participants"]),
        "start_date": str(t["start_date"]),
        "planned_months": max(1, math.ceil(int(t["enrolment_days"]) / 30.4375)),
    }
    if params["trial"].get("schedule") or params["events"]["enabled"]:
        _long_trial_config(cfg, params)
    if params["sites"]["names"]:
        design["sites"] = {str(k): str(v) for k, v in params["sites"]["names"].items()}
    mti, _ = pathway_input_paths(params)
    if mti is not None and mti.is_file():
        # Score pathways on the network the pathway truth was drawn from.
        cfg.setdefault("pathways", {})["interactions"] = [
            {"path": str(mti), "format": "mirtarbase", "evidence": ["Functional MTI"]}
        ]
    return cfg


def _long_trial_config(cfg: dict[str, Any], params: Mapping[str, Any]) -> None:
    """Add the long trial's visits, schedule and time-to-event block to ``cfg``.

    The data cut (``trial.data_cut``) is added by :func:`run_simulation`.
    """
    design = cfg["design"]
    sched = schedule_of(params)
    if sched:
        design["primary_visit"] = str(params["trial"]["timepoints"][1])
        # Chronological, as the schema requires (the rest of the file is sorted).
        design["schedule"] = InOrder(
            (v, {"day": d, "window": w}) for v, (d, w) in sched.items()
        )
        visits = list(design.get("visits") or [])
        tail = [v for v in visits if v == "unscheduled"]
        head = [v for v in visits if v != "unscheduled"]
        new = [v for v, _, _ in later_visits(params) if v not in visits]
        new += [v for v in sched if v not in visits and v not in new]
        design["visits"] = head + new + tail
    ev = params["events"]
    if ev["enabled"]:
        cfg["sheets"]["events"] = EVENTS_SHEET
        cfg["time_to_event"] = {
            "endpoints": {
                c: {"label": str(s["label"])} for c, s in ev["endpoints"].items()
            },
            "death_endpoint": str(ev["death_code"]),
            "origin": "randomisation",
            "horizon_days": int(ev["horizon_days"]),
        }


class InOrder(dict):
    """A mapping written in insertion order although other keys are sorted."""


class _Dumper(yaml.SafeDumper):
    """``yaml.safe_dump`` that keeps :class:`InOrder` mappings in their order."""


def _represent_in_order(dumper: yaml.SafeDumper, data: InOrder) -> yaml.MappingNode:
    pairs = [
        (dumper.represent_data(k), dumper.represent_data(v)) for k, v in data.items()
    ]
    return yaml.MappingNode("tag:yaml.org,2002:map", pairs, flow_style=False)


_Dumper.add_representer(InOrder, _represent_in_order)


def _yaml_text(obj: Any, header: str = "") -> str:
    return header + yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=88,
    )


# ---------------------------------------------------------------------------
# Scenario writing


def _prepare_outdir(outdir: Path, force: bool) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    present = [d for d in OWNED_DIRS if (outdir / d).exists()]
    if present and not force:
        raise FileExistsError(
            f"{outdir} already holds {', '.join(present)}/; use --force to replace them"
        )
    for d in present:
        shutil.rmtree(outdir / d)


def run_simulation(
    outdir: str | os.PathLike[str],
    params: Mapping[str, Any],
    seed: int,
    *,
    threads: int = 1,
    force: bool = False,
) -> None:
    """Write a complete simulated scenario directory.

    Parameters
    ----------
    outdir
        Scenario directory (created). Its ``config/``, ``data/`` and
        ``truth/`` sub-directories must not exist unless ``force``.
    params
        Resolved parameters (:func:`exomir.simulate.params.resolve_params`).
    seed
        Seed; the same seed and parameters give the same bytes in every file.
    threads
        Processes writing FASTQ files in parallel (output does not depend on it).
    force
        Replace existing ``config/``, ``data/`` and ``truth/`` sub-directories.
    """
    t0 = time.perf_counter()
    out = Path(outdir)
    _prepare_outdir(out, force)
    params = dict(params)
    refs = load_references(params)
    sim = simulate_trial(params, seed, references=refs)
    _log(
        f"trial simulated: {len(sim.participants)} participants, {len(sim.samples)} "
        f"libraries ({time.perf_counter() - t0:.1f} s)"
    )
    for kind, rel in SHEETS.items():
        df = {
            "samples": sim.samples,
            "participants": sim.participants,
            "clinical_measurements": sim.clinical,
            "adverse_events": sim.adverse_events,
            "disposition": sim.disposition,
            "ev_lots": sim.ev_lots,
            "ev_nta_runs": sim.nta_runs,
        }[kind]
        write_frame(df, out / rel)
    ev_mod.write_files(out, sim.nta_files)
    protein_cfg = None
    if (params.get("proteins") or {}).get("enabled"):
        from exomir.simulate.plates import participant_levels, write_protein_layer
        from exomir.simulate.proteins import write_protein_truth

        levels, protein_truth = participant_levels(
            sim.samples, sim.roster, sim.mir126, params, seed
        )
        protein_cfg = write_protein_layer(out, sim.samples, params, seed, levels=levels)
        write_protein_truth(protein_truth, out / "truth")
        protein_cfg["proteins"]["ratios"] = {
            "sFlt1_PlGF": {
                "numerator": "sFlt1",
                "denominator": "PlGF",
                "label": "sFlt-1/PlGF ratio",
            }
        }
    if sim.followup is not None and params["events"]["enabled"]:
        write_frame(sim.followup.events, out / EVENTS_SHEET)
    cfg = build_config(params, repo_config_template())
    if cfg is not None and protein_cfg is not None:
        cfg["sheets"].update(protein_cfg["sheets"])
        cfg.setdefault("proteins", {}).update(protein_cfg["proteins"])
    if cfg is not None and sim.followup is not None:
        cfg["trial"]["data_cut"] = sim.followup.data_cut.isoformat()
    if cfg is not None:
        header = (
            f"# Written by exomir simulate {__version__} (seed {seed}); template: the "
            "repository's config/config.yaml.\n# Truth for this scenario is in truth/ "
            "(never read by the workflow).\n"
        )
        with atomic_open(out / "config" / "config.yaml") as fh:
            fh.write(_yaml_text(cfg, header))
    else:
        _log("config/config.yaml not written: repository template not found")
    t1 = time.perf_counter()
    truths = write_libraries(out, sim, refs, threads=threads)
    _log(f"{len(truths)} FASTQ files written ({time.perf_counter() - t1:.1f} s)")
    write_truth(out, sim, truths)
    if protein_cfg is not None:
        from exomir.simulate.plates import append_truth_readme

        append_truth_readme(out)
    _log(f"scenario written to {out} ({time.perf_counter() - t0:.1f} s)")


# ---------------------------------------------------------------------------
# Command line


def _int_like(text: str) -> int:
    value = float(text)
    if not value.is_integer() or value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(value)


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``simulate`` subcommand.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers``.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser.
    """
    p = subparsers.add_parser(
        "simulate",
        help="write a simulated trial scenario with known truth",
        description=(
            "Write a complete scenario directory (config, sheets, FASTQ, NTA "
            "exports) plus truth/ for the NCT07183384 design. Parameters: "
            "defaults.yaml < --preset < --params < --set < --participants/--reads "
            "< --null. Same seed and parameters give the same bytes."
        ),
    )
    p.add_argument("outdir", help="scenario directory to write")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="demo (24 participants, 200k reads/library, visits to 24 months, "
        "blood draws at baseline, week 1 and month 3, three sites, long-term "
        "events), small (the two-visit demo of earlier versions) or trial "
        "(80 participants, ~10M reads/library)",
    )
    p.add_argument("--participants", type=_int_like, help="randomised participants")
    p.add_argument(
        "--reads", type=_int_like, help="mean raw reads per library (e.g. 2e5)"
    )
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--null",
        action="store_true",
        help="set every treatment effect to 0 (miRNA interaction, clinical arm effects)",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one parameter (value read as YAML); repeatable",
    )
    p.add_argument(
        "--params",
        dest="params_file",
        metavar="FILE.yaml",
        help="YAML file of parameters (same nesting as defaults.yaml)",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="processes writing FASTQ files"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace existing config/, data/ and truth/ in OUTDIR",
    )
    p.add_argument(
        "--print-params",
        action="store_true",
        help="print the resolved parameters and exit",
    )
    p.set_defaults(func=_cmd_simulate)
    return p


def _cmd_simulate(args: argparse.Namespace) -> int:
    try:
        params = resolve_params(
            preset=args.preset,
            params_file=args.params_file,
            sets=args.sets,
            participants=args.participants,
            reads=args.reads,
            null=args.null,
        )
    except (ParamError, OSError, yaml.YAMLError) as exc:
        print(f"exomir simulate: {exc}", file=sys.stderr)
        return 2
    if args.print_params:
        sys.stdout.write(
            dump_params({"seed": args.seed, "params": recorded_params(params)})
        )
        return 0
    try:
        run_simulation(
            args.outdir,
            params,
            args.seed,
            threads=max(1, args.threads),
            force=args.force,
        )
    except FileExistsError as exc:
        print(f"exomir simulate: {exc}", file=sys.stderr)
        return 2
    return 0
