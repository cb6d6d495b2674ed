"""Recruiting sites as a validated factor (config ``design.sites``, ``site_analysis``).

* :mod:`exomir.sites.checks` -- participants' ``site_id`` against ``design.sites``;
* :mod:`exomir.sites.interaction` -- site-by-arm interaction (sensitivity analysis);
* :mod:`exomir.sites.batch` -- sequencing batch confounded with site;
* :mod:`exomir.sites.tables` -- DSMB tables by site (enrolment, completeness, QC, AEs).

Nothing here runs unless ``design.sites`` names at least two sites
(:func:`sites_active`), so a trial without sites keeps every table unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SITE_COLUMN = "site_id"


def configured_sites(cfg: Mapping[str, Any]) -> dict[str, str]:
    """Return ``design.sites`` (site code -> name), empty when not given."""
    sites = (cfg.get("design") or {}).get("sites") or {}
    return {str(k): str(v) for k, v in sites.items()}


def sites_active(cfg: Mapping[str, Any]) -> bool:
    """Whether the site analyses run: ``design.sites`` names at least two sites."""
    return len(configured_sites(cfg)) >= 2
