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

from dataclasses import dataclass

import numpy as np
import polars as pl

from bertlogs.parsers import Parsed

# Readings outside their physical range (besides NaN and inf), per column the figures use.
_IMPOSSIBLE: dict[str, pl.Expr] = {
    "power_w": pl.col("power_w") < 0,
    "energy_mj": pl.col("energy_mj") < 0,
    "memory_used_mib": (pl.col("memory_used_mib") < 0) | (pl.col("memory_used_mib") > pl.col("memory_total_mib")),
    "util_pct": (pl.col("util_pct") < 0) | (pl.col("util_pct") > 100),
}
_SAME_SAMPLE_SHARE = 0.5  # rows closer than this share of the period belong to one sample
GAUGES = ("power_w", "memory_used_mib", "util_pct")


@dataclass(frozen=True)
class Capture:
    """The run's GPU rows (one per GPU per sample, sorted by time, `sample` renumbered by the definition
    above), the readings left out as impossible (sample, gpu, time, reading, value), and whether the times
    were rebuilt from a period because the capture has no clock."""

    rows: pl.DataFrame
    excluded: pl.DataFrame
    unclocked: bool

    @property
    def gpus(self) -> list[int]:
        return self.rows["gpu"].unique(maintain_order=True).to_list()


def capture(gpu: Parsed | None, period_s: float | None, warnings: list[str]) -> Capture | None:
    """The capture's rows on one clock, impossible readings left out (with a warning); None without samples."""
    if gpu is None or gpu.frame.is_empty():
        return None
    rows, unclocked = gpu.frame, gpu.frame["time"].is_null().all()
    if unclocked:
        if period_s is None:
            warnings.append(f"{gpu.path}: capture has no clock and no --period is known; figures skipped")
            return None
        warnings.append(f"{gpu.path}: capture has no clock; times rebuilt from a {period_s:.3f} s period")
        rows = rows.with_columns(time=pl.col("sample").cast(pl.Float64) * period_s)
    elif rows["time"].is_null().any():
        rows = rows.filter(pl.col("time").is_not_null())
    rows, excluded = _plausible(rows)
    if not excluded.is_empty():
        sample, index, reading, value = excluded.select("sample", "gpu", "reading", "value").row(0)
        where = f"{gpu.path} sample {sample} (GPU {index})"
        warnings.append(excluded_note(excluded.height, "GPU", where, f"{reading} {value:g}"))
    return Capture(rows if unclocked else _renumbered(rows), excluded, unclocked)


def _renumbered(rows: pl.DataFrame) -> pl.DataFrame:
    """`sample` by the one definition (module docstring), in capture order: a new sample where the GPU index
    does not grow or the gap to the previous row is over half the period (the smallest of the GPUs' median
    intervals between their own readings)."""
    if rows["gpu"].n_unique() == 1:  # a row is a sample (per_sample): its number is only a name
        return rows
    own = pl.col("time").diff().over("gpu")
    period = rows.select(own.filter(own > 0).median().over("gpu").min()).item() or 0.0
    gap, not_growing = pl.col("time").diff(), pl.col("gpu") <= pl.col("gpu").shift(1)
    new = (not_growing | (gap > _SAME_SAMPLE_SHARE * period)).fill_null(True)
    return rows.with_columns(sample=new.cum_sum().cast(pl.Int64) - 1)


def per_sample(rows: pl.DataFrame, gpus: list[int] | None = None) -> pl.DataFrame:
    """One row per sample of `gpus` (all: None): its time, power and memory summed over the GPUs (null when
    none has the reading), utilisation averaged, and the busiest GPU's utilisation and power."""
    if len(gpus or rows["gpu"].unique()) == 1:  # one GPU: a row is a sample (columns shared, not copied)
        one = rows if gpus is None or rows["gpu"].n_unique() == 1 else rows.filter(pl.col("gpu").is_in(gpus))
        return one.select("sample", "time", *GAUGES, util_pct_top="util_pct", power_w_top="power_w")
    mine = rows.lazy() if gpus is None else rows.lazy().filter(pl.col("gpu").is_in(gpus))
    total = lambda c: pl.when(pl.col(c).is_not_null().any()).then(pl.col(c).sum())  # noqa: E731
    found = mine.group_by("sample").agg(
        pl.col("time").min(),
        total("power_w"),
        total("memory_used_mib"),
        pl.col("util_pct").mean(),
        pl.col("util_pct").max().alias("util_pct_top"),
        pl.col("power_w").max().alias("power_w_top"),
    )
    return found.sort("time").collect()


