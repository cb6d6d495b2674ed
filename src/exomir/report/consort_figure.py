"""The CONSORT flow diagram of the report, drawn as inline SVG text.

Boxes are laid out by hand (no matplotlib): one column per arm below the
pooled stages, each box with its count and the wrapped reasons.
"""

from __future__ import annotations

import textwrap

from markupsafe import escape

from exomir.report.labels import split_reasons


def _wrap_reasons(reasons: str, width: int, max_lines: int = 12) -> list[str]:
    """One line (wrapped) per ';'-separated reason, at most ``max_lines``."""
    lines: list[str] = []
    for reason in split_reasons(reasons):
        lines += textwrap.wrap(reason, width, subsequent_indent="  ") or [""]
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], "..."]
    return lines


Entry = tuple[str, str, str]


def _entries(item: Entry | list[Entry]) -> list[Entry]:
    """Return a box's entries: one (label, n, reasons) or a CONSORT stage's list."""
    return list(item) if isinstance(item, list) else [item]


def consort_svg(
    pooled: list[Entry | list[Entry]],
    by_arm: dict[str, list[Entry | list[Entry]]],
    box_w: int = 330,
) -> str:
    """CONSORT flow diagram as SVG markup with every text escaped.

    Text is wrapped inside the boxes (about 7.5 px per title character at
    13 px bold, 6.2 px per reason character at 11 px) and each box grows with
    its lines; boxes of the same step are aligned across the arm columns.

    Parameters
    ----------
    pooled
        Boxes above the split: (label, n, reasons).
    by_arm
        Per-arm (or one pooled) column of boxes below the split. A box is one
        (label, n, reasons) entry or a list of them (a CONSORT stage such as
        allocation, follow-up or analysis: one box with one bold line per
        entry, so its counts are not read as successive losses).
    box_w
        Box width in px.
    """
    gap, pad, title_lh, reason_lh = 20, 8, 16, 14
    title_chars = int((box_w - 2 * pad) / 7.6)
    reason_chars = int((box_w - 2 * pad) / 6.2)
    cols = list(by_arm)
    ncol = max(1, len(cols))
    width = max(box_w + 40, ncol * (box_w + 30) + 10)
    parts: list[str] = []

    def lines_of(label: str, n: str, reasons: str) -> tuple[list[str], list[str]]:
        nb = "\u00a0"
        title = textwrap.wrap(f"{label} (n{nb}={nb}{n})", title_chars) or [""]
        return title, _wrap_reasons(reasons, reason_chars) if reasons else []

    def height(item: Entry | list[Entry]) -> int:
        h = 2 * pad
        for k, entry in enumerate(_entries(item)):
            title, rs = lines_of(*entry)
            h += len(title) * title_lh + len(rs) * reason_lh + (4 if k else 0)
        return h

    def box(x: float, y: float, h: int, item: Entry | list[Entry]) -> str:
        out = [
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{h}" rx="4" class="cbox"/>'
        ]
        yy = y + pad + 12
        for k, entry in enumerate(_entries(item)):
            yy += 4 if k else 0
            title, rs = lines_of(*entry)
            for line in title:
                out.append(
                    f'<text x="{x + pad:.0f}" y="{yy:.0f}" class="ctitle">{escape(line)}</text>'
                )
                yy += title_lh
            for line in rs:
                out.append(
                    f'<text x="{x + pad:.0f}" y="{yy - 2:.0f}" class="creason">{escape(line)}</text>'
                )
                yy += reason_lh
        return "".join(out)

    def arrow(x: float, y1: float, y2: float) -> str:
        return f'<line x1="{x:.0f}" y1="{y1:.0f}" x2="{x:.0f}" y2="{y2:.0f}" class="carrow"/>'

    y = 10.0
    cx = (width - box_w) / 2
    for k, item in enumerate(pooled):
        h = height(item)
        if k:
            parts.append(arrow(cx + box_w / 2, y - gap, y))
        parts.append(box(cx, y, h, item))
        y += h + gap
    if pooled and cols:
        # split line from the last pooled box to every column
        xs = [
            10 + j * (box_w + 30) + (width - ncol * (box_w + 30)) / 2 + box_w / 2
            for j in range(ncol)
        ]
        mid = y - gap / 2
        parts.append(arrow(cx + box_w / 2, y - gap, mid))
        if ncol > 1:
            parts.append(
                f'<line x1="{xs[0]:.0f}" y1="{mid:.0f}" x2="{xs[-1]:.0f}" y2="{mid:.0f}" class="carrow"/>'
            )
        for xm in xs:
            parts.append(arrow(xm, mid, y + 4))
    y += 8
    parts_y = y
    for j, arm in enumerate(cols):
        x = 10 + j * (box_w + 30) + (width - ncol * (box_w + 30)) / 2
        parts.append(
            f'<text x="{x + box_w / 2:.0f}" y="{parts_y + 6:.0f}" class="carm" text-anchor="middle">{escape(arm)}</text>'
        )
    y = parts_y + 16
    nrows = max((len(v) for v in by_arm.values()), default=0)
    for k in range(nrows):
        h = max((height(by_arm[a][k]) for a in cols if k < len(by_arm[a])), default=0)
        for j, arm in enumerate(cols):
            if k >= len(by_arm[arm]):
                continue
            x = 10 + j * (box_w + 30) + (width - ncol * (box_w + 30)) / 2
            if k:
                parts.append(arrow(x + box_w / 2, y - gap, y))
            parts.append(box(x, y, h, by_arm[arm][k]))
        y += h + gap
    total = int(y - gap + 10)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="consort" viewBox="0 0 {width} {total}" '
        f'width="{width}" height="{total}" role="img" aria-label="CONSORT flow diagram">'
        + "".join(parts)
        + "</svg>"
    )
