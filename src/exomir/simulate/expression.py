"""Expected and realised miRNA composition of every simulated library.

The model (analysis_spec.md §6) for miRNA ``g`` in library ``j`` of
participant ``p`` (arm ``a``), timepoint ``t`` and library batch ``b``::

    A_gj = base_g * 2^(time_g(a) * [t = week1] + batch_gb) * exp(u_gp) * h_j^[g in RBC]
    p_gj = A_gj / sum_g A_gj                    (composition of miRNA molecules)
    mu_gj = p_gj * M_j                          (M_j: expected miRNA molecules)
    lambda_gj ~ Gamma(shape 1/alpha, scale mu alpha),  alpha = a0 + a1 / mu_gj
    probs_gj = lambda_gj / sum_g lambda_gj      (passed to simulate_library)

The multinomial draw of molecules in :func:`~exomir.simulate.library.simulate_library`
adds the Poisson part, so the molecule counts follow a negative binomial with
the DESeq2 trend ``Var = mu + alpha(mu) mu^2``. ``time_g(placebo)`` holds the
C19MC clearance and the miR-126-3p drift; ``time_g(exosome)`` adds the
interaction effects. There is no baseline arm difference.

Effects are on the abundance scale ``A``; the renormalisation to
proportions shifts all miRNAs of a library by one common factor, which
median-ratio normalisation removes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exomir.simulate.readmodel import (
    RBC_MIRNAS,
    ReadParams,
    expected_mirna_fraction,
    expected_reads_per_molecule,
    is_c19mc,
)

__all__ = [
    "CONTRASTS",
    "LET7_SPLIT",
    "PLASMA_COMMON_MIRNAS",
    "PRIMARY_MIRNA",
    "TOP_MIRNA_SHARES",
    "ExpressionTruth",
    "baseline_shares",
    "simulate_expression",
]

#: Primary biomarker.
PRIMARY_MIRNA = "hsa-miR-126-3p"

#: Contrasts in :attr:`ExpressionTruth.effects` (log2 fold changes).
CONTRASTS = ("interaction", "time_placebo", "time_exosome", "arm_week1")

#: Baseline shares of miRNA molecules, drawn U(lo, hi) per simulation
#: (analysis_spec.md §6, after Tonge & Gant 2016). The ten largest are then
#: rescaled to ``ReadParams.top10_share``. miR-486-3p and miR-144-3p/-5p are
#: assumptions (RBC miRNAs needed by the haemolysis model).
TOP_MIRNA_SHARES: tuple[tuple[str, float, float], ...] = (
    ("hsa-miR-486-5p", 0.25, 0.40),
    ("hsa-miR-451a", 0.08, 0.20),
    ("hsa-miR-92a-3p", 0.04, 0.08),
    ("hsa-miR-16-5p", 0.03, 0.06),
    ("hsa-miR-22-3p", 0.02, 0.04),
    ("hsa-miR-423-5p", 0.01, 0.03),
    ("hsa-miR-25-3p", 0.005, 0.02),
    ("hsa-miR-191-5p", 0.005, 0.02),
    ("hsa-miR-181a-5p", 0.005, 0.02),
    ("hsa-miR-10a-5p", 0.005, 0.02),
    ("hsa-miR-10b-5p", 0.005, 0.02),
    ("hsa-miR-223-3p", 0.005, 0.02),
    ("hsa-miR-126-3p", 0.001, 0.005),
    ("hsa-miR-23a-3p", 0.0005, 0.003),
    ("hsa-miR-486-3p", 0.0005, 0.002),
    ("hsa-miR-144-3p", 0.0005, 0.003),
    ("hsa-miR-144-5p", 0.0002, 0.001),
)
#: Combined let-7 family share (let-7a/b/f/g/i-5p) and its split (assumption).
LET7_FAMILY_SHARE = (0.04, 0.08)
LET7_SPLIT: dict[str, float] = {
    "hsa-let-7a-5p": 0.30,
    "hsa-let-7b-5p": 0.25,
    "hsa-let-7f-5p": 0.20,
    "hsa-let-7g-5p": 0.15,
    "hsa-let-7i-5p": 0.10,
}
#: Frequently reported plasma miRNAs always included in the expressed tail,
#: with abundance raised by ``exp(1.5)`` (assumption).
PLASMA_COMMON_MIRNAS = (
    "hsa-miR-21-5p",
    "hsa-miR-24-3p",
    "hsa-miR-320a-3p",
    "hsa-miR-142-3p",
    "hsa-miR-150-5p",
    "hsa-miR-103a-3p",
    "hsa-miR-27b-3p",
    "hsa-miR-30d-5p",
    "hsa-miR-93-5p",
    "hsa-miR-185-5p",
    "hsa-miR-342-3p",
    "hsa-miR-148a-3p",
    "hsa-miR-26a-5p",
    "hsa-miR-30e-5p",
    "hsa-miR-140-3p",
    "hsa-miR-146a-5p",
    "hsa-miR-15a-5p",
    "hsa-miR-20a-5p",
    "hsa-miR-19b-3p",
    "hsa-miR-122-5p",
)
_COMMON_BOOST = 1.5


@dataclass
class ExpressionTruth:
    """Truth of the miRNA expression simulation.

    Attributes
    ----------
    mu
        miRNA x sample_id: expected miRNA molecules (NB means) of each library.
    probs
        miRNA x sample_id: realised molecule proportions (Gamma part of the
        NB); pass ``probs[sample_id]`` as ``mirna_probs`` to
        :func:`~exomir.simulate.library.simulate_library`.
    effects
        Long table ``mirna``, ``contrast``, ``log2_effect`` for every miRNA and
        the contrasts in :data:`CONTRASTS`: ``interaction`` (exosome x
        week1), ``time_placebo`` and ``time_exosome`` (week1 vs baseline
        within an arm), ``arm_week1`` (exosome vs placebo at week 1).
    participant_effects
        miRNA x participant_id random effects (natural log).
    batch_effects
        miRNA x library_batch effects (log2).
    mirna_info
        Per miRNA: ``baseline_share``, ``expressed``, ``c19mc``, ``rbc``,
        ``top10``, ``group`` (top/let7/c19mc/common/tail/none),
        ``interaction_log2``, ``time_placebo_log2``.
    design
        Per library: ``sample_id``, ``participant_id``, ``arm``,
        ``timepoint``, ``library_batch``, ``protocol``, ``depth``,
        ``hemolysis_factor``, ``expected_molecules``.
    """

    mu: pd.DataFrame
    probs: pd.DataFrame
    effects: pd.DataFrame
    participant_effects: pd.DataFrame
    batch_effects: pd.DataFrame
    mirna_info: pd.DataFrame
    design: pd.DataFrame


def baseline_shares(
    names: list[str], params: ReadParams, rng: np.random.Generator
) -> pd.DataFrame:
    """Draw the baseline composition of plasma miRNA molecules.

    Parameters
    ----------
    names
        All mature miRNA names (e.g. the keys of miRBase ``mature.fa``).
    params
        Uses ``top10_share``, ``n_mirnas_expressed``, ``tail_sdlog``,
        ``min_tail_share``, ``c19mc_baseline_share_range``, ``c19mc_sdlog``.
    rng
        Random generator.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``names``: ``baseline_share`` (sums to 1), ``expressed``,
        ``c19mc``, ``rbc``, ``top10``, ``group``.
    """
    known = set(names)
    table: dict[str, float] = {}
    group: dict[str, str] = {}
    for name, lo, hi in TOP_MIRNA_SHARES:
        value = float(rng.uniform(lo, hi))
        if name in known:
            table[name] = value
            group[name] = "top"
    let7 = float(rng.uniform(*LET7_FAMILY_SHARE))
    for name, frac in LET7_SPLIT.items():
        if name in known:
            table[name] = let7 * frac
            group[name] = "let7"
    tab = pd.Series(table, dtype=float)
    top10 = tab.nlargest(min(10, len(tab))).index
    tab[top10] *= params.top10_share / tab[top10].sum()
    rest = tab.drop(top10)

    c19 = [n for n in names if is_c19mc(n) and n not in table]
    c19_total = float(rng.uniform(*params.c19mc_baseline_share_range))
    w_c19 = rng.lognormal(0.0, params.c19mc_sdlog, size=len(c19))
    c19_share = (
        pd.Series(c19_total * w_c19 / w_c19.sum(), index=c19)
        if c19
        else pd.Series(dtype=float)
    )

    room = 1.0 - params.top10_share
    fixed = float(rest.sum() + c19_share.sum())
    if room - fixed < params.min_tail_share:
        scale = max(room - params.min_tail_share, 0.0) / fixed if fixed > 0 else 0.0
        rest *= scale
        c19_share *= scale
        fixed = float(rest.sum() + c19_share.sum())
    tail_total = max(room - fixed, 0.0)

    taken = set(table) | set(c19)
    candidates = [n for n in names if n not in taken]
    common = [n for n in PLASMA_COMMON_MIRNAS if n in known and n not in taken]
    others = [n for n in candidates if n not in set(common)]
    n_tail = max(params.n_mirnas_expressed - len(table) - len(c19), len(common))
    n_other = min(max(n_tail - len(common), 0), len(others))
    picked_idx = np.sort(rng.choice(len(others), size=n_other, replace=False))
    tail = common + [others[i] for i in picked_idx]
    w_tail = rng.lognormal(0.0, params.tail_sdlog, size=len(tail))
    w_tail[: len(common)] *= np.exp(_COMMON_BOOST)
    tail_share = (
        pd.Series(tail_total * w_tail / w_tail.sum(), index=tail)
        if tail
        else pd.Series(dtype=float)
    )
    for n in common:
        group[n] = "common"
    for n in tail[len(common) :]:
        group[n] = "tail"
    for n in c19:
        group[n] = "c19mc"

    share = pd.Series(0.0, index=pd.Index(names, name="mirna"))
    share[top10] = tab[top10]
    share[rest.index] = rest
    share[c19_share.index] = c19_share
    share[tail_share.index] = tail_share
    share /= share.sum()
    info = pd.DataFrame({"baseline_share": share})
    info["expressed"] = info["baseline_share"] > 0
    info["c19mc"] = [is_c19mc(n) for n in names]
    info["rbc"] = info.index.isin(RBC_MIRNAS)
    info["top10"] = info.index.isin(share.nlargest(10).index)
    info["group"] = [group.get(n, "none") for n in names]
    return info


def _draw_effects(
    names: list[str], info: pd.DataFrame, params: ReadParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the week-1 placebo change and the interaction (log2) of every miRNA.

    C19MC clearance and the miR-126-3p drift and interaction are planted; other
    interactions hit a random share of candidates. The draws do not depend on
    the effect sizes, so a null scenario shares them.
    """
    n = len(names)
    idx = {name: i for i, name in enumerate(names)}
    c19 = info["c19mc"].to_numpy() & info["expressed"].to_numpy()
    lo, hi = params.c19mc_time_log2_range
    c19_draw = rng.uniform(lo, hi, size=n)
    time_pl = np.where(c19, c19_draw, 0.0)
    inter = np.zeros(n)
    if PRIMARY_MIRNA in idx:
        time_pl[idx[PRIMARY_MIRNA]] += params.mir126_placebo_drift_log2
        inter[idx[PRIMARY_MIRNA]] = params.mir126_interaction_log2
    u_pick = rng.random(n)
    mag = rng.uniform(*params.interaction_log2_range, size=n)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    cand = (
        info["expressed"].to_numpy()
        & ~info["c19mc"].to_numpy()
        & (info["baseline_share"].to_numpy() < params.interaction_max_share)
    )
    if PRIMARY_MIRNA in idx:
        cand[idx[PRIMARY_MIRNA]] = False
    n_pick = round(params.frac_mirnas_with_interaction * int(cand.sum()))
    if n_pick > 0:
        order = np.flatnonzero(cand)[np.argsort(u_pick[cand], kind="stable")]
        chosen = order[:n_pick]
        inter[chosen] = sign[chosen] * mag[chosen]
    return time_pl, inter


