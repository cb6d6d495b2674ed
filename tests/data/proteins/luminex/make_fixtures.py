"""Write the hand-made xPONENT-style exports of this directory.

Every number below is typed by hand (invented, no instrument data); the layout
follows the xPONENT CSV batch export as publicly documented (header lines,
then "DataType:" blocks of Location / Sample / analyte / Total Events rows).
Run from this directory: ``python make_fixtures.py``.
"""

from __future__ import annotations

ANALYTES = ["IL-6", "VEGF-A"]
# well, sample, median MFI (IL-6, VEGF-A), bead count (IL-6, VEGF-A), dilution
WELLS = [
    ("A1", "Background0", ("12", "15"), (60, 58), 1),
    ("B1", "Background0", ("14", "13"), (55, 61), 1),
    ("C1", "Standard1", ("15234", "20110"), (70, 66), 1),
    ("D1", "Standard1", ("15010.5", "19876"), (64, 71), 1),
    ("E1", "Standard2", ("5123", "7012"), (58, 60), 1),
    ("F1", "Standard2", ("5201", "6980.5"), (62, 57), 1),
    ("G1", "Standard3", ("1530", "2210"), (61, 63), 1),
    ("H1", "Standard3", ("1498", "2187"), (59, 65), 1),
    ("A2", "Control1", ("3120", "4410"), (52, 50), 1),
    ("B2", "P001_BL", ("845.5", "1210"), (48, 20), 2),
    ("C2", "P001_BL", ("860", "NaN"), (47, 0), 2),
    ("D2", "P002_W1", ("402", "655"), (51, 49), 2),
]
HEADER = [
    ["Program", "xPONENT", "", "MAGPIX"],
    ["Build", "4.3.229.0"],
    ["Date", "11/03/2026", "10:15 AM"],
    [],
    ["SN", "MAGPX00000"],
    ["Batch", "EXO_LUM_PLATE01"],
    ["Version", "1"],
    ["Operator", "tech01"],
    ["ComputerName", "LAB-PC"],
    ["ProtocolName", "EXO_2plex"],
    ["ProtocolVersion", "1"],
    ["SampleVolume", "50 uL"],
    ["BatchStartTime", "11/3/2026 10:15:02 AM"],
    ["BatchStopTime", "11/3/2026 10:41:40 AM"],
    ["ProtocolPlate", "Name", "Costar", "Type", "96", "Plates", "1"],
    ["ProtocolMicrosphere", "Map", "MagPlex", "Type", "MagPlex", "Count", "2"],
    [],
    ["Samples", "12", "Min Events", "50", "Per Bead"],
    [],
    ["Results"],
    [],
]


def _loc(i: int, well: str) -> str:
    return f"{i}({1},{well})"


def _net(v: str, bg: float) -> str:
    return "NaN" if v == "NaN" else f"{float(v) - bg:g}"


def blocks(dilution_column: bool, net: bool) -> list[list[str]]:
    """Rows of the result blocks."""
    rows: list[list[str]] = []
    extra = ["Dilution"] if dilution_column else []
    rows.append(["DataType:", "Median"])
    rows.append(["Location", "Sample", *extra, *ANALYTES, "Total Events"])
    for i, (w, s, mfi, cnt, dil) in enumerate(WELLS, start=1):
        d = [str(dil)] if dilution_column else []
        rows.append([_loc(i, w), s, *d, *mfi, str(sum(cnt) + 40)])
    rows.append([])
    if net:
        bg = (13.0, 14.0)  # mean of the two Background0 wells
        rows.append(["DataType:", "Net MFI"])
        rows.append(["Location", "Sample", *ANALYTES, "Total Events"])
        for i, (w, s, mfi, cnt, _) in enumerate(WELLS, start=1):
            nets = [_net(m, b) for m, b in zip(mfi, bg, strict=True)]
            rows.append([_loc(i, w), s, *nets, str(sum(cnt) + 40)])
        rows.append([])
    rows.append(["DataType:", "Count"])
    rows.append(["Location", "Sample", *ANALYTES, "Total Events"])
    for i, (w, s, _, cnt, _) in enumerate(WELLS, start=1):
        rows.append([_loc(i, w), s, *(str(c) for c in cnt), str(sum(cnt) + 40)])
    rows.append([])
    rows.append(["DataType:", "Avg Net MFI"])
    rows.append(["Sample", *ANALYTES])
    rows.append(["Background0", "0", "0"])
    rows.append([])
    rows.append(["DataType:", "Units"])
    rows.append(["Analyte:", *ANALYTES])
    rows.append(["BeadID:", "25", "43"])
    rows.append(["Units:", "Bead", "Bead"])
    rows.append([])
    if not dilution_column:
        rows.append(["DataType:", "Dilution Factor"])
        rows.append(["Location", "Sample", "Dilution Factor"])
        for i, (w, s, _, _, dil) in enumerate(WELLS, start=1):
            rows.append([_loc(i, w), s, str(dil)])
        rows.append([])
    rows.append(["DataType:", "Warnings/Errors"])
    rows.append(["Location", "Status", "Message"])
    rows.append(
        [
            "1,C2",
            "Warning",
            "The acquisition had at least one region that did not reach the specified count.",
        ]
    )
    rows.append([])
    rows.append(["-- CRC --"])
    rows.append(["CRC32: 00000000"])
    return rows


def quoted(rows: list[list[str]]) -> str:
    return "".join(",".join(f'"{c}"' for c in r) + "\n" for r in rows)


def unquoted_padded(rows: list[list[str]], width: int = 10) -> str:
    out = []
    for r in rows:
        cells = [f'"{c}"' if "," in c else c for c in r]
        out.append(",".join(cells + [""] * (width - len(cells))))
    return "\r\n".join(out) + "\r\n"


if __name__ == "__main__":
    with open("xponent_quoted.csv", "w", newline="") as fh:
        fh.write(quoted(HEADER + blocks(dilution_column=False, net=True)))
    with open("xponent_unquoted_crlf.csv", "w", newline="") as fh:
        fh.write(unquoted_padded(HEADER + blocks(dilution_column=True, net=False)))
