"""Tests of exomir.de: settings, input checks, filtering, designs, pydeseq2 fits.

The agreement with R DESeq2 is checked against fixtures made by
tests/data/deseq2/make_fixtures.R (see the README there).
"""

from __future__ import annotations

import copy
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from exomir import de
from exomir.de import plots as plots_de
from exomir.errors import ValidationError
from exomir.notcomputed import NotComputed

FIXTURES = Path(__file__).parents[1] / "data" / "deseq2"
REPO = Path(__file__).parents[2]

CFG = {
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "design": {"arms": ["placebo", "exosome"], "timepoints": ["baseline", "week1"]},
}

NAMED = {
    "hsa-miR-486-5p": 50000.0,
    "hsa-miR-451a": 20000.0,
    "hsa-miR-16-5p": 8000.0,
    "hsa-miR-126-3p": 3000.0,
    "hsa-miR-23a-3p": 1500.0,
    "hsa-miR-223-3p": 3000.0,
    "hsa-miR-24-3p": 2000.0,
    "hsa-miR-197-3p": 500.0,
    "hsa-miR-517a-3p": 800.0,
    "hsa-miR-low-3p": 0.3,
    "hsa-miR-zero-5p": 0.0,
}


def simulate(
    n_per_arm: int = 8, n_tail: int = 50, seed: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Small NB trial: participant effects, batch, C19MC clearance, interactions.

    Returns counts (miRNA x sample), samples, participants and the planted
    interaction effects (log2).
    """
    rng = np.random.default_rng(seed)
    tail = {
        f"hsa-miR-x{i:02d}-5p": float(np.exp(rng.normal(np.log(400), 1.0)))
        for i in range(n_tail)
    }
    base = {**NAMED, **tail}
    names = list(base)
    mu0 = np.array(list(base.values()))
    inter = {"hsa-miR-x00-5p": 2.5, "hsa-miR-x01-5p": -2.5, "hsa-miR-126-3p": 0.58}
    beta = np.array([inter.get(m, 0.0) for m in names])
    time_eff = np.array([-3.0 if m == "hsa-miR-517a-3p" else 0.0 for m in names])
    pids = [f"P{i + 1:02d}" for i in range(2 * n_per_arm)]
    arms = ["placebo" if i % 2 == 0 else "exosome" for i in range(len(pids))]
    batch = ["B1" if i < n_per_arm else "B2" for i in range(len(pids))]
    cols, rows = {}, []
    for pid, arm, b in zip(pids, arms, batch, strict=True):
        u = rng.normal(0, 0.3, len(names))
        for tp in ("baseline", "week1"):
            wk1 = tp == "week1"
            eta = u + np.log(2) * (time_eff * wk1 + beta * (wk1 and arm == "exosome"))
            mu = mu0 * np.exp(eta) * np.exp(rng.normal(0, 0.3))
            alpha = 0.1 + 1.0 / np.maximum(mu, 1e-9)
            x = np.where(
                mu > 0, rng.negative_binomial(1 / alpha, 1 / (1 + mu * alpha)), 0
            )
            sid = f"{pid}_{'BL' if tp == 'baseline' else 'W1'}"
            cols[sid] = x
            rows.append(
                {
                    "sample_id": sid,
                    "participant_id": pid,
                    "timepoint": tp,
                    "library_batch": b,
                    "fastq": f"{sid}.fastq.gz",
                    "protocol": "truseq",
                }
            )
    counts = pd.DataFrame(cols, index=pd.Index(names, name="mirna")).astype(np.int64)
    samples = pd.DataFrame(rows)
    parts = pd.DataFrame(
        {
            "participant_id": pids,
            "arm": arms,
            "stratum": ["S1" if i % 3 else "S2" for i in range(len(pids))],
        }
    )
    return counts, samples, parts, inter


@pytest.fixture(scope="module")
def trial() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    return simulate()


# --------------------------------------------------------------------------- #
# Settings
# --------------------------------------------------------------------------- #


def test_default_contrasts_follow_the_design() -> None:
    s = de.de_settings(CFG)
    assert list(s.contrasts) == [
        "treatment_effect",
        "time_placebo",
        "time_exosome",
        "arms_week1",
        "arms_baseline",
    ]
    te = s.contrasts["treatment_effect"]
    assert (te.kind, te.arm, te.reference_arm) == ("interaction", "exosome", "placebo")
    assert te.coefficient == "treated_followup"
    assert s.contrasts["arms_week1"].covariates == ("library_batch",)


def test_other_arm_names_and_a_later_visit_need_config_only() -> None:
    cfg = {
        "trial": {"primary_mirna": "hsa-miR-126-3p"},
        "design": {"arms": ["control", "msc"], "timepoints": ["d0", "d7", "d28"]},
    }
    s = de.de_settings(cfg)
    te = s.contrasts["treatment_effect"]
    assert (te.arm, te.reference_arm, te.timepoint, te.reference_timepoint) == (
        "msc",
        "control",
        "d28",
        "d0",
    )
    assert {"time_control", "time_msc", "arms_d28", "arms_d0"} <= set(s.contrasts)
    cfg["de"] = {"contrasts": {"early": {"kind": "interaction", "timepoint": "d7"}}}
    early = de.de_settings(cfg).contrasts["early"]
    assert early.timepoints == ("d0", "d7")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "interaction", "arm": "exosme"}, "arm 'exosme' is not a level"),
        ({"kind": "between_arms", "timepoint": "month3"}, "timepoint 'month3'"),
        ({"kind": "within_arm"}, "needs 'arm'"),
        ({"kind": "interaction", "reference_arm": "exosome"}, "a contrast needs two"),
        (
            {"kind": "within_arm", "arm": "placebo", "reference_timepoint": "week1"},
            "needs two",
        ),
        ({"kind": "paired"}, "kind 'paired' is not one of"),
        ({"kind": "between_arms", "covariates": ["arm"]}, "part of the design"),
    ],
)
def test_bad_contrasts_are_config_errors(spec: dict, message: str) -> None:
    cfg = copy.deepcopy(CFG)
    cfg["de"] = {"contrasts": {"bad": spec}}
    with pytest.raises(ValidationError, match=re.escape(message)):
        de.de_settings(cfg)


def test_repository_config_validates_and_lists_the_five_contrasts() -> None:
    from exomir.config import load_config

    s = de.de_settings(load_config(REPO / "config" / "config.yaml"))
    assert set(s.contrasts) == {
        "treatment_effect",
        "time_exosome",
        "time_placebo",
        "arms_week1",
        "arms_baseline",
    }
    assert s.alpha == 0.05
    assert s.size_factors_fit_type == "auto"


# --------------------------------------------------------------------------- #
# Input checks
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("1.5", "is not a whole number"),
        ("-3", "is negative"),
        ("abc", "is empty or not a number"),
        ("", "is empty or not a number"),
    ],
)
def test_bad_counts_are_named(cell: str, message: str) -> None:
    df = pd.DataFrame({"S1": ["1", "2"], "S2": ["3", cell]}, index=["m1", "m2"])
    with pytest.raises(ValidationError, match=message) as exc:
        de.check_counts(df, "counts.tsv")
    issue = exc.value.issues[0]
    assert issue.column == "S2"
    assert issue.row_id == "mirna=m2"


def test_read_counts_checks_the_header(tmp_path: Path) -> None:
    p = tmp_path / "c.tsv"
    p.write_text("name\tS1\nm1\t3\n")
    with pytest.raises(ValidationError, match="first column must be 'mirna'"):
        de.read_counts(p)
    p.write_text("mirna\tS1\tS1\nm1\t3\t4\n")
    with pytest.raises(ValidationError):
        de.read_counts(p)
    p.write_text("mirna\tS1\tS2\nm1\t3\t4\n")
    assert de.read_counts(p).loc["m1", "S2"] == 4


def test_samples_must_match_the_count_table(trial) -> None:
    counts, samples, parts, _ = trial
    extra = counts.assign(GHOST_W1=0)
    with pytest.raises(ValidationError, match="not in the sample sheet: GHOST_W1"):
        de.sample_table(extra, samples, parts)
    with pytest.raises(ValidationError, match="missing from the count table"):
        de.sample_table(counts.drop(columns=["P01_BL"]), samples, parts)
    # A library excluded in the sheet may be absent from the counts.
    smp = samples.assign(exclude=samples["sample_id"] == "P01_BL")
    smp["exclude_reason"] = np.where(smp["exclude"], "tube broken", None)
    meta = de.sample_table(counts.drop(columns=["P01_BL"]), smp, parts)
    assert not meta.at["P01_BL", "usable"]
    assert "tube broken" in meta.at["P01_BL", "reason"]
    with pytest.raises(ValidationError, match=re.escape("not in participants.tsv")):
        de.sample_table(counts, samples, parts[parts["participant_id"] != "P02"])


def test_unusable_libraries_get_reasons(trial) -> None:
    counts, samples, parts, _ = trial
    counts = counts.copy()
    counts["P03_W1"] = 0
    qc = de.check_library_qc(
        pd.DataFrame(
            {
                "sample_id": list(counts.columns),
                "pass": ["false" if s == "P02_BL" else "true" for s in counts.columns],
                "reasons": ["min_mirna_reads" if s == "P02_BL" else "" for s in counts],
            }
        )
    )
    meta = de.sample_table(counts, samples, parts, qc)
    assert meta.at["P02_BL", "reason"] == "failed library QC: min_mirna_reads"
    assert meta.at["P03_W1", "reason"] == "no miRNA reads"
    assert meta["usable"].sum() == len(meta) - 2
    with pytest.raises(ValidationError, match="no QC row"):
        de.sample_table(counts, samples, parts, qc.drop(index="P04_BL"))
    with pytest.raises(ValidationError, match="not true or false"):
        de.check_library_qc(pd.DataFrame({"sample_id": ["a"], "pass": ["maybe"]}))


# --------------------------------------------------------------------------- #
# Filter and controls
# --------------------------------------------------------------------------- #


def test_filter_keeps_a_mirna_expressed_in_one_cell_only() -> None:
    samples = pd.DataFrame(
        {
            "sample_id": ["a1", "a2", "b1", "b2"],
            "participant_id": ["p1", "p2", "p3", "p4"],
            "timepoint": ["baseline"] * 4,
        }
    )
    parts = pd.DataFrame(
        {
            "participant_id": ["p1", "p2", "p3", "p4"],
            "arm": ["placebo"] * 2 + ["exosome"] * 2,
        }
    )
    counts = pd.DataFrame(
        {
            # 1e6 reads per library; RPM = count
            "a1": [999_980, 10, 0, 0, 4, 6],
            "a2": [999_990, 0, 0, 0, 4, 6],
            "b1": [999_990, 0, 6, 0, 4, 0],
            "b2": [999_996, 0, 0, 0, 4, 0],
        },
        index=["big", "cell_a", "half_b", "zero", "low", "hsa-miR-126-3p"],
    )
    meta = de.sample_table(counts, samples, parts)
    cfg = copy.deepcopy(CFG)
    cfg["de"] = {"min_count": 1}  # the RPM rule alone (min_count: see below)
    s = de.de_settings(cfg)
    f = de.filter_mirnas(counts, meta, s)
    assert f.loc["big", "kept"]
    assert f.loc["cell_a", "kept"]  # 1 of 2 placebo libraries >= 5 RPM (0.5)
    assert f.loc["half_b", "kept"]
    assert not f.loc["low", "kept"]
    assert not f.loc["zero", "kept"]
    assert f.loc["zero", "reason"] == "no reads in any usable library"
    assert f.loc["hsa-miR-126-3p", "kept"]  # 6 RPM in both placebo libraries
    counts.loc["hsa-miR-126-3p"] = [1, 0, 0, 0]
    f = de.filter_mirnas(counts, de.sample_table(counts, samples, parts), s)
    assert f.loc["hsa-miR-126-3p", "reason"].startswith("kept: primary endpoint")


def test_min_count_companion_drops_low_count_mirnas_at_low_depth() -> None:
    """At 200 k reads per library 5 RPM is one read: min_count decides.

    Hand-worked: cell placebo|baseline has libraries a1, a2, a3, a4; a miRNA is
    kept when >= half of them (2) have RPM >= 5 (>= 1 read here) and >= 10 reads.
    """
    ids = ["a1", "a2", "a3", "a4", "b1", "b2"]
    samples = pd.DataFrame(
        {"sample_id": ids, "participant_id": ids, "timepoint": ["baseline"] * 6}
    )
    parts = pd.DataFrame(
        {"participant_id": ids, "arm": ["placebo"] * 4 + ["exosome"] * 2}
    )
    rows = {
        "tiny": [2, 3, 1, 2, 2, 1],  # RPM 5-15 everywhere, never 10 reads
        "two_of_four": [12, 10, 0, 3, 0, 0],  # 2 of 4 placebo libraries >= 10
        "one_of_four": [30, 9, 0, 0, 0, 0],  # 1 of 4 placebo, 0 of 2 exosome
        "exo_half": [0, 0, 0, 0, 11, 2],  # 1 of 2 exosome libraries: kept
        "hsa-miR-126-3p": [1, 1, 1, 1, 1, 1],  # primary: always kept
    }
    counts = pd.DataFrame(rows, index=ids).T
    counts.loc["big"] = 200_000 - counts.sum(axis=0)
    s = de.de_settings(CFG)
    assert s.min_count == 10 and s.min_rpm == 5 and s.min_frac == 0.5
    f = de.filter_mirnas(counts, de.sample_table(counts, samples, parts), s)
    kept = set(f.index[f["kept"]])
    assert kept == {"big", "two_of_four", "exo_half", "hsa-miR-126-3p"}
    assert f.at["tiny", "best_frac_rpm"] == 1.0 and f.at["tiny", "best_frac"] == 0.0
    assert f.at["tiny", "reason"] == (
        "fewer than 10 reads (de.min_count) in 0.5 of the libraries of every "
        "arm x timepoint cell (RPM >= 5 alone would keep it)"
    )
    assert f.at["one_of_four", "best_frac"] == 0.25
    # min_count 0 restores the RPM-only rule of analysis_spec.md §1.4.7.
    cfg = copy.deepcopy(CFG)
    cfg["de"] = {"min_count": 0}
    f0 = de.filter_mirnas(
        counts, de.sample_table(counts, samples, parts), de.de_settings(cfg)
    )
    assert {"tiny", "one_of_four"} <= set(f0.index[f0["kept"]])


@pytest.mark.parametrize(
    ("name", "excluded"),
    [
        ("hsa-miR-451a", True),
        ("mmu-miR-451a", True),
        ("hsa-miR-126-3p", True),
        ("hsa-miR-126-5p", True),
        ("hsa-miR-517a-3p", True),
        ("hsa-miR-520c-3p", True),
        ("hsa-miR-518b", True),
        ("hsa-miR-1283", True),
        ("hsa-miR-498-5p", True),
        ("hsa-miR-513a-5p", False),  # chromosome X cluster, not C19MC
        ("hsa-miR-5100", False),
        ("hsa-miR-22-3p", False),
        ("hsa-miR-16-5p/hsa-miR-16-2-5p", True),
        ("hsa-let-7a-5p", False),
    ],
)
def test_control_exclusions(name: str, excluded: bool) -> None:
    assert bool(de.exclusion_reason(name, de.de_settings(CFG))) is excluded


def test_control_set_never_holds_the_primary_and_switches_to_poscounts(trial) -> None:
    counts, samples, parts, _ = trial
    s = de.de_settings(CFG)
    meta = de.sample_table(counts, samples, parts)
    kept = list(de.filter_mirnas(counts, meta, s).query("kept").index)
    ctrl = de.control_mirnas(counts, meta, kept, s)
    assert ctrl.fit_type == "ratio"
    assert "hsa-miR-126-3p" not in ctrl.mirnas
    assert not set(ctrl.mirnas) & (set(NAMED) - {"hsa-miR-23a-3p"})
    cfg = copy.deepcopy(CFG)
    cfg["de"] = {"control": {"min_mirnas": 500}}
    assert (
        de.control_mirnas(counts, meta, kept, de.de_settings(cfg)).fit_type
        == "poscounts"
    )
    cfg["de"] = {"control": {"min_base_mean": 1e9}}
    with pytest.raises(ValidationError, match="no miRNA qualifies"):
        de.control_mirnas(counts, meta, kept, de.de_settings(cfg))


# --------------------------------------------------------------------------- #
# Sample selection and designs
# --------------------------------------------------------------------------- #


def test_paired_designs_drop_unpaired_and_failed_with_reasons(trial) -> None:
    counts, samples, parts, _ = trial
    qc = de.check_library_qc(
        pd.DataFrame(
            {
                "sample_id": list(counts.columns),
                "pass": [s != "P01_W1" for s in counts.columns],
                "reasons": ["adapter dimers" if s == "P01_W1" else "" for s in counts],
            }
        )
    )
    smp = samples[samples["sample_id"] != "P02_BL"]
    meta = de.sample_table(counts.drop(columns="P02_BL"), smp, parts, qc)
    s = de.de_settings(CFG)
    sel = de.select_samples(meta, s.contrasts["treatment_effect"]).set_index(
        "sample_id"
    )
    assert sel.at["P01_W1", "reason"] == "failed library QC: adapter dimers"
    assert sel.at["P01_BL", "reason"].startswith(
        "unpaired: the week1 library is not used"
    )
    assert sel.at["P02_W1", "reason"] == "unpaired: no baseline library"
    assert sel["included"].sum() == len(sel) - 3
    wk1 = de.select_samples(meta, s.contrasts["arms_week1"]).set_index("sample_id")
    assert wk1.at["P02_W1", "included"]  # unpaired libraries stay in unpaired designs
    assert not wk1.at["P01_W1", "included"]
    assert set(wk1["timepoint"]) == {"week1"}


def test_interaction_design_is_full_rank_and_absorbs_participant_covariates(
    trial,
) -> None:
    counts, samples, parts, _ = trial
    meta = de.sample_table(counts, samples, parts)
    c = de.de_settings(CFG).contrasts["treatment_effect"]
    c = de.Contrast(**{**c.__dict__, "covariates": ("library_batch", "stratum")})
    x, notes = de.design_matrix(meta, c)
    assert np.linalg.matrix_rank(x.to_numpy()) == x.shape[1]
    assert "treated_followup" in x.columns
    assert "timepoint[T.week1]" in x.columns
    assert not any(col.startswith("arm") for col in x.columns)
    want = (meta["arm"] == "exosome") & (meta["timepoint"] == "week1")
    assert (x["treated_followup"] == want.astype(float)).all()
    assert any("library_batch[T.B2]" in n and "absorbed" in n for n in notes)
    assert any("stratum[T.S2]" in n for n in notes)


def test_single_level_and_no_df_are_clear_design_errors(trial) -> None:
    counts, samples, parts, _ = trial
    meta = de.sample_table(counts, samples, parts)
    s = de.de_settings(CFG)
    only_placebo = meta[meta["arm"] == "placebo"]
    with pytest.raises(de.DesignError, match="single level"):
        de.design_matrix(only_placebo, s.contrasts["treatment_effect"])
    with pytest.raises(de.DesignError, match="single level"):
        de.design_matrix(
            only_placebo[only_placebo["timepoint"] == "week1"],
            s.contrasts["arms_week1"],
        )
    tiny = meta[meta["participant_id"].isin(["P01", "P02"])]
    with pytest.raises(de.DesignError, match="no residual degrees of freedom"):
        de.design_matrix(tiny, s.contrasts["treatment_effect"])


# --------------------------------------------------------------------------- #
# Agreement with R DESeq2
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def fixture_prep() -> de.Prepared:
    counts = de.read_counts(FIXTURES / "counts.tsv")
    cd = pd.read_csv(FIXTURES / "coldata.tsv", sep="\t", dtype=str)
    cfg = copy.deepcopy(CFG)
    cfg["de"] = {
        "contrasts": {
            "treatment_effect": {"kind": "interaction"},
            "time_exosome": {"kind": "within_arm", "arm": "exosome"},
            "arms_week1": {"kind": "between_arms", "covariates": ["library_batch"]},
        },
        "shrinkage": False,
        # make_fixtures.R applies the RPM rule of spec §1.4.7 only; the
        # min_count companion is checked by hand in its own test.
        "min_count": 0,
        # R DESeq2 results() uses the normal reference (useT=FALSE).
        "wald_reference": "normal",
    }
    return de.prepare(
        counts,
        cd[["sample_id", "participant_id", "timepoint", "library_batch"]],
        cd[["participant_id", "arm"]].drop_duplicates(),
        de.de_settings(cfg),
    )


def test_filter_and_controls_match_the_r_script(fixture_prep: de.Prepared) -> None:
    ref = pd.read_csv(FIXTURES / "mirnas.tsv", sep="\t").set_index("mirna")
    assert set(fixture_prep.kept) == set(ref.index[ref["kept"]])
    assert set(fixture_prep.control.mirnas) == set(ref.index[ref["control"]])
    assert fixture_prep.control.fit_type == "ratio"


@pytest.mark.parametrize("name", ["treatment_effect", "time_exosome", "arms_week1"])
def test_agreement_with_r_deseq2(fixture_prep: de.Prepared, name: str) -> None:
    p = fixture_prep
    res = de.fit_contrast(
        p.counts, p.meta, p.settings.contrasts[name], p.settings, p.control, p.kept
    )
    r = pd.read_csv(FIXTURES / f"r_{name}.tsv", sep="\t").set_index("mirna")
    j = res.table.set_index("mirna").join(r, rsuffix="_r", how="inner")
    assert len(j) == len(r) == len(p.kept)
    ok = j["log2FoldChange"].notna() & j["log2FoldChange_r"].notna()
    assert ok.sum() >= len(j) - 1
    lfc, lfc_r = j.loc[ok, "log2FoldChange"], j.loc[ok, "log2FoldChange_r"]
    assert np.corrcoef(lfc, lfc_r)[0, 1] >= 0.999
    assert (lfc - lfc_r).abs().max() <= 0.02
    sig = set(j.index[j["padj"] < 0.05])
    sig_r = set(j.index[j["padj_r"] < 0.05])
    assert len(sig_r) >= 5
    assert len(sig ^ sig_r) <= 1
    sf_r = pd.read_csv(FIXTURES / f"r_{name}_size_factors.tsv", sep="\t")
    sf_r = sf_r.set_index("sample_id")["size_factor"]
    np.testing.assert_allclose(res.size_factors[sf_r.index], sf_r, rtol=1e-6)


# --------------------------------------------------------------------------- #
# Fits, outputs, normalisation
# --------------------------------------------------------------------------- #


def test_run_contrast_writes_sorted_deterministic_outputs(
    trial, tmp_path: Path
) -> None:
    counts, samples, parts, _inter = trial
    prep = de.prepare(counts, samples, parts, de.de_settings(CFG))
    out = {
        k: tmp_path / f"te.{k}" for k in ("tsv", "samples.tsv", "volcano.svg", "ma.svg")
    }
    res = de.run_contrast(
        prep,
        "treatment_effect",
        out["tsv"],
        out["samples.tsv"],
        out["volcano.svg"],
        out["ma.svg"],
    )
    table = pd.read_csv(out["tsv"], sep="\t")
    assert list(table.columns) == de.RESULT_COLUMNS
    assert list(table["mirna"]) == list(res.table["mirna"])
    padj = table["padj"].dropna().to_numpy()
    assert (np.diff(padj) >= 0).all()
    assert table["padj"].isna().sum() == 0 or table["padj"].isna().to_numpy()[-1]
    top = set(table.loc[table["padj"] < 0.05, "mirna"])
    assert {"hsa-miR-x00-5p", "hsa-miR-x01-5p"} <= top
    t = table.set_index("mirna")
    assert t.at["hsa-miR-x00-5p", "log2FoldChange"] > 1.5
    # shrinkage pulls towards 0 and keeps the sign
    shr = t["log2FoldChange_shrunk"].abs() <= t["log2FoldChange"].abs() + 1e-6
    assert shr.mean() > 0.9
    assert "hsa-miR-low-3p" not in t.index  # filtered out
    assert "hsa-miR-zero-5p" not in t.index
    smp = pd.read_csv(out["samples.tsv"], sep="\t")
    assert smp["included"].all()
    assert set(smp["contrast"]) == {"treatment_effect"}
    first = {k: p.read_bytes() for k, p in out.items()}
    assert b"<dc:date>" not in first["volcano.svg"]
    de.run_contrast(
        prep,
        "treatment_effect",
        out["tsv"],
        out["samples.tsv"],
        out["volcano.svg"],
        out["ma.svg"],
    )
    assert {k: p.read_bytes() for k, p in out.items()} == first


def test_mirna_without_reads_in_a_subset_gets_empty_statistics(trial) -> None:
    counts, samples, parts, _ = trial
    counts = counts.copy()
    exo = parts.loc[parts["arm"] == "exosome", "participant_id"]
    cols = [c for c in counts.columns if c.split("_")[0] in set(exo)]
    counts.loc["hsa-miR-x05-5p", cols] = 0
    counts.loc["hsa-miR-x05-5p", [c for c in counts if c not in cols]] += 50
    prep = de.prepare(counts, samples, parts, de.de_settings(CFG))
    assert "hsa-miR-x05-5p" in prep.kept
    res = de.fit_contrast(
        prep.counts,
        prep.meta,
        prep.settings.contrasts["time_exosome"],
        prep.settings,
        prep.control,
        prep.kept,
    )
    row = res.table.set_index("mirna").loc["hsa-miR-x05-5p"]
    assert row["baseMean"] == 0 and np.isnan(row["pvalue"])
    assert any("no reads" in n for n in res.notes)


def test_normalise_builds_layers_and_pca(trial) -> None:
    counts, samples, parts, _ = trial
    prep = de.prepare(counts, samples, parts, de.de_settings(CFG))
    adata = de.normalise(prep.counts, prep.meta, prep.filt, prep.control, prep.settings)
    assert adata.shape == (len(samples), int((counts.sum(axis=1) > 0).sum()))
    assert set(de.DE_LAYERS) <= set(adata.layers)
    sf = adata.obs["size_factor"].to_numpy()
    np.testing.assert_allclose(
        adata.layers["normed_counts"], adata.X / sf[:, None], rtol=1e-10
    )
    assert not adata.var.loc["hsa-miR-126-3p", "control"]
    assert adata.var.loc["hsa-miR-126-3p", "filter_pass"]
    assert adata.obsm["X_pca"].shape[0] == len(samples)
    ratio = adata.uns["pca"]["variance_ratio"]
    assert (np.diff(ratio) <= 1e-12).all() and ratio.sum() <= 1 + 1e-9


def test_pca_signs_are_fixed() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 6))
    s1, l1, r1 = de.pca(x, 3)
    s2, _l2, _ = de.pca(x.copy(), 3)
    np.testing.assert_array_equal(s1, s2)
    idx = np.abs(l1).argmax(axis=0)
    assert (l1[idx, np.arange(3)] > 0).all()
    assert r1[0] >= r1[1] >= r1[2]


def test_known_pydeseq2_warnings_are_noted_and_others_reissued() -> None:
    notes: list[str] = []
    with de.pydeseq2_warnings(notes):
        warnings.warn_explicit(
            "The dispersion trend curve fitting did not converge. Switching",
            UserWarning,
            "/x/site-packages/pydeseq2/dds.py",
            1,
        )
    assert notes and "did not converge" in notes[0]
    with pytest.raises(UserWarning, match="something else"):
        with de.pydeseq2_warnings([]):
            warnings.warn_explicit(
                "something else", UserWarning, "/x/site-packages/pydeseq2/dds.py", 1
            )


def _scenario(tmp_path: Path, counts, samples, parts) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    (tmp_path / "config").mkdir()
    for k in ("clinical_measurements", "adverse_events", "disposition", "ev_lots"):
        cfg["sheets"].pop(k, None)
    cfg["sheets"].pop("ev_nta_runs", None)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    samples.to_csv(tmp_path / "config" / "samples.tsv", sep="\t", index=False)
    parts.to_csv(tmp_path / "config" / "participants.tsv", sep="\t", index=False)
    (tmp_path / "results" / "counts").mkdir(parents=True)
    counts.to_csv(tmp_path / "results" / "counts" / "mirna_counts.tsv", sep="\t")
    return tmp_path


def _run_contrast(d: Path, cfg: dict, name: str, qc: Path | None, outs: dict) -> None:
    """Run rule ``de``'s step on a scenario written by :func:`_scenario`."""
    de.contrast_step(
        contrast=name,
        counts=d / "results/counts/mirna_counts.tsv",
        qc=qc,
        samples=d / "config" / "samples.tsv",
        participants=d / "config" / "participants.tsv",
        table=outs["table"],
        contrast_samples=outs["samples"],
        volcano=outs["volcano"],
        ma=outs["ma"],
        settings=de.de_settings(cfg),
    )


def _run_normalisation(
    d: Path, cfg: dict, qc: Path | None, norm: dict, samples, parts
) -> Path:
    """Run rules ``normalise_counts`` then ``de_normalise``; return the counts h5ad."""
    from exomir.reads.merge import write_mirna_h5ad

    tsv = d / "results/counts/mirna_counts.tsv"
    sheets = {
        "samples": d / "config" / "samples.tsv",
        "participants": d / "config" / "participants.tsv",
    }
    raw = d / "results/counts/mirna_raw.h5ad"
    write_mirna_h5ad(tsv, samples, parts, raw)
    out = d / "results/counts/mirna.h5ad"
    settings = de.de_settings(cfg)
    de.normalise_counts_step(raw_h5ad=raw, qc=qc, h5ad=out, settings=settings, **sheets)
    de.normalise_step(
        counts=tsv, counts_h5ad=out, qc=qc, settings=settings, **sheets, **norm
    )
    return out


def test_workflow_step_writes_not_estimable_contrasts(trial, tmp_path: Path) -> None:
    counts, samples, parts, _ = trial
    # Every exosome week-1 library fails QC: the interaction is not estimable.
    exo = set(parts.loc[parts["arm"] == "exosome", "participant_id"])
    fail = [s for s in counts.columns if s.endswith("_W1") and s.split("_")[0] in exo]
    d = _scenario(tmp_path, counts, samples, parts)
    qc = pd.DataFrame(
        {
            "sample_id": counts.columns,
            "pass": ["false" if s in fail else "true" for s in counts.columns],
            "reasons": ["min_raw_reads" if s in fail else "" for s in counts.columns],
        }
    )
    qc.to_csv(d / "qc.tsv", sep="\t", index=False)
    cfg = yaml.safe_load((d / "config" / "config.yaml").read_text())
    outs = {k: d / "out" / f"te.{k}" for k in ("table", "samples", "volcano", "ma")}
    _run_contrast(d, cfg, "treatment_effect", d / "qc.tsv", outs)
    assert pd.read_csv(outs["table"], sep="\t").empty
    smp = pd.read_csv(outs["samples"], sep="\t")
    assert smp["design_notes"].str.startswith("not estimable: single level").all()
    assert (smp.set_index("sample_id").loc[fail, "reason"].str.contains("QC")).all()
    assert b"not estimable" in outs["volcano"].read_bytes()
    norm = {
        "h5ad": d / "out" / "mirna.h5ad",
        "mirnas": d / "out" / "mirna_filter.tsv",
        "libraries": d / "out" / "libraries.tsv",
        "pca": d / "out" / "pca.tsv",
        "pca_plot": d / "out" / "pca.svg",
    }
    _run_normalisation(d, cfg, d / "qc.tsv", norm, samples, parts)
    libs = pd.read_csv(norm["libraries"], sep="\t")
    assert (~libs.set_index("sample_id").loc[fail, "usable"]).all()
    mir = pd.read_csv(norm["mirnas"], sep="\t").set_index("mirna")
    assert mir.at["hsa-miR-zero-5p", "reason"] == "no reads in any usable library"
    assert mir.at["hsa-miR-126-3p", "control_reason"] == "primary endpoint miRNA"
    assert pd.read_csv(norm["pca"], sep="\t").shape[0] == len(counts.columns) - len(
        fail
    )


def test_plots_are_reproducible(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "mirna": ["a", "b", "hsa-miR-126-3p"],
            "baseMean": [10.0, 100.0, 1000.0],
            "log2FoldChange": [1.0, -0.5, 0.6],
            "log2FoldChange_shrunk": [0.8, -0.4, 0.5],
            "pvalue": [1e-5, 0.3, 0.01],
            "padj": [3e-5, 0.3, 0.015],
        }
    )
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    plots_de.volcano(table, a, highlight=["hsa-miR-126-3p"])
    plots_de.volcano(table, b, highlight=["hsa-miR-126-3p"])
    assert a.read_bytes() == b.read_bytes()
    assert b"miR-126-3p" in a.read_bytes()


