"""The HTML reports: sections, open/closed separation, escaping, size.

Built from the hand-made results tree in ``_report_fixture`` (contract columns,
hostile strings, distinctive efficacy numbers).
"""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path

import pandas as pd
import pytest
from _report_fixture import (
    DEVIATION_EVIDENCE,
    EFFICACY_STRINGS,
    HOSTILE,
    ONE_ARM_BATCH,
    RANGE_SOURCE,
    build_tree,
    config,
    write_reads,
)

from exomir.report.builder import (
    MAX_BYTES,
    ReportError,
    _open_filter,
    build_report,
    format_cell,
)
from exomir.report.context import ReportContext
from exomir.report.firewall import OPEN_DIR, is_open_safe
from exomir.report.model import NotRun, Section, Table, Text
from exomir.report.sections import SECTIONS


def _build(root: Path, cfg: dict, audience: str, **kw) -> str:
    out = root / "results" / "report" / f"{audience}.html"
    build_report(root, cfg, audience, out, strict=True, **kw)
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("report")
    cfg = build_tree(root, hostile=True)
    return {aud: _build(root, cfg, aud) for aud in ("open", "closed")}


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_every_section_present_in_order(reports, audience):
    html = reports[audience]
    positions = [html.find(f'data-section="{key}"') for _, key, _, _ in SECTIONS]
    assert all(p > 0 for p in positions)
    assert positions == sorted(positions)
    for number, key, _, _ in SECTIONS:
        assert f'href="#s{number}-{key}"' in html  # table of contents


def test_closed_shows_the_efficacy_numbers(reports):
    closed = reports["closed"]
    for s in EFFICACY_STRINGS:
        assert s in closed, s


def test_open_has_no_arm_level_efficacy(reports):
    open_html = reports["open"]
    for s in EFFICACY_STRINGS:
        assert s not in open_html, s
    # no result table cell holds an arm name (pooled data only); the methods
    # section lists the designed contrasts, which name the arms
    results_part = open_html[: open_html.index('data-section="methods"')]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", results_part)
    assert not {"placebo", "exosome"} & set(cells)
    assert "Results by arm are in the closed DSMB report" in open_html


def test_open_shows_pooled_numbers(reports):
    open_html = reports["open"]
    assert "TEST-001" in open_html
    assert "2.772" in open_html  # interim boundary (design, not a result)
    assert "31.2 (5.1)" in open_html  # pooled baseline column
    assert "30.0 (4.0)" not in open_html  # by-arm baseline column
    # CONSORT pooled: 3 + 3 allocated -> 6
    assert "Allocated (n = 6)" in open_html.replace("\u00a0", " ")


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_implausible_values_listed_in_both_reports(reports, audience):
    """The data-quality listing is by participant, not arm: in both reports."""
    html = reports[audience].replace("\u00a0", " ")
    assert "1 implausible value(s) outside the soft limits" in html
    assert "235 mm[Hg]" in html
    assert "70-220 mm[Hg]" in html


def test_open_filter_refuses_an_arm_table():
    sec = Section(
        "x",
        1,
        "X",
        [
            Table(
                "t",
                pd.DataFrame({"arm": ["exosome"], "estimate": [1.0]}),
                source=["a.tsv"],
            )
        ],
    )
    with pytest.raises(ReportError, match="arm column"):
        _open_filter(sec, _open_ctx())
    flagged = Section(
        "x",
        1,
        "X",
        [
            Table(
                "t",
                pd.DataFrame({"arm": ["exosome"]}),
                source=["a.tsv"],
                arm_level=True,
            )
        ],
    )
    assert all(
        not isinstance(b, Table) for b in _open_filter(flagged, _open_ctx()).blocks
    )


def _open_ctx(withheld: set[str] | None = None) -> ReportContext:
    cfg = {"design": {"arms": ["placebo", "exosome"]}}
    return ReportContext(Path("."), cfg, "open", withheld=withheld or set())


