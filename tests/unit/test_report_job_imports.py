"""The report jobs do not import the statistics they only quote (issue 22).

``report_open``, ``report_closed`` and ``report_blind`` are fresh processes;
importing the interim analysis or the protein integration for a column list
or a caveat text cost them scipy.stats, statsmodels and polars at every start.
Checked in a fresh interpreter; the quoted constants must stay the ones the
analyses write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ["scipy.stats", "statsmodels", "polars", "sklearn"]


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "statement", ["import exomir.report.firewall", "import exomir.report.builder"]
)
def test_report_modules_do_not_load_the_statistics(statement: str) -> None:
    assert _loaded_after(statement) == []


def test_quoted_constants_are_the_analyses_own() -> None:
    from exomir.clinical import interim
    from exomir.proteins import integration
    from exomir.report import firewall
    from exomir.report.sections import integration as section

    assert interim.INTERIM_COLUMNS[0] == "report"
    assert "observed_t" in interim.INTERIM_COLUMNS
    assert firewall.INTERIM_DESIGN_COLUMNS == tuple(
        interim.INTERIM_COLUMNS[: interim.INTERIM_COLUMNS.index("observed_t")]
    )
    assert section.EXPLORATORY is integration.EXPLORATORY
    assert integration.EXPLORATORY.startswith("Exploratory:")
