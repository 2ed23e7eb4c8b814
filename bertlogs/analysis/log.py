"""What a run's training log says, read only through the fact vocabulary (`bertlogs.facts`): its config,
its last evaluation, its throughput readings and the training window on the log's own clock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
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
    # Series operations on the log's few hundred facts: a DataFrame query costs more to plan than to run (and
    # a column of nulls, the commonest, is told by its null count, which costs nothing)
    if _any_text(facts["clock"]) and (facts["clock"] == F.STEP_WALL_TIME).any():
        facts = _step_stamped(facts, warnings)
    named = facts["worker"].drop_nulls() if _any_text(facts["worker"]) else facts["worker"].clear()
    workers = named.unique().sort() if len(named) else named
    if len(workers) > 1:
        warnings.append(f"{len(workers)} workers in the log; figures use {workers[0]}")
        facts = facts.filter(pl.col("worker").is_null() | (pl.col("worker") == workers[0]))
    return facts


def _any_text(column: pl.Series) -> bool:
    return column.null_count() < len(column)


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
    """The last value of each (kind, key) in the log but the rate readings' (most of a log's facts: `rates`
    reads them): a dict built from the columns keeps a key's last value (a polars query would cost more to
    plan than to run on a log's few hundred facts)."""
    others = pl.Series(~_is(facts["kind"], F.RATE))
    kind, key, value = (facts[name].filter(others).to_list() for name in ("kind", "key", "value"))
    return dict(zip(zip(kind, key, strict=True), value, strict=True))


@dataclass(frozen=True)
class Evaluation:
    accuracy: float | None = None
    loss: float | None = None
    batch_loss: float | None = None


def last_evaluation(facts: pl.DataFrame, eval_file: Parsed | None) -> Evaluation:
    """The last evaluation: the log's results block, else its saved copy, else eval_results.txt."""
    kind = facts["kind"]
    sources = (_where(facts, kind == wanted) for wanted in (F.EVAL, F.EVAL_SAVED))  # each read once needed
    for keys, values, steps in itertools.chain(sources, [_where(eval_file.frame)] if eval_file is not None else []):
        if keys.is_empty():
            continue
        if (last_step := steps.max()) is not None:
            keys, values = keys.filter(steps == last_step), values.filter(steps == last_step)
        found = dict(zip(keys, values, strict=True))
        return Evaluation(found.get(F.EVAL_ACCURACY), found.get(F.EVAL_LOSS), found.get(F.EVAL_BATCH_LOSS))
    return Evaluation()


def _where(frame: pl.DataFrame, mask: pl.Series | None = None) -> tuple[pl.Series, pl.Series, pl.Series]:
    """The key, value and step columns of the facts where `mask` holds: Series operations (filtering the
    DataFrame would be a polars query, which costs more to plan than to run on a log's few hundred facts)."""
    columns = (frame["key"], frame["value"], frame["step"])
    return columns if mask is None else (columns[0].filter(mask), columns[1].filter(mask), columns[2].filter(mask))


# The keys of a throughput reading's facts, in the order `rates` reads them
_RATE_KEYS = (F.STEPS_PER_S, F.EXAMPLES_PER_S, F.STEPS_COVERED, F.RUNTIME_S)


@dataclass(frozen=True)
class RateReadings:
    """The log's throughput readings, one per step read, in step order: numpy arrays (a frame of a run's few
    hundred readings would cost more to build than its figures). NaN where a value is missing: the step of a
    reading without one (first), the time of an unstamped one, the runtime where not stated."""

    step: np.ndarray
    time: np.ndarray
    steps: np.ndarray  # the steps each covers
    runtime_s: np.ndarray
    steps_per_s: np.ndarray
    examples_per_s: np.ndarray
    walled: bool  # every reading with a clock is stamped with its step's wall time (event files)

    def __len__(self) -> int:
        return len(self.step)


def rates(facts: pl.DataFrame, batch_size: int | None) -> tuple[RateReadings, pl.DataFrame]:
    """The throughput readings (one derived from the other when missing); and the readings left out as
    impossible (not a positive finite number). numpy on the log's columns: a polars query on a log's few
    hundred rates costs more to plan than to run."""
    key, value = facts["key"], facts["value"].to_numpy()
    rate, sane = _is(facts["kind"], F.RATE), np.isfinite(value) & (value > 0)  # a null value is NaN: not sane
    which = np.full(len(value), -1, np.int64)  # the place of the fact's key in _RATE_KEYS; -1: none of them
    for i, name in enumerate(_RATE_KEYS):
        which[_is(key, name)] = i
    odd = rate & ~sane & _present(key) & (which != _RATE_KEYS.index(F.STEPS_COVERED))
    impossible = facts.filter(pl.Series(odd)).filter(pl.col("value").is_not_null()) if odd.any() else facts.head(0)
    at = np.flatnonzero(rate & sane)
    steps, first, inverse = _groups(facts["step"].to_numpy()[at].astype(np.float64))
    time = np.full(len(steps), np.nan)
    np.fmax.at(time, inverse, facts["time"].to_numpy()[at].astype(np.float64))  # the latest stamp, nulls aside
    gs, ex, covered, runtime = _first_of(which[at], value[at], inverse, len(steps))
    if batch_size:
        gs, ex = np.where(np.isnan(gs), ex / batch_size, gs), np.where(np.isnan(ex), gs * batch_size, ex)
    keep = (gs > 0) & ~np.isnan(ex) & (covered > 0)
    step = np.where(np.isneginf(steps[keep]), np.nan, steps[keep])
    walled = bool(len(step)) and _walled(facts["clock"], at[first[keep]])
    return RateReadings(step, time[keep], covered[keep], runtime[keep], gs[keep], ex[keep], walled), impossible