def period(samples: pl.DataFrame) -> tuple[float | None, float | None]:
    """Median and standard deviation of the intervals between samples (per_sample's rows)."""
    dt = pl.col("time").diff()
    intervals = dt.filter(dt > 0)
    median, std = samples.select(intervals.median(), intervals.std(ddof=0).alias("std")).row(0)
    return median, std


def _plausible(samples: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The samples with impossible readings set to null and samples stamped before an earlier one of the
    same GPU (the clock went backwards) left out; and what was left out (sample, gpu, time, reading, value),
    in capture order."""
    t = pl.col("time")
    earlier = t.cum_max().shift(1)
    went_back = ~t.is_finite() | (t < (earlier.over("gpu") if samples["gpu"].n_unique() > 1 else earlier))
    bad = {c: (wrong | ~pl.col(c).is_finite()).fill_null(False) for c, wrong in _IMPOSSIBLE.items()}
    bad["time"] = went_back.fill_null(False)
    if not samples.select(pl.any_horizontal(*bad.values()).any()).item():  # the usual case: one cheap pass, no copy
        return samples, samples.clear().select("sample", "gpu", "time")
    excluded = pl.concat(
        [
            samples.lazy().filter(wrong).select("sample", "gpu", "time", reading=pl.lit(c), value=pl.col(c).cast(float))
            for c, wrong in bad.items()
        ]
    ).sort("sample", "gpu", maintain_order=True)
    found = excluded.collect()
    kept = samples.lazy().filter(~bad["time"])
    return kept.with_columns(pl.when(~bad[c]).then(pl.col(c)).alias(c) for c in _IMPOSSIBLE).collect(), found


def excluded_note(count: int, what: str, first_at: str, reading: str) -> str:
    first = f"first at {first_at}: {reading}"
    return f"{count} {what} reading(s) outside their physical range left out of the figures, {first}"


Series = tuple[np.ndarray, np.ndarray]  # times (float64, unix s) and values (float32): compact, as results travel


def buckets(times: np.ndarray, values: np.ndarray, points: int) -> Series:
    """(time, value) where the value is known, averaged into at most `points` equal time buckets: bucket k
    holds [t0 + k span / points, t0 + (k + 1) span / points) (the last also its end), and its point is the
    mean time and mean value of what it holds. Empty buckets are left out. The one bucketer: the trace
    (thousands to millions of samples) and the report's sparklines both use it."""
    known = ~np.isnan(values)
    t, v = (times, values) if known.all() else (times[known], values[known])  # copies only where values miss
    if len(t) <= points:
        return t, v.astype(np.float32)
    # `times` is sorted: each bucket is a run of it, found by bisection, summed in one pass without copies
    edges = t[0] + (t[-1] - t[0]) * np.arange(points) / points
    starts = np.unique(np.searchsorted(t, edges, side="left"))  # an empty bucket starts where the next does
    counts = np.diff(np.append(starts, len(t)))
    mean = lambda x: np.add.reduceat(x, starts, dtype=np.float64) / counts  # noqa: E731
    return mean(t), mean(v).astype(np.float32)


def as_lists(series: Series | None, points: int) -> tuple[list[float], list[float]]:
    """A trace's series at most `points` long (bucketed again if longer), as lists to draw from."""
    if series is None:
        return [], []
    times, values = series if len(series[0]) <= points else buckets(series[0], series[1].astype(float), points)
    return times.tolist(), values.tolist()


def trace(samples: pl.DataFrame | None, points: int) -> dict[str, Series]:
    """Each gauge of `per_sample`'s rows bucketed to at most `points` points; empty without samples."""
    if samples is None or samples.is_empty():
        return {}
    times = samples["time"].to_numpy()
    return {c: buckets(times, samples[c].cast(pl.Float64).to_numpy(), points) for c in GAUGES}
