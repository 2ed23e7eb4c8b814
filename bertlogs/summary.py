"""Analysing many runs: discover, then load and analyse each run in worker processes, in parallel."""

from __future__ import annotations

import math
import multiprocessing
import statistics
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from bertlogs import columns
from bertlogs.allocator import start_worker
from bertlogs.analysis import Prepared, RunResult, analyze_run, error_result, prepared_facts
from bertlogs.columns import Status
from bertlogs.dataset import Samples, clear_batch, part_name, write_batch
from bertlogs.discovery import FoundRun, discover
from bertlogs.errors import BertlogsError
from bertlogs.parsers.registry import Format
from bertlogs.runs import RunFiles, SamplesSink, load_many

Progress = Callable[[int, int, str], None]  # runs done, runs in all, the run just done
Sink = Callable[[RunResult], None]  # takes each run's final result, trace included, as soon as it is known

# Below this many runs, starting worker processes costs more than it saves.
PARALLEL_FROM_RUNS = 8
# With the workers left to choose (`workers=None`), one process below about this much work: a worker's start costs
# about 0.3 CPU-s (its imports) and the workers compete with the report's process for the cores. Measured on 2
# cores with batches of 50, one process against two workers: the demo's 29 runs 0.75 s against 1.15 s (half the
# CPU), 300 runs 1.9 s either way, 1,000 runs 6.6 s against 4.9 s. The work is estimated from the runs and their
# files' bytes.
PARALLEL_FROM_S = 0.6
_S_A_RUN, _S_A_BYTE = 0.006, 1e-8  # a small run's cost in one process; a capture's, about 10 ms a MB
# Left to choose, at most one worker a S_A_WORKER of that estimated work, however many cores: each worker costs its
# start and its memory, and many workers make small batches, each paying its queries' fixed cost (1,000 small runs
# on 2 cores with 2, 4 and 8 workers: 5.8, 6.5 and 8.9 CPU-s, the process tree's peak 464, 721 and 1,188 MB)
S_A_WORKER = 1.0
# Runs per batch handed to a worker: their files of a format are parsed in one query, and their Parquet written
# as one file per kind (a query's fixed cost, ~15 ms for TF1 logs, is paid per batch). On the 1,000-run benchmark,
# in one process: 100 runs a batch took 6 to 17 % less CPU than 50, for ~35 MB more a worker; 200 runs 1 to 2 %
# less than 100, for 75 MB more
BATCH_RUNS = 100


@dataclass
class Summary:
    """Every run's result (without its trace: `summarize` hands each trace to its sink); `frame` is the
    summary table, one row per run."""

    results: list[RunResult]
    unreadable: list[str]
    period_note: str | None = None
    skipped: list[str] = field(default_factory=list)  # files and links outside any run, not read

    @cached_property
    def frame(self) -> pl.DataFrame:
        """Built once (every report reads it), a slice of runs at a time (as Python lists, all of them at once
        would take ~8 KB a run)."""
        rows = [r.row for r in self.results]
        return pl.concat([columns.frame(rows[i : i + 1000]) for i in range(0, len(rows), 1000)] or [columns.frame([])])

    @property
    def has_errors(self) -> bool:
        """A run could not be analysed, or a file could not be read."""
        return bool(self.unreadable) or any(r.row.status == Status.ERROR for r in self.results)


@dataclass(frozen=True)
class _Job:
    run: FoundRun
    index: int  # the run's place among all runs: a batch's dataset file is named after its first run's
    year: int | None
    utc_offset_s: float | None
    fmt: Format | None
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
    fmt: Format | None = None,
    progress: Progress | None = None,
    dataset_dir: Path | None = None,
    workers: int | None = 1,
    sink: Sink | None = None,
) -> Summary:
    """Analyse every run under `paths`; with `workers` > 1, in that many worker processes (None: one per core
    when the runs hold enough work to pay for the workers' start, see PARALLEL_FROM_S, up to one a S_A_WORKER of
    that work; else one process).

    Workers are spawned, and each one imports the caller's main module again: a script that asks for
    workers must keep its own work under `if __name__ == "__main__":`.

    With `dataset_dir`, the runs' tidy samples and facts are written there as Parquet, a file per batch of
    runs and kind (`samples/part-NNNNNN.parquet`, `facts/...`; see `dataset.write_batch`). With `fmt`, the
    files whose content shows a format of the same kind are read as that format. `sink` takes each run's
    result with its trace as soon as it is final (to draw it); the Summary keeps the results without their
    traces, so that memory does not grow with the number of runs.

    Raises:
        NotFoundError: a path does not exist.
        BertlogsError: no run found at all.
    """
    found = discover(paths)
    if not found.runs:
        notes = "".join(f"; {n}" for n in found.notes[:3])
        raise BertlogsError(f"{', '.join(map(str, paths))}: no runs found{notes or ' (empty directory?)'}")
    jobs = [_Job(run, i, year, utc_offset_s, fmt, period_s, gpus, dataset_dir) for i, run in enumerate(found.runs)]
    if workers is None:
        workers = _workers(found.runs, _cores())
    outcomes, note = _delivering(jobs, workers, progress, sink or (lambda _: None))
    results = sorted((o.result for o in outcomes), key=_order)
    return Summary(results, [u for o in outcomes for u in o.unreadable], note, found.notes)