def _walled(clock: pl.Series, rows: np.ndarray) -> bool:
    """Whether every reading's clock (that of its first fact, at `rows`) is the step's wall time, nulls aside
    (a comparison over the readings alone: over the whole column, mostly nulls, it costs 3x more)."""
    if clock.null_count() == len(clock):  # no clock at all (run_classifier.py's stdout): nothing to gather
        return True
    theirs = clock[rows]
    return theirs.null_count() == len(theirs) or bool((theirs == F.STEP_WALL_TIME).all())


def _is(column: pl.Series, text: str) -> np.ndarray:
    """Where a text column holds `text`: polars' comparison (numpy's, on Python strings, takes 4x longer)."""
    same = column == text  # null where the column is
    return (same.fill_null(False) if same.null_count() else same).to_numpy()


def _present(column: pl.Series) -> np.ndarray:
    return np.ones(len(column), bool) if column.null_count() == 0 else ~column.is_null().to_numpy()


def _groups(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct steps in order, a null step (NaN, as -inf) first as polars sorts it; each one's first row;
    each row's group. Steps are counts below 10^15: exact as float64. A log's steps come in order: then its
    groups are where the step changes (np.unique would sort them again)."""
    steps = np.where(np.isnan(steps), -np.inf, steps)
    if len(steps) and (steps[1:] >= steps[:-1]).all():
        new = np.empty(len(steps), bool)
        new[0] = True
        np.not_equal(steps[1:], steps[:-1], out=new[1:])
        first = np.flatnonzero(new)
        return steps[first], first, np.cumsum(new) - 1
    distinct, first, inverse = np.unique(steps, return_index=True, return_inverse=True)
    return distinct, first, inverse.reshape(-1)


def _first_of(which: np.ndarray, values: np.ndarray, inverse: np.ndarray, groups: int) -> np.ndarray:
    """Each group's first value of each of `_RATE_KEYS` (`which`: each row's place in them, -1 for none), one
    row per key; NaN where the group has none. One `np.unique` over (group, key) cells: its index is the first."""
    rows = np.flatnonzero(which >= 0)
    found, where = np.unique(inverse[rows] * len(_RATE_KEYS) + which[rows], return_index=True)
    out = np.full(groups * len(_RATE_KEYS), np.nan)
    out[found] = values[rows[where]]
    return out.reshape(groups, len(_RATE_KEYS)).T


@dataclass(frozen=True)
class Throughput:
    readings: int
    examples_per_s_mean: float  # arithmetic mean of the readings: the seed's (biased) figure
    examples_per_s: float  # total examples / total time: harmonic mean weighted by the steps each covers
    s_per_step: float  # total time / total steps over the readings


def throughput(readings: RateReadings) -> Throughput | None:
    if not len(readings):
        return None
    steps = readings.steps.tolist()
    examples = readings.examples_per_s.tolist()
    steps_per_s = metrics.harmonic_mean(readings.steps_per_s.tolist(), steps)
    return Throughput(
        len(examples), sum(examples) / len(examples), metrics.harmonic_mean(examples, steps), 1 / steps_per_s
    )


def log_window(facts: pl.DataFrame, readings: RateReadings, num_steps: int | None) -> tuple[float, float] | None:
    """The training window on the log's clock: from the start of the steps the first reading covers to the
    checkpoint of the last step (else the last reading, extended by the steps left at its rate)."""
    if not len(readings) or np.isnan(readings.time).any():
        return None
    # the seconds the first reading's steps took: as the producer states them (the Trainer's train_runtime),
    # else from its rate (which the Trainer rounds to 3 decimals)
    runtime_s = readings.runtime_s[0] if not np.isnan(readings.runtime_s[0]) else None
    start = float(readings.time[0] - (runtime_s or readings.steps[0] / readings.steps_per_s[0]))
    kind, time = facts["kind"], facts["time"]
    saved = (kind == F.CHECKPOINT) & time.is_not_null()  # Series operations, as in `_where`
    final = time.filter(saved & (facts["value"] == float(num_steps))) if num_steps is not None else time.clear()
    if not final.is_empty():
        end = final[-1]
    else:  # a last reading without a step: NaN, no window
        remaining = (num_steps - readings.step[-1]) if num_steps is not None else 0
        end = float(readings.time[-1] + max(remaining, 0) / readings.steps_per_s[-1])
    return (start, end) if end > start else None


def errors(facts: pl.DataFrame) -> list[str]:
    """The failures the log reports (diverged, out of memory...)."""
    keys = facts["key"].filter(facts["kind"] == F.ERROR)
    return keys.unique().to_list() if not keys.is_empty() else []
