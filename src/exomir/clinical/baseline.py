"""Baseline characteristics by arm (analysis_spec §5.8 item 3; no p-values).

Rows of ``results/clinical/baseline_table.tsv``: ``variable``, ``level``,
``arm`` (each arm and ``all``), ``n`` (participants with a value) and
``summary``: "mean (SD)" for numbers, "geometric mean (×/÷ geometric SD)"
for parameters analysed on the log scale (``transform: log``, e.g. UPCR), so
that the summary matches the ratio of geometric means the endpoint reports,
"count (percent)" for each level of a category or a true boolean;
``statistic`` names which (``mean (SD)``, ``geometric mean (×/÷ GSD)``,
``n (%)``). Variables: config ``clinical.baseline_variables``
and ``design.strata`` from participants.tsv, the baseline value of every
endpoint and the baseline log2 level of the primary miRNA. Population: every
randomised participant of participants.tsv.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from exomir.clinical.settings import ClinicalSettings

log = logging.getLogger(__name__)

BASELINE_COLUMNS = [
    "variable",
    "level",
    "arm",
    "n",
    "summary",
    "label",
    "unit",
    "statistic",
]
#: ``statistic`` of each summary kind.
MEAN_SD, GEO_MEAN, COUNT_PCT = "mean (SD)", "geometric mean (×/÷ GSD)", "n (%)"


def _digits(x: float) -> int:
    a = abs(x)
    if a >= 100:
        return 0
    if a >= 10:
        return 1
    if a >= 1:
        return 2
    return 3


def mean_sd(values: pd.Series) -> str:
    """Format "mean (SD)" with digits chosen by the magnitude of the mean."""
    v = values.dropna().astype(float)
    if v.empty:
        return ""
    m = float(v.mean())
    k = _digits(m)
    if len(v) < 2:
        return f"{m:.{k}f}"
    return f"{m:.{k}f} ({float(v.std(ddof=1)):.{k}f})"


def geo_mean_gsd(values: pd.Series) -> str:
    """Format "geometric mean (×/÷ geometric SD)" of positive values.

    The geometric mean is ``exp(mean(log x))`` and the geometric SD the
    multiplicative factor ``exp(SD(log x))``; digits follow the geometric
    mean's magnitude. Non-positive values cannot be logged and are left out
    (the endpoint model leaves them out too).
    """
    v = values.dropna().astype(float)
    v = v[v > 0]
    if v.empty:
        return ""
    logs = np.log(v.to_numpy())
    gm = float(np.exp(logs.mean()))
    k = _digits(gm)
    if len(v) < 2:
        return f"{gm:.{k}f}"
    return f"{gm:.{k}f} (×/÷ {float(np.exp(logs.std(ddof=1))):.2f})"


def count_percent(k: int, n: int) -> str:
    """Format "count (percent)"."""
    return f"{k} ({100 * k / n:.1f}%)" if n else ""


def _is_bool(s: pd.Series) -> bool:
    v = s.dropna()
    return len(v) > 0 and v.map(lambda x: isinstance(x, bool | np.bool_)).all()


def _is_num(s: pd.Series) -> bool:
    v = s.dropna()
    return len(v) > 0 and pd.to_numeric(v, errors="coerce").notna().all()


def baseline_table(
    participants: pd.DataFrame,
    dataset: pd.DataFrame,
    settings: ClinicalSettings,
    mirna_bl: pd.Series | None = None,
) -> pd.DataFrame:
    """Baseline characteristics by arm.

    Parameters
    ----------
    participants
        participants.tsv.
    dataset
        Analysis dataset (baseline endpoint values in ``bl``/``bl_cat``).
    settings
        Clinical settings.
    mirna_bl
        Baseline log2 level of the primary miRNA by participant, or ``None``.

    Returns
    -------
    pandas.DataFrame
        :data:`BASELINE_COLUMNS` in variable order, then level, then arm.
    """
    arms = [settings.reference_arm, settings.arm]
    par = participants.drop_duplicates("participant_id")
    par = par[par["arm"].isin(arms)].set_index("participant_id")
    cols: dict[str, tuple[pd.Series, str, str]] = {}
    logged: set[str] = set()
    for c in [*settings.baseline_variables, *settings.strata]:
        if c in cols:
            continue
        if c not in par.columns:
            log.info("baseline variable %s not in participants.tsv; skipped", c)
            continue
        cols[c] = (par[c], c, "")
    for spec in settings.endpoints:
        d = dataset[dataset["param"] == spec.code].set_index("participant_id")
        if spec.kind == "continuous":
            s = d["bl"].reindex(par.index).astype(float)
        else:
            s = d["bl_cat"].reindex(par.index)
        cols[spec.code] = (
            s,
            spec.label,
            spec.unit if spec.kind == "continuous" else "",
        )
        if spec.kind == "continuous" and spec.transform == "log":
            logged.add(spec.code)
    if mirna_bl is not None:
        cols[f"{settings.primary_mirna} (log2)"] = (
            mirna_bl.reindex(par.index).astype(float),
            f"Baseline {settings.primary_mirna}, log2 (VST)",
            "log2",
        )
    rows: list[dict[str, Any]] = []
    groups = [*arms, "all"]
    for var, (s, label, unit) in cols.items():
        for arm in groups:
            sel = s if arm == "all" else s[par["arm"] == arm]
            present = sel.dropna()
            present = present[
                present.map(lambda x: not (isinstance(x, str) and x == ""))
            ]
            if _is_bool(s):
                k = int(present.map(bool).sum())
                rows.append(
                    _row(
                        var,
                        "true",
                        arm,
                        len(present),
                        count_percent(k, len(present)),
                        label,
                        unit,
                        COUNT_PCT,
                    )
                )
            elif _is_num(s) and not isinstance(s.dropna().iloc[0], str):
                if var in logged:
                    summ, stat = geo_mean_gsd(present), GEO_MEAN
                else:
                    summ, stat = mean_sd(present), MEAN_SD
                rows.append(_row(var, "", arm, len(present), summ, label, unit, stat))
            else:
                levels = _levels(s, settings, var)
                for lvl in levels:
                    k = int((present.astype(str) == lvl).sum())
                    rows.append(
                        _row(
                            var,
                            lvl,
                            arm,
                            len(present),
                            count_percent(k, len(present)),
                            label,
                            unit,
                            COUNT_PCT,
                        )
                    )
    out = pd.DataFrame(rows, columns=BASELINE_COLUMNS)
    return out


def _levels(s: pd.Series, settings: ClinicalSettings, var: str) -> list[str]:
    spec = settings.params.get(var)
    if spec is not None and spec.categories:
        return list(spec.categories)
    return sorted({str(x) for x in s.dropna() if str(x) != ""})


def _row(
    var: str,
    level: str,
    arm: str,
    n: int,
    summary: str,
    label: str,
    unit: str,
    statistic: str,
) -> dict:
    return {
        "statistic": statistic,
        "variable": var,
        "level": level,
        "arm": arm,
        "n": int(n),
        "summary": summary,
        "label": label,
        "unit": unit,
    }
