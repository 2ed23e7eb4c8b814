"""The summary's columns, declared once: `Row` is one run's row, and each of its fields carries the column's
unit, help, display header and display format. The CSV, JSON, Markdown, terminal and HTML writers, the
dtypes and the README's reference table all come from here (tests/test_cli.py checks the README)."""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import dataclass
from typing import Any

import polars as pl


class Status(str, enum.Enum):
    """ok: every figure; partial: some figures missing or doubtful (the reasons say which); failed: training
    failed; error: not analysable."""

    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


def _column(help: str, unit: str = "", header: str | None = None, fmt: str = "{}", scale: float = 1.0) -> Any:
    """A summary column: `header` and `fmt` (applied to value x `scale`) say how the short tables show it."""
    return dataclasses.field(
        default=None, metadata={"help": help, "unit": unit, "header": header, "fmt": fmt, "scale": scale}
    )


@dataclass(kw_only=True, slots=True)
class Row:
    """One run's summary row, in column order. A figure that could not be computed is None."""

    run: str = _column("run directory name")
    model: str | None = _column(
        "BERT size: meta.json label, else from the log's model shape, else the directory name", header="Model"
    )
    layers: int | None = _column("encoder layers L (the log's model shape)")
    hidden: int | None = _column("hidden size H (the log's model shape)")
    batch_size: int | None = _column("training batch size", "examples", header="Batch")
    num_examples: int | None = _column("training examples (the log's run config)", "examples")
    num_steps: int | None = _column("training steps (the log's run config)", "steps")
    epochs: float | None = _column("num_steps x batch_size / num_examples", "epochs")
    eval_accuracy: float | None = _column(
        "last evaluation's eval_accuracy (0..1)", "1", header="Eval acc %", fmt="{:.2f}", scale=100.0
    )
    eval_loss: float | None = _column(
        "last evaluation's eval_loss (mean over examples)", header="Eval loss", fmt="{:.2f}"
    )
    eval_batch_loss: float | None = _column(
        "last evaluation's 'loss' key (mean of per-batch means; the seed's 'Train Loss')",
        header="Eval batch loss",
        fmt="{:.2f}",
    )
    final_step_loss: float | None = _column("'Loss for final step' (one mini-batch: noisy)")
    train_loss_mean: float | None = _column("the run's mean training loss (the Hugging Face Trainer's train_loss)")
    rate_readings: int | None = _column("throughput readings in the log (each covers the steps it states)")
    examples_per_s_mean: float | None = _column(
        "arithmetic mean of the examples/sec readings (biased high)", "examples/s"
    )
    examples_per_s: float | None = _column(
        "step-weighted harmonic mean of the readings = examples / time", "examples/s", header="Examples/s", fmt="{:.1f}"
    )
    epoch_s_seed: float | None = _column(
        "num_examples / examples_per_s_mean: the seed's method, for comparison",
        "s",
        header="Epoch s (seed)",
        fmt="{:.2f}",
    )
    epoch_s: float | None = _column(
        "training window length / epochs (see epoch_s_method)", "s", header="Epoch s", fmt="{:.2f}"
    )
    epoch_s_method: str | None = _column("where the training window's length came from")
    train_s: float | None = _column("training window length", "s")
    window_method: str | None = _column("how the window was placed on the telemetry's clock")
    gpus: str | None = _column("GPU indices the figures cover")
    gpu_samples: int | None = _column("samples inside the training window (GPUs stamped together: one sample)")
    sample_period_s: float | None = _column("median interval between samples", "s")
    sample_jitter_s: float | None = _column("standard deviation of the intervals between samples", "s")
    power_w: float | None = _column(
        "power, time-weighted over the training window, summed over the run's GPUs", "W", header="Power W", fmt="{:.2f}"
    )
    power_w_max: float | None = _column("highest per-sample power (summed over GPUs) in the window", "W")
    energy_j_per_epoch: float | None = _column(
        "energy over the window / epochs (see energy_method)", "J", header="Energy kJ/epoch", fmt="{:.2f}", scale=1e-3
    )
    energy_method: str | None = _column("NVML energy counter difference, else time-weighted power x window length")
    memory_mib: float | None = _column(
        "memory used, time-weighted over the window, summed over GPUs", "MiB", header="Memory MiB", fmt="{:.1f}"
    )
    memory_mib_max: float | None = _column("highest per-sample memory used (summed over GPUs) in the window", "MiB")
    util_pct: float | None = _column(
        "GPU utilisation, time-weighted over the window, mean over the run's GPUs", "%", header="Util %", fmt="{:.2f}"
    )
    status: Status = _column(  # noqa: RUF009 - a dataclasses.field, as every column's
        "ok / partial (figures missing) / failed (training failed) / error (not analysable)", header="Status"
    )
    warnings: str = _column("what was odd or assumed, '; '-separated")
    path: str = _column("the run directory, as reached from the path given (a file given alone: that file)")

    def value(self, column: str) -> object:
        """The column's value as the summary holds it (a status as its text)."""
        found = getattr(self, column)
        return found.value if isinstance(found, Status) else found

    __getitem__ = value  # row["power_w"], as on a row of the summary frame


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    unit: str
    help: str
    header: str | None
    fmt: str
    scale: float

    def cell(self, value: object) -> str:
        """The value as the short tables show it ('-' when missing)."""
        if value is None:
            return "-"
        if self.scale != 1.0 and isinstance(value, (int, float)):
            value = value * self.scale
        return self.fmt.format(value)


def _dtype(annotation: object) -> pl.DataType:
    kinds = set(typing.get_args(annotation)) - {type(None)} or {annotation}
    if kinds <= {int}:
        return pl.Int64()
    if kinds <= {float}:
        return pl.Float64()
    if kinds <= {str, Status}:
        return pl.String()
    raise TypeError(f"no summary dtype for {annotation!r}")  # a new column of a new type: say which dtype here


_HINTS = typing.get_type_hints(Row)
COLUMNS: dict[str, Column] = {
    f.name: Column(f.name, _dtype(_HINTS[f.name]), **f.metadata) for f in dataclasses.fields(Row)
}
DTYPES: dict[str, pl.DataType] = {name: column.dtype for name, column in COLUMNS.items()}


def _fits_int(value: object) -> bool:
    return type(value) is int and abs(value) < 2**63


def _fits_float(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fits_text(value: object) -> bool:
    return isinstance(value, str)  # a Status is a str


# Each column's test of a value it can hold (None aside), chosen once by its dtype
_FITS = {
    name: {pl.Int64(): _fits_int, pl.Float64(): _fits_float, pl.String(): _fits_text}[column.dtype]
    for name, column in COLUMNS.items()
}


def check(row: Row) -> None:
    """Raises TypeError if a value would not fit its column (a bug: the run becomes an error row, the summary
    of the others is still made)."""
    for name, fits in _FITS.items():
        value = getattr(row, name)
        if value is not None and not fits(value):
            raise TypeError(f"summary column {name} ({COLUMNS[name].dtype}) cannot hold {row.value(name)!r}")


def frame(rows: list[Row]) -> pl.DataFrame:
    """The summary table, one row per run, in column order with the declared dtypes."""
    data = {name: [row.value(name) for row in rows] for name in COLUMNS}
    return pl.DataFrame(data, schema=DTYPES)


def reference_table() -> str:
    """The README's table of summary columns (tests/test_cli.py checks that the README holds exactly this)."""
    lines = ["| column | dtype | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.dtype} | {c.unit or '-'} | {c.help} |" for c in COLUMNS.values()]
    return "\n".join(lines) + "\n"
