"""One run's figures: the training window on one clock, then time-weighted GPU figures over it."""

from __future__ import annotations

import traceback as tb
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from bertlogs import metrics
from bertlogs.errors import BertlogsError, one_line
from bertlogs.facts import STEPS_COVERED
from bertlogs.runs import LoadFault, RunFiles, labels, whole
from bertlogs.schema import FACT_SCHEMA, conform

# The summary's columns, in order, and how each is computed (the README's reference table says the same).
COLUMN_HELP: dict[str, str] = {
    "run": "run directory name",
    "model": "BERT size: meta.json label, else from the log's variable shapes, else the directory name",
    "layers": "encoder layers L, counted in the log's Trainable Variables listing",
    "hidden": "hidden size H, from the word-embedding shape",
    "batch_size": "training batch size",
    "num_examples": "training examples (log: Num examples)",
    "num_steps": "training steps (log: Num steps)",
    "epochs": "num_steps x batch_size / num_examples",
    "eval_accuracy": "last evaluation's eval_accuracy (0..1)",
    "eval_loss": "last evaluation's eval_loss (mean over examples)",
    "eval_batch_loss": "last evaluation's 'loss' key (mean of per-batch means; the seed's 'Train Loss')",
    "final_step_loss": "'Loss for final step' (one mini-batch: noisy)",
    "rate_readings": "examples/sec readings in the log (each covers 100 steps)",
    "examples_per_s_mean": "arithmetic mean of the examples/sec readings (biased high)",
    "examples_per_s": "harmonic mean of the readings = total examples / total time",
    "epoch_s_seed": "num_examples / examples_per_s_mean: the seed's method, for comparison",
    "epoch_s": "training window length / epochs (see epoch_s_method)",
    "epoch_s_method": "where the training window's length came from",
    "train_s": "training window length, seconds",
    "window_method": "how the window was placed on the telemetry's clock",
    "gpus": "GPU indices the figures cover",
    "gpu_samples": "samples inside the training window",
    "sample_period_s": "median interval between samples",
    "sample_jitter_s": "standard deviation of the intervals between samples",
    "power_w": "power, time-weighted over the training window, summed over the run's GPUs",
    "power_w_max": "highest per-sample power (summed over GPUs) in the window",
    "energy_j_per_epoch": "energy over the window / epochs (see energy_method)",
    "energy_method": "NVML energy counter difference, else time-weighted power x window length",
    "memory_mib": "memory used, time-weighted over the window, summed over GPUs",
    "memory_mib_max": "highest per-sample memory used (summed over GPUs) in the window",
    "util_pct": "GPU utilisation, time-weighted over the window, mean over the run's GPUs",
    "status": "ok / partial (figures missing) / failed (training failed) / error (not analysable)",
    "warnings": "what was odd or assumed, '; '-separated",
    "path": "the run directory, as reached from the path given (a file given alone: that file)",
}
SUMMARY_COLUMNS = list(COLUMN_HELP)
_INTS = ["layers", "hidden", "batch_size", "num_examples", "num_steps", "rate_readings", "gpu_samples"]
_STRINGS = ["run", "model", "epoch_s_method", "window_method", "gpus", "energy_method", "status", "warnings", "path"]
SUMMARY_DTYPES: dict[str, pl.DataType] = {
    c: pl.Int64() if c in _INTS else pl.String() if c in _STRINGS else pl.Float64() for c in SUMMARY_COLUMNS
}
# Points kept per run for plots and sparklines: bounded, however long the capture.
TRACE_POINTS = 600
# A GPU counts as the run's when its mean utilisation in the window is at least this share of the busiest's.
ACTIVE_SHARE = 0.10


@dataclass
class RunResult:
    """A run's summary row, plus what the plots need."""

    row: dict[str, Any]
    # the run's GPUs over time (power and memory summed, utilisation averaged), bucketed to TRACE_POINTS
    trace: pl.DataFrame | None = None
    window: tuple[float, float] | None = None
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
    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS)
    row.update(run=name, path=str(path), status="error", warnings=reason)
    return RunResult(row=row, traceback="".join(tb.format_exception(exc)))


