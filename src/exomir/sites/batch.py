"""Sequencing batch confounded with site.

When every library of a batch comes from one site, a batch effect cannot be
told apart from a site effect (and, with site-level arm imbalance, from the
arm). Per batch column of samples.tsv (``library_batch``, and
``extraction_batch`` / ``sequencing_run`` when recorded) the libraries are
cross-tabulated against the participant's site, and two rules flag
confounding:

* Cramer's V of the batch x site table (``sqrt(chi2 / (n (min(r, c) - 1)))``,
  no continuity correction) at or above ``site_analysis.max_batch_site_cramers_v``;
* every batch with at least two libraries comes from a single site (with at
  least two such batches and two sites), whatever V is.

V needs at least two batches and two sites; otherwise it is not computed and
the table says why.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from exomir.sites import SITE_COLUMN

log = logging.getLogger("exomir.sites")

BATCH_COLUMNS = ("library_batch", "extraction_batch", "sequencing_run")

BATCH_SITE_COLUMNS = [
    "table",
    "batch_column",
    "batch",
    "site",
    "n_libraries",
    "single_site",
    "cramers_v",
    "threshold",
    "confounded",
    "note",
]


def cramers_v(table: pd.DataFrame) -> float:
    """Cramer's V of a contingency table (NaN when a margin has < 2 levels)."""
    obs = table.to_numpy(dtype=float)
    obs = obs[obs.sum(axis=1) > 0][:, obs.sum(axis=0) > 0]
    r, c = obs.shape
    if min(r, c) < 2:
        return math.nan
    n = obs.sum()
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / n
    chi2 = float(((obs - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / (n * (min(r, c) - 1)))


def batch_site_table(
    samples: pd.DataFrame, participants: pd.DataFrame, threshold: float
) -> tuple[pd.DataFrame, list[str]]:
    """Cross-tabulate each batch column against site and flag confounding.

    Parameters
    ----------
    samples
        samples.tsv (``participant_id`` and the batch columns).
    participants
        participants.tsv (``site_id``).
    threshold
        Cramer's V from which the batch column is flagged.

    Returns
    -------
    tuple
        The table (:data:`BATCH_SITE_COLUMNS`: ``crosstab`` rows per batch and
        site, one ``summary`` row per batch column) and the warnings (also
        logged).
    """
    par = participants.drop_duplicates("participant_id")
    site = par.set_index(par["participant_id"].astype(str))[SITE_COLUMN]
    s = samples.copy()
    s["_site"] = s["participant_id"].astype(str).map(site)
    rows: list[dict[str, object]] = []
    warnings: list[str] = []
    for col in BATCH_COLUMNS:
        if col not in s.columns or s[col].isna().all():
            continue
        d = s[s[col].notna() & s["_site"].notna()]
        n_missing = len(s) - len(d)
        tab = pd.crosstab(d[col].astype(str), d["_site"].astype(str))
        single: dict[str, bool] = {}
        for batch, counts in tab.iterrows():
            total = int(counts.sum())
            single[str(batch)] = bool(total >= 2 and (counts > 0).sum() == 1)
            for site_code, n in counts.items():
                if n:
                    rows.append(
                        {
                            "table": "crosstab",
                            "batch_column": col,
                            "batch": str(batch),
                            "site": str(site_code),
                            "n_libraries": int(n),
                            "single_site": single[str(batch)],
                        }
                    )
        v = cramers_v(tab)
        big = [b for b, counts in tab.iterrows() if int(counts.sum()) >= 2]
        all_single = (
            len(big) >= 2 and tab.shape[1] >= 2 and all(single[str(b)] for b in big)
        )
        flagged = bool((np.isfinite(v) and v >= threshold) or all_single)
        notes = []
        if not np.isfinite(v):
            notes.append("Cramer's V not computed (fewer than two batches or sites)")
        if n_missing:
            notes.append(f"{n_missing} librar(ies) without {col} or site left out")
        if flagged:
            reason = (
                "every batch comes from a single site"
                if all_single
                else f"Cramer's V {v:.2f} >= {threshold:g}"
            )
            msg = (
                f"{col} is confounded with site ({reason}): a batch effect cannot be "
                "separated from a site effect"
            )
            warnings.append(msg)
            notes.append(msg)
            log.warning("batch/site confounding: %s", msg)
        rows.append(
            {
                "table": "summary",
                "batch_column": col,
                "batch": "all",
                "site": "all",
                "n_libraries": len(d),
                "single_site": all_single,
                "cramers_v": v,
                "threshold": threshold,
                "confounded": flagged,
                "note": "; ".join(notes),
            }
        )
    out = pd.DataFrame(rows, columns=BATCH_SITE_COLUMNS)
    for c in ("single_site", "confounded"):
        out[c] = out[c].map({True: "true", False: "false"}).fillna("")
    return out, warnings
