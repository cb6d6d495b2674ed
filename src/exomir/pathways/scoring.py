"""miRNA -> pathway network, per-sample scores and contrast-level enrichment.

Definitions (analysis_spec.md §2.2-2.3): ``T[m,g] = 1`` for an interaction;
``K_m`` = number of distinct targets of miRNA ``m``; ``k_mP`` = its targets in
pathway ``P``; weight ``w_mP = k_mP / sqrt(K_m)``; signed weight
``w±_mP = sum_{g in P} T[m,g] r_g / sqrt(K_m)`` with ``r_g`` the role of the
gene in the pathway's family (roles file; -1 for a negative regulator, any
non-zero number allowed to weight regulators) and +1 for unlisted genes.

Per-sample scores use decoupler 2.x on standardised miRNA levels ``z``
(reference = all baseline samples pooled over arms):

* ``waggr``: weighted mean ``sum w z / sum |w|`` ("targeting pressure"; > 0 =
  more predicted repression of P's genes);
* ``ulm``: t-value of the univariate linear model of ``z`` on ``w``;
* ``waggr_signed`` / ``ulm_signed``: the same with ``w±``, reported as
  ``-S±`` = predicted pathway activity (miRNAs repress their targets).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exomir.errors import Issue, ValidationError
from exomir.pathways.genesets import GeneSet

__all__ = [
    "METHODS",
    "ZScores",
    "build_network",
    "contrast_enrichment",
    "degree_strata",
    "sample_scores",
    "ulm_t",
    "zscores",
]

log = logging.getLogger("exomir.pathways")

#: Per-sample methods, in output order.
METHODS = ("waggr", "ulm", "waggr_signed", "ulm_signed")


def build_network(
    interactions: pd.DataFrame,
    gene_sets: Sequence[GeneSet],
    families: Mapping[str, str],
    roles: pd.DataFrame | None,
    expressed: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Weighted miRNA -> pathway network.

    Parameters
    ----------
    interactions
        Mapped interactions (``mirna``, ``target_symbol``, ``target_entrez``).
    gene_sets
        Pathways with ``symbols`` filled in (:func:`genesets.to_symbols`).
    families
        Pathway id -> family (``PI3K_AKT``, ``MAPK``) used to look up roles.
    roles
        From :func:`genesets.read_roles`, or ``None`` (all genes +1).
    expressed
        miRNAs passing the expression filter; ``None`` keeps all.

    Returns
    -------
    pandas.DataFrame
        One row per pathway and miRNA with ``k_mP >= 1``: pathway,
        mirna, n_targets_in_pathway, n_targets_total, weight, signed_weight,
        n_negative_regulators, targets (``;``-joined), sorted.

    Raises
    ------
    ValidationError
        If a gene set shares no gene with the interaction targets.
    """
    pairs = interactions[["mirna", "target_symbol"]].drop_duplicates()
    targets = pairs.groupby("mirna")["target_symbol"].apply(frozenset)
    big_k = targets.apply(len)
    all_targets = set(pairs["target_symbol"])
    role_of: dict[str, dict[str, float]] = {}
    if roles is not None:
        for fam, sub in roles.groupby("family"):
            role_of[str(fam)] = dict(
                zip(sub["gene"], sub["role"].astype(float), strict=True)
            )
    if expressed is not None:
        keep = set(expressed)
        n_before = len(targets)
        targets = targets[targets.index.isin(keep)]
        log.info(
            "network: %d of %d miRNAs with targets pass the expression filter",
            len(targets),
            n_before,
        )
    rows = []
    issues = []
    for gs in gene_sets:
        overlap = gs.symbols & all_targets
        if not overlap:
            issues.append(
                Issue(
                    gs.source,
                    f"gene set {gs.id} ({len(gs.genes)} genes, {len(gs.symbols)} "
                    "with a symbol) shares no gene with the interaction targets "
                    f"({len(all_targets)} genes); check id_type and the network",
                    row_id=gs.id,
                )
            )
            continue
        fam = families.get(gs.id, "")
        roles_p = role_of.get(fam, {})
        brakes = {g for g, r in roles_p.items() if r < 0}
        for m, tg in targets.items():
            hit = tg & gs.symbols
            if not hit:
                continue
            n_neg = len(hit & brakes)
            k = len(hit)
            signed = sum(roles_p.get(g, 1.0) for g in hit)
            rows.append(
                {
                    "pathway": gs.id,
                    "mirna": m,
                    "n_targets_in_pathway": k,
                    "n_targets_total": int(big_k[m]),
                    "weight": k / math.sqrt(big_k[m]),
                    "signed_weight": signed / math.sqrt(big_k[m]),
                    "n_negative_regulators": n_neg,
                    "targets": ";".join(sorted(hit)),
                }
            )
        log.info(
            "pathway %s: %d genes, %d targeted in the network, %d miRNAs with "
            "targets in it%s",
            gs.id,
            len(gs.genes),
            len(overlap),
            sum(r["pathway"] == gs.id for r in rows),
            f" ({len(brakes & gs.symbols)} negative regulators of {fam})"
            if fam
            else " (no family: signed weights = unsigned)",
        )
    if issues:
        raise ValidationError(issues)
    cols = [
        "pathway",
        "mirna",
        "n_targets_in_pathway",
        "n_targets_total",
        "weight",
        "signed_weight",
        "n_negative_regulators",
        "targets",
    ]
    net = pd.DataFrame(rows, columns=cols)
    return net.sort_values(["pathway", "mirna"], kind="mergesort").reset_index(
        drop=True
    )


