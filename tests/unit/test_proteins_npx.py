"""Olink NPX long tables: reading, LOD/QC flags, bridge normalisation, bad input.

Fixtures are hand-written (tests/data/proteins/npx/README.md); every expected
number below is read off or computed by hand from those files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.errors import ValidationError
from exomir.proteins.npx import NpxSettings, read_npx
from exomir.proteins.npx_qc import process_npx, write_npx_outputs

DATA = Path(__file__).resolve().parents[1] / "data" / "proteins" / "npx"
PANEL = ["IL-6", "VEGF-A"]


def _samples(*ids: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "protein_sample_id": list(ids),
            "participant_id": [f"P{i[1:]}" for i in ids],
            "visit": ["baseline"] * len(ids),
        }
    )


def _value(df: pd.DataFrame, sample: str, analyte: str, col: str):
    row = df[(df["protein_sample_id"] == sample) & (df["analyte"] == analyte)]
    assert len(row) == 1
    return row[col].iloc[0]


def test_comma_and_semicolon_variants_read_the_same_values() -> None:
    comma = read_npx(DATA / "target96_comma.csv")
    semi = read_npx(DATA / "target96_semicolon.csv")
    cols = ["sample_id", "olink_id", "plate_id", "qc_warning", "npx", "lod"]
    pd.testing.assert_frame_equal(comma[cols], semi[cols])
    il6 = comma[(comma["sample_id"] == "S01") & (comma["assay"] == "IL6")]
    assert il6["npx"].iloc[0] == pytest.approx(4.532)
    assert il6["lod"].iloc[0] == pytest.approx(2.10)
    assert comma.loc[comma["sample_id"] == "S02", "qc_warning"].all()
    assert np.isnan(
        comma[(comma["sample_id"] == "S03") & (comma["assay"] == "VEGFA")]["npx"]
    ).all()
    assert list(semi["line"][:2]) == [2, 3]


def test_flags_lod_kept_and_qc_warning_policies() -> None:
    samples = _samples("S01", "S02", "S03")
    res = process_npx(
        [DATA / "target96_comma.csv"], NpxSettings(), panel=PANEL, samples=samples
    )
    conc = res.concentrations
    # CONTROL_SAMPLE_1 is a control: not in the concentrations table.
    assert set(conc["protein_sample_id"]) == {"S01", "S02", "S03"}
    assert set(conc["unit"]) == {"NPX"}
    assert _value(conc, "S01", "IL-6", "flag") == "ok"
    assert _value(conc, "S01", "IL-6", "concentration") == pytest.approx(4.532)
    # S03 IL6: 1.875 < LOD 2.10 -> flagged, value kept (lod_policy keep).
    assert _value(conc, "S03", "IL-6", "flag") == "below_lod"
    assert _value(conc, "S03", "IL-6", "concentration") == pytest.approx(1.875)
    assert _value(conc, "S03", "VEGF-A", "flag") == "not_measured"
    assert np.isnan(_value(conc, "S03", "VEGF-A", "concentration"))
    # S02 has a QC warning: excluded by default.
    assert _value(conc, "S02", "VEGF-A", "flag") == "qc_warning"
    assert np.isnan(_value(conc, "S02", "VEGF-A", "concentration"))
    assert _value(conc, "S01", "IL-6", "participant_id") == "P01"
    qc = res.plate_qc.set_index("plate_id").loc["Run1_Plate1"]
    assert qc["n_samples"] == 3 and qc["n_controls"] == 1
    assert qc["qc_warning_samples"] == "S02"
    assert qc["n_missing"] == 1
    # Below LOD: S02 IL6 1.950 and S03 IL6 1.875 (of 7 measured values).
    assert qc["n_below_lod"] == 2
    assert qc["pct_below_lod"] == pytest.approx(200 / 7)

    keep = process_npx(
        [DATA / "target96_comma.csv"],
        NpxSettings(lod_policy="exclude", qc_warning_policy="keep"),
        panel=PANEL,
        samples=samples,
    ).concentrations
    assert _value(keep, "S03", "IL-6", "flag") == "below_lod"
    assert np.isnan(_value(keep, "S03", "IL-6", "concentration"))
    assert _value(keep, "S02", "VEGF-A", "flag") == "ok"
    assert _value(keep, "S02", "VEGF-A", "concentration") == pytest.approx(10.204)
    assert _value(keep, "S02", "IL-6", "flag") == "below_lod"


def test_explore_layout_sampletype_and_sampleqc() -> None:
    res = process_npx(
        [DATA / "explore_style.tsv"],
        NpxSettings(qc_warning_policy="keep"),
        samples=_samples("S01", "S02"),
    )
    conc = res.concentrations
    assert list(conc["protein_sample_id"]) == ["S01", "S02"]
    assert _value(conc, "S01", "IL6", "concentration") == pytest.approx(3.118)
    assert _value(conc, "S02", "IL6", "flag") == "below_lod"
    assert res.plate_qc["n_controls"].iloc[0] == 1
    assert res.plate_qc["qc_warning_samples"].iloc[0] == "S02"


def test_bridge_normalisation_hand_computed(tmp_path: Path) -> None:
    settings = NpxSettings(bridge_samples=("B1", "B2", "B3"), min_bridge=3)
    samples = _samples("S01", "S04", "S05", "S06")
    res = process_npx(
        [DATA / "bridge_two_plates.csv"], settings, panel=PANEL, samples=samples
    )
    adj = res.adjustments.set_index(["plate_id", "assay"])["adjustment"]
    assert adj[("P1", "IL6")] == 0.0
    assert adj[("P2", "IL6")] == pytest.approx(0.5)
    assert adj[("P2", "VEGFA")] == pytest.approx(-0.4)
    conc = res.concentrations
    # Bridge samples are not trial samples: not in the table.
    assert set(conc["protein_sample_id"]) == {"S01", "S04", "S05", "S06"}
    assert _value(conc, "S04", "IL-6", "concentration") == pytest.approx(3.5)
    assert _value(conc, "S04", "VEGF-A", "concentration") == pytest.approx(8.6)
    assert _value(conc, "S01", "IL-6", "concentration") == pytest.approx(4.0)
    # LOD moves with the adjustment: S05 2.2+0.5=2.7 >= 2.5; S06 2.3 < 2.5.
    assert _value(conc, "S05", "IL-6", "flag") == "ok"
    assert _value(conc, "S06", "IL-6", "flag") == "below_lod"
    assert _value(conc, "S06", "IL-6", "concentration") == pytest.approx(2.3)
    qc = res.plate_qc.set_index("plate_id")
    assert bool(qc.at["P1", "reference"]) and not bool(qc.at["P2", "reference"])
    assert qc.at["P2", "n_bridge"] == 3
    # The reference plate can be chosen: P2 then moves P1 by the opposite sign.
    res2 = process_npx(
        [DATA / "bridge_two_plates.csv"],
        NpxSettings(("B1", "B2", "B3"), min_bridge=3, reference_plate="P2"),
        panel=PANEL,
        samples=samples,
    )
    adj2 = res2.adjustments.set_index(["plate_id", "assay"])["adjustment"]
    assert adj2[("P1", "IL6")] == pytest.approx(-0.5)
    # A bridge sample that is also a trial sample: mean over its two plates.
    both = process_npx(
        [DATA / "bridge_two_plates.csv"],
        settings,
        panel=PANEL,
        samples=_samples("S01", "S04", "S05", "S06", "B2"),
    ).concentrations
    assert _value(both, "B2", "IL-6", "concentration") == pytest.approx(
        (6.0 + 5.2 + 0.5) / 2
    )
    assert _value(both, "B2", "IL-6", "plate_id") == "P1;P2"
    assert _value(both, "S01", "IL-6", "plate_id") == "P1"
    paths = write_npx_outputs(res, tmp_path)
    back = pd.read_csv(paths["concentrations"], sep="\t")
    assert list(back.columns) == list(res.concentrations.columns)
    assert len(back) == len(res.concentrations)


def _write(tmp_path: Path, text: str, name: str = "npx.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


HEADER = "SampleID,OlinkID,UniProt,Assay,PlateID,QC_Warning,LOD,NPX\n"


def test_non_numeric_npx_names_the_row(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        HEADER
        + "S01,OID1,P05231,IL6,PL1,Pass,1.0,3.2\n"
        + "S02,OID1,P05231,IL6,PL1,Pass,1.0,3..1\n",
    )
    with pytest.raises(ValidationError) as exc:
        read_npx(p, "npx.csv")
    msg = str(exc.value)
    assert "npx.csv line 3 (SampleID=S02, OlinkID=OID1), column 'NPX'" in msg
    assert "'3..1' is not a number" in msg


def test_bridge_sample_missing_from_a_plate(tmp_path: Path) -> None:
    src = (DATA / "bridge_two_plates.csv").read_text().splitlines()
    kept = [ln for ln in src if not (ln.startswith("B3,") and ",P2," in ln)]
    p = _write(tmp_path, "\n".join(kept) + "\n")
    with pytest.raises(ValidationError) as exc:
        process_npx([p], NpxSettings(("B1", "B2", "B3"), min_bridge=3), panel=PANEL)
    msg = str(exc.value)
    assert "plate P2 has 2 of the 3 bridge samples" in msg
    assert "missing: B3" in msg
    # With min_bridge 2 the same file is accepted (two pairs per assay).
    res = process_npx([p], NpxSettings(("B1", "B2", "B3"), min_bridge=2), panel=PANEL)
    adj = res.adjustments.set_index(["plate_id", "assay"])["adjustment"]
    assert adj[("P2", "IL6")] == pytest.approx((0.5 + 0.8) / 2)


def test_unlisted_assay_duplicate_and_missing_column(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER + "S01,OID9,Q99999,MYSTERY,PL1,Pass,1.0,3.2\n")
    with pytest.raises(ValidationError, match=r"assay MYSTERY .* is not in the panel"):
        process_npx([p], NpxSettings(), panel=PANEL)
    res = process_npx([p], NpxSettings(unlisted_assays="ignore"), panel=PANEL)
    assert res.ignored_assays == ["MYSTERY"] and res.concentrations.empty

    d = _write(
        tmp_path,
        HEADER
        + "S01,OID1,P05231,IL6,PL1,Pass,1.0,3.2\n"
        + "S01,OID1,P05231,IL6,PL1,Pass,1.0,3.3\n",
        "dup.csv",
    )
    with pytest.raises(
        ValidationError, match=r"line 3.*twice on plate PL1 \(also line 2\)"
    ):
        read_npx(d, "dup.csv")

    m = _write(tmp_path, "SampleID,Assay,NPX\nS01,IL6,3.2\n", "cols.csv")
    with pytest.raises(ValidationError, match="missing column\\(s\\) OlinkID, PlateID"):
        read_npx(m, "cols.csv")

    q = _write(tmp_path, HEADER + "S01,OID1,P05231,IL6,PL1,Maybe,1.0,3.2\n", "qc.csv")
    with pytest.raises(ValidationError, match="QC value 'Maybe'"):
        read_npx(q, "qc.csv")


def test_plates_of_the_sheet_and_one_file_for_several_plates() -> None:
    path = DATA / "bridge_two_plates.csv"
    settings = NpxSettings(("B1", "B2", "B3"), min_bridge=3)
    res = process_npx([path, path], settings, panel=PANEL, plates=["P1", "P2"])
    assert len(res.detail) == 20
    with pytest.raises(ValidationError) as exc:
        process_npx([path], settings, panel=PANEL, plates=["P1", "P3"])
    msg = str(exc.value)
    assert (
        "line 8, column 'PlateID': plate P2 is not in the protein plates sheet" in msg
    )
    assert "plate P3 of the protein plates sheet has no NPX rows" in msg


def test_panels_differing_between_plates(tmp_path: Path) -> None:
    src = (DATA / "bridge_two_plates.csv").read_text().splitlines()
    # VEGFA not run on P2: bridged IL6 only, no error.
    kept = [ln for ln in src if not (",VEGFA," in ln and ",P2," in ln)]
    p = _write(tmp_path, "\n".join(kept) + "\n")
    settings = NpxSettings(("B1", "B2", "B3"), min_bridge=3)
    res = process_npx([p], settings, panel=PANEL)
    pairs = zip(res.adjustments["plate_id"], res.adjustments["assay"], strict=True)
    assert set(pairs) == {
        ("P1", "IL6"),
        ("P1", "VEGFA"),
        ("P2", "IL6"),
    }
    # VEGFA not on the reference plate: it cannot be bridged.
    kept = [ln for ln in src if not (",VEGFA," in ln and ",P1," in ln)]
    q = _write(tmp_path, "\n".join(kept) + "\n", "noref.csv")
    with pytest.raises(ValidationError, match="is not on reference plate P1"):
        process_npx([q], settings, panel=PANEL)


def test_sample_not_in_samples_sheet(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="sample S03 is not in the protein"):
        process_npx(
            [DATA / "target96_comma.csv"],
            NpxSettings(),
            panel=PANEL,
            samples=_samples("S01", "S02"),
        )


def test_settings_from_validated_config() -> None:
    from exomir.config import load_config, validate_config
    from exomir.proteins.luminex import LuminexSettings

    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root / "scenarios" / "real_human" / "config" / "config.yaml")
    cfg["proteins"] = {
        "npx": {"bridge_samples": ["B1", "B2"], "min_bridge": 2},
        "luminex": {"min_bead_count": 50, "standards": {"IL6": {"top": 1000.0}}},
    }
    v = validate_config(cfg)
    npx = NpxSettings.from_config(v)
    assert npx == NpxSettings(bridge_samples=("B1", "B2"), min_bridge=2)
    lum = LuminexSettings.from_config(v)
    assert lum.min_bead_count == 50 and lum.datatype == "Median"
    cfg["proteins"]["npx"]["lod_policy"] = "replace"
    with pytest.raises(ValidationError, match=r"proteins\.npx\.lod_policy"):
        validate_config(cfg)
