"""Tidy column names and dtypes (units live in the names), and the fields of collect's meta.json."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
# `clock` says where the time came from (utc, local, local-year-assumed, step-wall-time: see `facts`, or null).
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


# collect's meta.json, as far as analysis uses it
RUN_STATUSES = ("running", "ok", "failed", "interrupted")
_MAX_UTC_OFFSET_S = 18 * 3600  # zones lie within ±14 h; ISO 8601 allows ±18 h
_MAX_GPU_INDEX = 2**16
_MAX_META_BYTES = 1 << 20  # collect writes a few KiB


@dataclass(frozen=True)
class Meta:
    """What a run's meta.json says, validated: a field that is absent or malformed is None (or empty)."""

    labels: dict[str, str] = field(default_factory=dict)  # batch_size, when present, is a whole number >= 1
    gpus: tuple[int, ...] = ()  # the run's GPU indices
    utc_offset_s: float | None = None
    status: str | None = None  # one of RUN_STATUSES
    exit_code: int | None = None
    start_unix_s: float | None = None
    end_unix_s: float | None = None
    sampler_interval_s: float | None = None


def read_meta(path: Path) -> tuple[Meta, list[str]]:
    """The run's meta.json and a warning for each field that is malformed and so ignored (never raises)."""
    try:
        with path.open("rb") as f:
            raw = f.read(_MAX_META_BYTES + 1)
        if len(raw) > _MAX_META_BYTES:
            raise ValueError(f"larger than {_MAX_META_BYTES >> 10} KiB")
        if not raw.strip():
            raise ValueError("empty file")
        document = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        return Meta(), [f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); meta.json ignored"]
    except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return Meta(), [f"{path}: unreadable ({exc}); meta.json ignored"]
    if not isinstance(document, dict):
        return Meta(), [f"{path}: expected a JSON object, got {_shown(document)}; meta.json ignored"]
    warnings: list[str] = []

    def bad(name: str, expected: str, value: object) -> None:
        warnings.append(f"{path}: {name}: expected {expected}, got {_shown(value)}; ignored")

    meta = Meta(
        labels=_labels(document.get("labels"), bad),
        gpus=_gpus(document.get("gpus"), bad),
        utc_offset_s=_field(document, "utc_offset_s", _within(_MAX_UTC_OFFSET_S), "seconds within ±18 h", bad),
        status=_field(document, "status", lambda v: v if v in RUN_STATUSES else None, "|".join(RUN_STATUSES), bad),
        exit_code=_field(document, "exit_code", _whole(-(2**31), 2**31 - 1), "a whole number", bad),
        start_unix_s=_field(document, "start", _unix_s, "{unix_s: seconds}", bad),
        end_unix_s=_field(document, "end", _unix_s, "{unix_s: seconds}", bad),
        sampler_interval_s=_field(document, "sampler", _interval_s, "{interval_s: seconds > 0}", bad),
    )
    return meta, warnings


_Bad = Callable[[str, str, object], None]
_T = TypeVar("_T")


def _field(document: dict, name: str, convert: Callable[[object], _T | None], expected: str, bad: _Bad) -> _T | None:
    """The converted field; absent or null is None without a word, malformed is None with a warning."""
    value = document.get(name)
    if value is None:
        return None
    converted = convert(value)
    if converted is None:
        bad(name, expected, value)
    return converted


def _within(limit: float, lo: float | None = None) -> Callable[[object], float | None]:
    """A JSON number in [lo, limit] (lo: -limit); booleans and NaN are not numbers here. (Not the parsers'
    `text.number`, which reads a text cell in a polars query.)"""
    low = -limit if lo is None else lo

    def convert(value: object) -> float | None:
        real = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if real and low <= value <= limit else None  # type: ignore[operator, arg-type]

    return convert


def _whole(lo: int, hi: int) -> Callable[[object], int | None]:
    """A whole number in [lo, hi], also written as a string of digits ("32", as collect's labels are)."""

    def convert(value: object) -> int | None:
        if isinstance(value, str) and len(value) <= 12 and value.isascii() and value.isdigit():
            value = int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi else None

    return convert


def _unix_s(value: object) -> float | None:
    return _within(1e11, 0)(value.get("unix_s")) if isinstance(value, dict) else None


def _interval_s(value: object) -> float | None:
    found = _within(3600, 0)(value.get("interval_s")) if isinstance(value, dict) else None
    return found or None  # 0 s is no interval


def _labels(value: object, bad: _Bad) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        bad("labels", "an object of strings", value)
        return {}
    labels = {}
    for key, label in value.items():
        if isinstance(label, int) and not isinstance(label, bool):
            label = str(label)
        elif isinstance(label, float) and math.isfinite(label):
            label = f"{label:g}"
        if not isinstance(label, str):
            bad(f"labels.{key}", "a string", label)
        elif key == "batch_size" and _whole(1, 2**31)(label) is None:
            bad("labels.batch_size", "a whole number >= 1", label)
        else:
            labels[key] = label
    return labels


def _gpus(value: object, bad: _Bad) -> tuple[int, ...]:
    """GPU indices: a list of numbers or of objects with an index; one bad entry voids the list (a partial
    list would silently leave GPUs out of the figures)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        bad("gpus", "a list of GPUs", value)
        return ()
    index = _whole(0, _MAX_GPU_INDEX)
    found = [index(g.get("index") if isinstance(g, dict) else g) for g in value]
    for i, (g, converted) in enumerate(zip(value, found, strict=True)):
        if converted is None:
            bad(f"gpus[{i}]", f"a GPU index in [0, {_MAX_GPU_INDEX}] or an object with one", g)
            return ()
    return tuple(g for g in found if g is not None)


def _shown(value: object) -> str:
    """A short description of a JSON value (never the whole of a big or deeply nested one)."""
    if isinstance(value, str):
        return repr(value[:60]) + ("..." if len(value) > 60 else "")
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"an object with {len(value)} key(s)"
    return "null" if value is None else repr(value)
