"""A run's GPU samples on one clock, and the one definition of a sample across GPUs.

A sample is one reading of every GPU in the capture. Every capture lists a sample's GPUs in index order
(nvidia-smi's tables and CSV, dmon, NVML reading one GPU after another), each row maybe stamped a few ms
after the one before: in capture order, a new sample starts where the GPU index does not grow, or where the
gap to the previous row exceeds half the capture's period (a GPU missing from a sample). So neither stamps
staggered over tens of milliseconds nor coarse stamps shared by several samples (whole seconds) merge or
split samples. The sample's time is its first row's. Period, jitter, maxima, the trace and the activity start all count
samples by this definition; time-weighted means integrate each GPU over its own stamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from bertlogs import metrics
from bertlogs.readings import GAUGES, Readings

_SAME_SAMPLE_SHARE = 0.5  # rows closer than this share of the period belong to one sample


@dataclass(frozen=True)
class Capture:
    """The run's readings on one clock (times rebuilt from a period when the capture has none: `unclocked`),
    impossible ones left out (see `readings`), and `sample` numbered by the definition above (the file's own
    numbers without a clock; None for a single GPU, where a row is a sample)."""

    rows: Readings
    sample: np.ndarray | None
    unclocked: bool

    @property
    def gpus(self) -> list[int]:
        gpu = self.rows.gpu
        if not isinstance(gpu, np.ndarray):
            return [gpu]
        found, first = np.unique(gpu, return_index=True)
        return [int(g) for g in found[np.argsort(first)]]

    def of_gpu(self, gpu: int) -> Readings:
        """The readings of one GPU (the same arrays for a single-GPU capture)."""
        if not isinstance(self.rows.gpu, np.ndarray):
            return self.rows
        mine = self.rows.gpu == gpu
        r = self.rows
        energy = r.energy_mj[mine] if r.energy_mj is not None else None
        return replace(
            r,
            time=r.time[mine],
            gpu=gpu,
            power_w=r.power_w[mine],
            memory_used_mib=r.memory_used_mib[mine],
            util_pct=r.util_pct[mine],
            energy_mj=energy,
        )


@dataclass(frozen=True)
class Samples:
    """One entry per sample of some GPUs (`per_sample`), sorted by time."""

    time: np.ndarray
    power_w: np.ndarray
    memory_used_mib: np.ndarray
    util_pct: np.ndarray
    util_pct_top: np.ndarray
    power_w_top: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


def capture(path: str, found: Readings | None, period_s: float | None, warnings: list[str]) -> Capture | None:
    """The capture's readings on one clock (the left-out ones named in a warning); None without samples."""
    if found is None:
        return None
    # without a clock, the file's own sample numbers (held as its times) say which rows are one sample
    numbered = found.time.astype(np.int64) if found.unclocked and isinstance(found.gpu, np.ndarray) else None
    if found.unclocked:
        if period_s is None:
            warnings.append(f"{path}: capture has no clock and no --period is known; figures skipped")
            return None
        warnings.append(f"{path}: capture has no clock; times rebuilt from a {period_s:.3f} s period")
        excluded = replace(found.excluded, time=found.excluded.time * period_s)
        found = replace(found, time=found.time * period_s, excluded=excluded)
    if found.excluded.first is not None:
        sample, index, reading, value = found.excluded.first
        where = f"{path} sample {sample} (GPU {index})"
        warnings.append(excluded_note(found.excluded.count, "GPU", where, f"{reading} {value:g}"))
    return Capture(found, numbered if found.unclocked else _renumbered(found), found.unclocked)


def _renumbered(rows: Readings) -> np.ndarray | None:
    """`sample` by the one definition (module docstring), in capture order: a new sample where the GPU index
    does not grow or the gap to the previous row is over half the period (the smallest of the GPUs' median
    intervals between their own readings); None for a single GPU."""
    gpu = rows.gpu
    if not isinstance(gpu, np.ndarray):
        return None
    medians = [_median_positive_diff(rows.time[gpu == g]) for g in np.unique(gpu).tolist()]
    period = min((m for m in medians if m is not None), default=None) or 0.0
    new = np.ones(len(gpu), bool)
    new[1:] = (gpu[1:] <= gpu[:-1]) | (np.diff(rows.time) > _SAME_SAMPLE_SHARE * period)
    return (np.cumsum(new) - 1).astype(np.int32)


