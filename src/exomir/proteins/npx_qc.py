"""Olink NPX: bridge normalisation, LOD and QC flags, plate QC, concentrations.

The second half of the NPX step (the first, :mod:`exomir.proteins.npx`,
reads and checks the tables). The rules (the bridge adjustment, ``NPX < LOD``,
QC-warning policy, samples on several plates) are stated once in the
docstring of :mod:`exomir.proteins.npx` and in ``docs/proteins_inputs.md``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.errors import Issue, ValidationError
from exomir.proteins.npx import (
    CONCENTRATION_COLUMNS,
    NpxResult,
    NpxSettings,
    assign_analytes,
    mark_samples,
    raise_issues,
    read_npx,
)
from exomir.tables import write_table

#: Columns of the detail table (one row per NPX value read).
DETAIL_COLUMNS = [
    "file",
    "line",
    "sample_id",
    "plate_id",
    "olink_id",
    "assay",
    "analyte",
    "is_control",
    "is_bridge",
    "qc_warning",
    "npx_raw",
    "lod_raw",
    "adjustment",
    "npx",
    "lod",
    "flag",
]


def _pairs(wide: pd.DataFrame, olink_id: str, ref: str, plate: str) -> pd.Series:
    """Paired differences NPX(reference) - NPX(plate) of one assay's bridges."""
    if wide.empty or plate not in wide.columns or ref not in wide.columns:
        return pd.Series(dtype=float)
    try:
        sub = wide.xs(olink_id, level="olink_id")
    except KeyError:
        return pd.Series(dtype=float)
    return (sub[ref] - sub[plate]).dropna()


def bridge_adjustments(table: pd.DataFrame, settings: NpxSettings) -> pd.DataFrame:
    """Compute the adjustment of every plate x assay to the reference plate.

    Parameters
    ----------
    table
        Rows with ``analyte`` (:func:`assign_analytes`).
    settings
        Bridge samples, ``min_bridge`` and reference plate.

    Returns
    -------
    pandas.DataFrame
        plate_id, olink_id, assay, analyte, reference_plate, n_bridge,
        adjustment; sorted by plate and OlinkID; one row per assay run on the
        plate (panels may differ between plates). Without bridge samples (or
        with a single plate) every adjustment is 0 and n_bridge is 0.

    Raises
    ------
    ValidationError
        Reference plate not in the data, an assay absent from the reference
        plate, or a plate / assay with fewer than ``min_bridge`` usable bridge
        samples (names the missing ones).
    """
    columns = [
        "plate_id",
        "olink_id",
        "assay",
        "analyte",
        "reference_plate",
        "n_bridge",
        "adjustment",
    ]
    plates = sorted(table["plate_id"].unique())
    if not plates:
        return pd.DataFrame(columns=columns)
    ref = settings.reference_plate or plates[0]
    label = ", ".join(sorted(table["file"].unique()))
    if ref not in plates:
        raise ValidationError(
            [
                Issue(
                    label,
                    f"reference plate {ref} (proteins.npx.reference_plate) is not "
                    f"in the NPX tables (plates: {', '.join(plates)})",
                )
            ]
        )
    assays = table.drop_duplicates("olink_id").sort_values("olink_id")[
        ["olink_id", "assay", "analyte"]
    ]
    rows: list[dict[str, Any]] = []
    bridging = bool(settings.bridge_samples) and len(plates) > 1
    usable = table[
        table["is_bridge"] & ~table["qc_warning"] & np.isfinite(table["npx"])
    ]
    wide = usable.pivot_table(
        index=["olink_id", "sample_id"], columns="plate_id", values="npx"
    )
    issues: list[Issue] = []
    on_ref = set(table.loc[table["plate_id"] == ref, "olink_id"])
    for plate in plates:
        on_plate = set(table.loc[table["plate_id"] == plate, "sample_id"])
        missing = [b for b in settings.bridge_samples if b not in on_plate]
        present = len(settings.bridge_samples) - len(missing)
        if bridging and present < settings.min_bridge:
            issues.append(
                Issue(
                    label,
                    f"plate {plate} has {present} of the "
                    f"{len(settings.bridge_samples)} bridge samples "
                    f"(proteins.npx.min_bridge: {settings.min_bridge}); missing: "
                    f"{', '.join(missing)}",
                    column="PlateID",
                )
            )
            continue
        run = set(table.loc[table["plate_id"] == plate, "olink_id"])
        for a in assays[assays["olink_id"].isin(run)].itertuples(index=False):
            adj, n = 0.0, 0
            if bridging and a.olink_id not in on_ref:
                issues.append(
                    Issue(
                        label,
                        f"assay {a.assay} ({a.olink_id}) of plate {plate} is not on "
                        f"reference plate {ref}: it cannot be bridged",
                        column="OlinkID",
                    )
                )
                continue
            if bridging:
                pairs = _pairs(wide, a.olink_id, ref, plate)
                n = int(pairs.size)
            if bridging and plate != ref:
                if n < settings.min_bridge:
                    issues.append(
                        Issue(
                            label,
                            f"plate {plate}, assay {a.assay} ({a.olink_id}): only {n} "
                            "bridge samples with an NPX and no QC warning on both "
                            f"this plate and reference plate {ref} (min_bridge: "
                            f"{settings.min_bridge})",
                            column="NPX",
                        )
                    )
                    continue
                adj = float(np.median(pairs.to_numpy()))
            rows.append(
                {
                    "plate_id": plate,
                    "olink_id": a.olink_id,
                    "assay": a.assay,
                    "analyte": a.analyte,
                    "reference_plate": ref,
                    "n_bridge": n,
                    "adjustment": adj,
                }
            )
    if issues:
        raise_issues(issues)
    return pd.DataFrame(rows, columns=columns)


