"""Settings of the protein analysis and the multi-omics integration.

Built once, when the workflow is parsed, from the validated configuration
(config ``proteins.panel``, ``proteins.ratios``, ``proteins.analysis``,
``design``, ``trial.primary_mirna``). The quantification settings of the same
block (``curve``, ``acceptance``, ``npx``) are read by the quantification
stage, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exomir.config import post_dose_visits, primary_visit
from exomir.errors import Issue, ValidationError

CONFIG_FILE = "config/config.yaml"


@dataclass(frozen=True)
class ProteinSpec:
    """One analysed protein endpoint (a panel analyte or a derived ratio).

    Attributes
    ----------
    code
        Analyte code (column ``analyte`` of concentrations.tsv) or ratio name.
    label, unit, assay
        As in config ``proteins.panel`` (a ratio: unit ``1``, assay ``ratio``).
    transform
        ``log`` (concentrations: analysed on the natural-log scale, effect a
        ratio of geometric means) or ``none`` (NPX, already log2: effect a
        mean difference in NPX).
    numerator, denominator
        Components of a ratio (empty for a measured analyte).
    """

    code: str
    label: str
    unit: str
    assay: str
    transform: str = "log"
    numerator: str = ""
    denominator: str = ""

    @property
    def is_ratio(self) -> bool:
        """Whether this endpoint is derived from two analytes."""
        return bool(self.numerator)


@dataclass(frozen=True)
class MofaSettings:
    """MOFA+ settings (config ``proteins.analysis.mofa``)."""

    n_factors: int = 5
    seed: int = 20261207
    max_iter: int = 1000
    convergence_mode: str = "fast"
    min_features: int = 2


@dataclass(frozen=True)
class ProteinAnalysisSettings:
    """Everything the protein-analysis and integration jobs need.

    Attributes
    ----------
    panel
        Measured analytes then ratios, in config order.
    arm, reference_arm
        Treated and reference arm (last and first of design.arms).
    baseline_visit, primary_visit
        Visit of the baseline covariate and of the primary analysis.
    post_dose_visits
        Visits of the per-visit analyses (design.schedule keys, or the
        primary visit only).
    populations
        Populations analysed (same as the clinical endpoints).
    strata
        design.strata (adjusted for in every ANCOVA).
    ci_level, cov_type
        Confidence level and covariance type (same as the clinical endpoints).
    censored_sensitivity
        Whether censored values get the substitution sensitivity analysis.
    association_population
        Population of the integration analyses.
    primary_mirna
        trial.primary_mirna.
    mirna_layer
        Layer of results/de/mirna.h5ad used for the miRNA levels.
    pathways
        Pathway ids whose scores enter the association (pathways.primary).
    pathway_method
        Scoring method of results/pathways/scores.tsv used.
    mofa
        MOFA+ settings.
    clinical_log
        Clinical parameters analysed on the log scale (``transform: log``),
        logged in the clinical view of the integration.
    """

    panel: tuple[ProteinSpec, ...]
    arm: str
    reference_arm: str
    baseline_visit: str
    primary_visit: str
    post_dose_visits: tuple[str, ...]
    populations: tuple[str, ...] = ("mITT", "PP")
    strata: tuple[str, ...] = ()
    ci_level: float = 0.95
    cov_type: str = "HC3"
    censored_sensitivity: bool = True
    association_population: str = "mITT"
    primary_mirna: str = ""
    mirna_layer: str = "log2_normed"
    pathways: tuple[str, ...] = ()
    pathway_method: str = "waggr"
    mofa: MofaSettings = MofaSettings()
    clinical_log: tuple[str, ...] = ()

    def spec(self, code: str) -> ProteinSpec:
        """Return the endpoint called ``code``."""
        return next(p for p in self.panel if p.code == code)

    @property
    def analytes(self) -> list[str]:
        """Measured analytes (not ratios), in config order."""
        return [p.code for p in self.panel if not p.is_ratio]


def _panel(proteins: Mapping[str, Any], issues: list[Issue]) -> tuple[ProteinSpec, ...]:
    """Specs of ``proteins.panel`` and ``proteins.ratios``; problems go to issues."""
    specs: list[ProteinSpec] = []
    panel = dict(proteins.get("panel") or {})
    for code, p in panel.items():
        unit = str(p.get("unit", "pg/mL"))
        default = "none" if unit == "NPX" or p.get("assay") == "olink" else "log"
        specs.append(
            ProteinSpec(
                code=str(code),
                label=str(p.get("label", code)),
                unit=unit,
                assay=str(p.get("assay", "elisa")),
                transform=str(p.get("transform") or default),
            )
        )
    by_code = {s.code: s for s in specs}
    for name, r in dict(proteins.get("ratios") or {}).items():
        key = f"proteins.ratios.{name}"
        if name in by_code:
            issues.append(
                Issue(CONFIG_FILE, f"ratio {name} is also a panel analyte", column=key)
            )
            continue
        num, den = str(r["numerator"]), str(r["denominator"])
        bad = [c for c in (num, den) if c not in by_code]
        if bad:
            issues.append(
                Issue(
                    CONFIG_FILE,
                    f"{', '.join(bad)} not in proteins.panel (analytes: "
                    f"{', '.join(by_code) or 'none'})",
                    column=key,
                )
            )
            continue
        if by_code[num].transform != "log" or by_code[den].transform != "log":
            issues.append(
                Issue(
                    CONFIG_FILE,
                    "a ratio needs two concentrations analysed on the log scale "
                    "(transform: log); NPX values are already log2 differences",
                    column=key,
                )
            )
            continue
        specs.append(
            ProteinSpec(
                code=str(name),
                label=str(r.get("label", name)),
                unit="1",
                assay="ratio",
                transform="log",
                numerator=num,
                denominator=den,
            )
        )
    return tuple(specs)


def protein_config_issues(
    config: Mapping[str, Any], file: str = CONFIG_FILE
) -> list[Issue]:
    """Cross-field problems of config ``proteins`` (ratios naming unknown analytes).

    Called by :func:`exomir.config.validate_config`, so ``exomir validate``
    reports them before a workflow run.
    """
    issues: list[Issue] = []
    _panel(dict(config.get("proteins") or {}), issues)
    return [Issue(file, i.message, column=i.column) for i in issues]


def protein_analysis_settings(config: Mapping[str, Any]) -> ProteinAnalysisSettings:
    """Build the protein-analysis settings from a validated configuration.

    Parameters
    ----------
    config
        Configuration with a ``proteins`` block (validated by the schema).

    Returns
    -------
    ProteinAnalysisSettings
        The settings.

    Raises
    ------
    ValidationError
        If a ratio names an analyte missing from the panel or a non-log one,
        or the association population is not analysed.
    """
    design = config["design"]
    proteins = dict(config.get("proteins") or {})
    analysis = dict(proteins.get("analysis") or {})
    clinical = dict(config.get("clinical") or {})
    issues: list[Issue] = []
    panel = _panel(proteins, issues)
    pops = tuple(clinical.get("populations") or ("mITT", "PP"))
    assoc_pop = str(analysis.get("association_population", "mITT"))
    if assoc_pop not in ("mITT", "PP"):
        issues.append(
            Issue(
                CONFIG_FILE,
                f"'{assoc_pop}' is not a population; use mITT or PP",
                column="proteins.analysis.association_population",
            )
        )
    if issues:
        raise ValidationError(issues)
    mofa = dict(analysis.get("mofa") or {})
    path = dict(config.get("pathways") or {})
    tps = list(design["timepoints"])
    cfg = dict(config)
    params = {
        **dict(config.get("clinical_parameters") or {}),
        **dict(clinical.get("derived") or {}),
    }
    clinical_log = tuple(
        str(k) for k, p in params.items() if str(p.get("transform", "none")) == "log"
    )
    return ProteinAnalysisSettings(
        panel=panel,
        arm=str(design["arms"][-1]),
        reference_arm=str(design["arms"][0]),
        baseline_visit=str(clinical.get("baseline_visit") or tps[0]),
        primary_visit=primary_visit(cfg),
        post_dose_visits=tuple(post_dose_visits(cfg)),
        populations=pops,
        strata=tuple(design.get("strata") or ()),
        ci_level=float(clinical.get("ci_level", 0.95)),
        cov_type=str(clinical.get("cov_type", "HC3")),
        censored_sensitivity=bool(analysis.get("censored_sensitivity", True)),
        association_population=assoc_pop,
        primary_mirna=str(config["trial"]["primary_mirna"]),
        mirna_layer=str(analysis.get("mirna_layer", "log2_normed")),
        pathways=tuple(
            analysis.get("pathways") or path.get("primary") or ("WP4172", "WP382")
        ),
        pathway_method=str(analysis.get("pathway_method", "waggr")),
        mofa=MofaSettings(
            n_factors=int(mofa.get("n_factors", 5)),
            seed=int(mofa.get("seed", 20261207)),
            max_iter=int(mofa.get("max_iter", 1000)),
            convergence_mode=str(mofa.get("convergence_mode", "fast")),
            min_features=int(mofa.get("min_features", 2)),
        ),
        clinical_log=clinical_log,
    )
