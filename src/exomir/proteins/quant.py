"""Quantify immunoassay plates: blank, standard curve, range, samples, plate verdict.

One :class:`~exomir.proteins.plates.PlateData` and one analyte at a time:

1. blank subtraction: the mean of the blank wells is subtracted from every well
   (no blank wells: nothing is subtracted, and the plate says so);
2. the standard series must rise (or fall) with concentration: a higher
   standard whose mean response is on the wrong side of a lower one by more
   than ``monotone_tolerance`` x the response range fails the plate;
3. a 4PL / 5PL fit of the standards (:mod:`exomir.proteins.curves`);
4. back-calculated recovery and replicate CV of each standard level;
   LLOQ / ULOQ = the lowest / highest standard recovering within
   ``recovery`` (80-120%) with CV <= ``max_cv``;
5. samples: the mean response of a sample's replicate wells (per dilution) is
   read off the curve and multiplied by the dilution. A sample below the LLOQ
   or above the ULOQ (or beyond the curve's asymptotes) gets no concentration:
   its flag is ``below_lloq`` / ``above_uloq`` and the limit (times its
   dilution) is reported in ``lloq`` / ``uloq``. Inside the range a CV of the
   replicate concentrations above ``max_cv`` flags ``high_cv`` (value kept);
6. plate verdict: the curve converged, R^2 >= ``min_r2``, at least
   ``min_standards_fraction`` of the standard levels recover, a quantification
   range exists, and at least ``min_qc_fraction`` of the QC levels measure
   within ``qc_tolerance`` of nominal. A failing plate flags its own samples
   ``plate_failed`` for this analyte and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from exomir.proteins.curves import CurveFit, fit_curve, standard_weights
from exomir.proteins.plates import PlateData
from exomir.proteins.settings import QuantSettings

CURVE_COLUMNS = [
    "plate_id", "analyte", "model", "b", "c", "d", "e", "f", "r2", "rss", "n_wells",
    "converged", "f_test_p", "weighting", "blank", "lloq", "uloq",
]  # fmt: skip
STANDARD_COLUMNS = [
    "plate_id", "analyte", "level", "nominal", "n", "mean_signal", "back_calculated",
    "recovery", "cv", "in_range",
]  # fmt: skip
SAMPLE_COLUMNS = [
    "plate_id", "analyte", "protein_sample_id", "dilution", "n", "mean_signal",
    "concentration", "flag", "cv", "lloq", "uloq",
]  # fmt: skip
QC_COLUMNS = [
    "plate_id",
    "analyte",
    "verdict",
    "reasons",
    "notes",
    "n_standards_in_range",
    "qc_passed",
]
WELL_COLUMNS = [
    "plate_id", "analyte", "well", "role", "protein_sample_id", "level", "nominal",
    "dilution", "replicate", "signal", "signal_blanked", "concentration",
]  # fmt: skip


@dataclass
class PlateResult:
    """Tables of one plate (all analytes), each sorted for determinism."""

    wells: pd.DataFrame
    standards: pd.DataFrame
    curves: pd.DataFrame
    samples: pd.DataFrame
    plate_qc: pd.DataFrame
    fits: dict[str, CurveFit | None] = field(default_factory=dict)


def _cv(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=float)
    if len(v) < 2 or not np.all(np.isfinite(v)) or v.mean() == 0:
        return float("nan")
    return float(np.std(v, ddof=1) / abs(v.mean()))


def _replicate_cv(fit: CurveFit | None, signals: np.ndarray) -> float:
    """CV of the replicate wells' concentrations; of their signals if any is off the curve."""
    if fit is not None:
        conc = fit.inverse(signals)
        if np.all(np.isfinite(conc)):
            return _cv(conc)
    return _cv(signals)


def _monotone_reason(std: pd.DataFrame, tol: float) -> str | None:
    """Reason text when the standards' mean responses are not monotone in nominal."""
    lv = (
        std.groupby("level", sort=False)
        .agg(
            nominal=("nominal", "first"),
            mean=("signal_blanked", "mean"),
            wells=("well", ", ".join),
        )
        .sort_values("nominal")
    )
    lv = lv[np.isfinite(lv["mean"])]
    if len(lv) < 3:
        return None
    span = float(lv["mean"].max() - lv["mean"].min())
    direction = 1.0 if lv["mean"].iloc[-1] >= lv["mean"].iloc[0] else -1.0
    m = lv["mean"].to_numpy()
    for i in range(1, len(lv)):
        # the wrong-way step from the running extreme, so slow drifts are seen too
        prev = m[:i].max() if direction > 0 else m[:i].min()
        j = int(np.argmax(m[:i]) if direction > 0 else np.argmin(m[:i]))
        if direction * (prev - m[i]) > tol * span:
            a, b = lv.iloc[j], lv.iloc[i]
            return (
                f"standard series not monotone: level {lv.index[i]} ({b['nominal']:g}, wells "
                f"{b['wells']}) reads {b['mean']:.3g} against {a['mean']:.3g} for level "
                f"{lv.index[j]} ({a['nominal']:g}, wells {a['wells']})"
            )
    return None