def test_open_filter_points_withheld_files_to_the_closed_report():
    sec = Section(
        "x",
        1,
        "X",
        [
            NotRun(
                "clinical endpoints (clinical stage)",
                ["results/clinical/endpoints.tsv"],
            ),
            NotRun("CONSORT flow", ["results/clinical/consort.tsv"]),
        ],
    )
    out = _open_filter(sec, _open_ctx({"results/clinical/endpoints.tsv"})).blocks
    assert isinstance(out[0], Text)
    assert "Clinical endpoints (clinical stage): results by arm are in the closed" in (
        out[0].text
    )
    assert isinstance(out[1], NotRun)  # a blinded file really absent is "not run"


def test_open_context_never_reads_a_closed_file(tmp_path):
    cfg = build_tree(tmp_path, hostile=False)
    ctx = ReportContext(tmp_path, cfg, "open")
    assert ctx.table("results/primary/mir126_ancova.tsv") is None
    assert ctx.is_withheld("results/primary/mir126_ancova.tsv")
    with pytest.raises(PermissionError):
        ctx.file("results/clinical/endpoints.tsv")
    consort = ctx.table("results/clinical/consort.tsv")
    assert consort is not None and set(consort["arm"]) <= {"all", "arms pooled"}
    assert "arm" not in ctx.sheet("participants")
    assert ctx.sources == [
        "results/report/open/clinical/consort.tsv",
        "results/report/open/sheets/participants.tsv",
    ]
    prov: dict = {}
    _build(tmp_path, cfg, "open", provenance=prov)
    read = [f["path"] for f in prov["files_read"]]
    assert "results/report/open/clinical/analysis_dataset.tsv" in read
    for rel in read:
        assert rel in ("config/samples.tsv", "config/clinical_measurements.tsv") or (
            is_open_safe(rel) or rel.startswith(OPEN_DIR + "/")
        ), rel


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_hostile_strings_are_escaped(reports, audience):
    html = reports[audience]
    for s in HOSTILE:
        assert s not in html
    assert "<script" not in html.lower()
    assert not re.search(r"<[^>]*\son(error|load|mouseover)\s*=", html, re.I)
    assert htmllib.escape("<img src=x onerror=alert(1)>", quote=False) in html
    assert "&lt;i&gt;not italic&lt;/i&gt;" in html  # trial title from config


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_no_request_outside_the_file(reports, audience):
    html = reports[audience]
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs
    assert all(r.startswith(("data:", "#")) for r in refs), [
        r[:40] for r in refs if not r.startswith(("data:", "#"))
    ]
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html


def test_every_figure_and_table_names_its_source(reports):
    html = reports["closed"]
    n_tables = html.count("<table>")
    n_figures = html.count("<figure>")
    assert n_tables > 10 and n_figures > 5
    assert html.count('<span class="src">Source:') >= n_tables + n_figures


def test_absent_stages_say_not_run(tmp_path):
    write_reads(tmp_path, hostile=False)
    cfg = config()
    for audience in ("open", "closed"):
        html = _build(tmp_path, cfg, audience)
        for missing in (
            "results/pathways/tests.tsv",
            "results/clinical/endpoints.tsv",
            "results/clinical/consort.tsv",
            "results/clinical/interim.tsv",
            "results/clinical/adverse_events.tsv",
            "results/ev/lot_summary.tsv",
        ):
            assert missing in html, missing
        assert html.count("Not run:") >= 8
        assert "could not be rendered" not in html


def test_available_limits_what_is_read(tmp_path):
    cfg = build_tree(tmp_path, hostile=False)
    only_reads = ["results/qc/read_funnel.tsv", "results/qc/library_qc.tsv"]
    html = _build(tmp_path, cfg, "closed", available=only_reads)
    assert "Not run:</strong> primary miRNA analysis" in html
    assert "7.71 (3.33 to 9.99)" not in html


