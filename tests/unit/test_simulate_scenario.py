"""``exomir simulate``: scenario directory, determinism, truth files and the CLI."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from exomir.simulate import params as P
from exomir.simulate.scenario import SHEETS, run_simulation

TINY = [
    "trial.n_participants=6",
    "library.reads_per_library=3000",
    "library.participants_per_batch=2",
]


def _tiny_params(**kw: object) -> dict:
    return P.resolve_params(preset="small", sets=TINY, **kw)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scen") / "s1"
    run_simulation(out, _tiny_params(), 11)
    return out


def test_layout_and_sheets(scenario: Path) -> None:
    for rel in SHEETS.values():
        assert (scenario / rel).is_file(), rel
    assert (scenario / "config" / "config.yaml").is_file()
    smp = pd.read_csv(scenario / SHEETS["samples"], sep="\t", dtype=str)
    for fq in smp["fastq"]:
        assert fq.startswith("data/fastq/") and (scenario / fq).is_file()
    runs = pd.read_csv(scenario / SHEETS["ev_nta_runs"], sep="\t", dtype=str)
    for f in runs["file"]:
        assert f.startswith("data/nta/") and (scenario / f).is_file()
    text = (scenario / SHEETS["disposition"]).read_text()
    assert "\tTrue" not in text and "\tfalse" in text
    for name in (
        "mirna_counts.tsv",
        "mirna_molecules.tsv",
        "funnel.tsv",
        "effects.tsv",
        "clinical_effects.tsv",
        "ev_lots.tsv",
        "pathway_effects.tsv",
        "params.yaml",
        "README.md",
        "libraries.tsv",
        "mir126.tsv",
    ):
        assert (scenario / "truth" / name).is_file(), name


@pytest.mark.parametrize("kind", ["adverse_events", "clinical_measurements"])
def test_sheet_columns_follow_the_schema(scenario: Path, kind: str) -> None:
    """The written header is the schema's column order (the one home of it)."""
    from exomir.config import schema_path
    from exomir.tables import schema_columns

    with open(schema_path(kind), encoding="utf-8") as fh:
        declared = list(yaml.safe_load(fh)["properties"])
    assert schema_columns(kind) == declared
    header = (scenario / SHEETS[kind]).read_text().splitlines()[0].split("\t")
    assert header == declared


def test_truth_is_consistent_with_fastq(scenario: Path) -> None:
    funnel = pd.read_csv(scenario / "truth" / "funnel.tsv", sep="\t", index_col=0)
    counts = pd.read_csv(scenario / "truth" / "mirna_counts.tsv", sep="\t", index_col=0)
    mols = pd.read_csv(
        scenario / "truth" / "mirna_molecules.tsv", sep="\t", index_col=0
    )
    smp = pd.read_csv(scenario / SHEETS["samples"], sep="\t", index_col=0)
    assert list(counts.columns) == sorted(smp.index) == list(funnel.index)
    assert (counts.sum() == funnel["mirna"]).all()
    assert (mols <= counts).all().all()
    parts = [
        "mirna",
        "trna",
        "rrna",
        "snorna_snrna",
        "unmappable",
        "adapter_dimer",
        "too_short",
    ]
    assert (funnel[parts].sum(axis=1) == funnel["raw_reads"]).all()
    sid = funnel.index[0]
    with gzip.open(scenario / smp.loc[sid, "fastq"], "rt") as fh:
        n_lines = sum(1 for _ in fh)
    assert n_lines == 4 * funnel.loc[sid, "raw_reads"]
    libs = pd.read_csv(scenario / "truth" / "libraries.tsv", sep="\t", index_col=0)
    assert (libs.loc[funnel.index, "depth"] == funnel["raw_reads"]).all()
    qiaseq = smp.index[smp["protocol"] == "qiaseq"]
    assert (funnel.loc[qiaseq, "umi_duplicates"] > 0).all()
    eff = pd.read_csv(scenario / "truth" / "effects.tsv", sep="\t")
    assert list(eff.columns) == ["mirna", "contrast", "log2_effect"]
    m126 = eff[(eff["mirna"] == "hsa-miR-126-3p") & (eff["contrast"] == "interaction")]
    assert m126["log2_effect"].iloc[0] == pytest.approx(0.58)