@dataclass(frozen=True)
class ZScores:
    """Standardised miRNA levels.

    Attributes
    ----------
    z
        Samples x miRNAs.
    reference_samples
        Samples whose mean and SD define the standardisation.
    mean, sd
        Per-miRNA reference mean and SD (ddof=1).
    """

    z: pd.DataFrame
    reference_samples: tuple[str, ...]
    mean: pd.Series
    sd: pd.Series


def zscores(values: pd.DataFrame, reference: Sequence[str]) -> ZScores:
    """Standardise each miRNA against a reference set of samples.

    Parameters
    ----------
    values
        Samples x miRNAs (e.g. VST values).
    reference
        Reference samples (all baseline samples, pooled over arms).

    Returns
    -------
    ZScores
        miRNAs with zero or undefined reference SD are dropped (logged).

    Raises
    ------
    ValidationError
        With fewer than 3 reference samples.
    """
    ref = [s for s in values.index if s in set(reference)]
    if len(ref) < 3:
        raise ValidationError(
            [
                Issue(
                    "results/de/mirna.h5ad",
                    f"{len(ref)} baseline samples; at least 3 are needed to "
                    "standardise miRNA levels",
                )
            ]
        )
    mu = values.loc[ref].mean(axis=0)
    sd = values.loc[ref].std(axis=0, ddof=1)
    ok = sd > 1e-12
    if not ok.all():
        log.warning(
            "%d of %d miRNAs have no baseline variation and are left out of the scores",
            int((~ok).sum()),
            len(ok),
        )
    z = (values.loc[:, ok] - mu[ok]) / sd[ok]
    return ZScores(z, tuple(ref), mu[ok], sd[ok])


def _decoupler_net(net: pd.DataFrame, col: str) -> pd.DataFrame:
    d = net[["pathway", "mirna", col]].rename(
        columns={"pathway": "source", "mirna": "target", col: "weight"}
    )
    return d[d["weight"] != 0].reset_index(drop=True)


def _check_tmin(
    net: pd.DataFrame, features: Sequence[str], tmin: int, label: str
) -> list[str]:
    feats = set(features)
    sizes = net[net["target"].isin(feats)].groupby("source").size()
    ok = [p for p in sorted(set(net["source"])) if sizes.get(p, 0) >= tmin]
    small = {p: int(sizes.get(p, 0)) for p in sorted(set(net["source"])) if p not in ok}
    if small:
        log.warning(
            "%s: %d pathway(s) have fewer than tmin=%d miRNAs in the data and get "
            "no score: %s",
            label,
            len(small),
            tmin,
            ", ".join(f"{p} ({n})" for p, n in small.items()),
        )
    return ok


def sample_scores(z: pd.DataFrame, net: pd.DataFrame, tmin: int = 5) -> pd.DataFrame:
    """Per-sample pathway scores with decoupler (waggr, ulm, signed variants).

    Parameters
    ----------
    z
        Samples x miRNAs standardised levels.
    net
        From :func:`build_network`.
    tmin
        Minimum number of miRNAs per pathway.

    Returns
    -------
    pandas.DataFrame
        Long table: sample_id, pathway, method, score, n_mirnas.
    """
    import decoupler as dc

    out = []
    for method in METHODS:
        signed = method.endswith("_signed")
        dnet = _decoupler_net(net, "signed_weight" if signed else "weight")
        ok = _check_tmin(dnet, list(z.columns), tmin, method)
        if not ok:
            continue
        dnet = dnet[dnet["source"].isin(ok)]
        if method.startswith("waggr"):
            scores, _ = dc.mt.waggr(
                z, dnet, tmin=tmin, times=1, fun="wmean", empty=False
            )
        else:
            scores, _ = dc.mt.ulm(z, dnet, tmin=tmin, empty=False)
        sizes = dnet[dnet["target"].isin(set(z.columns))].groupby("source").size()
        long = scores.reset_index(names="sample_id").melt(
            id_vars="sample_id", var_name="pathway", value_name="score"
        )
        if signed:
            long["score"] = -long["score"]
        long["method"] = method
        long["n_mirnas"] = long["pathway"].map(sizes).astype(int)
        out.append(long)
    if not out:
        raise ValidationError(
            [Issue("config pathways", f"no pathway has tmin={tmin} miRNAs in the data")]
        )
    res = pd.concat(out, ignore_index=True)
    return res[["sample_id", "pathway", "method", "score", "n_mirnas"]]


