"""Fixtures shared by the unit tests."""

from __future__ import annotations

import logging
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exomir.config import resources_dir
from exomir.reads.reference import (
    Reference,
    default_contaminants,
    load_reference,
    prepare_reference,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def hsa_ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The human miRBase v22 reference with the shipped contaminant categories."""
    res = resources_dir()
    hsa = res / "mirbase" / "v22" / "hsa"
    out = tmp_path_factory.mktemp("ref") / "hsa"
    prepare_reference(
        hsa / "mature.fa",
        hsa / "hairpin.fa",
        out,
        species="hsa",
        contaminants=default_contaminants(res),
        threads=2,
    )
    return load_reference(out)


@pytest.fixture
def broken_hsa_ref(hsa_ref: Reference, tmp_path: Path) -> Reference:
    """``hsa_ref`` with a hairpin index that does not exist (bowtie fails)."""
    return Reference(
        directory=tmp_path,
        species="hsa",
        database="miRBasev22",
        hairpin_index=tmp_path / "missing",
        hairpins=hsa_ref.hairpins,
        loci=hsa_ref.loci,
        contaminants=hsa_ref.contaminants,
        contaminant_index=hsa_ref.contaminant_index,
    )


@pytest.fixture
def run_script() -> Callable[[str, Any], None]:
    """Run ``workflow/scripts/<name>`` as Snakemake does (a ``snakemake`` global).

    The root logger's handlers and level, which the scripts set up, are
    restored afterwards.
    """

    def run(name: str, smk: Any) -> None:
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        try:
            runpy.run_path(
                str(ROOT / "workflow" / "scripts" / name),
                init_globals={"snakemake": smk},
            )
        finally:
            for h in root.handlers[:]:
                if h not in saved[0]:
                    root.removeHandler(h)
                    h.close()
            for h in saved[0]:
                if h not in root.handlers:
                    root.addHandler(h)
            root.setLevel(saved[1])
            logging.captureWarnings(False)

    return run
