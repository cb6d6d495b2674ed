"""Test-session settings shared by every test folder.

`make test` spreads the tests over the machine's cores with pytest-xdist
(``--dist loadscope``: the tests of one module run in one process, so a
module's fixtures are built once). Modules that hold a long workflow run are
put first, so that no process is left with one of them at the end.
"""

from __future__ import annotations

import pytest

#: Modules whose tests hold the longest runs, longest first (from
#: ``--durations``); every other module keeps its place after them.
LONG_FIRST = (
    "tests/integration/test_slurm.py",
    "tests/integration/test_faults.py",
    "tests/integration/test_safety_stage.py",
    "tests/integration/test_study_shapes.py",
    "tests/integration/test_damaged_intermediates.py",
    "tests/integration/test_report_firewall.py",
    "tests/integration/test_bad_inputs.py",
    "tests/integration/test_workflow.py",
    "tests/integration/test_reads_accuracy.py",
    "tests/unit/test_clinical_coverage.py",
)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Put the modules of :data:`LONG_FIRST` first, in that order."""
    rank = {name: i for i, name in enumerate(LONG_FIRST)}

    def key(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: the order within a module is kept
