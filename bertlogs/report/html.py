"""A self-contained index.html: the table with inline SVG sparklines, and charts against batch size."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import numpy as np
import polars as pl

from bertlogs.analysis import RunResult
from bertlogs.columns import Row
from bertlogs.report.decimals import fixed, texts
from bertlogs.report.plots import trace_lines
from bertlogs.report.tables import METHOD_NOTE, SHORT
from bertlogs.summary import Summary

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
_CSS = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}
tr.partial{background:#fff8e1}tr.failed,tr.error{background:#fdecea}.note{color:#555;max-width:70em}
.charts{display:flex;flex-wrap:wrap;gap:2em}svg text{font:11px sans-serif}.warn{color:#a15c00;font-size:12px}"""


def sparkline(result: RunResult, width: int = 160, height: int = 28) -> str:
    """Power (blue) and utilisation (red) over the whole capture, training window shaded."""
    parts = []
    lines = dict(zip(("power_w", "util_pct"), trace_lines(result, ["power_w", "util_pct"], 120), strict=True))
    t_all = lines["power_w"][0]
    if len(t_all) < 2 or t_all[-1] == t_all[0]:  # no time to draw across (samples sharing a coarse stamp)
        return ""
    t0, t1 = float(t_all[0]), float(t_all[-1])
    x = lambda t: (t - t0) / (t1 - t0) * width  # noqa: E731
    if result.window is not None:
        a, b = (max(min(x(w), width), 0) for w in result.window)
        parts.append(f'<rect x="{a:.1f}" y="0" width="{b - a:.1f}" height="{height}" fill="#eef3fb"/>')
    drawn = [
        ((t - t0) / (t1 - t0) * width, height - 1 - v / (top or max(float(v.max()), 1e-9)) * (height - 2), colour)
        for (t, v), colour, top in ((lines["power_w"], "#1f77b4", None), (lines["util_pct"], "#d62728", 100.0))
        if len(t) > 1
    ]
    points = fixed(np.concatenate([xs for xs, _, _ in drawn] + [ys for _, ys, _ in drawn]), 1)
    counts = [len(xs) for xs, _, _ in drawn]
    pts = texts(counts, points[: sum(counts)], ",", points[sum(counts) :], " ")  # power's line at least
    for (_, _, colour), line in zip(drawn, pts, strict=True):
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1" points="{line}"/>')
    title = html.escape(f"{result.row.run}: power (blue), utilisation (red); shaded: training window")
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<title>{title}</title>{''.join(parts)}</svg>"
    )


def chart(frame: pl.DataFrame, column: str, label: str, width: int = 420, height: int = 260) -> str:
    """Line chart of `column` against batch size (log2 axis), one line per model."""
    data = frame.filter(
        pl.col(column).is_not_null() & pl.col("batch_size").is_not_null() & pl.col("model").is_not_null()
    )
    if data.is_empty():
        return ""
    left, right, top, bottom = 50, 90, 20, 35
    bs = [math.log2(b) for b in data["batch_size"].to_list()]
    lo_x, hi_x = min(bs), max(max(bs), min(bs) + 1)
    hi_y = max(data[column].to_list()) * 1.08 or 1.0
    sx = lambda b: left + (math.log2(b) - lo_x) / (hi_x - lo_x) * (width - left - right)  # noqa: E731
    sy = lambda v: top + (1 - v / hi_y) * (height - top - bottom)  # noqa: E731
    out = [
        f'<svg width="{width}" height="{height}" role="img"><title>{html.escape(label)} vs batch size</title>',
        f'<text x="{left}" y="12">{html.escape(label)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#888"/>',
    ]
    for b in sorted(set(data["batch_size"].to_list())):
        out.append(f'<text x="{sx(b):.0f}" y="{height - bottom + 14}" text-anchor="middle">{b}</text>')
    out.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 4}" text-anchor="middle">batch size</text>')
    for v in (hi_y * i / 4 for i in range(5)):
        out.append(f'<text x="{left - 4}" y="{sy(v) + 4:.0f}" text-anchor="end">{v:.3g}</text>')
    models = list(dict.fromkeys(data["model"].to_list()))
    for i, model in enumerate(models):
        rows = data.filter(pl.col("model") == model).sort("batch_size")
        colour = _COLOURS[i % len(_COLOURS)]
        pts = " ".join(f"{sx(b):.1f},{sy(v):.1f}" for b, v in zip(rows["batch_size"], rows[column], strict=True))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>')
        out.append(
            f'<text x="{width - right + 6}" y="{top + 14 * i + 8}" fill="{colour}">{html.escape(str(model))}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def write_html(summary: Summary, path: Path, plots: dict[str, str], sparkline_of: Callable[[str], str]) -> None:
    """The page: each run's row links its plot (`plots`: run -> path) and shows its sparkline (`sparkline_of`:
    run -> SVG); written a row at a time (a page holds ~3 KB a run)."""
    head = "".join(f"<th>{html.escape(str(c.header))}</th>" for c in SHORT)
    notes = "".join(f"<p class=note>{html.escape(n)}</p>" for n in (METHOD_NOTE, summary.period_note) if n)
    charts = "".join(
        chart(summary.frame, c, label)
        for c, label in (
            ("epoch_s", "Time per epoch (s)"),
            ("power_w", "Power (W)"),
            ("energy_j_per_epoch", "Energy per epoch (J)"),
            ("util_pct", "GPU utilisation (%)"),
        )
    )
    with path.open("w", encoding="utf-8") as out:
        out.write(
            f"<!doctype html><html><head><meta charset=utf-8><title>bertlogs summary</title><style>{_CSS}</style>"
            f"</head><body><h1>bertlogs summary</h1>{notes}<table><tr><th>Run</th>{head}<th>GPU over time</th></tr>"
        )
        for result in summary.results:
            out.write(_row(result.row, plots.get(result.row.run), sparkline_of(result.row.run)))
        out.write(f"</table><h2>Against batch size</h2><div class=charts>{charts}</div></body></html>\n")


def _row(row: Row, plot: str | None, spark: str) -> str:
    name = html.escape(row.run)
    link = f'<a href="{html.escape(quote(plot))}">{name}</a>' if plot is not None else name
    cells = "".join(f"<td>{html.escape(c.cell(row.value(c.name)))}</td>" for c in SHORT)
    warn = f'<div class="warn">{html.escape(row.warnings)}</div>' if row.warnings else ""
    return f'<tr class="{html.escape(row.status.value)}"><td>{link}{warn}</td>{cells}<td>{spark}</td></tr>'