def analyze_run(run: RunFiles, *, period_s: float | None = None, gpus: list[int] | None = None) -> RunResult:
    """Figures of one run. Problems become warnings and a status, never exceptions."""
    warnings = list(run.warnings)
    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS)
    row["run"], row["path"] = run.name, str(run.path)
    facts = _facts(run, warnings)
    last = _last_values(facts)
    row.update(labels(run, last))
    status_reasons: list[str] = []

    cfg = {k: last.get(("config", k)) for k in ("num_examples", "batch_size", "num_steps")}
    row["num_examples"] = whole(cfg["num_examples"])
    row["num_steps"] = whole(cfg["num_steps"])
    if row["batch_size"] is None:
        row["batch_size"] = whole(cfg["batch_size"])
    _eval_figures(run, facts, row)
    row["final_step_loss"] = last.get(("loss", "final_step_loss"))

    rates = _rates(facts, row["batch_size"], run, warnings, status_reasons)
    row["rate_readings"] = len(rates)
    window_len = None
    if len(rates):
        ex = rates["examples_per_s"].to_list()
        row["examples_per_s_mean"] = sum(ex) / len(ex)
        row["examples_per_s"] = metrics.harmonic_mean(ex)
        if row["num_examples"]:
            row["epoch_s_seed"] = row["num_examples"] / row["examples_per_s_mean"]
        if row["num_steps"] and row["batch_size"] and row["num_examples"]:
            row["epochs"] = row["num_steps"] * row["batch_size"] / row["num_examples"]
            steps_per_s = rates["steps_per_s"].to_list()
            window_len = row["num_steps"] * sum(1.0 / r for r in steps_per_s) / len(steps_per_s)
    else:
        status_reasons.append("error: no examples/sec or global_step/sec readings in the log")

    log_window = _log_clock_window(facts, rates, row["num_steps"])
    unclocked = run.gpu is not None and run.gpu.frame["time"].is_null().all()
    samples, excluded = _samples(run, unclocked, period_s, warnings)
    period, jitter = _period(samples) if samples is not None else (None, None)
    window, method = None, None
    if log_window is not None:
        window, method = log_window, "log clock: step 1 (first reading minus its 100 steps) to last step"
        if samples is not None and samples["time"].is_not_null().all() and not _overlaps(samples, window):
            warnings.append(
                "log clock and GPU capture do not overlap (check --utc-offset); window placed "
                "from the utilisation trace instead"
            )
            window = None
    if window is not None:
        row["epoch_s_method"] = "wall clock of the log over the training window"
    elif window_len is not None:
        row["epoch_s_method"] = "num_steps x mean seconds per step from the rate readings (log has no clock)"
        if samples is not None:
            start = _activity_start(samples, period or 0.0)
            window = (start, start + window_len)
            method = "length from the rate readings, start at the first sustained GPU activity"
    if window is not None:
        row["train_s"] = window[1] - window[0]
    elif window_len is not None:
        row["train_s"] = window_len
    if row["train_s"] is not None and row["epochs"]:
        row["epoch_s"] = row["train_s"] / row["epochs"]
    row["window_method"] = method

    used: list[int] = []
    if samples is None:
        status_reasons.append("partial: no GPU capture")
    elif window is not None:
        row["sample_period_s"], row["sample_jitter_s"] = period, jitter
        used = _gpu_figures(samples, period or 0.0, window, row, gpus or _meta_gpus(run), warnings, status_reasons)
        if excluded is not None and not excluded.is_empty() and (n := _in_window(excluded, window, period or 0, used)):
            status_reasons.append(f"partial: {n} reading(s) in the training window were impossible and left out")
    if (unfinished := _unfinished(run, facts, None if unclocked else samples)) is not None:
        status_reasons.append(unfinished)

    _status(run, facts, row, status_reasons, warnings)
    row["warnings"] = "; ".join(warnings)
    check_row(row)
    clocked_period = period if samples is not None and not unclocked else None
    return RunResult(
        row=row, trace=trace_of(samples, used), window=window, gpus=used, unclocked=unclocked, period_s=clocked_period
    )


