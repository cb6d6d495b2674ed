"""Interaction tables: miRTarBase conversion, the documented layout, name mapping."""

import pandas as pd
import pytest

from exomir.errors import ValidationError
from exomir.pathways.network import (
    INTERACTION_COLUMNS,
    convert_mirtarbase,
    filter_evidence,
    map_mirna_names,
    mature_names,
    read_interactions,
)

MIRTARBASE_HEADER = [
    "miRTarBase ID",
    "miRNA",
    "Species (miRNA)",
    "Target Gene",
    "Target Gene (Entrez ID)",
    "Species (Target Gene)",
    "Experiments",
    "Support Type",
    "References (PMID)",
]


def _mirtarbase(tmp_path, rows):
    path = tmp_path / "hsa_MTI.tsv"
    lines = ["\t".join(MIRTARBASE_HEADER)] + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


HS = "Homo sapiens"
ROWS = [
    [
        "MIRT1",
        "hsa-miR-126-3p",
        HS,
        "SPRED1",
        "161742",
        HS,
        "Luciferase",
        "Functional MTI",
        "18694565",
    ],
    [
        "MIRT1",
        "hsa-miR-126-3p",
        HS,
        "SPRED1",
        "161742",
        HS,
        "Western blot",
        "Functional MTI",
        "19000001",
    ],
    [
        "MIRT2",
        "hsa-miR-126-3p",
        HS,
        "PIK3R2",
        "5296",
        HS,
        "Luciferase",
        "Functional MTI",
        "18694565",
    ],
    [
        "MIRT3",
        "hsa-miR-126-3p",
        HS,
        "KRAS",
        "3845",
        HS,
        "Microarray",
        "Functional MTI (Weak)",
        "1",
    ],
    [
        "MIRT4",
        "mmu-miR-126a-3p",
        "Mus musculus",
        "Spred1",
        "114715",
        "Mus musculus",
        "qPCR",
        "Functional MTI",
        "2",
    ],
    [
        "MIRT5",
        "hsa-miR-21-5p",
        HS,
        "PTEN",
        "5728",
        HS,
        "Luciferase",
        "Functional MTI",
        "3",
    ],
]


def test_convert_mirtarbase_filters_species_and_evidence(tmp_path):
    out = convert_mirtarbase(_mirtarbase(tmp_path, ROWS))
    assert list(out.columns) == list(INTERACTION_COLUMNS)
    # Weak evidence and the mouse record are dropped; SPRED1's two PMIDs merge.
    assert out[["mirna", "target_symbol"]].values.tolist() == [
        ["hsa-miR-126-3p", "PIK3R2"],
        ["hsa-miR-126-3p", "SPRED1"],
        ["hsa-miR-21-5p", "PTEN"],
    ]
    spred = out[out["target_symbol"] == "SPRED1"].iloc[0]
    assert spred["reference"] == "18694565;19000001"
    assert spred["target_entrez"] == "161742"
    assert set(out["source"]) == {"miRTarBase"}


def test_convert_mirtarbase_evidence_configurable(tmp_path):
    out = convert_mirtarbase(
        _mirtarbase(tmp_path, ROWS),
        evidence=["Functional MTI", "Functional MTI (Weak)"],
    )
    assert "KRAS" in set(out["target_symbol"])
    assert len(convert_mirtarbase(_mirtarbase(tmp_path, ROWS), evidence=None)) == 4


def test_convert_mirtarbase_rejects_other_tables(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\n1\t2\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="not a miRTarBase table"):
        convert_mirtarbase(path)


def test_convert_mirtarbase_nothing_left_is_an_error(tmp_path):
    with pytest.raises(ValidationError, match="no interactions left"):
        convert_mirtarbase(_mirtarbase(tmp_path, ROWS), species="Rattus norvegicus")


