"""The ``truth/`` folder of a simulated scenario (never read by the workflow).

Also the simulator's TSV convention (:func:`write_frame`: booleans as
``true``/``false``, exact floats) and the expected pathway-score changes
implied by the planted miRNA effects (:func:`pathway_truth`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir import __version__
from exomir.atomic import atomic_open
from exomir.simulate import clinical as clin_mod
from exomir.simulate import ev as ev_mod
from exomir.simulate.params import dump_params, qc_gates, recorded_params
from exomir.simulate.readmodel import expected_mirna_fraction
from exomir.simulate.study import SimulatedTrial
from exomir.tables import write_table

__all__ = [
    "README_TEXT",
    "pathway_input_paths",
    "pathway_truth",
    "tsv_frame",
    "write_frame",
    "write_truth",
]


def tsv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Booleans as ``true``/``false``; everything else unchanged."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == bool:
            out[col] = np.where(s, "true", "false")
        elif s.dtype == object:
            if any(isinstance(v, (bool, np.bool_)) for v in s if v is not None):
                out[col] = [
                    ("true" if v else "false") if isinstance(v, (bool, np.bool_)) else v
                    for v in s
                ]
    return out


def write_frame(df: pd.DataFrame, path: Path, index: bool = False) -> None:
    """Write a simulated table as TSV (booleans ``true``/``false``, exact floats)."""
    write_table(tsv_frame(df), path, index=index, exact=True)


def pathway_input_paths(params: Mapping[str, Any]) -> tuple[Path | None, Path]:
    """Resolve the miRNA-target table and the GMT of the pathway truth.

    Parameters
    ----------
    params
        Resolved parameters (``pathways`` section). ``mti: null`` means the file
        named by the environment variable ``EXOMIR_MIRTARBASE`` (miRTarBase is
        not shipped); ``@resources/...`` names a shipped file.

    Returns
    -------
    mti : pathlib.Path or None
        The interaction table (absolute), or ``None`` if none is configured.
    gmt : pathlib.Path
        The pathway GMT (absolute).
    """
    from exomir.config import resolve_path

    pw = params["pathways"]
    mti_value = pw.get("mti") or os.environ.get("EXOMIR_MIRTARBASE") or None
    mti = resolve_path(mti_value, Path.cwd()).resolve() if mti_value else None
    gmt = resolve_path(pw["gmt"], Path.cwd()).resolve()
    return mti, gmt


def _counts_matrix(truths: list[Any], attr: str, rows: pd.Index) -> pd.DataFrame:
    data = {t.sample_id: getattr(t, attr) for t in truths}
    mat = pd.DataFrame(data).reindex(rows).fillna(0).astype(np.int64)
    mat = mat.loc[:, sorted(mat.columns)]
    mat.index.name = "mirna"
    return mat


def _read_gmt(path: Path) -> dict[str, tuple[str, set[str]]]:
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            out[parts[1]] = (parts[0].split("%")[0], {g for g in parts[2:] if g})
    return out


def pathway_truth(sim: SimulatedTrial) -> tuple[pd.DataFrame | None, str]:
    """Compute the expected change of targeting-pressure scores from planted effects.

    For pathway P the score is ``S_P = sum_m w_mP z_m / sum_m w_mP`` with
    ``w_mP = k_mP / sqrt(K_m)`` (analysis_spec §2.2), over miRNAs passing an
    RPM filter that have at least one strong miRTarBase target in P. Its
    expected change for a contrast is the same weighted mean of the planted
    log2 effects (``expected_delta_log2``) and, dividing each effect by an
    approximate baseline SD of the miRNA's log2 level, of z-units
    (``expected_delta_z_approx``).

    Parameters
    ----------
    sim
        Simulated trial with expression truth.

    Returns
    -------
    table : pandas.DataFrame or None
        One row per pathway and contrast, or ``None`` if the inputs are absent.
    note : str
        Why the table is absent, or the caveats.
    """
    pw = sim.params["pathways"]
    mti_path, gmt_path = pathway_input_paths(sim.params)
    if sim.expression is None:
        return None, "no expression truth was simulated"
    if mti_path is None:
        return None, (
            "skipped: no miRTarBase table (set pathways.mti or the environment "
            "variable EXOMIR_MIRTARBASE)"
        )
    missing = [str(p) for p in (mti_path, gmt_path) if not p.is_file()]
    if missing:
        return None, f"skipped: input file(s) not found: {', '.join(missing)}"
    mti = pd.read_csv(
        mti_path, sep="\t", dtype=str, usecols=["miRNA", "Target_Gene_Entrez_ID"]
    )
    mti = mti.dropna().drop_duplicates()
    targets = mti.groupby("miRNA")["Target_Gene_Entrez_ID"].apply(set)
    big_k = targets.apply(len)
    gmt = _read_gmt(gmt_path)
    info = sim.expression.mirna_info
    rp = sim.read_params
    min_share = float(pw["min_rpm"]) / 1e6
    passing = info.index[info["baseline_share"] >= min_share]
    eff = sim.expression.effects.pivot(
        index="mirna", columns="contrast", values="log2_effect"
    )
    # Approximate baseline SD (log2) of each miRNA's normalised level.
    depth = float(sim.params["library"]["reads_per_library"])
    mols = info["baseline_share"] * depth * expected_mirna_fraction(rp)
    alpha = rp.dispersion_a0 + rp.dispersion_a1 / np.maximum(mols, 1e-9)
    var = (
        (rp.participant_sd / math.log(2)) ** 2
        + rp.batch_sd_log2**2
        + (alpha + 1 / np.maximum(mols, 1e-9)) / math.log(2) ** 2
    )
    sd = np.sqrt(var)
    rows = []
    for pid in pw["ids"]:
        if pid not in gmt:
            rows.append({"pathway_id": pid, "note": "pathway not in the GMT file"})
            continue
        name, genes = gmt[pid]
        w = {}
        for m in passing:
            if m not in targets.index:
                continue
            k = len(targets[m] & genes)
            if k:
                w[m] = k / math.sqrt(big_k[m])
        ws = pd.Series(w, dtype=float).sort_index()
        for contrast in ("interaction", "time_placebo", "time_exosome"):
            beta = eff.loc[ws.index, contrast] if len(ws) else pd.Series(dtype=float)
            tot = float(ws.sum())
            d_log2 = float((ws * beta).sum() / tot) if tot > 0 else float("nan")
            d_z = (
                float((ws * beta / sd[ws.index]).sum() / tot)
                if tot > 0
                else float("nan")
            )
            contrib = beta[beta != 0].sort_index()
            rows.append(
                {
                    "pathway_id": pid,
                    "pathway_name": name,
                    "contrast": contrast,
                    "score": "targeting_pressure_wmean",
                    "n_mirnas": len(ws),
                    "n_mirnas_with_effect": int((beta != 0).sum()),
                    "sum_weight": round(tot, 6),
                    "expected_delta_log2": round(d_log2, 6),
                    "expected_delta_z_approx": round(d_z, 6),
                    "expected_direction": int(np.sign(round(d_log2, 9)))
                    if tot > 0
                    else 0,
                    "meets_tmin5": len(ws) >= 5,
                    "contributors": ";".join(
                        f"{m}:{contrib[m]:+.3f}*w{ws[m]:.3f}" for m in contrib.index
                    ),
                    "note": (
                        "unsigned score = targeting pressure (more repression of P's genes "
                        "when > 0), not pathway activity; miR-126-3p represses negative "
                        "regulators (SPRED1, PIK3R2), so its rise predicts activation"
                    ),
                }
            )
    note = (
        f"network: {mti_path.name} (unique miRNA-Entrez pairs), pathways from "
        f"{gmt_path.name}; expression filter: baseline share >= {pw['min_rpm']} RPM"
    )
    return pd.DataFrame(rows), note


README_TEXT = """# Simulator truth