def trace_of(samples: pl.DataFrame | None, gpus: list[int], points: int = TRACE_POINTS) -> pl.DataFrame | None:
    """Power and memory summed and utilisation averaged over `gpus` per sample, then averaged into at most
    `points` equal time buckets."""
    if samples is None or samples.is_empty():
        return None
    mine = samples.lazy().filter(pl.col("gpu").is_in(gpus)) if gpus else samples.lazy()
    if len(gpus) > 1 or (not gpus and samples["gpu"].n_unique() > 1):
        total = lambda c: pl.when(pl.col(c).is_not_null().any()).then(pl.col(c).sum())  # noqa: E731 - all missing: null
        mine = mine.group_by("time").agg(total("power_w"), total("memory_used_mib"), pl.col("util_pct").mean())
        mine = mine.sort("time")
    t = pl.col("time")
    span = t.last() - t.first()
    # bucket k: the samples in [t0 + k span / points, t0 + (k + 1) span / points); empty buckets are left out
    bucket = ((t - t.first()) / pl.when(span > 0).then(span).otherwise(1.0) * points).floor().clip(0, points - 1)
    columns = ("time", "power_w", "memory_used_mib", "util_pct")
    trace = mine.group_by(bucket.alias("bucket"), maintain_order=True).agg(pl.col(c).mean() for c in columns)
    return trace.select(pl.col(c).cast(pl.Float64) for c in columns).collect()


def _facts(run: RunFiles, warnings: list[str]) -> pl.DataFrame:
    if run.log is None:
        return conform(pl.DataFrame(), FACT_SCHEMA)
    facts = run.log.frame
    workers = facts["worker"].drop_nulls().unique().sort()
    if len(workers) > 1:
        warnings.append(f"{len(workers)} workers in the log; figures use {workers[0]}")
        facts = facts.filter(pl.col("worker").is_null() | (pl.col("worker") == workers[0]))
    return facts


def _last_values(facts: pl.DataFrame) -> dict[tuple[str, str], float]:
    """The last value of each (kind, key) in the log (a few hundred facts: a dict is the cheap lookup)."""
    if facts.is_empty():
        return {}
    return {(kind, key): value for kind, key, value in facts.select("kind", "key", "value").iter_rows()}


