"""Fixtures shared by the integration tests: one clean run of each shared scenario.

Each run is made once per test session, also when pytest-xdist spreads the
tests over several processes (``shared_once``). Tests must not change them:
copy a run first (``copy_run``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _workflow import (
    BIN,
    copy_scenario,
    run_checked,
    run_snakemake,
    shared_once,
    snakemake_cmd,
)


def _full_run(name: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        scn = copy_scenario(name, root)
        run_snakemake(scn)
        return scn

    return build


@pytest.fixture(scope="session")
def real_human_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped real_human scenario after one complete, uninterrupted run."""
    return shared_once(tmp_path_factory, "real_human", _full_run("real_human"))


@pytest.fixture(scope="session")
def real_mouse_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped real_mouse scenario after one complete, uninterrupted run."""
    return shared_once(tmp_path_factory, "real_mouse", _full_run("real_mouse"))


#: The small simulated trial shared by the safety-stage and report-firewall tests
#: (16 participants, about 50k reads per library), and the tables it is run to.
SMALL_TRIAL_ARGS = (
    "--preset",
    "small",
    "--participants",
    "16",
    "--reads",
    "5e4",
    "--seed",
    "11",
    "--threads",
    "2",
)
SMALL_TRIAL_TARGETS = (
    "results/clinical/roc.tsv",
    "results/clinical/consort.tsv",
    "results/clinical/adverse_events.tsv",
    "results/clinical/safety_triggers.tsv",
    "results/clinical/lab_shifts.tsv",
    "results/clinical/interim.tsv",
    "results/clinical/interim_open.tsv",
    "results/clinical/ae_listing.tsv",
    "results/clinical/enrolment.tsv",
    "results/clinical/deviations.tsv",
    "results/clinical/batch_balance.tsv",
)


@pytest.fixture(scope="session")
def small_trial_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small simulated trial, run up to :data:`SMALL_TRIAL_TARGETS`."""

    def build(root: Path) -> Path:
        scn = root / "sim" / "scn"  # copy_run copies scn.parents[1], i.e. root
        run_checked([str(BIN / "exomir"), "simulate", str(scn), *SMALL_TRIAL_ARGS])
        run_checked(snakemake_cmd(scn, *SMALL_TRIAL_TARGETS))
        return scn

    return shared_once(tmp_path_factory, "small_trial", build)
