"""Workflow steps of the pathway stage (used by workflow/scripts/pathways_*.py).

Each step gets its inputs and outputs explicitly and a
:class:`~exomir.pathways.settings.PathwaySettings` built at parse time.
``interactions_step`` turns the configured interaction sources (a user's
miRTarBase download and/or tables in the documented layout) into one mapped
interaction table; ``pathways_step`` builds the weighted network on the
expressed miRNAs, scores every sample, runs the contrast enrichment and the
arm comparisons and writes the tables and the plot.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.atomic import atomic_open
from exomir.config import resolve_path
from exomir.errors import Issue, ValidationError
from exomir.pathways.genesets import read_gmt, read_roles, to_symbols
from exomir.pathways.network import (
    convert_mirtarbase,
    filter_evidence,
    map_mirna_names,
    mature_names,
    read_interactions,
)
from exomir.pathways.scoring import (
    build_network,
    contrast_enrichment,
    sample_scores,
    zscores,
)
from exomir.pathways.settings import InteractionSource, PathwaySettings
from exomir.pathways.stats import adjust, ancova_tests, mixedlm_tests, plot_scores
from exomir.tables import write_table

__all__ = [
    "SCORES_COLUMNS",
    "TESTS_COLUMNS",
    "interactions_step",
    "load_interactions",
    "pathways_step",
]

log = logging.getLogger("exomir.pathways")

SCORES_COLUMNS = [
    "sample_id",
    "participant_id",
    "arm",
    "timepoint",
    "pathway",
    "method",
    "score",
    "n_mirnas",
]
TESTS_COLUMNS = [
    "pathway",
    "method",
    "analysis",
    "contrast",
    "estimate",
    "ci_low",
    "ci_high",
    "statistic",
    "p_value",
    "p_adjusted",
    "adjustment",
    "n",
    "note",
]


def load_interactions(
    paths: Sequence[str | os.PathLike[str]], sources: Sequence[InteractionSource]
) -> pd.DataFrame:
    """Read, convert and evidence-filter every configured interaction table.

    Parameters
    ----------
    paths
        The tables (rule input), in config ``pathways.interactions`` order.
    sources
        How to read each (``PathwaySettings.sources``, same order).

    Returns
    -------
    pandas.DataFrame
        Interactions in the documented layout (unmapped names).
    """
    frames = []
    for path, src in zip(paths, sources, strict=True):
        if src.format == "mirtarbase":
            df = convert_mirtarbase(path, species=src.species, evidence=src.evidence)
        else:
            df = filter_evidence(read_interactions(path), src.evidence, str(path))
        frames.append(df)
    if not frames:
        raise ValidationError(
            [
                Issue(
                    "config/config.yaml",
                    "no interaction source",
                    column="pathways.interactions",
                )
            ]
        )
    return pd.concat(frames, ignore_index=True)


def interactions_step(
    *,
    sources: Sequence[str | os.PathLike[str]],
    mature: str | os.PathLike[str],
    interactions: str | os.PathLike[str],
    mapping: str | os.PathLike[str],
    settings: PathwaySettings,
) -> pd.DataFrame:
    """Rule ``pathways_interactions``: the mapped interaction table of the analysis.

    Parameters
    ----------
    sources
        Interaction tables (config ``pathways.interactions`` paths).
    mature
        miRBase mature FASTA of the analysis (reference names).
    interactions
        results/pathways/interactions.tsv (documented layout + ``mirna_input``).
    mapping
        results/pathways/mirna_mapping.tsv (input, mapped, rule, n_interactions).
    settings
        From :func:`exomir.pathways.settings.pathway_settings`.

    Returns
    -------
    pandas.DataFrame
        The mapped interactions.

    Raises
    ------
    ValidationError
        If no interaction can be mapped onto the reference.
    """
    mature_fasta, out_interactions, out_mapping = mature, interactions, mapping
    raw = load_interactions(sources, settings.sources)
    ref = mature_names(mature_fasta)
    names = map_mirna_names(raw["mirna"], ref, ref)
    table = names.table.copy()
    counts = raw.groupby("mirna").size()
    table["n_interactions"] = table["input"].map(counts).astype(int)
    unm = table[table["mapped"] == ""]
    n_unm = int(unm["n_interactions"].sum())
    rules = table.groupby("rule")["n_interactions"].sum().to_dict()
    log.info("miRNA name mapping (interactions per rule): %s", rules)
    if len(unm):
        log.warning(
            "%d of %d miRNA names (%d of %d interactions) could not be mapped onto "
            "%s and are left out, e.g. %s",
            len(unm),
            len(table),
            n_unm,
            len(raw),
            os.path.basename(str(mature_fasta)),
            ", ".join(unm["input"].head(5)),
        )
    m = names.as_dict()
    out = raw[raw["mirna"].isin(m)].copy()
    if out.empty:
        raise ValidationError(
            [
                Issue(
                    str(mature_fasta),
                    f"none of the {len(table)} miRNA names of the interaction table "
                    "maps onto the reference names (species or miRBase version?)",
                )
            ]
        )
    out.insert(1, "mirna_input", out["mirna"])
    out["mirna"] = out["mirna_input"].map(m)
    out = out.sort_values(
        ["mirna", "target_symbol", "source", "mirna_input"], kind="mergesort"
    )
    write_table(out.reset_index(drop=True), out_interactions)
    write_table(table, out_mapping)
    return out


def _gene_sets(
    gmts: Sequence[str | os.PathLike[str]],
    settings: PathwaySettings,
    inter: pd.DataFrame,
) -> list:
    """Read the GMT files (Entrez IDs mapped to symbols) and check the selection."""
    e2s: dict[str, str] = {}
    ent = inter[inter["target_entrez"] != ""].drop_duplicates("target_entrez")
    e2s.update(zip(ent["target_entrez"], ent["target_symbol"], strict=True))
    sets = []
    for gmt, id_type in zip(gmts, settings.id_types, strict=True):
        for gs in read_gmt(gmt, id_type):
            sets.append(to_symbols(gs, e2s))
    only = settings.select
    if only:
        missing = [p for p in only if p not in {s.id for s in sets}]
        if missing:
            raise ValidationError(
                [
                    Issue(
                        "config/config.yaml",
                        f"pathway(s) {missing} are in no configured GMT",
                        column="pathways.select",
                    )
                ]
            )
        sets = [s for s in sets if s.id in set(only)]
    missing = [p for p in settings.primary if p not in {s.id for s in sets}]
    if missing:
        raise ValidationError(
            [
                Issue(
                    "config/config.yaml",
                    f"primary pathway(s) {missing} are not among the scored gene sets "
                    f"({', '.join(s.id for s in sets)})",
                    column="pathways.primary",
                )
            ]
        )
    return sets


def _mirna_axis(net: pd.DataFrame, mirna: str) -> dict[str, Any]:
    """Return the primary miRNA's targets, weights and negative regulators per pathway."""
    sub = net[net["mirna"] == mirna]
    return {
        "mirna": mirna,
        "in_network": bool(len(sub)),
        "pathways": {
            r["pathway"]: {
                "targets": r["targets"].split(";"),
                "weight": round(float(r["weight"]), 6),
                "signed_weight": round(float(r["signed_weight"]), 6),
                "n_negative_regulators": int(r["n_negative_regulators"]),
            }
            for _, r in sub.iterrows()
        },
    }