def check_row(row: dict[str, Any]) -> None:
    """Raises TypeError if a value would not fit its summary column (a bug: the run becomes an error row,
    the summary of the others is still made)."""
    for column, dtype in SUMMARY_DTYPES.items():
        value = row[column]
        ok = (
            value is None
            or (dtype == pl.Int64 and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63)
            or (dtype == pl.Float64 and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (dtype == pl.String and isinstance(value, str))
        )
        if not ok:
            raise TypeError(f"summary column {column} ({dtype}) cannot hold {value!r}")


def _eval_figures(run: RunFiles, facts: pl.DataFrame, row: dict[str, Any]) -> None:
    """The last evaluation: the log's results block, else its `Saving dict` line, else eval_results.txt."""
    for source in (
        facts.filter(pl.col("kind") == "eval"),
        facts.filter(pl.col("kind") == "eval_dict"),
        run.eval_file.frame if run.eval_file is not None else None,
    ):
        if source is None or source.is_empty():
            continue
        last_step = source["step"].max()
        block = source.filter(pl.col("step") == last_step) if last_step is not None else source
        values = dict(zip(block["key"], block["value"], strict=True))
        row["eval_accuracy"] = values.get("eval_accuracy")
        row["eval_loss"] = values.get("eval_loss")
        row["eval_batch_loss"] = values.get("loss")
        return


def _rates(
    facts: pl.DataFrame, batch_size: object, run: RunFiles, warnings: list[str], reasons: list[str]
) -> pl.DataFrame:
    """One row per reading: step, time, steps_per_s, examples_per_s (one derived from the other if missing).

    A rate that is not a positive finite number is left out (with a warning; the run is then partial)."""
    bs = float(batch_size) if isinstance(batch_size, (int, float)) else None
    value = pl.col("value")
    rate, sane = pl.col("kind") == "rate", value.is_finite() & (value > 0)
    impossible = facts.filter(rate & ~sane)
    if not impossible.is_empty():
        line, key, bad = impossible.select("line", "key", "value").row(0)
        where = f"{run.log.path if run.log is not None else run.path}:{line}"
        reasons.append(f"partial: {_excluded_note(impossible.height, 'rate', where, f'{key} {bad:g}')}")
    gs = value.filter(pl.col("key") == "global_step/sec").first()
    ex = value.filter(pl.col("key") == "examples/sec").first()
    covered = value.filter(pl.col("key") == STEPS_COVERED).max()
    readings = (
        facts.lazy()
        .filter(rate, sane)
        .group_by("step")
        .agg(pl.col("time").max(), gs.alias("gs"), ex.alias("ex"), covered.alias("covered"))
        .select(
            "step",
            "time",
            "covered",
            steps_per_s=pl.coalesce("gs", pl.col("ex") / bs) if bs else pl.col("gs"),
            examples_per_s=pl.coalesce("ex", pl.col("gs") * bs) if bs else pl.col("ex"),
        )
        .filter(pl.col("steps_per_s") > 0, pl.col("examples_per_s").is_not_null())
        .sort("step")
    )
    return readings.collect(engine="in-memory")


def _log_clock_window(facts: pl.DataFrame, rates: pl.DataFrame, num_steps: object) -> tuple[float, float] | None:
    if rates.is_empty() or rates["time"].is_null().any() or rates["covered"][0] is None:
        return None
    first = rates.row(0, named=True)
    start = first["time"] - first["covered"] / first["steps_per_s"]
    saves = facts.filter((pl.col("kind") == "checkpoint") & pl.col("time").is_not_null())
    final = saves.filter(pl.col("value") == float(num_steps)) if isinstance(num_steps, int) else saves.clear()
    if not final.is_empty():
        end = final["time"][-1]
    else:
        last = rates.row(-1, named=True)
        remaining = (num_steps - last["step"]) if isinstance(num_steps, int) else 0
        end = last["time"] + max(remaining, 0) / last["steps_per_s"]
    return (start, end) if end > start else None


def _samples(
    run: RunFiles, unclocked: bool, period_s: float | None, warnings: list[str]
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The capture's samples on one clock, sorted, impossible readings left out; and those readings."""
    if run.gpu is None or run.gpu.frame.is_empty():
        return None, None
    samples = run.gpu.frame
    if unclocked:
        if period_s is None:
            warnings.append(f"{run.gpu.path}: capture has no clock and no --period is known; figures skipped")
            return None, None
        warnings.append(f"{run.gpu.path}: capture has no clock; times rebuilt from a {period_s:.3f} s period")
        samples = samples.with_columns(time=pl.col("sample").cast(pl.Float64) * period_s)
    elif samples["time"].is_null().any():
        samples = samples.filter(pl.col("time").is_not_null())
    samples, excluded = _plausible(samples)
    if not excluded.is_empty():
        sample, gpu, reading, value = excluded.select("sample", "gpu", "reading", "value").row(0)
        where = f"{run.gpu.path} sample {sample} (GPU {gpu})"
        warnings.append(_excluded_note(excluded.height, "GPU", where, f"{reading} {value:g}"))
    return (samples if samples["time"].is_sorted() else samples.sort("time", "gpu")), excluded


# Readings outside their physical range (besides NaN and inf), per column the figures use.
_IMPOSSIBLE: dict[str, pl.Expr] = {
    "power_w": pl.col("power_w") < 0,
    "energy_mj": pl.col("energy_mj") < 0,
    "memory_used_mib": (pl.col("memory_used_mib") < 0) | (pl.col("memory_used_mib") > pl.col("memory_total_mib")),
    "util_pct": (pl.col("util_pct") < 0) | (pl.col("util_pct") > 100),
}


def _plausible(samples: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The samples with impossible readings set to null and samples stamped before an earlier one of the
    same GPU (the clock went backwards) left out; and what was left out (sample, gpu, time, reading, value),
    in capture order."""
    t = pl.col("time")
    earlier = t.cum_max().shift(1)
    went_back = ~t.is_finite() | (t < (earlier.over("gpu") if samples["gpu"].n_unique() > 1 else earlier))
    bad = {c: (wrong | ~pl.col(c).is_finite()).fill_null(False) for c, wrong in _IMPOSSIBLE.items()}
    bad["time"] = went_back.fill_null(False)
    if not samples.select(pl.any_horizontal(*bad.values()).any()).item():  # the usual case: one cheap pass, no copy
        return samples, samples.clear().select("sample", "gpu", "time")
    excluded = pl.concat(
        [
            samples.lazy().filter(wrong).select("sample", "gpu", "time", reading=pl.lit(c), value=pl.col(c).cast(float))
            for c, wrong in bad.items()
        ]
    ).sort("sample", "gpu", maintain_order=True)
    found = excluded.collect()
    kept = samples.lazy().filter(~bad["time"])
    return kept.with_columns(pl.when(~bad[c]).then(pl.col(c)).alias(c) for c in _IMPOSSIBLE).collect(), found


def _excluded_note(count: int, what: str, first_at: str, reading: str) -> str:
    first = f"first at {first_at}: {reading}"
    return f"{count} {what} reading(s) outside their physical range left out of the figures, {first}"


def _in_window(excluded: pl.DataFrame, window: tuple[float, float], period: float, gpus: list[int]) -> int:
    """How many of the left-out readings lie in the training window, on the run's GPUs."""
    t = pl.col("time")
    return excluded.filter(t.is_finite(), t > window[0], t <= window[1] + period, pl.col("gpu").is_in(gpus)).height


def _unfinished(run: RunFiles, facts: pl.DataFrame, samples: pl.DataFrame | None) -> str | None:
    """meta.json still says running and has no end: the collector died (SIGKILL, crash) or is still at work."""
    if run.meta.status != "running" or run.meta.end_unix_s is not None:
        return None

    def reach(times: pl.Series | None) -> str:
        stamped = times.drop_nulls() if times is not None else pl.Series([], dtype=pl.Float64)
        if stamped.is_empty():
            return "nothing stamped"
        start = run.meta.start_unix_s if run.meta.start_unix_s is not None else stamped.min()
        return f"{stamped.max() - start:.0f} s"  # type: ignore[operator]

    capture = reach(samples["time"] if samples is not None else None)
    return (
        "partial: collection unfinished (collector killed, or still running): meta.json says running and has no "
        f"end; after the start, the log reaches {reach(facts['time'])} and the GPU capture {capture}"
    )


def _overlaps(samples: pl.DataFrame, window: tuple[float, float]) -> bool:
    first, last = samples["time"].first(), samples["time"].last()
    return isinstance(first, float) and isinstance(last, float) and first < window[1] and last > window[0]


def _period(samples: pl.DataFrame) -> tuple[float | None, float | None]:
    """Median and standard deviation of the intervals between sample times (several GPUs share a time)."""
    dt = pl.col("time").diff()
    intervals = dt.filter(dt > 0)
    median, std = samples.select(intervals.median(), intervals.std(ddof=0).alias("std")).row(0)
    return median, std


def _activity_start(samples: pl.DataFrame, period: float) -> float:
    """Start of the interval of the first of two consecutive busy samples (max over GPUs).

    Busy: utilisation (or, without it, power) at least half of its 90th percentile.
    """
    signal = "util_pct" if samples["util_pct"].is_not_null().any() else "power_w"
    per_time = samples.lazy()
    if samples["gpu"].n_unique() > 1:
        per_time = per_time.group_by("time").agg(pl.col(signal).max()).sort("time")
    value = pl.col(signal).fill_null(0)
    high = value.quantile(0.9, "linear")
    busy = (value >= 0.5 * high) & (high > 0)
    both = busy & busy.shift(-1).fill_null(False)
    found = per_time.select(
        first=metrics.interval_start(pl.col("time"), period).filter(both).first(), fallback=pl.col("time").first()
    )
    first, fallback = found.collect().row(0)
    return float(first if first is not None else fallback)


def _meta_gpus(run: RunFiles) -> list[int] | None:
    return list(run.meta.gpus) or None


def _gpu_figures(
    samples: pl.DataFrame,
    period: float,
    window: tuple[float, float],
    row: dict[str, Any],
    chosen: list[int] | None,
    warnings: list[str],
    reasons: list[str],
) -> list[int]:
    start, end = window
    weight, gauges = pl.col("weight"), ("power_w", "memory_used_mib", "util_pct")
    figures = [
        *[metrics.weighted_mean(pl.col(c), weight).alias(c) for c in gauges],
        weight.filter(pl.col("power_w").is_not_null()).sum().alias("covered_s"),
    ]
    frames = samples.partition_by("gpu", maintain_order=True) if samples["gpu"].n_unique() > 1 else [samples]
    per_gpu = {
        int(f["gpu"][0]): f.with_columns(weight=metrics.overlap_s(pl.col("time"), start, end, period))
        .select(figures)
        .row(0, named=True)
        for f in frames
    }
    if chosen is not None:
        missing = [g for g in chosen if g not in per_gpu]
        if missing:
            warnings.append(f"GPU(s) {missing} not in the capture")
        used = [g for g in chosen if g in per_gpu]
    else:
        utils = {g: u for g, f in per_gpu.items() if (u := f["util_pct"]) is not None}
        top = max(utils.values(), default=None)
        used = [g for g, u in utils.items() if top is not None and u >= ACTIVE_SHARE * top] or list(per_gpu)
        if len(used) < len(per_gpu):
            warnings.append(f"idle GPU(s) {sorted(set(per_gpu) - set(used))} left out of the figures")
    if not used:
        reasons.append("partial: none of the run's GPUs is in the capture")
        return []
    row["gpus"] = ",".join(str(g) for g in used)
    coverage = min(per_gpu[g]["covered_s"] for g in used) / max(end - start, 1e-12)
    if coverage < 0.9:
        warnings.append(f"GPU capture covers only {coverage:.0%} of the training window")
        reasons.append("partial: capture does not cover the training window")

    def means(column: str) -> list[float] | None:
        found = [per_gpu[g][column] for g in used]
        return found if all(m is not None for m in found) else None

    power, memory, util = means("power_w"), means("memory_used_mib"), means("util_pct")
    row["power_w"] = sum(power) if power else None
    row["memory_mib"] = sum(memory) if memory else None
    row["util_pct"] = sum(util) / len(util) if util else None
    mine = samples.lazy().filter(pl.col("gpu").is_in(used)) if len(used) < len(per_gpu) else samples.lazy()
    in_window = mine.filter((pl.col("time") > start) & (pl.col("time") <= end + period))
    if len(used) > 1:  # the run's power and memory at each sample: summed over its GPUs
        in_window = in_window.group_by("sample").agg(pl.col("power_w").sum(), pl.col("memory_used_mib").sum())
    row["gpu_samples"], row["power_w_max"], row["memory_mib_max"] = (
        in_window.select(pl.col("sample").n_unique(), pl.col("power_w").max(), pl.col("memory_used_mib").max())
        .collect()
        .row(0)
    )
    energy = [_energy_mj(samples, g, window) for g in used]
    energy_j = None
    if all(e is not None for e in energy):
        energy_j = sum(e for e in energy if e is not None) / 1000.0
        row["energy_method"] = "NVML total-energy counter difference over the window"
    elif row["power_w"] is not None:
        energy_j = row["power_w"] * (end - start)
        row["energy_method"] = "time-weighted power x window length"
    if energy_j is not None and row["epochs"]:
        row["energy_j_per_epoch"] = energy_j / row["epochs"]
    return used


def _energy_mj(samples: pl.DataFrame, gpu: int, window: tuple[float, float]) -> float | None:
    """The GPU's energy counter difference over the window, when the capture has the counter."""
    if samples["energy_mj"].is_null().all():
        return None
    counter = samples.filter(pl.col("gpu") == gpu).select("time", "energy_mj").drop_nulls()
    return metrics.counter_delta(counter["time"].to_list(), counter["energy_mj"].to_list(), *window)


def _status(run: RunFiles, facts: pl.DataFrame, row: dict[str, Any], reasons: list[str], warnings: list[str]) -> None:
    errors = facts.filter(pl.col("kind") == "error")["key"].unique().to_list() if not facts.is_empty() else []
    exit_code = run.meta.exit_code
    if run.errors:
        row["status"] = "error"
        warnings[:0] = run.errors
        return
    if any(r.startswith("error") for r in reasons):
        row["status"] = "error"
    elif errors or (exit_code is not None and exit_code != 0) or run.meta.status == "failed":
        row["status"] = "failed"
        what = ", ".join(errors) if errors else f"exit code {exit_code}"
        warnings.insert(0, f"training failed ({what})")
    elif reasons or row["eval_accuracy"] is None:
        row["status"] = "partial"
    else:
        row["status"] = "ok"
    if row["eval_accuracy"] is None and row["status"] != "error":
        warnings.append("no evaluation results")
    warnings[:0] = [r.split(": ", 1)[1] for r in reasons]
    if run.meta.status == "interrupted":
        warnings.insert(0, "collection was interrupted")
