"""What a run's training log says, read only through the fact vocabulary (`bertlogs.facts`): its config,
its last evaluation, its throughput readings and the training window on the log's own clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from bertlogs import facts as F
from bertlogs import metrics
from bertlogs.parsers import Parsed
from bertlogs.schema import FACT_SCHEMA, conform

Last = dict[tuple[str, str], float]


def log_facts(log: Parsed | None, records: list[Parsed], warnings: list[str]) -> Facts:
    """The facts of the log and of the run's records (see `combined`), converted alone."""
    return facts_of([combined(log, records, warnings)])[0]


def combined(log: Parsed | None, records: list[Parsed], warnings: list[str]) -> pl.DataFrame:
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


@dataclass(frozen=True, eq=False)
class Prepared:
    """A run's facts as `log_facts` gives them, converted with other runs' (`prepared`), and the warnings that
    combining its files gave."""

    facts: Facts
    warnings: list[str]


# Facts converted together at most (a run with more alone): what a group's arrays hold beside its frames stays a
# few MB (about 30 bytes a fact), however long a batch's logs
GROUP_FACTS = 1 << 16


def prepared(files: list[tuple[Parsed | None, list[Parsed]] | None]) -> Iterator[Prepared | None]:
    """For each run's (log, records), its facts as `log_facts` gives them, converted together with its
    neighbours' up to GROUP_FACTS facts (one group at a time, as the caller asks for the next run's). None for
    a run given as None, or whose files fail to combine or to convert: it then converts its own (and a bug is
    that run's, not its group's)."""
    group: list[tuple[pl.DataFrame, list[str]] | None] = []
    held = 0  # the group's facts
    for i, these in enumerate(files):
        group.append(found := _combined(these))
        held += found[0].height if found is not None else 0
        if i + 1 == len(files) or held + _height(files[i + 1]) > GROUP_FACTS:
            yield from _converted(group)
            group, held = [], 0


def _combined(files: tuple[Parsed | None, list[Parsed]] | None) -> tuple[pl.DataFrame, list[str]] | None:
    if files is None:
        return None
    warnings: list[str] = []
    try:
        return combined(*files, warnings), warnings
    except Exception:
        return None


def _height(files: tuple[Parsed | None, list[Parsed]] | None) -> int:
    """The facts of a run's files, before they are combined."""
    return 0 if files is None else sum(p.frame.height for p in (files[0], *files[1]) if p is not None)


def _converted(group: list[tuple[pl.DataFrame, list[str]] | None]) -> Iterator[Prepared | None]:
    try:
        found = iter(facts_of([frame for frame, _ in filter(None, group)]))
    except Exception:
        yield from (None for _ in group)
        return
    for combined_files in group:
        yield Prepared(next(found), combined_files[1]) if combined_files is not None else None


# The kinds analysis tells apart, and the keys of a throughput reading's facts, in the order of their codes
_KINDS = (F.RATE, F.EVAL, F.EVAL_SAVED, F.CHECKPOINT, F.ERROR)
_RATE_KEYS = (F.STEPS_PER_S, F.EXAMPLES_PER_S, F.STEPS_COVERED, F.RUNTIME_S)
_RATE = _KINDS.index(F.RATE)
_OTHERS = ("kind", "key", "value", "step")


@dataclass(frozen=True, eq=False)
class Facts:
    """A run's facts (`frame`, FACT_SCHEMA rows) and the columns analysis reads, as numpy arrays and lists.

    A polars call on a run's few hundred facts costs more to make than to run: `facts_of` converts the facts
    of many runs in a few calls, and each run takes its slices."""

    frame: pl.DataFrame
    kind: np.ndarray  # int8: the place of the fact's kind in _KINDS; -1 for any other (or none)
    rate_key: np.ndarray  # int8: the place of its key in _RATE_KEYS; -1 for any other
    keyed: np.ndarray  # bool: it has a key
    value: np.ndarray  # float64; NaN where null
    step: np.ndarray  # float64; NaN where null
    time: np.ndarray  # float64; NaN where null
    timed: np.ndarray  # bool: the time is not null
    clocked: np.ndarray  # bool: the clock is not null
    walled: np.ndarray  # bool: the clock is the step's wall time
    others_frame: pl.DataFrame  # the facts that are no rate reading (their kind is not RATE): _OTHERS, in order
    others_kind: np.ndarray  # their `kind`

    @cached_property
    def others(self) -> tuple[list[Any], ...]:
        """`others_frame`'s columns as lists (made once, when first read)."""
        return tuple(self.others_frame[name].to_list() for name in _OTHERS)


