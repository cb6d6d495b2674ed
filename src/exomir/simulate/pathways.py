"""Small simulated trials for checking the pathway scores (tests and benchmarks).

A two-arm, two-timepoint trial of standardisable miRNA levels (log2 scale)::

    x[m, p, t] = mu_m + u_mp + e_mpt + delta * [arm(p) = treated, t = follow-up] * c_m

with participant effects ``u ~ N(0, sd_participant)``, residuals
``e ~ N(0, sd_residual)`` and a **coordinated** planted change ``delta`` on the
miRNAs ``c_m = 1`` chosen among those targeting the planted pathway (the
``fraction`` with the largest weights ``w_mP``). ``delta = 0`` is the null.
The truth table has the layout of the simulator's ``truth/pathway_effects.tsv``
(pathway_id, contrast, expected_direction, contributors).

:func:`synthetic_interactions` builds a random network with a heavy-tailed
target count per miRNA, for unit tests that must not depend on miRTarBase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SimulatedTrial", "simulate_trial", "synthetic_interactions"]


def synthetic_interactions(
    n_mirnas: int = 150,
    n_genes: int = 600,
    pathways: Sequence[tuple[str, int]] = (("PI3K", 80), ("MAPK", 70)),
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Random miRNA -> gene interactions and pathway gene sets.

    Parameters
    ----------
    n_mirnas, n_genes
        Network size. miRNAs are ``hsa-miR-s<i>-5p``, genes ``G<j>``.
    pathways
        (name, size) of each gene set, drawn without replacement from the genes.
    seed
        RNG seed.

    Returns
    -------
    interactions : pandas.DataFrame
        Documented layout (mirna, target_symbol, target_entrez, evidence,
        source, reference); each miRNA has 1 + Geometric(0.06) targets.
    gene_sets : dict
        Pathway -> list of gene symbols.
    """
    rng = np.random.default_rng(seed)
    genes = [f"G{j:04d}" for j in range(n_genes)]
    rows = []
    for i in range(n_mirnas):
        k = min(n_genes, int(rng.geometric(0.06)))
        for g in rng.choice(n_genes, size=k, replace=False):
            rows.append(
                {
                    "mirna": f"hsa-miR-s{i:03d}-5p",
                    "target_symbol": genes[g],
                    "target_entrez": str(100000 + int(g)),
                    "evidence": "Functional MTI",
                    "source": "synthetic",
                    "reference": "",
                }
            )
    sets = {
        name: sorted(genes[j] for j in rng.choice(n_genes, size=size, replace=False))
        for name, size in pathways
    }
    return pd.DataFrame(rows), sets


@dataclass(frozen=True)
class SimulatedTrial:
    """A simulated trial.

    Attributes
    ----------
    values
        Samples x miRNAs (log2-scale levels).
    obs
        Per sample: participant_id, arm, timepoint, stratum.
    truth
        pathway_id, contrast, expected_direction, delta, n_mirnas_with_effect,
        contributors.
    planted
        miRNAs carrying the planted change.
    """

    values: pd.DataFrame
    obs: pd.DataFrame
    truth: pd.DataFrame
    planted: tuple[str, ...]


def simulate_trial(
    network: pd.DataFrame,
    pathway: str,
    delta: float,
    n_per_arm: int = 20,
    n_other: int = 50,
    fraction: float = 0.5,
    sd_participant: float = 0.6,
    sd_residual: float = 0.35,
    arms: tuple[str, str] = ("placebo", "exosome"),
    timepoints: tuple[str, str] = ("baseline", "week1"),
    seed: int = 0,
) -> SimulatedTrial:
    """Simulate miRNA levels with a coordinated change of pathway-targeting miRNAs.

    Parameters
    ----------
    network
        From :func:`exomir.pathways.scoring.build_network` (all miRNAs).
    pathway
        Pathway whose top-weighted targeting miRNAs get the change.
    delta
        Planted log2 change at follow-up in the treated arm (0 = null).
    n_per_arm
        Participants per arm (every participant has both timepoints).
    n_other
        Extra miRNAs outside the network.
    fraction
        Share of the pathway's miRNAs (largest weights first) that change.
    sd_participant, sd_residual
        Between-participant and within-participant SDs (log2).
    arms, timepoints
        (reference, treated) and (baseline, follow-up) names.
    seed
        RNG seed.

    Returns
    -------
    SimulatedTrial
        Levels, sample table and truth.
    """
    rng = np.random.default_rng(seed)
    mirnas = sorted(set(network["mirna"])) + [
        f"hsa-miR-x{i:03d}-3p" for i in range(n_other)
    ]
    sub = network[network["pathway"] == pathway].sort_values(
        ["weight", "mirna"], ascending=[False, True], kind="mergesort"
    )
    n_eff = max(1, round(fraction * len(sub)))
    planted = tuple(sorted(sub["mirna"].head(n_eff)))
    mu = rng.uniform(4, 14, size=len(mirnas))
    eff = np.isin(mirnas, planted).astype(float) * delta
    rows, vals = [], []
    pid = 0
    for arm in arms:
        for _ in range(n_per_arm):
            pid += 1
            p = f"S{pid:03d}"
            u = rng.normal(0, sd_participant, size=len(mirnas))
            stratum = "A" if rng.random() < 0.5 else "B"
            for t in timepoints:
                x = mu + u + rng.normal(0, sd_residual, size=len(mirnas))
                if arm == arms[1] and t == timepoints[1]:
                    x = x + eff
                sid = f"{p}_{t}"
                rows.append(
                    {
                        "sample_id": sid,
                        "participant_id": p,
                        "arm": arm,
                        "timepoint": t,
                        "stratum": stratum,
                    }
                )
                vals.append(x)
    obs = pd.DataFrame(rows).set_index("sample_id", drop=False)
    obs.index.name = None
    values = pd.DataFrame(np.array(vals), index=obs.index, columns=mirnas)
    truth = pd.DataFrame(
        [
            {
                "pathway_id": pathway,
                "contrast": "interaction",
                "expected_direction": int(np.sign(delta)),
                "delta": delta,
                "n_mirnas_with_effect": len(planted) if delta else 0,
                "contributors": ";".join(planted) if delta else "",
            }
        ]
    )
    return SimulatedTrial(values, obs, truth, planted)
