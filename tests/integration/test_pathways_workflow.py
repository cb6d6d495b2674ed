"""The pathway stage in the workflow: skipped without a network, planned and run with one.

The run uses a simulated trial (exomir.simulate.pathways) with a planted rise of
PI3K-targeting miRNAs in the treated arm; the DE-stage inputs (mirna.h5ad and a
contrast table) are written directly, so only the two pathway rules run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _workflow import copy_scenario, run_snakemake

from exomir.config import resources_dir
from exomir.pathways.genesets import GeneSet
from exomir.pathways.network import mature_names
from exomir.pathways.scoring import build_network
from exomir.simulate.pathways import simulate_trial, synthetic_interactions


def _configure(scn: Path, extra: dict) -> None:
    p = scn / "config" / "config.yaml"
    cfg = yaml.safe_load(p.read_text())
    cfg["pathways"] = extra
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _network_files(scn: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    inter, sets = synthetic_interactions(seed=5)
    # Give the synthetic miRNAs real miRBase v22 names (the mapping step checks them).
    real = [n for n in mature_names(resources_dir() / "mirbase/v22/hsa/mature.fa")]
    names = dict(zip(sorted(set(inter["mirna"])), real, strict=False))
    inter["mirna"] = inter["mirna"].map(names)
    inter.to_csv(scn / "interactions.tsv", sep="\t", index=False)
    with open(scn / "sets.gmt", "w") as fh:
        for p, genes in sets.items():
            fh.write("\t".join([p, "synthetic", *genes]) + "\n")
    gsets = [
        GeneSet(p, p, frozenset(g), "symbol", "x", frozenset(g))
        for p, g in sets.items()
    ]
    return inter, build_network(inter, gsets, {}, None)


def test_stage_skipped_without_interactions(tmp_path: Path) -> None:
    scn = copy_scenario("real_human", tmp_path)
    proc = run_snakemake(scn, "--dry-run")
    out = proc.stdout + proc.stderr
    assert "pathway stage skipped: no miRNA-target interaction table" in out
    assert "rule pathways" not in out


def test_stage_planned_with_interactions(tmp_path: Path) -> None:
    scn = copy_scenario("real_human", tmp_path)
    _network_files(scn)
    _configure(scn, {"interactions": [{"path": "interactions.tsv", "evidence": None}]})
    out = run_snakemake(scn, "--dry-run").stdout
    assert "rule pathways_interactions:" in out and "rule pathways:" in out


@pytest.mark.slow
def test_stage_runs_and_detects_planted_effect(tmp_path: Path) -> None:
    import anndata as ad
    from scipy import stats

    scn = copy_scenario("real_human", tmp_path)
    _, net = _network_files(scn)
    _configure(
        scn,
        {
            "interactions": [{"path": "interactions.tsv", "evidence": None}],
            "gene_sets": [{"gmt": "sets.gmt", "id_type": "symbol"}],
            "families": {},
            "primary": ["PI3K", "MAPK"],
            "contrasts": ["treatment_effect"],
            "n_permutations": 199,
            "ancova_permutations": 99,
        },
    )
    sim = simulate_trial(net, "PI3K", delta=0.5, n_per_arm=15, seed=3)
    obs = sim.obs.drop(columns="sample_id")
    adata = ad.AnnData(
        X=np.zeros(sim.values.shape),
        obs=obs,
        var=pd.DataFrame({"filter_pass": True}, index=sim.values.columns),
        layers={"vst_counts": sim.values.to_numpy()},
    )
    (scn / "results" / "de").mkdir(parents=True)
    adata.write_h5ad(scn / "results" / "de" / "mirna.h5ad")
    bl = sim.values[obs["timepoint"] == "baseline"].to_numpy()
    wk = sim.values[obs["timepoint"] == "week1"].to_numpy()
    arm = obs.loc[obs["timepoint"] == "week1", "arm"].to_numpy()
    t, _ = stats.ttest_ind((wk - bl)[arm == "exosome"], (wk - bl)[arm == "placebo"])
    pd.DataFrame({"mirna": sim.values.columns, "stat": t}).to_csv(
        scn / "results" / "de" / "treatment_effect.tsv", sep="\t", index=False
    )
    run_snakemake(
        scn,
        "results/pathways/tests.tsv",
        "--allowed-rules",
        "pathways",
        "pathways_interactions",
        "--rerun-triggers",
        "mtime",
    )
    res = scn / "results" / "pathways"
    scores = pd.read_csv(res / "scores.tsv", sep="\t")
    assert set(scores["method"]) == {"waggr", "ulm", "waggr_signed", "ulm_signed"}
    assert len(scores) == 4 * 2 * len(sim.obs)
    tests = pd.read_csv(res / "tests.tsv", sep="\t")
    truth = sim.truth.iloc[0]
    row = tests[
        (tests["pathway"] == "PI3K")
        & (tests["method"] == "waggr")
        & (tests["analysis"] == "ancova")
    ].iloc[0]
    assert np.sign(row["estimate"]) == truth["expected_direction"]
    assert row["p_adjusted"] < 0.05
    enr = tests[
        (tests["pathway"] == "PI3K")
        & (tests["method"] == "ulm")
        & (tests["analysis"] == "contrast_enrichment")
    ].iloc[0]
    assert enr["statistic"] > 0 and enr["p_value"] < 0.05
    assert (res / "scores_by_arm.png").stat().st_size > 0
