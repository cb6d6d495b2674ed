"""The whole-trial benchmark's figures: stages, ratios and the README block.

Pure functions on the JSON that ``bench/bench_trial.py`` writes
(``results/bench/trial.json``), with no workflow run, so that they can be
tested on a hand-written JSON:

* :func:`stage_of` groups the workflow's rules into the stages the figures
  are reported by (reads, references, counts/merge, DE, ...);
* :func:`compute_ratios` derives the issue's ratios from the measured
  figures (reads stage vs single library, whole trial vs reads stage, the
  conventional chain's projection) with their targets and pass flags;
* :func:`render` writes the short markdown block the README shows, and
  :func:`update_readme` puts it between the README's markers.

The README's figures therefore always come from one JSON file; a unit test
(tests/unit/test_bench_trial.py) checks that the README block equals the
rendering of ``results/bench/trial.json`` when that file exists.

Usage (re-render the README from an existing JSON)::

    .venv/bin/python bench/trial_summary.py results/bench/trial.json README.md
"""

import argparse
import sys
from pathlib import Path

#: README markers the block is written between.
START = "<!-- bench-trial:start -->"
END = "<!-- bench-trial:end -->"

#: The issue's targets: reads stage >= 90% of the single-library throughput,
#: whole trial <= 1.25 x the reads stage's wall time.
READS_VS_SINGLE_MIN = 0.90
WHOLE_VS_READS_MAX = 1.25

#: Stages in report order: name -> exact rule names. Rules not listed go by
#: prefix (:data:`STAGE_PREFIXES`), then to "other".
STAGES: dict[str, tuple[str, ...]] = {
    "reads": ("library",),
    "references": ("build_reference",),
    "counts/merge": (
        "merge_counts",
        "normalise_counts",
        "read_qc",
        "multiqc",
        "merge_trial",
    ),
    "DE": ("de_normalise", "de", "de_lrt"),
    "pathways": ("pathways_interactions", "pathways", "pathways_by_visit"),
    "clinical": ("primary", "primary_mmrm", "time_to_event"),
    "EV": ("ev_qc",),
    "proteins": (
        "protein_quant",
        "protein_effects",
        "protein_effects_by_visit",
        "integrate",
    ),
    "reports": (),
    "other": (),
}
STAGE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("clinical_", "clinical"),
    ("sites_", "clinical"),
    ("primary", "clinical"),
    ("de_", "DE"),
    ("pathways", "pathways"),
    ("protein", "proteins"),
    ("ev_", "EV"),
    ("report", "reports"),
)
STAGE_LABELS = {
    "clinical": "clinical/primary/MMRM/survival",
}


def stage_of(rule: str) -> str:
    """The stage a rule's jobs are counted in (unknown rules: "other")."""
    for stage, rules in STAGES.items():
        if rule in rules:
            return stage
    for prefix, stage in STAGE_PREFIXES:
        if rule.startswith(prefix):
            return stage
    return "other"


def _get(d: dict, *keys: str) -> float | None:
    """A nested number, or None where a key is missing or null."""
    for key in keys:
        if not isinstance(d, dict) or d.get(key) is None:
            return None
        d = d[key]
    return d  # type: ignore[return-value]


