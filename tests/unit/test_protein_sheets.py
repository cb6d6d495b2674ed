"""Protein sheets: schema load and cross-checks give one clear message per bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.errors import ValidationError
from exomir.proteins.sheets import check_protein_sheets
from exomir.simulate.plates import (
    DEMO_PANEL,
    PlateSimParams,
    panel_config,
    render_plates,
)
from exomir.tables import read_table, write_table

PANEL = {a: DEMO_PANEL[a] for a in ("IL6", "PlGF")}


@pytest.fixture
def scn(tmp_path: Path) -> dict:
    """Two small plates (IL6, PlGF) with their sheets; returns the pieces."""
    ids = [f"PS{i:02d}" for i in range(6)]
    samples = pd.DataFrame(
        {
            "protein_sample_id": ids,
            "participant_id": [f"P{i // 2}" for i in range(6)],
            "visit": ["baseline", "week1"] * 3,
            "matrix": "plasma",
        }
    )
    levels = pd.DataFrame(
        [(s, a, DEMO_PANEL[a][3]) for s in ids for a in PANEL],
        columns=["protein_sample_id", "analyte", "true_conc"],
    )
    sp = PlateSimParams(
        analytes=PANEL, outlier=False, out_of_range=False, failing_plate=False
    )
    out = render_plates(levels, sp, np.random.default_rng(1), tmp_path)
    cfg_dir = tmp_path / "config"
    cfg_dir.mkdir()
    write_table(samples, cfg_dir / "protein_samples.tsv")
    write_table(out["protein_plates"], cfg_dir / "protein_plates.tsv")
    cfg = {
        "design": {
            "timepoints": ["baseline", "week1"],
            "visits": ["baseline", "week1"],
        },
        "proteins": {"panel": panel_config(PANEL)},
    }
    return {
        "dir": tmp_path,
        "cfg": cfg,
        "participants": pd.DataFrame({"participant_id": ["P0", "P1", "P2"]}),
    }


def issues(scn: dict) -> list[str]:
    d = scn["dir"]
    tables = {
        "participants": scn["participants"],
        "protein_samples": read_table(
            d / "config/protein_samples.tsv",
            "protein_samples",
            "config/protein_samples.tsv",
        ),
        "protein_plates": read_table(
            d / "config/protein_plates.tsv",
            "protein_plates",
            "config/protein_plates.tsv",
        ),
    }
    labels = {
        "protein_samples": "config/protein_samples.tsv",
        "protein_plates": "config/protein_plates.tsv",
    }
    return [str(i) for i in check_protein_sheets(tables, scn["cfg"], labels, d, True)]


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def test_valid_sheets_have_no_issues(scn):
    assert issues(scn) == []


def test_sample_not_in_samples_sheet(scn):
    edit(scn["dir"] / "data/proteins/ELISA01_map.tsv", "smp:PS03", "smp:PS99")
    (msg,) = issues(scn)
    assert msg.startswith("data/proteins/ELISA01_map.tsv (plate=ELISA01, well=")
    assert "protein sample 'PS99' is not in the protein samples sheet" in msg


def test_analyte_not_in_panel(scn):
    edit(scn["dir"] / "config/protein_plates.tsv", "\tPlGF\t", "\tPIGF\t")
    (msg,) = issues(scn)
    assert msg.startswith(
        "config/protein_plates.tsv line 3 (plate_id=ELISA02), column 'analyte'"
    )
    assert "analyte 'PIGF' is not in the panel config proteins.panel (IL6, PlGF)" in msg


def test_duplicate_well_in_map(scn):
    m = scn["dir"] / "data/proteins/ELISA01_map.tsv"
    m.write_text("well\trole\tlevel\tnominal\nA1\tblank\t\t\nA01\tstandard\tS1\t300\n")
    (msg,) = issues(scn)
    assert (
        msg
        == "data/proteins/ELISA01_map.tsv line 3 (plate=ELISA01, well=A1): well A1 appears twice (lines 2 and 3)"
    )


def test_map_and_reads_disagree_in_shape(scn):
    edit(scn["dir"] / "config/protein_plates.tsv", "\t96\t", "\t384\t")
    (msg,) = issues(scn)
    assert (
        "(plate=ELISA01): map and reads disagree in shape: the sheet says 384 wells"
        in msg
    )
    assert msg.startswith("data/proteins/ELISA01_od.txt")


def test_standard_series_not_monotone(scn):
    edit(scn["dir"] / "data/proteins/ELISA02_map.tsv", "std:S3:500", "std:S3:1500", -1)
    msgs = issues(scn)
    assert len(msgs) == 1 and "data/proteins/ELISA02_map.tsv line" in msgs[0]
    assert (
        "(plate=ELISA02, well=C1)" in msgs[0]
        and "standard series is not monotone: level S2 = 1000 then level S3 = 1500"
        in msgs[0]
    )


def test_sample_sheet_rows(scn):
    p = scn["dir"] / "config/protein_samples.tsv"
    edit(p, "PS05\tP2\tweek1", "PS04\tP9\tmonth7")
    msgs = issues(scn)
    assert any(
        "line 7 (protein_sample_id=PS04), column 'protein_sample_id': protein_sample_id also on line 6"
        in m
        for m in msgs
    )
    assert any("participant 'P9' is not in participants.tsv" in m for m in msgs)
    assert any(
        "visit 'month7' is not a configured visit (baseline, week1)" in m for m in msgs
    )


def test_schema_rejects_bad_assay(scn):
    edit(scn["dir"] / "config/protein_plates.tsv", "\telisa\t", "\tRIA\t")
    with pytest.raises(ValidationError, match="column 'assay'"):
        issues(scn)


def test_config_block_validated_and_defaults():
    import yaml

    from exomir.config import validate_config
    from exomir.proteins.settings import quant_settings

    repo = Path(__file__).resolve().parents[2]
    cfg = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    cfg["proteins"] = {"curve": {"model": "6pl"}, "panel": {"IL6": {"label": "IL-6"}}}
    with pytest.raises(ValidationError) as exc:
        validate_config(cfg, "config/config.yaml")
    text = str(exc.value)
    assert (
        "column 'proteins.curve.model': '6pl' is not allowed; use one of: 4pl, 5pl, auto"
        in text
    )
    assert "column 'proteins.panel.IL6': required entry 'unit' is missing" in text
    cfg["proteins"] = {
        "curve": {"model": "5pl"},
        "acceptance": {"recovery": [0.85, 1.15]},
    }
    s = quant_settings(validate_config(cfg, "config/config.yaml"))
    assert s.curve.model == "5pl" and s.curve.weighting == "1/y^2"
    assert s.acceptance.recovery == (0.85, 1.15) and s.acceptance.max_cv == 0.2
