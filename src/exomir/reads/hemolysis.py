"""Haemolysis ratio of a library and the cohort's robust (median + k x MAD) flag.

The ratio is log2 of the RPM of a red-blood-cell miRNA (miR-451a) over a
stable one (miR-23a-3p); read QC flags libraries above the cohort threshold.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: Scale that makes the MAD a consistent estimator of the SD for normal data.
MAD_SCALE = 1.4826
#: Default haemolysis pair (numerator, denominator), miRBase names.
DEFAULT_HEMOLYSIS_PAIR: tuple[str, str] = ("hsa-miR-451a", "hsa-miR-23a-3p")


def _feature_counts(counts: pd.DataFrame, name: str) -> pd.Series | None:
    """Sum the counts of ``name``, also inside identical-sequence groups ``a/b``."""
    hits = [m for m in counts.index if name in str(m).split("/")]
    if not hits:
        return None
    return counts.loc[hits].sum(axis=0)


def hemolysis_log2ratio(
    counts: pd.DataFrame, pair: tuple[str, str] = DEFAULT_HEMOLYSIS_PAIR
) -> pd.Series:
    """``log2((n_451a + 1) / (n_23a + 1))`` on normalised counts.

    Counts are normalised to reads per million **miRNA** reads (RPM, miRNA-only
    library size), which does not depend on the rest of the cohort; the
    pseudocount is added on that scale (analysis_spec §1.4.4).

    Parameters
    ----------
    counts
        miRNAs x samples counts (``mirna_counts.tsv``).
    pair
        (numerator, denominator) miRNA names.

    Returns
    -------
    pandas.Series
        Per sample; NaN for libraries without miRNA counts or with neither
        miRNA of the pair detected (no flag then).
    """
    num = _feature_counts(counts, pair[0])
    den = _feature_counts(counts, pair[1])
    if num is None and den is None:
        log.warning("haemolysis pair %s / %s not in the count matrix", *pair)
        return pd.Series(np.nan, index=counts.columns, name="hemolysis_log2ratio")
    zeros = pd.Series(0, index=counts.columns)
    num = zeros if num is None else num
    den = zeros if den is None else den
    size = counts.sum(axis=0).astype(float)
    scale = 1e6 / size.where(size > 0)
    ratio = np.log2((num * scale + 1) / (den * scale + 1))
    # neither miRNA detected: the ratio would be log2(1/1) = 0 without data
    ratio = ratio.where((num + den) > 0)
    return ratio.astype(float).rename("hemolysis_log2ratio")


@dataclass(frozen=True)
class MadThreshold:
    """Cohort outlier threshold ``median + k * MAD``.

    Attributes
    ----------
    median
        Cohort median.
    mad
        Scaled median absolute deviation (x 1.4826).
    k
        Multiplier.
    threshold
        ``median + k * mad`` (NaN if the cohort is too small).
    n
        Libraries in the cohort.
    """

    median: float
    mad: float
    k: float
    threshold: float
    n: int


def mad_threshold(values: pd.Series, k: float, min_n: int = 3) -> MadThreshold:
    """Upper outlier threshold from the cohort median and scaled MAD.

    Parameters
    ----------
    values
        Cohort values; NaN ignored.
    k
        Number of MADs above the median.
    min_n
        Below this many values the threshold is NaN (no flag).

    Returns
    -------
    MadThreshold
        The statistics and the threshold.
    """
    x = values.dropna().to_numpy(dtype=float)
    if len(x) < min_n:
        return MadThreshold(math.nan, math.nan, k, math.nan, len(x))
    med = float(np.median(x))
    mad = MAD_SCALE * float(np.median(np.abs(x - med)))
    return MadThreshold(med, mad, k, med + k * mad, len(x))
