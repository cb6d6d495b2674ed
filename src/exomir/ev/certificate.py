"""Lot certificate: every lot judged against the release criteria."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from exomir.ev.cells import cell_num, cell_text, cell_words, marker_call

VERDICT_ORDER = ("fail", "not_characterised", "incomplete", "pass")


def _crit(
    lot: str,
    criterion: str,
    category: str,
    method: str,
    value: Any,
    unit: str,
    limit: str,
    status: str,
    reason: str,
    required: bool = True,
) -> dict[str, Any]:
    if isinstance(value, float):
        value = "" if math.isnan(value) else float(f"{value:.6g}")
    return {
        "lot_id": lot,
        "criterion": criterion,
        "category": category,
        "method": method,
        "value": value,
        "unit": unit,
        "limit": limit,
        "status": status,
        "required": required,
        "reason": reason,
    }


def _result_crit(
    lot: str, criterion: str, method: str, raw: Any, passing: Sequence[str]
) -> dict[str, Any]:
    """Judge a pass/fail criterion on a text result (e.g. sterility)."""
    words = cell_words(raw)
    allowed = {cell_words(w) for w in passing}
    if not words:
        status, reason = "missing", "no result"
    elif words in allowed:
        status, reason = "pass", ""
    else:
        status, reason = "fail", f"'{cell_text(raw)}' is not a passing result"
    return _crit(
        lot,
        criterion,
        criterion,
        method,
        cell_text(raw),
        "",
        " or ".join(passing),
        status,
        reason,
    )


def _numeric(
    lot: str,
    criterion: str,
    category: str,
    method: str,
    value: float,
    unit: str,
    op: str,
    limit: float,
    missing_reason: str = "",
) -> dict[str, Any]:
    text = f"{op} {limit:g}"
    if not np.isfinite(value):
        return _crit(
            lot,
            criterion,
            category,
            method,
            value,
            unit,
            text,
            "missing",
            missing_reason or "no value",
        )
    ok = {
        "<": value < limit,
        "<=": value <= limit,
        ">": value > limit,
        ">=": value >= limit,
    }[op]
    reason = "" if ok else f"{value:.4g} is not {op} {limit:g}"
    return _crit(
        lot,
        criterion,
        category,
        method,
        value,
        unit,
        text,
        "pass" if ok else "fail",
        reason,
    )


def _nta_error_criteria(lot: str, nta_err: str, frac_name: str) -> list[dict[str, Any]]:
    """Criteria of a lot whose NTA exports could not be read: all in error."""
    crit: list[dict[str, Any]] = []
    crit.append(
        _crit(
            lot,
            "nta_characterisation",
            "characterisation",
            "NTA exports",
            "",
            "",
            "readable export",
            "error",
            nta_err,
        )
    )
    for name, cat, unit in (
        ("mode_nm", "size", "nm"),
        (frac_name, "size", "fraction"),
        ("particles_per_ug", "purity", "particles/ug"),
    ):
        crit.append(
            _crit(
                lot,
                name,
                cat,
                "NTA",
                "",
                unit,
                "",
                "error",
                "not characterised (see nta_characterisation)",
            )
        )
    return crit


def _label_criteria(
    lot: str, s: Mapping[str, Any], acc: Mapping[str, Any], nta_method: str
) -> list[dict[str, Any]]:
    """NTA concentration against the labelled one (``acceptance.label_tolerance``)."""
    crit: list[dict[str, Any]] = []
    tol = acc.get("label_tolerance")
    if tol is not None and s.get("nta_source") == "NTA exports":
        ratio = s["conc_ratio_to_label"]
        text = f"within ±{tol * 100:g}% of particle_conc_per_ml"
        if np.isfinite(ratio):
            ok = abs(ratio - 1) <= tol + 1e-12
            crit.append(
                _crit(
                    lot,
                    "conc_vs_label",
                    "particle dose",
                    nta_method,
                    ratio,
                    "ratio",
                    text,
                    "pass" if ok else "fail",
                    ""
                    if ok
                    else f"NTA {s['conc_per_ml']:.3g}/mL is {100 * (ratio - 1):+.0f}% from the label {s['conc_label_per_ml']:.3g}/mL",
                    required=True,
                )
            )
        else:
            crit.append(
                _crit(
                    lot,
                    "conc_vs_label",
                    "particle dose",
                    nta_method,
                    "",
                    "ratio",
                    text,
                    "info",
                    "no labelled particle_conc_per_ml",
                    required=False,
                )
            )
    return crit


def _nta_result_criteria(
    lot: str,
    s: Mapping[str, Any],
    acc: Mapping[str, Any],
    nta_cfg: Mapping[str, Any],
    frac_name: str,
    nta_method: str,
) -> list[dict[str, Any]]:
    """Size, purity, label and run-quality criteria of a characterised lot."""
    crit: list[dict[str, Any]] = []
    if s.get("nta_source") == "ev_lots.tsv":
        crit.append(
            _crit(
                lot,
                "nta_characterisation",
                "characterisation",
                "ev_lots.tsv",
                "",
                "",
                "readable export",
                "warn",
                "no NTA export listed in ev_nta_runs.tsv; size and concentration are the sheet's reported values",
                required=False,
            )
        )
    crit.append(
        _numeric(
            lot,
            "mode_nm",
            "size",
            nta_method,
            s["mode_nm"],
            "nm",
            "<",
            acc["max_mode_nm"],
        )
    )
    crit.append(
        _numeric(
            lot,
            frac_name,
            "size",
            nta_method,
            s["frac_in_window"],
            "fraction",
            ">=",
            acc["min_fraction_in_window"],
            "the share in the size window needs an NTA export",
        )
    )
    crit.append(
        _numeric(
            lot,
            "particles_per_ug",
            "purity",
            f"{s.get('particles_per_ug_source') or 'NTA / protein'}",
            s["particles_per_ug"],
            "particles/ug",
            ">=",
            acc["min_particles_per_ug"],
        )
    )
    crit += _label_criteria(lot, s, acc, nta_method)
    if s.get("run_qc") in ("warn", "fail"):
        hard = s.get("run_qc") == "fail"
        status = "fail" if hard or nta_cfg["run_qc"] == "fail" else "warn"
        crit.append(
            _crit(
                lot,
                "nta_run_quality",
                "characterisation",
                nta_method,
                "",
                "",
                "run-quality gates (config ev.nta)",
                status,
                s["run_qc_notes"],
                required=hard or nta_cfg["run_qc"] == "fail",
            )
        )
    return crit


def _safety_criteria(
    lot: str, rec: Mapping[str, Any], acc: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Sterility, endotoxin and mycoplasma."""
    crit: list[dict[str, Any]] = []
    crit.append(
        _result_crit(
            lot,
            "sterility",
            "compendial sterility (USP<71> / Ph. Eur. 2.6.1)",
            rec.get("sterility"),
            acc["sterility_pass"],
        )
    )
    crit.append(
        _numeric(
            lot,
            "endotoxin_eu_per_ml",
            "endotoxin",
            "LAL",
            cell_num(rec.get("endotoxin_eu_per_ml")),
            "EU/mL",
            "<",
            acc["max_endotoxin_eu_per_ml"],
        )
    )
    crit.append(
        _result_crit(
            lot, "mycoplasma", "qPCR", rec.get("mycoplasma"), acc["mycoplasma_pass"]
        )
    )
    return crit


