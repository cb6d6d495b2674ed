"""Snakemake shim for rule ``report_provenance``: both reports' provenance in one file."""

import json
from typing import Any

from exomir.atomic import atomic_open


def main(smk: Any) -> None:
    reports = {}
    for audience in ("open", "closed"):
        with open(getattr(smk.input, audience), encoding="utf-8") as fh:
            reports[audience] = json.load(fh)
    with atomic_open(smk.output[0], "w") as fh:
        json.dump({"reports": reports}, fh, indent=2, sort_keys=True)
        fh.write("\n")


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
