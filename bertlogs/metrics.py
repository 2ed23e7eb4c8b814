"""Time-weighted statistics of irregularly sampled signals.

Convention (documented in the README): a reading stamped t_i describes the interval since the previous
reading, (t_{i-1}, t_i], as nvidia-smi's utilisation and averaged power do; the first reading of a capture
covers one median period before its stamp. A mean over a window integrates this step signal over the
window and divides by the covered time (intervals whose reading is missing are left out).

The time-weighting works on numpy arrays, in pieces (a long capture's temporaries stay a few MB); the rest
works on short lists.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from itertools import islice

import numpy as np

PIECE = 2**18  # readings a pass over a long capture takes at a time: its temporaries stay a few MB


def window_sums(
    time: np.ndarray, values: dict[str, np.ndarray], start_s: float, end_s: float, first_period_s: float
) -> dict[str, tuple[float, float]]:
    """Per reading, (sum of value x seconds covered, seconds covered) over [start_s, end_s] (`time`
    increasing), missing (NaN) readings left out: a time-weighted mean is the first over the second. The products
    are summed by numpy (pairwise), not by a BLAS dot product: BLAS splits a long one among its threads, so that
    its last bits would depend on the machine's cores."""
    sums = dict.fromkeys(values, (0.0, 0.0))
    lo = int(np.searchsorted(time, start_s, side="right"))  # the first interval that ends after the start
    hi = min(int(np.searchsorted(time, end_s, side="left")) + 1, len(time))  # the first that ends at the end
    for a in range(lo, hi, PIECE):
        b = min(a + PIECE, hi)
        before = time[a - 1 : b - 1] if a else np.concatenate(([time[0] - first_period_s], time[: b - 1]))
        seconds = np.clip(np.minimum(time[a:b], end_s) - np.maximum(before, start_s), 0.0, None)
        covering = seconds > 0
        for name, value in values.items():
            v = value[a:b]
            ok = ~np.isnan(v) & covering
            total, covered = sums[name]
            sums[name] = (
                total + float((v[ok].astype(np.float64) * seconds[ok]).sum()),
                covered + float(seconds[ok].sum()),
            )
    return sums


_BINS = 4096


def order_statistics(pieces: Callable[[], Iterator[np.ndarray]], ranks: list[int]) -> list[float]:
    """The values at `ranks` (0-based) of all the values `pieces()` yields (no NaN), exact, holding a piece at
    a time: the values are counted into bins, and a bin that holds a rank is sorted when it holds at most a
    piece's worth, else binned again (equal values end it); ranks in one bin share its passes. Values that come
    in one piece are partitioned at once."""
    first = list(islice(pieces(), 2))
    if len(first) == 1:
        found = np.partition(first[0], sorted(set(ranks)))
        return [float(found[rank]) for rank in ranks]
    values: dict[int, float] = {}
    _ranked(pieces, sorted(set(ranks)), lambda p: p, 0, values)
    return [values[rank] for rank in ranks]


Keep = Callable[[np.ndarray], np.ndarray]  # the values of a piece that are still in the running


def _ranked(
    pieces: Callable[[], Iterator[np.ndarray]], ranks: list[int], keep: Keep, below: int, found: dict[int, float]
) -> None:
    """`found[rank]` for each of `ranks` among the values that `keep` selects (`below` values lie under them)."""
    bounds = [(float(p.min()), float(p.max())) for p in map(keep, pieces()) if len(p)]
    lo, hi = min(a for a, _ in bounds), max(b for _, b in bounds)
    if lo == hi:
        found.update(dict.fromkeys(ranks, lo))
        return
    width = (hi - lo) / _BINS or 1.0  # one formula puts a value in its bin, for counting and for finding
    bin_of = lambda v: np.clip(((v.astype(np.float64) - lo) / width).astype(np.int64), 0, _BINS - 1)  # noqa: E731
    counts = np.zeros(_BINS, np.int64)
    for piece in map(keep, pieces()):
        counts += np.bincount(bin_of(piece), minlength=_BINS)
    starts = below + np.concatenate(([0], np.cumsum(counts)))  # the rank of each bin's first value
    in_bin: dict[int, list[int]] = {}
    for rank in ranks:
        in_bin.setdefault(int(np.searchsorted(starts, rank, side="right")) - 1, []).append(rank)
    small = [b for b in in_bin if counts[b] <= PIECE]
    held: dict[int, list[np.ndarray]] = {b: [] for b in small}
    for piece in map(keep, pieces()) if small else ():
        of = bin_of(piece)
        for b in small:
            held[b].append(piece[of == b])
    for b, mine in in_bin.items():
        if b in held:
            values = np.sort(np.concatenate(held[b]))
            found.update((rank, float(values[rank - starts[b]])) for rank in mine)
        else:
            _ranked(pieces, mine, _within(keep, bin_of, b), int(starts[b]), found)


def _within(keep: Keep, bin_of: Keep, b: int) -> Keep:
    """`keep`, narrowed to bin `b`."""
    return lambda p: (q := keep(p))[bin_of(q) == b]


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


def harmonic_mean(rates: np.ndarray, work: np.ndarray) -> float:
    """Mean rate over readings that each cover an amount of work (steps): total work / total time."""
    if rates.shape != work.shape:
        raise ValueError(f"{len(rates)} rates for {len(work)} amounts of work")
    return ordered_sum(work) / ordered_sum(work / rates)


def ordered_sum(values: np.ndarray) -> float:
    """The sum of the values (as float64) added one after the other: the same bits on every Python (its own `sum`
    of floats added so up to 3.11, and compensates from 3.12) and every numpy (whose sum adds in pairs)."""
    return float(np.cumsum(values, dtype=np.float64)[-1]) if len(values) else 0.0