def test_a_two_participant_scenario_runs_with_reasons(tmp_path: Path) -> None:
    counts, samples, parts, _ = simulate(n_per_arm=1, n_tail=30, seed=5)
    d = _scenario(tmp_path, counts, samples, parts)
    cfg = yaml.safe_load((d / "config" / "config.yaml").read_text())
    for name in de.de_settings(CFG).contrasts:
        outs = {
            k: d / "out" / f"{name}.{k}" for k in ("table", "samples", "volcano", "ma")
        }
        _run_contrast(d, cfg, name, None, outs)
        notes = pd.read_csv(outs["samples"], sep="\t")["design_notes"]
        assert notes.str.startswith("not estimable").all(), name
    norm = {
        k: d / "out" / f"n.{k}"
        for k in ("h5ad", "mirnas", "libraries", "pca", "pca_plot")
    }
    _run_normalisation(d, cfg, None, norm, samples, parts)
    assert pd.read_csv(norm["pca"], sep="\t").shape[0] == 4


def test_pca_of_identical_libraries_is_zero_not_an_error() -> None:
    """Identical libraries (NaN VST, no variance) give zero scores, not a crash."""
    from exomir.de import pca

    values = np.tile(np.array([[1.0, np.nan, 3.0]]), (4, 1))
    scores, loadings, ratio = pca(values, n_comps=2)
    assert scores.shape == (4, 2) and not scores.any()
    assert loadings.shape == (3, 2) and not ratio.any()
    varied = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, np.nan]])
    scores, loadings, ratio = pca(varied, n_comps=1)
    assert abs(scores[:, 0]).tolist() == pytest.approx([2.0, 0.0, 2.0])
    assert ratio[0] == pytest.approx(1.0)


