"""exomir fetch-references, offline: file:// and a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from exomir.cli import main
from exomir.config import load_config, validate_config
from exomir.fetch import (
    MIRTARBASE_LICENCE_NOTICE,
    FetchError,
    LicenceNotAccepted,
    fetch_mirbase,
    fetch_mirtarbase,
)
from exomir.pathways.network import read_interactions

REPO = Path(__file__).resolve().parents[2]
SHARED_MTI = (
    REPO.parent
    / "shared"
    / "data"
    / "mirna_interactions"
    / "mirtarbase_v8_hsa_functional_strong_timirgen.tsv"
)
#: Column names of the official miRTarBase MTI download.
HEADER = [
    "miRTarBase ID",
    "miRNA",
    "Species (miRNA)",
    "Target Gene",
    "Target Gene (Entrez ID)",
    "Species (Target Gene)",
    "Experiments",
    "Support Type",
    "References (PMID)",
]
HS = "Homo sapiens"
SYNTHETIC = [
    ["MIRT1", "hsa-miR-126-3p", HS, "SPRED1", "161742", HS, "Luciferase", "Functional MTI", "18694565"],
    ["MIRT1", "hsa-miR-126-3p", HS, "SPRED1", "161742", HS, "Western blot, qPCR", "Functional MTI", "20000001"],
    ["MIRT2", "hsa-miR-126-3p", HS, "PIK3R2", "5296", HS, "Luciferase", "Functional MTI", "18694565"],
    ["MIRT3", "hsa-miR-21-5p", HS, "PTEN", "5728", HS, "Microarray", "Functional MTI (Weak)", "1"],
    ["MIRT4", "mmu-miR-126a-3p", "Mus musculus", "Spred1", "114715", "Mus musculus", "Luciferase", "Functional MTI", "2"],
]  # fmt: skip


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A folder holding a synthetic hsa_MTI.csv (the files the server offers)."""
    d = tmp_path / "served"
    d.mkdir()
    _write_csv(d / "hsa_MTI.csv", SYNTHETIC)
    (d / "page.csv").write_text("<html><body>Please log in</body></html>\n")
    return d


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def http_base(served: Path) -> Iterator[str]:
    """Base URL of a local HTTP server on 127.0.0.1 serving ``served``."""
    _Handler.requests = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.skipif(not SHARED_MTI.is_file(), reason="shared miRTarBase slice absent")
def test_fetch_slice_of_real_mirtarbase_over_file_url(tmp_path: Path) -> None:
    """A slice of the real v8 table in the download layout converts as expected."""
    with open(SHARED_MTI, encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))[1:]
    picked = rows[:300] + [r for r in rows if r[1] == "hsa-miR-126-3p"]
    picked += [
        [*r[:6], r[6] + ", Western blot", "Functional MTI (Weak)", r[8]]
        for r in rows[300:320]
    ]
    src = _write_csv(tmp_path / "hsa_MTI.csv", picked)
    # Independent truth: plain csv of what was written, filtered by hand.
    expected: dict[tuple[str, str], set[str]] = {}
    for r in picked:
        if r[7] == "Functional MTI" and r[2] == HS and r[5] == HS:
            expected.setdefault((r[1], r[3]), set()).add(r[8])
    assert len(expected) > 100

    dest = tmp_path / "refs"
    res = fetch_mirtarbase(dest, src.as_uri(), accept_licence=True)
    table = read_interactions(res.files["interactions"])
    got = {
        (m, t): set(ref.split(";"))
        for m, t, ref in zip(
            table["mirna"], table["target_symbol"], table["reference"], strict=True
        )
    }
    assert got == expected
    assert res.files["raw"].read_bytes() == src.read_bytes()
    prov = json.loads(res.files["provenance"].read_text())
    assert prov["url"] == src.as_uri() and prov["sha256"] == _sha(src)
    assert prov["licence"]["notice"] == MIRTARBASE_LICENCE_NOTICE
    assert prov["converted"]["interactions"] == len(expected)
    assert sorted(p.name for p in dest.iterdir()) == ["mirtarbase_hsa_MTI"]


def test_fetch_over_local_http_with_checksum(
    tmp_path: Path, served: Path, http_base: str
) -> None:
    src = served / "hsa_MTI.csv"
    res = fetch_mirtarbase(
        tmp_path / "refs",
        http_base + "hsa_MTI.csv",
        sha256=_sha(src).upper(),
        accept_licence=True,
    )
    table = read_interactions(res.files["interactions"])
    # MIRT1 twice (PMIDs joined, the quoted "Western blot, qPCR" row read whole),
    # MIRT2; the weak and the mouse records are left out.
    rows = table[["mirna", "target_symbol", "reference"]].values.tolist()
    assert rows == [
        ["hsa-miR-126-3p", "PIK3R2", "18694565"],
        ["hsa-miR-126-3p", "SPRED1", "18694565;20000001"],
    ]
    prov = json.loads(res.files["provenance"].read_text())
    assert prov["sha256"] == prov["sha256_expected"] == _sha(src)
    assert res.config["pathways"]["interactions"][0]["format"] == "tsv"