def test_full_trial_stays_under_10_mb(tmp_path):
    cfg = build_tree(tmp_path, hostile=False, n_participants=80)
    for audience in ("open", "closed"):
        html = _build(tmp_path, cfg, audience)
        size = len(html.encode("utf-8"))
        assert size < MAX_BYTES, size
        assert "P080_W1" in html


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("0.123456", "0.123"),
        ("1538.72", "1539"),
        ("104.1", "104"),
        ("0.6727", "0.673"),
        ("nan", ""),
        ("12", "12"),
        ("P001", "P001"),
        ("3.298e+11", "3.3e+11"),
        ("2.0", "2"),
        ("", ""),
        ("1e-06", "1e-06"),
        (float("nan"), ""),
        ("none", "none"),  # a value (AE action, transform), not a missing cell
        (None, ""),
    ],
)
def test_format_cell(raw, text):
    assert format_cell(raw) == text


def test_reference_provenance_is_checked(tmp_path):
    from exomir.report.sections.methods import provenance

    res = tmp_path / "resources"
    (res / "ref").mkdir(parents=True)
    (res / "ref" / "a.fa").write_text(">a\nACGT\n")
    (res / "ref" / "b.fa").write_text(">b\nACGT\n")
    # sha256 of ">a\nACGT\n", computed with sha256sum
    good = "ec93753459551ffadb17f616d5e6bd45de641c045083fac84c4fa223987b232b"
    (res / "PROVENANCE.md").write_text(
        "# refs\n\n| file | bytes | sha256 | origin |\n|---|---|---|---|\n"
        "| `ref/a.fa` | 8 | see below | x |\n| `ref/b.fa` | 8 | see below | y |\n| `ref/c.fa` | 8 | see below | z |\n\n"
        f"```\n{good}  ref/a.fa\n{'0' * 64}  ref/b.fa\n```\n"
    )
    table = provenance(res)
    assert list(table["file"]) == ["ref/a.fa", "ref/b.fa", "ref/c.fa"]
    assert table["sha256"].iloc[1] == "0" * 64
    assert list(table["check"]) == ["sha256 ok", "sha256 MISMATCH", "file missing"]


def test_forest_of_mean_differences_is_standardised(tmp_path):
    """Differences on different scales share the axis only after / baseline SD."""
    from exomir.report.sections.clinical import _baseline_sd

    cfg = build_tree(tmp_path, hostile=False)
    ends = pd.read_csv(tmp_path / "results/clinical/endpoints.tsv", sep="\t")
    params = sorted(set(ends["param"]))
    rows = [
        {"participant_id": f"P{i}", "arm": "placebo", "param": p, "bl": v, "wk1": v}
        for p in params
        for i, v in enumerate([10.0, 12.0, 14.0])  # SD 2 for every parameter
    ]
    pd.DataFrame(rows).to_csv(
        tmp_path / "results/clinical/analysis_dataset.tsv", sep="\t", index=False
    )
    sd = _baseline_sd(ReportContext(tmp_path, cfg, "closed"))
    assert sd is not None and sd.round(12).eq(2.0).all()
    html = _build(tmp_path, cfg, "closed")
    assert "standardised by the pooled baseline SD" in html