# --------------------------------------------------------------------------- #
# Normalised layers of results/counts/mirna.h5ad
# --------------------------------------------------------------------------- #


def _hand_size_factors(x: np.ndarray) -> np.ndarray:
    """Median-of-ratios by hand: libraries x control miRNAs, all counts > 0."""
    logx = np.log(x)
    return np.exp(np.median(logx - logx.mean(axis=0), axis=1))


@pytest.fixture(scope="module")
def counts_layers(trial):
    import anndata as ad

    from exomir.reads.merge import build_obs

    counts, samples, parts, _ = trial
    counts = counts.copy()
    counts["P03_W1"] = 0  # a library with no miRNA reads
    fail = "P02_BL"
    qc = de.check_library_qc(
        pd.DataFrame(
            {
                "sample_id": list(counts.columns),
                "pass": ["false" if s == fail else "true" for s in counts.columns],
                "reasons": ["min_mirna_reads" if s == fail else "" for s in counts],
            }
        )
    )
    prep = de.prepare(counts, samples, parts, de.de_settings(CFG), qc)
    raw = ad.AnnData(
        X=counts.to_numpy().T.astype(np.int32),
        obs=build_obs(samples, parts, list(counts.columns)),
        var=pd.DataFrame(index=pd.Index(counts.index, name="mirna")),
    )
    return prep, de.counts_anndata(raw, prep), counts


