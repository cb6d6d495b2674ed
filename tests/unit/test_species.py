"""Per-species references (exomir.species): defaults, notes and errors."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exomir.config import resolve_path, resources_dir, validate_config
from exomir.errors import ValidationError
from exomir.reads.reference import prepare_reference, read_species_fasta
from exomir.report.context import ReportContext
from exomir.report.sections.qc import _species_notes
from exomir.species import (
    check_reference_files,
    contaminant_sources,
    foreign_contaminant_classes,
    reference_notes,
)

REPO = Path(__file__).resolve().parents[2]
HUMAN_CLASSES = ["rRNA", "tRNA", "snoRNA_snRNA"]


def _config(species: str, **reference: str) -> dict:
    """The shipped config, for ``species``, without reference paths or contaminants."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["reference"] = {"species": species, "mirbase_version": "22", **reference}
    cfg.pop("contaminants")
    cfg["trial"]["primary_mirna"] = f"{species}-miR-126a-3p"
    return cfg


def test_mouse_gets_mouse_mirbase_and_human_contaminants_with_a_note() -> None:
    cfg = validate_config(_config("mmu"))
    ref = cfg["reference"]
    assert ref["mature"] == "@resources/mirbase/v22/mmu/mature.fa"
    assert ref["hairpin"] == "@resources/mirbase/v22/mmu/hairpin.fa"
    assert "gff3" not in ref  # no mouse GFF3 is shipped
    # the files really are mouse miRBase: every record kept for mmu, none for hsa
    mature = resolve_path(ref["mature"], ".")
    assert len(read_species_fasta(mature, "mmu")) == 1976  # resources/PROVENANCE.md
    with pytest.raises(ValueError):
        read_species_fasta(mature, "hsa")
    assert list(cfg["contaminants"]) == ["artifact", *HUMAN_CLASSES]
    assert cfg["contaminants"]["rRNA"] == ["@resources/contaminants/rrna_hsa.fa"]
    assert foreign_contaminant_classes(cfg) == HUMAN_CLASSES
    src = {s.category: s.reference_species for s in contaminant_sources(cfg)}
    assert src == {
        "artifact": "any",
        "rRNA": "hsa",
        "tRNA": "hsa",
        "snoRNA_snRNA": "hsa",
    }
    notes = reference_notes(cfg)
    assert notes[0].startswith("rRNA, tRNA, snoRNA_snRNA: annotated against hsa")
    assert "ships none for mmu" in notes[0] and "artifact" not in notes[0]
    assert [n.split(":")[0] for n in notes[1:]] == HUMAN_CLASSES
    assert "highly conserved" in notes[1]


def test_human_defaults_have_gff3_and_no_note() -> None:
    cfg = validate_config(_config("hsa"))
    assert cfg["reference"]["gff3"] == "@resources/mirbase/v22/hsa/mirna.gff3"
    assert cfg["contaminants"]["tRNA"] == ["@resources/contaminants/trna_hsa.fa"]
    assert reference_notes(cfg) == []
    assert check_reference_files(cfg, REPO) == []


def test_explicit_human_contaminants_for_mouse_are_named_too() -> None:
    """The old real_mouse config: hsa contaminant paths written out by hand."""
    raw = _config("mmu")
    raw["contaminants"] = {
        "artifact": ["@resources/contaminants/artifact.fa"],
        "rRNA": ["@resources/contaminants/rrna_hsa.fa"],
        "tRNA": [str(resources_dir() / "contaminants" / "trna_hsa.fa")],
    }
    cfg = validate_config(raw)
    assert foreign_contaminant_classes(cfg) == ["rRNA", "tRNA"]
    assert reference_notes(cfg)[0].startswith("rRNA, tRNA: annotated against hsa")


