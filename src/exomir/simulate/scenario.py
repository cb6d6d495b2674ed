"""``exomir simulate``: write a complete simulated trial scenario with its truth.

The scenario directory (layout in ``docs/CONTRACTS.md``) holds the workflow
configuration, every input table of analysis_spec §5, the FASTQ files, the NTA
exports, and a ``truth/`` folder the workflow never reads.

Randomness: one ``numpy.random.SeedSequence(seed)`` is split into independent
child streams (trial, samples, EV, ED, expression, clinical, safety,
disposition, libraries); each library gets its own grandchild stream, so the
libraries can be written by several processes and the bytes of every file
depend only on the seed and the parameters, never on ``--threads``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from exomir import __version__
from exomir.atomic import atomic_open
from exomir.simulate import clinical as clin_mod
from exomir.simulate import ev as ev_mod
from exomir.simulate import trial as trial_mod
from exomir.simulate.expression import simulate_expression
from exomir.simulate.library import simulate_library
from exomir.simulate.params import (
    PRESETS,
    ParamError,
    dump_params,
    qc_gates,
    resolve_params,
)
from exomir.simulate.readmodel import (
    RBC_MIRNAS,
    build_read_params,
    expected_mirna_fraction,
)
from exomir.simulate.references import References, load_references
from exomir.tables import write_table

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
#: Sub-directories the simulator owns (removed first with ``force=True``).
OWNED_DIRS = ("config", "data", "truth")
_STREAMS = (
    "trial",
    "samples",
    "ev",
    "ed",
    "expression",
    "clinical",
    "safety",
    "disposition",
    "libraries",
)


def _log(msg: str) -> None:
    print(f"[exomir simulate] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The in-memory trial


@dataclass
class SimulatedTrial:
    """Everything simulated except the FASTQ files.

    Attributes
    ----------
    params
        Resolved parameters.
    seed
        Seed.
    roster
        Internal per-participant state.
    samples
        ``samples.tsv``.
    library_info
        Per library: depth, protocol, haemolysis, batch, low-yield flag.
    participants
        ``participants.tsv``.
    disposition
        ``disposition.tsv``.
    clinical
        ``clinical_measurements.tsv``.
    clinical_latent
        True baseline and week-1 values per participant and endpoint.
    adverse_events
        ``adverse_events.tsv``.
    lots
        EV lot truth.
    ev_lots
        ``ev_lots.tsv``.
    nta_runs
        ``ev_nta_runs.tsv``.
    nta_files
        NTA exports (relative path -> bytes).
    expression
        ``ExpressionTruth`` from the expression simulator (or ``None``).
    probs
        miRNA x sample realised proportions after the ED shift (or ``None``).
    mir126
        Per participant: ED truth, applied shift and primary-miRNA levels.
    read_params
        The ``ReadParams`` used (or ``None``).
    derived
        Derived constants (ED shift, SBP coupling, noise estimates).
    """

    params: dict[str, Any]
    seed: int
    roster: pd.DataFrame
    samples: pd.DataFrame
    library_info: pd.DataFrame
    participants: pd.DataFrame
    disposition: pd.DataFrame
    clinical: pd.DataFrame
    clinical_latent: pd.DataFrame
    adverse_events: pd.DataFrame
    lots: list[ev_mod.LotTruth]
    ev_lots: pd.DataFrame
    nta_runs: pd.DataFrame
    nta_files: dict[str, bytes]
    expression: Any = None
    probs: pd.DataFrame | None = None
    mir126: pd.DataFrame | None = None
    read_params: Any = None
    derived: dict[str, Any] = field(default_factory=dict)


def _nonrbc_log2(probs: pd.DataFrame, mirna: str) -> pd.Series:
    """log2 share of ``mirna`` among non-RBC miRNAs (robust to haemolysis)."""
    keep = ~probs.index.isin(list(RBC_MIRNAS))
    denom = probs.loc[keep].sum(axis=0)
    return np.log2(probs.loc[mirna] / denom)


def _robust_var(x: np.ndarray) -> float:
    """Variance from the median absolute deviation (robust to outliers)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 3:
        return 0.0
    mad = float(np.median(np.abs(x - np.median(x))))
    return (1.4826 * mad) ** 2