def test_checksum_mismatch_writes_nothing(tmp_path: Path, http_base: str) -> None:
    dest = tmp_path / "refs"
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch_mirtarbase(
            dest, http_base + "hsa_MTI.csv", sha256="0" * 64, accept_licence=True
        )
    assert not dest.exists()
    # an earlier good fetch survives a failed one untouched
    good = fetch_mirtarbase(dest, http_base + "hsa_MTI.csv", accept_licence=True)
    before = {p.name: p.read_bytes() for p in good.directory.iterdir()}
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch_mirtarbase(
            dest, http_base + "hsa_MTI.csv", sha256="1" * 64, accept_licence=True
        )
    assert {p.name: p.read_bytes() for p in good.directory.iterdir()} == before
    assert sorted(p.name for p in dest.iterdir()) == ["mirtarbase_hsa_MTI"]


def test_network_failures_are_clear_and_leave_nothing(
    tmp_path: Path, http_base: str
) -> None:
    dest = tmp_path / "refs"
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_mirtarbase(dest, http_base + "missing.csv", accept_licence=True)
    with pytest.raises(FetchError, match="not a usable miRTarBase table"):
        fetch_mirtarbase(dest, http_base + "page.csv", accept_licence=True)
    with pytest.raises(FetchError, match="could not download"):
        fetch_mirtarbase(dest, "http://127.0.0.1:9/hsa_MTI.csv", accept_licence=True)
    with pytest.raises(FetchError, match="could not download"):
        fetch_mirtarbase(dest, (tmp_path / "nope.csv").as_uri(), accept_licence=True)
    assert not dest.exists()


