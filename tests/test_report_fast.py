"""The report's fast paths write what Python's own formatting writes: numbers (report/decimals.py), the plots'
and sparklines' lines, summary.json, and the warnings under the terminal table."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from bertlogs.analysis import RunResult
from bertlogs.columns import Row, Status
from bertlogs.report import plots, tables
from bertlogs.report.decimals import fixed, texts
from bertlogs.report.escape import terminal_safe
from bertlogs.report.html import sparkline
from bertlogs.summary import Summary, summarize

# halfway cases (exact, and the decimal ones that a double holds just above or below), signs, zero, -0,
# numbers of several groups of three digits
AWKWARD = [0.0, -0.0, -0.04, 0.5, -0.5, 1.5, 2.5, 0.25, 0.35, 0.05, 1.45, 0.0005, 0.0015, 9.95, 99.5, 999.5]
AWKWARD += [999.95, 999.9999, 1000.0, 1e6, 1000000.5, 123456789.0, -123456789.25, 123456789012.5, 4.5e12 + 0.5]


def written(values: list[float], decimals: int) -> str:
    return texts([len(values)], fixed(np.array(values, dtype=np.float64), decimals), "|")[0]


@pytest.mark.parametrize("decimals", [0, 1, 2, 3])
def test_fixed_writes_awkward_numbers_as_python_does(decimals: int) -> None:
    grid = np.arange(-4000, 4000) / 20  # every k/20: the halfway cases of one and two decimals, inexact ones too
    values = AWKWARD + grid.tolist()
    assert written(values, decimals) == "".join(f"{v:.{decimals}f}|" for v in values)


@given(st.lists(st.floats(-1e12, 1e12), max_size=40), st.integers(0, 3))
def test_fixed_writes_any_number_as_python_does(values: list[float], decimals: int) -> None:
    assert written(values, decimals) == "".join(f"{v:.{decimals}f}|" for v in values)


def test_texts_cuts_the_rows_into_pieces_even_empty_ones() -> None:
    numbers = fixed(np.array([1.0, 22.0, 333.0]), 0)
    assert texts([2, 0, 1], "<", numbers, ">") == ["<1><22>", "", "<333>"]


@pytest.fixture(scope="module")
def traced() -> list[RunResult]:
    """The demo's runs as the report's sink takes them, traces included."""
    taken: list[RunResult] = []
    summarize([DEMO], sink=taken.append)
    assert sum(len(r.trace.get("power_w", ([],))[0]) > 1 for r in taken) >= 4  # runs with lines to draw
    return taken


def test_the_plot_lines_are_the_pixels_that_python_writes(traced: list[RunResult]) -> None:
    for result in traced:
        svg = plots.plot_svg(result)
        if svg is None:
            continue
        t_power = result.trace["power_w"][0].tolist()
        t0, span = t_power[0], max(t_power[-1] - t_power[0], 1e-9)
        expected = []
        for i, (column, _, _) in enumerate(plots._PANELS):
            t, v = (a.tolist() for a in result.trace[column])
            bottom = plots._TOP + i * (plots._PANEL + plots._GAP) + plots._PANEL
            peak = max(max(v, default=0.0), 1e-9) * 1.1
            xs = [plots._LEFT + (a - t0) * ((plots._WIDTH - plots._LEFT - plots._RIGHT) / span) for a in t]
            ys = [bottom - b / peak * plots._PANEL for b in v]
            steps = "".join(f"V{y:.0f}H{x:.0f}" for x, y in zip(xs[1:], ys[1:], strict=True))
            expected += [f"M{xs[0]:.0f},{ys[0]:.0f}{steps}"] if len(t) > 1 else []
        assert re.findall(r' d="([^"]*)"', svg) == expected, result.row.run


def test_the_sparkline_points_are_the_pixels_that_python_writes(traced: list[RunResult]) -> None:
    for result in traced:
        drawn = sparkline(result)
        if not drawn:
            continue
        lines = {c: plots.trace_lines(result, [c], 120)[0] for c in ("power_w", "util_pct")}
        t0, t1 = float(lines["power_w"][0][0]), float(lines["power_w"][0][-1])
        expected = []
        for column, top in (("power_w", None), ("util_pct", 100.0)):
            t, v = (a.tolist() for a in lines[column])
            peak = top or max(max(v), 1e-9)
            xs, ys = [(a - t0) / (t1 - t0) * 160 for a in t], [27 - b / peak * 26 for b in v]
            expected += ["".join(f"{x:.1f},{y:.1f} " for x, y in zip(xs, ys, strict=True))] if len(t) > 1 else []
        assert re.findall(r'points="([^"]*)"', drawn) == expected, result.row.run


def test_a_sparkline_with_no_time_to_draw_across_is_left_out() -> None:
    times, values = np.array([5.0, 5.0]), np.array([100.0, 200.0], np.float32)  # two samples, one coarse stamp
    result = RunResult(row=Row(run="r"), trace={c: (times, values) for c in ("power_w", "util_pct")})
    assert sparkline(result) == ""


def odd_summary(runs: int) -> Summary:
    """Rows whose values json writes in every way it can: NaN, infinities, quotes, newlines, non-ASCII."""
    rows = [
        Row(
            run=f'run "{i}", ünï\n{i}',
            path=f"/x/run-{i}",
            status=Status.PARTIAL,
            warnings="a, b\\c\t",
            power_w=[float("nan"), float("inf"), -float("inf"), 1e-7, 123.456, 1e22][i % 6],
            batch_size=i or None,
        )
        for i in range(runs)
    ]
    return Summary([RunResult(row=row) for row in rows], [], "a note", ["skipped ✓"])


@pytest.mark.parametrize("runs", [0, 1, 7])
def test_summary_json_written_in_slices_is_the_document_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: int
) -> None:
    monkeypatch.setattr(tables, "_SLICE_ROWS", 3)  # 7 runs: three slices
    summary = odd_summary(runs)
    tables.write_json(summary, tmp_path / "summary.json")
    text = (tmp_path / "summary.json").read_text(encoding="utf-8")
    document = json.loads(text)
    assert len(document["runs"]) == runs
    assert text == json.dumps(document, indent=2) + "\n"


@pytest.mark.parametrize("colour", [False, True])
def test_the_warnings_print_as_one_print_per_warning_would(colour: bool) -> None:
    summary = odd_summary(6)
    for i, result in enumerate(summary.results):  # highlighted spans (numbers, a tag) that could cross lines
        result.row.warnings = f"<tag of {i}" if i % 2 else f"{i} s, closed> 0x1f 'q'"
    shown = io.StringIO()
    print_table_to = Console(file=shown, width=160, force_terminal=colour, color_system="truecolor" if colour else None)
    tables.print_table(summary, print_table_to)
    one_by_one = io.StringIO()
    console = Console(file=one_by_one, width=160, force_terminal=colour, color_system="truecolor" if colour else None)
    for result in summary.results:
        text = terminal_safe(f"{result.row.run}: {result.row.warnings}")
        console.print(text, style="yellow", markup=False, soft_wrap=True)
    assert shown.getvalue().endswith(one_by_one.getvalue())
    assert ("\x1b[" in one_by_one.getvalue()) is colour


@pytest.mark.parametrize("runs", [0, 3])
def test_the_terminal_table_aligns_every_column_to_its_widest_cell(runs: int) -> None:
    summary = odd_summary(runs)
    for i, result in enumerate(summary.results):
        result.row.run = "run" + "-" * 9 * i  # the widest name wider than the header "Run"
    shown = io.StringIO()
    tables.print_table(summary, Console(file=shown, width=400))
    lines = shown.getvalue().splitlines()
    table = [lines[0], *lines[2 : 2 + runs]]  # the header, then a line a run
    assert len({len(line) for line in table}) == 1 and lines[1] == "─" * len(lines[0])
    assert lines[0].split() == ["Run", *" ".join(str(c.header) for c in tables.SHORT).split()]


def test_the_sparkline_buckets_its_two_lines_in_one_pass(
    traced: list[RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Power and utilisation share the trace's times: their buckets are found once (a run's cost, thousands of
    runs); the lines are those of each alone (the test above)."""
    passes: list[int] = []
    real = plots.buckets_of

    def counted(times, columns, points):  # type: ignore[no-untyped-def]
        passes.append(len(columns))
        return real(times, columns, points)

    monkeypatch.setattr(plots, "buckets_of", counted)
    monkeypatch.setattr(plots, "buckets", lambda *a: pytest.fail("a line bucketed alone"))
    long = [r for r in traced if len(r.trace.get("power_w", ([],))[0]) > 120]
    assert long and all(sparkline(r) for r in long)
    assert passes == [2] * len(long)