def test_counts_layers_are_counts_over_hand_computed_size_factors(
    counts_layers,
) -> None:
    prep, adata, counts = counts_layers
    assert set(de.COUNTS_LAYERS) <= set(adata.layers)
    assert adata.shape == (counts.shape[1], counts.shape[0])
    np.testing.assert_array_equal(adata.layers[de.LAYER_COUNTS], counts.to_numpy().T)
    usable = adata.obs["usable"].to_numpy(dtype=bool)
    assert not usable[adata.obs_names.get_loc("P02_BL")]
    assert not usable[adata.obs_names.get_loc("P03_W1")]
    assert usable.sum() == counts.shape[1] - 2
    ctrl = list(adata.var_names[adata.var["control"].to_numpy(dtype=bool)])
    assert ctrl == prep.control.mirnas and "hsa-miR-126-3p" not in ctrl
    assert prep.control.fit_type == "ratio"
    x = counts.loc[ctrl, adata.obs_names[usable]].to_numpy(dtype=float).T
    sf = _hand_size_factors(x)
    np.testing.assert_allclose(adata.obs["size_factor"][usable], sf, rtol=1e-10)
    raw = counts.to_numpy(dtype=float).T[usable]
    np.testing.assert_allclose(
        adata.layers[de.LAYER_NORMED][usable], raw / sf[:, None], rtol=1e-10
    )
    # Not usable: NaN everywhere, reason recorded.
    assert np.isnan(adata.layers[de.LAYER_NORMED][~usable]).all()
    assert np.isnan(adata.layers[de.LAYER_VST][~usable]).all()
    assert np.isnan(adata.obs["size_factor"][~usable]).all()
    reason = adata.obs["exclusion_reason"]
    assert reason["P02_BL"] == "failed library QC: min_mirna_reads"
    assert reason["P03_W1"] == "no miRNA reads"
    # A miRNA without reads: normalised 0, VST NaN.
    j = adata.var_names.get_loc("hsa-miR-zero-5p")
    assert (adata.layers[de.LAYER_NORMED][usable, j] == 0).all()
    assert np.isnan(adata.layers[de.LAYER_VST][:, j]).all()