def test_read_interactions_layout_and_errors(tmp_path):
    ok = tmp_path / "targetscan.tsv"
    ok.write_text("mirna\ttarget_symbol\nhsa-miR-1\tGENE1\n", encoding="utf-8")
    df = read_interactions(ok)
    assert list(df.columns) == list(INTERACTION_COLUMNS)
    assert df.loc[0, "source"] == "targetscan.tsv"
    bad = tmp_path / "bad.tsv"
    bad.write_text("mirna\tgene\nhsa-miR-1\tGENE1\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="target_symbol"):
        read_interactions(bad)
    blank = tmp_path / "blank.tsv"
    blank.write_text("mirna\ttarget_symbol\n\tGENE1\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="line 2"):
        read_interactions(blank)


def test_filter_evidence_reports_what_exists():
    df = pd.DataFrame(
        {"mirna": ["a"], "target_symbol": ["G"], "evidence": ["conserved"]}
    )
    assert len(filter_evidence(df, None, "t")) == 1
    with pytest.raises(ValidationError, match="conserved"):
        filter_evidence(df, ["Functional MTI"], "t")


def test_map_mirna_names_rules():
    ref = {
        "hsa-miR-126-3p": "MIMAT0000445",
        "hsa-miR-126-5p": "MIMAT0000444",
        "hsa-miR-137-3p": "MIMAT0000429",
        "hsa-miR-137-5p": "MIMAT0037310",
        "hsa-miR-451a": "MIMAT0001631",
        "hsa-miR-7-1-3p": "MIMAT0004553",
        "hsa-let-7a-5p": "MIMAT0000062",
    }
    names = [
        "hsa-miR-126-3p",  # exact
        "HSA-LET-7A-5P",  # case
        "hsa-miR-7-1",  # one arm in the reference
        "hsa-miR-137",  # both arms: the older accession (3p)
        "hsa-miR-451a-5p",  # arm name, reference has the arm-less name
        "hsa-miR-126*",  # star with both arms: ambiguous
        "hsa-miR-9999",  # nothing
    ]
    t = map_mirna_names(names, ref, ref).table.set_index("input")
    assert t.loc["hsa-miR-126-3p", "rule"] == "exact"
    assert t.loc["HSA-LET-7A-5P", "mapped"] == "hsa-let-7a-5p"
    assert t.loc["hsa-miR-7-1", ["mapped", "rule"]].tolist() == [
        "hsa-miR-7-1-3p",
        "arm_added",
    ]
    assert t.loc["hsa-miR-137", ["mapped", "rule"]].tolist() == [
        "hsa-miR-137-3p",
        "arm_added_oldest",
    ]
    assert t.loc["hsa-miR-451a-5p", "mapped"] == "hsa-miR-451a"
    assert t.loc["hsa-miR-126*", ["mapped", "rule"]].tolist() == [
        "",
        "unmapped_ambiguous",
    ]
    assert t.loc["hsa-miR-9999", "rule"] == "unmapped"
    # Without accessions both-arm names stay unmapped (counted, not guessed).
    t2 = map_mirna_names(["hsa-miR-137"], ref).table
    assert t2.loc[0, "rule"] == "unmapped_ambiguous"


def test_mature_names_reads_accessions(tmp_path):
    fa = tmp_path / "mature.fa"
    fa.write_text(
        ">hsa-miR-126-3p MIMAT0000445 Homo sapiens miR-126-3p\nUCGUACCGUGAGUAAUAAUGCG\n"
        ">hsa-miR-x\nACGU\n",
        encoding="utf-8",
    )
    assert mature_names(fa) == {"hsa-miR-126-3p": "MIMAT0000445", "hsa-miR-x": ""}


def test_cli_convert_mirtarbase(tmp_path, capsys):
    from exomir.cli import main

    fa = tmp_path / "mature.fa"
    fa.write_text(
        ">hsa-miR-126-3p MIMAT0000445 Homo sapiens miR-126-3p\nUCGUACCGUGAGUAAUAAUGCG\n",
        encoding="utf-8",
    )
    out = tmp_path / "interactions.tsv"
    rc = main(
        [
            "convert-mirtarbase",
            str(_mirtarbase(tmp_path, ROWS)),
            str(out),
            "--mature",
            str(fa),
        ]
    )
    assert rc == 0
    df = read_interactions(out)
    assert sorted(df["target_symbol"]) == [
        "PIK3R2",
        "SPRED1",
    ]  # miR-21 is not in the FASTA
    assert "1 of 3 interactions" in capsys.readouterr().err


def _scenario_files(tmp_path):
    fa = tmp_path / "mature.fa"
    fa.write_text(">hsa-miR-126-3p MIMAT0000445 Homo sapiens\nUCG\n", encoding="utf-8")
    inter = tmp_path / "inter.tsv"
    inter.write_text(
        "mirna\ttarget_symbol\ttarget_entrez\nhsa-miR-999\tSPRED1\t161742\n",
        encoding="utf-8",
    )
    cfg = {"pathways": {"interactions": [{"path": str(inter), "evidence": None}]}}
    return fa, cfg


def _settings(cfg: dict):
    """Pathway settings of a partial ``pathways`` config (other fields unused)."""
    from exomir.pathways.settings import InteractionSource, PathwaySettings

    pw = cfg["pathways"]
    return PathwaySettings(
        sources=tuple(
            InteractionSource(evidence=s.get("evidence"))
            for s in pw.get("interactions", [])
        ),
        id_types=tuple(g["id_type"] for g in pw.get("gene_sets", [])),
        primary=tuple(pw.get("primary", [])),
        arms=("placebo", "exosome"),
        timepoints=("baseline", "week1"),
        primary_mirna="hsa-miR-126-3p",
    )


def test_interactions_step_with_no_mappable_name_is_an_error(tmp_path, caplog):
    import logging

    from exomir.pathways.run import interactions_step

    fa, cfg = _scenario_files(tmp_path)
    with caplog.at_level(logging.WARNING, logger="exomir.pathways"):
        with pytest.raises(ValidationError, match="none of the 1 miRNA names"):
            interactions_step(
                sources=[src["path"] for src in cfg["pathways"]["interactions"]],
                mature=fa,
                interactions=tmp_path / "o.tsv",
                mapping=tmp_path / "m.tsv",
                settings=_settings(cfg),
            )
    assert "1 of 1 miRNA names (1 of 1 interactions) could not be mapped" in caplog.text


def test_unknown_primary_pathway_is_an_error(tmp_path):
    from exomir.pathways.run import _gene_sets

    gmt = tmp_path / "s.gmt"
    gmt.write_text("P1\tx\tSPRED1\n", encoding="utf-8")
    inter = pd.DataFrame({"target_entrez": ["1"], "target_symbol": ["SPRED1"]})
    cfg = {"gene_sets": [{"gmt": str(gmt), "id_type": "symbol"}], "primary": ["WP4172"]}
    settings = _settings({"pathways": cfg})
    with pytest.raises(ValidationError, match="primary pathway"):
        _gene_sets([gmt], settings, inter)