def compute_ratios(result: dict) -> dict:
    """The issue's ratios from the measured figures of one run.

    Parameters
    ----------
    result : dict
        The benchmark's JSON (``scenario``, ``workflow``, ``reads_stage``,
        ``single_library``); only the measured figures are read (reads,
        seconds), every rate is derived here.

    Returns
    -------
    dict
        ``single_library_reads_per_s`` (the trial's mix of kits at the
        single-library rates: total reads / the sum over kits of the kit's
        trial reads / its rate), ``reads_stage_reads_per_s`` (total reads /
        the wall span of the ``library`` jobs), (a) ``reads_vs_single_library``,
        the same on the summed job wall times and on the span without the
        seconds in which only other rules' jobs ran
        (``..._without_other_jobs``), (b) ``whole_vs_reads_stage`` (workflow
        wall / reads-stage span, and the same without those seconds), the conventional chain's
        ``conventional_reads_per_s`` and ``conventional_projected_s`` (total
        reads / its rate) and (c) ``conventional_vs_whole`` and
        ``conventional_vs_reads_stage``, with targets and pass flags. A figure
        whose inputs are missing is None (and its pass flag too).
    """
    total = _get(result, "scenario", "total_raw_reads")
    by_kit = _get(result, "scenario", "raw_reads_by_protocol") or {}
    single = result.get("single_library") or {}
    rates: dict[str, float] = {}
    for kit in by_kit:
        reads, secs = _get(single, kit, "raw_reads"), _get(single, kit, "seconds")
        if reads and secs:
            rates[kit] = reads / secs
    mix = None
    if total and by_kit and all(kit in rates for kit in by_kit):
        mix = total / sum(n / rates[kit] for kit, n in by_kit.items())
    span = _get(result, "reads_stage", "wall_span_s")
    jobs_sum = _get(result, "reads_stage", "library_jobs_wall_s_sum")
    wall = _get(result, "workflow", "wall_s")
    other_only = _get(result, "reads_stage", "seconds_other_jobs_only") or 0
    own = span - other_only if span and span > other_only else None
    stage_rate = total / span if total and span else None
    own_rate = total / own if total and own else None
    jobs_rate = total / jobs_sum if total and jobs_sum else None
    a = stage_rate / mix if stage_rate and mix else None
    a_jobs = jobs_rate / mix if jobs_rate and mix else None
    b = wall / span if wall and span else None
    conv_reads = _get(single, "conventional", "raw_reads")
    conv_secs = _get(single, "conventional", "seconds")
    conv_rate = conv_reads / conv_secs if conv_reads and conv_secs else None
    conv_total = total / conv_rate if total and conv_rate else None
    return {
        "single_library_reads_per_s_by_protocol": {
            k: round(v) for k, v in sorted(rates.items())
        },
        "single_library_reads_per_s": _round(mix, 0),
        "reads_stage_reads_per_s": _round(stage_rate, 0),
        "reads_stage_reads_per_s_summed_jobs": _round(jobs_rate, 0),
        "reads_vs_single_library": _round(a, 4),
        "reads_vs_single_library_target_min": READS_VS_SINGLE_MIN,
        "reads_vs_single_library_pass": None if a is None else a >= READS_VS_SINGLE_MIN,
        "reads_vs_single_library_summed_jobs": _round(a_jobs, 4),
        "reads_vs_single_library_without_other_jobs": _round(
            own_rate / mix if own_rate and mix else None, 4
        ),
        "whole_vs_reads_stage_without_other_jobs": _round(
            wall / own if wall and own else None, 4
        ),
        "whole_vs_reads_stage": _round(b, 4),
        "whole_vs_reads_stage_target_max": WHOLE_VS_READS_MAX,
        "whole_vs_reads_stage_pass": None if b is None else b <= WHOLE_VS_READS_MAX,
        "conventional_reads_per_s": _round(conv_rate, 0),
        "conventional_projected_s": _round(conv_total, 1),
        "conventional_vs_whole": _round(
            conv_total / wall if conv_total and wall else None, 4
        ),
        "conventional_vs_reads_stage": _round(
            conv_total / span if conv_total and span else None, 4
        ),
    }


def _round(x: float | None, digits: int) -> float | None:
    """Round, keeping None; whole numbers come back as int."""
    if x is None:
        return None
    return round(x) if digits == 0 else round(x, digits)


def _secs(x: float | None) -> str:
    """Seconds as '3,720 s (62.0 min)' (minutes from 120 s on)."""
    if x is None:
        return "n/a"
    text = f"{x:,.0f} s" if x >= 100 else f"{x:,.1f} s"
    if x >= 120:
        text += f" ({x / 60:.1f} min)"
    return text


def _rate(x: float | None) -> str:
    """Reads per second as '1.05 M reads/s'."""
    return "n/a" if x is None else f"{x / 1e6:.3f} M reads/s"


def _num(x: float | None, fmt: str = ".2f") -> str:
    """A number or 'n/a'."""
    return "n/a" if x is None else format(x, fmt)


def _verdict(value: float | None, passed: bool | None, target: str) -> str:
    """'0.95 (target >= 0.90: met)'."""
    if value is None:
        return f"n/a (target {target})"
    return f"{value:.2f} (target {target}: {'met' if passed else 'NOT met'})"


