"""Time-weighted statistics of irregularly sampled signals.

Convention (documented in the README): a reading stamped t_i describes the interval since the previous
reading, (t_{i-1}, t_i], as nvidia-smi's utilisation and averaged power do; the first reading of a capture
covers one median period before its stamp. A mean over a window integrates this step signal over the
window and divides by the covered time (intervals whose reading is missing are left out).

The time-weighting is written as polars expressions (evaluated per GPU, on the samples where they lie);
the rest works on short lists.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import polars as pl


def interval_start(time: pl.Expr, first_period_s: float) -> pl.Expr:
    """Start of the interval each reading describes: the previous stamp; for the first, one period before."""
    return time.shift(1).fill_null(time.first() - first_period_s)


def overlap_s(time: pl.Expr, start_s: float, end_s: float, first_period_s: float) -> pl.Expr:
    """Seconds of each reading's interval that fall inside [start_s, end_s] (`time` increasing)."""
    lo = pl.max_horizontal(interval_start(time, first_period_s), pl.lit(start_s))
    hi = pl.min_horizontal(time, pl.lit(end_s))
    return (hi - lo).clip(lower_bound=0.0)


def weighted_mean(value: pl.Expr, weight: pl.Expr) -> pl.Expr:
    """Mean of `value` weighted by the seconds each reading covers (`overlap_s`); missing readings are left
    out; null when no reading covers any of the window."""
    ok = value.is_not_null() & (weight > 0)
    covered = weight.filter(ok).sum()
    return pl.when(covered > 0).then((value * weight).filter(ok).sum() / covered)


def counter_delta(times_s: Sequence[float], counter: Sequence[float], start_s: float, end_s: float) -> float | None:
    """Increase of a cumulative counter between two instants, linearly interpolated between readings
    (`times_s` increasing, no missing readings)."""
    if len(times_s) < 2 or start_s < times_s[0] or end_s > times_s[-1]:
        return None
    return _interpolate(times_s, counter, end_s) - _interpolate(times_s, counter, start_s)


def _interpolate(times_s: Sequence[float], values: Sequence[float], at_s: float) -> float:
    i = min(max(bisect.bisect_left(times_s, at_s), 1), len(times_s) - 1)
    t0, t1, v0, v1 = times_s[i - 1], times_s[i], values[i - 1], values[i]
    return v0 if t1 == t0 else v0 + (v1 - v0) * (at_s - t0) / (t1 - t0)


def harmonic_mean(rates: Sequence[float], work: Sequence[float]) -> float:
    """Mean rate over readings that each cover an amount of work (steps): total work / total time."""
    return sum(work) / sum(w / r for r, w in zip(rates, work, strict=True))
