"""Section renderers of the report, in the order of analysis_spec.md §5.8.

Each renderer takes a :class:`~exomir.report.context.ReportContext` and an
empty :class:`~exomir.report.model.Section` and fills it from results TSVs.
A renderer whose inputs are absent adds a :class:`~exomir.report.model.NotRun`
block instead of leaving the section out.
"""

from __future__ import annotations

from collections.abc import Callable

from exomir.report.context import ReportContext
from exomir.report.model import Section
from exomir.report.sections import clinical, molecular, study

Renderer = Callable[[ReportContext, Section], Section]

#: (number, key, title, renderer) of every section, in report order.
SECTIONS: list[tuple[int, str, str, Renderer]] = [
    (1, "overview", "Study overview", study.overview),
    (2, "consort", "CONSORT flow and data completeness", study.consort),
    (3, "baseline", "Baseline characteristics", study.baseline),
    (4, "ev", "EV product", molecular.ev_product),
    (5, "qc", "Sequencing QC", molecular.sequencing_qc),
    (6, "primary", "Primary biomarker", molecular.primary),
    (7, "mirnaome", "miRNAome", molecular.mirnaome),
    (8, "pathways", "Pathways", molecular.pathways),
    (9, "clinical", "Clinical endpoints", clinical.clinical),
    (10, "association", "Biomarker-clinical association and ROC", clinical.association),
    (11, "safety", "Safety", clinical.safety),
    (12, "interim", "DSMB interim analysis", clinical.interim),
    (13, "methods", "Methods and reference provenance", study.methods),
]

__all__ = ["SECTIONS", "Renderer"]
