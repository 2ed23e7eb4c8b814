"""What a run's training log says, read only through the fact vocabulary (`bertlogs.facts`): its config,
its last evaluation, its throughput readings and the training window on the log's own clock."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from bertlogs import facts as F
from bertlogs import metrics
from bertlogs.parsers import Parsed
from bertlogs.schema import FACT_SCHEMA, conform

Last = dict[tuple[str, str], float]


def log_facts(log: Parsed | None, records: list[Parsed], warnings: list[str]) -> pl.DataFrame:
    """The facts of the log and of the run's records (a Trainer's state, event files, the model's config); of
    a log written by several workers, the first worker's. Facts that two files both hold (the state's
    log_history and the stdout's dicts) count once: readings are taken per step, evaluations from the last
    step's. Throughput readings stamped with the step's wall time (event files) are the run's readings, the
    best clock it has, when they agree with the run (see `_step_stamped`); the others are then left out."""
    frames = [p.frame for p in ([log] if log is not None else []) + records]
    if not frames:
        return conform(pl.DataFrame(), FACT_SCHEMA)
    facts = pl.concat(frames) if len(frames) > 1 else frames[0]
    if facts.select((pl.col("clock") == F.STEP_WALL_TIME).any()).item():
        facts = _step_stamped(facts, warnings)
    workers = facts["worker"].drop_nulls().unique().sort()
    if len(workers) > 1:
        warnings.append(f"{len(workers)} workers in the log; figures use {workers[0]}")
        facts = facts.filter(pl.col("worker").is_null() | (pl.col("worker") == workers[0]))
    return facts


# Event files whose readings lie further than this from the log's own stamps are another run's (an old attempt)
_SAME_RUN_S = 60.0


def _step_stamped(facts: pl.DataFrame, warnings: list[str]) -> pl.DataFrame:
    """The facts with the event files' readings taking the place of the others', if they agree with the run:
    no step past its num_steps, and, where the log has stamps, within a minute of them. Of a step read by
    several attempts (a restarted run's event files), the newest reading is kept."""
    rate, t = pl.col("kind") == F.RATE, pl.col("time")
    walled = (pl.col("clock") == F.STEP_WALL_TIME).fill_null(False)
    stamped = facts.filter(rate & walled & t.is_finite())
    others = facts.filter(~(rate & walled))
    if stamped.is_empty():
        return others
    steps = others.filter((pl.col("kind") == F.CONFIG) & (pl.col("key") == F.NUM_STEPS))["value"].to_list()
    span = [t.min().alias("first"), t.max().alias("last")]
    clocked = others.filter(t.is_finite() & ~walled).select(span).row(0)
    first, last, top = stamped.select(*span, pl.col("step").max()).row(0)
    too_far = bool(steps) and top is not None and top > steps[-1]
    apart = clocked[0] is not None and (first > clocked[1] + _SAME_RUN_S or last < clocked[0] - _SAME_RUN_S)
    if too_far or apart:
        why = f"reach step {top} of {steps[-1]:.0f}" if too_far else "lie apart from the log's stamps"
        warnings.append(f"event files' readings {why}: another run's, not used")
        return others
    newest = stamped.sort("time").unique(["key", "step"], keep="last", maintain_order=True)
    if newest.height < stamped.height:
        warnings.append("event files of several attempts read the same steps: the newest readings used")
    return pl.concat([others.filter(~rate), newest])


def last_values(facts: pl.DataFrame) -> Last:
    """The last value of each (kind, key) in the log (a few hundred facts: a dict is the cheap lookup)."""
    if facts.is_empty():
        return {}
    return {(kind, key): value for kind, key, value in facts.select("kind", "key", "value").iter_rows()}


@dataclass(frozen=True)
class Evaluation:
    accuracy: float | None = None
    loss: float | None = None
    batch_loss: float | None = None


def last_evaluation(facts: pl.DataFrame, eval_file: Parsed | None) -> Evaluation:
    """The last evaluation: the log's results block, else its saved copy, else eval_results.txt."""
    for source in (
        facts.filter(pl.col("kind") == F.EVAL),
        facts.filter(pl.col("kind") == F.EVAL_SAVED),
        eval_file.frame if eval_file is not None else None,
    ):
        if source is None or source.is_empty():
            continue
        last_step = source["step"].max()
        block = source.filter(pl.col("step") == last_step) if last_step is not None else source
        values = dict(zip(block["key"], block["value"], strict=True))
        return Evaluation(values.get(F.EVAL_ACCURACY), values.get(F.EVAL_LOSS), values.get(F.EVAL_BATCH_LOSS))
    return Evaluation()


def rates(facts: pl.DataFrame, batch_size: int | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per throughput reading: step, time, clock, steps (covered), runtime_s (where stated),
    steps_per_s, examples_per_s (one derived from the other when missing); and the readings left out as
    impossible (not a positive finite number)."""
    value, key = pl.col("value"), pl.col("key")
    rate, sane = pl.col("kind") == F.RATE, value.is_finite() & (value > 0)
    impossible = facts.filter(rate & ~sane & (key != F.STEPS_COVERED))
    first = lambda name: value.filter(key == name).first()  # noqa: E731
    bs = float(batch_size) if batch_size else None
    readings = (
        facts.lazy()
        .filter(rate, sane)
        .group_by("step")
        .agg(
            pl.col("time").max(),
            pl.col("clock").first(),
            first(F.STEPS_PER_S).alias("gs"),
            first(F.EXAMPLES_PER_S).alias("ex"),
            first(F.STEPS_COVERED).alias("steps"),
            first(F.RUNTIME_S).alias("runtime_s"),
        )
        .select(
            "step",
            "time",
            "clock",
            "steps",
            "runtime_s",
            steps_per_s=pl.coalesce("gs", pl.col("ex") / bs) if bs else pl.col("gs"),
            examples_per_s=pl.coalesce("ex", pl.col("gs") * bs) if bs else pl.col("ex"),
        )
        .filter(pl.col("steps_per_s") > 0, pl.col("examples_per_s").is_not_null(), pl.col("steps") > 0)
        .sort("step")
    )
    return readings.collect(engine="in-memory"), impossible


@dataclass(frozen=True)
class Throughput:
    readings: int
    examples_per_s_mean: float  # arithmetic mean of the readings: the seed's (biased) figure
    examples_per_s: float  # total examples / total time: harmonic mean weighted by the steps each covers
    s_per_step: float  # total time / total steps over the readings


def throughput(readings: pl.DataFrame) -> Throughput | None:
    if readings.is_empty():
        return None
    steps = readings["steps"].to_list()
    examples = readings["examples_per_s"].to_list()
    steps_per_s = metrics.harmonic_mean(readings["steps_per_s"].to_list(), steps)
    return Throughput(
        len(examples), sum(examples) / len(examples), metrics.harmonic_mean(examples, steps), 1 / steps_per_s
    )


def log_window(facts: pl.DataFrame, readings: pl.DataFrame, num_steps: int | None) -> tuple[float, float] | None:
    """The training window on the log's clock: from the start of the steps the first reading covers to the
    checkpoint of the last step (else the last reading, extended by the steps left at its rate)."""
    if readings.is_empty() or readings["time"].is_null().any():
        return None
    first = readings.row(0, named=True)
    # the seconds the first reading's steps took: as the producer states them (the Trainer's train_runtime),
    # else from its rate (which the Trainer rounds to 3 decimals)
    start = first["time"] - (first["runtime_s"] or first["steps"] / first["steps_per_s"])
    saves = facts.filter((pl.col("kind") == F.CHECKPOINT) & pl.col("time").is_not_null())
    final = saves.filter(pl.col("value") == float(num_steps)) if num_steps is not None else saves.clear()
    if not final.is_empty():
        end = final["time"][-1]
    else:
        last = readings.row(-1, named=True)
        remaining = (num_steps - last["step"]) if num_steps is not None else 0
        end = last["time"] + max(remaining, 0) / last["steps_per_s"]
    return (start, end) if end > start else None


def errors(facts: pl.DataFrame) -> list[str]:
    """The failures the log reports (diverged, out of memory...)."""
    return facts.filter(pl.col("kind") == F.ERROR)["key"].unique().to_list() if not facts.is_empty() else []
