"""Tidy column names and dtypes. Units live in the names."""

from __future__ import annotations

from typing import TypeVar

import polars as pl

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

# One row per GPU per sample. `time` is unix seconds (null when the capture has no clock);
# `sample` numbers the samples of one capture from 0.
# Gauges are Float32 (7 significant digits hold every reading and halve a big capture's memory); time and
# the energy counter (millijoules since the driver loaded, ~1e9) need Float64.
SAMPLE_SCHEMA: dict[str, pl.DataType] = {
    "sample": pl.Int64(),
    "time": pl.Float64(),
    "gpu": pl.Int64(),
    "power_w": pl.Float32(),
    "power_limit_w": pl.Float32(),
    "energy_mj": pl.Float64(),
    "memory_used_mib": pl.Float32(),
    "memory_total_mib": pl.Float32(),
    "util_pct": pl.Float32(),
    "mem_util_pct": pl.Float32(),
    "temp_c": pl.Float32(),
}

# One row per fact found in a training log. `line` is 1-based; `time` unix seconds or null;
# `clock` says where the time came from (utc, local, local-year-assumed, or null).
FACT_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64(),
    "time": pl.Float64(),
    "clock": pl.String(),
    "worker": pl.String(),
    "kind": pl.String(),
    "key": pl.String(),
    "value": pl.Float64(),
    "step": pl.Int64(),
}


def conform(frame: FrameT, schema: dict[str, pl.DataType]) -> FrameT:
    """Add missing columns as nulls, cast, and order columns as in `schema` (extra columns dropped)."""
    names = frame.collect_schema().names()
    return frame.select(
        [(pl.col(name) if name in names else pl.lit(None)).cast(dtype).alias(name) for name, dtype in schema.items()]
    )