def enrichment_for_contrast(
    contrast: str,
    stat: pd.Series,
    net: pd.DataFrame,
    *,
    tmin: int,
    n_permutations: int,
    degree_bins: int,
    seed: int,
) -> pd.DataFrame:
    """Contrast-level enrichment rows of one DE contrast for tests.tsv.

    Parameters
    ----------
    contrast
        Contrast name.
    stat
        miRNA -> DE Wald statistic (NaN = not tested).
    net
        From :func:`exomir.pathways.scoring.build_network`.
    tmin, n_permutations, degree_bins, seed
        Config ``pathways`` values of the same names.

    Returns
    -------
    pandas.DataFrame
        One row per pathway and method. A contrast whose DE table tests no
        miRNA of the network (e.g. too few libraries left) gets one row per
        pathway saying so, with a logged warning, instead of stopping the stage.
    """
    tested = set(stat.dropna().index) & set(net["mirna"])
    if not tested:
        reason = (
            f"not computed: the DE table of contrast {contrast} has no tested "
            f"miRNA in the network ({int(stat.notna().sum())} tested miRNAs)"
        )
        log.warning("%s", reason)
        return pd.DataFrame(
            {
                "pathway": sorted(net["pathway"].unique()),
                "contrast": contrast,
                "analysis": "contrast_enrichment",
                "note": reason,
            }
        )
    e = contrast_enrichment(
        stat,
        net,
        tmin=tmin,
        n_perm=n_permutations,
        bins=degree_bins,
        seed=seed,
    )
    e["contrast"] = contrast
    e["analysis"] = "contrast_enrichment"
    e["note"] = (
        f"decoupler score of the DE Wald stat; null: "
        f"{n_permutations} permutations within {degree_bins} "
        "K_m strata (degree-preserving); null mean "
        + e["null_mean"].map(lambda v: f"{v:.4g}")
        + ", sd "
        + e["null_sd"].map(lambda v: f"{v:.4g}")
    )
    return e.drop(columns=["null_mean", "null_sd", "n_universe"])