def _marker_criteria(
    lot: str, rec: Mapping[str, Any], acc: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Identity and purity markers (expected positive or negative)."""
    crit: list[dict[str, Any]] = []
    for marker, want in [(m, "pos") for m in acc["positive_markers"]] + [
        (m, "neg") for m in acc["negative_markers"]
    ]:
        call = marker_call(rec.get(marker))
        raw = cell_text(rec.get(marker))
        if call is None:
            status, reason = (
                "missing",
                ("no result" if not raw else f"'{raw}' is neither pos nor neg"),
            )
        else:
            status = "pass" if call == want else "fail"
            reason = "" if call == want else f"{marker} is {call}, expected {want}"
        crit.append(
            _crit(
                lot,
                f"marker_{marker}",
                "identity",
                "WB / flow / ExoView",
                raw,
                "",
                "positive" if want == "pos" else "negative",
                status,
                reason,
            )
        )
    return crit


def _morphology_criteria(
    lot: str, rec: Mapping[str, Any], acc: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Vesicle morphology (TEM) and residual BSA."""
    crit: list[dict[str, Any]] = []
    tem = rec.get("tem_ok")
    if acc["require_tem"] or tem is not None:
        required = bool(acc["require_tem"])
        if tem is None:
            crit.append(
                _crit(
                    lot,
                    "tem_ok",
                    "morphology",
                    "TEM / cryo-EM",
                    "",
                    "",
                    "true",
                    "missing",
                    "no result",
                    required,
                )
            )
        else:
            crit.append(
                _crit(
                    lot,
                    "tem_ok",
                    "morphology",
                    "TEM / cryo-EM",
                    bool(tem),
                    "",
                    "true",
                    "pass" if tem else ("fail" if required else "warn"),
                    "" if tem else "vesicle morphology not confirmed",
                    required,
                )
            )
    bsa = cell_num(rec.get("bsa_ng_per_ml"))
    if acc.get("max_bsa_ng_per_ml") is not None:
        crit.append(
            _numeric(
                lot,
                "bsa_ng_per_ml",
                "residuals",
                "ELISA",
                bsa,
                "ng/mL",
                "<=",
                acc["max_bsa_ng_per_ml"],
            )
        )
    elif np.isfinite(bsa):
        crit.append(
            _crit(
                lot,
                "bsa_ng_per_ml",
                "residuals",
                "ELISA",
                bsa,
                "ng/mL",
                "reported only",
                "info",
                "",
                required=False,
            )
        )
    return crit


def _zeta_criteria(
    lot: str, s: Mapping[str, Any], acc: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Zeta potential against ``acceptance.zeta_mv_range`` (or reported only)."""
    crit: list[dict[str, Any]] = []
    zr = acc.get("zeta_mv_range")
    z = cell_num(s.get("zeta_mv"))
    zmethod = s.get("zeta_source") or "ZetaView profile"
    if zr is not None:
        zlo, zhi = sorted(zr)
        if not np.isfinite(z):
            status, reason = "missing", "no value"
        elif zlo <= z <= zhi:
            status, reason = "pass", ""
        else:
            status, reason = "fail", f"{z:g} mV is outside {zlo:g} to {zhi:g}"
        crit.append(
            _crit(
                lot,
                "zeta_mv",
                "surface charge",
                zmethod,
                z,
                "mV",
                f"{zlo:g} to {zhi:g}",
                status,
                reason,
            )
        )
    elif np.isfinite(z):
        crit.append(
            _crit(
                lot,
                "zeta_mv",
                "surface charge",
                zmethod,
                z,
                "mV",
                "reported only",
                "info",
                "",
                required=False,
            )
        )
    return crit


def _release_criteria(
    lot: str, rec: Mapping[str, Any], verdict: str
) -> list[dict[str, Any]]:
    """Whether the manufacturer's release decision agrees with the verdict."""
    crit: list[dict[str, Any]] = []
    decision = cell_words(rec.get("release_decision"))
    if decision:
        released = decision.startswith("releas") or decision in (
            "pass",
            "accepted",
            "approved",
        )
        consistent = released == (verdict == "pass")
        crit.append(
            _crit(
                lot,
                "release_decision",
                "consistency",
                "ev_lots.tsv",
                cell_text(rec.get("release_decision")),
                "",
                f"agrees with the verdict ({verdict})",
                "info" if consistent else "warn",
                ""
                if consistent
                else f"the manufacturer's decision '{cell_text(rec.get('release_decision'))}' differs from this certificate's verdict '{verdict}'",
                required=False,
            )
        )
    return crit


def certify_lots(
    summary: pd.DataFrame, lots: pd.DataFrame, cfg: Mapping[str, Any]
) -> pd.DataFrame:
    """Judge every lot against the release criteria (the lot certificate).

    Parameters
    ----------
    summary
        From :func:`summarise_lots`.
    lots
        ``ev_lots.tsv``.
    cfg
        The ``ev`` configuration.

    Returns
    -------
    pandas.DataFrame
        ``lot_id``, ``criterion``, ``category``, ``method``, ``value``,
        ``unit``, ``limit``, ``status``, ``required``, ``reason``; the last row
        of each lot is the criterion ``verdict``.
    """
    acc = cfg["acceptance"]
    nta_cfg = cfg["nta"]
    sheet = {str(r["lot_id"]): r for r in lots.to_dict("records")}
    lo, hi = acc["size_window_nm"]
    frac_name = f"frac_{lo:g}_{hi:g}nm"
    rows: list[dict[str, Any]] = []
    for s in summary.to_dict("records"):
        lot = s["lot_id"]
        rec = sheet.get(lot, {})
        nta_err = s.get("nta_error") or ""
        nta_method = (
            f"NTA ({s['instruments']}, {s['n_runs']} run{'s' if s['n_runs'] != 1 else ''})"
            if s.get("nta_source") == "NTA exports"
            else "ev_lots.tsv (reported; no NTA export)"
        )
        if nta_err:
            crit = _nta_error_criteria(lot, nta_err, frac_name)
        else:
            crit = _nta_result_criteria(lot, s, acc, nta_cfg, frac_name, nta_method)
        crit += _safety_criteria(lot, rec, acc)
        crit += _marker_criteria(lot, rec, acc)
        crit += _morphology_criteria(lot, rec, acc)
        crit += _zeta_criteria(lot, s, acc)
        verdict, reason = _verdict(crit)
        crit += _release_criteria(lot, rec, verdict)
        crit.append(
            _crit(
                lot,
                "verdict",
                "verdict",
                "all required criteria",
                verdict,
                "",
                "pass",
                verdict,
                reason,
            )
        )
        rows.extend(crit)
    cols = [
        "lot_id",
        "criterion",
        "category",
        "method",
        "value",
        "unit",
        "limit",
        "status",
        "required",
        "reason",
    ]
    return pd.DataFrame(rows, columns=cols)


def _verdict(crit: list[dict[str, Any]]) -> tuple[str, str]:
    req = [c for c in crit if c["required"]]
    failed = [c for c in req if c["status"] == "fail"]
    errors = [
        c
        for c in crit
        if c["status"] == "error" and c["criterion"] == "nta_characterisation"
    ]
    missing = [c for c in req if c["status"] == "missing"]
    if failed:
        return "fail", "failed: " + "; ".join(
            f"{c['criterion']} ({c['reason']})" for c in failed
        )
    if errors:
        return "not_characterised", errors[0]["reason"]
    if missing:
        return "incomplete", "missing: " + ", ".join(c["criterion"] for c in missing)
    return "pass", ""
