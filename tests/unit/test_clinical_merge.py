"""Trial merge: participant table and AnnData with matching identifiers."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from _stage_inputs import clinical_inputs

from exomir.clinical.association import associate, mirna_changes
from exomir.clinical.merge import merge_from_files, participant_table, trial_anndata
from exomir.clinical.settings import ClinicalSettings, ParamSpec
from exomir.clinical.stage import dataset_from_files
from exomir.config import load_config
from exomir.errors import ValidationError

REPO = Path(__file__).resolve().parents[2]
MIR = "hsa-miR-126-3p"


def _settings() -> ClinicalSettings:
    return ClinicalSettings(
        arm="exosome",
        reference_arm="placebo",
        baseline_visit="baseline",
        followup_visit="week1",
        params={
            "SYSBP": ParamSpec("SYSBP", "SBP", "VS", "mm[Hg]", "continuous", "ancova")
        },
        primary_mirna=MIR,
    )


def _adata(vst: dict[tuple[str, str], float]) -> ad.AnnData:
    """Libraries x 2 miRNAs; the primary miRNA's VST values as given."""
    ids = [f"{p}_{'BL' if t == 'baseline' else 'W1'}" for p, t in vst]
    obs = pd.DataFrame(
        {
            "sample_id": ids,
            "participant_id": [p for p, _ in vst],
            "timepoint": [t for _, t in vst],
            "arm": ["placebo" if p in ("P1", "P3") else "exosome" for p, _ in vst],
        },
        index=ids,
    )
    x = np.column_stack([list(vst.values()), np.arange(len(vst), dtype=float)])
    a = ad.AnnData(X=x.copy(), obs=obs, var=pd.DataFrame(index=[MIR, "hsa-miR-21-5p"]))
    a.layers["vst_counts"] = x.copy()
    a.layers["normed_counts"] = 2**x
    return a


VST = {
    ("P1", "baseline"): 5.0,
    ("P1", "week1"): 5.5,
    ("P2", "baseline"): 6.0,
    ("P2", "week1"): 7.0,
    ("P3", "baseline"): 4.0,
    ("P4", "baseline"): 5.0,
    ("P4", "week1"): 4.5,
}


def _dataset() -> pd.DataFrame:
    rows = [
        ("P1", "placebo", 150.0, 140.0),
        ("P2", "exosome", 160.0, 140.0),
        ("P3", "placebo", 145.0, np.nan),
        ("P4", "exosome", 155.0, 150.0),
    ]
    d = pd.DataFrame(rows, columns=["participant_id", "arm", "bl", "wk1"])
    d["param"] = "SYSBP"
    d["chg"] = d["wk1"] - d["bl"]
    d["flags"] = ["", "baseline value 300 outside range", "", ""]
    d["in_mitt"] = True
    d["in_pp"] = [True, True, False, True]
    return d


def _pops() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4"],
            "randomised": True,
            "dosed": True,
            "in_mitt": True,
            "in_pp": [True, True, False, True],
            "pp_reason": ["", "", "no week1 visit", ""],
        }
    )


def _participants() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4"],
            "arm": ["placebo", "exosome", "placebo", "exosome"],
            "stratum": "S1",
        }
    )


def _pathways() -> pd.DataFrame:
    rows = []
    for (p, t), v in VST.items():
        for method in ("waggr", "ulm"):
            rows.append(
                {
                    "sample_id": f"{p}_{'BL' if t == 'baseline' else 'W1'}",
                    "participant_id": p,
                    "arm": "placebo" if p in ("P1", "P3") else "exosome",
                    "timepoint": t,
                    "pathway": "PI3K-AKT",
                    "method": method,
                    "score": v / 10 + (method == "ulm"),
                }
            )
    return pd.DataFrame(rows)


def test_participant_table_and_anndata_share_identifiers() -> None:
    st = _settings()
    adata = _adata(VST)
    mir = mirna_changes(adata, st)
    assert mir.loc["P2", "mirna_chg"] == pytest.approx(1.0)
    assert np.isnan(mir.loc["P3", "mirna_chg"])
    dose = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4"],
            "arm": ["placebo", "exosome", "placebo", "exosome"],
            "dose_particles": [0.0, 3e11, 0.0, 2e11],
            "lot_release_ok": ["", "true", "", "false"],
        }
    )
    tab = participant_table(
        _participants(), _pops(), _dataset(), st, mir, dose, _pathways()
    )
    assert list(tab["participant_id"]) == ["P1", "P2", "P3", "P4"]
    t = tab.set_index("participant_id")
    assert t.loc["P2", "SYSBP_chg"] == -20.0
    assert t.loc["P2", f"{MIR}_chg"] == pytest.approx(1.0)
    assert t.loc["P2", "clinical_flags"] == 1
    assert t.loc["P4", "ev_dose_particles"] == 2e11
    assert t.loc["P4", "ev_lot_release_ok"] in (False,)
    assert t.loc["P2", "ev_lot_release_ok"] in (True,)
    assert t.loc["P2", "pathway|ulm|PI3K-AKT_chg"] == pytest.approx(0.1)
    merged = trial_anndata(adata, tab, _dataset(), st, _pathways())
    assert list(merged.obs_names) == list(adata.obs_names)
    assert set(merged.obs["participant_id"]) <= set(tab["participant_id"])
    # Clinical value at the library's own timepoint; change per participant.
    assert merged.obsm["clinical"].loc["P2_BL", "SYSBP"] == 160.0
    assert merged.obsm["clinical"].loc["P2_W1", "SYSBP"] == 140.0
    assert merged.obsm["clinical_change"].loc["P2_BL", "SYSBP"] == -20.0
    assert merged.obsm["pathway_scores"].loc[
        "P4_W1", "waggr|PI3K-AKT"
    ] == pytest.approx(0.45)
    np.testing.assert_array_equal(merged.X, adata.layers["vst_counts"])


