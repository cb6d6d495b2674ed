# exomir: the two commands a new user needs are `make demo` and `make test`.
# Each sets itself up first (scripts/setup.sh: tools via apt-get or a clear
# message, pinned Python packages in .venv); a second run skips what is done.

CORES ?= 2
# Test processes (pytest-xdist): one more than the cores, because the workflow
# tests spend part of their time waiting on Snakemake's job start-up.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
DEMO ?= demo
SEED ?= 20261126
# miRTarBase is free for academic use only and not shipped: point MIRTARBASE at
# your copy (hsa MTI table) for pathway scores in the demo. A copy beside the
# checkout is picked up when present.
MIRTARBASE ?= $(wildcard ../shared/data/mirna_interactions/mirtarbase_v8_hsa_functional_strong_timirgen.tsv)
VENV := .venv/bin
SNAKEMAKE := $(VENV)/snakemake -s Snakefile --cores $(CORES)

.PHONY: setup demo demo-data test test-fast test-slurm lint dry-run bench bench-trial bench-proteins bench-longitudinal bench-overhead bench-downstream clean-demo

setup:
	@bash scripts/setup.sh

## Simulate the demo trial into $(DEMO)/ (once) and run the whole workflow on it.
demo: setup demo-data
	$(SNAKEMAKE) --directory $(DEMO)

demo-data: setup
	@if [ -f $(DEMO)/truth/params.yaml ]; then \
	  echo "demo: $(DEMO)/ already simulated (make clean-demo to start again)"; \
	else \
	  rm -rf $(DEMO).partial && \
	  EXOMIR_MIRTARBASE=$(abspath $(MIRTARBASE)) $(VENV)/exomir simulate $(DEMO).partial --preset demo --seed $(SEED) --threads $(CORES) && \
	  rm -rf $(DEMO) && mv $(DEMO).partial $(DEMO); \
	fi

## The test suite (unit, integration and workflow tests).
test: setup
	EXOMIR_MIRTARBASE=$(abspath $(MIRTARBASE)) $(VENV)/pytest -q -n $(TEST_WORKERS) --dist loadscope --durations=30

## The SLURM test only: a private single-node SLURM cluster (root, slurm-wlm, munge).
test-slurm: setup
	$(VENV)/pytest -q -m slurm tests/integration/test_slurm.py

## Quick tests only (no workflow runs).
test-fast: setup
	$(VENV)/pytest -q -m "not slow"

## Formatting, lint and type gates, as in CI (mypy settings in pyproject.toml).
lint: setup
	$(VENV)/ruff check src tests workflow/scripts bench
	$(VENV)/ruff format --check src tests workflow/scripts bench
	$(VENV)/snakefmt --check Snakefile workflow/rules
	$(VENV)/snakemake -s Snakefile --directory tests/scenarios/real_human --lint
	$(VENV)/mypy

## Dry runs of the workflow on the shipped example scenarios.
dry-run: setup
	$(SNAKEMAKE) --directory tests/scenarios/real_human --dry-run --quiet
	$(SNAKEMAKE) --directory tests/scenarios/real_mouse --dry-run --quiet
	$(SNAKEMAKE) --directory tests/scenarios/qc_only --dry-run --quiet
	$(SNAKEMAKE) --directory tests/scenarios/real_mouse qc --dry-run --quiet
	$(VENV)/snakemake -s Snakefile --directory tests/scenarios/real_human --workflow-profile profiles/slurm --dry-run --quiet

## Benchmarks: write figures to results/bench/*.json.
bench: setup
	EXOMIR_MIRTARBASE=$(abspath $(MIRTARBASE)) $(VENV)/python bench/run_all.py --out results/bench --cores $(CORES)

## Whole-trial benchmark: check the disk, simulate the registry's trial into
## $(TRIAL_DIR) (must not exist; baseline and week-1 draws), time one library
## alone (exomir, conventional chain) on its reads, run the whole workflow, write
## per-stage figures and the issue's ratios to $(TRIAL_JSON) and, when that is
## results/bench/trial.json, render them into README.md. CLEAN_FASTQ=1 deletes
## the FASTQ files after the run (about 65 bytes per read: 52 GB at the default).
PARTICIPANTS ?= 80
READS ?= 5e6
TRIAL_DIR ?= results/bench-trial
TRIAL_JSON ?= results/bench/trial.json
TRIAL_ROUNDS ?= 3
CLEAN_FASTQ ?= 0
# TRIAL_REUSE=1: TRIAL_DIR is already simulated with these settings and never run.
TRIAL_REUSE ?= 0
bench-trial: setup
	EXOMIR_MIRTARBASE=$(abspath $(MIRTARBASE)) $(VENV)/python bench/bench_trial.py $(TRIAL_JSON) --scenario $(TRIAL_DIR) --participants $(PARTICIPANTS) --reads $(READS) --cores $(CORES) --seed $(SEED) --rounds $(TRIAL_ROUNDS) $(if $(filter 1 yes true,$(CLEAN_FASTQ)),--clean-fastq) $(if $(filter 1 yes true,$(TRIAL_REUSE)),--reuse)

## Whole-protocol calibration (issue 20): MMRM per-visit CI coverage, Cox HR CI
## coverage and type I error over simulated long trials (no reads).
TRIALS ?= 40
bench-longitudinal: setup
	$(VENV)/python bench/bench_longitudinal_calibration.py results/bench/longitudinal_calibration.json --trials $(TRIALS) --cores $(CORES)

## Per-job overhead (issue 22): interpreter, Snakemake's script wrapper, imports,
## numba kernels (cached and cold) and the work of one library job and one light
## cohort job, medians of interleaved rounds -> results/bench/overhead.json.
## OVERHEAD_COMPARE=DIR/src also measures another checkout in the same rounds.
OVERHEAD_READS ?= 200000
OVERHEAD_ROUNDS ?= 5
bench-overhead: setup
	$(VENV)/python bench/bench_overhead.py results/bench/overhead.json --reads $(OVERHEAD_READS) --rounds $(OVERHEAD_ROUNDS) --cores $(CORES) $(if $(OVERHEAD_COMPARE),--compare-src $(OVERHEAD_COMPARE))

## Proteins -> results/bench/protein_accuracy.json (each script keeps the other's keys):
## quantification accuracy on simulated ELISA plate sets (median absolute percentage
## error vs truth inside the quantification range; target < 10%), then the analysis
## calibration over 40 simulated trials (CI coverage, miRNA-protein coupling sign,
## MOFA+ time and determinism).
bench-proteins: setup
	$(VENV)/python bench/bench_proteins.py results/bench/protein_accuracy.json
	$(VENV)/python bench/bench_protein_calibration.py results/bench/protein_accuracy.json --trials 40

## Downstream stages at about 160, 320 and 1,000 libraries without reads (issue 22):
## per step wall time, CPU time, peak memory and the 1000/160 ratios.
DOWNSTREAM_PARTICIPANTS ?= 86 172 534
bench-downstream: setup
	EXOMIR_MIRTARBASE=$(abspath $(MIRTARBASE)) $(VENV)/python bench/bench_downstream.py results/bench/downstream_scaling.json --participants $(DOWNSTREAM_PARTICIPANTS)

clean-demo:
	rm -rf $(DEMO) $(DEMO).partial

