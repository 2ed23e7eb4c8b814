"""Property tests: time-weighting against exact integrals, and parsers against random or mangled input."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REAL
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bertlogs import metrics
from bertlogs.analysis import figures, samples
from bertlogs.errors import ParseError
from bertlogs.parsers import parse_text

finite = st.floats(min_value=0, max_value=1000, allow_nan=False)


@st.composite
def step_signal(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(2, 40))
    gaps = draw(st.lists(st.floats(0.01, 5), min_size=n, max_size=n))
    times = 100 + np.cumsum(gaps)
    values = np.array(draw(st.lists(finite, min_size=n, max_size=n)))
    a = draw(st.floats(float(times[0]), float(times[-1])))
    b = draw(st.floats(a, float(times[-1])))
    return times, values, a, b


def time_weighted_mean(times: np.ndarray, values: np.ndarray, a: float, b: float) -> float | None:
    """metrics' sums as the analysis takes them (the first reading covers one median period)."""
    total, covered = metrics.window_sums(times, {"v": values}, a, b, float(np.median(np.diff(times))))["v"]
    return total / covered if covered > 0 else None


def exact_integral(times: np.ndarray, values: np.ndarray, a: float, b: float) -> float:
    """The step signal, integrated piece by piece: value i holds on (t[i-1], t[i]]."""
    total = 0.0
    for i in range(1, len(times)):
        lo, hi = max(times[i - 1], a), min(times[i], b)
        if hi > lo:
            total += values[i] * (hi - lo)
    return total


@given(step_signal())
def test_time_weighted_mean_is_the_exact_integral_over_the_window(signal) -> None:  # type: ignore[no-untyped-def]
    times, values, a, b = signal
    mean = time_weighted_mean(times, values, a, b)
    if b - a < 1e-9:
        return
    assert mean is not None
    assert np.isclose(mean * (b - a), exact_integral(times, values, a, b), rtol=1e-9, atol=1e-6)


@given(step_signal(), st.integers(1, 5))
def test_sums_taken_in_pieces_are_the_sums_taken_whole(signal, piece) -> None:  # type: ignore[no-untyped-def]
    """A long capture is weighted a piece of readings at a time: pieces of 1 to 5 readings give the same sums."""
    times, values, a, b = signal
    whole = metrics.window_sums(times, {"v": values}, a, b, 0.5)["v"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "PIECE", piece)
        assert metrics.window_sums(times, {"v": values}, a, b, 0.5)["v"] == pytest.approx(whole, rel=1e-12, abs=1e-9)


@given(st.lists(st.floats(-1, 5), min_size=0, max_size=60), st.integers(1, 7))
def test_median_interval_taken_in_pieces_is_the_exact_median(gaps, piece) -> None:  # type: ignore[no-untyped-def]
    """The sampling period of a long capture is the exact median of its positive intervals, found in pieces."""
    times = 1e9 + np.cumsum(np.array(gaps, dtype=float))
    d = np.diff(times)
    expected = float(np.median(d[d > 0])) if (d > 0).any() else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "PIECE", piece)
        assert samples._median_positive_diff(times) == expected


@given(step_signal())
def test_dense_sampling_does_not_outweigh_sparse_sampling(signal) -> None:  # type: ignore[no-untyped-def]
    times, values, a, b = signal
    # splitting every interval in two (same values) must not change the time-weighted mean
    mids = (times[:-1] + times[1:]) / 2
    t2 = np.sort(np.concatenate((times, mids)))
    v2 = np.concatenate(([values[0]], np.repeat(values[1:], 2)))
    m1, m2 = time_weighted_mean(times, values, a, b), time_weighted_mean(t2, v2, a, b)
    assert (m1 is None) == (m2 is None)
    if m1 is not None and m2 is not None:
        assert np.isclose(m1, m2, rtol=1e-9, atol=1e-9)


@given(st.lists(st.floats(0, 1000, width=32), min_size=1, max_size=300), st.floats(0, 1))
@example([19.1616268157959, 78.7096939086914], 0.901182080567265)  # past the middle numpy goes from the upper end
def test_the_activity_thresholds_quantile_is_numpys(values: list[float], q: float) -> None:
    data = np.array(values, np.float32)
    found = figures._quantile(lambda: iter([data]), len(data), q)
    assert found == float(np.quantile(data.astype(np.float64), q))  # to the last bit