def facts_of(frames: list[pl.DataFrame]) -> list[Facts]:
    """Each of the FACT_SCHEMA `frames` as `Facts`, converted together: a dozen polars calls over many runs'
    facts, where each run alone makes them all again."""
    if not frames:
        return []
    whole = pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]
    heights = [frame.height for frame in frames]
    ends = np.cumsum(heights)
    starts = ends - heights
    kind, rate_key = _codes(whole["kind"], _KINDS), _codes(whole["key"], _RATE_KEYS)
    clocked = _present(whole["clock"])
    walled = _is(whole["clock"], F.STEP_WALL_TIME) if clocked.any() else np.zeros(whole.height, bool)
    value, step, time = (whole[name].to_numpy().astype(np.float64, copy=False) for name in ("value", "step", "time"))
    keyed, timed = _present(whole["key"]), _present(whole["time"])
    other = kind != _RATE
    others, others_kind = whole.select(_OTHERS).filter(pl.Series(other)), kind[other]
    placed = np.concatenate(([0], np.cumsum(other)))  # the others before each fact
    found = []
    for frame, a, b in zip(frames, starts.tolist(), ends.tolist(), strict=True):
        c, d = int(placed[a]), int(placed[b])
        found.append(
            Facts(
                frame=frame,
                kind=kind[a:b],
                rate_key=rate_key[a:b],
                keyed=keyed[a:b],
                value=value[a:b],
                step=step[a:b],
                time=time[a:b],
                timed=timed[a:b],
                clocked=clocked[a:b],
                walled=walled[a:b],
                others_frame=others.slice(c, d - c),
                others_kind=others_kind[c:d],
            )
        )
    return found


def _codes(column: pl.Series, names: tuple[str, ...]) -> np.ndarray:
    """Each row's place in `names`; -1 for any other text, or none."""
    codes = np.full(len(column), -1, np.int8)
    for i, name in enumerate(names):
        codes[_is(column, name)] = i
    return codes


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


def last_values(facts: Facts) -> Last:
    """The last value of each (kind, key) in the log but the rate readings' (most of a log's facts: `rates`
    reads them): a dict keeps a key's last value."""
    kind, key, value, _ = facts.others
    return dict(zip(zip(kind, key, strict=True), value, strict=True))


@dataclass(frozen=True)
class Evaluation:
    accuracy: float | None = None
    loss: float | None = None
    batch_loss: float | None = None


def last_evaluation(facts: Facts, eval_file: Parsed | None) -> Evaluation:
    """The last evaluation: the log's results block, else its saved copy, else eval_results.txt."""
    sources = (_where(facts, _KINDS.index(wanted)) for wanted in (F.EVAL, F.EVAL_SAVED))  # each read once needed
    for keys, values, steps in itertools.chain(sources, [_listed(eval_file.frame)] if eval_file is not None else []):
        if not keys:
            continue
        stepped = [step for step in steps if step is not None]
        last_step = max(stepped) if stepped else None  # the results at the last step evaluated
        rows = zip(keys, values, steps, strict=True)
        found = {k: v for k, v, step in rows if last_step is None or step == last_step}
        return Evaluation(found.get(F.EVAL_ACCURACY), found.get(F.EVAL_LOSS), found.get(F.EVAL_BATCH_LOSS))
    return Evaluation()


