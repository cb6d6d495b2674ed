"""Section 4, exposure: EV product lots, their certificate and the dose given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, is_true, num
from exomir.report.labels import (
    fmt_num,
)
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text
from exomir.report.sections.primary import _infusion_interruptions


def lot_table(summ: pd.DataFrame) -> pd.DataFrame:
    """Compact lot certificate: verdict, sizes, purity, endotoxin."""
    out = pd.DataFrame({"lot": summ["lot_id"]})
    for col, name in [
        ("verdict", "verdict"),
        ("verdict_reason", "reason"),
        ("release_decision", "release"),
    ]:
        if col in summ:
            out[name] = summ[col]
    if "conc_per_ml" in summ:
        out["particles/mL"] = [fmt_num(v) for v in summ["conc_per_ml"]]
    if {"d10_nm", "d50_nm", "d90_nm"} <= set(summ.columns):
        out["mode; D10 / D50 / D90 (nm)"] = [
            f"{fmt_num(m)}; {fmt_num(a)} / {fmt_num(b)} / {fmt_num(c)}"
            for m, a, b, c in zip(
                summ.get("mode_nm", summ["d50_nm"]),
                summ["d10_nm"],
                summ["d50_nm"],
                summ["d90_nm"],
                strict=True,
            )
        ]
    if "frac_in_window" in summ:
        out["% in size window"] = [
            f"{v * 100:.1f}" if np.isfinite(v) else ""
            for v in num(summ["frac_in_window"])
        ]
    for col, name in [
        ("particles_per_ug", "particles/µg protein"),
        ("endotoxin_eu_per_ml", "endotoxin (EU/mL)"),
        ("sterility", "sterility"),
        ("mycoplasma", "mycoplasma"),
    ]:
        if col in summ:
            out[name] = [fmt_num(v) if v and v[0].isdigit() else v for v in summ[col]]
    for name in ("sterility", "mycoplasma"):
        if name in out and out[name].nunique() == 1:
            out = out.drop(columns=name)
    return out


def ev_product(ctx: ReportContext, sec: Section) -> Section:
    """§4: lot certificate, NTA sizes, particles/ug, MISEV checklist, dose."""
    summ_path, qc_path = "results/ev/lot_summary.tsv", "results/ev/lot_qc.tsv"
    summ = ctx.table(summ_path)
    if summ is None:
        sec.add(
            NotRun(
                "EV product characterisation (EV stage; needs the ev_lots and ev_nta_runs sheets)",
                [summ_path],
            )
        )
        return sec
    cols = [
        c
        for c in [
            "lot_id",
            "verdict",
            "verdict_reason",
            "release_decision",
            "n_runs",
            "instruments",
            "conc_per_ml",
            "mode_nm",
            "d10_nm",
            "d50_nm",
            "d90_nm",
            "frac_in_window",
            "particles_per_ug",
            "zeta_mv",
            "endotoxin_eu_per_ml",
            "sterility",
            "mycoplasma",
        ]
        if c in summ
    ]
    n_pass = int(summ["verdict"].eq("pass").sum()) if "verdict" in summ else 0
    sec.add(
        KeyValues(
            [
                ("Lots", str(len(summ))),
                ("Lots passing the certificate", str(n_pass)),
                ("Lots failing", str(len(summ) - n_pass)),
            ],
            source=[summ_path],
        )
    )
    lots = lot_table(summ)
    same = [
        f"{c} {summ[c].iloc[0]}"
        for c in ("sterility", "mycoplasma")
        if c in summ and c not in lots and len(summ)
    ]
    sec.add(
        Table(
            "Lot certificate (pass/fail against the configured specification)",
            lots,
            source=[summ_path],
            preformatted=True,
            note=f"Every lot: {', '.join(same)}." if same else "",
        )
    )
    sec.add(
        Table(
            "Lot summary, all columns",
            summ[cols],
            source=[summ_path],
            collapsed=True,
            wide=True,
        )
    )
    _lot_characterisation(ctx, sec, qc_path)
    _dose(ctx, sec)
    if ctx.closed:
        _infusion_interruptions(ctx, sec)
    return sec


def _lot_characterisation(ctx: ReportContext, sec: Section, qc_path: str) -> None:
    """Add the certificate criteria, NTA and lot figures and the MISEV checklist."""
    qc = ctx.table(qc_path)
    if qc is not None:
        sec.add(
            Table("Certificate criteria per lot", qc, source=[qc_path], collapsed=True)
        )
    for rel, title in [
        ("results/ev/size_distributions.png", "NTA size distributions per lot"),
        (
            "results/ev/lot_metrics.png",
            "Lot metrics: mode/D10/D50/D90, particles per ug protein",
        ),
    ]:
        if ctx.has(rel):
            sec.add(
                Figure(
                    title, source=[rel], alt=title, uri=figures.file_uri(ctx.file(rel))
                )
            )
    mis_path = "results/ev/misev_checklist.tsv"
    mis = ctx.table(mis_path)
    if mis is not None:
        counts = (
            mis.groupby(["lot_id", "level", "status"]).size().reset_index(name="items")
        )
        sec.add(
            Table(
                "MISEV2023 checklist: items reported per lot",
                counts,
                source=[mis_path],
                collapsed=True,
            )
        )


def _dose(ctx: ReportContext, sec: Section) -> None:
    """Add the dose given per participant (closed report; reveals allocation)."""
    dose_path = "results/ev/dose_per_participant.tsv"
    dose = ctx.table(dose_path)
    if not ctx.closed and ctx.is_withheld(dose_path):
        sec.add(
            Text(
                f"Dose per participant reveals allocation and is in the closed report ({dose_path}).",
                kind="note",
            )
        )
    elif dose is not None:
        if ctx.closed:
            keep = [
                c
                for c in [
                    "participant_id",
                    "arm",
                    "route",
                    "ev_lot_id",
                    "lot_verdict",
                    "dose_1e9_particles",
                    "dose_protein_ug",
                    "dose_endotoxin_eu",
                    "dose_ratio_to_label",
                    "flag",
                    "flag_reason",
                ]
                if c in dose
            ]
            sec.add(
                Table(
                    "Dose delivered per participant",
                    dose[keep],
                    source=[dose_path],
                    collapsed=True,
                    arm_level=True,
                )
            )
            flagged = dose[is_true(dose.get("flag", pd.Series(dtype=str)))]
            if len(flagged):
                sec.add(
                    Table(
                        "Participants with a flagged dose",
                        flagged[keep],
                        source=[dose_path],
                        arm_level=True,
                    )
                )
