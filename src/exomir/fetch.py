"""``exomir fetch-references``: download the references exomir may not ship.

Two kinds of reference can be fetched on a machine with internet access:

* **miRTarBase** (the miRNA-target table of the pathway stage). Free for
  academic use only, so it is never shipped: the command shows the licence
  notice and needs ``--accept-licence`` (or an interactive ``yes``), downloads
  the human MTI table (default the miRTarBase 10.0 ``hsa_MTI.csv``; any URL,
  ``file://`` included, with ``--url``), checks its sha256 when one is given,
  converts it with :func:`exomir.pathways.network.convert_mirtarbase` into the
  documented interaction layout and records URL, date, sha256 and the licence
  notice in ``provenance.json`` beside it.
* **miRBase** mature and hairpin sequences of one species (``--mirbase rno``),
  for species without shipped files (``resources/species.yaml``): both FASTA
  files are downloaded (default the current release at mirbase.org), reduced to
  the species' records and written with their provenance.

Every fetch is staged in a temporary directory beside the destination and
renamed into place only when download, checks and conversion have succeeded:
a network failure, a checksum mismatch or an unreadable file leaves nothing
behind. The command prints the configuration lines to add, or appends/inserts
them itself with ``--write-config SCENARIO`` (the result is validated first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exomir import __version__
from exomir.atomic import atomic_open
from exomir.errors import ValidationError

__all__ = [
    "MIRBASE_URL",
    "MIRTARBASE_LICENCE_NOTICE",
    "MIRTARBASE_URL",
    "FetchError",
    "FetchResult",
    "LicenceNotAccepted",
    "download",
    "fetch_mirbase",
    "fetch_mirtarbase",
    "write_config",
]

MIRTARBASE_URL = (
    "https://mirtarbase.cuhk.edu.cn/~miRTarBase/miRTarBase_2025/cache/download/"
    "10.0/hsa_MTI.csv"
)
"""Default miRTarBase download: release 10.0 human MTI table (CSV, about 340 MB).

