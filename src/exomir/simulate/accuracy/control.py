"""False positives: a contaminant-only control library through the pipeline.

The library is simulated with the scenario's read model but no miRNA origin,
then preprocessed and annotated like the workflow; every read counted as miRNA
is a false positive (see ``docs/simulate.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.reads.reference import normalise_sequence
from exomir.simulate.accuracy.measures import PathLike, Targets
from exomir.simulate.library import LibraryTruth, simulate_library
from exomir.simulate.readmodel import ReadParams
from exomir.simulate.references import References, load_references

__all__ = ["false_positive_control"]

#: Floor of the simulator's miRNA share (its logit clamps at 1e-9).
_NO_MIRNA_SHARE = 1e-9
#: Sample name of the control library.
CONTROL_SAMPLE = "fp_control"


def _origin_index(contaminants: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Concatenate the simulator's source sequences per origin for lookups."""
    out: dict[str, str] = {}
    for origin, seqs in contaminants.items():
        parts = []
        for raw in seqs.values():
            seq = normalise_sequence(raw)
            for gap in ".-_~":
                seq = seq.replace(gap, "")
            if origin == "trna" and not seq.endswith("CCA"):
                seq += "CCA"
            parts.append(seq)
        out[origin] = "#".join(parts)
    return out


def _control_params(read_params: Mapping[str, Any]) -> ReadParams:
    """Read parameters of the contaminant-only control library."""
    known = {f for f in ReadParams.__dataclass_fields__}
    base = ReadParams(**{k: v for k, v in read_params.items() if k in known})
    # a quarter each: tRNA, rRNA, snoRNA/snRNA (of annotated) and unmappable
    return replace(
        base,
        dimer_short_share=_NO_MIRNA_SHARE,
        unmappable_share=0.25,
        mirna_share_of_annotated=_NO_MIRNA_SHARE,
        mirna_to_trna_ratio=_NO_MIRNA_SHARE * 3.0,
        rrna_share_of_other=0.5,
        share_noise_sd=0.0,
    )


def _simulate_control(
    work: Path,
    sim_reference: Mapping[str, Any] | None,
    read_params: Mapping[str, Any] | None,
    n_reads: int,
    seed: int,
) -> tuple[Path, LibraryTruth, References]:
    """Write the contaminant-only control library; refuse one with miRNA reads."""
    sim_ref = dict(
        sim_reference
        or {
            "mature": "mirbase/v22/hsa/mature.fa",
            "hairpin": "mirbase/v22/hsa/hairpin.fa",
        }
    )
    refs = load_references({"reference": sim_ref})
    params = _control_params(read_params or {})
    name = next(iter(refs.mature_in_hairpin))
    probs = pd.Series({name: 1.0})
    fastq = work / "fp_control.fastq.gz"
    truth = simulate_library(
        CONTROL_SAMPLE,
        fastq,
        int(n_reads),
        probs,
        "truseq",
        params,
        np.random.default_rng(seed),
        refs.hairpins,
        refs.mature_in_hairpin,
        refs.contaminants,
        "",
        mature=refs.mature,
    )
    if truth.funnel["mirna"]:
        raise RuntimeError(
            f"control library has {truth.funnel['mirna']} miRNA reads; use another seed"
        )
    return fastq, truth, refs


