"""The bad-input corpus: every case in tests/bad_inputs/ gives its located message.

Validate-stage cases run ``exomir validate`` in-process on a copy-on-write copy
of one base scenario built once per session, and assert: exit status 1, every
expected message on one line of the output (file, line/row, column and the
problem words), and nothing written into the scenario (no ``results/``, no new
file).

Run-time cases (faults only found while reading the data, e.g. damaged FASTQ
content) are all applied to one copy of the simulated scenario and run in one
Snakemake run with ``--keep-going`` up to the per-library outputs. Each
asserts its located message in the failing job's log and that none of that
library's outputs exist; the libraries no case touched must give outputs
byte-identical to those of a clean run.

A case with ``xfail: "<why>"`` documents a gap: it states the message the
project must give, and is a strict xfail, so it fails as soon as the project
gives that message (then remove the mark).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from _corpus import (
    Case,
    apply_edits,
    cow_copy,
    expected,
    load_cases,
    missing_messages,
    tree,
)
from _workflow import copy_scenario, run_snakemake

from exomir.cli import main as exomir_main

CASES = load_cases()
VALIDATE = [c for c in CASES if c.stage == "validate"]
RUN = [c for c in CASES if c.stage == "run"]
#: Parameters of the simulated base scenario: 4 participants (8 libraries),
#: 2,000 reads each, every optional sheet and NTA exports of both instruments,
#: and the ELISA plates of the protein layer.
SIM_ARGS = ["--participants", "4", "--reads", "2000", "--seed", "1"]
SIM_ARGS += ["--set", "proteins.enabled=true"]
#: The per-library outputs (rule ``library``), written together or not at all.
LIBRARY_OUTPUTS = (
    "results/collapsed/{s}.fa.gz",
    "results/preprocess/{s}.json",
    "results/annotate/{s}.mirna.tsv",
    "results/annotate/{s}.isomir.tsv",
    "results/annotate/{s}.json",
    "results/isomirs/{s}.gff",
)


def _param(case: Case) -> pytest.param:
    # Only a failed assertion is the documented gap; a harness error still fails.
    marks = (
        [pytest.mark.xfail(reason=case.xfail, strict=True, raises=AssertionError)]
        if case.xfail
        else []
    )
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="session")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """The base scenarios, built once: a small simulated trial and real_human.

    Each is ``(root, scenario path under root)``: real_human's sheets point at
    FASTQs outside the scenario (``../../data``), so a copy takes the root.
    """
    sim = tmp_path_factory.mktemp("corpus_simulated")
    assert exomir_main(["simulate", str(sim / "scn"), *SIM_ARGS]) == 0
    shipped = tmp_path_factory.mktemp("corpus_real_human")
    copy_scenario("real_human", shipped)
    return {"simulated": (sim, "scn"), "real_human": (shipped, "scenarios/real_human")}


def scenario_copy(bases: dict[str, tuple[Path, str]], base: str, dest: Path) -> Path:
    """A copy-on-write copy of base scenario ``base`` under ``dest``."""
    root, rel = bases[base]
    cow_copy(root, dest)
    return dest / rel


def test_corpus_size_and_coverage() -> None:
    """The corpus has >= 40 cases covering FASTQ, every sheet, EV exports, config."""
    assert len(CASES) >= 40, len(CASES)
    touched = " ".join(
        str(spec.get("file", "config/config.yaml"))
        for c in CASES
        for e in c.edits
        for spec in e.values()
    )
    for part in (
        "fastq",
        "samples.tsv",
        "participants.tsv",
        "clinical_measurements.tsv",
        "disposition.tsv",
        "adverse_events.tsv",
        "ev_lots.tsv",
        "ev_nta_runs.tsv",
        "ExperimentSummary.csv",
        "size_488.txt",
        "config.yaml",
    ):
        assert part in touched, f"no corpus case edits {part}"


def test_bases_are_valid(
    bases: dict[str, tuple[Path, str]], capsys: pytest.CaptureFixture
) -> None:
    """Each base scenario passes validation, so a case's failure is its own edit's."""
    for root, rel in bases.values():
        assert exomir_main(["validate", str(root / rel)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("case", [_param(c) for c in VALIDATE])
def test_validate_case(
    case: Case,
    bases: dict[str, tuple[Path, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """``exomir validate`` exits 1 with the case's located message, writes nothing."""
    scn = scenario_copy(bases, case.base, tmp_path / case.id)
    places = apply_edits(scn, case)
    before = tree(scn)
    capsys.readouterr()
    status = exomir_main(["validate", str(scn)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert status != 0, f"{case.id}: validate accepted the bad input:\n{text}"
    missing = missing_messages(text, expected(case, places))
    assert not missing, f"{case.id}: no line with {missing} in:\n{text}"
    assert not (scn / "results").exists()
    assert tree(scn) == before, "validate wrote into the scenario"


# ---------------------------------------------------------------------------
# Run-time cases: one shared Snakemake run


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _library_targets(scn: Path) -> list[str]:
    lines = (scn / "config" / "samples.tsv").read_text().splitlines()
    samples = [ln.split("\t")[0] for ln in lines[1:] if ln.strip()]
    return [f"results/preprocess/{s}.json" for s in samples]


@pytest.fixture(scope="module")
def runtime_run(
    bases: dict[str, tuple[Path, str]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """One clean and one faulty run of the per-library jobs (all run-time cases)."""
    root = tmp_path_factory.mktemp("corpus_run")
    clean = scenario_copy(bases, "simulated", root / "clean")
    faulty = scenario_copy(bases, "simulated", root / "faulty")
    places: dict[str, dict[str, str]] = {}
    edited: set[str] = set()
    for case in RUN:
        files = {spec["file"] for e in case.edits for spec in e.values()}
        assert not files & edited, f"{case.id} edits a file another run case edits"
        edited |= files
        places[case.id] = apply_edits(faulty, case)
    targets = _library_targets(clean)
    run_snakemake(clean, *targets)
    proc = run_snakemake(faulty, "--keep-going", *targets, check=False)
    return {
        "clean": clean,
        "faulty": faulty,
        "places": places,
        "proc": proc,
        "targets": targets,
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", [_param(c) for c in RUN])
def test_runtime_case(case: Case, runtime_run: dict[str, object]) -> None:
    """The failing library's log names the file, record and problem; no outputs."""
    faulty: Path = runtime_run["faulty"]  # type: ignore[assignment]
    proc = runtime_run["proc"]
    assert proc.returncode != 0  # type: ignore[attr-defined]
    log = faulty / case.log
    assert log.is_file(), f"{case.id}: no log {case.log}"
    text = log.read_text()
    missing = missing_messages(text, expected(case, runtime_run["places"][case.id]))
    assert not missing, f"{case.id}: no line with {missing} in {case.log}:\n{text}"
    for pattern in LIBRARY_OUTPUTS:
        out = faulty / pattern.format(s=case.sample)
        assert not out.exists(), f"{case.id}: {out.name} written for a bad library"


@pytest.mark.slow
def test_runtime_other_libraries_identical(runtime_run: dict[str, object]) -> None:
    """Libraries no run-time case touched give byte-identical outputs to a clean run."""
    clean: Path = runtime_run["clean"]  # type: ignore[assignment]
    faulty: Path = runtime_run["faulty"]  # type: ignore[assignment]
    bad = {c.sample for c in RUN}
    samples = [Path(t).stem for t in runtime_run["targets"]]  # type: ignore[attr-defined]
    good = [s for s in samples if s not in bad]
    assert good, "every library is broken: nothing to compare"
    for s in good:
        for pattern in LIBRARY_OUTPUTS:
            rel = pattern.format(s=s)
            assert (faulty / rel).is_file(), f"{rel} missing after a --keep-going run"
            assert _digest(faulty / rel) == _digest(clean / rel), rel
