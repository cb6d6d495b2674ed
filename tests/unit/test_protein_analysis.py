"""Protein endpoint analysis (exomir.proteins.analysis) against independent fits."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from exomir.errors import ValidationError
from exomir.proteins.analysis import (
    CONC_COLUMNS,
    analyse_proteins,
    protein_values,
    read_concentrations,
    volcano_plot,
)
from exomir.proteins.settings_analysis import protein_analysis_settings

CONFIG = {
    "design": {
        "arms": ["placebo", "exo"],
        "timepoints": ["baseline", "week1"],
        "strata": ["site"],
    },
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "proteins": {
        "panel": {
            "SFLT1": {"label": "sFlt-1", "unit": "pg/mL", "assay": "elisa"},
            "PLGF": {"label": "PlGF", "unit": "pg/mL", "assay": "elisa"},
            "IL6": {"label": "IL-6", "unit": "NPX", "assay": "olink"},
        },
        "ratios": {
            "SFLT1_PLGF": {
                "numerator": "SFLT1",
                "denominator": "PLGF",
                "label": "sFlt-1/PlGF ratio",
            }
        },
    },
}


def _trial(
    n: int = 24, seed: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A small trial: concentrations, populations and participants."""
    rng = np.random.default_rng(seed)
    pids = [f"P{i:03d}" for i in range(n)]
    arm = ["exo" if i % 2 else "placebo" for i in range(n)]
    site = ["A" if i % 3 else "B" for i in range(n)]
    rows = []
    for pid, a in zip(pids, arm, strict=True):
        base = {"SFLT1": rng.normal(8.5, 0.5), "PLGF": rng.normal(5.0, 0.4)}
        npx = rng.normal(3, 1)
        for visit in ("baseline", "week1"):
            eff = -0.4 if (a == "exo" and visit == "week1") else 0.0
            for code, mu in base.items():
                c = math.exp(mu + eff + rng.normal(0, 0.3))
                rows.append((pid, visit, code, f"{c:.6g}", "pg/mL", "ok"))
            rows.append(
                (pid, visit, "IL6", f"{npx + rng.normal(0, 0.5):.6g}", "NPX", "ok")
            )
    conc = pd.DataFrame(
        rows,
        columns=["participant_id", "visit", "analyte", "concentration", "unit", "flag"],
    )
    conc["protein_sample_id"] = conc["participant_id"] + "_" + conc["visit"]
    conc["plate_id"] = "PL1"
    conc["cv"] = "3.1"
    conc = conc[CONC_COLUMNS]
    pops = pd.DataFrame(
        {
            "participant_id": pids,
            "arm": arm,
            "in_mitt": True,
            "in_pp": [i != 5 for i in range(n)],
        }
    )
    par = pd.DataFrame({"participant_id": pids, "arm": arm, "site": site})
    return conc, pops, par


def _write(tmp_path: Path, conc: pd.DataFrame) -> Path:
    p = tmp_path / "concentrations.tsv"
    conc.to_csv(p, sep="\t", index=False)
    return p


def _reference(
    conc: pd.DataFrame,
    pops: pd.DataFrame,
    par: pd.DataFrame,
    analyte: str,
    pop: str = "in_mitt",
    log: bool = True,
) -> tuple[float, float, float, float]:
    """statsmodels formula ANCOVA with HC3 and a t CI (the independent fit)."""
    c = conc.copy()
    c["y"] = c["concentration"].astype(float)
    wide = c.pivot_table(
        index="participant_id", columns=["visit", "analyte"], values="y"
    )
    if analyte == "SFLT1_PLGF":
        bl = wide["baseline"]["SFLT1"] / wide["baseline"]["PLGF"]
        fu = wide["week1"]["SFLT1"] / wide["week1"]["PLGF"]
    else:
        bl, fu = wide["baseline"][analyte], wide["week1"][analyte]
    d = pd.DataFrame({"bl": bl, "fu": fu})
    if log:
        d = np.log(d)
    d = d.join(pops.set_index("participant_id")).join(
        par.set_index("participant_id")[["site"]]
    )
    d = d[d[pop].astype(bool)].dropna(subset=["bl", "fu"])
    d["treated"] = (d["arm"] == "exo").astype(float)
    fit = smf.ols("fu ~ treated + bl + C(site)", data=d).fit(cov_type="HC3", use_t=True)
    lo, hi = fit.conf_int().loc["treated"]
    return (
        float(fit.params["treated"]),
        float(lo),
        float(hi),
        float(fit.pvalues["treated"]),
    )