def simulate_expression(
    samples: pd.DataFrame,
    participants: pd.DataFrame,
    library_info: pd.DataFrame,
    mature: dict[str, str],
    params: ReadParams,
    rng: np.random.Generator,
    arms: tuple[str, str] = ("placebo", "exosome"),
    timepoints: tuple[str, str] = ("baseline", "week1"),
    later: Mapping[str, tuple[float, float]] | None = None,
) -> ExpressionTruth:
    """Simulate expected and realised miRNA proportions for every library.

    Parameters
    ----------
    samples
        ``samples.tsv`` rows: ``sample_id``, ``participant_id``, ``timepoint``
        and (if not in ``library_info``) ``library_batch``.
    participants
        ``participant_id`` and ``arm``.
    library_info
        One row per library to simulate: ``sample_id``, ``depth`` (raw
        reads), ``protocol``, ``hemolysis_factor`` (1.0 if none; optional),
        ``library_batch`` (optional if in ``samples``).
    mature
        Mature name -> sequence; its keys define the miRNA universe.
    params
        Simulation parameters.
    rng
        Random generator; consumed in a fixed order that does not depend on
        the effect sizes, so a null scenario (``mir126_interaction_log2=0``,
        ``frac_mirnas_with_interaction=0``) shares all other draws with the
        matching non-null scenario.
    arms
        ``(control, treatment)`` arm labels.
    timepoints
        ``(baseline, follow-up)`` timepoint labels.
    later
        Later timepoints -> ``(a, b)``: log2 change ``time_placebo x a`` plus,
        treated, ``interaction x b``; their libraries come last in ``library_info``.

    Returns
    -------
    ExpressionTruth
        Expected means, realised proportions and effect truth.
    """
    names = list(mature)
    if len(set(names)) != len(names):
        raise ValueError("duplicate miRNA names in mature")
    later = dict(later or {})
    design = _design(
        samples, participants, library_info, arms, (*timepoints, *later), params
    )
    info = baseline_shares(names, params, rng)

    n = len(names)
    time_pl, inter = _draw_effects(names, info, params, rng)
    time_ex = time_pl + inter
    info["time_placebo_log2"] = time_pl
    info["interaction_log2"] = inter

    effects = pd.concat(
        [
            pd.DataFrame({"mirna": names, "contrast": c, "log2_effect": v})
            for c, v in zip(CONTRASTS, (inter, time_pl, time_ex, inter), strict=True)
        ],
        ignore_index=True,
    )

    # ---- random effects
    pids = sorted(design["participant_id"].unique())
    batches = sorted(design["library_batch"].unique())
    part = rng.normal(0.0, params.participant_sd, size=(n, len(pids)))
    batch = rng.normal(0.0, params.batch_sd_log2, size=(n, len(batches)))
    part_df = pd.DataFrame(part, index=info.index, columns=pd.Index(pids))
    batch_df = pd.DataFrame(batch, index=info.index, columns=pd.Index(batches))

    # ---- per-library composition and NB draws
    base = info["baseline_share"].to_numpy()
    expressed = base > 0
    log_base = np.where(expressed, np.log(np.where(expressed, base, 1.0)), -np.inf)
    rbc = info["rbc"].to_numpy()
    pcol = {p: i for i, p in enumerate(pids)}
    bcol = {b: i for i, b in enumerate(batches)}
    ln2 = np.log(2.0)
    mu = np.zeros((n, len(design)))
    probs = np.zeros((n, len(design)))
    for j, row in enumerate(design.itertuples(index=False)):
        log_a = log_base + part[:, pcol[row.participant_id]]
        log_a = log_a + ln2 * batch[:, bcol[row.library_batch]]
        if row.timepoint == timepoints[1]:
            log_a = log_a + ln2 * (time_ex if row.arm == arms[1] else time_pl)
        elif row.timepoint in later:
            s_time, s_int = later[row.timepoint]
            treated = float(row.arm == arms[1])
            log_a = log_a + ln2 * (time_pl * s_time + inter * (s_int * treated))
        if row.hemolysis_factor != 1.0:
            log_a = log_a + np.where(rbc, np.log(row.hemolysis_factor), 0.0)
        a = np.exp(log_a - log_a[expressed].max())
        p = a / a.sum()
        m = p * row.expected_molecules
        mu[:, j] = m
        pos = m > 0
        alpha = params.dispersion_a0 + params.dispersion_a1 / m[pos]
        lam = np.zeros(n)
        lam[pos] = rng.gamma(1.0 / alpha, m[pos] * alpha)
        total = lam.sum()
        probs[:, j] = lam / total if total > 0 else p
    cols = pd.Index(design["sample_id"], name="sample_id")
    return ExpressionTruth(
        mu=pd.DataFrame(mu, index=info.index, columns=cols),
        probs=pd.DataFrame(probs, index=info.index, columns=cols),
        effects=effects,
        participant_effects=part_df,
        batch_effects=batch_df,
        mirna_info=info,
        design=design,
    )


