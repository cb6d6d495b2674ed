"""Feature filter and size-factor control miRNAs (rules 2 and 3 of docs/de.md)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exomir.de.settings import CONFIG_LABEL, DESettings
from exomir.errors import Issue, ValidationError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- #
# Filtering and control miRNAs
# --------------------------------------------------------------------------- #


def filter_mirnas(
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    settings: DESettings,
) -> pd.DataFrame:
    """Apply the feature filter (rule 2 of docs/de.md).

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`; only usable libraries are considered.
    settings
        ``min_rpm``, ``min_count``, ``min_frac`` and ``primary_mirna`` are used.

    Returns
    -------
    pandas.DataFrame
        One row per miRNA (sorted by name): ``mirna``, ``total_count``,
        ``best_cell`` (arm|timepoint with the largest share of libraries
        expressing the miRNA, i.e. RPM >= ``min_rpm`` and count >=
        ``min_count``), ``best_frac`` (that share), ``best_frac_rpm`` (the
        largest share by the RPM rule alone), ``kept`` and ``reason``.
    """
    used = meta.index[meta["usable"]]
    sub = counts[list(used)]
    rpm = sub / sub.sum(axis=0) * 1e6
    above_rpm = rpm >= settings.min_rpm
    above = above_rpm & (sub >= settings.min_count)
    cells = meta.loc[used].groupby(["arm", "timepoint"], sort=True).groups

    def shares(mask: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {f"{a}|{t}": mask[list(idx)].mean(axis=1) for (a, t), idx in cells.items()},
            index=counts.index,
        )

    fracs = shares(above)
    fracs_rpm = shares(above_rpm)
    total = sub.sum(axis=1)
    if fracs.shape[1]:
        best_cell = fracs.idxmax(axis=1)
        best_frac = fracs.max(axis=1)
        best_rpm = fracs_rpm.max(axis=1)
    else:
        best_cell = pd.Series("", index=counts.index)
        best_frac = pd.Series(0.0, index=counts.index)
        best_rpm = pd.Series(0.0, index=counts.index)
    tol = 1e-12
    kept = best_frac >= settings.min_frac - tol
    rpm_ok = best_rpm >= settings.min_frac - tol
    reason = np.where(
        kept,
        "kept",
        np.where(
            rpm_ok,
            f"fewer than {settings.min_count:d} reads (de.min_count) in "
            f"{settings.min_frac:g} of the libraries of every arm x timepoint "
            f"cell (RPM >= {settings.min_rpm:g} alone would keep it)",
            f"RPM >= {settings.min_rpm:g} in fewer than {settings.min_frac:g} of "
            "the libraries of every arm x timepoint cell",
        ),
    )
    out = pd.DataFrame(
        {
            "mirna": counts.index,
            "total_count": total.to_numpy(),
            "best_cell": best_cell.to_numpy(),
            "best_frac": best_frac.to_numpy(),
            "best_frac_rpm": best_rpm.to_numpy(),
            "kept": kept.to_numpy(),
            "reason": reason,
        },
        index=counts.index,
    )
    zero = total == 0
    out.loc[zero, "kept"] = False
    out.loc[zero, "reason"] = "no reads in any usable library"
    n_count = int((rpm_ok & ~kept & ~zero).sum())
    if n_count:
        log.warning(
            "feature filter: %d miRNA(s) pass the RPM rule but have fewer than %d "
            "reads in too many libraries (de.min_count); left out",
            n_count,
            settings.min_count,
        )
    p = settings.primary_mirna
    if p in out.index and not out.at[p, "kept"] and not zero[p]:
        out.at[p, "kept"] = True
        out.at[p, "reason"] = "kept: primary endpoint (below the filter)"
    return out.sort_index()


def _strip_species(name: str) -> str:
    return re.sub(r"^[a-z]{3,4}-", "", name)


def exclusion_reason(mirna: str, settings: DESettings) -> str:
    """Why a miRNA may not be a size-factor control ("" if it may).

    Grouped names (identical sequences joined with ``/``) are excluded when any
    member is.

    Parameters
    ----------
    mirna
        miRNA name.
    settings
        Exclusion lists and the primary miRNA.

    Returns
    -------
    str
        The reason, or an empty string.
    """
    names = set(settings.exclude_names) | {
        _strip_species(n) for n in settings.exclude_names
    }
    for part in mirna.split("/"):
        if part == settings.primary_mirna:
            return "primary endpoint miRNA"
        if part in names or _strip_species(part) in names:
            return "excluded by name (de.control.exclude_names)"
        for rx in settings.exclude_regex:
            if re.search(rx, part):
                return "excluded by pattern (de.control.exclude_regex)"
    return ""


def _median_of_ratios(counts: np.ndarray) -> np.ndarray:
    """Median-of-ratios size factors (samples x genes, all-positive genes only)."""
    pos = (counts > 0).all(axis=0)
    if not pos.any():
        return np.ones(counts.shape[0])
    logc = np.log(counts[:, pos])
    logmeans = logc.mean(axis=0)
    return np.exp(np.median(logc - logmeans, axis=1))


@dataclass
class ControlSet:
    """Size-factor control miRNAs and the resolved fit type.

    Attributes
    ----------
    mirnas
        Control miRNAs (sorted).
    fit_type
        ``ratio`` or ``poscounts``.
    table
        Per filtered miRNA: ``mirna``, ``base_mean``, ``control`` and
        ``control_reason``.
    """

    mirnas: list[str]
    fit_type: str
    table: pd.DataFrame


def control_mirnas(
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    kept: Sequence[str],
    settings: DESettings,
) -> ControlSet:
    """Choose the size-factor control miRNAs (rule 3 of docs/de.md).

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`sample_table`; only usable libraries are considered.
    kept
        miRNAs that passed the feature filter.
    settings
        Exclusions, thresholds and fit type.

    Returns
    -------
    ControlSet
        The control miRNAs, the fit type and a per-miRNA table of reasons.

    Raises
    ------
    ValidationError
        If no miRNA qualifies.
    """
    used = list(meta.index[meta["usable"]])
    sub = counts.loc[list(kept), used]
    x = sub.to_numpy(dtype=float).T
    sf = _median_of_ratios(x)
    base_mean = (x / sf[:, None]).mean(axis=0)
    all_pos = (x > 0).all(axis=0)
    reasons = [exclusion_reason(m, settings) for m in sub.index]
    candidate = np.array([r == "" for r in reasons])
    high = base_mean >= settings.control_min_base_mean
    fit_type = settings.size_factors_fit_type
    n_ratio = int((candidate & all_pos & high).sum())
    if fit_type == "auto":
        fit_type = "ratio" if n_ratio >= settings.control_min_mirnas else "poscounts"
        log.info(
            "size factors: %d candidate control miRNAs are positive in every "
            "library -> fit type '%s'",
            n_ratio,
            fit_type,
        )
    final = []
    for i, _m in enumerate(sub.index):
        if reasons[i]:
            final.append(reasons[i])
        elif fit_type == "ratio" and not all_pos[i]:
            final.append("a zero count in some library")
        elif not high[i]:
            final.append(
                f"mean normalised count {base_mean[i]:.1f} < "
                f"{settings.control_min_base_mean:g}"
            )
        else:
            final.append("")
    table = pd.DataFrame(
        {
            "mirna": sub.index,
            "base_mean": base_mean,
            "control": [r == "" for r in final],
            "control_reason": [r or "control" for r in final],
        },
        index=sub.index,
    )
    chosen = sorted(table.index[table["control"]])
    if not chosen:
        raise ValidationError(
            [
                Issue(
                    CONFIG_LABEL,
                    "no miRNA qualifies as a size-factor control after the "
                    "exclusions; lower de.control.min_base_mean or shorten the "
                    "exclusion lists",
                    column="de.control",
                )
            ]
        )
    log.info("size factors from %d control miRNAs (%s)", len(chosen), fit_type)
    return ControlSet(mirnas=chosen, fit_type=fit_type, table=table.sort_index())