def normalise(
    table: pd.DataFrame, adjustments: pd.DataFrame, settings: NpxSettings
) -> pd.DataFrame:
    """Apply the adjustments and set each row's flag.

    Parameters
    ----------
    table
        Rows with ``analyte``, ``is_control`` and ``is_bridge``.
    adjustments
        From :func:`bridge_adjustments`.
    settings
        LOD and QC-warning policies.

    Returns
    -------
    pandas.DataFrame
        The detail table (see :class:`NpxResult`), sorted by plate, sample,
        OlinkID.
    """
    adj = adjustments.set_index(["plate_id", "olink_id"])["adjustment"]
    out = table.rename(columns={"npx": "npx_raw", "lod": "lod_raw"}).copy()
    keys = pd.MultiIndex.from_frame(out[["plate_id", "olink_id"]])
    out["adjustment"] = adj.reindex(keys).to_numpy()
    out["npx"] = out["npx_raw"] + out["adjustment"]
    out["lod"] = out["lod_raw"] + out["adjustment"]
    below = np.isfinite(out["lod"]) & (out["npx"] < out["lod"])
    flag = np.where(below, "below_lod", "ok")
    if settings.qc_warning_policy == "exclude":
        flag = np.where(out["qc_warning"], "qc_warning", flag)
    flag = np.where(np.isfinite(out["npx"]), flag, "not_measured")
    out["flag"] = flag
    return (
        out[DETAIL_COLUMNS]
        .sort_values(["plate_id", "sample_id", "olink_id"])
        .reset_index(drop=True)
    )


def plate_qc(
    detail: pd.DataFrame, adjustments: pd.DataFrame, settings: NpxSettings
) -> pd.DataFrame:
    """One QC row per plate.

    Parameters
    ----------
    detail
        From :func:`normalise`.
    adjustments
        From :func:`bridge_adjustments`.
    settings
        Bridge samples.

    Returns
    -------
    pandas.DataFrame
        plate_id, file, n_samples, n_controls, n_assays, n_values, n_missing,
        n_below_lod, pct_below_lod (of measured values), n_qc_warning,
        qc_warning_samples (``;``-separated), reference (bool), n_bridge
        (bridge samples on the plate), bridge_missing, adjustment_median,
        adjustment_min, adjustment_max (over assays).
    """
    rows = []
    for plate, d in detail.groupby("plate_id", sort=True):
        a = adjustments[adjustments["plate_id"] == plate]["adjustment"]
        samples = set(d["sample_id"])
        warn = sorted(set(d.loc[d["qc_warning"], "sample_id"]))
        measured = np.isfinite(d["npx"])
        below = measured & np.isfinite(d["lod"]) & (d["npx"] < d["lod"])
        ref = adjustments["reference_plate"].iloc[0] if len(adjustments) else plate
        rows.append(
            {
                "plate_id": plate,
                "file": ";".join(sorted(set(d["file"]))),
                "n_samples": int(d.loc[~d["is_control"], "sample_id"].nunique()),
                "n_controls": int(d.loc[d["is_control"], "sample_id"].nunique()),
                "n_assays": int(d["olink_id"].nunique()),
                "n_values": len(d),
                "n_missing": int((~measured).sum()),
                "n_below_lod": int(below.sum()),
                "pct_below_lod": 100.0 * below.sum() / max(int(measured.sum()), 1),
                "n_qc_warning": len(warn),
                "qc_warning_samples": ";".join(warn),
                "reference": bool(plate == ref),
                "n_bridge": sum(b in samples for b in settings.bridge_samples),
                "bridge_missing": ";".join(
                    b for b in settings.bridge_samples if b not in samples
                ),
                "adjustment_median": float(a.median()) if len(a) else 0.0,
                "adjustment_min": float(a.min()) if len(a) else 0.0,
                "adjustment_max": float(a.max()) if len(a) else 0.0,
            }
        )
    return pd.DataFrame(rows)


