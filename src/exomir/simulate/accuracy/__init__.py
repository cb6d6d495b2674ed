"""Accuracy of the reads-to-counts stage against the simulator's truth.

A simulated scenario run through the workflow holds both the pipeline's
results and the truth; :func:`evaluate_run` compares them. Targets, the truth
unit and the funnel mapping are defined in ``docs/simulate.md``.
"""

from exomir.simulate.accuracy.control import false_positive_control
from exomir.simulate.accuracy.measures import (
    FUNNEL_CATEGORIES,
    Targets,
    TruthTables,
    count_accuracy,
    feature_map,
    funnel_accuracy,
    group_truth,
    load_truth,
)
from exomir.simulate.accuracy.report import (
    evaluate_run,
    format_summary,
    summarise,
    write_report,
)

__all__ = [
    "FUNNEL_CATEGORIES",
    "Targets",
    "TruthTables",
    "count_accuracy",
    "evaluate_run",
    "false_positive_control",
    "feature_map",
    "format_summary",
    "funnel_accuracy",
    "group_truth",
    "load_truth",
    "summarise",
    "write_report",
]
