"""Guards of issue 17: no code from the config, complete validation, checked intermediates.

Each test builds the damaged or misleading input itself and checks the
outcome against what is known independently (the bytes that were cut, the
record that was broken, the line that holds the Latin-1 byte).
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from exomir.atomic import OutputWriteError, atomic_open, remove_stale_temporaries
from exomir.cli import main
from exomir.config import load_config
from exomir.config_guard import config_code_issues
from exomir.errors import ValidationError
from exomir.reads.integrity import (
    DamagedIntermediateError,
    check_sizes,
    record_outputs,
    verify_library_outputs,
)
from exomir.tables import read_table
from exomir.validate import validate_scenario

REPO = Path(__file__).resolve().parents[2]
FASTQ = REPO / "tests" / "data" / "real" / "sample1.fastq.gz"
SAMPLES = ["H01_BL", "H01_W1", "H02_BL", "H02_W1"]


@pytest.fixture
def human(tmp_path: Path) -> Path:
    """The real_human scenario with one FASTQ copy (distinct bytes) per library."""
    scn = tmp_path / "scn"
    shutil.copytree(
        REPO / "tests" / "scenarios" / "real_human" / "config", scn / "config"
    )
    cfg = yaml.safe_load((scn / "config" / "config.yaml").read_text())
    cfg.pop("shared_fastq")
    (scn / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    rows = ["sample_id\tparticipant_id\ttimepoint\tfastq\tprotocol\tlibrary_batch"]
    raw = gzip.decompress(FASTQ.read_bytes())
    (scn / "data").mkdir()
    for i, sid in enumerate(SAMPLES):
        # same reads, different gzip level or member: distinct files, as in a trial
        (scn / "data" / f"{sid}.fastq.gz").write_bytes(
            gzip.compress(raw, compresslevel=9 - i, mtime=i)
        )
        part, tp = sid.split("_")
        rows.append(
            f"{sid}\t{part}\t{'baseline' if tp == 'BL' else 'week1'}\t"
            f"data/{sid}.fastq.gz\ttruseq\tB1"
        )
    (scn / "config" / "samples.tsv").write_text("\n".join(rows) + "\n")
    return scn


def _issues(scn: Path, deep: bool = False) -> list[str]:
    with pytest.raises(ValidationError) as info:
        validate_scenario(scn, deep=deep)
    return [str(i) for i in info.value.issues]


def _set_fastq(scn: Path, sample: str, value: str) -> None:
    p = scn / "config" / "samples.tsv"
    lines = p.read_text().splitlines()
    for i, line in enumerate(lines):
        cells = line.split("\t")
        if cells[0] == sample:
            cells[3] = value
            lines[i] = "\t".join(cells)
    p.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- #
# One FASTQ, one library
# --------------------------------------------------------------------------- #


def test_distinct_fastqs_are_valid(human: Path) -> None:
    """Four libraries with their own files pass (the fixture is sound)."""
    assert len(validate_scenario(human).samples) == 4


def test_same_fastq_path_for_two_libraries_names_both_rows(human: Path) -> None:
    """A baseline FASTQ listed again as week 1 (via another spelling) is refused."""
    _set_fastq(human, "H01_W1", "data/../data/H01_BL.fastq.gz")
    errs = _issues(human)
    assert len(errs) == 1, errs
    assert "config/samples.tsv line 3 (sample_id=H01_W1), column 'fastq'" in errs[0]
    assert "line 2 (H01_BL), line 3 (H01_W1)" in errs[0]
    assert "shared_fastq" in errs[0]


def test_same_fastq_content_under_two_names_is_refused(human: Path) -> None:
    """A byte-identical copy under another name is caught by its content."""
    shutil.copy(human / "data" / "H01_BL.fastq.gz", human / "data" / "copy.fastq.gz")
    _set_fastq(human, "H02_W1", "data/copy.fastq.gz")
    errs = _issues(human)
    assert len(errs) == 1, errs
    assert "same content" in errs[0]
    assert "line 2 (H01_BL), line 5 (H02_W1)" in errs[0]
    # --deep compares whole-file checksums: same verdict
    assert len(_issues(human, deep=True)) == 1


def test_shared_fastq_in_config_allows_deliberate_reuse(human: Path) -> None:
    """A file listed in config shared_fastq may serve several libraries."""
    _set_fastq(human, "H01_W1", "data/H01_BL.fastq.gz")
    cfg_path = human / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["shared_fastq"] = ["data/H01_BL.fastq.gz"]
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert len(validate_scenario(human).samples) == 4
    # an entry that is no FASTQ of the sheet (a typo) is reported
    cfg["shared_fastq"] = ["data/H01_BL.fastq.gz", "data/H0l_BL.fastq.gz"]
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert _issues(human) == [
        "config/config.yaml, column 'shared_fastq': 'data/H0l_BL.fastq.gz' is not a "
        "FASTQ of config/samples.tsv (column fastq); remove it or write it as in the "
        "sheet"
    ]


# --------------------------------------------------------------------------- #
# Everything knowable before the run
# --------------------------------------------------------------------------- #


def test_unknown_primary_mirna_is_reported(human: Path) -> None:
    """A primary miRNA absent from miRBase is an error, with the close names."""
    cfg_path = human / "config" / "config.yaml"
    text = cfg_path.read_text().replace("hsa-miR-126-3p", "hsa-miR-126-3q")
    cfg_path.write_text(text)
    errs = _issues(human)
    assert len(errs) == 1, errs
    assert errs[0].startswith("config/config.yaml, column 'trial.primary_mirna'")
    assert "'hsa-miR-126-3q' is not a mature miRNA" in errs[0]
    assert "hsa-miR-126-3p" in errs[0]  # the suggestion


def test_contrast_with_unknown_arm_level_is_reported(human: Path) -> None:
    """A contrast naming an arm the design does not have is an error."""
    cfg_path = human / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["de"] = {
        "contrasts": {
            "effect": {"kind": "between_arms", "arm": "exosomes", "timepoint": "week1"},
            "batch": {"kind": "between_arms", "covariates": ["plate"]},
        }
    }
    cfg_path.write_text(yaml.safe_dump(cfg))
    errs = _issues(human)
    assert any(
        "de.contrasts.effect" in e and "arm 'exosomes' is not a level" in e
        for e in errs
    ), errs
    assert any(
        "covariate 'plate' of contrast 'batch' is not a column" in e for e in errs
    ), errs


def _write_fastq(path: Path, records: list[tuple[str, str, str]]) -> None:
    text = "".join(f"{h}\n{s}\n+\n{q}\n" for h, s, q in records)
    path.write_bytes(gzip.compress(text.encode(), mtime=0))


def test_malformed_first_records_name_file_and_record(human: Path) -> None:
    """Sequence and quality of different lengths in record 3 is reported there."""
    good = ("@r", "ACGTACGTACGTACGTACGT", "I" * 20)
    _write_fastq(
        human / "data" / "H01_W1.fastq.gz",
        [good, good, ("@r3", "ACGTACGTACGTACGTACGT", "I" * 18), good],
    )
    _write_fastq(
        human / "data" / "H02_BL.fastq.gz",
        [good, ("@r2", "ACGTXCGTACGTACGTACGT", "I" * 20)],
    )
    _write_fastq(human / "data" / "H02_W1.fastq.gz", [("r1", "ACGT", "IIII")])
    errs = _issues(human)
    assert len(errs) == 3, errs
    by_sample = {s: e for s in SAMPLES for e in errs if f"sample_id={s}" in e}
    assert "FASTQ 'data/H01_W1.fastq.gz' record 3:" in by_sample["H01_W1"]
    assert "line 3" in by_sample["H01_W1"]
    assert "record 2:" in by_sample["H02_BL"] and "X" in by_sample["H02_BL"]
    assert "record 1:" in by_sample["H02_W1"] and "'@'" in by_sample["H02_W1"]


def test_deep_finds_a_truncated_gzip(human: Path, capsys) -> None:
    """Cut in its second half, a FASTQ passes the quick check but not --deep."""
    p = human / "data" / "H02_W1.fastq.gz"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 3])
    assert main(["validate", str(human)]) == 0
    capsys.readouterr()
    assert main(["validate", "--deep", str(human)]) == 1
    err = capsys.readouterr().err
    assert "sample_id=H02_W1" in err
    assert "gzip data truncated or corrupt" in err
    # the record number is where the readable prefix ends
    readable = 0
    with gzip.open(p, "rt") as fh:
        try:
            for _ in fh:
                readable += 1
        except EOFError:
            pass
    assert f"record {readable // 4 + 1}:" in err


def test_latin1_sheet_is_reported_by_line_and_column(human: Path) -> None:
    """A Latin-1 byte is located by line and column, not by byte offset."""
    p = human / "config" / "participants.tsv"
    text = p.read_text().replace("H02\texosome\tS1", "H02\texosome\tSé")
    p.write_bytes(text.encode("latin-1"))
    with pytest.raises(ValidationError) as info:
        read_table(p, "participants", "config/participants.tsv")
    msg = str(info.value.issues[0])
    expected_col = len("H02\texosome\tS") + 1
    assert msg.startswith(f"config/participants.tsv: line 3, column {expected_col}:")
    assert "0xE9" in msg


def test_latin1_config_is_reported_by_line_and_column(tmp_path: Path) -> None:
    """The configuration too: line and column of the first non-UTF-8 byte."""
    p = tmp_path / "config.yaml"
    p.write_bytes("trial:\n  id: X\n  title: Étude\n".encode("latin-1"))
    with pytest.raises(ValidationError) as info:
        load_config(p)
    assert str(info.value.issues[0]).startswith(f"{p}: line 3, column 10: byte 0xC9")


# --------------------------------------------------------------------------- #
# Nothing in the config is executed
# --------------------------------------------------------------------------- #


def _yte_config(src: Path, marker: Path) -> str:
    text = src.read_text()
    payload = (
        f"?__import__('pathlib').Path({str(marker)!r}).write_text('ran') "
        "and 'NCT07183384'"
    )
    return "__use_yte__: true\n" + text.replace("  id: NCT07183384", f"  id: {payload}")


def test_yte_config_would_run_code_in_snakemake_loader(tmp_path: Path) -> None:
    """Independent truth: Snakemake's own loader runs the YTE expression."""
    from snakemake.common.configfile import load_configfile

    marker = tmp_path / "ran_in_loader"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        _yte_config(REPO / "tests/scenarios/real_human/config/config.yaml", marker)
    )
    load_configfile(str(cfg))
    assert marker.exists()  # so the workflow test below can fail


