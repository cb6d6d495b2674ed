"""ELISA plate readers: OD export layouts, plate maps and the bad-input messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from exomir.errors import ValidationError
from exomir.proteins.plates import read_elisa_plate, read_od, read_plate_map

ROWS = "ABCDEFGHIJKLMNOP"


def od_of(well: str, offset: float = 0.0) -> float:
    """Known OD of a well: 0.1 x row number + 0.01 x column (+ offset)."""
    return round(
        0.1 * (ROWS.index(well[0].upper()) + 1) + 0.01 * int(well[1:]) + offset, 4
    )


def grid_lines(
    nrow: int, ncol: int, sep: str, cell, head0: str = "", tail: str = ""
) -> list[str]:
    out = [sep.join([head0, *map(str, range(1, ncol + 1))])]
    for r in range(nrow):
        cells = [cell(f"{ROWS[r]}{c + 1}") for c in range(ncol)]
        out.append(sep.join([ROWS[r], *cells]) + (sep + tail if tail else ""))
    return out


def write(tmp: Path, name: str, lines: list[str]) -> Path:
    p = tmp / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_gen5_two_wavelength_blocks_with_reference(tmp_path):
    lines = ["Software Version\t3.11.19", "Plate Number\tPlate 1", "", "Results", ""]
    lines += grid_lines(8, 12, "\t", lambda w: f"{od_of(w, 0.05):.4f}", tail="450")
    lines += ["", *grid_lines(8, 12, "\t", lambda w: "0.0500", tail="570")]
    p = write(tmp_path, "gen5.txt", lines)
    od, size = read_od(p, wavelength=450, reference=570)
    assert size == 96 and len(od) == 96
    assert od.set_index("well").loc["C7", "od"] == pytest.approx(od_of("C7"))
    raw, _ = read_od(p, wavelength=450)
    assert raw.set_index("well").loc["H12", "od"] == pytest.approx(od_of("H12", 0.05))
    with pytest.raises(
        ValidationError, match=r"no wavelength 630 nm block.*found: 450 nm, 570 nm"
    ):
        read_od(p, wavelength=630)


def test_softmax_plate_block_without_row_letters(tmp_path):
    lines = [
        "##BLOCKS= 1",
        "Plate:\tPlate1\t1.3\tPlateFormat\tEndpoint\tAbsorbance\tRaw\tFALSE\t1\t\t450\t1\t12\t96",
    ]
    lines.append("\tTemperature(C)\t" + "\t".join(map(str, range(1, 13))))
    for r in range(8):
        temp = "24.1" if r == 0 else ""
        lines.append(
            "\t".join(
                ["", temp, *(f"{od_of(f'{ROWS[r]}{c}'):.4f}" for c in range(1, 13))]
            )
        )
    lines += ["", "~End"]
    od, size = read_od(write(tmp_path, "softmax.txt", lines), wavelength=450)
    assert size == 96
    assert od.set_index("well").loc["B3", "od"] == pytest.approx(od_of("B3"))


def test_magellan_semicolon_decimal_comma_384(tmp_path):
    lines = ["Measurement wavelength: 450 nm", "<>;" + ";".join(map(str, range(1, 25)))]
    lines += [
        ";".join(
            [
                ROWS[r],
                *(str(od_of(f"{ROWS[r]}{c}")).replace(".", ",") for c in range(1, 25)),
            ]
        )
        for r in range(16)
    ]
    od, size = read_od(write(tmp_path, "magellan.csv", lines))
    assert size == 384 and len(od) == 384
    assert od.set_index("well").loc["P24", "od"] == pytest.approx(od_of("P24"))


def test_long_lists(tmp_path):
    one = write(
        tmp_path,
        "long.tsv",
        ["Well\tOD", *(f"{w}\t{od_of(w)}" for w in ("A1", "A02", "b3"))],
    )
    od, size = read_od(one)
    assert size is None and list(od["well"]) == ["A1", "A2", "B3"]
    two = write(
        tmp_path, "long2.csv", ["Well,450nm,630nm", "A1,0.50,0.05", "A2,OVRFLW,0.05"]
    )
    od, _ = read_od(two, wavelength=450, reference=630)
    assert od["od"].iloc[0] == pytest.approx(0.45) and od["od"].iloc[1] == float("inf")
    dup = write(tmp_path, "dup.tsv", ["Well\tOD", "A1\t0.1", "A1\t0.2"])
    with pytest.raises(
        ValidationError,
        match=r"dup.tsv line 3 \(plate=P9, well=A1\).*well A1 appears twice \(lines 2 and 3\)",
    ):
        read_od(dup, plate_id="P9")


def _map_grid(cells: dict[str, str]) -> list[str]:
    return grid_lines(8, 12, "\t", lambda w: cells.get(w, ""))


def standard_cells(noms=(1000, 500, 250, 125, 62.5, 31.25, 15.625)) -> dict[str, str]:
    cells = {}
    for i, n in enumerate(noms):
        for col in (1, 2):
            cells[f"{ROWS[i]}{col}"] = f"std:S{i + 1}:{n}"
    cells["H1"] = cells["H2"] = "blank"
    cells["A3"] = cells["A4"] = "smp:PS001:2"
    cells["B3"] = cells["B4"] = "PS002"
    cells["C3"] = "qc:QC_low:40"
    return cells


def test_grid_map(tmp_path):
    lay, size = read_plate_map(write(tmp_path, "map.tsv", _map_grid(standard_cells())))
    assert size == 96
    a3 = lay.set_index("well").loc["A3"]
    assert (a3["role"], a3["protein_sample_id"], a3["dilution"], a3["replicate"]) == (
        "sample",
        "PS001",
        2.0,
        1,
    )
    assert lay.set_index("well").loc["A4", "replicate"] == 2
    assert lay.set_index("well").loc["G2", "nominal"] == 15.625
    assert (lay["role"] == "blank").sum() == 2 and "empty" not in set(lay["role"])


def test_map_errors_name_plate_well_and_line(tmp_path):
    cells = standard_cells()
    cells["D1"] = cells["D2"] = "std:S4:600"
    p = write(tmp_path, "bad_series.tsv", _map_grid(cells))
    with pytest.raises(
        ValidationError,
        match=r"bad_series.tsv line 5 \(plate=P1, well=D1\).*standard series is not monotone: level S3 = 250 then level S4 = 600",
    ):
        read_plate_map(p, plate_id="P1")
    cells = standard_cells()
    cells["E5"] = "std:S1"
    p = write(tmp_path, "bad_cell.tsv", _map_grid(cells))
    with pytest.raises(
        ValidationError, match=r"line 6 \(plate=P1, well=E5\).*std:<level>:<nominal"
    ):
        read_plate_map(p, plate_id="P1")
    p = write(
        tmp_path,
        "dup.tsv",
        ["well\trole\tsample_id", "A1\tsample\tPS1", "A01\tblank\t"],
    )
    with pytest.raises(
        ValidationError, match=r"dup.tsv line 3 \(plate=P1, well=A1\).*appears twice"
    ):
        read_plate_map(p, plate_id="P1")


def test_map_and_reads_disagree_in_shape(tmp_path):
    m = write(tmp_path, "map.tsv", _map_grid(standard_cells()))
    lines = grid_lines(16, 24, "\t", lambda w: "0.1")
    r = write(tmp_path, "reads.txt", lines)
    with pytest.raises(
        ValidationError,
        match=r"reads.txt \(plate=P2\).*disagree in shape.*map .*map.tsv is 96, the reads are 384",
    ):
        read_elisa_plate("P2", m, r, "IL6")
    few = write(tmp_path, "few.tsv", ["Well\tOD", "A1\t0.5"])
    with pytest.raises(
        ValidationError, match=r"few.tsv \(plate=P2, well=A2\).*have no OD"
    ):
        read_elisa_plate("P2", m, few, "IL6")


def test_read_elisa_plate(tmp_path):
    m = write(tmp_path, "map.tsv", _map_grid(standard_cells()))
    r = write(
        tmp_path,
        "reads.txt",
        ["450", *grid_lines(8, 12, "\t", lambda w: str(od_of(w)))],
    )
    plate = read_elisa_plate("P3", m, r, "IL6", size=96)
    assert plate.analytes == ["IL6"] and plate.size == 96
    assert len(plate.reads) == len(plate.layout) == 21
    assert plate.reads.set_index("well").loc["C3", "signal"] == pytest.approx(
        od_of("C3")
    )


def test_gen5_interleaved_reads_are_separate_wavelengths(tmp_path):
    """Gen5 multi-read layout: each row letter line is followed by the row's other read."""
    lines = ["Results", "\t" + "\t".join(map(str, range(1, 13)))]
    for r in "ABCDEFGH":
        lines.append(
            "\t".join(
                [r, *(f"{od_of(f'{r}{c}', 0.04):.4f}" for c in range(1, 13)), "450"]
            )
        )
        lines.append("\t".join(["", *("0.0400" for _ in range(12)), "570"]))
    p = write(tmp_path, "gen5_interleaved.txt", lines)
    od, size = read_od(p, wavelength=450, reference=570)
    assert size == 96 and len(od) == 96
    assert od.set_index("well").loc["H12", "od"] == pytest.approx(od_of("H12"))
    bad = write(
        tmp_path,
        "bad.txt",
        [lines[0], lines[1], lines[2].replace("0.", "x.", 1), *lines[3:]],
    )
    with pytest.raises(
        ValidationError,
        match=r"bad.txt line 3 \(well=A1\).*'x.\d+' is not an optical density",
    ):
        read_od(bad, wavelength=450)


