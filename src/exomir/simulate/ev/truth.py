"""True properties of the simulated EV lots and the truth table of their criteria."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class LotTruth:
    """True properties of one EV lot.

    Attributes
    ----------
    lot_id
        Lot identifier.
    index
        1-based lot number in manufacturing order.
    conc
        True stock concentration (particles/mL).
    d50
        True median diameter of the number distribution (nm).
    sigma
        Log-SD of the number distribution.
    protein
        Protein (ug/mL).
    zeta
        Zeta potential (mV).
    endotoxin
        Endotoxin (EU/mL).
    sterility
        ``"no growth"`` or ``"growth"``.
    fails
        Whether the lot fails release.
    failed_criterion
        The criterion it fails (empty if it passes).
    manufacture
        Manufacture date.
    measured
        Values read back from the primary NTA export (filled later).
    """

    lot_id: str
    index: int
    conc: float
    d50: float
    sigma: float
    protein: float
    zeta: float
    endotoxin: float
    sterility: str
    fails: bool
    failed_criterion: str
    manufacture: dt.date
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> float:
        """True mode of the log-normal number distribution (nm)."""
        return self.d50 * math.exp(-(self.sigma**2))

    @property
    def release(self) -> dt.date:
        """Release date (30 days after manufacture)."""
        return self.manufacture + dt.timedelta(days=30)


def simulate_lot_truth(
    params: Mapping[str, Any], rng: np.random.Generator
) -> list[LotTruth]:
    """Draw the true properties of every lot, one of which may fail.

    Parameters
    ----------
    params
        Resolved parameters (``ev`` and ``trial`` sections).
    rng
        Random generator.

    Returns
    -------
    list[LotTruth]
        Lots in manufacturing order.
    """
    ev = params["ev"]
    t = params["trial"]
    start = dt.date.fromisoformat(str(t["start_date"]))
    n = int(ev["n_lots"])
    lots = []
    for k in range(n):
        idx = k + 1
        conc = 10 ** rng.uniform(*ev["log10_conc_range"])
        d50 = rng.uniform(*ev["d50_nm_range"])
        sigma = rng.uniform(*ev["sigma_log_range"])
        lo, hi = (math.log10(x) for x in ev["particles_per_ug_range"])
        protein = conc / 10 ** rng.uniform(lo, hi)
        zeta = rng.uniform(*ev["zeta_mv_range"])
        endo = rng.uniform(*ev["endotoxin_range"])
        sterility = "no growth"
        fails = idx == int(ev["failing_lot"])
        crit = ""
        if fails:
            mode = ev["failure_mode"]
            if mode == "size":
                d50 = float(ev["fail_d50_nm"])
                sigma = float(ev["fail_sigma_log"])
                crit = "size"
            elif mode == "endotoxin":
                endo = float(ev["fail_endotoxin"])
                crit = "endotoxin"
            elif mode == "purity":
                protein = conc / float(ev["fail_particles_per_ug"])
                crit = "purity"
            else:
                sterility = "growth"
                crit = "sterility"
        manufacture = start + dt.timedelta(
            days=-60 + round(k * int(t["enrolment_days"]) / n)
        )
        lots.append(
            LotTruth(
                lot_id=f"EVL-{manufacture:%y}{idx:02d}",
                index=idx,
                conc=float(conc),
                d50=float(d50),
                sigma=float(sigma),
                protein=float(protein),
                zeta=float(zeta),
                endotoxin=float(endo),
                sterility=sterility,
                fails=fails,
                failed_criterion=crit,
                manufacture=manufacture,
            )
        )
    return lots


def lot_truth_table(lots: list[LotTruth], params: Mapping[str, Any]) -> pd.DataFrame:
    """Tabulate which lot fails which criterion (``truth/ev_lots.tsv``).

    Parameters
    ----------
    lots
        Lot truth with measured values.
    params
        Resolved parameters (release specification in ``ev``).

    Returns
    -------
    pandas.DataFrame
        One row per lot and criterion: ``lot_id``, ``criterion``, ``spec``,
        ``true_value``, ``measured_value``, ``passes``, plus lot-level
        ``lot_fails``, ``planted_failure`` and ``used_for_dosing``.
    """
    ev = params["ev"]
    rows = []
    for lot in lots:
        m = lot.measured
        dosed = (not lot.fails) or bool(ev["failing_lot_dosed"])
        checks = [
            (
                "mode_nm",
                f"< {ev['spec_max_mode_nm']:g}",
                lot.mode,
                m["mode_nm"],
                m["mode_nm"] < ev["spec_max_mode_nm"],
            ),
            (
                "frac_50_400nm",
                f">= {ev['spec_min_frac_50_400']:g}",
                _lognormal_frac(lot.d50, lot.sigma, 50, 400),
                m["frac_50_400"],
                bool(
                    (
                        m["frac_50_400"]
                        if not math.isnan(m["frac_50_400"])
                        else _lognormal_frac(lot.d50, lot.sigma, 50, 400)
                    )
                    >= ev["spec_min_frac_50_400"]
                ),
            ),
            (
                "endotoxin_eu_per_ml",
                f"< {ev['spec_max_endotoxin']:g}",
                lot.endotoxin,
                m["endotoxin_eu_per_ml"],
                m["endotoxin_eu_per_ml"] < ev["spec_max_endotoxin"],
            ),
            (
                "particles_per_ug",
                f">= {ev['spec_min_particles_per_ug']:g}",
                lot.conc / lot.protein,
                m["particles_per_ug"],
                m["particles_per_ug"] >= ev["spec_min_particles_per_ug"],
            ),
            (
                "sterility",
                "no growth",
                lot.sterility,
                lot.sterility,
                lot.sterility == "no growth",
            ),
        ]
        for crit, spec, true, meas, ok in checks:
            rows.append(
                {
                    "lot_id": lot.lot_id,
                    "lot_index": lot.index,
                    "criterion": crit,
                    "spec": spec,
                    "true_value": _fmt_truth(true),
                    "measured_value": _fmt_truth(meas),
                    "passes": bool(ok),
                    "lot_fails": lot.fails,
                    "planted_failure": lot.failed_criterion,
                    "used_for_dosing": dosed,
                    "true_conc_per_ml": f"{lot.conc:.4e}",
                    "true_d50_nm": round(lot.d50, 2),
                    "true_sigma_log": round(lot.sigma, 4),
                }
            )
    return pd.DataFrame(rows)


def _fmt_truth(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.6g}")
    return x


def _lognormal_frac(d50: float, sigma: float, lo: float, hi: float) -> float:
    from math import erf, log, sqrt

    def cdf(x: float) -> float:
        return 0.5 * (1 + erf((log(x) - log(d50)) / (sigma * sqrt(2))))

    return cdf(hi) - cdf(lo)
