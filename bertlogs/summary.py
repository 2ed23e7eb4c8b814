"""Analysing many runs: discover, then load and analyse each run in worker processes, in parallel."""

from __future__ import annotations

import math
import multiprocessing
import statistics
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path
from typing import Any

import polars as pl

from bertlogs.analysis import SUMMARY_COLUMNS, RunResult, analyze_run
from bertlogs.discovery import discover
from bertlogs.errors import BertlogsError
from bertlogs.report.dataset import write_run
from bertlogs.runs import load_many

Progress = Callable[[int, int, str], None]  # runs done, runs in all, the run just done

# Below this many runs, starting worker processes costs more than it saves.
PARALLEL_FROM_RUNS = 8
# Runs per batch handed to a worker (their logs are parsed in one query)
BATCH_RUNS = 20


@dataclass
class Summary:
    """Every run's result; `frame` is the summary table, one row per run."""

    results: list[RunResult]
    unreadable: list[str]
    period_note: str | None = None
    skipped: list[str] = field(default_factory=list)  # files and links outside any run, not read

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


@dataclass(frozen=True)
class _Job:
    name: str
    files: list[Path]
    skipped: list[str]
    year: int | None
    utc_offset_s: float | None
    period_s: float | None
    gpus: list[int] | None
    dataset_dir: Path | None


@dataclass
class _Outcome:
    result: RunResult
    unreadable: list[str]


def summarize(
    paths: list[Path],
    *,
    period_s: float | None = None,
    gpus: list[int] | None = None,
    year: int | None = None,
    utc_offset_s: float | None = None,
    progress: Progress | None = None,
    dataset_dir: Path | None = None,
    workers: int = 1,
) -> Summary:
    """Analyse every run under `paths`; with `workers` > 1, in that many worker processes.

    Workers are spawned, and each one imports the caller's main module again: a script that asks for
    workers must keep its own work under `if __name__ == "__main__":`.

    With `dataset_dir`, each run's tidy samples and facts are written there as Parquet, partitioned by run
    (`samples/run=NAME/part-0.parquet`, `facts/run=NAME/part-0.parquet`).

    Raises:
        NotFoundError: a path does not exist.
        BertlogsError: no run found at all.
    """
    found = discover(paths)
    if not found.runs:
        notes = "".join(f"; {n}" for n in found.notes[:3])
        raise BertlogsError(f"{', '.join(map(str, paths))}: no runs found{notes or ' (empty directory?)'}")
    jobs = [_Job(r.name, r.files, r.skipped, year, utc_offset_s, period_s, gpus, dataset_dir) for r in found.runs]
    outcomes = list(_run(jobs, workers, progress))
    note = None
    unclocked = [i for i, o in enumerate(outcomes) if o.result.unclocked]
    periods = [o.result.period_s for o in outcomes if o.result.period_s is not None]
    if period_s is None and unclocked and periods:
        # captures without a clock take the period measured on the stamped captures of the same archive
        measured = statistics.median(periods)
        note = f"captures without a clock use the {measured:.3f} s period measured from stamped captures"
        redo = [replace(jobs[i], period_s=measured, dataset_dir=None) for i in unclocked]
        for i, outcome in zip(unclocked, _run(redo, workers, None), strict=True):
            outcomes[i] = outcome
    results = sorted((o.result for o in outcomes), key=_order)
    return Summary(results, [u for o in outcomes for u in o.unreadable], note, found.notes)


def _run(jobs: list[_Job], workers: int, progress: Progress | None) -> Iterator[_Outcome]:
    count = min(workers, len(jobs))
    # runs travel in batches: their logs are parsed in one polars query, whose fixed cost dominates small runs
    size = max(1, min(BATCH_RUNS, math.ceil(len(jobs) / (4 * max(count, 1)))))
    batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    if count <= 1 or len(jobs) < PARALLEL_FROM_RUNS:
        yield from _counted(chain.from_iterable(map(_analyze, batches)), len(jobs), progress)
        return
    # polars runs its own threads: fork would copy its locks mid-use, so workers are spawned
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(count, mp_context=context) as pool:
        yield from _counted(chain.from_iterable(pool.map(_analyze, batches)), len(jobs), progress)


def _counted(outcomes: Iterator[_Outcome], total: int, progress: Progress | None) -> Iterator[_Outcome]:
    for done, outcome in enumerate(outcomes, 1):
        if progress:
            progress(done, total, str(outcome.result.row["run"]))
        yield outcome


def _analyze(batch: list[_Job]) -> list[_Outcome]:
    """Load and analyse a batch of runs (in a worker); their full frames are written out and dropped here."""
    first = batch[0]
    runs = load_many([(job.name, job.files) for job in batch], year=first.year, utc_offset_s=first.utc_offset_s)
    outcomes = []
    # the Parquet dataset is written while the figures are computed (polars releases the GIL while it writes)
    with ThreadPoolExecutor(1) as writer:
        written = [
            writer.submit(write_run, job.dataset_dir, job.name, run)
            for job, run in zip(batch, runs, strict=True)
            if job.dataset_dir is not None
        ]
        for job, run in zip(batch, runs, strict=True):
            run.warnings[:0] = job.skipped
            outcomes.append(_Outcome(analyze_run(run, period_s=job.period_s, gpus=job.gpus), run.unreadable))
        for done in written:
            done.result()
    return outcomes


def _order(result: RunResult) -> tuple[Any, ...]:
    """Smallest model first, then batch size; unlabelled runs last, by name."""
    row = result.row
    size = (row["layers"] or 10**6, row["hidden"] or 10**6) if row["layers"] else (10**6, 10**6)
    return (*size, row["batch_size"] or 10**6, str(row["run"]))
