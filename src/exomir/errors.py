"""Error types that carry where a problem is: file, line, column.

Every check in exomir reports problems as :class:`Issue` objects and raises a
:class:`ValidationError` listing all of them at once, so that a user can fix a
sheet in one go rather than one error per run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem in an input.

    Attributes
    ----------
    file
        File the problem is in (as the user wrote it, e.g. ``config/samples.tsv``).
    message
        What is wrong and what is allowed.
    line
        1-based line number in the file (the header is line 1), if any.
    column
        Column or config key, if any.
    row_id
        Identifier of the row (e.g. ``sample_id=P001_BL``), if any.
    """

    file: str
    message: str
    line: int | None = None
    column: str | None = None
    row_id: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.row_id:
            where += f" ({self.row_id})"
        if self.column:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class ValidationError(ValueError):
    """Raised when inputs fail validation; holds every :class:`Issue` found."""

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        n = len(self.issues)
        header = f"{n} problem{'s' if n != 1 else ''} found in the inputs:"
        super().__init__("\n".join([header, *(f"  - {i}" for i in self.issues)]))
