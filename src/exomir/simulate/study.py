"""The in-memory simulated trial: every table and the expression truth.

One ``numpy.random.SeedSequence(seed)`` is split into independent child
streams (:data:`STREAMS`); each part of the trial draws from its own stream,
so adding draws to one part never changes another. The ED label lowers the
primary miRNA (:func:`apply_ed_shift`) and its change is coupled to SBP
(:func:`sbp_coupling_inputs`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from exomir.simulate import blood_draws
from exomir.simulate import clinical as clin_mod
from exomir.simulate import ev as ev_mod
from exomir.simulate import followup as fu_mod
from exomir.simulate import trial as trial_mod
from exomir.simulate.adverse_events import simulate_adverse_events
from exomir.simulate.expression import simulate_expression
from exomir.simulate.readmodel import RBC_MIRNAS, build_read_params
from exomir.simulate.references import References, load_references

__all__ = [
    "STREAMS",
    "SimulatedTrial",
    "apply_ed_shift",
    "sbp_coupling_inputs",
    "simulate_trial",
]

#: Named random streams, in the order they are spawned from the seed.
STREAMS = (
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
    followup
        Long trial: later visits, last contact, events (``None`` otherwise).
    site_effects
        Planted site shifts (long trial or site effects; else ``None``).
    later_latent
        True values at the later visits (long table; ``None`` without them).
    n_base_libraries
        Libraries of the first two timepoints; they come first in
        ``library_info``, the later blood draws after them.
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
    followup: fu_mod.FollowUp | None = None
    site_effects: pd.DataFrame | None = None
    later_latent: pd.DataFrame | None = None
    n_base_libraries: int | None = None


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
    streams = dict(zip(STREAMS, root.spawn(len(STREAMS)), strict=True))

    def rng(name: str) -> np.random.Generator:
        return np.random.default_rng(streams[name])

    roster = trial_mod.simulate_roster(params, rng("trial"))
    samples, info = trial_mod.simulate_samples(roster, params, rng("samples"))
    rng_ev = rng("ev")
    lots, lots_df, runs_df, files = ev_mod.simulate_ev(params, rng_ev)
    roster = ev_mod.assign_lots(roster, lots, lots_df, params, rng_ev)
    roster = clin_mod.simulate_ed_labels(roster, params, rng("ed"))
    participants = trial_mod.participants_table(roster)
    n_base = len(info)
    fu, samples, info, participants, site_fx = _long_trial(
        roster, samples, info, participants, params, seed
    )

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
            arms=arms,
            timepoints=(tps[0], tps[1]),
            later=_mirna_later(params),
        )
        probs, mu, mir126, derived = apply_ed_shift(expr, roster, info, params)
        if site_fx is not None and float(params["sites"]["mirna_shift_log2_sd"]) > 0:
            probs, mu = apply_site_shift(probs, mu, site_fx, samples, roster, params)
        expr.mu = mu
        if not mir126.empty:
            z, coupling, dvar = sbp_coupling_inputs(mir126, params, derived)
            derived["log2_var_delta_exosome"] = dvar
            derived["sbp_coupling"] = coupling
    store: dict[str, Any] = {}
    clinical, latent = _clinical(
        roster, params, seed, rng("clinical"), z, coupling, fu, site_fx, store
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
    aes = simulate_adverse_events(roster, params, rng("safety"))
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
        followup=fu,
        site_effects=site_fx,
        later_latent=store.get("latent"),
        n_base_libraries=n_base,
    )


def _mirna_later(params: Mapping[str, Any]) -> dict[str, tuple[float, float]] | None:
    """Later blood draws -> (placebo time multiple, interaction multiple)."""
    fup = params["followup"]
    prof = (fup["mirna_time_profile"], fup["mirna_effect_profile"])
    tps = params["trial"]["timepoints"][2:]
    return {tp: (float(prof[0][tp]), float(prof[1][tp])) for tp in tps} or None


def _long_trial(
    roster: pd.DataFrame,
    samples: pd.DataFrame,
    info: pd.DataFrame,
    participants: pd.DataFrame,
    params: Mapping[str, Any],
    seed: int,
) -> tuple[
    fu_mod.FollowUp | None,
    pd.DataFrame,
    pd.DataFrame,
    pd.DataFrame,
    pd.DataFrame | None,
]:
    """Add the long trial (own generators): follow-up, later libraries, sites.

    The later libraries are appended after the others in ``info`` (so the
    expression draws of the first two timepoints stay the same); ``samples``
    is re-sorted by ``sample_id``; ``participants`` gains ``last_contact_date``.
    """
    fu = (
        fu_mod.simulate_followup(roster, params, seed)
        if fu_mod.is_long(params)
        else None
    )
    if fu is not None:
        more_s, more_i = blood_draws.extra_samples(
            roster, samples, info, fu, params, seed
        )
        samples = (
            pd.concat([samples, more_s], ignore_index=True)
            .sort_values("sample_id", kind="mergesort")
            .reset_index(drop=True)
        )
        info = pd.concat([info, more_i], ignore_index=True)
        last = {p: d.isoformat() for p, d in fu.last_contact.items()}
        participants = participants.assign(
            last_contact_date=participants["participant_id"].map(last)
        )
    site_fx = None
    if fu is not None or fu_mod.has_site_effects(params):
        site_fx = fu_mod.site_effects(params, seed)
    return fu, samples, info, participants, site_fx


def _clinical(
    roster: pd.DataFrame,
    params: Mapping[str, Any],
    seed: int,
    rng: np.random.Generator,
    z: pd.Series | None,
    coupling: float,
    fu: fu_mod.FollowUp | None,
    site_fx: pd.DataFrame | None,
    store: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clinical measurements with site shifts and the later visits, if any."""
    shifts = None
    if site_fx is not None and float(params["sites"]["endpoint_shift_sd"]) > 0:
        shifts = fu_mod.participant_shifts(roster, site_fx, params)
    later_visits = [v for v, _, _ in fu_mod.later_visits(params)]
    hook = (
        fu_mod.later_clinical_hook(params, fu, shifts, seed, store)
        if fu is not None and later_visits
        else None
    )
    return clin_mod.simulate_clinical(
        roster,
        params,
        rng,
        z,
        coupling,
        site_shift=shifts,
        followup=hook,
        later_visits=later_visits,
    )


def apply_site_shift(
    probs: pd.DataFrame,
    mu: pd.DataFrame,
    site_fx: pd.DataFrame,
    samples: pd.DataFrame,
    roster: pd.DataFrame,
    params: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shift the primary miRNA by its site effect (log2) in every library.

    Applied after the ED shift, like it: the miRNA's share is multiplied by
    ``2^effect`` and the library renormalised (column totals kept).

    Returns
    -------
    probs, mu : pandas.DataFrame
        Shifted copies.
    """
    prim = params["reference"]["primary_mirna"]
    if prim not in probs.index:
        return probs, mu
    eff = site_fx[site_fx["endpoint"] == prim].set_index("site_id")["effect"]
    site = dict(zip(roster["participant_id"], roster["site_id"], strict=True))
    pid = samples.set_index("sample_id")["participant_id"]
    factor = pd.Series(
        [2.0 ** float(eff.get(site[pid[s]], 0.0)) for s in probs.columns],
        index=probs.columns,
    )
    out = []
    for frame in (probs.copy(), mu.copy()):
        total = frame.sum(axis=0)
        frame.loc[prim] = frame.loc[prim] * factor
        frame.loc[:, :] = (
            frame.to_numpy() * (total / frame.sum(axis=0)).to_numpy()[None, :]
        )
        out.append(frame)
    return out[0], out[1]
