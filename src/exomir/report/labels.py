"""Reader-facing labels and number formats of the report.

Raw codes (``age_years``, ``DIABP``, ``HALLMARK_PI3K_AKT_MTOR_SIGNALING``,
``assessed_for_eligibility``) are turned into the words a clinician reads;
labels of clinical parameters come from config ``clinical_parameters``.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Participant-sheet columns of the baseline table and their labels.
PARTICIPANT_LABELS: dict[str, str] = {
    "age_years": "Age (years)",
    "bmi_kg_m2": "BMI (kg/m²)",
    "parity": "Parity",
    "ga_delivery_weeks": "Gestational age at delivery (weeks)",
    "mode_of_delivery": "Mode of delivery",
    "postpartum_day_at_dose": "Postpartum day at dose",
    "pe_severe_features": "Severe features",
    "pe_early_onset": "Early-onset PE",
    "antihypertensive_bl": "Antihypertensive at baseline",
    "mgso4": "MgSO4",
    "aspirin_in_pregnancy": "Aspirin in pregnancy",
    "stratum": "Stratum",
}

#: Baseline-table groups: label -> participant columns (clinical parameters go
#: to "Baseline labs and vitals", miRNA rows to "Baseline miRNA").
BASELINE_GROUPS: dict[str, tuple[str, ...]] = {
    "Demographics": ("age_years", "bmi_kg_m2"),
    "Pregnancy and delivery": (
        "parity",
        "ga_delivery_weeks",
        "mode_of_delivery",
        "postpartum_day_at_dose",
        "aspirin_in_pregnancy",
    ),
    "Pre-eclampsia": (
        "pe_severe_features",
        "pe_early_onset",
        "antihypertensive_bl",
        "mgso4",
        "stratum",
    ),
}

#: Derived clinical parameters not in config clinical_parameters.
DERIVED_PARAMS: dict[str, tuple[str, str]] = {
    "MAP": ("Mean arterial pressure", "mm[Hg]"),
    "UTA_PI_MEAN": ("Uterine artery PI (mean of left and right)", "1"),
    "UTA_RI_MEAN": ("Uterine artery RI (mean of left and right)", "1"),
}

#: Named pathways (WikiPathways ids are not self-explanatory).
PATHWAY_NAMES: dict[str, str] = {
    "WP4172": "PI3K-Akt signalling (WikiPathways WP4172)",
    "WP382": "MAPK signalling (WP382)",
}
_ACRONYMS = {"PI3K", "AKT", "MTOR", "MAPK", "ERK", "JAK", "STAT", "TGF", "NF", "KB"}
_COLLECTIONS = {"HALLMARK": "Hallmark", "REACTOME": "Reactome", "KEGG": "KEGG"}

#: CONSORT node codes -> CONSORT 2010 wording.
CONSORT_LABELS: dict[str, str] = {
    "assessed_for_eligibility": "Assessed for eligibility",
    "excluded": "Excluded",
    "randomised": "Randomised",
    "randomized": "Randomised",
    "allocated": "Allocated to {arm}",
    "received_allocated": "Received allocated intervention",
    "received_intervention": "Received allocated intervention",
    "did_not_receive": "Did not receive allocated intervention",
    "lost_to_follow_up": "Lost to follow-up",
    "discontinued": "Discontinued intervention",
    "completed_follow_up": "Completed follow-up",
    "analysed_mitt": "Analysed (mITT)",
    "excluded_from_mitt": "Excluded from analysis (mITT)",
    "analysed_pp": "Analysed (per protocol)",
    "excluded_from_pp": "Excluded from per-protocol analysis",
    "sequencing_qc_failed_baseline": "Sequencing QC failed at baseline",
    "sequencing_qc_failed_week1": "Sequencing QC failed at week 1",
    "sequencing_analysed_all_timepoints": "Sequencing analysed at all timepoints",
}


def ucum(unit: str) -> str:
    """Show a UCUM unit as a reader writes it (``mm[Hg]`` -> mmHg, ``10*9/L`` -> ×10⁹/L)."""
    u = str(unit or "").strip()
    if u in ("", "1"):
        return ""
    sup = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
    u = re.sub(r"10\*(-?\d+)", lambda m: "×10" + m.group(1).translate(sup), u)
    return u.replace("[Hg]", "Hg").replace("[", "").replace("]", "")


def param_label(param: str, config: dict[str, Any], unit: bool = True) -> str:
    """Label (with unit) of a clinical parameter, from config or the derived list."""
    spec = (config.get("clinical_parameters") or {}).get(param) or (
        (config.get("clinical") or {}).get("derived") or {}
    ).get(param)
    if spec:
        label, u = str(spec.get("label") or param), str(spec.get("unit") or "")
    elif param in DERIVED_PARAMS:
        label, u = DERIVED_PARAMS[param]
    else:
        return PARTICIPANT_LABELS.get(param, humanise(param))
    shown = ucum(u) if unit else ""
    return f"{label} ({shown})" if shown else label


def humanise(code: str) -> str:
    """``snake_case`` code -> words (first letter capitalised, AE/SAE upper case)."""
    s = str(code).replace("_", " ").strip()
    s = re.sub(r"\b(s?ae|aesi)\b", lambda m: m.group(1).upper(), s)
    return s[:1].upper() + s[1:] if s else s


def pathway_label(pid: str, short: bool = False) -> str:
    """Readable pathway name; ``short`` drops the collection and id."""
    pid = str(pid)
    if pid in PATHWAY_NAMES:
        name = PATHWAY_NAMES[pid]
        return name.split(" (")[0] + f" ({pid})" if short else name
    parts = pid.split("_")
    if len(parts) < 2 or not pid.isupper():
        return pid
    coll = _COLLECTIONS.get(parts[0])
    words = parts[1:] if coll else parts
    text = " ".join(w if w in _ACRONYMS else w.lower() for w in words)
    text = text.replace("PI3K AKT MTOR", "PI3K-Akt-mTOR").replace(
        "PI3K AKT", "PI3K-Akt"
    )
    text = text.replace("signaling", "signalling")
    text = text[:1].upper() + text[1:]
    if short or not coll:
        return text
    return f"{text} ({coll})"


def consort_label(node: str, arm: str = "") -> str:
    """CONSORT wording of a node code (unknown codes are humanised)."""
    key = re.sub(r"[^a-z0-9]+", "_", str(node).lower()).strip("_")
    text = CONSORT_LABELS.get(key)
    if text is None:
        return humanise(node)
    if "{arm}" in text:
        return text.format(arm=arm) if arm else text.replace(" to {arm}", "")
    return text


_REASON = re.compile(r"(.+?): (\d+)(?:; |$)")


def split_reasons(reasons: str) -> list[str]:
    """Split a CONSORT reasons cell (``reason: n; reason: n``) into its entries.

    A reason may itself contain ``;`` (several failed gates of one library),
    so entries are cut after their ``: count``; text without counts is split
    on ``;``.
    """
    text = str(reasons or "").strip()
    if not text:
        return []
    found = [f"{r.strip()}: {n}" for r, n in _REASON.findall(text)]
    if found and sum(len(f) for f in found) + 2 * (len(found) - 1) == len(text):
        return found
    return [r.strip() for r in text.split(";") if r.strip()]


def pool_reasons(cells: list[str]) -> str:
    """Add up the counts of the same reason over several cells (arms pooled)."""
    counts: dict[str, int] = {}
    other: list[str] = []
    for cell in cells:
        for entry in split_reasons(cell):
            m = re.fullmatch(r"(.+): (\d+)", entry)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + int(m.group(2))
            elif entry not in other:
                other.append(entry)
    return "; ".join([f"{r}: {n}" for r, n in counts.items()] + other)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fmt_num(value: Any, digits: int = 3) -> str:
    """Format a number to ``digits`` significant digits (no exponent for 1e-3..1e6)."""
    f = _float(value)
    if not math.isfinite(f):
        return ""
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) < 1e6:
        return str(int(f))
    a = abs(f)
    if a >= 1e6 or a < 1e-3:
        return f"{f:.{digits}g}"
    if a >= 10 ** (digits - 1):
        return f"{f:.0f}"
    return f"{f:.{digits}g}"


def fmt_p(value: Any) -> str:
    """p-value to 3 significant digits, ``< 0.001`` below that."""
    f = _float(value)
    if not math.isfinite(f):
        return ""
    if f < 0.001:
        return "< 0.001"
    return f"{f:.3g}"


def ci_decimals(est: Any, lo: Any, hi: Any, digits: int = 3, cap: int = 6) -> int:
    """Decimals shared by an estimate and its CI bounds.

    The largest absolute value of the three gets ``digits`` significant
    digits; the estimate gets at least 2 (so 0.012 next to a bound of 3.1
    stays readable); at most ``cap`` decimals.
    """
    vals = [abs(v) for v in (_float(est), _float(lo), _float(hi)) if math.isfinite(v)]
    if not vals:
        return 0

    def need(a: float, sig: int) -> int:
        if a == 0:
            return 0
        return max(0, sig - 1 - math.floor(math.log10(a)))

    d = need(max(vals), digits)
    e = abs(_float(est))
    if math.isfinite(e):
        d = max(d, need(e, 2))
    return min(d, cap)


def fmt_fixed(value: Any, decimals: int) -> str:
    """Format a number with a fixed count of decimals (``-0.00`` shown as ``0.00``)."""
    f = _float(value)
    if not math.isfinite(f):
        return ""
    text = f"{f:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def ratio_decimals(est: Any, lo: Any, hi: Any, cap: int = 3) -> int:
    """Decimals of a ratio and its CI (shared by the three numbers).

    At least 2, and 2 significant digits of the smallest value: a lower bound
    of 0.13 next to an upper one of 40 keeps its digits (ratios live on a log
    scale).
    """
    vals = [abs(v) for v in (_float(est), _float(lo), _float(hi)) if math.isfinite(v)]
    vals = [v for v in vals if v > 0]
    if not vals:
        return 2
    need = max(0, 1 - math.floor(math.log10(min(vals))))
    return min(max(2, need), cap)


def fmt_ci(est: Any, lo: Any, hi: Any, digits: int = 3, ratio: bool = False) -> str:
    """``estimate (low to high)`` with the same decimals for all three.

    Blank when the estimate is missing; the estimate alone when a bound is.
    ``ratio``: decimals by :func:`ratio_decimals` (odds ratios, ratios of
    geometric means), else by :func:`ci_decimals`.
    """
    if not math.isfinite(_float(est)):
        return ""
    if not (math.isfinite(_float(lo)) and math.isfinite(_float(hi))):
        return fmt_num(est, digits)
    d = ratio_decimals(est, lo, hi) if ratio else ci_decimals(est, lo, hi, digits)
    return f"{fmt_fixed(est, d)} ({fmt_fixed(lo, d)} to {fmt_fixed(hi, d)})"


def yes_no(value: Any) -> str:
    """``true``/``false`` (any case, also Python bools) as ``yes``/``no``; else as is."""
    s = str(value).strip()
    return {"true": "yes", "false": "no"}.get(s.lower(), s) if s else s


#: Pathway scoring methods (decoupler) as a reader reads them.
METHOD_NAMES: dict[str, str] = {
    "waggr": "weighted aggregate (waggr)",
    "ulm": "univariate linear model (ulm)",
    "waggr_signed": "weighted aggregate, signed (waggr_signed)",
    "ulm_signed": "univariate linear model, signed (ulm_signed)",
    "wmean": "weighted mean (wmean)",
}


def method_label(code: str) -> str:
    """Readable name of a pathway scoring method, keeping its code in brackets."""
    return METHOD_NAMES.get(str(code), str(code))


_CONTRAST = re.compile(r"^(?P<a>[^@]+?)\s*-\s*(?P<b>[^@]+?)(?:@(?P<t>.+))?$")


def timepoint_label(tp: str) -> str:
    """``week1`` -> ``week 1``, ``baseline`` as is."""
    return re.sub(r"(?<=[a-zA-Z])(?=\d)", " ", str(tp)).replace("_", " ")


def contrast_label(code: str, arms: list[str] | None = None) -> str:
    """``exosome-placebo@week1`` -> ``exosome vs placebo at week 1`` (else as is).

    With ``arms`` (configured arm names) an arm name holding a hyphen is
    matched as a whole.
    """
    text = str(code).strip()
    body, _, tp = text.partition("@")
    pair = None
    for a in arms or []:
        for b in arms or []:
            if a != b and re.fullmatch(rf"{re.escape(a)}\s*-\s*{re.escape(b)}", body):
                pair = (a, b)
    if pair is None:
        m = _CONTRAST.match(text)
        if not m:
            return text
        pair = (m.group("a").strip(), m.group("b").strip())
    out = f"{pair[0]} vs {pair[1]}"
    if tp:
        out += f" at {timepoint_label(tp.strip())}"
    return out


#: Endpoints for which a lower value (or lower odds of a higher category) is
#: better in pre-eclampsia, whatever the arm: blood pressure, proteinuria and
#: oedema. Laboratory values have no universal direction and are not listed.
LOWER_IS_BETTER: tuple[str, ...] = (
    "SYSBP",
    "DIABP",
    "MAP",
    "UPCR",
    "PROT_DIP",
    "EDEMA_",
)


def better_direction(param: str, config: dict[str, Any] | None = None) -> str | None:
    """``"lower"``, ``"higher"`` or ``None`` (direction not known) for an endpoint.

    A ``better`` key of the parameter in config ``clinical_parameters`` (or
    ``clinical.derived``), when present, wins; else :data:`LOWER_IS_BETTER`.
    """
    cfg = config or {}
    spec = (cfg.get("clinical_parameters") or {}).get(param) or (
        (cfg.get("clinical") or {}).get("derived") or {}
    ).get(param)
    if isinstance(spec, dict) and spec.get("better") in ("lower", "higher"):
        return str(spec["better"])
    p = str(param).upper()
    if any(p == c or (c.endswith("_") and p.startswith(c)) for c in LOWER_IS_BETTER):
        return "lower"
    return None