def _where(facts: Facts, kind: int) -> tuple[list[Any], list[Any], list[Any]]:
    """The key, value and step of the facts of `kind` (a place in _KINDS, not RATE's)."""
    at = np.flatnonzero(facts.others_kind == kind).tolist()
    _, keys, values, steps = facts.others
    return [keys[i] for i in at], [values[i] for i in at], [steps[i] for i in at]


def _listed(frame: pl.DataFrame) -> tuple[list[Any], list[Any], list[Any]]:
    return frame["key"].to_list(), frame["value"].to_list(), frame["step"].to_list()


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


def rates(facts: Facts, batch_size: int | None) -> tuple[RateReadings, pl.DataFrame]:
    """The throughput readings (one derived from the other when missing); and the readings left out as
    impossible (not a positive finite number)."""
    value, which = facts.value, facts.rate_key
    rate, sane = facts.kind == _RATE, np.isfinite(value) & (value > 0)  # a null value is NaN: not sane
    odd = rate & ~sane & facts.keyed & (which != _RATE_KEYS.index(F.STEPS_COVERED))
    frame = facts.frame
    impossible = frame.filter(pl.Series(odd)).filter(pl.col("value").is_not_null()) if odd.any() else frame.head(0)
    at = np.flatnonzero(rate & sane)
    steps, first, inverse = _groups(facts.step[at])
    time = np.full(len(steps), np.nan)
    np.fmax.at(time, inverse, facts.time[at])  # the latest stamp, nulls aside
    gs, ex, covered, runtime = _first_of(which[at], value[at], inverse, len(steps))
    if batch_size:
        gs, ex = np.where(np.isnan(gs), ex / batch_size, gs), np.where(np.isnan(ex), gs * batch_size, ex)
    keep = (gs > 0) & ~np.isnan(ex) & (covered > 0)
    step = np.where(np.isneginf(steps[keep]), np.nan, steps[keep])
    rows = at[first[keep]]  # each reading's first fact: its clock is the reading's
    walled = bool(len(step)) and not (facts.clocked[rows] & ~facts.walled[rows]).any()
    return RateReadings(step, time[keep], covered[keep], runtime[keep], gs[keep], ex[keep], walled), impossible


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
    steps, examples = readings.steps, readings.examples_per_s
    steps_per_s = metrics.harmonic_mean(readings.steps_per_s, steps)
    return Throughput(
        len(examples),
        metrics.ordered_sum(examples) / len(examples),
        metrics.harmonic_mean(examples, steps),
        1 / steps_per_s,
    )


def log_window(facts: Facts, readings: RateReadings, num_steps: int | None) -> tuple[float, float] | None:
    """The training window on the log's clock: from the start of the steps the first reading covers to the
    checkpoint of the last step (else the last reading, extended by the steps left at its rate)."""
    if not len(readings) or np.isnan(readings.time).any():
        return None
    # the seconds the first reading's steps took: as the producer states them (the Trainer's train_runtime),
    # else from its rate (which the Trainer rounds to 3 decimals)
    runtime_s = readings.runtime_s[0] if not np.isnan(readings.runtime_s[0]) else None
    start = float(readings.time[0] - (runtime_s or readings.steps[0] / readings.steps_per_s[0]))
    saved = (facts.kind == _KINDS.index(F.CHECKPOINT)) & facts.timed
    final = facts.time[saved & (facts.value == float(num_steps))] if num_steps is not None else []
    if len(final):
        end = float(final[-1])
    else:  # a last reading without a step: NaN, no window
        remaining = (num_steps - readings.step[-1]) if num_steps is not None else 0
        end = float(readings.time[-1] + max(remaining, 0) / readings.steps_per_s[-1])
    return (start, end) if end > start else None


def errors(facts: Facts) -> list[str]:
    """The failures the log reports (diverged, out of memory...), each once, in the order the log first reports
    them."""
    if not (facts.kind == _KINDS.index(F.ERROR)).any():
        return []
    frame = facts.frame
    return frame["key"].filter(frame["kind"] == F.ERROR).unique(maintain_order=True).to_list()