def test_ancova_matches_statsmodels_formula(tmp_path: Path) -> None:
    conc, pops, par = _trial()
    s = protein_analysis_settings(CONFIG)
    vals = protein_values(read_concentrations(_write(tmp_path, conc), s.analytes), s)
    res = analyse_proteins(vals, pops, par, s)
    prim = res[res["analysis"] == "primary"]
    assert list(prim["analyte"].unique()) == ["SFLT1", "PLGF", "IL6", "SFLT1_PLGF"]
    for analyte, log in (("SFLT1", True), ("IL6", False), ("SFLT1_PLGF", True)):
        for pop, col in (("mITT", "in_mitt"), ("PP", "in_pp")):
            r = prim[(prim["analyte"] == analyte) & (prim["population"] == pop)].iloc[0]
            est, lo, hi, p = _reference(conc, pops, par, analyte, col, log)
            assert r["estimate_model_scale"] == pytest.approx(est, rel=1e-9)
            assert r["p_value"] == pytest.approx(p, rel=1e-9)
            if log:
                assert r["estimate"] == pytest.approx(math.exp(est), rel=1e-9)
                assert r["ci_low"] == pytest.approx(math.exp(lo), rel=1e-9)
                assert r["ci_high"] == pytest.approx(math.exp(hi), rel=1e-9)
                assert r["effect_measure"] == "ratio of geometric means"
            else:
                assert r["ci_low"] == pytest.approx(lo, rel=1e-9)
                assert r["effect_measure"] == "mean difference (NPX)"
    # the planted -0.4 log effect on SFLT1 is recovered
    r = prim[(prim["analyte"] == "SFLT1") & (prim["population"] == "mITT")].iloc[0]
    assert r["ci_low"] < math.exp(-0.4) < r["ci_high"]
    assert int(r["n_treatment"]) == 12 and int(r["n_control"]) == 12
    # BH across the panel within population: hand-computed
    m = prim[prim["population"] == "mITT"]
    p = m["p_value"].to_numpy()
    order = np.argsort(p)
    bh = np.minimum.accumulate((p[order] * len(p) / np.arange(1, len(p) + 1))[::-1])[
        ::-1
    ]
    expect = np.empty_like(p)
    expect[order] = np.minimum(bh, 1)
    assert m["p_bh"].to_numpy() == pytest.approx(expect)
    out = tmp_path / "volcano.png"
    volcano_plot(res, out)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_censored_rule_primary_excludes_sensitivity_substitutes(tmp_path: Path) -> None:
    conc, pops, par = _trial()
    conc = conc.copy()
    sel = (conc["analyte"] == "PLGF") & conc["participant_id"].isin(["P001", "P002"])
    sel &= conc["visit"] == "week1"
    conc.loc[sel, "concentration"] = ""
    conc.loc[sel, "flag"] = "below_lloq"
    failed = (conc["analyte"] == "SFLT1") & (conc["participant_id"] == "P003")
    conc.loc[failed, "concentration"] = ""
    conc.loc[failed, "flag"] = "plate_failed"
    s = protein_analysis_settings(CONFIG)
    c = read_concentrations(_write(tmp_path, conc), s.analytes)
    vals = protein_values(c, s)
    res = analyse_proteins(vals, pops, par, s)
    plgf = res[(res["analyte"] == "PLGF") & (res["population"] == "mITT")]
    prim = plgf[plgf["analysis"] == "primary"].iloc[0]
    assert prim["n_below_lloq"] == 2
    assert int(prim["n_treatment"]) + int(prim["n_control"]) == 22
    sens = plgf[plgf["analysis"] == "censored_substituted"].iloc[0]
    assert int(sens["n_treatment"]) + int(sens["n_control"]) == 24
    # substituted value: lowest quantified PLGF on the plate / sqrt(2)
    q = c[(c["analyte"] == "PLGF") & (c["flag"] == "ok")]["concentration"].min()
    v = vals[(vals["analyte"] == "PLGF") & (vals["participant_id"] == "P001")]
    v = v[v["visit"] == "week1"].iloc[0]
    assert math.exp(v["value_sub"]) == pytest.approx(q / math.sqrt(2))
    assert math.isnan(v["value"])
    # the ratio of a censored component is censored; plate_failed is excluded
    r = vals[(vals["analyte"] == "SFLT1_PLGF") & (vals["participant_id"] == "P001")]
    assert set(r["flag"]) == {"ok", "below_lloq"}
    sf = res[(res["analyte"] == "SFLT1") & (res["analysis"] == "primary")].iloc[0]
    assert sf["n_excluded"] == 2
    # no censored SFLT1 value: no sensitivity row for it
    assert not ((res["analyte"] == "SFLT1") & (res["analysis"] != "primary")).any()


