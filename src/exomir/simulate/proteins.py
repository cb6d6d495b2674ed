"""Participant-level true protein concentrations of a simulated trial (issue 21).

Per analyte ``a``, participant ``i`` and visit ``v`` (natural log, pg/mL):

    log C[i, v] = log(median_a) + b[i, a] + time_a[v] + treated_i * arm_a[v]
                  + gamma_a * (dm_i - mean of dm in i's arm) [v post-dose] + e[i, v, a]

with ``b ~ N(0, between_sd)`` (participant level), ``e ~ N(0, within_sd)``
(visit-to-visit biology), ``dm_i`` the change (primary visit - baseline, log2)
of miR-126-3p and ``gamma_a`` the planted coupling (natural-log protein per
log2 miRNA). The miRNA change is centred within each arm, so the coupling
does not move the arm means: the arm effect on the analysis (log) scale is
exactly ``arm_a[v]`` and the coupling is the within-arm slope. Later visits
carry the arm effect decayed with ``effect_half_life_days`` (an assumption).

Default ranges (postpartum preeclampsia, plasma, pg/mL). Medians are for the
first postpartum days; SOURCES are the orders of magnitude reported in
preeclampsia at or just after delivery, the rest is marked ASSUMPTION:

* sFlt-1 ~3,000 (Levine et al. 2004 NEJM 350:672, 4,000-6,000 before onset,
  falling after delivery); postpartum fall by week 1 ASSUMPTION.
* PlGF ~120 (Levine 2004: low in preeclampsia, 100-200).
* soluble endoglin ~25,000 (Levine et al. 2006 NEJM 355:992, 20-50 ng/mL).
* IL-6 ~6, TNF-alpha ~4, IL-1beta ~0.8 (high-sensitivity ELISA ranges in
  preeclampsia reviews, 1-20 pg/mL; IL-1beta often near the LLOQ).
* VEGF ~150 (total VEGF; free VEGF is lower in preeclampsia) ASSUMPTION.
* Arm effects (anti-inflammatory, pro-angiogenic direction) and the
  miR-126-3p -> VEGF / PlGF coupling (miR-126 promotes VEGF signalling, Fish
  et al. 2008 Dev Cell 15:272): ASSUMPTION, for calibration only.

Randomness comes only from the generator passed in; ``exomir simulate`` must
give it its own stream (``np.random.default_rng([seed, k])``), never the
existing one (the invariance rule).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Analyte -> (label, median pg/mL at baseline, between-participant SD (log),
# within SD (log), time effect at post-dose visits (log), arm effect at the
# primary visit (log), coupling to the miR-126-3p change (log per log2)).
PANEL: dict[str, dict[str, Any]] = {
    "SFLT1": dict(label="sFlt-1", median=3000.0, time=-1.0, arm=-0.20, gamma=0.0),
    "PLGF": dict(label="PlGF", median=120.0, time=-0.3, arm=0.15, gamma=0.15),
    "SENG": dict(
        label="soluble endoglin", median=25000.0, time=-0.6, arm=-0.15, gamma=0.0
    ),
    "IL6": dict(label="IL-6", median=6.0, time=-0.3, arm=-0.30, gamma=0.0),
    "TNFA": dict(label="TNF-alpha", median=4.0, time=0.0, arm=-0.20, gamma=0.0),
    "IL1B": dict(label="IL-1beta", median=0.8, time=0.0, arm=-0.15, gamma=0.0),
    "VEGF": dict(label="VEGF", median=150.0, time=0.0, arm=0.25, gamma=0.30),
}

DEFAULTS: dict[str, Any] = {
    "panel": PANEL,
    "between_sd": 0.5,
    "within_sd": 0.25,
    "visits": None,  # None: trial.timepoints (baseline + post-dose)
    "visit_days": {},  # post-dose visit -> planned day (effect decay)
    "effect_half_life_days": 90.0,
    "mirna": "hsa-miR-126-3p",
    "matrix": "plasma_EDTA",
    # Used only when no miRNA truth is given (e.g. the calibration benchmark).
    "mirna_change_sd": 0.6,
    "mirna_arm_shift": 0.5,
}


@dataclass(frozen=True)
class ProteinSimulation:
    """Simulated protein layer.

    Attributes
    ----------
    levels
        True concentrations: ``protein_sample_id, participant_id, visit,
        analyte, concentration, unit`` (one row per protein sample x analyte;
        the input of the plate renderer).
    samples
        The ``protein_samples`` sheet: ``protein_sample_id, participant_id,
        visit, matrix``.
    effects
        truth/protein_effects.tsv: ``analyte, label, visit, true_log_effect,
        true_ratio, scale``.
    coupling
        truth/protein_coupling.tsv: ``mirna, analyte, coefficient, sign,
        scale``.
    mirna_change
        The miR-126-3p change used per participant (``participant_id, arm,
        delta_log2``).
    """

    levels: pd.DataFrame
    samples: pd.DataFrame
    effects: pd.DataFrame
    coupling: pd.DataFrame
    mirna_change: pd.DataFrame


def protein_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Protein parameters: :data:`DEFAULTS` updated by ``params['proteins']``."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    given = dict((params or {}).get("proteins") or {})
    panel = {a: dict(s) for a, s in PANEL.items()}
    for a, s in dict(given.pop("panel", None) or {}).items():
        panel[a] = {**panel.get(a, {"label": a, "time": 0.0, "gamma": 0.0}), **s}
    out.update(given)
    out["panel"] = panel
    return out


def _visits(params: Mapping[str, Any], pp: Mapping[str, Any]) -> list[str]:
    if pp.get("visits"):
        return [str(v) for v in pp["visits"]]
    tps = (params.get("trial") or {}).get("timepoints") or ["baseline", "week1"]
    return [str(v) for v in tps]


def _mirna_change(
    roster: pd.DataFrame,
    mirna: pd.DataFrame | None,
    arms: Sequence[str],
    pp: Mapping[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Per participant miRNA change (log2): given, or drawn when absent."""
    if mirna is not None and "delta_log2" in mirna.columns:
        m = mirna.set_index("participant_id")["delta_log2"].astype(float)
        d = roster["participant_id"].map(m).to_numpy(dtype=float)
    else:
        treated = (roster["arm"] == arms[-1]).to_numpy(dtype=float)
        d = rng.normal(0.0, float(pp["mirna_change_sd"]), len(roster))
        d = d + treated * float(pp["mirna_arm_shift"])
    return pd.DataFrame(
        {
            "participant_id": roster["participant_id"].to_numpy(),
            "arm": roster["arm"].to_numpy(),
            "delta_log2": d,
        }
    )