def test_user_contaminants_and_empty_section_give_no_note(tmp_path: Path) -> None:
    own = tmp_path / "mmu_rrna.fa"
    own.write_text(">r\nACGTACGTACGTACGTACGT\n")
    raw = _config("mmu")
    raw["contaminants"] = {"rRNA": [str(own)]}
    cfg = validate_config(raw)
    assert [s.reference_species for s in contaminant_sources(cfg)] == ["user"]
    assert reference_notes(cfg) == []
    raw["contaminants"] = {}
    cfg = validate_config(raw)
    assert cfg["contaminants"] == {} and reference_notes(cfg) == []


def test_rat_without_mirbase_files_is_a_clear_error() -> None:
    with pytest.raises(ValidationError) as err:
        validate_config(_config("rno"))
    msg = str(err.value)
    assert "no miRBase v22 reference is shipped for species 'rno'" in msg
    assert "reference.mature and reference.hairpin" in msg
    assert "exomir fetch-references --mirbase rno" in msg
    assert "hsa (miRBase 22), mmu (miRBase 22)" in msg


def test_rat_with_own_mirbase_files_runs_with_human_contaminant_note(
    tmp_path: Path,
) -> None:
    mature = tmp_path / "mature.fa"
    hairpin = tmp_path / "hairpin.fa"
    mature.write_text(
        ">rno-miR-1-3p MIMAT1 Rattus norvegicus\nUGGAAUGUAAAGAAGUAUGUAU\n"
    )
    hairpin.write_text(
        ">rno-mir-1 MI1\nACAUACUUCUUUAUAUGCCCAUAUGGAAUGUAAAGAAGUAUGUAU\n"
    )
    cfg = validate_config(_config("rno", mature=str(mature), hairpin=str(hairpin)))
    assert cfg["reference"]["mature"] == str(mature)
    assert foreign_contaminant_classes(cfg) == HUMAN_CLASSES
    assert "ships none for rno" in reference_notes(cfg)[0]


def test_half_given_or_wrong_species_mirbase_is_an_error() -> None:
    with pytest.raises(ValidationError, match=r"reference.hairpin is not"):
        validate_config(_config("mmu", mature="@resources/mirbase/v22/mmu/mature.fa"))
    with pytest.raises(ValidationError, match=r"is the shipped hsa file"):
        validate_config(
            _config(
                "mmu",
                mature="@resources/mirbase/v22/hsa/mature.fa",
                hairpin="@resources/mirbase/v22/mmu/hairpin.fa",
            )
        )


def test_missing_reference_file_is_named(tmp_path: Path) -> None:
    raw = _config("mmu")
    raw["contaminants"] = {"YRNA": ["refs/yrna.fa"]}
    cfg = validate_config(raw)
    issues = check_reference_files(cfg, tmp_path)
    assert len(issues) == 1
    assert issues[0].column == "contaminants.YRNA"
    assert "'refs/yrna.fa' does not exist" in issues[0].message
    assert str(tmp_path / "refs" / "yrna.fa") in issues[0].message


def test_report_sequencing_qc_shows_the_note(tmp_path: Path) -> None:
    mouse = validate_config(_config("mmu"))
    notes = _species_notes(ReportContext(tmp_path, mouse, "open"))
    assert len(notes) == 4 and notes[0].startswith("Species mmu: rRNA, tRNA")
    human = validate_config(_config("hsa"))
    assert _species_notes(ReportContext(tmp_path, human, "open")) == []


@pytest.mark.skipif(shutil.which("bowtie-build") is None, reason="no bowtie-build")
def test_manifest_records_notes_and_sources(tmp_path: Path) -> None:
    cfg = validate_config(_config("mmu"))
    hairpin = tmp_path / "hairpin.fa"
    mature = tmp_path / "mature.fa"
    hairpin.write_text(
        ">mmu-mir-1 MI1\nACAUACUUCUUUAUAUGCCCAUAUGGAAUGUAAAGAAGUAUGUAU\n"
    )
    mature.write_text(">mmu-miR-1a-3p MIMAT1\nUGGAAUGUAAAGAAGUAUGUAU\n")
    rrna = tmp_path / "r.fa"
    rrna.write_text(">r\nACGTACGTACGTTTGACCAGTACGT\n")
    out = prepare_reference(
        mature,
        hairpin,
        tmp_path / "ref",
        species="mmu",
        contaminants={"rRNA": [rrna]},
        contaminant_species={"rRNA": "hsa"},
        notes=reference_notes(cfg),
    )
    manifest = json.loads(out.read_text())
    assert manifest["species_notes"] == reference_notes(cfg)
    assert manifest["contaminants"][0]["reference_species"] == "hsa"


