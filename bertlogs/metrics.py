"""Time-weighted statistics of irregularly sampled signals.

Convention (documented in the README): a reading stamped t_i describes the interval since the previous
reading, (t_{i-1}, t_i], as nvidia-smi's utilisation and averaged power do; the first reading of a capture
covers one median period before its stamp. A mean over a window integrates this step signal over the
window and divides by the covered time (intervals whose reading is missing are left out).
"""

from __future__ import annotations

import numpy as np


def interval_starts(times_s: np.ndarray, first_period_s: float | None = None) -> np.ndarray:
    """Start of the interval each reading describes: the previous stamp; for the first, `first_period_s`
    before its stamp (default: the median interval)."""
    if len(times_s) == 0:
        return times_s
    if first_period_s is None:
        first_period_s = float(np.median(np.diff(times_s))) if len(times_s) > 1 else 0.0
    return np.concatenate(([times_s[0] - first_period_s], times_s[:-1]))


def overlap_s(times_s: np.ndarray, start_s: float, end_s: float, first_period_s: float | None = None) -> np.ndarray:
    """Seconds of each reading's interval that fall inside [start_s, end_s]."""
    lo = np.maximum(interval_starts(times_s, first_period_s), start_s)
    hi = np.minimum(times_s, end_s)
    return np.clip(hi - lo, 0.0, None)


def time_weighted_mean(times_s: np.ndarray, values: np.ndarray, start_s: float, end_s: float) -> float | None:
    """Mean of the step signal over [start_s, end_s]; None when no reading covers any of it.

    `times_s` must be increasing. NaN values are missing readings.
    """
    return weighted_mean(values, overlap_s(times_s, start_s, end_s))


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> float | None:
    """Mean of `values` weighted by the seconds each covers (`overlap_s`), missing readings left out."""
    ok = ~np.isnan(values) & (weights > 0)
    covered = float(weights[ok].sum())
    if covered <= 0:
        return None
    return float((values[ok] * weights[ok]).sum() / covered)


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