def test_unknown_participant_in_pathway_scores_is_an_error() -> None:
    pw = _pathways()
    pw.loc[0, "participant_id"] = "P9"
    with pytest.raises(
        ValidationError, match=r"results/pathways/scores.tsv.*participant 'P9'"
    ):
        participant_table(
            _participants(), _pops(), _dataset(), _settings(), None, None, pw
        )
    pw = _pathways()
    pw.loc[pw["participant_id"] == "P1", "arm"] = "exosome"
    with pytest.raises(
        ValidationError, match=r"participant_id=P1.*differs from participants.tsv"
    ):
        participant_table(
            _participants(), _pops(), _dataset(), _settings(), None, None, pw
        )


def test_association_slope_equals_lstsq() -> None:
    """Pooled OLS slope of delta SBP on delta miRNA (+ arm + baseline)."""
    rng = np.random.default_rng(5)
    n = 30
    pids = [f"P{i:02d}" for i in range(n)]
    arm = np.where(np.arange(n) % 2 == 0, "placebo", "exosome")
    bl = rng.normal(145, 10, n)
    dm = rng.normal(0, 1, n)
    wk = bl - 8 - 3 * dm + rng.normal(0, 5, n)
    ds = pd.DataFrame(
        {
            "participant_id": pids,
            "arm": arm,
            "param": "SYSBP",
            "bl": bl,
            "wk1": wk,
            "chg": wk - bl,
            "flags": "",
            "in_mitt": True,
            "in_pp": True,
        }
    )
    mir = pd.DataFrame({"mirna_chg": dm}, index=pids)
    st = _settings()
    import dataclasses

    st = dataclasses.replace(st, association={"n_bootstrap": 500, "seed": 1})
    res = associate(ds, mir, st)
    row = res[(res["analysis"] == "ols_slope") & (res["arm"] == "pooled")].iloc[0]
    x = np.column_stack([np.ones(n), dm, bl, (arm == "exosome").astype(float)])
    beta, *_ = np.linalg.lstsq(x, wk - bl, rcond=None)
    assert row["estimate"] == pytest.approx(beta[1], rel=1e-10)
    assert row["n"] == n
    sp = res[(res["analysis"] == "spearman") & (res["arm"] == "exosome")].iloc[0]
    assert sp["n"] == n // 2
    assert sp["ci_low"] <= sp["estimate"] <= sp["ci_high"]
    # One endpoint: BH leaves the p-value unchanged.
    assert row["p_bh"] == pytest.approx(row["p_value"])


def test_merge_from_files_optional_inputs(tmp_path: Path) -> None:
    """The merge runs with and without the pathway and dose inputs."""
    d = tmp_path / "scn"
    (d / "config").mkdir(parents=True)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["sheets"] = {
        "samples": "config/samples.tsv",
        "participants": "config/participants.tsv",
        "clinical_measurements": "config/clinical_measurements.tsv",
    }
    (d / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (d / "config" / "samples.tsv").write_text(
        "sample_id\tparticipant_id\ttimepoint\tfastq\tprotocol\tlibrary_batch\n"
        "P1_BL\tP1\tbaseline\tx.fq.gz\ttruseq\tB1\n"
    )
    (d / "config" / "participants.tsv").write_text(
        "participant_id\tarm\tstratum\nP1\tplacebo\tS1\nP2\texosome\tS1\n"
        "P3\tplacebo\tS1\nP4\texosome\tS1\n"
    )
    lines = ["participant_id\tvisit\tdays_since_dose\tdomain\tparam\tvalue_num\tunit"]
    for (p, t), v in VST.items():
        lines.append(
            f"{p}\t{t}\t{0 if t == 'baseline' else 7}\tVS\tSYSBP\t{100 + 10 * v}\tmm[Hg]"
        )
    (d / "config" / "clinical_measurements.tsv").write_text("\n".join(lines) + "\n")
    c = load_config(d / "config" / "config.yaml")
    res = d / "results"
    sheets, settings = clinical_inputs(d, c)
    dataset_from_files(
        **sheets,
        dataset=res / "clinical/ds.tsv",
        populations_out=res / "clinical/pops.tsv",
        flags=res / "clinical/f.tsv",
        plausibility=None,
        settings=settings,
    )
    _adata(VST).write_h5ad(res / "de.h5ad")
    _pathways().to_csv(res / "scores.tsv", sep="\t", index=False)
    for pw in (None, res / "scores.tsv"):
        tab = merge_from_files(
            participants=sheets["participants"],
            dataset_path=res / "clinical/ds.tsv",
            populations_path=res / "clinical/pops.tsv",
            h5ad_path=res / "de.h5ad",
            participants_out=res / "merged/participants.tsv",
            h5ad_out=res / "merged/trial.h5ad",
            settings=settings,
            pathways_path=pw,
        )
        back = ad.read_h5ad(res / "merged/trial.h5ad")
        assert ("pathway_scores" in back.obsm) == (pw is not None)
        assert list(back.uns["participants"]["participant_id"]) == list(
            tab["participant_id"]
        )
        written = pd.read_csv(res / "merged/participants.tsv", sep="\t")
        assert len(written) == 4 and written["participant_id"].is_unique
        assert written.set_index("participant_id").loc[
            "P2", "SYSBP_chg"
        ] == pytest.approx(10.0)