def test_pathway_truth(scenario: Path) -> None:
    text = (scenario / "truth" / "pathway_effects.tsv").read_text()
    if "skipped" in text.splitlines()[0]:
        pytest.skip("shared miRTarBase/WikiPathways files not present")
    pw = pd.read_csv(scenario / "truth" / "pathway_effects.tsv", sep="\t", comment="#")
    inter = pw[pw["contrast"] == "interaction"].set_index("pathway_id")
    assert set(inter.index) == {"WP4172", "WP382"}
    # miR-126-3p (+0.58) targets both pathways (PIK3R2, SPRED1, ...).
    assert inter["contributors"].str.contains("hsa-miR-126-3p").all()
    assert set(inter["expected_direction"]) <= {-1, 0, 1}
    assert (inter["n_mirnas"] >= 5).all()


def test_config_and_params_yaml(scenario: Path) -> None:
    cfg = yaml.safe_load((scenario / "config" / "config.yaml").read_text())
    # the demo preset adds the protein layer (exomir.simulate.plates)
    assert cfg["sheets"] == {
        **SHEETS,
        "protein_samples": "config/protein_samples.tsv",
        "protein_plates": "config/protein_plates.tsv",
    }
    assert cfg["qc"]["min_raw_reads"] == 300
    assert cfg["design"]["arms"] == ["placebo", "exosome"]
    meta = yaml.safe_load((scenario / "truth" / "params.yaml").read_text())
    assert meta["seed"] == 11
    assert meta["params"]["trial"]["n_participants"] == 6
    assert meta["read_params"]["reads_per_library"] == 3000
    assert meta["derived"]["ed_shift_log2"] > 0
    # recruitment plan: every participant over the enrolment period, in months
    t = meta["params"]["trial"]
    assert cfg["enrolment"] == {
        "target_randomised": 6,
        "start_date": str(t["start_date"]),
        "planned_months": -(-int(t["enrolment_days"]) * 10000 // 304375),
    }


def test_scenario_passes_validate(scenario: Path) -> None:
    from exomir import validate

    result = validate.validate_scenario(scenario)
    assert len(result.tables["samples"]) >= 11


def test_same_seed_same_bytes_any_threads(scenario: Path, tmp_path: Path) -> None:
    again = tmp_path / "s2"
    run_simulation(again, _tiny_params(), 11, threads=2)
    assert _digest(again) == _digest(scenario)


def test_different_seed_differs(scenario: Path, tmp_path: Path) -> None:
    other = tmp_path / "s3"
    run_simulation(other, _tiny_params(), 12)
    a, b = _digest(scenario), _digest(other)
    for rel in (
        "config/participants.tsv",
        "config/clinical_measurements.tsv",
        "truth/mirna_counts.tsv",
    ):
        assert a[rel] != b[rel], rel
    fq_a = {k: v for k, v in a.items() if k.startswith("data/fastq/")}
    fq_b = {k: v for k, v in b.items() if k.startswith("data/fastq/")}
    assert all(fq_a[k] != fq_b[k] for k in fq_a.keys() & fq_b.keys())


def test_refuses_to_overwrite(scenario: Path) -> None:
    with pytest.raises(FileExistsError):
        run_simulation(scenario, _tiny_params(), 11)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exomir.cli import main

    assert (
        main(
            [
                "simulate",
                str(tmp_path / "x"),
                "--preset",
                "demo",
                "--print-params",
                "--participants",
                "10",
                "--reads",
                "2e4",
                "--null",
                "--set",
                "ev.failure_mode=endotoxin",
            ]
        )
        == 0
    )
    out = yaml.safe_load(capsys.readouterr().out)
    p = out["params"]
    assert p["trial"]["n_participants"] == 10
    assert p["library"]["reads_per_library"] == 20000
    assert p["null"] is True and p["ev"]["failure_mode"] == "endotoxin"
    assert main(["simulate", str(tmp_path / "y"), "--set", "trial.nope=1"]) == 2
    assert "unknown parameter 'trial.nope'" in capsys.readouterr().err


def test_params_yaml_round_trip(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from exomir.cli import main

    params_yaml = scenario / "truth" / "params.yaml"
    assert (
        main(
            [
                "simulate",
                str(tmp_path / "z"),
                "--print-params",
                "--seed",
                "11",
                "--params",
                str(params_yaml),
            ]
        )
        == 0
    )
    printed = yaml.safe_load(capsys.readouterr().out)
    meta = yaml.safe_load(params_yaml.read_text())
    assert printed["params"] == meta["params"]
