"""The workflow on a real SLURM cluster, through the shipped SLURM profile.

The test starts a private single-node SLURM cluster on this machine
(``scripts/slurm_local.sh``: munged, slurmctld and slurmd from Debian's slurm-wlm and
munge), simulates a small demo trial and runs it twice: once through
``profiles/slurm`` (with the test overrides in ``TEST_OVERRIDES``) and once locally
with ``--cores 2``. It checks that

- every job that is not a local rule went through sbatch: the job ids Snakemake
  reports, the plugin's per-job SLURM logs and SLURM's own record of completed jobs
  (squeue) agree, and the per-library jobs ran as grouped (bundled) jobs;
- every file under ``results/`` is byte-identical to the local run's, apart from the
  files docs/determinism.md lists as not byte-reproducible (the MultiQC report;
  AnnData files are compared by content when their bytes differ).

The fixture's teardown stops the daemons it started (and only those), also when the
test fails. Without root, or without slurm-wlm and munge, the test is skipped with
the reason; ``.ci/run`` installs both.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _workflow import BIN, REPO, run_checked, snakemake_cmd

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

CLUSTER_SCRIPT = REPO / "scripts" / "slurm_local.sh"
SLURM_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
REQUIRED_COMMANDS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue")

#: What the test changes in profiles/slurm/config.yaml, and why.
TEST_OVERRIDES = {
    # the test cluster's only partition; it has no accounts to validate against
    "default-resources": {"slurm_partition": "main", "slurm_account": None},
    # no accounting database here, so sacct cannot see finished jobs; the test
    # cluster keeps them in squeue for an hour (MinJobAge=3600)
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 1,
    "seconds-between-status-checks": 2,
    # local disk: outputs appear at once
    "latency-wait": 5,
    # keep the SLURM log of every job as evidence
    "slurm-keep-successful-logs": True,
    "local-cores": 2,
    # one thread per job, so that the 2-CPU test node runs two jobs at a time (the
    # local run uses 2 threads: the results must not depend on it)
    "cores": 1,
}

#: A small demo trial: 6 participants, 11 libraries of about 20,000 reads.
SIMULATE_ARGS = (
    "--preset",
    "small",
    "--participants",
    "6",
    "--reads",
    "2e4",
    "--set",
    "library.participants_per_batch=2",
    "--seed",
    "20261126",
    "--threads",
    "2",
)

#: Outputs that are not byte-reproducible between runs (docs/determinism.md).
NOT_BYTE_IDENTICAL = (
    "multiqc/multiqc_report.html",
    "multiqc/multiqc_report_data/",
    # the reports state when the run started and they were written (provenance)
    "report/exomir_report.",
    "report/dsmb_closed.",
    "report/provenance.json",
)


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to start munged, slurmctld and slurmd"
    missing = [c for c in REQUIRED_COMMANDS if shutil.which(c) is None]
    if missing:
        return (
            f"slurm-wlm and munge are not installed (missing: {', '.join(missing)}); "
            "as root on Debian/Ubuntu: apt-get install slurm-wlm munge"
        )
    etc_conf = Path("/etc/slurm/slurm.conf")
    if etc_conf.exists() and not etc_conf.is_symlink():
        return "this machine has its own SLURM configuration (/etc/slurm/slurm.conf)"
    return None


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    """A running private SLURM cluster; yields the environment that reaches it."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    # Not under pytest's tmp_path: munged needs a socket directory everyone can reach.
    state = Path(tempfile.mkdtemp(prefix="exomir-slurm-", dir="/tmp"))
    state.chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    try:
        proc = subprocess.run(
            ["bash", str(CLUSTER_SCRIPT), "start", str(state)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            logs = "".join(
                f"\n--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                for p in sorted((state / "log").glob("*.log"))
            )
            raise AssertionError(
                f"the test cluster did not start:\n{proc.stdout}{proc.stderr}{logs}"
            )
        yield env
    finally:
        subprocess.run(
            ["bash", str(CLUSTER_SCRIPT), "stop", str(state)],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(state, ignore_errors=True)


def _test_profile(dest: Path) -> Path:
    """profiles/slurm/config.yaml with TEST_OVERRIDES applied, written to dest/."""
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    for key, value in TEST_OVERRIDES.items():
        if isinstance(value, dict):
            merged = {**profile.get(key, {}), **value}
            profile[key] = {k: v for k, v in merged.items() if v is not None}
        else:
            profile[key] = value
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


def _same_anndata(a: Path, b: Path) -> bool:
    import anndata

    x, y = anndata.read_h5ad(a), anndata.read_h5ad(b)

    def dense(m: object) -> np.ndarray:
        return m.toarray() if hasattr(m, "toarray") else np.asarray(m)

    return (
        np.array_equal(dense(x.X), dense(y.X), equal_nan=True)
        and x.obs.equals(y.obs)
        and x.var.equals(y.var)
        and sorted(x.layers) == sorted(y.layers)
        and all(
            np.array_equal(dense(x.layers[k]), dense(y.layers[k]), equal_nan=True)
            for k in x.layers
        )
    )


def test_demo_through_slurm_equals_local_run(
    cluster: dict[str, str], tmp_path: Path
) -> None:
    scn = tmp_path / "scn"
    run_checked([str(BIN / "exomir"), "simulate", str(scn), *SIMULATE_ARGS])
    local, on_slurm = tmp_path / "local", tmp_path / "slurm"
    shutil.copytree(scn, local)
    shutil.copytree(scn, on_slurm)
    n_libraries = len(pd.read_csv(scn / "config" / "samples.tsv", sep="\t"))

    # The local reference run goes alongside the SLURM run, which mostly waits.
    local_log = tmp_path / "local.log"
    with local_log.open("w") as out:
        local_run = subprocess.Popen(
            snakemake_cmd(local), stdout=out, stderr=subprocess.STDOUT
        )
        profile = _test_profile(tmp_path / "profile")
        slurm_cmd = [
            str(BIN / "snakemake"),
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(on_slurm),
            "--workflow-profile",
            str(profile),
        ]
        try:
            proc = subprocess.run(
                slurm_cmd,
                capture_output=True,
                text=True,
                check=False,
                env=cluster,
                timeout=1800,
            )
        finally:
            local_run.wait(timeout=1800)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"SLURM run failed:\n{log}"
    assert local_run.returncode == 0, f"local run failed:\n{local_log.read_text()}"

    # Every submission: "... submitted with SLURM jobid N (log: .../<kind>_<name>/...)"
    submitted = re.findall(
        r"submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", log, re.M
    )
    assert submitted, f"no job went through sbatch:\n{log}"
    job_ids = [int(i) for i, _ in submitted]
    assert len(set(job_ids)) == len(job_ids)
    slurm_logs = {int(i): Path(p) for i, p in submitted}
    for job_id, path in slurm_logs.items():
        assert path.is_file(), f"no SLURM log for job {job_id}: {path}"
        assert path.is_relative_to(on_slurm / ".snakemake" / "slurm_logs")
    kinds = [
        p.relative_to(on_slurm / ".snakemake" / "slurm_logs").parts[0]
        for p in slurm_logs.values()
    ]
    # Standalone remote jobs start with "rule X:" at the line start; group members
    # are indented under "Group job ..."; local rules print "localrule X:".
    remote_rules = set(re.findall(r"^rule (\w+):$", log, re.M))
    assert remote_rules == {
        k.removeprefix("rule_") for k in kinds if k.startswith("rule_")
    }
    assert "library" not in remote_rules
    per_job = dict(
        item.split("=")
        for item in yaml.safe_load(SLURM_PROFILE.read_text())["group-components"]
    )
    n_groups = sum(k.startswith("group_libraries") for k in kinds)
    assert n_groups == math.ceil(n_libraries / int(per_job["libraries"])), kinds
    local_rules = set(re.findall(r"^localrule (\w+):$", log, re.M))
    assert {"multiqc", "primary", "ev_qc"} <= local_rules
    assert not local_rules & remote_rules

    # SLURM's own record: every reported job id ran on the cluster and completed.
    queue = run_checked(
        [shutil.which("squeue") or "squeue", "-h", "-t", "all", "-o", "%i|%T"],
        env=cluster,
    ).stdout
    states = dict(line.split("|") for line in queue.split())
    assert {str(i): "COMPLETED" for i in job_ids}.items() <= states.items(), queue

    # The results of the SLURM run equal those of the local run.
    files = sorted(
        p.relative_to(local / "results")
        for p in (local / "results").rglob("*")
        if p.is_file()
    )
    slurm_files = sorted(
        p.relative_to(on_slurm / "results")
        for p in (on_slurm / "results").rglob("*")
        if p.is_file()
    )
    assert files == slurm_files
    different = []
    for rel in files:
        if str(rel).startswith(NOT_BYTE_IDENTICAL):
            continue
        a, b = local / "results" / rel, on_slurm / "results" / rel
        if a.read_bytes() == b.read_bytes():
            continue
        if rel.suffix == ".h5ad" and _same_anndata(a, b):
            continue
        different.append(str(rel))
    assert not different, f"SLURM and local results differ: {different}"
