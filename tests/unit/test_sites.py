"""Tests of exomir.sites: site validation, site-by-arm interaction, batch/site confounding."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from exomir.primary.analyses import ancova
from exomir.primary.settings import primary_settings
from exomir.sites import sites_active
from exomir.sites.batch import batch_site_table, cramers_v
from exomir.sites.checks import site_issues
from exomir.sites.interaction import site_by_arm_fit
from exomir.sites.stage import SiteSettings, primary_site_by_arm
from exomir.tables import read_table
from exomir.validate import check_participants

SITES = {"BDG": "Bandung", "JKT": "Jakarta", "YOG": "Yogyakarta"}
CFG = {
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "design": {
        "arms": ["placebo", "exosome"],
        "timepoints": ["baseline", "week1"],
        "strata": ["site_id"],
        "sites": SITES,
    },
    "reference": {"species": "hsa"},
}


def _participants(tmp_path: Path, rows: list[str]) -> pd.DataFrame:
    p = tmp_path / "participants.tsv"
    p.write_text("participant_id\tarm\tsite_id\n" + "\n".join(rows) + "\n")
    return read_table(p, "participants", "config/participants.tsv")


# ---------------------------------------------------------------------------
# 1. Validation


def test_unknown_and_missing_site_named_with_row_and_allowed_codes(
    tmp_path: Path,
) -> None:
    par = _participants(
        tmp_path, ["P1\tplacebo\tBDG", "P2\texosome\tSBY", "P3\tplacebo\t"]
    )
    issues = site_issues(par, CFG, "config/participants.tsv")
    assert len(issues) == 2
    bad, empty = (str(i) for i in issues)
    assert bad.startswith("config/participants.tsv line 3 (participant_id=P2)")
    assert "column 'site_id'" in bad and "'SBY' is not in config design.sites" in bad
    assert "use one of: BDG, JKT, YOG" in bad
    assert "line 4 (participant_id=P3)" in empty and "site_id is empty" in empty
    # The same issues come out of the participants check of `exomir validate`.
    via = [
        str(i) for i in check_participants(par, CFG, "config/participants.tsv", None)
    ]
    assert bad in via and empty in via


def test_missing_site_column_when_sites_configured(tmp_path: Path) -> None:
    p = tmp_path / "participants.tsv"
    p.write_text("participant_id\tarm\nP1\tplacebo\n")
    par = read_table(p, "participants", "participants.tsv")
    cfg = {**CFG, "design": {**CFG["design"], "strata": []}}
    (issue,) = site_issues(par, cfg, "participants.tsv")
    assert "column 'site_id' is missing" in str(issue) and "BDG, JKT, YOG" in str(issue)
    # site_id as a stratum is checked as a column too (check_participants).
    msgs = [str(i) for i in check_participants(par, CFG, "participants.tsv", None)]
    assert any("stratification column 'site_id'" in m for m in msgs)


def test_free_text_site_without_design_sites(tmp_path: Path) -> None:
    par = _participants(tmp_path, ["P1\tplacebo\tanything", "P2\texosome\t"])
    cfg = {"design": {"arms": ["placebo", "exosome"], "sites": None}}
    assert site_issues(par, cfg, "p.tsv") == []
    assert not sites_active(cfg)
    assert not sites_active({"design": {"sites": {"A": "a"}}})
    assert sites_active(CFG)


# ---------------------------------------------------------------------------
# 3. Site-by-arm interaction against a hand computation


def _hc3(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and the HC3 covariance, written out."""
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    e = y - x @ beta
    h = np.einsum("ij,jk,ik->i", x, bread, x)
    meat = x.T @ (x * (e**2 / (1 - h) ** 2)[:, None])
    return beta, bread @ meat @ bread


