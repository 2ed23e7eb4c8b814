"""The summary as CSV, JSON, Markdown and a terminal table."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.text import Text

from bertlogs import __version__
from bertlogs.analysis import COLUMN_HELP
from bertlogs.report.escape import markdown_cell, terminal_safe
from bertlogs.summary import Summary

# (column, header, format) for the short tables (terminal and Markdown)
SHORT = [
    ("model", "Model", "{}"),
    ("batch_size", "Batch", "{}"),
    ("eval_accuracy", "Eval acc %", "pct"),
    ("eval_loss", "Eval loss", "{:.2f}"),
    ("eval_batch_loss", "Eval batch loss", "{:.2f}"),
    ("epoch_s", "Epoch s", "{:.2f}"),
    ("epoch_s_seed", "Epoch s (seed)", "{:.2f}"),
    ("examples_per_s", "Examples/s", "{:.1f}"),
    ("power_w", "Power W", "{:.2f}"),
    ("energy_j_per_epoch", "Energy kJ/epoch", "kj"),
    ("memory_mib", "Memory MiB", "{:.1f}"),
    ("util_pct", "Util %", "{:.2f}"),
    ("status", "Status", "{}"),
]
METHOD_NOTE = (
    "Power, memory and utilisation are time-weighted over each run's training window (a reading covers the "
    "interval since the previous one), summed over the run's GPUs (utilisation: mean). Epoch s is the "
    "training window / epochs; Epoch s (seed) is num_examples / arithmetic mean of examples/sec, as the seed "
    "computed it. Energy: NVML counter where recorded, else time-weighted power x window."
)


def cell(value: object, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "pct":
        return f"{float(value) * 100:.2f}"  # type: ignore[arg-type]
    if fmt == "kj":
        return f"{float(value) / 1000:.2f}"  # type: ignore[arg-type]
    return fmt.format(value)


def write_csv(summary: Summary, path: Path) -> None:
    summary.frame.write_csv(path)


def write_json(summary: Summary, path: Path) -> None:
    document = {
        "bertlogs_version": __version__,
        "columns": COLUMN_HELP,
        "notes": [n for n in (summary.period_note,) if n] + summary.skipped,
        "runs": summary.frame.to_dicts(),
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def markdown(summary: Summary) -> str:
    header = "| Run | " + " | ".join(h for _, h, _ in SHORT) + " |"
    rule = "|" + "---|" * (len(SHORT) + 1)
    rows = [
        "| "
        + " | ".join([markdown_cell(str(row["run"]))] + [markdown_cell(cell(row[c], f)) for c, _, f in SHORT])
        + " |"
        for row in summary.frame.iter_rows(named=True)
    ]
    return "\n".join([header, rule, *rows, "", METHOD_NOTE, ""])


_STATUS_STYLE = {"partial": "yellow", "failed": "red", "error": "bold red"}


def print_table(summary: Summary, console: Console) -> None:
    """The short table, aligned by hand (rich's Table takes 3 ms a row: seconds on a large archive), each row
    coloured by its status; then the method note and each run's warnings."""
    frame: pl.DataFrame = summary.frame
    header = ["Run", *(h for _, h, _ in SHORT)]
    rows = [
        (row["status"], [terminal_safe(str(row["run"])), *(cell(row[c], f) for c, _, f in SHORT)])
        for row in frame.iter_rows(named=True)
    ]
    widths = [max(len(cells[i]) for cells in [header, *(r for _, r in rows)]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    table = Text(line(header) + "\n", style="bold")
    table.append("─" * len(line(header)) + "\n")
    for status, cells in rows:
        table.append(line(cells) + "\n", style=_STATUS_STYLE.get(status, ""))
    console.print(table, end="", soft_wrap=True)
    console.print(METHOD_NOTE, style="dim", markup=False)
    for row in frame.filter(pl.col("warnings") != "").iter_rows(named=True):
        text = terminal_safe(f"{row['run']}: {row['warnings']}")
        console.print(text, style="yellow", markup=False, soft_wrap=True)