def test_bad_concentrations_named(tmp_path: Path) -> None:
    conc, _pops, _par = _trial(n=4)
    conc = conc.copy()
    conc.loc[0, "flag"] = "weird"
    conc.loc[1, "flag"] = "below_lloq"  # with a value
    conc.loc[2, "analyte"] = "TNF"
    s = protein_analysis_settings(CONFIG)
    with pytest.raises(ValidationError) as exc:
        read_concentrations(_write(tmp_path, conc), s.analytes)
    msg = str(exc.value)
    assert "line 2" in msg and "unknown flag 'weird'" in msg
    assert "line 3" in msg and "with flag below_lloq" in msg
    assert "line 4" in msg and "'TNF' is not in config proteins.panel" in msg


def test_ratio_config_errors() -> None:
    cfg = {**CONFIG, "proteins": {**CONFIG["proteins"]}}
    cfg["proteins"]["ratios"] = {
        "BAD": {"numerator": "SFLT1", "denominator": "VEGF"},
        "NPXR": {"numerator": "SFLT1", "denominator": "IL6"},
    }
    with pytest.raises(ValidationError) as exc:
        protein_analysis_settings(cfg)
    assert "proteins.ratios.BAD" in str(exc.value) and "VEGF" in str(exc.value)
    assert "proteins.ratios.NPXR" in str(exc.value)


def test_config_schema_and_cross_checks() -> None:
    import copy

    from exomir.config import load_config, validate_config

    base = load_config(Path("tests/scenarios/real_human/config/config.yaml"))
    cfg = copy.deepcopy(base)
    cfg["proteins"] = copy.deepcopy(CONFIG["proteins"])
    valid = validate_config(cfg)
    s = protein_analysis_settings(valid)
    assert [p.code for p in s.panel] == ["SFLT1", "PLGF", "IL6", "SFLT1_PLGF"]
    assert s.spec("IL6").transform == "none" and s.spec("SFLT1").transform == "log"
    assert s.mofa.n_factors == 5 and s.mirna_layer == "log2_normed"
    bad = copy.deepcopy(cfg)
    bad["proteins"]["ratios"]["SFLT1_PLGF"]["denominator"] = "PIGF"
    with pytest.raises(ValidationError, match=r"proteins\.ratios\.SFLT1_PLGF"):
        validate_config(bad)
    bad = copy.deepcopy(cfg)
    bad["proteins"]["panel"]["SFLT1"]["assay"] = "westernblot"
    with pytest.raises(ValidationError, match="assay"):
        validate_config(bad)


def test_later_visits_do_not_change_the_primary_visit_table(tmp_path: Path) -> None:
    """Invariance: a third visit leaves the primary-visit effects unchanged."""
    conc, pops, par = _trial()
    extra = conc[conc["visit"] == "week1"].copy()
    extra["visit"] = "month3"
    extra["protein_sample_id"] = extra["participant_id"] + "_month3"
    extra["concentration"] = (extra["concentration"].astype(float) * 3).map(
        "{:.6g}".format
    )
    cfg3 = {
        **CONFIG,
        "design": {
            **CONFIG["design"],
            "timepoints": ["baseline", "week1", "month3"],
            "primary_visit": "week1",
            "schedule": {"week1": {"day": 7}, "month3": {"day": 91}},
        },
    }
    s2, s3 = protein_analysis_settings(CONFIG), protein_analysis_settings(cfg3)
    assert s3.primary_visit == "week1" and s3.post_dose_visits == ("week1", "month3")
    two = analyse_proteins(
        protein_values(read_concentrations(_write(tmp_path, conc), s2.analytes), s2),
        pops,
        par,
        s2,
    )
    both = pd.concat([conc, extra], ignore_index=True)
    vals3 = protein_values(read_concentrations(_write(tmp_path, both), s3.analytes), s3)
    three = analyse_proteins(vals3, pops, par, s3)
    pd.testing.assert_frame_equal(two, three)
    per = analyse_proteins(vals3, pops, par, s3, visits=s3.post_dose_visits)
    m3 = per[(per["visit"] == "month3") & (per["analyte"] == "SFLT1")]
    assert (m3["estimate_model_scale"].notna()).all()


def test_duplicates_and_non_positive_named(tmp_path: Path) -> None:
    conc, _pops, _par = _trial(n=4)
    conc = pd.concat([conc, conc.iloc[[0]]], ignore_index=True)
    conc.loc[1, "concentration"] = "-3"
    s = protein_analysis_settings(CONFIG)
    with pytest.raises(ValidationError) as exc:
        read_concentrations(
            _write(tmp_path, conc), s.analytes, log_analytes=["SFLT1", "PLGF"]
        )
    msg = str(exc.value)
    assert "2 rows for participant P000, visit baseline, analyte SFLT1" in msg
    assert "lines 2, 26" in msg  # 24 rows, the copy is line 26
    assert "line 3" in msg and "-3 is not positive" in msg