def _cores() -> int:
    """The cores this process may use, as polars counts them for its threads: its CPU affinity (`taskset`, a
    batch scheduler's allocation) and a container's CPU quota, or POLARS_MAX_THREADS when set (os.cpu_count() is
    the machine's)."""
    return pl.thread_pool_size()


def _workers(runs: list[FoundRun], cores: int) -> int:
    """One process below PARALLEL_FROM_S of work, else a worker a core, up to one a S_A_WORKER of work."""
    work = _work_s(runs, max(PARALLEL_FROM_S, cores * S_A_WORKER))
    return 1 if work < PARALLEL_FROM_S else min(cores, max(2, int(work / S_A_WORKER)))


def _work_s(runs: list[FoundRun], enough_s: float) -> float:
    """About how long the runs take in one process, up to `enough_s` (their files' sizes read only until then)."""
    work = len(runs) * _S_A_RUN
    for run in runs:
        if work >= enough_s:
            break
        work += sum(_size_bytes(path) for path in run.files) * _S_A_BYTE
    return work


def _size_bytes(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # its run will say why it cannot be read
        return 0


def _delivering(
    jobs: list[_Job], workers: int, progress: Progress | None, sink: Sink
) -> tuple[list[_Outcome], str | None]:
    """Every run's outcome, each handed to `sink` once final and kept without its trace; the period note."""
    outcomes: list[_Outcome] = []
    held: list[int] = []  # captures without a clock: analysed again with the period measured on the others
    for outcome in _run(jobs, workers, progress):
        if jobs[0].period_s is None and outcome.result.unclocked:
            held.append(len(outcomes))
            outcomes.append(outcome)
        else:
            outcomes.append(_delivered(outcome, sink))
    note = _with_measured_period(jobs, outcomes, workers) if jobs[0].period_s is None else None
    for i in held:
        outcomes[i] = _delivered(outcomes[i], sink)
    return outcomes, note


def _delivered(outcome: _Outcome, sink: Sink) -> _Outcome:
    """The outcome without its trace, once the sink has taken it."""
    sink(outcome.result)
    return replace(outcome, result=replace(outcome.result, trace={}))


def _with_measured_period(jobs: list[_Job], outcomes: list[_Outcome], workers: int) -> str | None:
    """Captures without a clock analysed again with the median period measured on the stamped captures of
    the same archive (in place); the note that says so, if any."""
    unclocked = [i for i, o in enumerate(outcomes) if o.result.unclocked]
    periods = [o.result.period_s for o in outcomes if o.result.period_s is not None]
    if not unclocked or not periods:
        return None
    measured = statistics.median(periods)
    redo = [replace(jobs[i], period_s=measured, dataset_dir=None) for i in unclocked]
    for i, outcome in zip(unclocked, _run(redo, workers, None), strict=True):
        outcomes[i] = outcome
    return f"captures without a clock use the {measured:.3f} s period measured from stamped captures"


def _run(jobs: list[_Job], workers: int, progress: Progress | None) -> Iterator[_Outcome]:
    count = min(workers, len(jobs))
    # runs travel in batches: their logs are parsed in one polars query, whose fixed cost dominates small runs
    size = max(1, min(BATCH_RUNS, math.ceil(len(jobs) / (4 * max(count, 1)))))
    batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    done = map(_analyze, batches) if count <= 1 or len(jobs) < PARALLEL_FROM_RUNS else _in_workers(batches, count)
    yield from _counted(chain.from_iterable(done), len(jobs), progress)


def _in_workers(batches: list[list[_Job]], count: int) -> Iterator[list[_Outcome]]:
    """Each batch's outcomes, in order, from `count` worker processes, a few batches ahead of the caller (the
    outcomes of all of them at once would hold every run's trace). A worker that dies (killed, out of
    memory) breaks the pool: the first unfinished batch is then run in a worker of its own (narrowed down to
    the run that kills it, which gets an error row) and the rest in a new pool."""
    with _pool(count) as pool:
        futures = deque(pool.submit(_analyze, batch) for batch in batches[: _AHEAD * count])
        for i, batch in enumerate(batches):
            try:
                if i + len(futures) < len(batches):
                    futures.append(pool.submit(_analyze, batches[i + len(futures)]))
                outcomes = futures.popleft().result()
            except BrokenProcessPool:
                lost = batches[i:]
                break
            except Exception:  # an outcome that could not travel back: find the run that made it
                outcomes = _isolating(batch, _in_own_worker, _died)
            yield outcomes
        else:
            return
    yield _isolating(lost[0], _in_own_worker, _died)
    if len(lost) > 1:
        yield from _in_workers(lost[1:], count)


# batches in flight per worker: enough to keep each busy while the caller takes the outcomes in order
_AHEAD = 2


# polars runs its own threads: fork would copy its locks mid-use, so workers are spawned
_SPAWN = multiprocessing.get_context("spawn")


def _pool(count: int) -> ProcessPoolExecutor:
    """`count` worker processes, each with its share of the cores this process may use (`_cores`, the threads
    polars takes here). A run isolated in a worker of its own gets them all: the pool is gone, or (a result that
    could not travel back) busy a moment longer."""
    threads = max(1, _cores() // count)
    return ProcessPoolExecutor(count, mp_context=_SPAWN, initializer=start_worker, initargs=(threads,))


def _in_own_worker(batch: list[_Job]) -> list[_Outcome]:
    with _pool(1) as pool:
        return pool.submit(_analyze, batch).result()


def _died(job: _Job, exc: Exception) -> _Outcome:
    if isinstance(exc, BrokenProcessPool):
        result = error_result(job.run.name, job.run.path, exc, "in its worker process")
        result.row.warnings = (
            f"{job.run.path}: the worker process died (killed, or out of memory?) while analysing this run"
        )
        return _Outcome(result, [])
    return _Outcome(error_result(job.run.name, job.run.path, exc, "sending its results back from its worker"), [])


J = TypeVar("J")
R = TypeVar("R")


def _isolating(items: list[J], attempt: Callable[[list[J]], list[R]], fail: Callable[[J, Exception], R]) -> list[R]:
    """`attempt(items)`; where it raises, the items again in halves, down to the one at fault: `fail(item, exc)`."""
    try:
        return attempt(items)
    except Exception as exc:
        if len(items) == 1:
            return [fail(items[0], exc)]
        half = len(items) // 2
        return _isolating(items[:half], attempt, fail) + _isolating(items[half:], attempt, fail)


def _counted(outcomes: Iterator[_Outcome], total: int, progress: Progress | None) -> Iterator[_Outcome]:
    for done, outcome in enumerate(outcomes, 1):
        if progress:
            progress(done, total, outcome.result.row.run)
        yield outcome


def _analyze(batch: list[_Job]) -> list[_Outcome]:
    """Load and analyse a batch of runs (in a worker); their full frames are written out and dropped here.
    Whatever goes wrong with one run (a bug included) becomes that run's error row, never the batch's."""
    directory = batch[0].dataset_dir
    if directory is not None:
        clear_batch(directory, part_name(batch[0].index))
    samples = Samples(directory, part_name(batch[0].index)) if directory else None

    def load(jobs: list[_Job]) -> list[RunFiles | Exception]:  # again for a half of the batch after a fault
        if samples is not None:
            samples.forget([j.run.name for j in jobs])
        return _load(jobs, samples.add if samples is not None else None)

    runs = _isolating(batch, load, lambda job, exc: exc)
    for job, run in zip(batch, runs, strict=True):
        if samples is not None:  # a run keeps the samples of the capture it uses, and a failed one none
            samples.keep(job.run.name, run.gpu.path if isinstance(run, RunFiles) and run.gpu else None)
    failed = samples.failures if samples is not None else {}  # runs whose file of their own was not written
    if samples is not None:
        samples.forget(list(failed))
    loaded = [(j.run.name, run) for j, run in zip(batch, runs, strict=True) if isinstance(run, RunFiles)]
    loaded = [(name, run) for name, run in loaded if name not in failed]
    # the batch's Parquet files are written while the figures are computed (the writer releases the GIL)
    with ThreadPoolExecutor(1) as writer:
        written = (
            writer.submit(write_batch, directory, part_name(batch[0].index), loaded, samples)
            if samples and directory
            else None
        )
        prepared = prepared_facts(runs)  # a group of runs at a time, each run's let go once it is analysed
        outcomes = [_analyze_one(job, run, facts) for job, run, facts in zip(batch, runs, prepared, strict=True)]
        batch_failure = written.exception() if written is not None else None
        for i, (job, run) in enumerate(zip(batch, runs, strict=True)):
            exc = failed.get(job.run.name) or batch_failure
            if isinstance(run, RunFiles) and isinstance(exc, Exception):
                outcomes[i] = _Outcome(error_result(job.run.name, job.run.path, exc, "writing its data"), [])
    return outcomes


def _load(batch: list[_Job], samples: SamplesSink | None) -> list[RunFiles | Exception]:
    first = batch[0]
    runs = [j.run for j in batch]
    return list(load_many(runs, year=first.year, utc_offset_s=first.utc_offset_s, fmt=first.fmt, samples=samples))


def _analyze_one(job: _Job, run: RunFiles | Exception, facts: Prepared | None) -> _Outcome:
    if isinstance(run, Exception):
        return _Outcome(error_result(job.run.name, job.run.path, run, "loading it"), [])
    try:
        return _Outcome(analyze_run(run, period_s=job.period_s, gpus=job.gpus, prepared=facts), run.unreadable)
    except Exception as exc:
        return _Outcome(error_result(job.run.name, job.run.path, exc, "analysing it"), run.unreadable)


def _order(result: RunResult) -> tuple[Any, ...]:
    """Smallest model first, then batch size; unlabelled runs last, by name."""
    row = result.row
    size = (row.layers, row.hidden or 10**6) if row.layers else (10**6, 10**6)
    return (*size, row.batch_size or 10**6, row.run)