@given(st.lists(st.floats(-1e12, 1e12), max_size=40))
def test_ordered_sum_adds_the_values_one_after_the_other(values: list[float]) -> None:
    total = 0.0
    for value in values:  # as the figures have always been summed (numpy's sum adds in pairs)
        total += value
    assert metrics.ordered_sum(np.array(values)) == total


@given(st.lists(st.tuples(st.floats(0.1, 1e4), st.integers(1, 1000)), min_size=1, max_size=50))
def test_harmonic_mean_is_total_work_over_total_time(readings) -> None:  # type: ignore[no-untyped-def]
    rates, steps = np.array([r for r, _ in readings]), np.array([s for _, s in readings], dtype=float)
    total_time = np.sum(steps / rates)  # each reading covers its own number of steps
    assert np.isclose(metrics.harmonic_mean(rates, steps), steps.sum() / total_time)
    same = np.full(len(rates), 100.0)  # readings of equal work: the plain harmonic mean, below the arithmetic one
    assert metrics.harmonic_mean(rates, same) <= rates.mean() * (1 + 1e-12)


def test_counter_delta_interpolates_between_readings() -> None:
    t = np.array([0.0, 1.0, 2.0])
    assert metrics.counter_delta(t, np.array([0.0, 100.0, 300.0]), 0.5, 1.5) == 150.0  # 50 -> 200
    assert metrics.counter_delta(t, np.array([0.0, 100.0, 300.0]), -1, 1.5) is None


SEEDS = [p.read_text(encoding="utf-8") for p in sorted(REAL.glob("*/*")) if not p.name.endswith((".md", ".csv"))]


@st.composite
def mangled(draw):  # type: ignore[no-untyped-def]
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, max(len(text) - 1, 0)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        text = text[:i] + draw(st.text(max_size=20)) + text[j:]
    return text