@pytest.mark.slow
def test_real_mouse_scenario_dry_runs_with_mouse_references() -> None:
    """`make dry-run` on tests/scenarios/real_mouse builds from the mmu miRBase."""
    snakemake = Path(sys.executable).parent / "snakemake"
    proc = subprocess.run(
        [
            str(snakemake),
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(REPO / "tests" / "scenarios" / "real_mouse"),
            "--cores",
            "1",
            "--dry-run",
            "--forceall",
            "results/reference/reference.json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    inputs = next(
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.strip().startswith("input:") and "mature.fa" in line
    )
    res = resources_dir()
    assert str(res / "mirbase/v22/mmu/mature.fa") in inputs
    assert str(res / "mirbase/v22/mmu/hairpin.fa") in inputs
    assert str(res / "contaminants/rrna_hsa.fa") in inputs
    assert "/hsa/" not in inputs


def test_real_mouse_config_leaves_references_to_the_species_table() -> None:
    raw = yaml.safe_load(
        (REPO / "tests/scenarios/real_mouse/config/config.yaml").read_text()
    )
    assert "contaminants" not in raw and "mature" not in raw["reference"]
    cfg = validate_config(copy.deepcopy(raw))
    assert cfg["reference"]["mature"].endswith("v22/mmu/mature.fa")
    assert foreign_contaminant_classes(cfg) == HUMAN_CLASSES


def test_report_html_carries_the_note_in_sequencing_qc(tmp_path: Path) -> None:
    from _report_fixture import build_tree

    from exomir.report.builder import build_report

    cfg = build_tree(tmp_path, hostile=False)
    cfg["reference"] = {"species": "mmu", "mirbase_version": "22"}
    cfg["contaminants"] = {"rRNA": ["@resources/contaminants/rrna_hsa.fa"]}
    out = tmp_path / "open.html"
    build_report(tmp_path, cfg, "open", out, strict=True)
    html = out.read_text(encoding="utf-8")
    qc = html[html.index('data-section="qc"') :]
    qc = qc[: qc.index("data-section=", 20)]
    assert "Species mmu: rRNA: annotated against hsa (Homo sapiens)" in qc
    assert "rRNA: rRNA is highly conserved" in qc


def test_resources_without_species_table_need_explicit_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXOMIR_RESOURCES", str(tmp_path))
    with pytest.raises(ValidationError, match="has no species table"):
        validate_config(_config("mmu"))
    raw = _config("mmu", mature="m.fa", hairpin="h.fa")
    raw["contaminants"] = {"rRNA": ["r.fa"]}
    cfg = validate_config(raw)
    assert reference_notes(cfg) == [] and cfg["contaminants"] == {"rRNA": ["r.fa"]}


def test_reference_settings_carry_species_notes_and_file_groups(tmp_path: Path) -> None:
    """The build_reference job gets the mouse notes and every category's files."""
    from exomir.reads.reference import build_reference_step, reference_settings

    cfg = validate_config(_config("mmu"))
    settings = reference_settings(cfg)
    assert settings.species == "mmu"
    assert settings.database == "miRBasev22"
    assert settings.categories == (
        ("artifact", 1),
        ("rRNA", 1),
        ("tRNA", 1),
        ("snoRNA_snRNA", 1),
    )
    assert dict(settings.contaminant_species)["tRNA"] == "hsa"
    assert list(settings.notes) == reference_notes(cfg)
    with pytest.raises(ValueError, match="3 contaminant files given"):
        build_reference_step(
            mature="m.fa",
            hairpin="h.fa",
            contaminants=["a.fa", "b.fa", "c.fa"],
            manifest=tmp_path / "ref" / "reference.json",
            threads=1,
            settings=settings,
        )
