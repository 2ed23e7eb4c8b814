"""Time-weighted statistics of irregularly sampled signals.

Convention (documented in the README): a reading stamped t_i describes the interval since the previous
reading, (t_{i-1}, t_i], as nvidia-smi's utilisation and averaged power do; the first reading of a capture
covers one median period before its stamp. A mean over a window integrates this step signal over the
window and divides by the covered time (intervals whose reading is missing are left out).

The time-weighting is written as polars expressions (evaluated per GPU, on the samples where they lie);
the rest works on small numpy arrays.
"""

from __future__ import annotations

import numpy as np
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


def counter_delta(times_s: np.ndarray, counter: np.ndarray, start_s: float, end_s: float) -> float | None:
    """Increase of a cumulative counter between two instants, linearly interpolated between readings."""
    ok = ~np.isnan(counter)
    t, c = times_s[ok], counter[ok]
    if len(t) < 2 or start_s < t[0] or end_s > t[-1]:
        return None
    return float(np.interp(end_s, t, c) - np.interp(start_s, t, c))


def harmonic_mean(values: np.ndarray) -> float:
    """Mean rate over equal amounts of work (each reading covers the same number of steps)."""
    return float(len(values) / np.sum(1.0 / values))