Files written by `exomir simulate` next to the scenario. The workflow never
reads this folder; it is what the results are checked against.

| file | content |
|---|---|
| `params.yaml` | Fully resolved parameters (`params`), the seed, the read simulator's `ReadParams` (`read_params`), the QC gates written to the config, and derived constants (`derived`: the log2 shift of miR-126-3p in ED-positive women, the SBP coupling weight, noise estimates). Re-running `exomir simulate --params truth/params.yaml --seed SEED` with the same exomir version rewrites the same bytes (the `params` block is accepted by `--params`). |
| `mirna_counts.tsv` | Reads per mature miRNA (rows, all isomiRs, PCR duplicates included) and library (columns `sample_id`). Rows: every miRNA with non-zero abundance in some library. |
| `mirna_molecules.tsv` | Same for unique molecules (equal to reads for TruSeq; deduplicated for QIAseq UMIs). |
| `exact_inserts.tsv` | Same for reads whose insert is exactly the canonical mature sequence without sequencing errors. |
| `funnel.tsv` | Per library: `raw_reads`, `mirna`, `trna`, `rrna`, `snorna_snrna`, `unmappable`, `adapter_dimer`, `too_short` (reads by origin) and `umi_duplicates` (reads minus unique molecules). |
| `libraries.tsv` | Per library: depth, protocol, batch, haemolysis factor (1 = none), `low_yield` (planted QC failure: far too few reads), and `expect_qc_fail` (fails the raw-read gate of the config, or its plasma A414 exceeds the `max_a414` exclusion limit). |
| `effects.tsv` | Planted log2 effects per expressed miRNA (`mirna`, `contrast`, `log2_effect`): `interaction` (exosome x week 1, the design-A coefficient), `time_placebo`, `time_exosome`, `arm_week1`. Effects are on the abundance scale; median-of-ratios normalisation recovers them. |
| `mirna_info.tsv` | Per miRNA: baseline share of miRNA molecules, group (top, let7, c19mc, common, tail), RBC and C19MC flags. |
| `mir126.tsv` | Per participant: true ED status (`ed_true`; the public `ed_reference` is missing for a few), the log2 shift applied to miR-126-3p in ED-positive women, and the realised log2 share of miR-126-3p among non-RBC miRNAs at baseline and week 1 and its change. |
| `clinical_effects.tsv` | Per registered endpoint: kind, scale, baseline mean and SD, placebo drift, SD of the change, planted arm effect (exosome - placebo, on the analysis scale), baseline/week-1 correlation, the model that recovers it and notes. |
| `clinical_latent.tsv` | True per-participant baseline and week-1 values of every endpoint (before reading noise, rounding and missingness). |
| `ev_lots.tsv` | One row per lot and release criterion: specification, true and measured value, pass/fail; `lot_fails`, `planted_failure` and `used_for_dosing` per lot, plus the true concentration and size distribution. |
| `pathway_effects.tsv` | For WikiPathways WP4172 (PI3K-Akt) and WP382 (MAPK): expected change of the unsigned targeting-pressure score implied by the planted miRNA effects, with weights w = k_mP / sqrt(K_m) from the miRTarBase strong-evidence network (analysis_spec section 2.2); `expected_direction` is the sign of the weighted mean planted effect. The first line is a `#` comment naming the inputs (or why the table was skipped); read with `comment="#"`. |
"""


def write_truth(out: Path, sim: SimulatedTrial, truths: Sequence[Any]) -> None:
    """Write the ``truth/`` folder.

    Parameters
    ----------
    out
        Scenario directory.
    sim
        Simulated trial.
    truths
        ``LibraryTruth`` per library.
    """
    tdir = out / "truth"
    expr = sim.expression
    assert sim.probs is not None and expr is not None
    rows = sim.probs.index[(sim.probs > 0).any(axis=1)].sort_values()
    for attr, name in (
        ("mirna_reads", "mirna_counts.tsv"),
        ("mirna_molecules", "mirna_molecules.tsv"),
        ("exact_inserts", "exact_inserts.tsv"),
    ):
        write_frame(_counts_matrix(list(truths), attr, rows), tdir / name, index=True)
    funnel_cols = [
        "raw_reads",
        "mirna",
        "trna",
        "rrna",
        "snorna_snrna",
        "unmappable",
        "adapter_dimer",
        "too_short",
        "umi_duplicates",
    ]
    funnel = pd.DataFrame([{"sample_id": t.sample_id, **t.funnel} for t in truths])
    funnel = funnel[["sample_id", *funnel_cols]].sort_values("sample_id")
    write_frame(funnel, tdir / "funnel.tsv")
    gates = qc_gates(sim.params)
    libs = sim.library_info.merge(
        sim.samples[["sample_id", "hemolysis_a414"]], on="sample_id", how="left"
    )
    a414 = pd.to_numeric(libs["hemolysis_a414"], errors="coerce")
    max_a414 = float(sim.params.get("qc", {}).get("max_a414") or 0.3)
    libs["expect_qc_fail"] = (libs["depth"] < gates["min_raw_reads"]) | (
        a414 > max_a414
    )
    write_frame(libs.sort_values("sample_id"), tdir / "libraries.tsv")
    eff = expr.effects[expr.effects["mirna"].isin(rows)]
    eff = eff.sort_values(["mirna", "contrast"], kind="mergesort")
    eff = eff.assign(log2_effect=eff["log2_effect"].round(6))
    write_frame(eff, tdir / "effects.tsv")
    info = expr.mirna_info.loc[rows].copy()
    info.index.name = "mirna"
    write_frame(info, tdir / "mirna_info.tsv", index=True)
    if sim.mir126 is not None and not sim.mir126.empty:
        write_frame(sim.mir126.round(6), tdir / "mir126.tsv")
    write_frame(
        clin_mod.clinical_truth_table(sim.params), tdir / "clinical_effects.tsv"
    )
    lat = sim.clinical_latent.copy()
    lat[["bl", "wk1"]] = lat[["bl", "wk1"]].round(6)
    write_frame(lat, tdir / "clinical_latent.tsv")
    write_frame(ev_mod.lot_truth_table(sim.lots, sim.params), tdir / "ev_lots.tsv")
    table, note = pathway_truth(sim)
    if table is None:
        with atomic_open(tdir / "pathway_effects.tsv") as fh:
            fh.write(f"# {note}\npathway_id\tcontrast\texpected_direction\tnote\n")
    else:
        with atomic_open(tdir / "pathway_effects.tsv") as fh:
            fh.write(f"# {note}\n")
            tsv_frame(table).to_csv(fh, sep="\t", index=False, lineterminator="\n")
    from exomir.simulate.longitudinal import LONG_README_ROWS, write_long_truth

    long_files = write_long_truth(tdir, sim)
    rp = sim.read_params
    meta = {
        "exomir_version": __version__,
        "seed": sim.seed,
        "params": recorded_params(sim.params),
        "read_params": {f.name: getattr(rp, f.name) for f in fields(rp)},
        "qc_gates": gates,
        "derived": {k: float(v) for k, v in sim.derived.items()},
    }
    with atomic_open(tdir / "params.yaml") as fh:
        fh.write(dump_params(meta))
    with atomic_open(tdir / "README.md") as fh:
        fh.write(README_TEXT)
        if long_files:
            fh.write(
                "\n".join(
                    row
                    for row in LONG_README_ROWS.splitlines()
                    if row.split("`")[1] in long_files
                )
                + "\n"
            )