def _arm_effect(arm: float, visit: str, primary: str, pp: Mapping[str, Any]) -> float:
    """Arm effect at a post-dose visit (decayed after the primary visit)."""
    days = pp.get("visit_days") or {}
    if visit == primary or visit not in days or primary not in days:
        return arm
    dt = max(0.0, float(days[visit]) - float(days[primary]))
    return arm * 0.5 ** (dt / float(pp["effect_half_life_days"]))


def _has_visit(roster: pd.DataFrame, visit: str, first: bool) -> np.ndarray:
    """Whether each participant attended ``visit`` (baseline: everybody)."""
    if first:
        return np.ones(len(roster), dtype=bool)
    if "completed_week1" in roster.columns:
        return roster["completed_week1"].fillna(False).to_numpy(dtype=bool)
    return np.ones(len(roster), dtype=bool)


def simulate_protein_levels(
    roster: pd.DataFrame,
    mirna: pd.DataFrame | None,
    params: Mapping[str, Any],
    rng: np.random.Generator,
) -> ProteinSimulation:
    """Simulate the true protein concentrations of every participant and visit.

    Parameters
    ----------
    roster
        ``participant_id`` and ``arm`` (optional ``completed_week1``: without
        it every participant has every visit).
    mirna
        Per participant ``participant_id`` and ``delta_log2`` (the true
        change of miR-126-3p, e.g. the ``mir126`` table of
        :func:`exomir.simulate.study.apply_ed_shift`), or ``None`` to draw one.
        A missing change (no follow-up library) means no coupling.
    params
        Resolved simulation parameters (``trial.arms``, ``trial.timepoints``,
        optional ``proteins`` block overriding :data:`DEFAULTS`).
    rng
        A generator of its own (never the scenario's main stream).

    Returns
    -------
    ProteinSimulation
        Levels, the protein_samples sheet and the truth tables.
    """
    pp = protein_params(params)
    arms = list((params.get("trial") or {}).get("arms") or ["placebo", "exosome"])
    visits = _visits(params, pp)
    primary = str((params.get("trial") or {}).get("primary_visit") or visits[1])
    n = len(roster)
    treated = (roster["arm"] == arms[-1]).to_numpy(dtype=float)
    change = _mirna_change(roster, mirna, arms, pp, rng)
    dm = change["delta_log2"].to_numpy(dtype=float)
    centred = np.zeros(n)
    for a in arms:
        sel = (roster["arm"] == a).to_numpy() & np.isfinite(dm)
        if sel.any():
            centred[sel] = dm[sel] - dm[sel].mean()
    panel = pp["panel"]
    between = rng.normal(0.0, float(pp["between_sd"]), size=(n, len(panel)))
    within = rng.normal(0.0, float(pp["within_sd"]), size=(n, len(visits), len(panel)))
    pids = roster["participant_id"].astype(str).to_numpy()
    rows, samples, effects = [], [], []
    for k, visit in enumerate(visits):
        present = _has_visit(roster, visit, k == 0)
        for i in np.flatnonzero(present):
            samples.append((f"PS-{pids[i]}-{visit}", pids[i], visit, pp["matrix"]))
        for j, (code, s) in enumerate(panel.items()):
            arm_v = 0.0 if k == 0 else _arm_effect(float(s["arm"]), visit, primary, pp)
            time_v = 0.0 if k == 0 else float(s.get("time", 0.0))
            gamma = 0.0 if k == 0 else float(s.get("gamma", 0.0))
            logc = (
                math.log(float(s["median"]))
                + between[:, j]
                + time_v
                + treated * arm_v
                + gamma * centred
                + within[:, k, j]
            )
            for i in np.flatnonzero(present):
                rows.append(
                    (f"PS-{pids[i]}-{visit}", pids[i], visit, code, math.exp(logc[i]))
                )
            if k:
                effects.append(
                    (code, str(s.get("label", code)), visit, arm_v, math.exp(arm_v))
                )
    levels = pd.DataFrame(
        rows,
        columns=[
            "protein_sample_id",
            "participant_id",
            "visit",
            "analyte",
            "concentration",
        ],
    )
    levels["unit"] = "pg/mL"
    coupling = pd.DataFrame(
        [
            (pp["mirna"], code, float(s.get("gamma", 0.0)))
            for code, s in panel.items()
            if float(s.get("gamma", 0.0)) != 0.0
        ],
        columns=["mirna", "analyte", "coefficient"],
    )
    coupling["sign"] = np.sign(coupling["coefficient"]).astype(int)
    coupling["scale"] = "natural log protein per log2 miRNA change, within arm"
    eff = pd.DataFrame(
        effects, columns=["analyte", "label", "visit", "true_log_effect", "true_ratio"]
    )
    eff["scale"] = "natural log (treated - reference); ratio of geometric means"
    return ProteinSimulation(
        levels=levels,
        samples=pd.DataFrame(
            samples, columns=["protein_sample_id", "participant_id", "visit", "matrix"]
        ),
        effects=eff,
        coupling=coupling,
        mirna_change=change,
    )