def test_de_normalise_reuses_the_counts_layers(counts_layers, tmp_path: Path) -> None:
    import anndata as ad

    prep, layers, _ = counts_layers
    p = tmp_path / "mirna.h5ad"
    layers.write_h5ad(p)
    layers = ad.read_h5ad(p)
    args = (prep.counts, prep.meta, prep.filt, prep.control, prep.settings)
    fresh = de.normalise(*args)
    reused = de.normalise(*args, counts_layers=layers)
    assert list(reused.obs_names) == list(fresh.obs_names)
    assert list(reused.var_names) == list(fresh.var_names)
    np.testing.assert_array_equal(reused.X, fresh.X)
    for layer in de.DE_LAYERS:
        np.testing.assert_allclose(reused.layers[layer], fresh.layers[layer])
    np.testing.assert_allclose(reused.obsm["X_pca"], fresh.obsm["X_pca"])
    # Layers made with other QC verdicts are refused, not silently used.
    other = layers.copy()
    other.obs["usable"] = True
    with pytest.raises(ValidationError, match="usable libraries differ"):
        de.normalise(*args, counts_layers=other)


def test_counts_layers_refuse_a_different_count_table(counts_layers) -> None:
    prep, layers, _ = counts_layers
    raw = layers.copy()
    raw.X = raw.X.copy()
    raw.X[0, 0] += 1
    with pytest.raises(ValidationError, match="differ from the count table"):
        de.counts_anndata(raw, prep)