def _standards_table(
    std: pd.DataFrame, fit: CurveFit | None, s: QuantSettings
) -> pd.DataFrame:
    acc = s.acceptance
    rows = []
    for level, g in std.groupby("level", sort=False):
        nominal = float(g["nominal"].iloc[0])
        sig = g["signal_blanked"].to_numpy(dtype=float)
        mean = float(np.mean(sig)) if len(sig) else float("nan")
        back = float(fit.inverse(mean)) if fit is not None else float("nan")
        rec = back / nominal if nominal > 0 and math.isfinite(back) else float("nan")
        cv = _replicate_cv(fit, sig)
        ok = (
            nominal > 0
            and math.isfinite(rec)
            and acc.recovery[0] <= rec <= acc.recovery[1]
            and not (math.isfinite(cv) and cv > acc.max_cv)
        )
        rows.append([level, nominal, len(sig), mean, back, rec, cv, bool(ok)])
    out = pd.DataFrame(rows, columns=STANDARD_COLUMNS[2:])
    return out.sort_values("nominal", ascending=False, kind="stable").reset_index(
        drop=True
    )


def _fit_standards(
    std: pd.DataFrame, s: QuantSettings
) -> tuple[CurveFit | None, str | None]:
    use = std[np.isfinite(std["signal_blanked"])]
    w = standard_weights(
        use["signal_blanked"].to_numpy(),
        use["level"].to_numpy(),
        s.curve.weighting,
        s.curve.weight_floor,
    )
    try:
        fit = fit_curve(
            use["nominal"].to_numpy(),
            use["signal_blanked"].to_numpy(),
            w,
            s.curve.model,
            s.curve.f_test_alpha,
        )
    except ValueError as exc:
        return None, f"no curve: {exc}"
    if not fit.converged:
        return None, f"curve fit did not converge ({fit.message})"
    return fit, None


def _sample_rows(
    smp: pd.DataFrame,
    fit: CurveFit | None,
    lloq: float,
    uloq: float,
    failed: bool,
    s: QuantSettings,
) -> list[list[object]]:
    rows: list[list[object]] = []
    for (sid, dil), g in smp.groupby(["protein_sample_id", "dilution"], sort=True):
        sig = g["signal_blanked"].to_numpy(dtype=float)
        mean = float(np.mean(sig))
        lo, hi = lloq * dil, uloq * dil
        conc, cv = float("nan"), _replicate_cv(fit, sig)
        if failed or fit is None:
            flag = "plate_failed"
        else:
            x = float(fit.inverse(mean))
            if not math.isfinite(x):
                flag = "below_lloq" if fit.side(mean) < 0 else "above_uloq"
            elif x < lloq:
                flag = "below_lloq"
            elif x > uloq:
                flag = "above_uloq"
            else:
                conc = x * dil
                flag = (
                    "high_cv"
                    if math.isfinite(cv) and cv > s.acceptance.max_cv
                    else "ok"
                )
        rows.append([sid, float(dil), len(sig), mean, conc, flag, cv, lo, hi])
    return rows


def _qc_check(
    qcs: pd.DataFrame, fit: CurveFit | None, s: QuantSettings
) -> tuple[list[str], str]:
    """QC level verdicts: reasons for failure and a 'k/n' summary."""
    if qcs.empty or fit is None:
        return [], ""
    tol = s.acceptance.qc_tolerance
    passed, bad = 0, []
    levels = qcs.groupby("level", sort=True)
    for level, g in levels:
        nominal = float(g["nominal"].iloc[0])
        meas = float(fit.inverse(float(g["signal_blanked"].mean()))) * float(
            g["dilution"].iloc[0]
        )
        ratio = meas / nominal if nominal > 0 else float("nan")
        if math.isfinite(ratio) and abs(ratio - 1) <= tol:
            passed += 1
        else:
            got = (
                f"{meas:.4g} ({ratio:.0%})" if math.isfinite(ratio) else "off the curve"
            )
            bad.append(
                f"QC {level}: measured {got} vs nominal {nominal:g} (wells {', '.join(g['well'])})"
            )
    n = levels.ngroups
    reasons = []
    if passed / n < s.acceptance.min_qc_fraction:
        reasons.append(
            f"{passed} of {n} QC levels within +/-{tol:.0%} of nominal (need "
            f"{s.acceptance.min_qc_fraction:.0%}): " + "; ".join(bad)
        )
    return reasons, f"{passed}/{n}"


