"""Workflow jobs import only what their work needs (issue 22, per-job overhead).

Each job is a fresh process, so a heavy module imported by a light job costs
its import time once per job (pandas about 0.3 s, scipy.stats about 1 s; see
docs/performance.md, "Per-job overhead"). Checked in a fresh interpreter: the
modules a job imports must not pull in these libraries.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def loaded_after(statement: str, modules: list[str]) -> list[str]:
    """Return which of ``modules`` a fresh interpreter has loaded after ``statement``."""
    code = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_library_job_does_not_load_pandas_or_jsonschema() -> None:
    heavy = ["pandas", "pyarrow", "scipy.stats", "jsonschema", "anndata"]
    assert loaded_after("import exomir.reads.library", heavy) == []


@pytest.mark.parametrize(
    "statement",
    ["import exomir.clinical.stage", "from exomir.de.normalise import LAYER_VST"],
)
def test_light_de_imports_do_not_load_the_fit(statement: str) -> None:
    assert loaded_after(statement, ["exomir.de.fit", "scipy.stats", "pydeseq2"]) == []


def test_de_package_exports_still_resolve() -> None:
    import exomir.de as de
    from exomir.de import fit as fit_module
    from exomir.de.normalise import normalise

    assert de.normalise is normalise  # the function, not the submodule
    assert de.fit_contrast is fit_module.fit_contrast
    assert sorted(de.__all__) == sorted(set(de.__all__))
    for name in de.__all__:
        assert getattr(de, name) is not None
    with pytest.raises(AttributeError):
        _ = de.no_such_name