def apply_ed_shift(
    expr: Any,
    roster: pd.DataFrame,
    library_info: pd.DataFrame,
    params: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Lower the primary miRNA in ED-positive women and tabulate its levels.

    The level of the primary miRNA is its log2 share among non-RBC miRNAs in
    the realised proportions (which already carry the Gamma part of the NB
    noise); the measurement adds Poisson noise ``1 / mu`` (``mu``: expected
    molecules). The shift is ``d * sqrt(var_level + var_poisson)``, both
    estimated robustly over baseline libraries that are not low-yield, so that
    the measured baseline level is ``d`` within-group SDs lower in ED-positive
    women (``ed.mir126_shift_sd``).

    Parameters
    ----------
    expr
        ``ExpressionTruth`` (``probs``, ``mu``, ``design``).
    roster
        Participants with ``ed_true`` and ``arm``.
    library_info
        Per library ``sample_id`` and ``low_yield``.
    params
        Resolved parameters.

    Returns
    -------
    probs : pandas.DataFrame
        Realised proportions after the shift (columns renormalised).
    mu : pandas.DataFrame
        Expected molecules after the shift (column totals kept).
    mir126 : pandas.DataFrame
        Per participant: ``participant_id``, ``arm``, ``ed_true``,
        ``ed_shift_log2``, ``log2_level_bl``, ``log2_level_wk1`` (log2 share
        among non-RBC miRNAs after the shift), ``delta_log2``, ``usable``
        (both libraries exist and are not low-yield), ``expected_molecules_bl``.
    derived : dict
        ``ed_shift_log2``, ``log2_var_level_bl`` (robust, before the shift),
        ``log2_var_poisson`` (one level).
    """
    prim = params["reference"]["primary_mirna"]
    tp_bl = params["trial"]["timepoints"][0]
    probs = expr.probs.copy()
    mu = expr.mu.copy()
    design = expr.design.set_index("sample_id")
    if prim not in probs.index:
        return probs, mu, pd.DataFrame(), {"ed_shift_log2": 0.0}
    low = set(library_info.loc[library_info["low_yield"], "sample_id"])
    level = _nonrbc_log2(probs, prim)
    mol = mu.loc[prim]
    good_bl = [
        s
        for s in probs.columns
        if design.loc[s, "timepoint"] == tp_bl and s not in low and mol[s] > 0
    ]
    ln2sq = math.log(2) ** 2
    poisson = (
        float(np.median(1.0 / mol[good_bl].to_numpy())) / ln2sq if good_bl else 0.0
    )
    lat_var = _robust_var(level[good_bl].to_numpy())
    delta = float(params["ed"]["mir126_shift_sd"]) * math.sqrt(lat_var + poisson)
    ed_true = dict(zip(roster["participant_id"], roster["ed_true"], strict=True))
    factor = pd.Series(
        [
            2.0 ** (-delta) if ed_true[design.loc[s, "participant_id"]] else 1.0
            for s in probs.columns
        ],
        index=probs.columns,
    )
    for frame in (probs, mu):
        total = frame.sum(axis=0)
        frame.loc[prim] = frame.loc[prim] * factor
        frame.loc[:, :] = (
            frame.to_numpy() * (total / frame.sum(axis=0)).to_numpy()[None, :]
        )
    level = _nonrbc_log2(probs, prim)
    rows = []
    for r in roster.itertuples(index=False):
        bl = f"{r.participant_id}_BL"
        w1 = f"{r.participant_id}_W1"
        lb = float(level[bl]) if bl in level.index else float("nan")
        lw = float(level[w1]) if w1 in level.index else float("nan")
        usable = bl in level.index and w1 in level.index and not ({bl, w1} & low)
        rows.append(
            {
                "participant_id": r.participant_id,
                "arm": r.arm,
                "ed_true": int(r.ed_true),
                "ed_shift_log2": round(delta, 6) if r.ed_true else 0.0,
                "log2_level_bl": lb,
                "log2_level_wk1": lw,
                "delta_log2": lw - lb,
                "usable": bool(usable),
                "expected_molecules_bl": float(mu.loc[prim, bl])
                if bl in mu.columns
                else float("nan"),
            }
        )
    derived = {
        "ed_shift_log2": delta,
        "log2_var_level_bl": lat_var,
        "log2_var_poisson": poisson,
    }
    return probs, mu, pd.DataFrame(rows), derived


def sbp_coupling_inputs(
    mir126: pd.DataFrame, params: Mapping[str, Any], derived: Mapping[str, float]
) -> tuple[pd.Series | None, float, float]:
    """Standardised miR-126-3p changes and the SBP coupling weight.

    Parameters
    ----------
    mir126
        Output of :func:`apply_ed_shift` (``arm``, ``usable``, ``delta_log2``).
    params
        Resolved parameters.
    derived
        Derived constants (``log2_var_poisson``).

    Returns
    -------
    z : pandas.Series or None
        Robustly standardised change (clipped to +-4) of usable exosome-arm
        participants, indexed by ``participant_id``.
    coupling : float
        Weight ``c`` of ``z`` in the SBP week-1 noise (see
        :func:`exomir.simulate.clinical.sbp_coupling`).
    var_delta : float
        Robust variance of the change (log2) in the exosome arm.
    """
    clin = params["clinical"]
    treat = params["trial"]["arms"][1]
    sel = mir126[(mir126["arm"] == treat) & mir126["usable"]]
    d = sel.set_index("participant_id")["delta_log2"]
    dvar = _robust_var(d.to_numpy())
    if dvar <= 0 or len(d) < 3 or "SYSBP" not in clin["endpoints"]:
        return None, 0.0, dvar
    z = ((d - float(np.median(d))) / math.sqrt(dvar)).clip(-4, 4)
    c = clin_mod.sbp_coupling(
        float(clin["mir126_sbp_rho"]),
        2 * float(derived.get("log2_var_poisson", 0.0)),
        dvar,
        clin["endpoints"]["SYSBP"],
        float(clin["bp_reading_sd"]),
        int(clin["bp_readings"]),
    )
    return z, c, dvar


def simulate_trial(
    params: Mapping[str, Any],
    seed: int,
    *,
    expression: bool = True,
    references: References | None = None,
) -> SimulatedTrial:
    """Simulate every table and the expression truth (no FASTQ writing).

    Parameters
    ----------
    params
        Resolved parameters (see :func:`exomir.simulate.params.resolve_params`).
    seed
        Seed of the scenario.
    expression
        Also simulate miRNA expression (needed for the ED/SBP coupling and the
        libraries). Without it the ED label does not touch miR-126-3p and SBP
        is not coupled.
    references
        Preloaded references (loaded from ``resources/`` if ``None``).

    Returns
    -------
    SimulatedTrial
        All tables and truth.
    """
    params = dict(params)
    root = np.random.SeedSequence(int(seed))
    streams = dict(zip(_STREAMS, root.spawn(len(_STREAMS)), strict=True))

    def rng(name: str) -> np.random.Generator:
        return np.random.default_rng(streams[name])

    roster = trial_mod.simulate_roster(params, rng("trial"))
    samples, info = trial_mod.simulate_samples(roster, params, rng("samples"))
    rng_ev = rng("ev")
    lots, lots_df, runs_df, files = ev_mod.simulate_ev(params, rng_ev)
    roster = ev_mod.assign_lots(roster, lots, lots_df, params, rng_ev)
    roster = clin_mod.simulate_ed_labels(roster, params, rng("ed"))
    participants = trial_mod.participants_table(roster)

    expr = probs = mir126 = rp = None
    derived: dict[str, Any] = {"sbp_coupling": 0.0}
    z: pd.Series | None = None
    coupling = 0.0
    if expression:
        refs = references or load_references(params)
        rp = build_read_params(params)
        arms = tuple(params["trial"]["arms"])
        tps = tuple(params["trial"]["timepoints"])
        expr = simulate_expression(
            samples,
            participants,
            info[
                ["sample_id", "depth", "protocol", "hemolysis_factor", "library_batch"]
            ],
            refs.mature,
            rp,
            rng("expression"),
            arms=arms,  # type: ignore[arg-type]
            timepoints=tps,  # type: ignore[arg-type]
        )
        probs, mu, mir126, derived = apply_ed_shift(expr, roster, info, params)
        expr.mu = mu
        if not mir126.empty:
            z, coupling, dvar = sbp_coupling_inputs(mir126, params, derived)
            derived["log2_var_delta_exosome"] = dvar
            derived["sbp_coupling"] = coupling
    clinical, latent = clin_mod.simulate_clinical(
        roster, params, rng("clinical"), z, coupling
    )
    # mITT: dosed with at least one post-dose measurement.
    post = set(clinical.loc[clinical["days_since_dose"] >= 1, "participant_id"])
    roster["in_mitt"] = roster["dosed"] & roster["participant_id"].isin(post)
    t = params["trial"]
    in_window = (roster["week1_day"] - int(t["week1_day"])).abs() <= int(
        t["week1_window_days"]
    )
    roster["in_pp"] = (
        roster["in_mitt"]
        & roster["completed_week1"]
        & in_window.fillna(False)
        & roster["major_deviation"].isna()
    )
    disposition = trial_mod.simulate_disposition(roster, params, rng("disposition"))
    aes = clin_mod.simulate_adverse_events(roster, params, rng("safety"))
    return SimulatedTrial(
        params=params,
        seed=int(seed),
        roster=roster,
        samples=samples,
        library_info=info,
        participants=participants,
        disposition=disposition,
        clinical=clinical,
        clinical_latent=latent,
        adverse_events=aes,
        lots=lots,
        ev_lots=lots_df,
        nta_runs=runs_df,
        nta_files=files,
        expression=expr,
        probs=probs,
        mir126=mir126,
        read_params=rp,
        derived=derived,
    )


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
    lib_root = root.spawn(len(_STREAMS))[_STREAMS.index("libraries")]
    info = sim.library_info
    seeds = lib_root.spawn(len(info))
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


def _tsv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Booleans as ``true``/``false``; everything else unchanged."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == bool:
            out[col] = np.where(s, "true", "false")
        elif s.dtype == object:
            if any(isinstance(v, (bool, np.bool_)) for v in s if v is not None):
                out[col] = [
                    ("true" if v else "false") if isinstance(v, (bool, np.bool_)) else v
                    for v in s
                ]
    return out


def _write(df: pd.DataFrame, path: Path, index: bool = False) -> None:
    write_table(_tsv_frame(df), path, index=index, exact=True)


def repo_config_template() -> Path:
    """Return the path of the repository's ``config/config.yaml`` template.

    Returns
    -------
    Path
        ``<repo>/config/config.yaml`` (may not exist in an installed package).
    """
    return Path(__file__).resolve().parents[3] / "config" / "config.yaml"


def pathway_input_paths(params: Mapping[str, Any]) -> tuple[Path | None, Path]:
    """Resolve the miRNA-target table and the GMT of the pathway truth.

    Parameters
    ----------
    params
        Resolved parameters (``pathways`` section). ``mti: null`` means the file
        named by the environment variable ``EXOMIR_MIRTARBASE`` (miRTarBase is
        not shipped); ``@resources/...`` names a shipped file.

    Returns
    -------
    mti : pathlib.Path or None
        The interaction table (absolute), or ``None`` if none is configured.
    gmt : pathlib.Path
        The pathway GMT (absolute).
    """
    from exomir.config import resolve_path

    pw = params["pathways"]
    mti_value = pw.get("mti") or os.environ.get("EXOMIR_MIRTARBASE") or None
    mti = resolve_path(mti_value, Path.cwd()).resolve() if mti_value else None
    gmt = resolve_path(pw["gmt"], Path.cwd()).resolve()
    return mti, gmt


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
    mti, _ = pathway_input_paths(params)
    if mti is not None and mti.is_file():
        # Score pathways on the network the pathway truth was drawn from.
        cfg.setdefault("pathways", {})["interactions"] = [
            {"path": str(mti), "format": "mirtarbase", "evidence": ["Functional MTI"]}
        ]
    return cfg


def _yaml_text(obj: Any, header: str = "") -> str:
    return header + yaml.safe_dump(
        obj, sort_keys=True, default_flow_style=False, allow_unicode=True, width=88
    )


def _counts_matrix(truths: list[Any], attr: str, rows: pd.Index) -> pd.DataFrame:
    data = {t.sample_id: getattr(t, attr) for t in truths}
    mat = pd.DataFrame(data).reindex(rows).fillna(0).astype(np.int64)
    mat = mat.loc[:, sorted(mat.columns)]
    mat.index.name = "mirna"
    return mat


# ---------------------------------------------------------------------------
# Pathway truth


def _read_gmt(path: Path) -> dict[str, tuple[str, set[str]]]:
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            out[parts[1]] = (parts[0].split("%")[0], {g for g in parts[2:] if g})
    return out


def pathway_truth(sim: SimulatedTrial) -> tuple[pd.DataFrame | None, str]:
    """Compute the expected change of targeting-pressure scores from planted effects.

    For pathway P the score is ``S_P = sum_m w_mP z_m / sum_m w_mP`` with
    ``w_mP = k_mP / sqrt(K_m)`` (analysis_spec §2.2), over miRNAs passing an
    RPM filter that have at least one strong miRTarBase target in P. Its
    expected change for a contrast is the same weighted mean of the planted
    log2 effects (``expected_delta_log2``) and, dividing each effect by an
    approximate baseline SD of the miRNA's log2 level, of z-units
    (``expected_delta_z_approx``).

    Parameters
    ----------
    sim
        Simulated trial with expression truth.

    Returns
    -------
    table : pandas.DataFrame or None
        One row per pathway and contrast, or ``None`` if the inputs are absent.
    note : str
        Why the table is absent, or the caveats.
    """
    pw = sim.params["pathways"]
    mti_path, gmt_path = pathway_input_paths(sim.params)
    if sim.expression is None:
        return None, "no expression truth was simulated"
    if mti_path is None:
        return None, (
            "skipped: no miRTarBase table (set pathways.mti or the environment "
            "variable EXOMIR_MIRTARBASE)"
        )
    missing = [str(p) for p in (mti_path, gmt_path) if not p.is_file()]
    if missing:
        return None, f"skipped: input file(s) not found: {', '.join(missing)}"
    mti = pd.read_csv(
        mti_path, sep="\t", dtype=str, usecols=["miRNA", "Target_Gene_Entrez_ID"]
    )
    mti = mti.dropna().drop_duplicates()
    targets = mti.groupby("miRNA")["Target_Gene_Entrez_ID"].apply(set)
    big_k = targets.apply(len)
    gmt = _read_gmt(gmt_path)
    info = sim.expression.mirna_info
    rp = sim.read_params
    min_share = float(pw["min_rpm"]) / 1e6
    passing = info.index[info["baseline_share"] >= min_share]
    eff = sim.expression.effects.pivot(
        index="mirna", columns="contrast", values="log2_effect"
    )
    # Approximate baseline SD (log2) of each miRNA's normalised level.
    depth = float(sim.params["library"]["reads_per_library"])
    mols = info["baseline_share"] * depth * expected_mirna_fraction(rp)
    alpha = rp.dispersion_a0 + rp.dispersion_a1 / np.maximum(mols, 1e-9)
    var = (
        (rp.participant_sd / math.log(2)) ** 2
        + rp.batch_sd_log2**2
        + (alpha + 1 / np.maximum(mols, 1e-9)) / math.log(2) ** 2
    )
    sd = np.sqrt(var)
    rows = []
    for pid in pw["ids"]:
        if pid not in gmt:
            rows.append({"pathway_id": pid, "note": "pathway not in the GMT file"})
            continue
        name, genes = gmt[pid]
        w = {}
        for m in passing:
            if m not in targets.index:
                continue
            k = len(targets[m] & genes)
            if k:
                w[m] = k / math.sqrt(big_k[m])
        ws = pd.Series(w, dtype=float).sort_index()
        for contrast in ("interaction", "time_placebo", "time_exosome"):
            beta = eff.loc[ws.index, contrast] if len(ws) else pd.Series(dtype=float)
            tot = float(ws.sum())
            d_log2 = float((ws * beta).sum() / tot) if tot > 0 else float("nan")
            d_z = (
                float((ws * beta / sd[ws.index]).sum() / tot)
                if tot > 0
                else float("nan")
            )
            contrib = beta[beta != 0].sort_index()
            rows.append(
                {
                    "pathway_id": pid,
                    "pathway_name": name,
                    "contrast": contrast,
                    "score": "targeting_pressure_wmean",
                    "n_mirnas": len(ws),
                    "n_mirnas_with_effect": int((beta != 0).sum()),
                    "sum_weight": round(tot, 6),
                    "expected_delta_log2": round(d_log2, 6),
                    "expected_delta_z_approx": round(d_z, 6),
                    "expected_direction": int(np.sign(round(d_log2, 9)))
                    if tot > 0
                    else 0,
                    "meets_tmin5": len(ws) >= 5,
                    "contributors": ";".join(
                        f"{m}:{contrib[m]:+.3f}*w{ws[m]:.3f}" for m in contrib.index
                    ),
                    "note": (
                        "unsigned score = targeting pressure (more repression of P's genes "
                        "when > 0), not pathway activity; miR-126-3p represses negative "
                        "regulators (SPRED1, PIK3R2), so its rise predicts activation"
                    ),
                }
            )
    note = (
        f"network: {mti_path.name} (unique miRNA-Entrez pairs), pathways from "
        f"{gmt_path.name}; expression filter: baseline share >= {pw['min_rpm']} RPM"
    )
    return pd.DataFrame(rows), note


# ---------------------------------------------------------------------------
# Scenario writing


README_TEXT = """# Simulator truth

Files written by `exomir simulate` next to the scenario. The workflow never
reads this folder; it is what the results are checked against.

| file | content |
|---|---|
| `params.yaml` | Fully resolved parameters (`params`), the seed, the read simulator's `ReadParams` (`read_params`), the QC gates written to the config, and derived constants (`derived`: the log2 shift of miR-126-3p in ED-positive women, the SBP coupling weight, noise estimates). Re-running `exomir simulate --params truth/params.yaml --seed SEED` with the same exomir version rewrites the same bytes (the `params` block is accepted by `--params`). |
| `mirna_counts.tsv` | Reads per mature miRNA (rows, all isomiRs, PCR duplicates included) and library (columns `sample_id`). Rows: every miRNA with non-zero abundance in some library. |
| `mirna_molecules.tsv` | Same for unique molecules (equal to reads for TruSeq; deduplicated for QIAseq UMIs). |
| `exact_inserts.tsv` | Same for reads whose insert is exactly the canonical mature sequence without sequencing errors. |
| `funnel.tsv` | Per library: `raw_reads`, `mirna`, `trna`, `rrna`, `snorna_snrna`, `unmappable`, `adapter_dimer`, `too_short` (reads by origin) and `umi_duplicates` (reads minus unique molecules). |
| `libraries.tsv` | Per library: depth, protocol, batch, haemolysis factor (1 = none), `low_yield` (planted QC failure: far too few reads), and `expect_qc_fail` (fails the raw-read gate of the config, or its plasma A414 exceeds the `max_a414` exclusion limit). |
| `effects.tsv` | Planted log2 effects per expressed miRNA (`mirna`, `contrast`, `log2_effect`): `interaction` (exosome x week 1, the design-A coefficient), `time_placebo`, `time_exosome`, `arm_week1`. Effects are on the abundance scale; median-of-ratios normalisation recovers them. |
| `mirna_info.tsv` | Per miRNA: baseline share of miRNA molecules, group (top, let7, c19mc, common, tail), RBC and C19MC flags. |
| `mir126.tsv` | Per participant: true ED status (`ed_true`; the public `ed_reference` is missing for a few), the log2 shift applied to miR-126-3p in ED-positive women, and the realised log2 share of miR-126-3p among non-RBC miRNAs at baseline and week 1 and its change. |
| `clinical_effects.tsv` | Per registered endpoint: kind, scale, baseline mean and SD, placebo drift, SD of the change, planted arm effect (exosome - placebo, on the analysis scale), baseline/week-1 correlation, the model that recovers it and notes. |
| `clinical_latent.tsv` | True per-participant baseline and week-1 values of every endpoint (before reading noise, rounding and missingness). |
| `ev_lots.tsv` | One row per lot and release criterion: specification, true and measured value, pass/fail; `lot_fails`, `planted_failure` and `used_for_dosing` per lot, plus the true concentration and size distribution. |
| `pathway_effects.tsv` | For WikiPathways WP4172 (PI3K-Akt) and WP382 (MAPK): expected change of the unsigned targeting-pressure score implied by the planted miRNA effects, with weights w = k_mP / sqrt(K_m) from the miRTarBase strong-evidence network (analysis_spec section 2.2); `expected_direction` is the sign of the weighted mean planted effect. The first line is a `#` comment naming the inputs (or why the table was skipped); read with `comment="#"`. |
"""


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
        _write(df, out / rel)
    ev_mod.write_files(out, sim.nta_files)
    cfg = build_config(params, repo_config_template())
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
    _log(f"scenario written to {out} ({time.perf_counter() - t0:.1f} s)")


def write_truth(out: Path, sim: SimulatedTrial, truths: Sequence[Any]) -> None:
    """Write the ``truth/`` folder.

    Parameters
    ----------
    out
        Scenario directory.
    sim
        Simulated trial.
    truths
        ``LibraryTruth`` per library.
    """
    tdir = out / "truth"
    expr = sim.expression
    assert sim.probs is not None and expr is not None
    rows = sim.probs.index[(sim.probs > 0).any(axis=1)].sort_values()
    for attr, name in (
        ("mirna_reads", "mirna_counts.tsv"),
        ("mirna_molecules", "mirna_molecules.tsv"),
        ("exact_inserts", "exact_inserts.tsv"),
    ):
        _write(_counts_matrix(list(truths), attr, rows), tdir / name, index=True)
    funnel_cols = [
        "raw_reads",
        "mirna",
        "trna",
        "rrna",
        "snorna_snrna",
        "unmappable",
        "adapter_dimer",
        "too_short",
        "umi_duplicates",
    ]
    funnel = pd.DataFrame([{"sample_id": t.sample_id, **t.funnel} for t in truths])
    funnel = funnel[["sample_id", *funnel_cols]].sort_values("sample_id")
    _write(funnel, tdir / "funnel.tsv")
    gates = qc_gates(sim.params)
    libs = sim.library_info.merge(
        sim.samples[["sample_id", "hemolysis_a414"]], on="sample_id", how="left"
    )
    a414 = pd.to_numeric(libs["hemolysis_a414"], errors="coerce")
    max_a414 = float(sim.params.get("qc", {}).get("max_a414") or 0.3)
    libs["expect_qc_fail"] = (libs["depth"] < gates["min_raw_reads"]) | (
        a414 > max_a414
    )
    _write(libs.sort_values("sample_id"), tdir / "libraries.tsv")
    eff = expr.effects[expr.effects["mirna"].isin(rows)]
    eff = eff.sort_values(["mirna", "contrast"], kind="mergesort")
    eff = eff.assign(log2_effect=eff["log2_effect"].round(6))
    _write(eff, tdir / "effects.tsv")
    info = expr.mirna_info.loc[rows].copy()
    info.index.name = "mirna"
    _write(info, tdir / "mirna_info.tsv", index=True)
    if sim.mir126 is not None and not sim.mir126.empty:
        _write(sim.mir126.round(6), tdir / "mir126.tsv")
    _write(clin_mod.clinical_truth_table(sim.params), tdir / "clinical_effects.tsv")
    lat = sim.clinical_latent.copy()
    lat[["bl", "wk1"]] = lat[["bl", "wk1"]].round(6)
    _write(lat, tdir / "clinical_latent.tsv")
    _write(ev_mod.lot_truth_table(sim.lots, sim.params), tdir / "ev_lots.tsv")
    table, note = pathway_truth(sim)
    if table is None:
        with atomic_open(tdir / "pathway_effects.tsv") as fh:
            fh.write(f"# {note}\npathway_id\tcontrast\texpected_direction\tnote\n")
    else:
        with atomic_open(tdir / "pathway_effects.tsv") as fh:
            fh.write(f"# {note}\n")
            _tsv_frame(table).to_csv(fh, sep="\t", index=False, lineterminator="\n")
    rp = sim.read_params
    meta = {
        "exomir_version": __version__,
        "seed": sim.seed,
        "params": sim.params,
        "read_params": {f.name: getattr(rp, f.name) for f in fields(rp)},
        "qc_gates": gates,
        "derived": {k: float(v) for k, v in sim.derived.items()},
    }
    with atomic_open(tdir / "params.yaml") as fh:
        fh.write(dump_params(meta))
    with atomic_open(tdir / "README.md") as fh:
        fh.write(README_TEXT)


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
        help="demo (24 participants, "
        "200k reads/library) or trial (80 participants, ~10M reads/library)",
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
        sys.stdout.write(dump_params({"seed": args.seed, "params": params}))
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