def test_normalise_counts_step_writes_the_final_counts_h5ad(
    trial, tmp_path: Path
) -> None:
    import anndata as ad

    counts, samples, parts, _ = trial
    d = _scenario(tmp_path, counts, samples, parts)
    cfg = yaml.safe_load((d / "config" / "config.yaml").read_text())
    norm = {
        k: d / "out" / f"n.{k}"
        for k in ("h5ad", "mirnas", "libraries", "pca", "pca_plot")
    }
    out = _run_normalisation(d, cfg, None, norm, samples, parts)
    adata = ad.read_h5ad(out)
    assert set(de.COUNTS_LAYERS) <= set(adata.layers)
    assert adata.obs["usable"].all()
    dn = ad.read_h5ad(norm["h5ad"])
    np.testing.assert_allclose(
        dn.obs["size_factor"], adata.obs["size_factor"][dn.obs_names]
    )


def test_wald_t_reference_is_the_default_and_uses_residual_df(trial) -> None:
    """p = 2 P(T_df > |stat|), df = libraries - design columns (DESeq2 useT)."""
    from scipy import stats

    counts, samples, parts, _ = trial
    prep = de.prepare(counts, samples, parts, de.de_settings(CFG))
    assert prep.settings.wald_reference == "t"
    c = prep.settings.contrasts["treatment_effect"]
    res = de.fit_contrast(
        prep.counts, prep.meta, c, prep.settings, prep.control, prep.kept
    )
    n_lib = int(res.samples["included"].sum())
    df = n_lib - len(res.design_columns)
    assert df == 2 * 16 - (1 + 15 + 1 + 1)  # 16 pairs: intercept, 15, time, effect
    t = res.table.dropna(subset=["stat"])
    np.testing.assert_allclose(
        t["pvalue"], 2 * stats.t.sf(t["stat"].abs(), df), rtol=1e-10
    )
    assert f"Wald p-values from t({df})" in res.notes
    cfg = copy.deepcopy(CFG)
    cfg["de"] = {"wald_reference": "normal"}
    prep_n = de.prepare(counts, samples, parts, de.de_settings(cfg))
    res_n = de.fit_contrast(
        prep_n.counts, prep_n.meta, c, prep_n.settings, prep_n.control, prep_n.kept
    )
    j = t.set_index("mirna").join(res_n.table.set_index("mirna"), rsuffix="_n")
    np.testing.assert_allclose(j["stat"], j["stat_n"])
    np.testing.assert_allclose(j["pvalue_n"], 2 * stats.norm.sf(j["stat"].abs()))
    assert (j["pvalue"] >= j["pvalue_n"]).all()


