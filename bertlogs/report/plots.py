"""One self-contained SVG per run: power, memory and utilisation over time, the training window shaded.

Drawn by hand from the run's bounded trace: a few milliseconds per run, so every run of a large archive
gets its plot.
"""

from __future__ import annotations

import html
from itertools import chain

from bertlogs.analysis import TRACE_POINTS, RunResult
from bertlogs.analysis.samples import as_lists

_PANELS = [
    ("power_w", "Power (W)", "#1f77b4"),
    ("memory_used_mib", "Memory used (MiB)", "#2ca02c"),
    ("util_pct", "GPU utilisation (%)", "#d62728"),
]
_WIDTH, _PANEL, _LEFT, _RIGHT, _TOP, _GAP = 760, 130, 70, 20, 30, 28


def _steps(xs: list[float], ys: list[float]) -> str:
    """SVG path of a step line: reading i holds over the interval since the previous one (x[i-1], x[i]].

    Whole pixels: finer is invisible at this size.
    """
    moves = chain.from_iterable(zip(ys[1:], xs[1:], strict=True))
    return f"M{xs[0]:.0f},{ys[0]:.0f}" + "V%.0fH%.0f" * (len(xs) - 1) % tuple(moves)


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def plot_svg(result: RunResult) -> str | None:
    """The run's plot as an SVG document; None when the run has no samples."""
    lines = {column: as_lists(result.trace.get(column), TRACE_POINTS) for column, _, _ in _PANELS}
    t_all = lines["power_w"][0]
    if len(t_all) < 2:
        return None
    t0, span = t_all[0], max(t_all[-1] - t_all[0], 1e-9)
    inner = _WIDTH - _LEFT - _RIGHT
    x = lambda t: _LEFT + (t - t0) / span * inner  # noqa: E731
    height = _TOP + len(_PANELS) * (_PANEL + _GAP) + 10
    gpus = ",".join(map(str, result.gpus)) or "all"
    title = f"{result.row.run}  (GPUs {gpus}; shaded: training window; x: seconds since the first sample)"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><rect width="100%" height="100%" fill="white"/>'
        f'<text x="{_LEFT}" y="16" font-size="12">{html.escape(title)}</text>'
    ]
    for i, (column, label, colour) in enumerate(_PANELS):
        top = _TOP + i * (_PANEL + _GAP)
        bottom = top + _PANEL
        t, v = lines[column]
        peak = max(max(v, default=0.0), 1e-9) * 1.1
        y = lambda value: bottom - value / peak * _PANEL  # noqa: E731, B023
        scale = inner / span
        if result.window is not None:
            a, b = (min(max(x(w), _LEFT), _WIDTH - _RIGHT) for w in result.window)
            out.append(f'<rect x="{a:.1f}" y="{top}" width="{b - a:.1f}" height="{_PANEL}" fill="#eef3fb"/>')
        out.append(f'<rect x="{_LEFT}" y="{top}" width="{inner}" height="{_PANEL}" fill="none" stroke="#999"/>')
        for tick in (peak / 1.1 * i / 2 for i in range(3)):
            out.append(f'<text x="{_LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{_tick(tick)}</text>')
        out.append(f'<text x="{_LEFT + 4}" y="{top + 12}" fill="{colour}">{html.escape(label)}</text>')
        if len(t) > 1:
            path = _steps([_LEFT + (a - t0) * scale for a in t], [bottom - b / peak * _PANEL for b in v])
            out.append(f'<path fill="none" stroke="{colour}" stroke-width="1" d="{path}"/>')
    for tick in (span * i / 5 for i in range(6)):
        out.append(f'<text x="{x(t0 + tick):.1f}" y="{height - 8}" text-anchor="middle">{tick:.0f}</text>')
    out.append("</svg>\n")
    return "".join(out)