def _tiny() -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    rng = np.random.default_rng(7)
    site = pd.Series(np.repeat(["BDG", "JKT", "YOG"], [8, 6, 8]))
    treated = pd.Series(np.tile([0.0, 1.0], 11))
    bl = pd.Series(rng.normal(5, 1, len(site)))
    eff = site.map({"BDG": 1.0, "JKT": 0.0, "YOG": 0.5}).to_numpy()
    y = pd.Series(2 + 0.6 * bl + eff * treated + rng.normal(0, 0.5, len(site)))
    return y, treated, bl, site


def test_per_site_effects_and_interaction_match_hand_hc3() -> None:
    y, tr, bl, site = _tiny()
    fit = site_by_arm_fit(
        y, tr, bl, site, pd.DataFrame(index=y.index), sites=list(SITES)
    )
    # Design: 1, baseline, site JKT, site YOG, treated, treated x JKT, treated x YOG.
    d_j, d_y = (site == "JKT").to_numpy(float), (site == "YOG").to_numpy(float)
    t = tr.to_numpy()
    x = np.column_stack([np.ones(len(y)), bl, d_j, d_y, t, t * d_j, t * d_y])
    beta, cov = _hc3(x, y.to_numpy())
    df = len(y) - x.shape[1]
    q = stats.t.ppf(0.975, df)
    for s, w in (
        ("BDG", [0, 0, 0, 0, 1, 0, 0]),
        ("JKT", [0, 0, 0, 0, 1, 1, 0]),
        ("YOG", [0, 0, 0, 0, 1, 0, 1]),
    ):
        wv = np.array(w, float)
        est, se = wv @ beta, math.sqrt(wv @ cov @ wv)
        row = fit.per_site.set_index("site").loc[s]
        assert row["estimate"] == pytest.approx(est, abs=1e-10)
        assert row["se"] == pytest.approx(se, rel=1e-9)
        assert row["ci_low"] == pytest.approx(est - q * se, rel=1e-9)
        assert row["p_value"] == pytest.approx(
            2 * stats.t.sf(abs(est / se), df), rel=1e-7
        )
    # Within-site arm effect by hand: the per-site means difference is not the
    # estimate (common baseline slope), but the contrasts add up as above.
    r = np.zeros((2, 7))
    r[0, 5] = r[1, 6] = 1
    rb = r @ beta
    f = float(rb @ np.linalg.inv(r @ cov @ r.T) @ rb / 2)
    assert fit.f_stat == pytest.approx(f, rel=1e-9)
    assert (fit.df_num, fit.df_den) == (2, df)
    assert fit.p_interaction == pytest.approx(stats.f.sf(f, 2, df), rel=1e-7)
    assert fit.cov_type == "HC3"


