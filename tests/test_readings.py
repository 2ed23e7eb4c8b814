"""The readings kept for the figures (bertlogs/readings.py): the same whatever the chunks a capture comes in,
and the rules for impossible readings, against a row-by-row statement of them."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from bertlogs.readings import GAUGES, Keeper, Readings, kept
from bertlogs.schema import SAMPLE_SCHEMA, conform

NAN, INF = float("nan"), float("inf")
value = st.one_of(st.none(), st.sampled_from([NAN, INF, -5.0, 0.0, 50.0, 100.0, 250.0, 12000.0]))


@st.composite
def capture(draw):  # type: ignore[no-untyped-def]
    """A capture's frame: 1 to 3 GPUs, times that may be missing, repeat or go back, odd readings."""
    gpus = draw(st.integers(1, 3))
    n = draw(st.integers(1, 40))
    clock = draw(st.sampled_from(["all", "none", "some"]))
    times, t = [], 1e9
    for _ in range(n):
        t += draw(st.sampled_from([0.0, 0.1, 0.3, -0.5, 2.0]))
        times.append(None if clock == "none" or (clock == "some" and draw(st.booleans())) else t)
    if draw(st.booleans()):  # a time that is not finite
        times[draw(st.integers(0, n - 1))] = draw(st.sampled_from([INF, NAN]))
    energy = clock != "none" and draw(st.booleans())
    rows = {
        "sample": [i // gpus for i in range(n)],
        "time": times,
        "gpu": [i % gpus for i in range(n)],
        "power_w": [draw(value) for _ in range(n)],
        "memory_used_mib": [draw(value) for _ in range(n)],
        "memory_total_mib": [11019.0] * n,
        "util_pct": [draw(value) for _ in range(n)],
        "energy_mj": [draw(value) if energy and draw(st.booleans()) else None for _ in range(n)],
    }
    return conform(
        pl.DataFrame(rows, schema_overrides={c: pl.Float64 for c in rows if c not in ("sample", "gpu")}), SAMPLE_SCHEMA
    )


def expected(frame: pl.DataFrame) -> tuple[list[tuple[float, int, list[float]]], int, tuple | None]:  # type: ignore[type-arg]
    """The rules, row by row: kept rows (time, GPU, gauges with NaN for left-out ones), the count left out,
    the first left out by (sample, GPU) then reading."""
    rows = frame.to_dicts()
    clocked = any(r["time"] is not None for r in rows)
    latest: dict[int, float] = {}
    kept_rows, bad = [], []
    for r in rows:
        if clocked and r["time"] is None:
            continue
        t = r["time"] if clocked else float(r["sample"])
        earlier = latest.get(r["gpu"], -INF)
        if math.isfinite(t):
            latest[r["gpu"]] = max(earlier, t)
        if not math.isfinite(t) or t < earlier:
            bad.append((r["sample"], r["gpu"], 4, "time", t))
            continue
        gauges = []
        for k, c in enumerate(("power_w", "energy_mj", "memory_used_mib", "util_pct")):
            v = r[c]
            wrong = v is not None and (
                math.isnan(v)
                or math.isinf(v)
                or v < 0
                or (c == "util_pct" and v > 100)
                or (c == "memory_used_mib" and v > r["memory_total_mib"])
            )
            if wrong:
                bad.append((r["sample"], r["gpu"], k, c, v))
            gauges.append(NAN if v is None or wrong else v)
        kept_rows.append((t, r["gpu"], gauges))
    first = min(bad, key=lambda b: b[:3]) if bad else None
    return kept_rows, len(bad), (first[0], first[1], first[3], first[4]) if first else None


def as_rows(found: Readings | None) -> list[tuple[float, int, list[float]]]:
    if found is None:
        return []
    energy = found.energy_mj if found.energy_mj is not None else np.full(len(found), np.nan)
    columns = [found.power_w, energy, found.memory_used_mib, found.util_pct]
    return [
        (
            float(found.time[i]),
            int(found.gpu[i] if isinstance(found.gpu, np.ndarray) else found.gpu),
            [float(c[i]) for c in columns],
        )
        for i in range(len(found))
    ]


def same(a: list[tuple[float, int, list[float]]], b: list[tuple[float, int, list[float]]]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and x[1] == y[1] and np.array_equal(np.float32(x[2]), np.float32(y[2]), equal_nan=True)
        for x, y in zip(a, b, strict=True)
    )


def first_equal(a: tuple | None, b: tuple | None) -> bool:  # type: ignore[type-arg]
    if a is None or b is None:
        return a is b
    return a[:3] == b[:3] and (
        a[3] == b[3] or (math.isnan(a[3]) and math.isnan(b[3])) or np.float32(a[3]) == np.float32(b[3])
    )


@settings(max_examples=300, deadline=None)
@given(capture(), st.lists(st.integers(1, 7), min_size=1, max_size=10))
def test_readings_follow_the_rules_whatever_the_chunks(frame: pl.DataFrame, cuts: list[int]) -> None:
    """A capture read in chunks of any sizes keeps what the rules keep, as read whole (times going back and
    the switch from unclocked to clocked rows carried across chunks; energy met late)."""
    rows, count, first = expected(frame)
    keeper, at = Keeper(1), 0
    for size in cuts * 10:
        keeper.add(frame.slice(at, size))
        at += size
    keeper.add(frame.slice(at))
    for found in (kept(frame), keeper.readings()):
        assert same(as_rows(found), rows)
        if found is not None:
            assert found.excluded.count == count and first_equal(found.excluded.first, first)
            assert found.unclocked == frame["time"].is_null().all()


def test_a_single_gpu_costs_eighteen_bytes_a_sample_and_no_energy_column_without_a_counter() -> None:
    """Time 8 bytes, power and memory 4 each, utilisation 2 while its readings are whole percents (exact in
    half precision), else 4."""
    n = 5000
    util = np.arange(n) % 101
    frame = conform(
        pl.DataFrame(
            {"sample": range(n), "time": np.arange(n) * 0.1, "gpu": [0] * n, "power_w": [100.0] * n}
        ).with_columns(util_pct=pl.Series(util, dtype=pl.Float32)),
        SAMPLE_SCHEMA,
    )
    found = kept(frame)
    assert found is not None and found.energy_mj is None and found.gpu == 0
    assert found.bytes_per_sample == 8 + 4 + 4 + 2
    assert found.time.nbytes + sum(getattr(found, c).nbytes for c in GAUGES) == 18 * n
    fractional = kept(frame.with_columns(pl.col("util_pct") + 0.3))
    assert fractional is not None and fractional.bytes_per_sample == 20


def test_utilisation_kept_in_half_precision_widens_at_the_first_reading_it_cannot_hold() -> None:
    n = 3000
    util = np.where(np.arange(n) < 2000, np.arange(n) % 101, 37.3).astype(np.float32)
    frame = conform(
        pl.DataFrame(
            {"sample": range(n), "time": np.arange(n) * 0.1, "gpu": [0] * n, "power_w": [100.0] * n}
        ).with_columns(util_pct=pl.Series(util)),
        SAMPLE_SCHEMA,
    )
    keeper = Keeper(1)
    for at in range(0, n, 500):  # whole percents first: half precision, then widened
        keeper.add(frame.slice(at, 500))
    found = keeper.readings()
    assert found is not None and found.util_pct.dtype == np.float32
    assert np.array_equal(found.util_pct, util)


def test_a_reading_of_no_gpu_is_left_out_as_one_of_no_time() -> None:
    """An index nvidia-smi printed as `[N/A]` is null: that row is no GPU's (it once raised on NaN)."""
    n = 6
    frame = conform(
        pl.DataFrame(
            {"sample": range(n), "time": np.arange(n) * 1.0, "gpu": [None, 0, 1, 0, 1, None], "power_w": [100.0] * n}
        ),
        SAMPLE_SCHEMA,
    )
    found = kept(frame)
    assert found is not None and isinstance(found.gpu, np.ndarray)
    assert found.gpu.tolist() == [0, 1, 0, 1] and found.time.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_a_utilisation_past_half_precision_widens_without_a_warning() -> None:
    """An impossible reading (1e6 %) is left out as NaN, and judging it for half precision warns of nothing."""
    frame = conform(
        pl.DataFrame({"sample": [0, 1], "time": [0.0, 1.0], "gpu": [0, 0], "util_pct": [50.0, 1e6]}), SAMPLE_SCHEMA
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = kept(frame)
    assert found is not None and found.util_pct.dtype == np.float32 and found.util_pct[0] == 50.0
    assert np.isnan(found.util_pct[1]) and found.excluded.count == 1
