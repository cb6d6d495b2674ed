"""Luminex xPONENT exports: blocks, signals, bead counts, layout, bad input.

Fixtures: tests/data/proteins/luminex (README.md); the expected numbers below
are the hand-typed values of make_fixtures.py, repeated here by hand.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from exomir.errors import ValidationError
from exomir.proteins.luminex import (
    LuminexSettings,
    layout_from_names,
    read_wells,
)
from exomir.proteins.xponent import parse_xponent, well_table

DATA = Path(__file__).resolve().parents[1] / "data" / "proteins" / "luminex"
QUOTED = DATA / "xponent_quoted.csv"
CRLF = DATA / "xponent_unquoted_crlf.csv"
PANEL = ["IL6", "VEGF-A", "PlGF"]
STANDARDS = {
    "IL6": {"top": 10000, "dilution_factor": 3},
    "VEGF-A": {"levels": {"S1": 8000, "S2": 2000, "S3": 500}},
}
CONTROLS = {"IL6": {"C1": 1500.0}, "VEGF-A": {"C1": 900.0}}


def _signal(wells, well: str, analyte: str) -> float:
    s = wells.signals
    row = s[(s["well"] == well) & (s["analyte"] == analyte)]
    assert len(row) == 1
    return float(row["signal"].iloc[0])


def test_header_and_blocks() -> None:
    exp = parse_xponent(QUOTED)
    assert exp.header["Program"] == "xPONENT MAGPIX"
    assert exp.header["Batch"] == "EXO_LUM_PLATE01"
    assert exp.header["ProtocolName"] == "EXO_2plex"
    assert list(exp.blocks) == [
        "Median",
        "Net MFI",
        "Count",
        "Avg Net MFI",
        "Units",
        "Dilution Factor",
        "Warnings/Errors",
    ]
    med = well_table(exp, "Median")
    assert med is not None and len(med) == 24  # 12 wells x 2 analytes
    assert set(med["column"]) == {"IL-6", "VEGF-A"}


@pytest.mark.parametrize("path", [QUOTED, CRLF])
def test_signals_counts_dilutions(path: Path) -> None:
    wells = read_wells(parse_xponent(path), LuminexSettings(), panel=PANEL)
    # Panel names are used (IL-6 in the export = IL6 in the panel).
    assert set(wells.signals["analyte"]) == {"IL6", "VEGF-A"}
    assert _signal(wells, "C1", "IL6") == 15234.0
    assert _signal(wells, "D1", "IL6") == 15010.5
    assert _signal(wells, "F1", "VEGF-A") == 6980.5
    assert math.isnan(_signal(wells, "C2", "VEGF-A"))
    assert wells.dilution["B2"] == 2.0 and wells.dilution["A1"] == 1.0
    assert wells.samples["D2"] == "P002_W1"
    low = wells.counts[wells.counts["low_count"]]
    assert sorted(zip(low["well"], low["analyte"], strict=True)) == [
        ("B2", "VEGF-A"),
        ("C2", "VEGF-A"),
    ]
    c = wells.counts.set_index(["well", "analyte"])["count"]
    assert c[("B2", "VEGF-A")] == 20 and c[("C1", "IL6")] == 70
    strict = read_wells(parse_xponent(path), LuminexSettings(min_bead_count=50))
    low50 = strict.counts[strict.counts["low_count"]]
    assert sorted(zip(low50["well"], low50["analyte"], strict=True)) == [
        ("B2", "IL-6"),
        ("B2", "VEGF-A"),
        ("C2", "IL-6"),
        ("C2", "VEGF-A"),
        ("D2", "VEGF-A"),
    ]


def test_both_variants_agree_and_net_mfi_block() -> None:
    a = read_wells(parse_xponent(QUOTED), LuminexSettings())
    b = read_wells(parse_xponent(CRLF), LuminexSettings())
    cols = ["well", "analyte", "signal"]
    assert a.signals[cols].equals(b.signals[cols])
    net = read_wells(parse_xponent(QUOTED), LuminexSettings(datatype="Net MFI"))
    assert _signal(net, "A1", "IL-6") == -1.0
    assert _signal(net, "C1", "IL-6") == 15221.0


def test_layout_from_sample_names() -> None:
    wells = read_wells(parse_xponent(QUOTED), LuminexSettings(), panel=PANEL)
    settings = LuminexSettings(standards=STANDARDS, controls=CONTROLS)
    lay = layout_from_names(wells, settings, "x.csv")
    blanks = lay[lay["role"] == "blank"]
    assert list(blanks["well"]) == ["A1", "B1"] and list(blanks["replicate"]) == [1, 2]
    std = lay[(lay["role"] == "standard") & (lay["analyte"] == "IL6")]
    assert list(std["level"]) == ["S1", "S1", "S2", "S2", "S3", "S3"]
    assert list(std["replicate"]) == [1, 2, 1, 2, 1, 2]
    assert std["nominal"].tolist() == pytest.approx(
        [10000, 10000, 10000 / 3, 10000 / 3, 10000 / 9, 10000 / 9]
    )
    vegf = lay[(lay["role"] == "standard") & (lay["analyte"] == "VEGF-A")]
    assert vegf["nominal"].tolist() == [8000, 8000, 2000, 2000, 500, 500]
    qc = lay[lay["role"] == "qc"].set_index("analyte")
    assert qc.at["IL6", "nominal"] == 1500.0 and qc.at["IL6", "level"] == "C1"
    smp = lay[lay["role"] == "sample"]
    assert list(smp["protein_sample_id"]) == ["P001_BL", "P001_BL", "P002_W1"]
    assert list(smp["replicate"]) == [1, 2, 1]
    assert list(smp["dilution"]) == [2.0, 2.0, 2.0]
    with pytest.raises(ValidationError, match=r"proteins\.luminex\.standards\.VEGF-A"):
        layout_from_names(
            wells, LuminexSettings(standards={"IL6": STANDARDS["IL6"]}), "x.csv"
        )
    with pytest.raises(ValidationError, match=r"control Control1 \(well A2\)"):
        layout_from_names(wells, LuminexSettings(standards=STANDARDS), "x.csv")
    wells.samples["D2"] = "Unknown12"
    with pytest.raises(ValidationError, match="well D2 is named 'Unknown12'"):
        layout_from_names(wells, settings, "x.csv")


def _edit(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = QUOTED.read_text()
    assert old in text
    p = tmp_path / "edited.csv"
    p.write_text(text.replace(old, new, count))
    return p


def test_no_median_block(tmp_path: Path) -> None:
    p = _edit(tmp_path, '"DataType:","Median"', '"DataType:","Mean"')
    with pytest.raises(ValidationError) as exc:
        read_wells(parse_xponent(p, "edited.csv"), LuminexSettings())
    msg = str(exc.value)
    assert "edited.csv: no 'DataType: Median' block" in msg
    assert "blocks found: Mean, Net MFI, Count" in msg
    q = tmp_path / "none.csv"
    q.write_text('"Program","xPONENT"\n"Batch","B1"\n')
    with pytest.raises(ValidationError, match="not an xPONENT export"):
        parse_xponent(q, "none.csv")


def test_repeated_block_is_ambiguous_only_when_read(tmp_path: Path) -> None:
    text = QUOTED.read_text()
    extra = '"DataType:","Net MFI"\n"Location","Sample","IL-6"\n"1(1,A1)","Background0","1"\n\n'
    p = tmp_path / "twice.csv"
    p.write_text(text.replace('"DataType:","Count"', extra + '"DataType:","Count"'))
    exp = parse_xponent(p, "twice.csv")
    assert len(read_wells(exp, LuminexSettings()).signals) == 24
    with pytest.raises(ValidationError, match="a second 'DataType: Net MFI' block"):
        read_wells(exp, LuminexSettings(datatype="Net MFI"))


def test_location_not_a_well(tmp_path: Path) -> None:
    p = _edit(tmp_path, '"3(1,C1)","Standard1"', '"3(1,Z1)","Standard1"')
    with pytest.raises(ValidationError) as exc:
        read_wells(parse_xponent(p, "edited.csv"), LuminexSettings())
    assert (
        "edited.csv line 26, column 'Location': Location '3(1,Z1)' is not a well"
        in str(exc.value)
    )


def test_analyte_not_in_panel(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        read_wells(parse_xponent(QUOTED, "q.csv"), LuminexSettings(), panel=["IL6"])
    msg = str(exc.value)
    assert "q.csv line 23, column 'VEGF-A': analyte 'VEGF-A' is not in the panel" in msg


def test_duplicate_well_and_bad_number(tmp_path: Path) -> None:
    p = _edit(tmp_path, '"4(1,D1)","Standard1"', '"4(1,C1)","Standard1"')
    with pytest.raises(ValidationError) as exc:
        read_wells(parse_xponent(p, "edited.csv"), LuminexSettings())
    assert "well C1 appears twice in the 'Median' block (also line 26)" in str(
        exc.value
    )
    q = _edit(tmp_path, '"15234"', '"15,234x"')
    with pytest.raises(
        ValidationError, match="column 'IL-6': '15,234x' is not a number"
    ):
        read_wells(parse_xponent(q, "edited.csv"), LuminexSettings())


def test_missing_count_block(tmp_path: Path) -> None:
    p = _edit(tmp_path, '"DataType:","Count"', '"DataType:","Counts removed"')
    with pytest.raises(ValidationError, match="no 'DataType: Count' block"):
        read_wells(parse_xponent(p), LuminexSettings())
    wells = read_wells(parse_xponent(p), LuminexSettings(min_bead_count=0))
    assert not wells.counts["low_count"].any()


def test_read_luminex_gives_plate_data() -> None:
    pytest.importorskip("exomir.proteins.plates")
    from exomir.proteins.luminex import read_luminex

    settings = LuminexSettings(standards=STANDARDS, controls=CONTROLS)
    res = read_luminex("LUM01", QUOTED, panel=PANEL, settings=settings)
    plate = res.plate
    assert plate.assay == "luminex" and plate.plate_id == "LUM01" and plate.size == 96
    assert list(plate.reads.columns) == ["well", "analyte", "signal"]
    assert len(plate.reads) == 24
    assert list(plate.reads["well"][:4]) == ["A1", "A1", "A2", "A2"]
    std = plate.layout_for("VEGF-A")
    assert std.loc[std["well"] == "E1", "nominal"].iloc[0] == 2000
    assert res.header["Batch"] == "EXO_LUM_PLATE01"
    assert res.unmapped_wells == []


def test_read_luminex_with_plate_map() -> None:
    pytest.importorskip("exomir.proteins.plates")
    from exomir.proteins.luminex import read_luminex

    res = read_luminex("LUM01", CRLF, map_path=DATA / "plate_map.tsv", panel=PANEL)
    # D2 was acquired but is not in the map: reported, not in the plate.
    assert res.unmapped_wells == ["D2"]
    assert "D2" not in set(res.plate.reads["well"])
    il6 = res.plate.layout_for("IL6")
    assert il6.loc[il6["well"] == "G1", "nominal"].iloc[0] == 625
    smp = il6[il6["role"] == "sample"]
    assert list(smp["dilution"]) == [2.0, 2.0]
    # The low-count flags travel with the plate.
    low = res.bead_counts[res.bead_counts["low_count"]]
    assert list(low["well"]) == ["B2", "C2"]