def measured_concentrations(
    levels: pd.DataFrame,
    rng: np.random.Generator,
    *,
    assay_cv: float = 0.08,
    lloq: Mapping[str, float] | None = None,
    uloq: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Concentrations table as the quantification stage writes it, without plates.

    Each true level gets a log-normal assay error of coefficient of variation
    ``assay_cv``; values below ``lloq`` / above ``uloq`` of their analyte are
    flagged ``below_lloq`` / ``above_uloq`` with an empty concentration. For
    the calibration benchmark and tests (the plate renderer replaces it in
    ``exomir simulate``).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`exomir.proteins.analysis.CONC_COLUMNS`.
    """
    sd = math.sqrt(math.log(1 + assay_cv**2))
    c = levels["concentration"].to_numpy(dtype=float) * np.exp(
        rng.normal(-(sd**2) / 2, sd, len(levels))
    )
    lo = levels["analyte"].map(lloq or {}).astype(float).to_numpy()
    hi = levels["analyte"].map(uloq or {}).astype(float).to_numpy()
    flag = np.where(c < lo, "below_lloq", np.where(c > hi, "above_uloq", "ok"))
    out = levels[["protein_sample_id", "participant_id", "visit", "analyte"]].copy()
    out["concentration"] = np.where(flag == "ok", c, np.nan)
    out["unit"] = levels["unit"].to_numpy()
    out["flag"] = flag
    out["plate_id"] = "SIM"
    out["cv"] = np.nan
    return out.reset_index(drop=True)


def write_protein_truth(
    sim: ProteinSimulation, truth_dir: str | os.PathLike[str]
) -> None:
    """Write ``protein_effects.tsv``, ``protein_coupling.tsv`` and ``protein_levels.tsv``.

    The files go to the scenario's ``truth/`` folder (never read by the
    workflow); rows are in simulation order, numbers with the project's TSV
    conventions.
    """
    from exomir.tables import write_table

    out = Path(truth_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_table(sim.effects, out / "protein_effects.tsv")
    write_table(sim.coupling, out / "protein_coupling.tsv")
    write_table(sim.levels, out / "protein_levels.tsv")