def _values(n_per: int = 6, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows, par = [], []
    for k, s in enumerate(SITES):
        for i in range(2 * n_per):
            pid = f"P{k}{i:02d}"
            t = float(i % 2)
            b = rng.normal(6, 1)
            rows.append(
                {
                    "participant_id": pid,
                    "arm": "exosome" if t else "placebo",
                    "site_id": s,
                    "treated": t,
                    "y_baseline": b,
                    "y_followup": 1 + 0.7 * b + 0.4 * t + 0.3 * k + rng.normal(0, 0.3),
                }
            )
            par.append({"participant_id": pid, "site_id": s})
    return pd.DataFrame(rows), pd.DataFrame(par)


def test_site_as_stratum_end_to_end_and_pooled_row_equals_primary_ancova() -> None:
    vals, par = _values()
    ps = primary_settings(CFG)
    main = ancova(vals, ps)
    assert (
        "site_id[T.BDG]" in main["covariates"] or "site_id[T.JKT]" in main["covariates"]
    )
    tab = primary_site_by_arm(
        vals.drop(columns="site_id"), par, ps, SiteSettings(sites=SITES)
    )
    pooled = tab[tab["row_type"] == "pooled"].iloc[0]
    # Same model (site as a factor), same participants: same estimate and SE.
    assert pooled["estimate"] == pytest.approx(main["estimate_log2"], abs=1e-10)
    assert pooled["se"] == pytest.approx(main["se_log2"], rel=1e-9)
    sites = tab[tab["row_type"] == "site"]
    assert list(sites["site"]) == list(SITES)
    assert sites["back_transformed"].to_numpy() == pytest.approx(
        2.0 ** sites["estimate"].to_numpy()
    )
    inter = tab[tab["row_type"] == "interaction"].iloc[0]
    assert inter["df_num"] == 2 and 0 <= inter["p_value"] <= 1


def test_site_with_one_arm_only_is_reported_not_dropped_silently() -> None:
    vals, par = _values()
    one_arm = (vals["site_id"] == "JKT") & (vals["treated"] == 1)
    vals = vals[~one_arm]
    ps = primary_settings(CFG)
    main = ancova(vals, ps)  # still estimable: JKT informs baseline slope and level
    assert np.isfinite(main["estimate_log2"])
    tab = primary_site_by_arm(vals, par, ps, SiteSettings(sites=SITES))
    jkt = tab[(tab["row_type"] == "site") & (tab["site"] == "JKT")].iloc[0]
    assert np.isnan(jkt["estimate"]) and "one arm only" in jkt["note"]
    assert jkt["n_treated"] == 0 and jkt["n_reference"] == 6
    inter = tab[tab["row_type"] == "interaction"].iloc[0]
    assert inter["df_num"] == 1  # BDG and YOG only


def test_one_usable_site_gives_not_computed() -> None:
    vals, par = _values()
    vals = vals[(vals["site_id"] == "BDG") | (vals["treated"] == 0)]
    tab = primary_site_by_arm(vals, par, primary_settings(CFG), SiteSettings(SITES))
    inter = tab[tab["row_type"] == "interaction"].iloc[0]
    assert inter["note"].startswith("not computed") and np.isnan(inter["p_value"])
    assert (tab["row_type"] == "pooled").sum() == 0


# ---------------------------------------------------------------------------
# 5. Batch confounded with site


def test_cramers_v_hand_values() -> None:
    assert cramers_v(pd.DataFrame([[4, 0], [0, 4]])) == pytest.approx(1.0)
    assert cramers_v(pd.DataFrame([[2, 2], [2, 2]])) == pytest.approx(0.0)
    # expected [[2,1,1],[2,1,1]]: chi2 = 0.5 + 0 + 1 + 0.5 + 0 + 1 = 3, n = 8
    v = cramers_v(pd.DataFrame([[3, 1, 0], [1, 1, 2]]))
    assert v == pytest.approx(math.sqrt(3 / 8))
    assert math.isnan(cramers_v(pd.DataFrame([[3, 1]])))


def _sheets(batches: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    sites = ["BDG"] * 4 + ["JKT"] * 4 + ["YOG"] * 4
    par = pd.DataFrame(
        {"participant_id": [f"P{i}" for i in range(12)], "site_id": sites}
    )
    samples = pd.DataFrame(
        {
            "sample_id": [f"P{i}_BL" for i in range(12)],
            "participant_id": [f"P{i}" for i in range(12)],
            "library_batch": batches,
        }
    )
    return samples, par


def test_confounded_sample_sheet_is_flagged() -> None:
    samples, par = _sheets(["B1"] * 4 + ["B2"] * 4 + ["B3"] * 4)
    tab, warnings = batch_site_table(samples, par, 0.8)
    summary = tab[tab["table"] == "summary"].iloc[0]
    assert summary["cramers_v"] == pytest.approx(1.0)
    assert summary["confounded"] == "true" and summary["single_site"] == "true"
    assert len(warnings) == 1 and "library_batch is confounded with site" in warnings[0]
    cross = tab[tab["table"] == "crosstab"]
    assert len(cross) == 3 and (cross["single_site"] == "true").all()


def test_balanced_sample_sheet_is_not_flagged() -> None:
    samples, par = _sheets(["B1", "B2"] * 6)
    tab, warnings = batch_site_table(samples, par, 0.8)
    summary = tab[tab["table"] == "summary"].iloc[0]
    assert summary["cramers_v"] == pytest.approx(0.0)
    assert summary["confounded"] == "false" and warnings == []


def test_partly_confounded_by_threshold() -> None:
    # B1: BDG x4 + JKT x1; B2: JKT x3 + YOG x4 -> V between 0.5 and 1.
    samples, par = _sheets(["B1"] * 5 + ["B2"] * 7)
    tab, _ = batch_site_table(samples, par, 0.8)
    v = tab[tab["table"] == "summary"]["cramers_v"].iloc[0]
    # expected counts: rows 5, 7; cols 4, 4, 4; n 12
    obs = np.array([[4, 1, 0], [0, 3, 4]], float)
    exp = np.outer([5, 7], [4, 4, 4]) / 12
    chi2 = ((obs - exp) ** 2 / exp).sum()
    assert v == pytest.approx(math.sqrt(chi2 / 12))
    flagged = tab[tab["table"] == "summary"]["confounded"].iloc[0] == "true"
    assert flagged == (v >= 0.8)
    _, w_low = batch_site_table(samples, par, 0.5)
    assert (len(w_low) == 1) == (v >= 0.5)


# ---------------------------------------------------------------------------
# 4. DSMB tables by site (hand-counted)


def test_site_tables_counts_by_site_and_arm() -> None:
    from exomir.sites.tables import open_site_tables, site_tables

    par = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4", "P5"],
            "arm": ["placebo", "exosome", "placebo", "exosome", "exosome"],
            "site_id": ["BDG", "BDG", "BDG", "JKT", "JKT"],
        }
    )
    samples = pd.DataFrame(
        {
            "sample_id": ["P1_BL", "P1_W1", "P2_BL", "P2_W1", "P4_BL", "P5_BL"],
            "participant_id": ["P1", "P1", "P2", "P2", "P4", "P5"],
            "timepoint": [
                "baseline",
                "week1",
                "baseline",
                "week1",
                "baseline",
                "baseline",
            ],
        }
    )
    qc = pd.DataFrame(
        {
            "sample_id": list(samples["sample_id"]),
            "pass": [True, False, True, True, True, False],
        }
    )
    clin = pd.DataFrame(
        {
            "participant_id": ["P1", "P3", "P4"],
            "visit": ["week1", "week1", "week1"],
            "value_num": [1.0, None, 2.0],
            "value_cat": [None, None, None],
        }
    )
    ae = pd.DataFrame(
        {
            "participant_id": ["P2", "P2", "P4"],
            "ctcae_grade": [3, 1, 2],
            "serious": ["N", "N", "Y"],
            "related": ["possible", "not", "not"],
        }
    )
    out = site_tables(
        par,
        {"BDG": "Bandung", "JKT": "Jakarta", "YOG": "Yogyakarta"},
        ["placebo", "exosome"],
        samples=samples,
        library_qc=qc,
        clinical=clin,
        visits=["week1"],
        timepoints=["baseline", "week1"],
        adverse_events=ae,
    )

    def n(table: str, site: str, arm: str, item: str) -> tuple[int, float]:
        r = out[
            (out["table"] == table)
            & (out["site"] == site)
            & (out["arm"] == arm)
            & (out["item"] == item)
        ].iloc[0]
        return int(r["n"]), float(r["denominator"])

    assert n("enrolment", "BDG", "all", "randomised") == (3, 3)
    assert n("enrolment", "YOG", "all", "randomised") == (0, 0)
    assert n("completeness", "BDG", "all", "library_week1") == (1, 3)  # P1 failed
    assert n("completeness", "JKT", "exosome", "library_baseline") == (1, 2)
    assert n("completeness", "BDG", "placebo", "clinical_week1") == (1, 2)  # P3 empty
    assert n("read_qc", "BDG", "all", "libraries_failed") == (1, 4)
    assert n("read_qc", "JKT", "all", "libraries_failed") == (1, 2)
    assert n("adverse_events", "BDG", "exosome", "participants_any_ae") == (1, 1)
    assert n("adverse_events", "BDG", "exosome", "events")[0] == 2
    assert n("adverse_events", "BDG", "all", "participants_grade3plus_ae")[0] == 1
    assert n("adverse_events", "JKT", "all", "participants_serious_ae")[0] == 1
    assert n("adverse_events", "JKT", "all", "participants_related_ae")[0] == 0
    opened = open_site_tables(out)
    assert "arm" not in opened.columns
    assert set(opened["table"]) == {"enrolment", "completeness", "read_qc"}
    assert len(opened) == len(
        out[(out["arm"] == "all") & (out["table"] != "adverse_events")]
    )


