"""Likelihood-ratio test of the arm x time terms across visits (docs/de.md, "Across visits").

pydeseq2 0.5.4 has Wald tests only. The test here is DESeq2's ``nbinomLRT``
built on a pydeseq2 fit of the full model: the size factors and the
(MAP, outlier-refitted) dispersions of the full model are used for both
models, each model's negative-binomial GLM is fitted by pydeseq2's IRLS with
those fixed dispersions, and the statistic is twice the difference of the
log-likelihoods, referred to a chi-square with as many degrees of freedom as
arm x time terms. Cook's filtering, independent filtering and BH-FDR are then
applied as in a Wald contrast (pydeseq2's ``DeseqStats``). The agreement with R
DESeq2 is tested against ``tests/data/deseq2_lrt/``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln
from threadpoolctl import threadpool_limits

from exomir.de.design import DesignError, _dummies, _rank, add_covariates
from exomir.de.filter import ControlSet
from exomir.de.fit import fit_inputs, pydeseq2_warnings, result_table, sort_results
from exomir.de.samples import is_blank
from exomir.de.settings import CONFIG_LABEL, DESettings, LrtSpec
from exomir.errors import Issue, ValidationError

log = logging.getLogger(__name__)


def lrt_columns(spec: LrtSpec) -> list[str]:
    """Columns of the LRT table: as the contrast tables where they apply.

    ``log2FoldChange_<T>`` is the full model's arm x time coefficient at
    post-dose timepoint ``T`` (log2, unshrunken); ``stat`` the LRT statistic
    on ``df`` degrees of freedom.
    """
    return [
        "mirna",
        "baseMean",
        *[f"log2FoldChange_{t}" for t in spec.post_dose],
        "stat",
        "df",
        "pvalue",
        "padj",
        "cooks_outlier",
        "control",
    ]


@dataclass
class LrtResult:
    """Result of the likelihood-ratio test.

    Attributes
    ----------
    spec
        The test.
    table
        Per-miRNA results (:func:`lrt_columns`), sorted by padj, pvalue, miRNA.
    samples
        Candidate libraries with ``included`` and ``reason``.
    design_columns, reduced_columns
        Columns of the full and the reduced model.
    size_factors
        Size factors of the included libraries.
    notes
        Dropped covariates, pydeseq2 warnings.
    """

    spec: LrtSpec
    table: pd.DataFrame
    samples: pd.DataFrame
    design_columns: list[str]
    reduced_columns: list[str]
    size_factors: pd.Series
    notes: list[str] = field(default_factory=list)


def select_lrt_samples(meta: pd.DataFrame, spec: LrtSpec) -> pd.DataFrame:
    """Candidate libraries of the test, with inclusion and reasons.

    As in the interaction contrasts, only participants with a usable library at
    the reference timepoint enter, and each needs at least one usable post-dose
    library; unlike them, a participant missing some post-dose draws keeps the
    others.

    Parameters
    ----------
    meta
        From :func:`exomir.de.samples.sample_table`.
    spec
        The test.

    Returns
    -------
    pandas.DataFrame
        Libraries of the test's arms and timepoints (sorted by sample_id) with
        ``sample_id``, ``participant_id``, ``arm``, ``timepoint``, ``included``
        and ``reason``.
    """
    arms = (spec.reference_arm, spec.arm)
    cand = meta[meta["arm"].isin(arms) & meta["timepoint"].isin(spec.timepoints)].copy()
    reason = cand["reason"].where(~cand["usable"], "")
    for cov in spec.covariates:
        if cov not in cand.columns:
            raise ValidationError(
                [
                    Issue(
                        CONFIG_LABEL,
                        f"covariate '{cov}' of the likelihood-ratio test is not a "
                        "column of samples.tsv or participants.tsv",
                        column="de.lrt.covariates",
                    )
                ]
            )
        miss = cand[cov].map(is_blank) & (reason == "")
        reason[miss] = f"missing covariate {cov}"
    ref = spec.timepoints[0]
    ok = cand[reason == ""]
    have_ref = set(ok.loc[ok["timepoint"] == ref, "participant_id"])
    have_post = set(ok.loc[ok["timepoint"] != ref, "participant_id"])
    for sid, row in cand.iterrows():
        if reason[sid]:
            continue
        pid = row["participant_id"]
        if pid not in have_ref:
            reason[sid] = f"unpaired: no usable {ref} library"
        elif pid not in have_post:
            reason[sid] = "unpaired: no usable post-dose library"
    out = cand[["sample_id", "participant_id", "arm", "timepoint"]].copy()
    out["included"] = reason == ""
    out["reason"] = reason
    return out.sort_index()


def lrt_design(
    meta: pd.DataFrame, spec: LrtSpec
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Full design of the test and the columns of the reduced model.

    Parameters
    ----------
    meta
        Included libraries with ``participant_id``, ``arm``, ``timepoint`` and
        the covariates.
    spec
        The test.

    Returns
    -------
    tuple
        Full design (Intercept, participant, timepoint, covariates, then one
        ``treated_followup[T]`` column per post-dose timepoint), the reduced
        model's columns (all but those) and notes on dropped covariates.

    Raises
    ------
    DesignError
        If a post-dose timepoint lacks libraries of either arm, the design is
        not of full rank or no residual degrees of freedom are left.
    """
    label = f"{CONFIG_LABEL} (de.lrt)"

    def fail(msg: str) -> DesignError:
        return DesignError([Issue(label, msg, column="de.lrt")])

    if meta.empty:
        raise fail("no usable libraries for the likelihood-ratio test")
    notes: list[str] = []
    for t in spec.post_dose:
        at = meta[meta["timepoint"] == t]
        for a in (spec.reference_arm, spec.arm):
            if not (at["arm"] == a).any():
                raise fail(
                    f"no paired library of arm '{a}' at {t}: its arm x time term "
                    "cannot be estimated (drop it from de.lrt.timepoints)"
                )
    pids = sorted(meta["participant_id"].unique())
    x = pd.concat(
        [
            pd.DataFrame({"Intercept": np.ones(len(meta))}, index=meta.index),
            _dummies(meta["participant_id"], "participant", pids),
            _dummies(meta["timepoint"], "timepoint", spec.timepoints),
        ],
        axis=1,
    )
    x = add_covariates(x, meta, spec.covariates, True, notes)
    reduced = list(x.columns)
    for t, term in zip(spec.post_dose, spec.terms, strict=True):
        tf = (meta["arm"] == spec.arm) & (meta["timepoint"] == t)
        x[term] = tf.astype(float)
    if _rank(x) < x.shape[1]:
        raise fail("the design is not of full rank")
    if x.shape[0] - x.shape[1] < 1:
        raise fail(
            f"{x.shape[0]} libraries and {x.shape[1]} design columns leave no "
            "residual degrees of freedom"
        )
    return x, reduced, notes


