"""Open both reports in headless Chromium (Debian's ``chromium``).

Checks: no console message, no network request made by the page, every
section and the key numbers in the rendered DOM, a screenshot; and, with
hostile IDs in the tables, that no injected element exists and no script ran.

Requests are read from Chromium's JSON net log: a request made by the page has
an ``initiator`` (``null`` for a file:// page); Chromium's own background
requests carry ``not an origin``. A control page with a real script, an
external image and stylesheet shows that the detectors fire.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pypdf
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from _report_fixture import EFFICACY_STRINGS, build_tree

from exomir.report.builder import build_report
from exomir.report.pdf import html_to_pdf
from exomir.report.sections import SECTIONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (scripts/setup.sh installs it with apt-get as root)",
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
]


@dataclass
class PageRun:
    dom: str
    console: list[str]
    requests: list[str]


def page_requests(netlog: Path) -> list[str]:
    """URLs of the requests the page made (not Chromium's own)."""
    data = json.loads(netlog.read_text(encoding="utf-8"))
    names = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    urls = []
    for ev in data["events"]:
        params = ev.get("params", {})
        if names.get(ev["type"]) != "URL_REQUEST_START_JOB" or "url" not in params:
            continue  # the job's end event carries no URL
        if params.get("initiator") != "not an origin":
            urls.append(params["url"])
    return urls


def open_page(html: Path, tmp: Path, screenshot: Path | None = None) -> PageRun:
    """Load a page, return its DOM, console lines and page requests."""
    tag = html.stem
    netlog = tmp / f"{tag}.netlog.json"
    cmd = [
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={tmp / ('profile-' + tag)}",
        f"--log-net-log={netlog}",
        "--dump-dom",
        html.resolve().as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    if screenshot is not None:
        shot = [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp / ('profile-shot-' + tag)}",
            "--window-size=1280,3000",
            f"--screenshot={screenshot}",
            html.resolve().as_uri(),
        ]
        subprocess.run(shot, capture_output=True, text=True, timeout=180, check=True)
    return PageRun(res.stdout, console, page_requests(netlog))


def _screens_dir(tmp: Path) -> Path:
    d = Path(os.environ.get("EXOMIR_SCREENSHOT_DIR", tmp / "screenshots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser")
    cfg = build_tree(root, hostile=True)
    out = {}
    for audience, name in [
        ("open", "exomir_report.html"),
        ("closed", "dsmb_closed.html"),
    ]:
        out[audience] = build_report(
            root, cfg, audience, root / "results" / "report" / name, strict=True
        )
    return out


def test_detectors_fire_on_a_control_page(tmp_path):
    page = tmp_path / "control.html"
    page.write_text(
        '<html><head><title>ctl</title></head><body><img src="http://example.invalid/x.png"><script>console.error("boom"); document.title="pwned"</script></body></html>',
        encoding="utf-8",
    )
    run = open_page(page, tmp_path)
    assert any("example.invalid" in u for u in run.requests)
    assert any("boom" in line for line in run.console)
    assert "<title>pwned</title>" in run.dom


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_report_renders_offline_without_errors(built, tmp_path, audience):
    shot = _screens_dir(tmp_path) / f"{built[audience].stem}.png"
    run = open_page(built[audience], tmp_path, screenshot=shot)
    assert run.console == []
    assert run.requests == []
    for number, key, title, _ in SECTIONS:
        assert f'id="s{number}-{key}"' in run.dom, title
    assert "TEST-001" in run.dom
    assert shot.is_file() and shot.stat().st_size > 10_000
    if audience == "closed":
        assert "7.71 (3.33 to 9.99)" in run.dom  # primary ratio and CI
        assert "0.864" in run.dom  # conditional power
    else:
        assert not [s for s in EFFICACY_STRINGS if s in run.dom]
        assert "2.772" in run.dom  # interim boundary


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_hostile_ids_run_no_script(built, tmp_path, audience):
    run = open_page(built[audience], tmp_path)
    title = re.search(r"<title>(.*?)</title>", run.dom, re.S)
    assert title and "pwned" not in title.group(1)
    assert title.group(1).startswith("TEST-001")
    # no injected element: every tag in the DOM is one the template writes
    assert not re.search(r"<script", run.dom, re.I)
    assert not re.search(r'<img[^>]*src="x"', run.dom)
    assert not re.search(r"<[a-z]+[^>]*\son(error|load|mouseover)=", run.dom, re.I)
    assert not re.search(r"<b\s", run.dom)
    # ... and the hostile text is shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in run.dom
    assert run.console == []


@pytest.fixture(scope="module")
def pdfs(built, tmp_path_factory) -> dict[str, list[str]]:
    """Both reports printed by exomir.report.pdf, as text per page."""
    out = {}
    for audience, html in built.items():
        pdf = html_to_pdf(html, tmp_path_factory.mktemp("pdf") / f"{html.stem}.pdf")
        out[audience] = [p.extract_text() for p in pypdf.PdfReader(pdf).pages]
    return out


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_pdf_has_every_table_of_the_html(built, pdfs, audience):
    html = built[audience].read_text(encoding="utf-8")
    in_html = set(re.findall(r'data-table="(\d+)"', html))
    # collapsed tables are counted too: the HTML hides them in <details>
    assert len(in_html) == html.count("<table>") > 20
    in_pdf = set(re.findall(r"Table (\d+)\.", "\n".join(pdfs[audience])))
    assert in_pdf == in_html
    # ... with their rows: every cell shown only inside a collapsed block
    hidden = set()
    for block in re.findall(r"<details>(.*?)</details>", html, re.S):
        hidden |= {c for c in re.findall(r"<td[^>]*>([^<&]{8,})</td>", block)}
    shown = set(
        re.findall(
            r"<td[^>]*>([^<&]{8,})</td>",
            re.sub(r"<details>.*?</details>", "", html, flags=re.S),
        )
    )
    only_hidden = sorted(hidden - shown)
    assert len(only_hidden) >= 5
    flat = re.sub(r"\s+", "", "".join(pdfs[audience]))
    missing = [c for c in only_hidden if re.sub(r"\s+", "", c) not in flat]
    assert not missing


@pytest.mark.parametrize("audience", ["open", "closed"])
def test_every_pdf_page_has_banner_data_cut_and_number(pdfs, audience):
    pages = pdfs[audience]
    assert len(pages) > 3
    for i, text in enumerate(pages, start=1):
        assert f"Page {i} of {len(pages)}" in text
        assert "data cut 2026-09-01" in text
        assert ("CLOSED: DSMB members only" in text) == (audience == "closed")
    if audience == "open":
        assert not [s for s in EFFICACY_STRINGS if s in "\n".join(pages)]


def test_closed_pdf_recommendation_page_starts_a_page(pdfs):
    pages = pdfs["closed"]
    start = next(
        i for i, t in enumerate(pages) if "Conclusions and recommendation" in t
    )
    before = pages[start].split("Conclusions and recommendation")[0]
    assert "Table" not in before  # nothing of the previous section on this page
    rest = "\n".join(pages[start:])
    assert "Recommendation of the DSMB" in rest and "DSMB chair" in rest
