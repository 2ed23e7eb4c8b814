"""The summary as CSV, JSON, Markdown and a terminal table."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.text import Text

from bertlogs import __version__
from bertlogs.columns import COLUMNS
from bertlogs.report.escape import markdown_cell, terminal_safe
from bertlogs.summary import Summary

# the columns of the short tables (terminal, Markdown, HTML), after the run's name; each column's header and
# format are declared with it (`columns.Row`)
SHORT = [
    COLUMNS[name]
    for name in (
        "model",
        "batch_size",
        "eval_accuracy",
        "eval_loss",
        "eval_batch_loss",
        "epoch_s",
        "epoch_s_seed",
        "examples_per_s",
        "power_w",
        "energy_j_per_epoch",
        "memory_mib",
        "util_pct",
        "status",
    )
]
METHOD_NOTE = (
    "Power, memory and utilisation are time-weighted over each run's training window (a reading covers the "
    "interval since the previous one), summed over the run's GPUs (utilisation: mean). Epoch s is the "
    "training window / epochs; Epoch s (seed) is num_examples / arithmetic mean of examples/sec, as the seed "
    "computed it. Energy: NVML counter where recorded, else time-weighted power x window."
)


def write_csv(summary: Summary, path: Path) -> None:
    summary.frame.write_csv(path)


def write_json(summary: Summary, path: Path) -> None:
    """The document `json.dumps(..., indent=2)` would write, its runs written a slice at a time (the whole
    document in memory is ~6 KB a run)."""
    document = {
        "bertlogs_version": __version__,
        "columns": {c.name: {"dtype": str(c.dtype), "unit": c.unit, "help": c.help} for c in COLUMNS.values()},
        "notes": [n for n in (summary.period_note,) if n] + summary.skipped,
        "runs": [],
    }
    head, tail = json.dumps(document, indent=2).rsplit('"runs": []', 1)
    with path.open("w", encoding="utf-8") as out:
        out.write(head + '"runs": [')
        for i, rows in enumerate(summary.frame.iter_slices(_SLICE_ROWS)):
            out.write((",\n" if i else "\n") + _json_runs(rows))
        out.write(("\n  ]" if summary.frame.height else "]") + tail + "\n")


_SLICE_ROWS = 1000


def _json_runs(rows: pl.DataFrame) -> str:
    """The rows as the runs of the document, indented as `json.dumps(document, indent=2)` indents them, each
    column's values encoded at once by the C encoder (indent=2 runs json's pure-Python one, value by value)."""
    fields = [
        [f"      {json.dumps(name)}: {value}" for value in _encoded(rows[name].to_list())] for name in rows.columns
    ]
    return ",\n".join("    {\n" + ",\n".join(row) + "\n    }" for row in zip(*fields, strict=True))


def _encoded(values: list[object]) -> list[str]:
    """Each value as `json.dumps` writes it: one list encoded, its items separated by a newline, which no
    encoded value holds."""
    return json.dumps(values, separators=("\n", ": "))[1:-1].split("\n")


def markdown(summary: Summary) -> str:
    header = "| Run | " + " | ".join(str(c.header) for c in SHORT) + " |"
    rule = "|" + "---|" * (len(SHORT) + 1)
    cells = [summary.frame["run"].to_list(), *_short_cells(summary.frame)]
    rows = ["| " + " | ".join(map(markdown_cell, row)) + " |" for row in zip(*cells, strict=True)]
    return "\n".join([header, rule, *rows, "", METHOD_NOTE, ""])


def _short_cells(frame: pl.DataFrame) -> list[list[str]]:
    """The short tables' cells after the run's name, a column at a time."""
    return [[c.cell(value) for value in frame[c.name].to_list()] for c in SHORT]


_STATUS_STYLE = {"partial": "yellow", "failed": "red", "error": "bold red"}


def print_table(summary: Summary, console: Console) -> None:
    """The short table, aligned by hand (rich's Table takes 3 ms a row: seconds on a large archive), each row
    coloured by its status; then the method note and each run's warnings."""
    frame: pl.DataFrame = summary.frame
    header = ["Run", *(str(c.header) for c in SHORT)]
    cells = [[terminal_safe(run) for run in frame["run"].to_list()], *_short_cells(frame)]
    widths = [max([len(h), *map(len, column)]) for h, column in zip(header, cells, strict=True)]
    line = "  ".join([f"{{:<{widths[0]}}}", *(f"{{:>{w}}}" for w in widths[1:])]).format  # one row, aligned
    table = Text(line(*header) + "\n", style="bold")
    table.append("─" * len(line(*header)) + "\n")
    for status, row in zip(frame["status"].to_list(), zip(*cells, strict=True), strict=True):
        table.append(line(*row) + "\n", style=_STATUS_STYLE.get(status, ""))
    console.print(table, end="", soft_wrap=True)
    console.print(METHOD_NOTE, style="dim", markup=False)
    warned = frame.filter(pl.col("warnings") != "")
    if warned.height:  # one print for them all (a print costs ~1 ms); highlighting shows only in colour
        lines = (
            terminal_safe(f"{run}: {warnings}") for run, warnings in zip(warned["run"], warned["warnings"], strict=True)
        )
        colour = console.color_system is not None
        console.print(
            *lines, sep="\n", style="yellow", markup=False, highlight=None if colour else False, soft_wrap=True
        )