def _design(
    samples: pd.DataFrame,
    participants: pd.DataFrame,
    library_info: pd.DataFrame,
    arms: tuple[str, str],
    timepoints: tuple[str, ...],
    params: ReadParams,
) -> pd.DataFrame:
    """Join library, sample and participant information per library."""
    info = library_info.copy()
    info["sample_id"] = info["sample_id"].astype(str)
    if info["sample_id"].duplicated().any():
        raise ValueError("library_info has duplicate sample_id values")
    smp = samples.copy()
    smp["sample_id"] = smp["sample_id"].astype(str)
    take = [
        c
        for c in ("participant_id", "timepoint", "library_batch")
        if c not in info.columns
    ]
    if take:
        missing = set(info["sample_id"]) - set(smp["sample_id"])
        if missing:
            raise ValueError(f"samples lacks libraries {sorted(missing)[:5]}")
        info = info.merge(smp[["sample_id", *take]], on="sample_id", how="left")
    part = participants[["participant_id", "arm"]].copy()
    part["participant_id"] = part["participant_id"].astype(str)
    info["participant_id"] = info["participant_id"].astype(str)
    info = info.drop(columns=["arm"], errors="ignore").merge(
        part, on="participant_id", how="left"
    )
    if info["arm"].isna().any():
        bad = info.loc[info["arm"].isna(), "participant_id"].unique()[:5]
        raise ValueError(f"participants without arm: {list(bad)}")
    if not info["arm"].isin(arms).all():
        raise ValueError(f"arms must be in {arms}")
    if not info["timepoint"].isin(timepoints).all():
        raise ValueError(f"timepoints must be in {timepoints}")
    if "hemolysis_factor" not in info.columns:
        info["hemolysis_factor"] = 1.0
    info["hemolysis_factor"] = info["hemolysis_factor"].fillna(1.0).astype(float)
    if (info["hemolysis_factor"] <= 0).any():
        raise ValueError("hemolysis_factor must be > 0")
    info["library_batch"] = info["library_batch"].astype(str)
    frac = expected_mirna_fraction(params)
    info["expected_molecules"] = [
        float(d) * frac / expected_reads_per_molecule(str(p), params)
        for d, p in zip(info["depth"], info["protocol"], strict=True)
    ]
    cols = [
        "sample_id",
        "participant_id",
        "arm",
        "timepoint",
        "library_batch",
        "protocol",
        "depth",
        "hemolysis_factor",
        "expected_molecules",
    ]
    return info[cols].reset_index(drop=True)
