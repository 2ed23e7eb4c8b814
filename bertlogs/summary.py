"""Analysing many runs: discover, load, agree on a sampling period, analyse each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from bertlogs.analysis import SUMMARY_COLUMNS, RunResult, analyze_run
from bertlogs.runs import RunFiles, discover, load


@dataclass
class Summary:
    """Every run's result; `frame` is the summary table, one row per run."""

    results: list[RunResult]
    unreadable: list[str]
    period_note: str | None = None

    @property
    def frame(self) -> pl.DataFrame:
        rows = [r.row for r in self.results]
        return pl.DataFrame(rows, schema_overrides=_DTYPES, infer_schema_length=None).select(SUMMARY_COLUMNS)

    @property
    def has_errors(self) -> bool:
        """A run could not be analysed, or a file could not be read."""
        return bool(self.unreadable) or any(r.row["status"] == "error" for r in self.results)


_FLOATS = [
    "epochs",
    "eval_accuracy",
    "eval_loss",
    "eval_batch_loss",
    "final_step_loss",
    "examples_per_s_mean",
    "examples_per_s",
    "epoch_s_seed",
    "epoch_s",
    "train_s",
    "sample_period_s",
    "sample_jitter_s",
    "power_w",
    "power_w_max",
    "energy_j_per_epoch",
    "memory_mib",
    "memory_mib_max",
    "util_pct",
]
_INTS = ["layers", "hidden", "batch_size", "num_examples", "num_steps", "rate_readings", "gpu_samples"]
_DTYPES: dict[str, pl.DataType] = (
    {c: pl.Float64() for c in _FLOATS}
    | {c: pl.Int64() for c in _INTS}
    | {c: pl.String() for c in SUMMARY_COLUMNS if c not in _FLOATS + _INTS}
)


def summarize(
    paths: list[Path],
    *,
    period_s: float | None = None,
    gpus: list[int] | None = None,
    year: int | None = None,
    utc_offset_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Analyse every run under `paths`.

    Raises:
        NotFoundError: a path does not exist.
        BertlogsError: no run found at all.
    """
    from bertlogs.errors import BertlogsError

    found = discover(paths)
    if not found:
        raise BertlogsError(f"{', '.join(map(str, paths))}: no runs found (empty directory?)")
    runs: list[RunFiles] = []
    for name, files in found:
        runs.append(load(name, files, year=year, utc_offset_s=utc_offset_s))
        if progress:
            progress(name)
    note = None
    if period_s is None and any(_unclocked(r) for r in runs):
        period_s = measured_period(runs)
        if period_s is not None:
            note = f"captures without a clock use the {period_s:.3f} s period measured from stamped captures"
    results = [analyze_run(run, period_s=period_s, gpus=gpus) for run in runs]
    results.sort(key=_order)
    return Summary(results, [u for run in runs for u in run.unreadable], note)


def _order(result: RunResult) -> tuple:
    """Smallest model first, then batch size; unlabelled runs last, by name."""
    row = result.row
    size = (row["layers"] or 10**6, row["hidden"] or 10**6) if row["layers"] else (10**6, 10**6)
    return (*size, row["batch_size"] or 10**6, str(row["run"]))


def _unclocked(run: RunFiles) -> bool:
    return run.gpu is not None and run.gpu.frame["time"].is_null().all()


def measured_period(runs: list[RunFiles]) -> float | None:
    """Median sampling period over the archive's stamped captures."""
    periods = []
    for run in runs:
        if run.gpu is None:
            continue
        times = run.gpu.frame["time"].drop_nulls().unique().sort().to_numpy()
        if len(times) > 2:
            periods.append(float(np.median(np.diff(times))))
    return float(np.median(periods)) if periods else None
