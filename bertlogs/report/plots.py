"""One self-contained SVG per run: power, memory and utilisation over time, the training window shaded.

Drawn by hand from the run's bounded trace: a few milliseconds per run, so every run of a large archive
gets its plot.
"""

from __future__ import annotations

import html

import numpy as np

from bertlogs.analysis import TRACE_POINTS, RunResult
from bertlogs.analysis.samples import buckets, buckets_of
from bertlogs.report.decimals import fixed, texts

_PANELS = [
    ("power_w", "Power (W)", "#1f77b4"),
    ("memory_used_mib", "Memory used (MiB)", "#2ca02c"),
    ("util_pct", "GPU utilisation (%)", "#d62728"),
]
_WIDTH, _PANEL, _LEFT, _RIGHT, _TOP, _GAP = 760, 130, 70, 20, 30, 28


def trace_lines(result: RunResult, columns: list[str], points: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The run's trace of each of `columns` (times, values as float64) at most `points` long (bucketed again if
    longer: together when all are longer, on one time); empty where the run has none."""
    series = [result.trace[c] if c in result.trace else (np.empty(0), np.empty(0)) for c in columns]
    times = series[0][0]
    if all(len(t) > points and (t is times or np.array_equal(t, times)) for t, _ in series):
        found = buckets_of(times, [v.astype(float) for _, v in series], points)
    else:
        found = [(t, v) if len(t) <= points else buckets(t, v.astype(float), points) for t, v in series]
    return [(t, v.astype(np.float64)) for t, v in found]


def _steps(lines: list[tuple[np.ndarray, np.ndarray]]) -> list[str]:
    """SVG paths of step lines, one per (xs, ys) in pixels, written together: reading i holds over the interval
    since the previous one (x[i-1], x[i]].

    Whole pixels: finer is invisible at this size.
    """
    moves = [len(xs) - 1 for xs, _ in lines]
    pixels = fixed(np.concatenate([xs[1:] for xs, _ in lines] + [ys[1:] for _, ys in lines]), 0)
    done = texts(moves, "V", pixels[sum(moves) :], "H", pixels[: sum(moves)])
    return [f"M{xs[0]:.0f},{ys[0]:.0f}{steps}" for (xs, ys), steps in zip(lines, done, strict=True)]


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _panel(bottom: int, peak: float, label: str, colour: str, shade: list[float] | None) -> str:
    """A panel's frame, training window (`shade`: its x from, to) and value axis."""
    top = bottom - _PANEL
    out = []
    if shade is not None:
        a, b = shade
        out.append(f'<rect x="{a:.1f}" y="{top}" width="{b - a:.1f}" height="{_PANEL}" fill="#eef3fb"/>')
    inner = _WIDTH - _LEFT - _RIGHT
    out.append(f'<rect x="{_LEFT}" y="{top}" width="{inner}" height="{_PANEL}" fill="none" stroke="#999"/>')
    for tick in (peak / 1.1 * i / 2 for i in range(3)):
        y = bottom - tick / peak * _PANEL + 4
        out.append(f'<text x="{_LEFT - 4}" y="{y:.1f}" text-anchor="end">{_tick(tick)}</text>')
    out.append(f'<text x="{_LEFT + 4}" y="{top + 12}" fill="{colour}">{html.escape(label)}</text>')
    return "".join(out)


def plot_svg(result: RunResult) -> str | None:
    """The run's plot as an SVG document; None when the run has no samples."""
    lines = trace_lines(result, [column for column, _, _ in _PANELS], TRACE_POINTS)
    t_all = lines[0][0]
    if len(t_all) < 2:
        return None
    t0, span = float(t_all[0]), max(float(t_all[-1]) - float(t_all[0]), 1e-9)
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
    peaks = [max(float(v.max(initial=0.0)), 1e-9) * 1.1 for _, v in lines]
    bottoms = [_TOP + i * (_PANEL + _GAP) + _PANEL for i in range(len(_PANELS))]
    drawn = [
        (_LEFT + (t - t0) * (inner / span), bottom - v / peak * _PANEL)
        for (t, v), peak, bottom in zip(lines, peaks, bottoms, strict=True)
        if len(t) > 1
    ]
    shade = None if result.window is None else [min(max(x(w), _LEFT), _WIDTH - _RIGHT) for w in result.window]
    paths = iter(_steps(drawn))  # the power panel's line at least
    for (t, _), peak, bottom, (_, label, colour) in zip(lines, peaks, bottoms, _PANELS, strict=True):
        out.append(_panel(bottom, peak, label, colour, shade))
        if len(t) > 1:
            out.append(f'<path fill="none" stroke="{colour}" stroke-width="1" d="{next(paths)}"/>')
    for tick in (span * i / 5 for i in range(6)):
        out.append(f'<text x="{x(t0 + tick):.1f}" y="{height - 8}" text-anchor="middle">{tick:.0f}</text>')
    out.append("</svg>\n")
    return "".join(out)