@settings(max_examples=150, deadline=None)
@given(st.one_of(mangled(), st.text(max_size=400)))
def test_random_and_mangled_input_raises_only_our_errors(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse_text(text)  # sniffed, then parsed as its format, as a file of this text would be


@given(st.lists(st.one_of(st.none(), st.floats(0, 100, width=32)), min_size=1, max_size=40), st.integers(1, 5))
def test_activity_start_taken_in_pieces_is_the_one_taken_whole(utils, piece) -> None:  # type: ignore[no-untyped-def]
    """The first sustained activity of a long capture is looked for a piece at a time: the same start."""
    from bertlogs.analysis import figures

    util = np.array([np.nan if u is None else u for u in utils], dtype=np.float32)
    every = samples.Samples(np.arange(len(util)) * 0.5 + 1e9, util, util, util, util, util)
    whole = figures.activity_start(every, 0.5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "PIECE", piece)
        assert figures.activity_start(every, 0.5) == whole
    high = np.quantile(np.nan_to_num(util).astype(np.float64), 0.9)
    busy = (np.nan_to_num(util) >= 0.5 * high) & (high > 0)
    both = [i for i in range(len(util) - 1) if busy[i] and busy[i + 1]]
    expected = (every.time[both[0] - 1] if both[0] else every.time[0] - 0.5) if both else every.time[0]
    assert whole == expected


@given(
    st.lists(st.sampled_from([0.1, 0.1 + 2**-40, 0.3, 5.0, 1e-300, 7e8]), min_size=1, max_size=80), st.integers(1, 9)
)
def test_order_statistics_in_pieces_are_the_sorted_values(values, piece) -> None:  # type: ignore[no-untyped-def]
    """Values held a piece at a time, binned again while a bin holds over a piece (near-equal values)."""
    data = np.array(values)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "PIECE", piece)
        pieces = lambda: (data[a : a + piece] for a in range(0, len(data), piece))  # noqa: E731
        ranks = sorted({0, len(data) // 2, len(data) - 1})
        assert metrics.order_statistics(pieces, ranks) == [float(v) for v in np.sort(data)[ranks]]


@given(
    st.lists(st.tuples(st.floats(0.01, 5), st.sampled_from([1.0, 7.5, np.nan])), min_size=1, max_size=60),
    st.booleans(),
    st.integers(1, 9),
    st.integers(1, 9),
)
def test_the_trace_is_each_gauge_bucketed_alone(readings, alike, points, piece) -> None:  # type: ignore[no-untyped-def]
    """Gauges known at the same samples share their buckets; the trace, found a piece at a time, is each gauge's
    known values averaged into `points` equal time buckets, as a plain loop over the buckets finds them."""
    gaps, values = (np.array(c) for c in zip(*readings, strict=True))
    time = np.cumsum(gaps)
    power = values.astype(np.float32)
    memory = power * 2 if alike else np.roll(power, 1)
    util = power + 1 if alike else np.full_like(power, 3.0)
    every = samples.Samples(time, power, memory, util, util, power)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "PIECE", piece)
        found = samples.trace(every, points)
    for gauge, (t, v) in found.items():
        t_plain, v_plain = _bucket_means(time, getattr(every, gauge).astype(float), points)
        assert len(t) == len(t_plain), gauge
        np.testing.assert_allclose(t, t_plain, rtol=1e-12)
        np.testing.assert_allclose(v, v_plain, rtol=1e-6)


def _bucket_means(times: np.ndarray, values: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket k: the known values stamped in [t0 + k span / points, t0 + (k + 1) span / points) of their span,
    the last also its end; each non-empty bucket's mean time and mean value."""
    known = ~np.isnan(values)
    t, v = times[known], values[known]
    if len(t) <= points:
        return t, v
    edges = t[0] + (t[-1] - t[0]) * np.arange(points) / points
    bucket = np.searchsorted(edges, t, side="right") - 1
    held = [k for k in range(points) if (bucket == k).any()]
    return np.array([t[bucket == k].mean() for k in held]), np.array([v[bucket == k].mean() for k in held])


@example([90.25, 45.0, 43.0, 45.0, 45.25, 45.5, 90.0, 45.5, 0.0, 44.0])
@given(st.lists(st.sampled_from([0.0, 44.0, 45.0, 45.25, 46.0, 89.0, 90.0, 90.25, 91.0]), min_size=3, max_size=30))
def test_activity_start_is_the_same_on_utilisation_kept_in_half_precision(utils) -> None:  # type: ignore[no-untyped-def]
    """Readings exact in float16 are kept in it (`readings`): the busy threshold must not be rounded to it."""
    found = []
    for dtype in (np.float32, np.float16):
        util = np.array(utils).astype(dtype)
        power = np.ones(len(utils), np.float32)
        found.append(
            figures.activity_start(
                samples.Samples(np.arange(len(utils), dtype=float), power, power, util, util, power), 1.0
            )
        )
    assert found[0] == found[1]


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_the_activity_threshold_is_not_rounded_to_the_readings_precision(dtype: type) -> None:
    """A reading just under half the 90th percentile is not busy, whatever the precision readings are kept in
    (numpy compares an array with a Python float in the array's precision)."""
    from bertlogs.analysis import figures

    util = np.array([0.0, 1.4e-45, 1.4e-45] if dtype is np.float32 else [0.0, 6e-8, 6e-8], dtype=dtype)
    every = samples.Samples(np.arange(len(util)) * 0.5 + 1e9, util, util, util, util, util)
    high = np.quantile(util.astype(np.float64), 0.9)
    assert (util.astype(np.float64) < 0.5 * high)[0]  # the first reading is below the threshold
    assert figures.activity_start(every, 0.5) == every.time[0]  # (the 2nd and 3rd are busy: from the 1st's end)


def test_a_long_window_sums_to_the_same_bits_whatever_the_cores() -> None:
    """The same capture gives the same figures on any machine: a BLAS dot product split among 1 or 2 threads
    rounds differently over a 262,144-reading piece (its sums differed in the 15th digit)."""
    code = (
        "import numpy as np; from bertlogs import metrics; rng = np.random.default_rng(1); "
        "t = np.cumsum(rng.random(metrics.PIECE) * 0.3); v = rng.random(metrics.PIECE) * 300; "
        "print(repr(metrics.window_sums(t, {'v': v}, float(t[0]), float(t[-1]), 0.1)['v']))"
    )
    sums = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "OPENBLAS_NUM_THREADS": threads},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for threads in ("1", "2")
    }
    assert len(sums) == 1, sums