def _expressed_values(
    h5ad: str | os.PathLike[str],
    interactions: str | os.PathLike[str],
    inter: pd.DataFrame,
    layer: str,
) -> tuple[Any, pd.DataFrame, list[str]]:
    """Read the DE AnnData: its values in ``layer`` and the expressed miRNAs."""
    import anndata as ad

    adata = ad.read_h5ad(h5ad)
    values = pd.DataFrame(
        np.asarray(adata.layers[layer], dtype=float),
        index=adata.obs_names,
        columns=adata.var_names,
    )
    expressed = list(adata.var_names[adata.var["filter_pass"].astype(bool)])
    n_expr_net = len(set(expressed) & set(inter["mirna"]))
    log.info(
        "%d of %d miRNAs pass the DE expression filter; %d of them have interactions",
        len(expressed),
        adata.n_vars,
        n_expr_net,
    )
    if n_expr_net == 0:
        raise ValidationError(
            [
                Issue(
                    os.fspath(interactions),
                    "no expressed miRNA of results/de/mirna.h5ad has an interaction "
                    "(are the names of the same miRBase version?)",
                )
            ]
        )
    return adata, values, expressed


def _tests(
    scores: pd.DataFrame,
    obs: pd.DataFrame,
    net: pd.DataFrame,
    de_tables: Mapping[str, str | os.PathLike[str]],
    settings: PathwaySettings,
) -> pd.DataFrame:
    """ANCOVA, mixed-model and contrast-enrichment rows of tests.tsv, adjusted."""
    arms, tps = list(settings.arms), list(settings.timepoints)
    strata = list(settings.strata)
    participants = (
        obs[["participant_id", "arm", *strata]]
        .astype(str)
        .drop_duplicates("participant_id")
    )
    primary = list(settings.primary)
    tests = ancova_tests(
        scores,
        participants,
        arms,
        tps[0],
        tps[-1],
        primary,
        strata=strata,
        cov_type=settings.cov_type,
        ci_level=settings.ci_level,
        n_perm=settings.ancova_permutations,
        seed=settings.seed,
    )
    mixed = mixedlm_tests(scores, arms, tps[0], tps[-1], ci_level=settings.ci_level)
    enr = []
    for contrast, path in sorted(de_tables.items()):
        de = pd.read_csv(path, sep="\t")
        stat = de.set_index("mirna")["stat"].astype(float)
        enr.append(
            enrichment_for_contrast(
                contrast,
                stat,
                net,
                tmin=settings.tmin,
                n_permutations=settings.n_permutations,
                degree_bins=settings.degree_bins,
                seed=settings.seed,
            )
        )
    all_tests = pd.concat([tests, mixed, *enr], ignore_index=True)
    for c in TESTS_COLUMNS:
        if c not in all_tests.columns:
            all_tests[c] = np.nan
    all_tests = adjust(all_tests, primary)
    return all_tests.sort_values(
        ["analysis", "contrast", "method", "pathway"], kind="mergesort"
    )[TESTS_COLUMNS].reset_index(drop=True)


def _summary(
    zs: Any,
    expressed: list[str],
    sets: list,
    net: pd.DataFrame,
    settings: PathwaySettings,
) -> dict[str, Any]:
    """Return summary.json's contents (z-score reference, pathways, primary miRNA)."""
    return {
        "zscore_reference": {
            "layer": settings.layer,
            "timepoint": settings.timepoints[0],
            "pooled_over_arms": True,
            "n_samples": len(zs.reference_samples),
            "samples": list(zs.reference_samples),
        },
        "n_mirnas_expressed": len(expressed),
        "n_mirnas_scored": int(zs.z.shape[1]),
        "pathways": {
            s.id: {
                "name": s.name,
                "source": os.path.basename(s.source),
                "n_genes": len(s.genes),
                "n_mirnas": int((net["pathway"] == s.id).sum()),
                "family": settings.families.get(s.id, ""),
            }
            for s in sets
        },
        "primary_mirna": _mirna_axis(net, settings.primary_mirna),
        "tmin": settings.tmin,
        "signed_score": "reported as -S± (predicted pathway activity)",
    }