def render(result: dict) -> str:
    """The README block (markdown, without the markers) for one run's JSON."""
    m = result.get("machine", {})
    sc = result.get("scenario", {})
    wf = result.get("workflow", {})
    rs = result.get("reads_stage", {})
    single = result.get("single_library", {})
    r = compute_ratios(result)
    kits = sc.get("libraries_by_protocol") or {}
    kit_text = ", ".join(f"{n} {k}" for k, n in sorted(kits.items()))
    load_before = m.get("load_before") or [None]
    load_after = m.get("load_after") or [None]
    lines = [
        "Whole-trial benchmark (`make bench-trial`; figures rendered from "
        "`results/bench/trial.json`):",
        "",
        f"- Run: {m.get('date_utc', 'n/a')}, exomir {str(m.get('exomir_commit', ''))[:10]}"
        f"{' (modified tree)' if m.get('exomir_tree_modified') else ''}, "
        f"{wf.get('cores', 'n/a')} cores used of {m.get('nproc', 'n/a')} "
        f"({m.get('cpu_model') or 'unknown CPU'}, {m.get('memory_gb', 'n/a')} GB); "
        f"1-min load average {_num(load_before[0])} before, "
        f"{_num(load_after[0])} after.",
        f"- Scenario: {sc.get('participants', 'n/a')} participants, "
        f"{sc.get('libraries', 'n/a')} libraries"
        f"{f' ({kit_text})' if kit_text else ''}, "
        f"{_num((sc.get('reads_per_library_mean') or 0) / 1e6, '.2f')} M raw reads "
        f"per library on average, {_num((sc.get('total_raw_reads') or 0) / 1e6, ',.1f')} M "
        f"in all: `{sc.get('command', 'n/a')}`.",
        f"- Whole trial (`snakemake --cores {wf.get('cores', 'n/a')}`): "
        f"{_secs(wf.get('wall_s'))} wall, {_secs(wf.get('cpu_s'))} CPU "
        f"(Snakemake itself {_secs(wf.get('snakemake_cpu_s'))}); "
        + (
            "trial simulated beforehand (not timed)."
            if _get(result, "simulation", "reused")
            else f"simulation before it {_secs(_get(result, 'simulation', 'wall_s'))}."
        ),
        f"- Reads stage: {rs.get('library_jobs', 'n/a')} `library` jobs over "
        f"{_secs(rs.get('wall_span_s'))}, {_rate(r['reads_stage_reads_per_s'])} "
        f"sustained; the same library alone in this run "
        f"{_rate(r['single_library_reads_per_s'])} (trial's mix of kits; "
        + ", ".join(
            f"{k} {_rate(v)}"
            for k, v in r["single_library_reads_per_s_by_protocol"].items()
        )
        + f"; medians of {single.get('rounds', 'n/a')} rounds).",
        "- (a) reads stage / single library: "
        + _verdict(
            r["reads_vs_single_library"],
            r["reads_vs_single_library_pass"],
            f">= {READS_VS_SINGLE_MIN:.2f}",
        )
        + f"; on the summed job times {_num(r['reads_vs_single_library_summed_jobs'])}"
        + f", without the {rs.get('seconds_other_jobs_only', 0)} s of other jobs "
        f"inside the span {_num(r['reads_vs_single_library_without_other_jobs'])}.",
        "- (b) whole trial / reads stage (wall): "
        + _verdict(
            r["whole_vs_reads_stage"],
            r["whole_vs_reads_stage_pass"],
            f"<= {WHOLE_VS_READS_MAX:.2f}",
        )
        + f"; without the other jobs inside the span "
        f"{_num(r['whole_vs_reads_stage_without_other_jobs'])}.",
        f"- (c) conventional chain (cutadapt + bowtie + counting, measured on "
        f"one TruSeq library in this run): {_rate(r['conventional_reads_per_s'])}, "
        f"projected {_secs(r['conventional_projected_s'])} for the trial's reads: "
        f"{_num(r['conventional_vs_whole'])} x exomir's whole trial, "
        f"{_num(r['conventional_vs_reads_stage'])} x its reads stage.",
        "",
        "| stage | jobs | wall, jobs summed | span | CPU | peak memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for stage, s in (result.get("stages") or {}).items():
        measured = s.get("cpu_jobs_measured")
        cpu = _secs(s.get("cpu_s_sum"))
        if measured == 0:
            cpu = "n/a"
        elif measured is not None and measured < s.get("jobs", 0):
            cpu += f" ({measured} of {s['jobs']} jobs)"
        rss = s.get("max_rss_mb")
        lines.append(
            f"| {STAGE_LABELS.get(stage, stage)} | {s.get('jobs', 0)} "
            f"| {_secs(s.get('wall_s_sum'))} | {_secs(s.get('span_s'))} | {cpu} "
            f"| {'n/a' if rss is None else f'{rss:,.0f} MB'} |"
        )
    if result.get("stages") and "pathways" not in result["stages"]:
        lines.append(
            "\nNo pathway jobs: the trial had no miRNA-target table "
            "(EXOMIR_MIRTARBASE / `make bench-trial MIRTARBASE=...`)."
        )
    lines.append(
        "\nCPU and peak memory come from the jobs' `benchmark:` files (rules "
        "without one: wall time from Snakemake's log, CPU n/a); definitions in "
        "[docs/performance.md](docs/performance.md#whole-trial-benchmark-make-bench-trial)."
    )
    return "\n".join(lines) + "\n\n"


def update_readme(readme: Path, block: str) -> bool:
    """Put ``block`` between the README's markers; True if the file changed.

    Raises SystemExit with a one-line message when the markers are missing or
    out of order (nothing is written then).
    """
    text = readme.read_text()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        raise SystemExit(
            f"{readme}: markers {START} ... {END} not found (or out of order); "
            "README not updated"
        )
    new = text[: start + len(START)] + "\n" + block + text[end:]
    if new == text:
        return False
    tmp = readme.with_name(readme.name + ".tmp")
    tmp.write_text(new)
    tmp.replace(readme)
    return True


def readme_block(readme: Path) -> str:
    """The text between the README's markers (without them)."""
    text = readme.read_text()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"{readme}: markers {START} ... {END} not found")
    return text[start + len(START) : end].removeprefix("\n")


def main() -> None:
    """Re-render the README block from a JSON file."""
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", type=Path, help="the benchmark's JSON")
    ap.add_argument("readme", type=Path, nargs="?", help="README to update")
    args = ap.parse_args()
    block = render(json.loads(args.json.read_text()))
    if args.readme is None:
        sys.stdout.write(block)
    elif update_readme(args.readme, block):
        print(f"{args.readme}: whole-trial block updated from {args.json}")
    else:
        print(f"{args.readme}: whole-trial block already up to date")


if __name__ == "__main__":
    main()