def test_licence_not_accepted_downloads_nothing(
    tmp_path: Path, http_base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(LicenceNotAccepted):
        fetch_mirtarbase(tmp_path / "refs", http_base + "hsa_MTI.csv")
    dest = tmp_path / "refs"
    rc = main(
        ["fetch-references", "--url", http_base + "hsa_MTI.csv", "--dest", str(dest)]
    )
    out = capsys.readouterr()
    assert rc == 1
    assert "academic and non-profit research use only" in out.out
    assert "licence not accepted: nothing was downloaded" in out.err
    assert _Handler.requests == [] and not dest.exists()


def test_cli_writes_config_of_a_scenario(
    tmp_path: Path, http_base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    scn = tmp_path / "scn"
    shutil.copytree(
        REPO / "tests" / "scenarios" / "real_human" / "config", scn / "config"
    )
    before = (scn / "config" / "config.yaml").read_text()
    args = ["fetch-references", "--url", http_base + "hsa_MTI.csv", "--accept-licence"]
    assert main([*args, "--write-config", str(scn)]) == 0
    after = (scn / "config" / "config.yaml").read_text()
    assert after.startswith(before.rstrip("\n"))  # comments and order kept
    cfg = load_config(scn / "config" / "config.yaml")
    (item,) = cfg["pathways"]["interactions"]
    assert item["path"] == "references/mirtarbase_hsa_MTI/interactions.tsv"
    assert len(read_interactions(scn / item["path"])) == 2
    # a second run does not add a second pathways: section
    assert main([*args, "--write-config", str(scn)]) == 1
    assert "already has a pathways: section" in capsys.readouterr().err
    assert (scn / "config" / "config.yaml").read_text() == after
    # without --write-config the lines to add are printed
    assert main([*args, "--dest", str(tmp_path / "r2")]) == 0
    printed = capsys.readouterr().out
    snippet = printed[printed.index("pathways:") :]
    assert yaml.safe_load(snippet)["pathways"]["interactions"][0]["path"] == str(
        tmp_path / "r2" / "mirtarbase_hsa_MTI" / "interactions.tsv"
    )


def _mirbase_files(d: Path) -> None:
    d.mkdir(parents=True)
    (d / "mature.fa").write_text(
        ">hsa-miR-1-3p MIMAT0000416 Homo sapiens miR-1-3p\nUGGAAUGUAAAGAAGUAUGUAU\n"
        ">rno-miR-1-3p MIMAT0003125 Rattus norvegicus miR-1-3p\nUGGAAUGUAAAGAAG\nUAUGUAU\n"
        ">rno-miR-126a-3p MIMAT0000832 Rattus norvegicus miR-126a-3p\n"
        "UCGUACCGUGAGUAAUAAUGCG\n"
    )
    (d / "hairpin.fa").write_text(
        ">rno-mir-1 MI0003489 Rattus norvegicus miR-1 stem-loop\n"
        "ACCUACUCAGAGUACAUACUUCUUUAUGUACCCAUAUGGAAUGUAAAGAAGUAUGUAUUUUUGGUAGG\n"
        ">hsa-mir-1-1 MI0000651\nUGGGAAACAUACUUCUUUAUAUGCCCAUAUGGACCUGCUAAGCUAUGGAAUGUAAAGAAGUAUGUAUCUCA\n"
        ">rno-mir-126a MI0000900 Rattus norvegicus miR-126a stem-loop\n"
        "CGCUGGCGACGGGACAUUAUUACUUUUGGUACGCGCUGUGACACUUCAAACUCGUACCGUGAGUAAUAAUGCGCGGUC\n"
    )


def test_fetch_mirbase_for_rat_keeps_rat_records_and_configures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "mirbase"
    _mirbase_files(site)
    res = fetch_mirbase(tmp_path / "refs", "rno", site.as_uri())
    mature = res.files["mature"].read_text()
    assert mature == (
        ">rno-miR-1-3p MIMAT0003125 Rattus norvegicus miR-1-3p\nUGGAAUGUAAAGAAG\nUAUGUAU\n"
        ">rno-miR-126a-3p MIMAT0000832 Rattus norvegicus miR-126a-3p\n"
        "UCGUACCGUGAGUAAUAAUGCG\n"
    )
    assert res.files["hairpin"].read_text().count(">") == 2
    prov = json.loads(res.files["provenance"].read_text())
    assert [f["sha256"] for f in prov["files"]] == [
        _sha(site / "mature.fa"),
        _sha(site / "hairpin.fa"),
    ]
    assert prov["release"] == "22.1" and prov["species"] == "rno"

    # The rat scenario: invalid without miRBase files, valid once written in.
    scn = tmp_path / "scn"
    shutil.copytree(
        REPO / "tests" / "scenarios" / "real_mouse" / "config", scn / "config"
    )
    cfg_file = scn / "config" / "config.yaml"
    raw = cfg_file.read_text()
    raw = raw.replace("species: mmu", "species: rno").replace(
        "mmu-miR-126a-3p", "rno-miR-126a-3p"
    )
    raw = raw.replace('  mirbase_version: "22"\n', "")
    cfg_file.write_text(raw)
    with pytest.raises(Exception, match="no miRBase v22 reference is shipped"):
        load_config(cfg_file)
    args = ["fetch-references", "--mirbase", "rno", "--mirbase-url", site.as_uri()]
    rc = main([*args, "--write-config", str(scn)])
    assert rc == 0, capsys.readouterr().err
    cfg = load_config(cfg_file)
    assert cfg["reference"]["mature"] == "references/mirbase_22.1_rno/mature.fa"
    assert cfg["reference"]["mirbase_version"] == "22.1"
    assert "snoRNA_snRNA" in cfg["contaminants"]  # human stand-ins, with the note
    assert (scn / cfg["reference"]["hairpin"]).is_file()


def test_fetch_mirbase_errors_leave_nothing(tmp_path: Path, served: Path) -> None:
    site = tmp_path / "mirbase"
    _mirbase_files(site)
    dest = tmp_path / "refs"
    with pytest.raises(
        FetchError, match=r"no record of species 'dre' \(prefixes found: hsa, rno\)"
    ):
        fetch_mirbase(dest, "dre", site.as_uri())
    (served / "mature.fa").write_text("<!DOCTYPE html><html></html>\n")
    with pytest.raises(FetchError, match="not a FASTA file"):
        fetch_mirbase(dest, "rno", served.as_uri())
    with pytest.raises(FetchError, match="not a miRBase species prefix"):
        fetch_mirbase(dest, "Rattus", site.as_uri())
    assert not dest.exists()


def test_validate_config_accepts_fetched_paths(tmp_path: Path) -> None:
    site = tmp_path / "mirbase"
    _mirbase_files(site)
    res = fetch_mirbase(tmp_path / "refs", "rno", site.as_uri())
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["reference"] = res.config["reference"]
    cfg["trial"]["primary_mirna"] = "rno-miR-126a-3p"
    assert validate_config(cfg)["reference"]["species"] == "rno"


def test_excel_release_without_openpyxl_says_what_to_do(tmp_path: Path) -> None:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("openpyxl is installed; the Excel path is pandas' own")
    xlsx = tmp_path / "hsa_MTI.xlsx"
    xlsx.write_bytes(b"PK\x03\x04 not really a workbook")
    dest = tmp_path / "refs"
    with pytest.raises(FetchError, match=r"needs the openpyxl package .* CSV/TSV"):
        fetch_mirtarbase(dest, xlsx.as_uri(), accept_licence=True)
    assert not dest.exists()


@pytest.mark.parametrize(("answer", "rc"), [("yes", 0), ("no", 1)])
def test_interactive_licence_question(
    tmp_path: Path,
    http_base: str,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    rc: int,
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or answer)
    dest = tmp_path / "refs"
    url = http_base + "hsa_MTI.csv"
    assert main(["fetch-references", "--url", url, "--dest", str(dest)]) == rc
    assert len(asked) == 1 and "yes" in asked[0]
    assert (dest / "mirtarbase_hsa_MTI" / "interactions.tsv").is_file() == (rc == 0)
    assert _Handler.requests == (["/hsa_MTI.csv"] if rc == 0 else [])
