"""GPU figures over any window: which GPUs were the run's, how much of the window the capture covers,
time-weighted means, maxima per sample and energy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from bertlogs import metrics
from bertlogs.analysis.samples import GAUGES, Capture, Samples
from bertlogs.readings import Excluded

# A GPU counts as the run's when its mean utilisation in the window is at least this share of the busiest's.
ACTIVE_SHARE = 0.10
# Below this share of the window covered by readings, the figures are partial.
MIN_COVERAGE = 0.9
Window = tuple[float, float]


@dataclass(frozen=True)
class GpuMeans:
    """One GPU's time-weighted means over the window and the seconds its power readings cover."""

    power_w: float | None
    memory_used_mib: float | None
    util_pct: float | None
    covered_s: float


def per_gpu_means(capture: Capture, window: Window, period_s: float) -> dict[int, GpuMeans]:
    """Each GPU's time-weighted means over the window, over its own stamps (see `metrics`)."""
    means = {}
    for gpu in capture.gpus:
        mine = capture.of_gpu(gpu)
        sums = metrics.window_sums(mine.time, {c: getattr(mine, c) for c in GAUGES}, *window, period_s)
        found = {c: total / covered if covered > 0 else None for c, (total, covered) in sums.items()}
        means[gpu] = GpuMeans(**found, covered_s=sums["power_w"][1])
    return means


def choose_gpus(means: dict[int, GpuMeans], chosen: list[int] | None, warnings: list[str]) -> list[int]:
    """The GPUs asked for (that the capture has), else those busy in the window (at least ACTIVE_SHARE of the
    busiest's utilisation), else all."""
    if chosen is not None:
        if missing := [g for g in chosen if g not in means]:
            warnings.append(f"GPU(s) {missing} not in the capture")
        return [g for g in chosen if g in means]
    utils = {g: m.util_pct for g, m in means.items() if m.util_pct is not None}
    top = max(utils.values(), default=None)
    used = [g for g, u in utils.items() if top is not None and u >= ACTIVE_SHARE * top] or list(means)
    if len(used) < len(means):
        warnings.append(f"idle GPU(s) {sorted(set(means) - set(used))} left out of the figures")
    return used


def coverage(means: dict[int, GpuMeans], used: list[int], window: Window) -> float:
    """The share of the window the least covered of the GPUs' power readings covers."""
    return min(means[g].covered_s for g in used) / max(window[1] - window[0], 1e-12)


@dataclass(frozen=True)
class Gauges:
    power_w: float | None
    memory_mib: float | None
    util_pct: float | None


def run_means(means: dict[int, GpuMeans], used: list[int]) -> Gauges:
    """Power and memory summed over the run's GPUs, utilisation averaged (None when a GPU lacks it)."""

    def of(column: str) -> list[float] | None:
        found = [getattr(means[g], column) for g in used]
        return found if all(m is not None for m in found) else None

    power, memory, util = of("power_w"), of("memory_used_mib"), of("util_pct")
    return Gauges(
        sum(power) if power else None, sum(memory) if memory else None, sum(util) / len(util) if util else None
    )


@dataclass(frozen=True)
class Maxima:
    samples: int
    power_w_max: float | None
    memory_mib_max: float | None


def maxima(samples: Samples, window: Window, period_s: float) -> Maxima:
    """Samples (per_sample's of the run's GPUs) whose interval ends inside the window, with the highest summed
    power and memory among them; a sample stamped up to one period after the end still covers it."""
    start, end = window
    inside = slice(*np.searchsorted(samples.time, [start, end + period_s], side="right").tolist())
    return Maxima(inside.stop - inside.start, _most(samples.power_w[inside]), _most(samples.memory_used_mib[inside]))


def _most(values: np.ndarray) -> float | None:
    most = float(np.fmax.reduce(values)) if len(values) else np.nan  # NaN only when every value is
    return None if np.isnan(most) else most


def energy_j(
    capture: Capture, used: list[int], window: Window, power_w: float | None
) -> tuple[float | None, str | None]:
    """Energy over the window and the method: the NVML counter's difference on every GPU, else time-weighted
    power x window length."""
    counters = [_counter_delta_mj(capture, g, window) for g in used] if capture.rows.energy_mj is not None else []
    if counters and all(e is not None for e in counters):
        total_j = sum(e for e in counters if e is not None) / 1000.0
        return total_j, "NVML total-energy counter difference over the window"
    if power_w is not None:
        return power_w * (window[1] - window[0]), "time-weighted power x window length"
    return None, None


def _counter_delta_mj(capture: Capture, gpu: int, window: Window) -> float | None:
    mine = capture.of_gpu(gpu)
    assert mine.energy_mj is not None
    known = ~np.isnan(mine.energy_mj)
    found = metrics.counter_delta(mine.time[known], mine.energy_mj[known], *window)
    return float(found) if found is not None else None


def activity_start(samples: Samples, period_s: float) -> float:
    """Start of the interval of the first of two consecutive busy samples (per_sample's of every GPU).

    Busy: the busiest GPU's utilisation (or, without it, power) at least half of its 90th percentile. Taken in
    pieces: no temporary as long as the capture.
    """
    signal = samples.util_pct_top if not np.isnan(samples.util_pct_top).all() else samples.power_w_top
    piece = lambda a, b: np.nan_to_num(signal[a:b]).astype(np.float32, copy=False)  # noqa: E731
    if len(signal) <= metrics.PIECE:  # one piece: converted once
        whole = piece(0, len(signal))
        piece = lambda a, b: whole[a:b]  # noqa: E731
    pieces = lambda: (piece(a, a + metrics.PIECE) for a in range(0, len(signal), metrics.PIECE))  # noqa: E731
    high = _quantile(pieces, len(signal), 0.9)
    # a float64 scalar: compared with a Python float, numpy would round the threshold to the readings' precision
    threshold = np.float64(0.5 * high)
    for a in range(0, len(signal) - 1, metrics.PIECE):
        busy = (piece(a, a + metrics.PIECE + 1) >= threshold) & (high > 0)
        if (both := busy[:-1] & busy[1:]).any():
            first = a + int(np.argmax(both))
            return float(samples.time[first - 1] if first else samples.time[0] - period_s)
    return float(samples.time[0])


def _quantile(pieces: Callable[[], Iterator[np.ndarray]], count: int, q: float) -> float:
    """numpy's linear quantile of all the pieces' values (as over float64), exact, a piece at a time."""
    h = (count - 1) * q
    lo = int(np.floor(h))
    a, b = metrics.order_statistics(pieces, [lo, min(lo + 1, count - 1)])
    t = h - lo  # numpy's own interpolation between the two (`_lerp`): from the nearer end
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def in_window(excluded: Excluded, window: Window, period_s: float, gpus: list[int]) -> int:
    """How many of the left-out readings lie in the window, on the run's GPUs."""
    t = excluded.time
    if not len(t):
        return 0
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(t) & (t > window[0]) & (t <= window[1] + period_s) & np.isin(excluded.gpu, gpus)
    return int(inside.sum())