# --------------------------------------------------------------------------- #
# The issue's bad-input list, with the exact messages a user sees
# --------------------------------------------------------------------------- #


def _issue(exc: pytest.ExceptionInfo) -> object:
    assert len(exc.value.issues) == 1
    return exc.value.issues[0]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            "2.5",
            "count '2.5' is not a whole number; counts must be non-negative integers",
        ),
        ("-1", "count '-1' is negative; counts must be non-negative integers"),
        (
            "x",
            "count 'x' is empty or not a number; counts must be non-negative integers",
        ),
    ],
)
def test_exact_message_bad_count_cell(tmp_path: Path, cell: str, message: str) -> None:
    p = tmp_path / "mirna_counts.tsv"
    p.write_text(f"mirna\tS1\tS2\nm1\t4\t{cell}\nm2\t1\t0\n")
    with pytest.raises(ValidationError) as exc:
        de.read_counts(p)
    issue = _issue(exc)
    assert (issue.file, issue.message, issue.row_id, issue.column) == (
        str(p),
        message,
        "mirna=m1",
        "S2",
    )


def test_exact_messages_samples_vs_sheets(trial) -> None:
    counts, samples, parts, _ = trial
    with pytest.raises(ValidationError) as exc:
        de.sample_table(counts.assign(GHOST_W1=1), samples, parts, None, "c.tsv")
    assert _issue(exc).message == (
        "libraries in the count table are not in the sample sheet: GHOST_W1"
    )
    with pytest.raises(ValidationError) as exc:
        de.sample_table(counts.drop(columns=["P05_W1"]), samples, parts, None, "c.tsv")
    assert _issue(exc).message == (
        "libraries of the sample sheet are missing from the count table "
        "(and not excluded or failed): P05_W1"
    )
    with pytest.raises(ValidationError) as exc:
        de.sample_table(counts, samples, parts[parts["participant_id"] != "P02"])
    assert (_issue(exc).file, _issue(exc).message) == (
        "samples.tsv",
        "participants not in participants.tsv: P02",
    )


