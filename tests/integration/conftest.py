"""Fixtures shared by the integration tests: one clean run of real_human."""

from __future__ import annotations

from pathlib import Path

import pytest
from _workflow import copy_scenario, run_snakemake


@pytest.fixture(scope="session")
def real_human_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped real_human scenario after one complete, uninterrupted run.

    Shared by the determinism and fault tests (one workflow run instead of one
    per test). Tests must not change it: copy it first (``copy_run``).
    """
    scn = copy_scenario("real_human", tmp_path_factory.mktemp("real_human_clean"))
    run_snakemake(scn)
    return scn