def ulm_t(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """t-value of the slope of ``y ~ 1 + x`` for each row of ``y``.

    Parameters
    ----------
    y
        Responses, shape (n_rows, n).
    x
        Predictor, shape (n,).

    Returns
    -------
    numpy.ndarray
        t-values, shape (n_rows,).
    """
    n = x.shape[0]
    xc = x - x.mean()
    yc = y - y.mean(axis=1, keepdims=True)
    r = (yc @ xc) / (np.sqrt((yc**2).sum(axis=1)) * np.sqrt((xc**2).sum()))
    r = np.clip(r, -1 + 1e-15, 1 - 1e-15)
    return r * np.sqrt((n - 2) / (1 - r**2))


def degree_strata(k_total: pd.Series, bins: int = 10) -> pd.Series:
    """Degree strata of miRNAs: deciles (``bins``) of ``K_m`` by rank.

    miRNAs with ``K_m = 0`` (none in this universe) would form their own
    stratum; ties share a stratum because ranks use the minimum method.
    """
    r = k_total.rank(method="min") - 1
    q = np.floor(r / len(k_total) * bins).astype(int)
    return pd.Series(np.minimum(q, bins - 1), index=k_total.index)


def contrast_enrichment(
    stat: pd.Series,
    net: pd.DataFrame,
    tmin: int = 5,
    n_perm: int = 10000,
    bins: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Contrast-level enrichment with a degree-preserving permutation null.

    The DE Wald statistics are scored as one "sample" with decoupler (ulm and
    waggr, unsigned and signed weights). The null permutes the statistics
    among miRNAs of the same ``K_m`` decile (total target count), which keeps
    the network's degree structure (Godard & van Eyll 2015).

    Parameters
    ----------
    stat
        miRNA -> Wald statistic of one contrast (NaN rows are dropped).
    net
        From :func:`build_network`.
    tmin, n_perm, bins, seed
        Minimum miRNAs per pathway; permutations; degree strata; RNG seed.

    Returns
    -------
    pandas.DataFrame
        pathway, method, statistic (observed score), p_value (two-sided,
        ``(1 + #|null| >= |obs|) / (n_perm + 1)``), n (miRNAs in the pathway),
        n_universe.
    """
    import decoupler as dc

    stat = stat.dropna()
    universe = sorted(set(stat.index) & set(net["mirna"]))
    if not universe:
        raise ValidationError(
            [Issue("DE table", "no miRNA of the DE table is in the network")]
        )
    k_total = net.drop_duplicates("mirna").set_index("mirna")["n_targets_total"]
    strata = degree_strata(k_total.loc[universe], bins)
    rng = np.random.default_rng(seed)
    y = stat.loc[universe].to_numpy(dtype=float)
    perm_idx = np.empty((n_perm, len(universe)), dtype=np.int64)
    base = np.arange(len(universe))
    groups = [np.flatnonzero(strata.to_numpy() == s) for s in np.unique(strata)]
    for i in range(n_perm):
        idx = base.copy()
        for g in groups:
            idx[g] = g[rng.permutation(len(g))]
        perm_idx[i] = idx
    ynull = y[perm_idx]
    mat = pd.DataFrame([y], index=["contrast"], columns=universe)
    rows = []
    for method in ("ulm", "waggr", "ulm_signed", "waggr_signed"):
        signed = method.endswith("_signed")
        dnet = _decoupler_net(net, "signed_weight" if signed else "weight")
        dnet = dnet[dnet["target"].isin(set(universe))]
        ok = _check_tmin(dnet, universe, tmin, f"contrast {method}")
        dnet = dnet[dnet["source"].isin(ok)]
        if not ok:
            continue
        if method.startswith("ulm"):
            obs, _ = dc.mt.ulm(mat, dnet, tmin=tmin, empty=False)
        else:
            obs, _ = dc.mt.waggr(
                mat, dnet, tmin=tmin, times=1, fun="wmean", empty=False
            )
        # decoupler's feature universe: miRNAs in any source of this net.
        feats = sorted(set(dnet["target"]))
        fpos = np.array([universe.index(f) for f in feats])
        for p in ok:
            w = (
                dnet[dnet["source"] == p]
                .set_index("target")["weight"]
                .reindex(feats)
                .fillna(0.0)
                .to_numpy()
            )
            if method.startswith("ulm"):
                null = ulm_t(ynull[:, fpos], w)
            else:
                null = ynull[:, fpos] @ w / np.abs(w).sum()
            o = float(obs.loc["contrast", p])
            null_s = -null if signed else null
            o_s = -o if signed else o
            pval = (1 + np.sum(np.abs(null_s) >= abs(o_s) - 1e-12)) / (n_perm + 1)
            rows.append(
                {
                    "pathway": p,
                    "method": method,
                    "statistic": o_s,
                    "null_mean": float(null_s.mean()),
                    "null_sd": float(null_s.std(ddof=1)),
                    "p_value": float(pval),
                    "n": int((w != 0).sum()),
                    "n_universe": len(feats),
                }
            )
    return pd.DataFrame(rows)
