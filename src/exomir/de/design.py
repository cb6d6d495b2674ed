"""Explicit design matrices for the three contrast kinds, with rank checks."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from exomir.de.settings import CONFIG_LABEL, TREATED_FOLLOWUP, Contrast
from exomir.errors import Issue, ValidationError

log = logging.getLogger(__name__)


class DesignError(ValidationError):
    """A contrast cannot be estimated from the libraries available."""


def _dummies(values: pd.Series, name: str, levels: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {f"{name}[T.{lvl}]": (values == lvl).astype(float) for lvl in levels[1:]},
        index=values.index,
    )


def _rank(x: pd.DataFrame) -> int:
    return int(np.linalg.matrix_rank(x.to_numpy(dtype=float))) if x.shape[1] else 0


def add_covariates(
    x: pd.DataFrame,
    meta: pd.DataFrame,
    covariates: Sequence[str],
    paired: bool,
    notes: list[str],
) -> pd.DataFrame:
    """Append covariate columns to a design, dropping those that add no rank.

    Numeric covariates are standardised; text covariates become treatment
    dummies (sorted levels, first as reference). A column that is constant,
    or collinear with the design (e.g. absorbed by the participant terms of a
    paired design), is dropped and a note appended to ``notes``.
    """
    for cov in covariates:
        col = meta[cov]
        numeric = pd.api.types.is_numeric_dtype(col.dtype) or all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in col
        )
        if numeric:
            v = col.astype(float)
            sd = v.std(ddof=0)
            if sd == 0:
                notes.append(f"covariate {cov} is constant here; dropped")
                continue
            add = pd.DataFrame({cov: (v - v.mean()) / sd})
        else:
            levels = sorted(col.astype(str).unique())
            if len(levels) < 2:
                notes.append(f"covariate {cov} has one level here; dropped")
                continue
            add = _dummies(col.astype(str), cov, levels)
        for c in add.columns:
            trial = pd.concat([x, add[[c]]], axis=1)
            if _rank(trial) > _rank(x):
                x = trial
            else:
                why = "absorbed by participant" if paired else "collinear"
                notes.append(f"design column {c} dropped ({why})")
    return x


def design_matrix(
    meta: pd.DataFrame, contrast: Contrast
) -> tuple[pd.DataFrame, list[str]]:
    """Design matrix of a contrast over its included libraries.

    Parameters
    ----------
    meta
        Included libraries (rows) with ``participant_id``, ``arm``,
        ``timepoint`` and the covariate columns.
    contrast
        The contrast.

    Returns
    -------
    tuple
        The design matrix (float DataFrame indexed like ``meta``; the tested
        column is ``contrast.coefficient``) and notes on dropped covariates.

    Raises
    ------
    DesignError
        If a factor of the contrast has a single level among the libraries,
        the design is not of full rank, or no residual degrees of freedom are
        left.
    """
    label = f"{CONFIG_LABEL} (contrast {contrast.name})"
    n = len(meta)
    notes: list[str] = []

    def fail(msg: str) -> DesignError:
        return DesignError([Issue(label, msg, column=f"de.contrasts.{contrast.name}")])

    if n == 0:
        raise fail("no usable libraries for this contrast")
    parts = [pd.DataFrame({"Intercept": np.ones(n)}, index=meta.index)]
    if contrast.paired:
        pids = sorted(meta["participant_id"].unique())
        for a in contrast.arms:
            n_a = meta.loc[meta["arm"] == a, "participant_id"].nunique()
            if n_a < (2 if contrast.kind == "within_arm" else 1):
                raise fail(
                    f"single level: {n_a} paired participant(s) in arm '{a}'; the "
                    "contrast needs paired participants (both timepoints usable)"
                    + (" in each arm" if contrast.kind == "interaction" else "")
                )
        parts.append(_dummies(meta["participant_id"], "participant", pids))
        parts.append(_dummies(meta["timepoint"], "timepoint", contrast.timepoints))
        if contrast.kind == "interaction":
            tf = (meta["arm"] == contrast.arm) & (
                meta["timepoint"] == contrast.timepoint
            )
            parts.append(pd.DataFrame({TREATED_FOLLOWUP: tf.astype(float)}))
    else:
        for a in contrast.arms:
            if (meta["arm"] == a).sum() < 1:
                raise fail(
                    f"single level: no usable library of arm '{a}' at "
                    f"{contrast.timepoint}"
                )
        parts.append(_dummies(meta["arm"], "arm", contrast.arms))
    x = pd.concat(parts, axis=1)
    if _rank(x) < x.shape[1]:
        raise fail("the design is not of full rank")
    x = add_covariates(x, meta, contrast.covariates, contrast.paired, notes)
    if x.shape[0] - x.shape[1] < 1:
        raise fail(
            f"{x.shape[0]} libraries and {x.shape[1]} design columns leave no "
            "residual degrees of freedom"
        )
    for note in notes:
        log.info("contrast %s: %s", contrast.name, note)
    return x, notes
