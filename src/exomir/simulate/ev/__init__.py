"""EV product lots and synthetic NTA exports (NanoSight and ZetaView layouts).

Each lot has a true stock concentration and a log-normal number-weighted size
distribution (median ``d50``, log-SD ``sigma``). Instrument runs measure a
diluted sample with video/position noise, and the exports are written in the
layouts of ``EV_FORMATS.md``:

* NanoSight NTA 3.x ``*-ExperimentSummary.csv`` (Latin-1, ragged comma rows,
  ``[Section]`` markers, 1000 size bins and 1000 diffusion bins per weighting,
  101-row percentile tables);
* ZetaView 8.x ``*_size_<laser>.txt`` (Latin-1 ``Key:<TAB>value`` header with
  its irregular lines, then 1200 linear bins, the sentinel row and 200 log
  bins) and the companion ``*_size_<laser>_11pos.txt`` position summary.

The lot table's size and concentration columns are what a parser reads back
from the primary (NanoSight) export, so the two always agree.
"""

from exomir.simulate.ev.lots import (
    LOT_COLUMNS,
    NTA_RUN_COLUMNS,
    assign_lots,
    simulate_ev,
    write_files,
)
from exomir.simulate.ev.nanosight import NanoSightRun, simulate_nanosight
from exomir.simulate.ev.truth import LotTruth, lot_truth_table, simulate_lot_truth
from exomir.simulate.ev.zetaview import ZetaViewRun, simulate_zetaview

__all__ = [
    "LOT_COLUMNS",
    "NTA_RUN_COLUMNS",
    "LotTruth",
    "NanoSightRun",
    "ZetaViewRun",
    "assign_lots",
    "lot_truth_table",
    "simulate_ev",
    "simulate_lot_truth",
    "simulate_nanosight",
    "simulate_zetaview",
    "write_files",
]