def test_yte_config_is_refused_before_snakemake_loads_it(tmp_path: Path) -> None:
    """`snakemake -n` on a YTE config stops with a message; the code never runs."""
    scn = tmp_path / "scenarios" / "real_human"
    shutil.copytree(REPO / "tests" / "scenarios" / "real_human", scn)
    marker = tmp_path / "ran_in_workflow"
    cfg = scn / "config" / "config.yaml"
    cfg.write_text(_yte_config(cfg, marker))
    proc = _dry_run(scn)
    assert proc.returncode != 0
    assert "exomir: the configuration is refused" in proc.stderr
    assert "'__use_yte__' turns the file into a YTE template" in proc.stderr
    assert not marker.exists()
    # exomir validate refuses it too, without running it
    assert main(["validate", str(scn)]) == 1
    assert not marker.exists()


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("title: !!python/name:os.system\n", "YAML tag '!!python/name:os.system'"),
        ("title: !custom x\n", "YAML tag '!custom'"),
        ("title: '{{ 7*7 }}'\n", "template syntax"),
        ("__include__: other.yaml\n", "'__include__' looks like a loader"),
    ],
)
def test_tags_and_template_syntax_are_refused(
    tmp_path: Path, line: str, what: str
) -> None:
    """Tags, template expressions and directive keys are named with their place."""
    p = tmp_path / "config.yaml"
    p.write_text("trial:\n  id: X\n" + line)
    issues = [str(i) for i in config_code_issues(p, "config.yaml")]
    assert len(issues) == 1 and what in issues[0], issues
    with pytest.raises(ValidationError):
        load_config(p)