def quantify_analyte(
    plate: PlateData, analyte: str, settings: QuantSettings
) -> dict[str, Any]:
    """Quantify one analyte of one plate (module docstring).

    Returns the tables of :class:`PlateResult` for this analyte (DataFrames)
    and its curve under ``fit`` (``None`` when there is none).
    """
    s, acc = settings, settings.acceptance
    lay = plate.layout_for(analyte)
    reads = plate.reads[plate.reads["analyte"] == analyte][["well", "signal"]]
    wells = lay.merge(reads, on="well", how="left")
    blanks = wells.loc[wells["role"] == "blank", "signal"]
    blanks = blanks[np.isfinite(blanks)]
    blank = float(blanks.mean()) if len(blanks) else 0.0
    notes = [] if len(blanks) else ["no blank wells: responses not blank-subtracted"]
    wells["signal_blanked"] = wells["signal"] - blank
    std = wells[wells["role"] == "standard"]
    sat = std.loc[~np.isfinite(std["signal"]), "well"].tolist()
    if sat:
        notes.append(f"saturated standard wells left out of the fit: {', '.join(sat)}")
    reasons: list[str] = []
    n_levels = std.loc[std["nominal"] > 0, "level"].nunique()
    fit: CurveFit | None = None
    if n_levels < acc.min_standard_levels:
        reasons.append(
            f"{n_levels} standard levels with a positive nominal (need {acc.min_standard_levels})"
        )
    mono = _monotone_reason(
        std[np.isfinite(std["signal_blanked"])], s.curve.monotone_tolerance
    )
    if mono:
        reasons.append(mono)
    if not reasons:
        fit, why = _fit_standards(std, s)
        if why:
            reasons.append(why)
    stds = _standards_table(std, fit, s)
    lloq = uloq = float("nan")
    n_in = int(stds["in_range"].sum())
    if fit is not None:
        if fit.r2 < acc.min_r2:
            reasons.append(f"curve R2 {fit.r2:.4f} below {acc.min_r2}")
        positive = stds[stds["nominal"] > 0]
        share = n_in / len(positive) if len(positive) else 0.0
        if share < acc.min_standards_fraction:
            off = positive.loc[~positive["in_range"], "level"].tolist()
            reasons.append(
                f"{n_in} of {len(positive)} standard levels recover within "
                f"{acc.recovery[0]:.0%}-{acc.recovery[1]:.0%} with CV <= {acc.max_cv:.0%} (need "
                f"{acc.min_standards_fraction:.0%}; off: {', '.join(map(str, off))})"
            )
        if n_in:
            lloq = float(stds.loc[stds["in_range"], "nominal"].min())
            uloq = float(stds.loc[stds["in_range"], "nominal"].max())
        else:
            reasons.append("no standard level recovers: no quantification range")
    qc_reasons, qc_summary = _qc_check(wells[wells["role"] == "qc"], fit, s)
    reasons += qc_reasons
    if fit is not None and not (wells["role"] == "qc").any():
        notes.append("no QC wells")
    failed = bool(reasons)
    conc_well = (
        fit.inverse(wells["signal_blanked"].to_numpy()) if fit is not None else np.nan
    )
    wells["concentration"] = conc_well * wells["dilution"].to_numpy(dtype=float)
    smp = wells[wells["role"] == "sample"]
    samples = pd.DataFrame(
        _sample_rows(smp, fit, lloq, uloq, failed, s), columns=SAMPLE_COLUMNS[2:]
    )
    p = fit.params if fit is not None else dict.fromkeys("bcdef", float("nan"))
    curve = [
        fit.model if fit else "",
        *(p[k] for k in "bcdef"),
        fit.r2 if fit else float("nan"),
        fit.rss if fit else float("nan"),
        fit.n if fit else 0,
        fit is not None,
        fit.f_test_p if fit and fit.f_test_p is not None else float("nan"),
        s.curve.weighting,
        blank,
        lloq,
        uloq,
    ]
    verdict = [
        "fail" if failed else "pass",
        "; ".join(reasons),
        "; ".join(notes),
        n_in,
        qc_summary,
    ]
    tag = {"plate_id": plate.plate_id, "analyte": analyte}
    return {
        "wells": wells.assign(**tag)[WELL_COLUMNS],
        "standards": stds.assign(**tag)[STANDARD_COLUMNS],
        "samples": samples.assign(**tag)[SAMPLE_COLUMNS],
        "curves": pd.DataFrame(
            [[plate.plate_id, analyte, *curve]], columns=CURVE_COLUMNS
        ),
        "plate_qc": pd.DataFrame(
            [[plate.plate_id, analyte, *verdict]], columns=QC_COLUMNS
        ),
        "fit": fit,
    }


def quantify(plate: PlateData, settings: QuantSettings | None = None) -> PlateResult:
    """Quantify every analyte of a plate.

    Parameters
    ----------
    plate
        The plate (ELISA or Luminex reader output).
    settings
        Curve and acceptance settings; defaults of the schema if ``None``.

    Returns
    -------
    PlateResult
        Per-well, per-standard, per-sample, per-curve and verdict tables.
    """
    s = settings or QuantSettings()
    parts = [quantify_analyte(plate, a, s) for a in plate.analytes]
    tables = {
        k: pd.concat([p[k] for p in parts], ignore_index=True)
        for k in ("wells", "standards", "curves", "samples", "plate_qc")
    }
    return PlateResult(
        **tables,
        fits={a: p["fit"] for a, p in zip(plate.analytes, parts, strict=True)},
    )