def test_clinical_site_by_arm_log_endpoint_pooled_equals_clinical_ancova() -> None:
    from exomir.clinical.endpoints import ancova as clinical_ancova
    from exomir.clinical.settings import ClinicalSettings, ParamSpec
    from exomir.sites.stage import clinical_site_by_arm

    spec = ParamSpec(
        "UPCR", "UPCR", "UR", "mg/mmol", "continuous", "ancova", transform="log"
    )
    cs = ClinicalSettings(
        arm="exosome",
        reference_arm="placebo",
        baseline_visit="baseline",
        followup_visit="week1",
        strata=("site_id",),
        params={"UPCR": spec},
    )
    rng = np.random.default_rng(11)
    n = 30
    pids = [f"P{i:02d}" for i in range(n)]
    site = np.repeat(list(SITES), 10)
    treated = np.tile([0.0, 1.0], n // 2)
    bl = np.exp(rng.normal(3, 0.5, n))
    wk1 = bl * np.exp(-0.3 * treated + rng.normal(0, 0.3, n))
    ds = pd.DataFrame(
        {
            "participant_id": pids,
            "param": "UPCR",
            "arm": np.where(treated == 1, "exosome", "placebo"),
            "bl": bl,
            "wk1": wk1,
            "in_mitt": True,
            "in_pp": True,
        }
    )
    par = pd.DataFrame({"participant_id": pids, "arm": ds["arm"], "site_id": site})
    tab = clinical_site_by_arm(ds, par, cs, SiteSettings(sites=SITES))
    pooled = tab[tab["row_type"] == "pooled"].iloc[0]
    d = ds.assign(treated=treated, site_id=site)
    main = clinical_ancova(d, spec, cs, "mITT")
    assert pooled["estimate"] == pytest.approx(main["estimate_model_scale"], abs=1e-10)
    assert pooled["back_transformed"] == pytest.approx(main["estimate"], rel=1e-10)
    rows = tab[tab["row_type"] == "site"]
    assert rows["back_transformed"].to_numpy() == pytest.approx(
        np.exp(rows["estimate"].to_numpy())
    )
    assert tab["scale"].iloc[0].startswith("log ratio")


# ---------------------------------------------------------------------------
# Report section


def test_report_section_open_reads_no_closed_file(tmp_path: Path) -> None:
    from exomir.report.context import ReportContext
    from exomir.report.model import Section, Table, Text
    from exomir.report.sections.sites import sites
    from exomir.sites.tables import open_site_tables, site_tables
    from exomir.tables import write_table

    vals, par = _values()
    par["arm"] = vals["arm"]
    closed = site_tables(par, SITES, ["placebo", "exosome"])
    samples, bpar = _sheets(["B1"] * 4 + ["B2"] * 4 + ["B3"] * 4)
    batch, _ = batch_site_table(samples, bpar, 0.8)
    for rel, df in (
        ("results/clinical/sites_closed.tsv", closed),
        ("results/clinical/sites_open.tsv", open_site_tables(closed)),
        ("results/qc/batch_site.tsv", batch),
        (
            "results/primary/site_by_arm.tsv",
            primary_site_by_arm(vals, par, primary_settings(CFG), SiteSettings(SITES)),
        ),
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write_table(df, tmp_path / rel)
    cfg = {"design": {"sites": SITES, "arms": ["placebo", "exosome"]}}
    opened = sites(ReportContext(tmp_path, cfg, "open"), Section("sites", 13, "Sites"))
    titles = [b.title for b in opened.blocks if isinstance(b, Table)]
    assert "Enrolment by site (arms pooled)" in titles
    assert not any("arm effect by site" in t for t in titles)
    warn = [b.text for b in opened.blocks if isinstance(b, Text) and b.kind == "warn"]
    assert any("library_batch is confounded with site" in w for w in warn)
    shut = sites(ReportContext(tmp_path, cfg, "closed"), Section("sites", 13, "Sites"))
    titles = [b.title for b in shut.blocks if isinstance(b, Table)]
    assert "Enrolment by site and arm" in titles
    assert "Primary miRNA: arm effect by site (sensitivity analysis)" in titles
    none = sites(
        ReportContext(tmp_path, {"design": {"sites": None}}, "closed"),
        Section("sites", 13, "Sites"),
    )
    assert "not analysed" in none.blocks[0].text  # type: ignore[union-attr]


def test_site_stratum_with_one_participant_is_pooled_with_a_note() -> None:
    vals, _ = _values()
    # YOG keeps one participant: its dummy would have leverage 1 -> pooled.
    keep = (vals["site_id"] != "YOG") | (vals["participant_id"] == "P200")
    row = ancova(vals[keep], primary_settings(CFG))
    assert "site_id level(s) YOG with one participant pooled with" in row["note"]
    assert "site_id[T.YOG]" not in row["covariates"]
    assert np.isfinite(row["estimate_log2"])


def test_per_site_ci_coverage_and_interaction_type_one_error() -> None:
    """200 simulated trials, 3 sites, planted per-site effects (fixed seed).

    Per-site 95% CIs cover the planted effect in 90-99% of trials, and under
    a common effect the interaction test rejects at most 8% (HC3 is slightly
    conservative at these sizes: 3.0% over 1000 trials while writing this).
    """
    rng = np.random.default_rng(2026)
    sites, n_per = ["A", "B", "C"], [12, 10, 8]
    site = pd.Series(
        np.concatenate([[s] * (2 * k) for s, k in zip(sites, n_per, strict=True)])
    )
    tr = pd.Series(np.concatenate([np.tile([0.0, 1.0], k) for k in n_per]))
    level = site.map({"A": 0.0, "B": 0.4, "C": -0.3}).to_numpy()
    none = pd.DataFrame(index=site.index)
    reps = 200
    for planted, max_reject in (
        ({"A": 0.5, "B": 0.5, "C": 0.5}, 0.08),
        ({"A": 1.0, "B": 0.5, "C": 0.0}, 1.0),
    ):
        eff = site.map(planted).to_numpy()
        cover = dict.fromkeys(sites, 0)
        reject = 0
        for _ in range(reps):
            bl = pd.Series(rng.normal(6, 1, len(site)))
            y = pd.Series(
                1 + 0.7 * bl + level + eff * tr + rng.normal(0, 0.5, len(site))
            )
            fit = site_by_arm_fit(y, tr, bl, site, none, sites=sites)
            per = fit.per_site.set_index("site")
            for s in sites:
                cover[s] += int(
                    per.loc[s, "ci_low"] <= planted[s] <= per.loc[s, "ci_high"]
                )
            reject += int(fit.p_interaction < 0.05)
        for s in sites:
            assert 0.90 <= cover[s] / reps <= 0.99, (planted, s, cover[s])
        assert reject / reps <= max_reject