def _trace_origins(
    isomirs: pd.DataFrame, contaminants: Mapping[str, Mapping[str, str]], n_top: int
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """False-positive reads per simulated origin, and the largest inserts."""
    lookup = _origin_index(contaminants)
    by_origin: dict[str, int] = {}
    top: list[dict[str, Any]] = []
    iso = isomirs.sort_values(["count", "sequence"], ascending=[False, True])
    for seq, mirna, variant, count in iso[
        ["sequence", "mirna", "variant", "count"]
    ].itertuples(index=False):
        origin = next((o for o, s in lookup.items() if seq in s), "unmappable_or_error")
        by_origin[origin] = by_origin.get(origin, 0) + int(count)
        if len(top) < n_top:
            top.append(
                {
                    "sequence": seq,
                    "mirna": mirna,
                    "variant": variant,
                    "reads": int(count),
                    "origin": origin,
                }
            )
    return dict(sorted(by_origin.items())), top


def false_positive_control(
    reference_dir: PathLike,
    workdir: PathLike,
    *,
    trim: Mapping[str, Any] | None = None,
    read_params: Mapping[str, Any] | None = None,
    sim_reference: Mapping[str, Any] | None = None,
    n_reads: int = 100_000,
    seed: int = 20260505,
    threads: int = 1,
    targets: Targets | None = None,
    n_top: int = 10,
) -> dict[str, Any]:
    """Simulate a library without miRNA reads and count what lands as miRNA.

    Parameters
    ----------
    reference_dir
        The workflow's reference directory (``results/reference``).
    workdir
        Where the control FASTQ and collapsed FASTA are written.
    trim
        Trimming settings (config ``trimming`` section).
    read_params
        The scenario's read-simulator parameters (``truth/params.yaml``
        ``read_params``); their error and quality model is kept.
    sim_reference
        ``mature``/``hairpin`` paths for the simulator (``params.yaml``
        ``params.reference``; default: human miRBase v22).
    n_reads
        Reads in the control library.
    seed
        Random seed of the control library.
    threads
        bowtie threads.
    targets
        Targets (``max_false_positive``).
    n_top
        Largest false-positive inserts listed.

    Returns
    -------
    dict
        ``method``, ``n_reads``, ``seed``, ``truth_funnel``,
        ``non_mirna_reads``, ``counted_as_mirna``, ``multimapped_mirna``,
        ``rate``, ``rate_incl_multimapped``, ``by_origin`` (false-positive
        reads by simulated origin), ``annotation`` (all categories),
        ``top_inserts``, ``target`` and ``pass``.

    Raises
    ------
    RuntimeError
        If the control library nevertheless contains miRNA reads.
    """
    from exomir.reads.annotate import annotate_sample
    from exomir.reads.preprocess import collapse_library, write_collapsed
    from exomir.reads.protocols import TrimSettings, get_protocol

    targets = targets or Targets()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    fastq, truth, refs = _simulate_control(
        work, sim_reference, read_params, n_reads, seed
    )
    settings = TrimSettings.from_dict(dict(trim or {}))
    records, stats = collapse_library(fastq, get_protocol("truseq"), settings)
    collapsed = work / "fp_control.fa.gz"
    write_collapsed(records, collapsed, CONTROL_SAMPLE)
    result = annotate_sample(
        collapsed, reference_dir, CONTROL_SAMPLE, threads=threads, tmpdir=work
    )
    cats = {k: int(v) for k, v in result.categories.items()}
    non_mirna = int(n_reads) - int(truth.funnel["mirna"])
    fp = cats.get("mirna", 0)
    mm = cats.get("multimapped_mirna", 0)
    by_origin, top = _trace_origins(result.isomirs, refs.contaminants, n_top)
    rate = fp / non_mirna if non_mirna else math.nan
    return {
        "method": (
            "contaminant-only control library simulated with the scenario's read "
            "parameters (no miRNA origin; 1/4 each tRNA, rRNA, snoRNA/snRNA "
            "fragments and random inserts), preprocessed and annotated like the "
            "workflow; rate = reads counted as miRNA / reads"
        ),
        "protocol": "truseq",
        "n_reads": int(n_reads),
        "seed": int(seed),
        "truth_funnel": {k: int(v) for k, v in truth.funnel.items()},
        "preprocess": {
            k: int(getattr(stats, k))
            for k in ("passed_reads", "adapter_dimer", "too_short", "no_adapter")
        },
        "annotation": cats,
        "non_mirna_reads": non_mirna,
        "counted_as_mirna": fp,
        "multimapped_mirna": mm,
        "rate": rate,
        "rate_incl_multimapped": (fp + mm) / non_mirna if non_mirna else math.nan,
        "by_origin": by_origin,
        "top_inserts": top,
        "target": targets.max_false_positive,
        "pass": bool(rate <= targets.max_false_positive),
    }