def test_long_list_with_wavelength_column(tmp_path):
    lines = [
        "Well,Wavelength,OD",
        "A1,450.0,0.80",
        "A1,630.0,0.05",
        "A2,450.0,1.20",
        "A2,630.0,0.06",
    ]
    od, _ = read_od(write(tmp_path, "wl.csv", lines), wavelength=450, reference=630)
    assert list(od["od"]) == pytest.approx([0.75, 1.14])


def test_384_well_plate_end_to_end(tmp_path):
    """A 384-well list map (wells beyond H12) with a 16 x 24 grid export quantifies to the known truth."""
    import numpy as np

    from exomir.proteins.curves import ll5
    from exomir.proteins.quant import quantify
    from exomir.proteins.settings import CurveSettings, QuantSettings

    def od(conc: float) -> float:
        return round(
            0.05 + float(ll5(np.array([conc]), -1.0, 0.0, 3.0, 100.0, 1.0)[0]), 6
        )

    rows = ["well\trole\tsample_id\tlevel\tnominal\tdilution"]
    values = {}
    for i, n in enumerate([1000, 500, 250, 125, 62.5, 31.25, 15.625]):
        for col in (20, 21):
            w = f"{ROWS[8 + i]}{col}"
            rows.append(f"{w}\tstandard\t\tS{i + 1}\t{n}\t")
            values[w] = od(n)
    for w in ("P20", "P21"):
        rows.append(f"{w}\tblank\t\t\t\t")
        values[w] = 0.05
    for w in ("P23", "P24"):
        rows.append(f"{w}\tsample\tPS7\t\t\t10")
        values[w] = od(40.0)
    m = write(tmp_path, "map384.tsv", rows)
    r = write(
        tmp_path,
        "od384.txt",
        grid_lines(16, 24, "\t", lambda w: str(values.get(w, ""))),
    )
    plate = read_elisa_plate("P384", m, r, "IL6", size=384)
    assert plate.size == 384 and len(plate.reads) == 18
    res = quantify(plate, QuantSettings(curve=CurveSettings(model="4pl")))
    smp = res.samples.iloc[0]
    assert smp["flag"] == "ok" and smp["concentration"] == pytest.approx(
        400.0, rel=1e-4
    )
