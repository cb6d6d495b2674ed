"""Protein-level simulator: planted arm effects and coupling are recoverable."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from exomir.proteins.analysis import analyse_proteins, protein_values
from exomir.proteins.settings_analysis import protein_analysis_settings
from exomir.simulate.proteins import (
    PANEL,
    measured_concentrations,
    simulate_protein_levels,
)

PARAMS = {
    "trial": {"arms": ["placebo", "exosome"], "timepoints": ["baseline", "week1"]}
}
CONFIG = {
    "design": {"arms": ["placebo", "exosome"], "timepoints": ["baseline", "week1"]},
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "clinical": {"populations": ["mITT"]},
    "proteins": {"panel": {a: {"label": s["label"]} for a, s in PANEL.items()}},
}


def _roster(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": [f"P{i:04d}" for i in range(n)],
            "arm": ["exosome" if i % 2 else "placebo" for i in range(n)],
        }
    )


def test_deterministic_and_shapes() -> None:
    r = _roster(20)
    a = simulate_protein_levels(r, None, PARAMS, np.random.default_rng([5, 9]))
    b = simulate_protein_levels(r, None, PARAMS, np.random.default_rng([5, 9]))
    pd.testing.assert_frame_equal(a.levels, b.levels)
    assert len(a.levels) == 20 * 2 * len(PANEL)
    assert len(a.samples) == 40 and a.samples["protein_sample_id"].is_unique
    assert set(a.effects["visit"]) == {"week1"}
    assert set(a.coupling["analyte"]) == {"VEGF", "PLGF"}
    # realistic ranges: baseline geometric means near the configured medians
    bl = a.levels[a.levels["visit"] == "baseline"]
    gm = bl.groupby("analyte")["concentration"].apply(
        lambda x: math.exp(np.log(x).mean())
    )
    for code, s in PANEL.items():
        assert abs(math.log(gm[code] / s["median"])) < 0.5


def test_large_trial_recovers_planted_effects_and_coupling() -> None:
    n = 2000
    roster = _roster(n)
    sim = simulate_protein_levels(roster, None, PARAMS, np.random.default_rng(11))
    conc = measured_concentrations(sim.levels, np.random.default_rng(12))
    s = protein_analysis_settings(CONFIG)
    vals = protein_values(conc, s)
    pops = roster.assign(in_mitt=True, in_pp=True)
    res = analyse_proteins(vals, pops, roster, s).set_index("analyte")
    truth = sim.effects.set_index("analyte")
    for code in PANEL:
        est = res.loc[code, "estimate_model_scale"]
        assert abs(est - truth.loc[code, "true_log_effect"]) < 0.05, code
    # within-arm slope of the protein change on the miRNA change
    wide = vals.pivot_table(
        index="participant_id", columns=["visit", "analyte"], values="value"
    )
    chg = wide["week1"] - wide["baseline"]
    m = sim.mirna_change.set_index("participant_id")
    for code, gamma in sim.coupling.set_index("analyte")["coefficient"].items():
        d = pd.DataFrame({"p": chg[code], "m": m["delta_log2"], "arm": m["arm"]})
        d["m"] -= d.groupby("arm")["m"].transform("mean")
        d["p"] -= d.groupby("arm")["p"].transform("mean")
        slope = stats.linregress(d["m"], d["p"]).slope
        assert abs(slope - gamma) < 0.05, code


def test_given_mirna_change_is_used() -> None:
    roster = _roster(10)
    mir = pd.DataFrame(
        {"participant_id": roster["participant_id"], "delta_log2": np.arange(10.0)}
    )
    sim = simulate_protein_levels(roster, mir, PARAMS, np.random.default_rng(1))
    assert sim.mirna_change["delta_log2"].tolist() == list(np.arange(10.0))


def test_censoring_flags() -> None:
    sim = simulate_protein_levels(_roster(50), None, PARAMS, np.random.default_rng(2))
    conc = measured_concentrations(
        sim.levels, np.random.default_rng(3), lloq={"IL1B": 0.8}, uloq={"SENG": 30000.0}
    )
    il1b = conc[conc["analyte"] == "IL1B"]
    assert (il1b["flag"] == "below_lloq").sum() > 10
    assert il1b.loc[il1b["flag"] == "below_lloq", "concentration"].isna().all()
    assert (conc.loc[conc["analyte"] == "SENG", "flag"] == "above_uloq").any()


def test_truth_files(tmp_path) -> None:
    from exomir.simulate.proteins import write_protein_truth

    roster = _roster(6).assign(completed_week1=[True] * 5 + [False])
    sim = simulate_protein_levels(roster, None, PARAMS, np.random.default_rng(4))
    assert len(sim.samples) == 11  # the dropout has no week-1 sample
    write_protein_truth(sim, tmp_path)
    eff = pd.read_csv(tmp_path / "protein_effects.tsv", sep="\t")
    assert (
        eff.set_index("analyte").loc["VEGF", "true_log_effect"] == PANEL["VEGF"]["arm"]
    )
    cpl = pd.read_csv(tmp_path / "protein_coupling.tsv", sep="\t")
    assert set(cpl["analyte"]) == {"VEGF", "PLGF"} and (cpl["sign"] == 1).all()
    assert (tmp_path / "protein_levels.tsv").is_file()


def test_later_visits_decay_and_leave_primary_unchanged() -> None:
    params = {
        "trial": {
            "arms": ["placebo", "exosome"],
            "timepoints": ["baseline", "week1", "month3"],
        },
        "proteins": {
            "visit_days": {"week1": 7, "month3": 97},
            "effect_half_life_days": 90,
        },
    }
    sim = simulate_protein_levels(_roster(10), None, params, np.random.default_rng(8))
    eff = sim.effects.set_index(["analyte", "visit"])["true_log_effect"]
    assert eff[("VEGF", "week1")] == PANEL["VEGF"]["arm"]
    assert eff[("VEGF", "month3")] == PANEL["VEGF"]["arm"] / 2
    assert set(sim.levels["visit"]) == {"baseline", "week1", "month3"}
