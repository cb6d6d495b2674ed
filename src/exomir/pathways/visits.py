"""Pathway-score ANCOVA at every post-dose timepoint (docs/pathways.md, "Across visits").

``results/pathways/scores.tsv`` scores every usable library, at every
timepoint. The primary table (``tests.tsv``) tests the arm effect on the score
at the primary visit; this module repeats the same ANCOVA (follow-up score on
arm, baseline score and strata, with the permutation p-value) at each post-dose
timepoint, Holm-adjusted within visit, method and pathway family exactly as
``tests.tsv``, so the primary visit's rows equal its ANCOVA rows.
"""

from __future__ import annotations

import logging
import os

import pandas as pd

from exomir.pathways.run import TESTS_COLUMNS
from exomir.pathways.settings import PathwaySettings
from exomir.pathways.stats import adjust, ancova_tests
from exomir.tables import read_table, write_table

log = logging.getLogger("exomir.pathways")

#: Columns of ``ancova_by_visit.tsv``: the visit, then the tests.tsv layout.
BY_VISIT_COLUMNS = ["visit", *TESTS_COLUMNS]


def ancova_by_visit(
    scores: pd.DataFrame, participants: pd.DataFrame, settings: PathwaySettings
) -> pd.DataFrame:
    """ANCOVA and permutation rows of the arm effect at every post-dose timepoint.

    Parameters
    ----------
    scores
        ``results/pathways/scores.tsv`` (long: sample, participant, arm,
        timepoint, pathway, method, score).
    participants
        One row per participant with ``participant_id``, ``arm`` and the strata.
    settings
        Pathway settings (arms, timepoints, strata, primary pathways, seeds).

    Returns
    -------
    pandas.DataFrame
        :data:`BY_VISIT_COLUMNS`, sorted by visit (design order), analysis,
        method and pathway.
    """
    arms, tps = list(settings.arms), list(settings.timepoints)
    strata = list(settings.strata)
    parts = (
        participants[["participant_id", "arm", *strata]]
        .astype(str)
        .drop_duplicates("participant_id")
    )
    out = []
    for visit in tps[1:]:
        rows = ancova_tests(
            scores,
            parts,
            arms,
            tps[0],
            visit,
            list(settings.primary),
            strata=strata,
            cov_type=settings.cov_type,
            ci_level=settings.ci_level,
            n_perm=settings.ancova_permutations,
            seed=settings.seed,
        )
        if rows.empty:
            log.warning("pathway ANCOVA at %s: no participant with both scores", visit)
            continue
        rows = adjust(rows, list(settings.primary))
        rows.insert(0, "visit", visit)
        rows["_order"] = tps.index(visit)
        out.append(rows)
    if not out:
        return pd.DataFrame(columns=BY_VISIT_COLUMNS)
    res = pd.concat(out, ignore_index=True)
    for c in BY_VISIT_COLUMNS:
        if c not in res.columns:
            res[c] = pd.NA
    res = res.sort_values(["_order", "analysis", "method", "pathway"], kind="mergesort")
    return res[BY_VISIT_COLUMNS].reset_index(drop=True)


def by_visit_step(
    *,
    scores: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    table: str | os.PathLike[str],
    settings: PathwaySettings,
) -> pd.DataFrame:
    """Rule ``pathways_by_visit``: write ``results/pathways/ancova_by_visit.tsv``."""
    sc = pd.read_csv(scores, sep="\t", dtype={"participant_id": str})
    res = ancova_by_visit(sc, read_table(participants, "participants"), settings)
    write_table(res, table)
    return res
