"""Fixtures shared by the integration tests: one clean run of each real scenario.

Each run is made once per test session, also when pytest-xdist spreads the
tests over several processes (``shared_once``). Tests must not change them:
copy a run first (``copy_run``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _workflow import copy_scenario, run_snakemake, shared_once


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
