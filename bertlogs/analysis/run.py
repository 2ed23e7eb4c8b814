"""One run's figures: the training window on one clock, then time-weighted GPU figures over it. Each step is
a small function over typed values (`log`, `samples`, `figures`); `analyze_run` composes them."""

from __future__ import annotations

import traceback as tb
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bertlogs import facts as F
from bertlogs.analysis import figures, log, samples
from bertlogs.analysis.samples import Capture, Series
from bertlogs.columns import Row, Status, check
from bertlogs.errors import BertlogsError, one_line
from bertlogs.runs import LoadFault, RunFiles, labels, whole

# Points kept per run for plots and sparklines: bounded, however long the capture.
TRACE_POINTS = 600
Reason = tuple[Status, str]  # why a run is not ok: its status and the reason (also a warning)


@dataclass(slots=True)
class RunResult:
    """A run's summary row, plus what the plots need."""

    row: Row
    # the run's GPUs per sample (power and memory summed, utilisation averaged), bucketed to TRACE_POINTS
    trace: dict[str, Series] = field(default_factory=dict)
    window: figures.Window | None = None
    gpus: list[int] = field(default_factory=list)
    unclocked: bool = False  # the capture had no clock (times were rebuilt, or figures skipped)
    period_s: float | None = None  # the capture's median sampling period, when it has a clock
    traceback: str | None = None  # status error from a bug: where it happened (for --debug; not in the summary)


def error_result(name: str, path: Path, exc: Exception, doing: str) -> RunResult:
    """The row of a run that could not be analysed because of `exc`: one line, `path[:line]: reason`."""
    if isinstance(exc, (BertlogsError, LoadFault)):
        reason = str(exc)
    else:
        reason = f"{path}: internal error while {doing} ({one_line(exc)})"
    row = Row(run=name, path=str(path), status=Status.ERROR, warnings=reason)
    return RunResult(row=row, traceback="".join(tb.format_exception(exc)))


def analyze_run(
    run: RunFiles,
    *,
    period_s: float | None = None,
    gpus: list[int] | None = None,
    prepared: log.Prepared | None = None,
) -> RunResult:
    """Figures of one run. Problems become warnings and a status, never exceptions. `prepared`: its facts,
    as `prepared_facts` converted them with other runs' (else they are converted here)."""
    warnings, reasons = list(run.warnings), list[Reason]()
    if prepared is not None:
        warnings += prepared.warnings
        facts = prepared.facts
    else:
        facts = log.log_facts(run.log, run.records, warnings)
    last = log.last_values(facts)
    row = Row(run=run.name, path=str(run.path), **labels(run, last))
    readings, speed = _log_figures(row, run, facts, last, reasons)
    path = str(run.gpu.path) if run.gpu is not None else str(run.path)
    capture = samples.capture(path, run.gpu.readings if run.gpu is not None else None, period_s, warnings)
    every = samples.per_sample(capture) if capture is not None else None
    period, jitter = samples.period(every) if every is not None else (None, None)
    window = _window(row, facts, readings, speed, every, period or 0.0, warnings)
    used, mine = list[int](), every
    if capture is None:
        reasons.append((Status.PARTIAL, "no GPU capture"))
    elif window is not None and every is not None:
        row.sample_period_s, row.sample_jitter_s = period, jitter
        chosen = gpus or list(run.meta.gpus) or None
        used, mine = _gpu_figures(row, capture, every, window, period or 0.0, chosen, warnings, reasons)
    if (unfinished := _unfinished(run, facts, None if capture is None or capture.unclocked else every)) is not None:
        reasons.append((Status.PARTIAL, unfinished))
    _status(row, run, log.errors(facts), reasons, warnings)
    check(row)
    unclocked = run.gpu is not None and run.gpu.readings is not None and run.gpu.readings.unclocked
    trace = samples.trace(mine, TRACE_POINTS)
    return RunResult(row, trace, window, used, unclocked, period if capture is not None and not unclocked else None)


