"""Protein and integration report sections: closed by arm, open pooled only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _report_fixture import build_tree

from exomir.proteins import integration as integ
from exomir.proteins.analysis import (
    analyse_proteins,
    flag_summary,
    protein_values,
    volcano_plot,
)
from exomir.proteins.settings_analysis import MofaSettings, protein_analysis_settings
from exomir.report.builder import build_report
from exomir.simulate.proteins import (
    PANEL,
    measured_concentrations,
    simulate_protein_levels,
)
from exomir.tables import write_table

CFG = {
    "design": {"arms": ["placebo", "exosome"], "timepoints": ["baseline", "week1"]},
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "proteins": {"panel": {a: {"label": s["label"]} for a, s in PANEL.items()}},
}


def _write_protein_results(root: Path) -> pd.DataFrame:
    n = 40
    roster = pd.DataFrame(
        {
            "participant_id": [f"Q{i:03d}" for i in range(n)],
            "arm": ["exosome" if i % 2 else "placebo" for i in range(n)],
        }
    )
    params = {
        "trial": {"arms": ["placebo", "exosome"], "timepoints": ["baseline", "week1"]}
    }
    sim = simulate_protein_levels(roster, None, params, np.random.default_rng(5))
    conc = measured_concentrations(
        sim.levels, np.random.default_rng(6), lloq={"IL1B": 0.6}
    )
    s = protein_analysis_settings(CFG)
    vals = protein_values(conc, s)
    res = analyse_proteins(vals, roster.assign(in_mitt=True, in_pp=True), roster, s)
    out = root / "results"
    (out / "proteins").mkdir(parents=True, exist_ok=True)
    (out / "merged").mkdir(parents=True, exist_ok=True)
    write_table(res, out / "proteins/effects.tsv")
    write_table(flag_summary(conc, s.analytes), out / "proteins/flag_summary.tsv")
    volcano_plot(res, out / "proteins/volcano.png")
    obs = roster.set_index("participant_id").assign(
        treated=lambda d: (d["arm"] == "exosome").astype(float),
        in_mitt=True,
        in_pp=True,
    )
    chg = vals.pivot_table(
        index="participant_id", columns=["visit", "analyte"], values="value"
    )
    pchg = chg["week1"] - chg["baseline"]
    mir = sim.mirna_change.set_index("participant_id")[["delta_log2"]].rename(
        columns={"delta_log2": "hsa-miR-126-3p"}
    )
    write_table(
        integ.associate(mir, {}, pchg, obs, s),
        out / "merged/mirna_protein_association.tsv",
    )
    rng = np.random.default_rng(1)
    mviews = {
        "mirna": pd.DataFrame(rng.normal(size=(n, 20)), index=obs.index).add_prefix("m")
        + pchg[["VEGF"]].to_numpy(),
        "protein": pchg,
    }
    fit = integ.fit_mofa(mviews, obs.index, MofaSettings(n_factors=3))
    write_table(integ.factor_arm_tests(fit, obs, s), out / "merged/mofa_factors.tsv")
    write_table(fit.variance, out / "merged/mofa_variance.tsv")
    integ.loadings_plot(fit, out / "merged/mofa_loadings.png")
    views = integ.Views({}, {}, {"mirna": mviews["mirna"], "protein": pchg})
    write_table(integ.view_summary(views, obs), out / "merged/views_summary.tsv")
    return res


@pytest.fixture(scope="module")
def reports(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, str], pd.DataFrame]:
    root = tmp_path_factory.mktemp("protein_report")
    cfg = build_tree(root, hostile=False)
    res = _write_protein_results(root)
    html = {}
    for aud in ("open", "closed"):
        out = root / "results" / "report" / f"{aud}.html"
        build_report(root, cfg, aud, out, strict=True)
        html[aud] = out.read_text(encoding="utf-8")
    return html, res


def _section(html: str, key: str) -> str:
    part = html[html.index(f'data-section="{key}"') :]
    return part[: part.index("</section>")]


def test_closed_report_shows_effects_and_factors(reports) -> None:
    html, res = reports
    sec = _section(html["closed"], "proteins")
    assert "Protein endpoints, primary analysis" in sec
    assert "Volcano plot" in sec and "data:image/png" in sec
    vegf = res[(res["analyte"] == "VEGF") & (res["analysis"] == "primary")].iloc[0]
    assert f"{vegf['estimate']:.3g}"[:4] in sec
    integ_sec = _section(html["closed"], "integration")
    assert "Exploratory" in integ_sec and "MOFA+ factors" in integ_sec
    assert "Huber slope" in integ_sec


def test_open_report_pooled_only(reports) -> None:
    html, _res = reports
    sec = _section(html["open"], "proteins")
    assert "arms pooled" in sec and "below lloq" in sec
    assert "Protein endpoints, primary analysis" not in sec
    assert "Volcano" not in sec and "closed DSMB report" in sec
    integ_sec = _section(html["open"], "integration")
    assert "Exploratory" in integ_sec
    assert "MOFA+ factors" not in integ_sec and "Huber" not in integ_sec
    assert "Participants x features of each view" in integ_sec


def test_not_computed_and_absent(tmp_path: Path) -> None:
    from exomir.notcomputed import write_output
    from exomir.report.context import ReportContext
    from exomir.report.model import NotRun, Section, Text
    from exomir.report.sections.integration import integration
    from exomir.report.sections.proteins import proteins

    cfg = {
        "design": {"arms": ["placebo", "exosome"], "timepoints": ["baseline", "week1"]}
    }
    ctx = ReportContext(tmp_path, cfg, "closed")
    sec = proteins(ctx, Section(key="proteins", number=10, title="p"))
    assert isinstance(sec.blocks[0], NotRun)
    sec = integration(ctx, Section(key="integration", number=11, title="i"))
    assert isinstance(sec.blocks[0], NotRun)
    (tmp_path / "results/proteins").mkdir(parents=True)
    (tmp_path / "results/merged").mkdir(parents=True)
    write_output(tmp_path / "results/proteins/effects.tsv", "every plate failed")
    write_table(
        pd.DataFrame({"analyte": ["VEGF"], "visit": ["week1"], "n_samples": [2]}),
        tmp_path / "results/proteins/flag_summary.tsv",
    )
    write_output(
        tmp_path / "results/merged/mofa_factors.tsv", "6 participants with data"
    )
    write_table(
        pd.DataFrame({"view": ["protein"], "n_participants": [6], "n_features": [8]}),
        tmp_path / "results/merged/views_summary.tsv",
    )
    ctx = ReportContext(tmp_path, cfg, "closed")
    sec = proteins(ctx, Section(key="proteins", number=10, title="p"))
    texts = [b.text for b in sec.blocks if isinstance(b, Text)]
    assert any("not computed: every plate failed" in t for t in texts)
    sec = integration(ctx, Section(key="integration", number=11, title="i"))
    texts = [b.text for b in sec.blocks if isinstance(b, Text)]
    assert any("not fitted: 6 participants with data" in t for t in texts)
    assert texts[0].startswith("Exploratory")