def _plate_lists(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Join the sorted plate IDs of each key with ``;`` (fast path: one plate)."""
    pu = frame.drop_duplicates([*keys, "plate_id"]).sort_values([*keys, "plate_id"])
    g = pu.groupby(keys, sort=True)["plate_id"]
    out = g.first()
    n = g.size()
    if (n > 1).any():
        multi = pu.set_index(keys).loc[n[n > 1].index]
        joined = multi.groupby(level=keys)["plate_id"].agg(";".join)
        out.loc[joined.index] = joined
    return out


def concentrations(
    detail: pd.DataFrame,
    samples: pd.DataFrame | None,
    settings: NpxSettings,
) -> pd.DataFrame:
    """Rows of the concentrations table from the detail table.

    Control samples are left out; bridge samples are left out unless they
    are trial samples (in the samples sheet). A sample on several plates gets
    the mean of its normalised NPX (and LOD) over the plates whose value is
    used; ``plate_id`` lists those plates (``;``). ``cv`` is empty: NPX rows
    have no replicate wells.

    Parameters
    ----------
    detail
        From :func:`normalise`.
    samples
        Protein samples sheet (protein_sample_id, participant_id, visit);
        ``None``: participant and visit are left empty.
    settings
        LOD and QC-warning policies.

    Returns
    -------
    pandas.DataFrame
        :data:`CONCENTRATION_COLUMNS`, sorted by sample and analyte.

    Raises
    ------
    ValidationError
        A non-control, non-bridge sample not in the samples sheet.
    """
    keep = detail[~detail["is_control"]]
    if samples is not None:
        sheet = samples.set_index("protein_sample_id")
        unknown = keep[~keep["sample_id"].isin(sheet.index) & ~keep["is_bridge"]]
        if len(unknown):
            firsts = unknown.drop_duplicates("sample_id")
            raise_issues(
                [
                    Issue(
                        r.file,
                        f"sample {r.sample_id} is not in the protein samples sheet",
                        r.line,
                        "SampleID",
                    )
                    for r in firsts.itertuples(index=False)
                ]
            )
        keep = keep[keep["sample_id"].isin(sheet.index)]
    keys = ["sample_id", "analyte"]
    k = keep.copy()
    k["measured"] = np.isfinite(k["npx"])
    k["used"] = k["measured"]
    if settings.qc_warning_policy == "exclude":
        k["used"] &= ~k["qc_warning"]
    k["npx_used"] = k["npx"].where(k["used"])
    k["lod_used"] = k["lod"].where(k["used"])
    k["lod_missing"] = k["used"] & ~np.isfinite(k["lod"])
    g = k.groupby(keys, sort=True)
    out = g.agg(
        n_measured=("measured", "sum"),
        n_used=("used", "sum"),
        value=("npx_used", "mean"),
        lod=("lod_used", "mean"),
        lod_missing=("lod_missing", "sum"),
    )
    # Plates of the values used (of every row when none is used).
    plates_used = _plate_lists(k[k["used"]], keys).reindex(out.index, fill_value="")
    plates_all = _plate_lists(k, keys).reindex(out.index)
    has = out["n_used"] > 0
    below = has & (out["lod_missing"] == 0) & (out["value"] < out["lod"])
    flag = np.select(
        [has & below, has, out["n_measured"] > 0],
        ["below_lod", "ok", "qc_warning"],
        default="not_measured",
    )
    value = out["value"].where(has)
    if settings.lod_policy == "exclude":
        value = value.where(~below)
    res = pd.DataFrame(
        {
            "protein_sample_id": out.index.get_level_values("sample_id"),
            "analyte": out.index.get_level_values("analyte"),
            "concentration": value.to_numpy(dtype=float),
            "unit": "NPX",
            "flag": flag,
            "plate_id": np.where(has, plates_used, plates_all),
            "cv": np.nan,
        }
    )
    if samples is not None:
        res["participant_id"] = res["protein_sample_id"].map(sheet["participant_id"])
        res["visit"] = res["protein_sample_id"].map(sheet["visit"])
    else:
        res["participant_id"] = ""
        res["visit"] = ""
    return res[CONCENTRATION_COLUMNS]


def check_plates(table: pd.DataFrame, plates: Collection[str]) -> None:
    """Check that the NPX tables hold exactly the plates of the plates sheet.

    Parameters
    ----------
    table
        Rows of :func:`read_npx` (all files).
    plates
        Plate IDs of the plates sheet's Olink rows.

    Raises
    ------
    ValidationError
        A PlateID of the tables not in the sheet (first line named), or a plate
        of the sheet with no row in the tables.
    """
    issues: list[Issue] = []
    firsts = table.drop_duplicates("plate_id")
    for r in firsts[~firsts["plate_id"].isin(set(plates))].itertuples(index=False):
        issues.append(
            Issue(
                r.file,
                f"plate {r.plate_id} is not in the protein plates sheet "
                f"(olink plates: {', '.join(sorted(plates))})",
                r.line,
                "PlateID",
            )
        )
    files = ", ".join(sorted(set(table["file"])))
    for p in sorted(set(plates) - set(table["plate_id"])):
        issues.append(
            Issue(files, f"plate {p} of the protein plates sheet has no NPX rows")
        )
    if issues:
        raise_issues(issues)


def process_npx(
    paths: Iterable[str | Path] | Sequence[tuple[str | Path, str]],
    settings: NpxSettings,
    *,
    panel: Collection[str] | None = None,
    samples: pd.DataFrame | None = None,
    plates: Collection[str] | None = None,
) -> NpxResult:
    """Read, check, normalise and flag the NPX tables of a study.

    Parameters
    ----------
    paths
        NPX files, or ``(path, label)`` pairs (label = name in messages).
    settings
        :class:`NpxSettings`.
    panel
        Analyte names of ``proteins.panel`` (``None``: all assays).
    samples
        Protein samples sheet (see :func:`concentrations`).
    plates
        Plate IDs of the plates sheet's Olink rows; ``None``: not checked.
        The same file listed for several plates is read once.

    Returns
    -------
    NpxResult
        Detail, adjustments, plate QC and concentrations tables.

    Raises
    ------
    ValidationError
        Any bad row or file, unlisted assay, the same sample x assay x plate
        in two files, or too few bridge samples.
    """
    frames = []
    seen: set[Path] = set()
    for item in paths:
        path, label = item if isinstance(item, tuple) else (item, str(item))
        if Path(path).resolve() in seen:  # several plate rows, one NPX file
            continue
        seen.add(Path(path).resolve())
        frames.append(read_npx(path, label))
    table = pd.concat(frames, ignore_index=True)
    if plates is not None:
        check_plates(table, plates)
    dup = table.duplicated(["sample_id", "olink_id", "plate_id"], keep="first")
    if dup.any():
        first = table[~dup].set_index(["sample_id", "olink_id", "plate_id"])
        raise_issues(
            [
                Issue(
                    r.file,
                    f"sample {r.sample_id} has assay {r.olink_id} on plate "
                    f"{r.plate_id} also in "
                    f"{first.at[(r.sample_id, r.olink_id, r.plate_id), 'file']}",
                    r.line,
                )
                for r in table[dup].itertuples(index=False)
            ]
        )
    table, ignored = assign_analytes(table, panel, settings.unlisted_assays)
    table = mark_samples(table, settings)
    if table.empty:  # every assay ignored (unlisted_assays: ignore)
        return NpxResult(
            detail=pd.DataFrame(columns=DETAIL_COLUMNS),
            adjustments=bridge_adjustments(table, settings),
            plate_qc=pd.DataFrame(columns=["plate_id"]),
            concentrations=pd.DataFrame(columns=CONCENTRATION_COLUMNS),
            ignored_assays=ignored,
        )
    adjustments = bridge_adjustments(table, settings)
    detail = normalise(table, adjustments, settings)
    return NpxResult(
        detail=detail,
        adjustments=adjustments,
        plate_qc=plate_qc(detail, adjustments, settings),
        concentrations=concentrations(detail, samples, settings),
        ignored_assays=ignored,
    )


def write_npx_outputs(result: NpxResult, outdir: str | Path) -> dict[str, Path]:
    """Write the NPX tables (atomically) into ``outdir``.

    Parameters
    ----------
    result
        From :func:`process_npx`.
    outdir
        Directory, e.g. ``results/proteins``; created if needed.

    Returns
    -------
    dict[str, Path]
        ``concentrations`` (``npx_concentrations.tsv``, rows for the shared
        concentrations table), ``plate_qc`` (``npx_plate_qc.tsv``),
        ``adjustments`` (``npx_bridge_adjustments.tsv``) and ``detail``
        (``npx_detail.tsv``).
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "concentrations": out / "npx_concentrations.tsv",
        "plate_qc": out / "npx_plate_qc.tsv",
        "adjustments": out / "npx_bridge_adjustments.tsv",
        "detail": out / "npx_detail.tsv",
    }
    write_table(result.concentrations, paths["concentrations"])
    write_table(result.plate_qc, paths["plate_qc"])
    write_table(result.adjustments, paths["adjustments"])
    write_table(result.detail, paths["detail"])
    return paths