def test_shipped_configs_hold_no_code() -> None:
    """The shipped configuration and scenarios pass the guard."""
    for p in [
        REPO / "config" / "config.yaml",
        *sorted((REPO / "tests" / "scenarios").glob("*/config/config.yaml")),
    ]:
        assert config_code_issues(p) == [], p


# --------------------------------------------------------------------------- #
# Intermediates carry their checksums
# --------------------------------------------------------------------------- #


def _library(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    files = {
        "mirna": tmp_path / "S.mirna.tsv",
        "collapsed": tmp_path / "S.fa.gz",
    }
    files["mirna"].write_text(
        "mirna\tcount\n" + "".join(f"hsa-miR-{i}\t{i * 7}\n" for i in range(1, 200))
    )
    files["collapsed"].write_bytes(gzip.compress(b">1_x10\nACGT\n" * 500, mtime=0))
    manifest = tmp_path / "S.json"
    manifest.write_text(json.dumps({"mirna": 12565, "total": 20000}))
    record_outputs(manifest, files)
    return manifest, files


def test_recorded_outputs_describe_the_files(tmp_path: Path) -> None:
    """Sizes, line counts and checksums are those of the files; other keys kept."""
    import hashlib

    manifest, files = _library(tmp_path)
    data = json.loads(manifest.read_text())
    assert data["mirna"] == 12565
    rec = data["outputs"]["mirna"]
    raw = files["mirna"].read_bytes()
    assert rec == {
        "file": "S.mirna.tsv",
        "bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "lines": 200,
    }
    verify_library_outputs(manifest, files)  # intact: no error


def test_truncated_table_is_detected_named_and_removed(tmp_path: Path) -> None:
    """A count table cut at a line boundary is refused with its path and rule."""
    manifest, files = _library(tmp_path)
    lines = files["mirna"].read_text().splitlines(keepends=True)
    files["mirna"].write_text("".join(lines[:90]))
    with pytest.raises(DamagedIntermediateError) as info:
        verify_library_outputs(manifest, files, rule="library (sample S)")
    msg = str(info.value)
    assert msg.startswith(f"{files['mirna']} is damaged (")
    assert "made by rule library (sample S)" in msg
    assert not files["mirna"].exists()  # so that a rerun rebuilds it


def test_same_size_corruption_is_found_by_checksum(tmp_path: Path) -> None:
    """A changed digit (same size) passes the size check but not the checksum."""
    manifest, files = _library(tmp_path)
    text = files["mirna"].read_text()
    files["mirna"].write_text(text.replace("\t7\n", "\t8\n", 1))
    assert check_sizes(manifest, files) == []
    with pytest.raises(DamagedIntermediateError, match="content differs"):
        verify_library_outputs(manifest, files)


def test_truncated_gzip_and_json_are_found(tmp_path: Path) -> None:
    """A cut .fa.gz is named; a cut JSON (the record itself) is named too."""
    manifest, files = _library(tmp_path)
    data = files["collapsed"].read_bytes()
    files["collapsed"].write_bytes(data[:-20])
    found = check_sizes(manifest, files)
    assert len(found) == 1 and found[0][0] == str(files["collapsed"])
    assert found[0][1].startswith(f"{files['collapsed']} is damaged")
    assert not files["collapsed"].exists()
    manifest.write_text(manifest.read_text()[:50])
    with pytest.raises(DamagedIntermediateError, match="not a complete JSON file"):
        verify_library_outputs(manifest, files)
    assert not manifest.exists()


def test_files_without_a_record_are_used_with_a_warning(tmp_path: Path, caplog) -> None:
    """Results written before the record existed: used, one warning, no noise at start."""
    manifest = tmp_path / "S.json"
    manifest.write_text(json.dumps({"mirna": 5}))
    table = tmp_path / "S.mirna.tsv"
    table.write_text("mirna\tcount\n")
    with caplog.at_level("WARNING"):
        assert check_sizes(manifest, {"mirna": table}) == []
    assert caplog.records == []
    with caplog.at_level("WARNING"):
        verify_library_outputs(manifest, {"mirna": table})
    assert "has no 'outputs' block" in caplog.text
    assert table.exists()


# --------------------------------------------------------------------------- #
# Messages and leftovers
# --------------------------------------------------------------------------- #


def test_disk_full_names_the_destination(tmp_path: Path) -> None:
    """ENOSPC while writing names the output, not the temporary file."""
    dest = tmp_path / "results" / "counts.tsv"
    with pytest.raises(OutputWriteError) as info, atomic_open(dest) as fh:
        fh.write("x")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(info.value) == f"cannot write {dest}: No space left on device"
    assert info.value.errno == errno.ENOSPC
    assert list(dest.parent.iterdir()) == []  # no temporary left behind


def test_unwritable_folder_names_the_destination(tmp_path: Path) -> None:
    """A folder that cannot be created (a file is in the way) names the output."""
    (tmp_path / "results").write_text("not a folder")
    dest = tmp_path / "results" / "counts.tsv"
    with pytest.raises(OutputWriteError, match=f"cannot write {dest}"):
        with atomic_open(dest) as fh:
            fh.write("x")


def test_input_errors_inside_a_write_are_not_renamed(tmp_path: Path) -> None:
    """A missing input read inside the block keeps its own name."""
    with pytest.raises(FileNotFoundError) as info:
        with atomic_open(tmp_path / "out.tsv"):
            open(tmp_path / "missing.tsv").close()
    assert not isinstance(info.value, OutputWriteError)


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    """`.tmp-*` files of a killed run go; real outputs stay."""
    (tmp_path / "counts").mkdir()
    stale = tmp_path / "counts" / ".tmp-mirna_counts.tsv.k2j3"
    stale.write_text("half")
    keep = tmp_path / "counts" / "mirna_counts.tsv"
    keep.write_text("whole")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and keep.exists()


def test_rule_errors_show_one_line_and_log_the_traceback(tmp_path: Path) -> None:
    """A shim's error: one line on stderr, the traceback in the rule's log."""
    log = tmp_path / "rule.log"
    script = textwrap.dedent(
        f"""
        from types import SimpleNamespace
        from exomir.rulelog import setup_rule_logging
        from exomir.reads.fastq import FastqFormatError
        setup_rule_logging(SimpleNamespace(log=[{str(log)!r}]))
        def inner():
            raise FastqFormatError("data/x.fastq.gz", 7, "sequence and quality differ")
        inner()
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "exomir error: FastqFormatError: data/x.fastq.gz: record 7: sequence and "
        "quality differ "
        f"(traceback in {log})"
    ]
    text = log.read_text()
    assert "Traceback" in text and "in inner" in text


def _dry_run(scn: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(scn),
            "-n",
            "--cores",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("hsa-miR-126-3p", "hsa-miR-126-3q"),
            "column 'trial.primary_mirna': the primary miRNA 'hsa-miR-126-3q' is not "
            "a mature miRNA",
        ),
        (
            ('shared_fastq: ["../../data/real/sample1.fastq.gz"]', ""),
            "the same FASTQ file",
        ),
    ],
)
def test_workflow_refuses_at_load_what_validate_finds(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    """The run stops before any job on what `exomir validate` reports."""
    scn = tmp_path / "scenarios" / "real_human"
    shutil.copytree(REPO / "tests" / "scenarios" / "real_human", scn)
    shutil.copytree(REPO / "tests" / "data" / "real", tmp_path / "data" / "real")
    cfg = scn / "config" / "config.yaml"
    assert edit[0] in cfg.read_text()
    cfg.write_text(cfg.read_text().replace(*edit))
    proc = _dry_run(scn)
    assert proc.returncode != 0
    assert "exomir: the inputs are not valid." in proc.stderr
    assert expected in proc.stderr
    assert not (scn / "results").exists()