def nb_loglik(counts: np.ndarray, mu: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """Negative-binomial log-likelihood per gene (R ``dnbinom(size = 1/disp)`` summed).

    Parameters
    ----------
    counts, mu
        Samples x genes counts and means.
    disp
        Dispersion per gene.

    Returns
    -------
    numpy.ndarray
        One log-likelihood per gene.
    """
    size = 1.0 / disp[None, :]
    ll = (
        gammaln(counts + size)
        - gammaln(size)
        - gammaln(counts + 1.0)
        + size * np.log(size / (size + mu))
        + counts * np.log(mu / (size + mu))
    )
    return ll.sum(axis=0)


def lrt_statistics(
    counts: np.ndarray,
    size_factors: np.ndarray,
    dispersions: np.ndarray,
    full: np.ndarray,
    reduced: np.ndarray,
    min_mu: float = 0.5,
    beta_tol: float = 1e-8,
    n_cpus: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Likelihood-ratio statistics of nested NB GLMs with fixed dispersions.

    Both models are fitted with pydeseq2's IRLS (with its L-BFGS-B fallback)
    at the given dispersions and size factors; the statistic is
    ``2 * (loglik_full - loglik_reduced)``, as DESeq2's ``nbinomLRT``.

    Parameters
    ----------
    counts
        Samples x genes counts (no all-zero gene).
    size_factors
        One per sample.
    dispersions
        One per gene (the full model's).
    full, reduced
        Design matrices (samples x columns); ``reduced`` nested in ``full``.
    min_mu, beta_tol
        pydeseq2's IRLS settings (lower bound of the fitted means, convergence).
    n_cpus
        Processes for the fits.

    Returns
    -------
    tuple of numpy.ndarray
        The statistics (>= 0) and the full model's coefficients (genes x
        columns, natural log).
    """
    from exomir.de.inference import inference_for

    counts = np.asarray(counts, dtype=float)
    loglik = []
    beta_full = np.empty((counts.shape[1], full.shape[1]))
    for i, x in enumerate((full, reduced)):
        # Paired designs get the arrow-matrix algebra (exomir.de.inference).
        inference = inference_for(x, n_cpus)
        beta, _mu, _hat, _conv = inference.irls(
            counts=counts,
            size_factors=size_factors,
            design_matrix=x,
            disp=dispersions,
            min_mu=min_mu,
            beta_tol=beta_tol,
        )
        mu = size_factors[:, None] * np.exp(x @ beta.T)
        loglik.append(nb_loglik(counts, mu, dispersions))
        if i == 0:
            beta_full = beta
    stat = np.maximum(2.0 * (loglik[0] - loglik[1]), 0.0)
    return stat, beta_full


def _fitted_counts(dds: Any) -> pd.DataFrame:
    """Return the counts the full model was fitted to (raw, with Cook's replacements)."""
    x = pd.DataFrame(
        np.asarray(dds.X, dtype=float),
        index=dds.obs_names,
        columns=dds.var_names,
    )
    var = dds.var
    if "refitted" in var and var["refitted"].any():
        sub = dds.counts_to_refit
        x.loc[:, list(sub.var_names)] = np.asarray(sub.X, dtype=float)
    return x


def _lrt_pydeseq2(
    x: pd.DataFrame,
    obs: pd.DataFrame,
    design: pd.DataFrame,
    reduced: list[str],
    spec: LrtSpec,
    settings: DESettings,
    control: ControlSet,
    ctrl: list[str],
    n_cpus: int,
    notes: list[str],
) -> tuple[Any, pd.DataFrame]:
    """Fit the full model with pydeseq2, test it against the reduced one."""
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    from exomir.de.inference import inference_for

    inference = inference_for(design, n_cpus)
    with threadpool_limits(1), pydeseq2_warnings(notes):
        dds = DeseqDataSet(
            counts=x,
            metadata=obs,
            design=design,
            size_factors_fit_type=control.fit_type,
            control_genes=ctrl,
            refit_cooks=settings.refit_cooks,
            min_replicates=settings.min_replicates,
            n_cpus=n_cpus,
            inference=inference,
            quiet=True,
        )
        dds.deseq2()
        nz = np.asarray(dds.var["non_zero"], dtype=bool)
        genes = dds.var_names[nz]
        fitted = _fitted_counts(dds)[genes]
        sf = dds.obs["size_factors"].to_numpy(dtype=float)
        disp = dds.var.loc[genes, "dispersions"].to_numpy(dtype=float)
        red = design[reduced].to_numpy(dtype=float)
        stat, beta = lrt_statistics(
            fitted.to_numpy(),
            sf,
            disp,
            design.to_numpy(dtype=float),
            red,
            min_mu=dds.min_mu,
            beta_tol=dds.beta_tol,
            n_cpus=n_cpus,
        )
        df = len(spec.terms)
        statistics = pd.Series(np.nan, index=dds.var_names)
        statistics[genes] = stat
        pvals = pd.Series(np.nan, index=dds.var_names)
        pvals[genes] = stats.chi2.sf(stat, df)
        zeroed = getattr(dds, "new_all_zeroes_genes", [])
        statistics[list(zeroed)] = 0.0
        pvals[list(zeroed)] = 1.0
        vec = np.array([1.0 if c == spec.terms[-1] else 0.0 for c in design.columns])
        ds = DeseqStats(
            dds,
            contrast=vec,
            alpha=settings.alpha,
            cooks_filter=settings.cooks_filter,
            independent_filter=settings.independent_filter,
            quiet=True,
            n_cpus=n_cpus,
            inference=inference,
        )
        ds.run_wald_test()
        ds.statistics = statistics
        ds.p_values = pvals
        ds.summary()
        res = ds.results_df[["baseMean", "stat", "pvalue", "padj"]].copy()
        res["df"] = df
        cols = list(design.columns)
        for t, term in zip(spec.post_dose, spec.terms, strict=True):
            lfc = pd.Series(np.nan, index=dds.var_names)
            lfc[genes] = beta[:, cols.index(term)] / np.log(2)
            res[f"log2FoldChange_{t}"] = lfc
    notes.append(f"likelihood-ratio test, chi-square with {df} df")
    return dds, res


def fit_lrt(
    counts: pd.DataFrame,
    meta: pd.DataFrame,
    spec: LrtSpec,
    settings: DESettings,
    control: ControlSet,
    mirnas: Sequence[str] | None = None,
    n_cpus: int = 1,
) -> LrtResult:
    """Run the likelihood-ratio test of the arm x time terms.

    Size factors are estimated on the test's libraries with the stage's
    control miRNAs and fit type, as for a contrast (docs/de.md, "Size factors").

    Parameters
    ----------
    counts
        miRNA x sample counts.
    meta
        From :func:`exomir.de.samples.sample_table`.
    spec
        The test (``DESettings.lrt``).
    settings
        DE settings.
    control
        From :func:`exomir.de.filter.control_mirnas`.
    mirnas
        miRNAs to test (the filtered set); default all rows of ``counts``.
    n_cpus
        Processes for pydeseq2.

    Returns
    -------
    LrtResult
        Results, sample inclusion and notes.

    Raises
    ------
    DesignError
        If the test cannot be estimated from the usable libraries.
    """
    notes: list[str] = []
    chosen = select_lrt_samples(meta, spec)
    inc = meta.loc[chosen.index[chosen["included"]]]
    design, reduced, dnotes = lrt_design(inc, spec)
    notes += dnotes
    genes, x, ctrl, obs = fit_inputs(counts, inc, mirnas, control, "the test's", notes)
    log.info(
        "%s: %d libraries of %d participants, %d miRNAs, %d vs %d design columns",
        spec.name,
        x.shape[0],
        obs["participant_id"].nunique(),
        x.shape[1],
        design.shape[1],
        len(reduced),
    )
    dds, res = _lrt_pydeseq2(
        x, obs, design, reduced, spec, settings, control, ctrl, n_cpus, notes
    )
    table = result_table(res, dds, genes, control)
    table["df"] = len(spec.terms)
    table = sort_results(table[lrt_columns(spec)])
    log.info(
        "%s: %d miRNAs with padj < %g",
        spec.name,
        int((table["padj"] < settings.alpha).sum()),
        settings.alpha,
    )
    sf = pd.Series(
        dds.obs["size_factors"].to_numpy(),
        index=x.index,
        name="size_factor",
    )
    return LrtResult(
        spec=spec,
        table=table,
        samples=chosen,
        design_columns=list(design.columns),
        reduced_columns=reduced,
        size_factors=sf,
        notes=notes,
    )


def lrt_step(
    *,
    counts: str | os.PathLike[str],
    qc: str | os.PathLike[str] | None,
    samples: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    table: str | os.PathLike[str],
    lrt_samples: str | os.PathLike[str],
    settings: DESettings,
    threads: int = 1,
) -> None:
    """Rule ``de_lrt``: run the test and write its table and library list.

    The feature filter and controls come from the libraries of the test's
    timepoints (:meth:`DESettings.filter_scope`). A test the usable libraries
    cannot support is written as "not estimable" (header-only table, the reason
    in the library list's ``design_notes``); input errors still stop the job.
    """
    from exomir.de.samples import read_counts
    from exomir.de.stage import read_inputs
    from exomir.tables import write_table

    spec = settings.lrt
    if spec is None:
        raise ValidationError(
            [
                Issue(
                    CONFIG_LABEL,
                    "the likelihood-ratio test is off (de.lrt.enabled, or fewer than "
                    "two post-dose timepoints)",
                    column="de.lrt",
                )
            ]
        )
    scope = settings.filter_scope(spec.timepoints)
    prep = read_inputs(
        read_counts(counts), samples, participants, qc, settings, str(counts), scope
    )
    try:
        res = fit_lrt(
            prep.counts, prep.meta, spec, settings, prep.control, prep.kept, threads
        )
    except DesignError as exc:
        log.error("%s is not estimable:\n%s", spec.name, exc)
        why = "; ".join(i.message for i in exc.issues)
        write_table(pd.DataFrame(columns=lrt_columns(spec)), table)
        smp = select_lrt_samples(prep.meta, spec)
        smp.insert(0, "test", spec.name)
        smp["size_factor"] = np.nan
        smp["design_notes"] = f"not estimable: {why}"
        write_table(smp.reset_index(drop=True), lrt_samples)
        return
    write_table(res.table, table)
    smp = res.samples.copy()
    smp["size_factor"] = smp.index.map(res.size_factors)
    smp.insert(0, "test", spec.name)
    smp["design_notes"] = "; ".join(
        ([prep.scope_note] if prep.scope_note else []) + res.notes
    )
    write_table(smp.reset_index(drop=True), lrt_samples)