def pathways_step(
    *,
    h5ad: str | os.PathLike[str],
    interactions: str | os.PathLike[str],
    gmts: Sequence[str | os.PathLike[str]],
    roles: str | os.PathLike[str] | None,
    de_tables: Mapping[str, str | os.PathLike[str]],
    network: str | os.PathLike[str],
    scores: str | os.PathLike[str],
    tests: str | os.PathLike[str],
    plot: str | os.PathLike[str],
    summary: str | os.PathLike[str],
    settings: PathwaySettings,
) -> dict[str, pd.DataFrame]:
    """Rule ``pathways``: network, per-sample scores, enrichment and tests.

    Parameters
    ----------
    h5ad
        results/de/mirna.h5ad (layer ``settings.layer``, ``filter_pass``).
    interactions
        From :func:`interactions_step`.
    gmts, roles
        GMT files (order of ``settings.id_types``) and the roles file or ``None``.
    de_tables
        Contrast name -> DE table with ``mirna`` and ``stat``.
    network, scores, tests, plot, summary
        Output paths.
    settings
        From :func:`exomir.pathways.settings.pathway_settings`.

    Returns
    -------
    dict
        network, scores and tests tables.
    """
    inter = pd.read_csv(interactions, sep="\t", dtype=str, keep_default_na=False)
    sets = _gene_sets(gmts, settings, inter)
    role_table = read_roles(roles) if roles else None
    adata, values, expressed = _expressed_values(
        h5ad, interactions, inter, settings.layer
    )
    net = build_network(inter, sets, settings.families, role_table, expressed)
    obs = adata.obs
    ref_samples = list(obs.index[obs["timepoint"] == settings.timepoints[0]])
    zs = zscores(values[expressed], ref_samples)
    table = sample_scores(zs.z, net, tmin=settings.tmin)
    meta = obs[["participant_id", "arm", "timepoint"]].astype(str)
    table = table.join(meta, on="sample_id")
    order = {m: i for i, m in enumerate(["waggr", "ulm", "waggr_signed", "ulm_signed"])}
    table = table.sort_values(
        ["pathway", "method", "sample_id"],
        key=lambda s: s.map(order) if s.name == "method" else s,
        kind="mergesort",
    )[SCORES_COLUMNS].reset_index(drop=True)
    all_tests = _tests(table, obs, net, de_tables, settings)
    write_table(net, network)
    write_table(table, scores)
    write_table(all_tests, tests)
    plot_scores(
        table,
        list(settings.arms),
        list(settings.timepoints),
        list(settings.primary),
        plot,
    )
    with atomic_open(summary) as fh:
        json.dump(
            _summary(zs, expressed, sets, net, settings), fh, indent=2, sort_keys=True
        )
        fh.write("\n")
    return {"network": net, "scores": table, "tests": all_tests}


def interaction_sources_available(
    config: Mapping[str, Any], directory: str | os.PathLike[str] = "."
) -> tuple[bool, str]:
    """Whether the pathway stage can run: sources configured and present.

    Returns
    -------
    tuple
        (available, reason if not).
    """
    cfg = config.get("pathways", {})
    if not cfg.get("enabled", True):
        return False, "pathways.enabled is false"
    srcs = cfg.get("interactions") or []
    if not srcs:
        return False, (
            "no miRNA-target interaction table is configured (pathways.interactions); "
            "miRTarBase is academic-licence only and not shipped: `exomir "
            "fetch-references --accept-licence --write-config DIR` downloads and "
            "configures it, or point pathways.interactions at your copy (see "
            "docs/pathways.md)"
        )
    missing = [
        str(s["path"])
        for s in srcs
        if not Path(resolve_path(str(s["path"]), directory)).is_file()
    ]
    if missing:
        return False, f"interaction table(s) not found: {', '.join(missing)}"
    return True, ""
