"""Section renderers of the report, in the order of a DSMB charter.

Each renderer takes a :class:`~exomir.report.context.ReportContext` and an
empty :class:`~exomir.report.model.Section` and fills it from results TSVs;
one module per section (``clinical`` holds the helpers the clinical
sections share, ``primary`` the note on withheld arm-level results).
A renderer whose inputs are absent adds a :class:`~exomir.report.model.NotRun`
block instead of leaving the section out.
"""

from __future__ import annotations

from collections.abc import Callable

from exomir.report.context import ReportContext
from exomir.report.model import Section
from exomir.report.sections import (
    association,
    baseline,
    clinical,
    conclusions,
    consort,
    ev,
    integration,
    interim,
    methods,
    mirnaome,
    outcomes,
    pathways,
    primary,
    proteins,
    qc,
    safety,
    sites,
    study,
)

Renderer = Callable[[ReportContext, Section], Section]

#: (number, key, title, renderer) of every section, in report order: the
#: order a DSMB charter expects (overview, enrolment and disposition, baseline,
#: exposure, primary, secondary, safety, interim, data quality, conclusions),
#: then methods; the builder appends the provenance.
SECTIONS: list[tuple[int, str, str, Renderer]] = [
    (1, "overview", "Study overview", study.overview),
    (2, "consort", "Enrolment, disposition and data completeness", consort.consort),
    (3, "baseline", "Baseline characteristics", baseline.baseline),
    (4, "ev", "Exposure: EV product and dose", ev.ev_product),
    (5, "primary", "Primary biomarker", primary.primary),
    (6, "mirnaome", "Secondary: miRNAome", mirnaome.mirnaome),
    (7, "pathways", "Secondary: pathways", pathways.pathways),
    (8, "clinical", "Secondary: clinical endpoints", clinical.clinical),
    (
        9,
        "association",
        "Secondary: biomarker-clinical association and ROC",
        association.association,
    ),
    (10, "outcomes", "Secondary: long-term outcomes", outcomes.outcomes),
    (11, "proteins", "Secondary: protein biomarkers", proteins.proteins),
    (
        12,
        "integration",
        "Exploratory: multi-omics integration",
        integration.integration,
    ),
    (13, "safety", "Safety", safety.safety),
    (14, "interim", "DSMB interim analysis", interim.interim),
    (15, "qc", "Data quality: sequencing QC", qc.sequencing_qc),
    (16, "sites", "Recruiting sites", sites.sites),
    (
        17,
        "conclusions",
        "Conclusions and recommendation",
        conclusions.conclusions,
    ),
    (18, "methods", "Methods and reference provenance", methods.methods),
]

__all__ = ["SECTIONS", "Renderer"]