def per_sample(capture: Capture, gpus: list[int] | None = None) -> Samples:
    """One entry per sample of `gpus` (all: None): its time, power and memory summed over the GPUs (NaN when
    none has the reading), utilisation averaged, and the busiest GPU's utilisation and power."""
    rows = capture.rows
    if capture.sample is None or (gpus is not None and len(gpus) == 1):  # one GPU: a row is a sample
        one = rows if gpus is None else capture.of_gpu(gpus[0])
        return Samples(one.time, one.power_w, one.memory_used_mib, one.util_pct, one.util_pct, one.power_w)
    mine = slice(None) if gpus is None else np.isin(rows.gpu, gpus)
    sample = capture.sample[mine]
    starts = np.flatnonzero(np.concatenate(([True], sample[1:] != sample[:-1])))
    values = {c: getattr(rows, c)[mine] for c in GAUGES}
    counts = {c: np.add.reduceat(~np.isnan(v), starts) for c, v in values.items()}
    totals = {c: np.add.reduceat(np.nan_to_num(v), starts, dtype=np.float64) for c, v in values.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        found = Samples(
            time=np.minimum.reduceat(rows.time[mine], starts),
            power_w=_where_any(totals["power_w"], counts["power_w"]),
            memory_used_mib=_where_any(totals["memory_used_mib"], counts["memory_used_mib"]),
            util_pct=(totals["util_pct"] / counts["util_pct"]).astype(np.float32),
            util_pct_top=np.fmax.reduceat(values["util_pct"], starts),
            power_w_top=np.fmax.reduceat(values["power_w"], starts),
        )
    order = np.argsort(found.time, kind="stable")
    return Samples(*(getattr(found, f)[order] for f in Samples.__dataclass_fields__))


def _where_any(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    return np.where(count > 0, total, np.nan).astype(np.float32)


def period(samples: Samples) -> tuple[float | None, float | None]:
    """Median and standard deviation of the intervals between samples (`per_sample`'s)."""
    diffs = _diffs(samples.time)
    median = _median_positive_diff(samples.time, diffs)
    if median is None:
        return None, None
    count, total = 0, 0.0
    for piece in diffs():
        count, total = count + len(piece), total + float(piece.sum())
    mean, squares = total / count, 0.0
    for piece in diffs():
        squares += float(np.square(piece - mean).sum())
    return median, (squares / count) ** 0.5


def _positive_diffs(time: np.ndarray) -> Iterator[np.ndarray]:
    """The positive intervals between consecutive times, a piece at a time (never a copy of the whole)."""
    for lo in range(0, max(len(time) - 1, 0), metrics.PIECE):
        d = np.diff(time[lo : lo + metrics.PIECE + 1])
        yield d[d > 0]


def _diffs(time: np.ndarray) -> Callable[[], Iterator[np.ndarray]]:
    """`_positive_diffs` again at each call; found once when they come in one piece."""
    if len(time) > metrics.PIECE + 1:
        return lambda: _positive_diffs(time)
    one = list(_positive_diffs(time))
    return lambda: iter(one)


def _median_positive_diff(time: np.ndarray, diffs: Callable[[], Iterator[np.ndarray]] | None = None) -> float | None:
    """The exact median of the positive intervals between consecutive times (`diffs`, when found already), in
    pieces (see `metrics.order_statistics`) when the capture is long."""
    diffs = diffs or _diffs(time)
    count = sum(len(p) for p in diffs())
    if not count:
        return None
    middle = metrics.order_statistics(diffs, sorted({(count - 1) // 2, count // 2}))
    return sum(middle) / len(middle)


def excluded_note(count: int, what: str, first_at: str, reading: str) -> str:
    first = f"first at {first_at}: {reading}"
    return f"{count} {what} reading(s) outside their physical range left out of the figures, {first}"


Series = tuple[np.ndarray, np.ndarray]  # times (float64, unix s) and values (float32): compact, as results travel


def buckets(times: np.ndarray, values: np.ndarray, points: int) -> Series:
    """(time, value) where the value is known, averaged into at most `points` equal time buckets: bucket k
    holds [t0 + k span / points, t0 + (k + 1) span / points) of the known values' span (the last also its
    end), and its point is the mean time and mean value of what it holds. Empty buckets are left out. The one
    bucketer: the trace (thousands to millions of samples) and the report's sparklines both use it."""
    return _bucketed(times, [values], points)[0]


def buckets_of(times: np.ndarray, columns: list[np.ndarray], points: int) -> list[Series]:
    """`buckets` of each of `columns` (on the same `times`): found and timed once for all when they are known
    at the same rows."""
    if _known_alike(columns):
        return _bucketed(times, columns, points)
    return [buckets(times, values, points) for values in columns]


def _bucketed(times: np.ndarray, columns: list[np.ndarray], points: int) -> list[Series]:
    """`buckets` of each of `columns`, all known where the first is: the buckets are found and timed once, a
    piece at a time (no mask as long as the capture)."""
    known = lambda a: np.flatnonzero(~np.isnan(columns[0][a : a + metrics.PIECE])) + a  # noqa: E731
    count, first, last = 0, -1, -1
    for a in range(0, len(times), metrics.PIECE):  # one pass: how many are known, the first and the last
        if len(k := known(a)):
            count, first, last = count + len(k), first if first >= 0 else int(k[0]), int(k[-1])
    if count <= points:
        every = np.concatenate([known(a) for a in range(0, len(times), metrics.PIECE)] or [np.empty(0, np.int64)])
        return [(times[every], values[every].astype(np.float32)) for values in columns]
    t0, t1 = times[first], times[last]
    # `times` is sorted: each bucket is a run of it, found by bisection (the cuts ascend: their distinct ones
    # are where they change), summed a piece at a time
    cuts = np.searchsorted(times, t0 + (t1 - t0) * np.arange(points) / points, side="left")
    starts = cuts[np.concatenate(([True], cuts[1:] != cuts[:-1]))]
    starts[0] = first
    sums = _bucket_sums(times, columns, starts, last + 1)
    held = sums[0] > 0
    time = sums[1][held] / sums[0][held]
    return [(time, (total[held] / sums[0][held]).astype(np.float32)) for total in sums[2:]]


def _bucket_sums(times: np.ndarray, columns: list[np.ndarray], starts: np.ndarray, end: int) -> np.ndarray:
    """Per bucket (runs of the rows from each of `starts`, the last to `end`): its known values' count, sum of
    times and sum of each column's values (known where the first is), a piece at a time."""
    sums = np.zeros((2 + len(columns), len(starts)))
    for a in range(int(starts[0]), end, metrics.PIECE):
        b = min(a + metrics.PIECE, end)
        whole = a == starts[0] and b == end  # one piece: every bucket starts in it
        cuts = starts if whole else np.unique(np.concatenate(([a], starts[(starts > a) & (starts < b)])))
        ok = ~np.isnan(columns[0][a:b])
        held = [times[a:b], *(values[a:b] for values in columns)]
        if not ok.all():  # (the commonest piece holds every value: nothing to zero)
            held = [np.where(ok, v, 0.0) for v in held]
        pieces = (ok, *held)
        for row, piece in enumerate(pieces):
            found = np.add.reduceat(piece, cuts - a, dtype=np.float64)
            if whole:
                sums[row] = found
            else:
                np.add.at(sums[row], np.searchsorted(starts, cuts, side="right") - 1, found)
    return sums


def trace(samples: Samples | None, points: int) -> dict[str, Series]:
    """Each gauge of `per_sample`'s samples bucketed to at most `points` points; empty without samples."""
    if samples is None or not len(samples):
        return {}
    columns = [getattr(samples, c) for c in GAUGES]
    return dict(zip(GAUGES, buckets_of(samples.time, columns, points), strict=True))


def _known_alike(columns: list[np.ndarray]) -> bool:
    """Whether the columns are missing (NaN) at the same rows, compared a piece at a time."""
    spans = range(0, len(columns[0]), metrics.PIECE)
    nan = lambda c, a: np.isnan(c[a : a + metrics.PIECE])  # noqa: E731
    return all(np.array_equal(nan(columns[0], a), nan(c, a)) for a in spans for c in columns[1:])