def prepared_facts(runs: list[RunFiles | Exception]) -> Iterator[log.Prepared | None]:
    """For `analyze_run`, each run's facts converted with other runs' (see `log.prepared`), as they are asked
    for; None for a run that failed to load."""
    return log.prepared([(run.log, run.records) if isinstance(run, RunFiles) else None for run in runs])


def _log_figures(
    row: Row, run: RunFiles, facts: log.Facts, last: log.Last, reasons: list[Reason]
) -> tuple[log.RateReadings, log.Throughput | None]:
    """The log's config, evaluation and throughput into the row; its throughput readings and their figures."""
    row.num_examples = whole(last.get((F.CONFIG, F.NUM_EXAMPLES)))
    row.num_steps = whole(last.get((F.CONFIG, F.NUM_STEPS)))
    row.batch_size = row.batch_size or whole(last.get((F.CONFIG, F.BATCH_SIZE)))
    evaluation = log.last_evaluation(facts, run.eval_file)
    row.eval_accuracy, row.eval_loss, row.eval_batch_loss = evaluation.accuracy, evaluation.loss, evaluation.batch_loss
    row.final_step_loss = last.get((F.LOSS, F.FINAL_STEP_LOSS))
    row.train_loss_mean = last.get((F.LOSS, F.TRAIN_LOSS_MEAN))
    readings, impossible = log.rates(facts, row.batch_size)
    if not impossible.is_empty():
        line, key, bad = impossible.select("line", "key", "value").row(0)
        where = f"{run.log.path if run.log is not None else run.path}:{line}"
        reasons.append((Status.PARTIAL, samples.excluded_note(impossible.height, "rate", where, f"{key} {bad:g}")))
    speed = log.throughput(readings)
    row.rate_readings = speed.readings if speed is not None else 0
    if speed is None:
        reasons.append((Status.ERROR, "no examples/sec or global_step/sec readings in the log"))
        return readings, None
    row.examples_per_s_mean, row.examples_per_s = speed.examples_per_s_mean, speed.examples_per_s
    if row.num_examples:
        row.epoch_s_seed = row.num_examples / speed.examples_per_s_mean
    if row.num_steps and row.batch_size and row.num_examples:
        row.epochs = row.num_steps * row.batch_size / row.num_examples
    return readings, speed


def _window(
    row: Row,
    facts: log.Facts,
    readings: log.RateReadings,
    speed: log.Throughput | None,
    every: samples.Samples | None,
    period_s: float,
    warnings: list[str],
) -> figures.Window | None:
    """Place the training window on the capture's clock: the log's clock when it has one and the capture
    overlaps it, else the length from the rate readings starting at the first sustained GPU activity."""
    window = log.log_window(facts, readings, row.num_steps)
    if window is not None and every is not None and not _overlaps(every, window):
        warnings.append(
            "log clock and GPU capture do not overlap (check --utc-offset); window placed "
            "from the utilisation trace instead"
        )
        window = None
    length = row.num_steps * speed.s_per_step if speed is not None and row.num_steps and row.epochs else None
    if window is not None:
        row.epoch_s_method = "wall clock of the log over the training window"
        clock = "event files' step wall times" if readings.walled else "log clock"
        row.window_method = f"{clock}: from the start of the steps the first reading covers to the last step"
    elif length is not None:
        row.epoch_s_method = "num_steps x mean seconds per step from the rate readings (log has no clock)"
        if every is not None:
            start = figures.activity_start(every, period_s)
            window = (start, start + length)
            row.window_method = "length from the rate readings, start at the first sustained GPU activity"
    row.train_s = window[1] - window[0] if window is not None else length
    if row.train_s is not None and row.epochs:
        row.epoch_s = row.train_s / row.epochs
    return window