Releases 7-9 were Excel files (``.../9.0/hsa_MTI.xlsx``); they convert when
openpyxl is installed (it is not part of exomir's pinned environment)."""

MIRTARBASE_SITE = "https://mirtarbase.cuhk.edu.cn/"

MIRTARBASE_LICENCE_NOTICE = (
    "miRTarBase is provided by its authors for academic and non-profit research "
    "use only. Commercial use requires a licence from the miRTarBase team; the "
    f"full terms are on {MIRTARBASE_SITE}. exomir does not redistribute it: the "
    "copy downloaded now is for your own use under those terms. Cite: Cui S et "
    "al., miRTarBase 2025: updates to the collection of experimentally validated "
    "microRNA-target interactions, Nucleic Acids Res 2025;53(D1):D147-D156."
)
"""The notice shown before a miRTarBase download and kept in its provenance."""

MIRBASE_URL = "https://www.mirbase.org/download/"
"""Base URL of the current miRBase release (``mature.fa``, ``hairpin.fa``)."""

MIRBASE_RELEASE = "22.1"
"""Release served at :data:`MIRBASE_URL` (recorded in the provenance)."""

MIRBASE_TERMS = "miRBase data are in the public domain (no restrictions on use)."

_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """A download, checksum or conversion failed; nothing was written."""


class LicenceNotAccepted(FetchError):
    """The licence of a resource was not accepted; nothing was downloaded."""


@dataclass
class FetchResult:
    """What one fetch wrote.

    Attributes
    ----------
    directory
        The published directory.
    files
        Role -> path of each file written (``interactions``, ``raw``,
        ``mature``, ``hairpin``, ``provenance``).
    config
        Config section -> the settings to add (``pathways`` or ``reference``).
    summary
        One line for the user.
    """

    directory: Path
    files: dict[str, Path]
    config: dict[str, Any]
    summary: str
    provenance: dict[str, Any] = field(default_factory=dict)


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def download(
    url: str,
    path: str | os.PathLike[str],
    expected_sha256: str | None = None,
    timeout: float = 120.0,
) -> tuple[str, int]:
    """Download ``url`` to ``path``, computing its sha256 on the way.

    Parameters
    ----------
    url
        ``https://``, ``http://`` or ``file://`` URL.
    path
        Where the bytes go (the caller stages it in a temporary directory).
    expected_sha256
        When given, the download must have this sha256 (hex, any case).
    timeout
        Seconds to wait for the server.

    Returns
    -------
    tuple
        The sha256 (hex) and the number of bytes.

    Raises
    ------
    FetchError
        Network failure, HTTP error, empty file or checksum mismatch.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with (
            urllib.request.urlopen(url, timeout=timeout) as resp,
            open(path, "wb") as out,
        ):
            while chunk := resp.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as exc:
        raise FetchError(
            f"{url}: the server answered HTTP {exc.code} {exc.reason}"
        ) from exc
    except urllib.error.URLError as exc:
        raise FetchError(f"could not download {url}: {exc.reason}") from exc
    except TimeoutError as exc:
        raise FetchError(f"{url}: no answer within {timeout:g} s") from exc
    except (OSError, ValueError) as exc:
        raise FetchError(f"could not download {url}: {exc}") from exc
    if size == 0:
        raise FetchError(f"{url}: the download is empty")
    got = digest.hexdigest()
    if expected_sha256 and got != expected_sha256.strip().lower():
        raise FetchError(
            f"{url}: sha256 mismatch (expected {expected_sha256.strip().lower()}, "
            f"got {got}); the file may be a different release or damaged, and "
            "nothing was kept"
        )
    return got, size


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _Stage:
    """A temporary directory beside ``final``, renamed into place on success.

    An existing ``final`` directory is replaced as a whole. On failure the
    temporary directory is removed, and so is ``dest`` if this fetch created
    it and left it empty.
    """

    def __init__(self, dest: Path, name: str) -> None:
        self.dest = dest
        self.final = dest / name
        self.created = not dest.exists()
        dest.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".tmp-{name}.", dir=dest))

    def publish(self) -> None:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.path, 0o777 & ~umask)
        if self.final.exists():
            trash = Path(
                tempfile.mkdtemp(prefix=f".old-{self.final.name}.", dir=self.dest)
            )
            os.replace(self.final, trash / self.final.name)
            os.replace(self.path, self.final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(self.path, self.final)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self.created and self.dest.is_dir() and not any(self.dest.iterdir()):
            self.dest.rmdir()


def _url_name(url: str, default: str) -> str:
    name = os.path.basename(urllib.parse.urlparse(url).path)
    return name if re.fullmatch(r"[A-Za-z0-9._+-]+", name or "") else default


def _stage_and_publish(
    dest: Path, name: str, build: Callable[[Path], dict[str, Any]]
) -> tuple[Path, dict[str, Any]]:
    """Build a fetch in a staging directory, write its provenance, publish it.

    ``build`` fills the staging directory and returns the provenance record,
    written as ``provenance.json``; on any failure nothing is left behind.
    Returns the published directory and the provenance.
    """
    stage = _Stage(dest, name)
    try:
        prov = build(stage.path)
        with atomic_open(stage.path / "provenance.json") as fh:
            json.dump(prov, fh, indent=2)
            fh.write("\n")
        stage.publish()
    except BaseException:
        stage.discard()
        raise
    return stage.final, prov


def fetch_mirtarbase(
    dest: str | os.PathLike[str],
    url: str = MIRTARBASE_URL,
    sha256: str | None = None,
    accept_licence: bool = False,
    species: str = "Homo sapiens",
    evidence: Sequence[str] | None = ("Functional MTI",),
    timeout: float = 120.0,
) -> FetchResult:
    """Download a miRTarBase MTI table and convert it for the pathway stage.

    Parameters
    ----------
    dest
        Folder under which ``mirtarbase_<name>/`` is written (raw table,
        ``interactions.tsv``, ``provenance.json``).
    url, sha256
        Download URL (``file://`` works) and its expected sha256 (optional).
    accept_licence
        Must be true (the user accepted :data:`MIRTARBASE_LICENCE_NOTICE`).
    species, evidence
        Passed to :func:`~exomir.pathways.network.convert_mirtarbase`.
    timeout
        Seconds to wait for the server.

    Returns
    -------
    FetchResult
        Paths, the ``pathways`` config settings and a summary.

    Raises
    ------
    LicenceNotAccepted
        Without ``accept_licence`` (nothing is downloaded).
    FetchError
        Download, checksum or conversion failure (nothing is written).
    """
    if not accept_licence:
        raise LicenceNotAccepted(
            "miRTarBase is for academic use only; read the notice and accept it "
            "with --accept-licence (nothing was downloaded)"
        )
    from exomir.pathways.network import convert_mirtarbase
    from exomir.tables import write_table

    name = _url_name(url, "miRTarBase_MTI.csv")
    stem = re.sub(r"\.(csv|tsv|txt|xlsx|xls)$", "", name, flags=re.IGNORECASE)

    def build(path: Path) -> dict[str, Any]:
        raw = path / name
        digest, size = download(url, raw, sha256, timeout)
        try:
            table = convert_mirtarbase(raw, species=species, evidence=evidence)
        except ValidationError as exc:
            raise FetchError(
                f"{url}: the download is not a usable miRTarBase table: "
                f"{'; '.join(i.message for i in exc.issues)}"
            ) from exc
        table = table.sort_values(["mirna", "target_symbol"], kind="mergesort")
        write_table(table, path / "interactions.tsv", exact=True)
        release = re.search(r"/(\d+(?:\.\d+)+)/", url)
        prov: dict[str, Any] = {
            "resource": "miRTarBase",
            "release": release.group(1) if release else None,
            "url": url,
            "retrieved_utc": _now(),
            "file": name,
            "bytes": size,
            "sha256": digest,
            "sha256_expected": sha256.strip().lower() if sha256 else None,
            "licence": {
                "notice": MIRTARBASE_LICENCE_NOTICE,
                "terms_url": MIRTARBASE_SITE,
                "accepted": True,
            },
            "converted": {
                "file": "interactions.tsv",
                "sha256": _file_sha256(path / "interactions.tsv"),
                "interactions": len(table),
                "mirnas": int(table["mirna"].nunique()),
                "species": species,
                "evidence": list(evidence) if evidence is not None else None,
                "converter": "exomir.pathways.network.convert_mirtarbase",
                "exomir_version": __version__,
            },
        }
        return prov

    final, prov = _stage_and_publish(Path(dest), f"mirtarbase_{stem}", build)
    digest = prov["sha256"]
    n_interactions = prov["converted"]["interactions"]
    return FetchResult(
        directory=final,
        files={
            "raw": final / name,
            "interactions": final / "interactions.tsv",
            "provenance": final / "provenance.json",
        },
        config={
            "pathways": {
                "interactions": [
                    {
                        "path": str(final / "interactions.tsv"),
                        "format": "tsv",
                        "evidence": list(evidence) if evidence is not None else None,
                    }
                ]
            }
        },
        summary=(
            f"{final / 'interactions.tsv'}: {n_interactions} interactions of "
            f"{prov['converted']['mirnas']} miRNAs ({species}, evidence "
            f"{list(evidence) if evidence is not None else 'any'}) from {url} "
            f"(sha256 {digest})"
        ),
        provenance=prov,
    )


def _species_records(path: Path, species: str, label: str) -> tuple[str, int]:
    """FASTA text of the records named ``<species>-...``, headers kept."""
    out: list[str] = []
    keep = False
    n = 0
    seen: set[str] = set()
    first = True
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if first and line.strip():
                first = False
                if not line.startswith(">"):
                    raise FetchError(
                        f"{label}: not a FASTA file (it starts with "
                        f"{line.strip()[:40]!r}); check the URL"
                    )
            if line.startswith(">"):
                name = line[1:].split(maxsplit=1)[0] if line[1:].strip() else ""
                seen.add(name.split("-", 1)[0])
                keep = name.startswith(f"{species}-")
                n += keep
            if keep:
                out.append(line if line.endswith("\n") else line + "\n")
    if n == 0:
        prefixes = ", ".join(sorted(seen)[:12]) or "none"
        raise FetchError(
            f"{label}: no record of species '{species}' (prefixes found: {prefixes})"
        )
    return "".join(out), n


def fetch_mirbase(
    dest: str | os.PathLike[str],
    species: str,
    base_url: str = MIRBASE_URL,
    release: str = MIRBASE_RELEASE,
    timeout: float = 120.0,
) -> FetchResult:
    """Download miRBase ``mature.fa`` and ``hairpin.fa`` and keep one species.

    Parameters
    ----------
    dest
        Folder under which ``mirbase_<release>_<species>/`` is written.
    species
        miRBase prefix, e.g. ``rno``.
    base_url
        Folder URL holding ``mature.fa`` and ``hairpin.fa``.
    release
        miRBase release served there (recorded, and the config's
        ``mirbase_version``).
    timeout
        Seconds to wait for the server.

    Returns
    -------
    FetchResult
        Paths, the ``reference`` config settings and a summary.

    Raises
    ------
    FetchError
        Download failure, not FASTA, or no record of the species.
    """
    if not re.fullmatch(r"[a-z]{3,4}", species):
        raise FetchError(f"'{species}' is not a miRBase species prefix (e.g. rno)")
    base = base_url if base_url.endswith("/") else base_url + "/"

    def build(path: Path) -> dict[str, Any]:
        inputs = []
        for kind in ("mature", "hairpin"):
            url = urllib.parse.urljoin(base, f"{kind}.fa")
            full = path / f".{kind}.all.fa"
            digest, size = download(url, full, None, timeout)
            text, n = _species_records(full, species, url)
            full.unlink()
            with atomic_open(path / f"{kind}.fa") as fh:
                fh.write(text)
            inputs.append(
                {
                    "kind": kind,
                    "url": url,
                    "bytes": size,
                    "sha256": digest,
                    "records_kept": n,
                    "written": f"{kind}.fa",
                    "written_sha256": _file_sha256(path / f"{kind}.fa"),
                }
            )
        prov = {
            "resource": "miRBase",
            "release": release,
            "species": species,
            "retrieved_utc": _now(),
            "files": inputs,
            "licence": {
                "notice": MIRBASE_TERMS,
                "terms_url": "https://www.mirbase.org/",
            },
            "exomir_version": __version__,
        }
        return prov

    final, prov = _stage_and_publish(Path(dest), f"mirbase_{release}_{species}", build)
    counts = {f["kind"]: f["records_kept"] for f in prov["files"]}
    return FetchResult(
        directory=final,
        files={
            "mature": final / "mature.fa",
            "hairpin": final / "hairpin.fa",
            "provenance": final / "provenance.json",
        },
        config={
            "reference": {
                "species": species,
                "mirbase_version": release,
                "mature": str(final / "mature.fa"),
                "hairpin": str(final / "hairpin.fa"),
            }
        },
        summary=(
            f"{final}: miRBase {release} {species}: {counts['mature']} mature and "
            f"{counts['hairpin']} hairpin sequences from {base}"
        ),
        provenance=prov,
    )


def config_lines(section: str, settings: dict[str, Any]) -> str:
    """YAML lines of one config section (what to paste into config.yaml)."""
    return yaml.safe_dump(
        {section: settings}, sort_keys=False, default_flow_style=None, width=1000
    )


def _relative(path: str, scenario: Path) -> str:
    """``path`` relative to the scenario when it lies inside it (portable)."""
    try:
        return str(Path(path).resolve().relative_to(scenario.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def write_config(scenario: str | os.PathLike[str], result: FetchResult) -> Path:
    """Add a fetch's settings to ``<scenario>/config/config.yaml``.

    ``pathways``: appended as a new section when the config has none (an
    existing ``pathways:`` section is left alone; add the lines by hand).
    ``reference``: ``mature``/``hairpin``/``mirbase_version`` are inserted at
    the top of the ``reference:`` block when it has none of them and names the
    same species. Comments and order of the file are kept; the new file is
    validated before it replaces the old one.

    Returns
    -------
    Path
        The config file.

    Raises
    ------
    FetchError
        When the lines cannot be added safely (the message says what to add).
    """
    from exomir.config import validate_config

    cfg_path = Path(scenario) / "config" / "config.yaml"
    if not cfg_path.is_file():
        raise FetchError(f"{cfg_path}: no such configuration file")
    text = cfg_path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    ((section, settings),) = result.config.items()
    settings = json.loads(json.dumps(settings))  # a copy
    if section == "pathways":
        for item in settings["interactions"]:
            item["path"] = _relative(item["path"], Path(scenario))
        if "pathways" in data:
            raise FetchError(
                f"{cfg_path} already has a pathways: section; add under it:\n"
                + config_lines(section, settings)
            )
        new = (
            text.rstrip("\n")
            + "\n\n# Added by exomir fetch-references ("
            + (
                f"{result.provenance.get('resource')} {result.provenance.get('release')}, "
                f"{_now()[:10]}; provenance in {_relative(str(result.files['provenance']), Path(scenario))})\n"
            )
            + config_lines(section, settings)
        )
    else:
        ref = data.get("reference") or {}
        for key in ("mature", "hairpin"):
            settings[key] = _relative(settings[key], Path(scenario))
        if ref.get("species") != settings["species"]:
            raise FetchError(
                f"{cfg_path}: reference.species is '{ref.get('species')}', not "
                f"'{settings['species']}'; set it and the lines below by hand:\n"
                + config_lines(section, settings)
            )
        if any(k in ref for k in ("mature", "hairpin", "mirbase_version")):
            raise FetchError(
                f"{cfg_path}: reference: already names mature/hairpin/mirbase_version; "
                "replace them by hand with:\n" + config_lines(section, settings)
            )
        lines = text.splitlines(keepends=True)
        at = next(
            (
                i
                for i, line in enumerate(lines)
                if re.match(r"^reference:\s*(#.*)?$", line)
            ),
            None,
        )
        if at is None:
            raise FetchError(
                f"{cfg_path}: no block-style 'reference:' line found; add by hand:\n"
                + config_lines(section, settings)
            )
        indent = "  "
        for line in lines[at + 1 :]:
            m = re.match(r"^(\s+)\S", line)
            if m and not line.lstrip().startswith("#"):
                indent = m.group(1)
                break
        added = [
            f"{indent}# Added by exomir fetch-references ({_now()[:10]})\n",
            f'{indent}mirbase_version: "{settings["mirbase_version"]}"\n',
            f'{indent}mature: "{settings["mature"]}"\n',
            f'{indent}hairpin: "{settings["hairpin"]}"\n',
        ]
        new = "".join(lines[: at + 1] + added + lines[at + 1 :])
    try:
        validate_config(yaml.safe_load(new), str(cfg_path))
    except ValidationError as exc:
        raise FetchError(
            f"{cfg_path}: the configuration would not be valid with the new lines, "
            f"so it was not changed:\n{exc}"
        ) from exc
    with atomic_open(cfg_path) as fh:
        fh.write(new)
    return cfg_path


def _ask_licence(ask: Callable[[str], str]) -> bool:
    try:
        answer = ask("Do you accept these terms? Type 'yes' to continue: ")
    except EOFError:
        return False
    return answer.strip().lower() in ("yes", "y")


def _cmd_fetch(args: argparse.Namespace) -> int:
    scenario = Path(args.write_config) if args.write_config else None
    dest = Path(args.dest) if args.dest else (scenario or Path(".")) / "references"
    want_mirtarbase = args.mirtarbase or not args.mirbase
    results = []
    try:
        if args.mirbase:
            res = fetch_mirbase(
                dest, args.mirbase, args.mirbase_url, args.mirbase_release, args.timeout
            )
            print(res.summary)
            results.append(res)
        if want_mirtarbase:
            print(f"miRTarBase licence notice:\n  {MIRTARBASE_LICENCE_NOTICE}\n")
            accepted = args.accept_licence or (
                sys.stdin.isatty() and _ask_licence(input)
            )
            if not accepted:
                raise LicenceNotAccepted(
                    "licence not accepted: nothing was downloaded (run again with "
                    "--accept-licence if your use is academic)"
                )
            print(f"downloading {args.url} ...", flush=True)
            res = fetch_mirtarbase(
                dest,
                args.url,
                args.sha256,
                accept_licence=True,
                species=args.species,
                evidence=None if args.all_evidence else args.evidence,
                timeout=args.timeout,
            )
            print(res.summary)
            results.append(res)
        for res in results:
            if scenario is not None:
                path = write_config(scenario, res)
                print(f"{path}: {', '.join(res.config)} settings added")
            else:
                print(
                    "\nAdd to config/config.yaml (or rerun with --write-config "
                    "SCENARIO):\n" + config_lines(*next(iter(res.config.items())))
                )
    except FetchError as exc:
        print(f"exomir fetch-references: {exc}", file=sys.stderr)
        return 1
    return 0


def add_cli(sub: Any) -> None:
    """Add ``exomir fetch-references`` to the command line's subparsers."""
    p = sub.add_parser(
        "fetch-references",
        help="download miRTarBase (pathway targets) or a species' miRBase files",
        description=(
            "Download references exomir does not ship. Without --mirbase: the "
            "miRTarBase human MTI table (academic use only; --accept-licence), "
            "converted for the pathway stage. --mirbase SPECIES: that species' "
            "miRBase mature and hairpin sequences. Nothing is written unless the "
            "download, checksum and conversion succeed."
        ),
    )
    p.add_argument(
        "--dest",
        default=None,
        help="folder to write into (default SCENARIO/references with --write-config, "
        "else ./references)",
    )
    p.add_argument(
        "--mirtarbase",
        action="store_true",
        help="fetch miRTarBase (the default when --mirbase is not given)",
    )
    p.add_argument("--url", default=MIRTARBASE_URL, help="miRTarBase download URL")
    p.add_argument("--sha256", default=None, help="expected sha256 of the download")
    p.add_argument(
        "--accept-licence",
        "--accept-license",
        dest="accept_licence",
        action="store_true",
        help="accept miRTarBase's academic-use licence without asking",
    )
    p.add_argument("--species", default="Homo sapiens", help="miRTarBase species kept")
    p.add_argument(
        "--evidence",
        nargs="+",
        default=["Functional MTI"],
        help="miRTarBase Support Types kept (default: Functional MTI)",
    )
    p.add_argument(
        "--all-evidence", action="store_true", help="keep every Support Type"
    )
    p.add_argument(
        "--mirbase",
        default=None,
        metavar="SPECIES",
        help="fetch miRBase mature/hairpin of this species prefix (e.g. rno)",
    )
    p.add_argument("--mirbase-url", default=MIRBASE_URL, help="miRBase download folder")
    p.add_argument(
        "--mirbase-release",
        default=MIRBASE_RELEASE,
        help=f"release served at --mirbase-url (default {MIRBASE_RELEASE})",
    )
    p.add_argument(
        "--write-config",
        default=None,
        metavar="SCENARIO",
        help="add the settings to SCENARIO/config/config.yaml (validated first)",
    )
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.set_defaults(func=_cmd_fetch)