def test_exact_messages_single_level_and_unknown_level(trial) -> None:
    counts, samples, parts, _ = trial
    s = de.de_settings(CFG)
    meta = de.sample_table(counts, samples, parts)
    with pytest.raises(de.DesignError) as exc:
        de.design_matrix(
            meta[meta["arm"] == "exosome"], s.contrasts["treatment_effect"]
        )
    issue = _issue(exc)
    assert issue.message == (
        "single level: 0 paired participant(s) in arm 'placebo'; the contrast "
        "needs paired participants (both timepoints usable) in each arm"
    )
    assert issue.column == "de.contrasts.treatment_effect"
    cfg = copy.deepcopy(CFG)
    cfg["de"] = {
        "contrasts": {"te": {"kind": "interaction", "reference_timepoint": "day0"}}
    }
    with pytest.raises(ValidationError) as exc:
        de.de_settings(cfg)
    issue = _issue(exc)
    assert issue.message == (
        "reference_timepoint 'day0' is not a level of this trial; use one of: "
        "baseline, week1 (design.timepoints)"
    )
    assert (issue.file, issue.column) == ("config/config.yaml", "de.contrasts.te")


def test_exact_messages_all_zero_mirnas_and_libraries(trial) -> None:
    counts, samples, parts, _ = trial
    counts = counts.copy()
    counts["P03_BL"] = 0  # a library with no miRNA reads
    meta = de.sample_table(counts, samples, parts)
    assert meta.at["P03_BL", "reason"] == "no miRNA reads"
    assert not meta.at["P03_BL", "usable"]
    prep = de.prepare(counts, samples, parts, de.de_settings(CFG))
    f = prep.filt
    assert f.at["hsa-miR-zero-5p", "reason"] == "no reads in any usable library"
    assert not f.at["hsa-miR-zero-5p", "kept"]
    res = de.fit_contrast(
        prep.counts,
        prep.meta,
        prep.settings.contrasts["time_placebo"],
        prep.settings,
        prep.control,
        prep.kept,
    )
    assert "P03_BL" not in set(res.samples.index[res.samples["included"]])
    assert res.samples.at["P03_BL", "reason"] == "no miRNA reads"
    # Every count zero: nothing is usable, and the message says so.
    with pytest.raises(NotComputed) as exc:
        de.prepare(
            counts * 0, samples, parts, de.de_settings(CFG), counts_label="c.tsv"
        )
    assert exc.value.reason.startswith("no usable library is left in c.tsv: none of")
    assert "no miRNA reads" in exc.value.reason