def _gpu_figures(
    row: Row,
    capture: Capture,
    every: samples.Samples,
    window: figures.Window,
    period_s: float,
    chosen: list[int] | None,
    warnings: list[str],
    reasons: list[Reason],
) -> tuple[list[int], samples.Samples]:
    """The GPU figures over the window into the row; the GPUs they cover, and their samples (`every`, the
    samples of all GPUs, when they are all the run's)."""
    means = figures.per_gpu_means(capture, window, period_s)
    used = figures.choose_gpus(means, chosen, warnings)
    if not used:
        reasons.append((Status.PARTIAL, "none of the run's GPUs is in the capture"))
        return [], every
    mine = every if sorted(used) == sorted(capture.gpus) else samples.per_sample(capture, used)
    row.gpus = ",".join(str(g) for g in used)
    if (covered := figures.coverage(means, used, window)) < figures.MIN_COVERAGE:
        warnings.append(f"GPU capture covers only {covered:.0%} of the training window")
        reasons.append((Status.PARTIAL, "capture does not cover the training window"))
    gauges = figures.run_means(means, used)
    row.power_w, row.memory_mib, row.util_pct = gauges.power_w, gauges.memory_mib, gauges.util_pct
    top = figures.maxima(mine, window, period_s)
    row.gpu_samples, row.power_w_max, row.memory_mib_max = top.samples, top.power_w_max, top.memory_mib_max
    energy_j, row.energy_method = figures.energy_j(capture, used, window, row.power_w)
    if energy_j is not None and row.epochs:
        row.energy_j_per_epoch = energy_j / row.epochs
    if n := figures.in_window(capture.rows.excluded, window, period_s, used):
        reasons.append((Status.PARTIAL, f"{n} reading(s) in the training window were impossible and left out"))
    return used, mine


def _overlaps(every: samples.Samples, window: figures.Window) -> bool:
    return len(every) > 0 and every.time[0] < window[1] and every.time[-1] > window[0]


def _unfinished(run: RunFiles, facts: log.Facts, every: samples.Samples | None) -> str | None:
    """meta.json still says running and has no end: the collector died (SIGKILL, crash) or is still at work."""
    if run.meta.status != "running" or run.meta.end_unix_s is not None:
        return None

    def reach(times: np.ndarray) -> str:
        stamped = times[~np.isnan(times)]
        if not len(stamped):
            return "nothing stamped"
        start = run.meta.start_unix_s if run.meta.start_unix_s is not None else stamped.min()
        return f"{stamped.max() - start:.0f} s"

    capture = reach(every.time if every is not None else np.empty(0))
    return (
        "collection unfinished (collector killed, or still running): meta.json says running and has no "
        f"end; after the start, the log reaches {reach(facts.time)} and the GPU capture {capture}"
    )


def _status(row: Row, run: RunFiles, failures: list[str], reasons: list[Reason], warnings: list[str]) -> None:
    """The status (the worst of the reasons; failed when training failed) and the warnings, reasons first."""
    exit_code = run.meta.exit_code
    if run.errors:
        row.status, row.warnings = Status.ERROR, "; ".join(run.errors + warnings)
        return
    if any(status == Status.ERROR for status, _ in reasons):
        row.status = Status.ERROR
    elif failures or (exit_code is not None and exit_code != 0) or run.meta.status == "failed":
        row.status = Status.FAILED
        warnings.insert(0, f"training failed ({', '.join(failures) if failures else f'exit code {exit_code}'})")
    else:
        row.status = Status.PARTIAL if reasons or row.eval_accuracy is None else Status.OK
    if row.eval_accuracy is None and row.status != Status.ERROR:
        evaluated = row.eval_loss is not None or row.eval_batch_loss is not None
        warnings.append("the evaluation reports no eval_accuracy" if evaluated else "no evaluation results")
    warnings[:0] = [reason for _, reason in reasons]
    if run.meta.status == "interrupted":
        warnings.insert(0, "collection was interrupted")
    row.warnings = "; ".join(warnings)