def test_provenance_names_every_file_read_with_its_sha256(tmp_path):
    import hashlib

    cfg = build_tree(tmp_path, hostile=True)
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "config.yaml").write_text("trial: {id: X}\n")
    prov: dict = {}
    html = _build(tmp_path, cfg, "closed", provenance=prov)
    read = [f["path"] for f in prov["files_read"]]
    assert read == sorted(read) and "results/primary/mir126_ancova.tsv" in read
    for f in prov["files_read"]:
        data = (tmp_path / f["path"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["bytes"] == len(data)
        assert f["sha256"] in html  # shown in the provenance section
    assert prov["config_sha256"] == hashlib.sha256(b"trial: {id: X}\n").hexdigest()
    assert prov["audience"] == "closed" and prov["data_cut"] == "2026-09-01"
    assert len(prov["exomir_commit"]) == 40 or prov["exomir_commit"] == (
        "not a git checkout"
    )
    assert 'data-section="provenance"' in html


def test_print_banner_is_a_safe_css_string():
    from exomir.report.builder import css_string, page_css

    hostile = 'X"; } body { display: none } </style><script>alert(1)</script>'
    css = page_css("closed", hostile, "2026-09-01")
    assert "</style>" not in css and "<script" not in css
    assert css.count('"') % 2 == 0
    assert css_string('a"b\\c<') == '"a\\22 b\\5c c\\3c "'
    assert "CLOSED: DSMB members only" in css and "counter(pages)" in css
    assert "CLOSED" not in page_css("open", "T", "2026-09-01")


def test_closed_report_ends_with_the_dsmb_recommendation_page(reports):
    from exomir.report.sections.conclusions import BOX, OPTIONS, SIGNATURES

    closed = reports["closed"]
    page = closed[closed.index('data-section="conclusions"') :]
    page = page[: page.index("</section>")]
    # facts from the fixture's results, formatted as the tables elsewhere
    assert "ratio 7.71 (95% CI 3.33 to 9.99), p = 0.00123" in page
    assert (
        "not crossed at information fraction 0.25 (t(14) = 2.91, z-equivalent 2.53 "
        "against the boundary 3.92)" in page
    )
    assert "0 of 1 fired" in page
    for option in OPTIONS:
        assert htmllib.escape(option) in page
    assert page.count(BOX) == len(OPTIONS)  # every box empty, none ticked
    assert "\u2611" not in page and "\u2612" not in page
    for role in SIGNATURES:
        assert htmllib.escape(role) in page
    assert "signature" in page and "date" in page
    # the open report records no recommendation and no fact by arm
    open_page = reports["open"][reports["open"].index('data-section="conclusions"') :]
    open_page = open_page[: open_page.index("</section>")]
    assert "recorded on the last page of the closed report" in open_page
    assert BOX not in open_page and "7.71" not in open_page


def test_sections_follow_the_dsmb_charter_order():
    keys = [key for _, key, _, _ in SECTIONS]
    charter = [
        "overview",
        "consort",
        "baseline",
        "ev",
        "primary",
        "clinical",
        "safety",
        "interim",
        "qc",
        "conclusions",
    ]
    assert [k for k in keys if k in charter] == charter
    assert keys[-1] == "methods"


# --- issue 19, interim (branch h19-interim) ---


def _text(html: str) -> str:
    """Visible text of the report, tags dropped, whitespace collapsed."""
    t = re.sub(r"<[^>]+>", " ", html.replace("\u00a0", " "))
    return re.sub(r"\s+", " ", t.replace("&#39;", "'").replace("&gt;", ">"))


def test_interim_closed_shows_futility_schedule_statistic_cp(reports):
    """The fixture's look is at 18/72 = 0.25 with a plan of 0.5 and 1.0.

    Expected numbers are the fixture's inputs or hand values: 1.96 / sqrt(.25)
    = 3.920, per side 4.333; futility at t = .25:
    0.5 * (1.9794 - sqrt(.75) * 1.2816) = 0.435; t(14) = 2.9135 has two-sided p
    0.0113 and z-equivalent 2.532 (scipy); design drift 1.960 + 0.842 = 2.802;
    trend drift 2.532 / 0.5 = 5.064; remaining information 0.750 = 54 of 72.
    """
    txt = _text(reports["closed"])
    sec = txt[txt.index("DSMB interim analysis") :]
    # futility boundary, labelled non-binding, in the table and the tiles
    assert "futility z (non-binding)" in sec
    assert "Futility boundary z this look (non-binding) 0.435" in sec
    assert "Phi^-1(0.1)" in sec and "without inflating alpha" in sec
    # planned versus actual look, in words
    assert "has looks at t = 0.5, 1." in sec
    assert "so t = 18/72 = 0.250" in sec
    assert "earlier than the planned look at t = 0.5 (about 36 evaluable)" in sec
    assert "this look (actual)" in sec and "remaining planned look" in sec
    # the statistic is a t(14), converted to z for the boundary
    assert "observed t(14)" in sec and "z-equivalent of t" in sec
    assert "t(14) = 2.913, two-sided p = 0.0113" in sec
    assert "Phi^-1(1 - p/2) = 2.532" in sec
    assert "observed z " not in sec
    # conditional power with its assumptions
    assert "current trend, drift theta = 5.064" in sec
    assert "z(1 - alpha/2) + z(power) = 1.960 + 0.842 = 2.802" in sec
    assert "standard error estimated at this look is taken as known" in sec
    assert "1 - t = 0.750 (about 54 of 72" in sec
    # both alpha conventions at every look (this look, the remaining, the final)
    assert "total two-sided alpha [configured]" in sec and "alpha/2 per side" in sec
    zp = r"\(p [^)]+\)"
    assert re.search(
        rf"this look \(actual\) 0\.250 18 \S+ 3\.920 {zp} 4\.333 {zp} 0\.435", sec
    ), "both conventions and futility for the current look"
    assert re.search(
        rf"remaining planned look 0\.500 36 \S+ 2\.774 {zp} 2\.963 {zp} 0\.759", sec
    )
    assert re.search(rf"final analysis 1\.000 72 \S+ 1\.979 {zp} 1\.969 {zp}", sec)
    # this look's result row: t, p, z-equivalent, boundary, decisions, CP
    assert re.search(
        r"0\.250 2\.913 0\.0113 2\.532 3\.920 no 0\.435 no 0\.864 0\.735", sec
    ), "result row"


def test_interim_open_shows_design_not_result(reports):
    """The open report shows the schedule and both boundaries, not the statistic."""
    txt = _text(reports["open"])
    sec = txt[txt.index("DSMB interim analysis") :]
    assert "futility z (non-binding)" in sec and "0.435" in sec
    assert "so t = 18/72 = 0.250" in sec and "4.333" in sec
    for leak in ("2.532", "t(14)", "0.0113", "0.735", "drift theta = 5"):
        assert leak not in sec, leak


def test_interim_blinded_copy_drops_arm_dependent_columns(tmp_path):
    """The design-effect conditional power is a function of the observed z:
    the open report's copy of interim.tsv must not carry it."""
    from exomir.report.firewall import BLINDED

    cfg = build_tree(tmp_path, hostile=False)
    assert cfg
    df = pd.read_csv(tmp_path / "results/clinical/interim.tsv", sep="\t")
    blinded = BLINDED["results/clinical/interim.tsv"](df)
    for col in (
        "observed_t",
        "observed_z",
        "observed_p",
        "conditional_power",
        "conditional_power_design",
        "crossed",
        "futility_flag",
        "decision_note",
    ):
        assert col not in blinded.columns, col
    assert {"futility_z_boundary", "z_boundary_per_side", "look_role"} <= set(
        blinded.columns
    )


def test_ae_listing_and_interruption_closed_only(reports):
    closed, open_html = reports["closed"], reports["open"]
    assert "Adverse events: participant-level listing" in closed
    # the interrupted infusion is in the listing and in the exposure section
    assert closed.count("infusion interrupted") >= 2
    assert "Infusions interrupted or stopped because of an adverse event" in closed
    assert "1 participant(s) had the infusion interrupted" in closed
    assert "participant-level listing" not in open_html
    assert "infusion interrupted" not in open_html


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_lab_normal_ranges_shown_with_assumption(reports, audience):
    html = reports[audience]
    assert "Safety lab normal ranges used" in html
    assert "0-33 U/L" in html
    assert RANGE_SOURCE in html
    assert "1 of 1 are assumptions" in html


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_enrolment_by_month_and_site_in_both_reports(reports, audience):
    html = reports[audience]
    assert "Enrolment over time (randomised per month, arms pooled)" in html
    assert "planned cumulative" in html
    assert "6 randomised of a target of 6 (100%), 2025-01 to 2025-02" in html
    assert "SITE-A" in html and "SITE-B" in html


def test_deviations_and_contradictions_closed_only(reports):
    closed, open_html = reports["closed"], reports["open"]
    assert "Protocol deviations and consistency checks" in closed
    assert "Data quality: 1 contradiction(s)" in closed
    assert closed.count(DEVIATION_EVIDENCE) == 2  # listing + data quality
    assert DEVIATION_EVIDENCE not in open_html
    assert "protocol-deviation listing is by participant and arm" in open_html


def test_batch_balance_flags_one_arm_batch_closed_only(reports):
    closed, open_html = reports["closed"], reports["open"]
    assert "Libraries per batch and arm" in closed
    assert f"library batch {ONE_ARM_BATCH} (6 libraries, one arm only)" in closed
    assert "LB2 (" not in closed  # the mixed batch is not flagged
    assert ONE_ARM_BATCH not in open_html
    assert "batches by arm are in the closed report" in open_html


def test_interim_design_columns_come_from_the_interim_table() -> None:
    """The open interim copy keeps the design columns and no arm-dependent one."""
    from exomir.clinical.interim import INTERIM_COLUMNS
    from exomir.report.firewall import BLINDED, INTERIM_DESIGN_COLUMNS

    reviewed = {
        "report",
        "schedule",
        "look",
        "look_role",
        "information_fraction",
        "n_evaluable",
        "alpha_spent",
        "alpha_increment",
        "nominal_p",
        "z_boundary",
        "z_boundary_total",
        "nominal_p_total",
        "z_boundary_per_side",
        "nominal_p_per_side",
        "futility_z_boundary",
    }
    assert set(INTERIM_DESIGN_COLUMNS) == reviewed
    assert set(INTERIM_DESIGN_COLUMNS) <= set(INTERIM_COLUMNS)
    table = pd.DataFrame([["1"] * len(INTERIM_COLUMNS)], columns=INTERIM_COLUMNS)
    kept = BLINDED["results/clinical/interim.tsv"](table)
    assert list(kept.columns) == [c for c in INTERIM_COLUMNS if c in reviewed]
    for withheld in ("observed_z", "crossed", "conditional_power_design"):
        assert withheld not in kept.columns


def test_report_step_from_settings_matches_the_full_config(tmp_path: Path) -> None:
    """The job's settings carry every config value the report shows."""
    import json
    import re

    from exomir.report.builder import report_step
    from exomir.report.settings import REPORT_CONFIG_KEYS, report_settings

    cfg = build_tree(tmp_path, hostile=False)
    cfg["unrelated"] = {"x": 1}
    settings = report_settings(cfg, "closed")
    assert set(settings.config) <= set(REPORT_CONFIG_KEYS)
    assert "unrelated" not in settings.config
    settings.config["design"]["arms"].append("x")  # the copy is independent
    assert "x" not in cfg["design"]["arms"]
    settings = report_settings(cfg, "closed")
    results = sorted(
        str(p.relative_to(tmp_path))
        for p in (tmp_path / "results").rglob("*")
        if p.is_file()
    )
    full = _build(tmp_path, cfg, "closed")
    html = tmp_path / "step.html"
    report_step(html, tmp_path / "step.json", results, settings, root=tmp_path)
    stamp = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[^<\s]*")
    assert stamp.sub("", html.read_text(encoding="utf-8")) == stamp.sub("", full)
    record = json.loads((tmp_path / "step.json").read_text(encoding="utf-8"))
    assert record["report"] == str(html) and record["audience"] == "closed"
    with pytest.raises(ValueError, match="audience"):
        report_settings(cfg, "public")
