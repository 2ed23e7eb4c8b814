"""nvidia-smi default tables (drivers 352 to 580), single or repeated, and the `nvidia-smi | grep %` form.

Samples are told apart by the table header (`| NVIDIA-SMI ...`) or by interleaved stamp lines
(`date +%s.%N`, or `date`'s default format). A stamp line written after each sample (the seed's
`watch` loop) stamps the rows before it; a capture whose first stamp precedes the first row stamps the
rows after it. GPUs are identified by the index row above each number row, else by position.

Two stages: a streamed pass turns every line into flags and numbers (no strings kept), then the much
smaller result is grouped into samples.
"""

from __future__ import annotations

import re

import polars as pl

from bertlogs.parsers.text import engine, text_lines
from bertlogs.schema import SAMPLE_SCHEMA, conform

# | 39%   67C    P2   113W / 250W |  11636MiB / 12189MiB |     35%      Default |
NUMBER_ROW = (
    r"^\|\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*/\s*([^|\s]+)\s*\|\s*([^/\s]+)\s*/\s*([^|\s]+)\s*\|\s*(\S+)\s+\S+\s*\|"
)
_CELLS = ["fan_pct", "temp_c", "perf", "power_w", "power_limit_w", "memory_used_mib", "memory_total_mib", "util_pct"]
_INDEX_ROW = r"^\|\s+(\d+)\s+\S.*\|.*\|.*\|\s*$"
_HEADER = r"^\|\s*NVIDIA-SMI "
_EPOCH = r"^\s*\d{9,10}(?:\.\d+)?\s*$"
# `date` default output: Tue Oct 29 19:00:23 2024 / Mon Nov 25 16:32:50 UTC 2019
_DATE = (
    r"^\s*[A-Z][a-z]{2} (?<month>[A-Z][a-z]{2}) +(?<day>\d{1,2}) (?<clock>\d\d:\d\d:\d\d) "
    r"(?:(?<zone>[A-Z]{2,5}) )?(?<year>\d{4})\s*$"
)


def looks_like(text_head: str) -> bool:
    return re.search(NUMBER_ROW, text_head, re.MULTILINE) is not None


def parse(text: str, *, utc_offset_s: float = 0.0) -> pl.DataFrame:
    """Samples of a table or `grep %` capture; `utc_offset_s` converts `date`'s local times."""
    return parse_lines(text_lines(text), utc_offset_s=utc_offset_s)


def parse_lines(lines: pl.LazyFrame, *, utc_offset_s: float = 0.0, streaming: bool = False) -> pl.DataFrame:
    frame = _classify(lines, utc_offset_s).collect(engine=engine(streaming))
    if frame.is_empty() or not frame["row"].any():
        return conform(pl.DataFrame(), SAMPLE_SCHEMA)
    first_row = frame["row"].arg_max()
    stamped_rows = frame["stamp"].is_not_null()
    first_stamp = stamped_rows.arg_max() if stamped_rows.any() else None
    has_header = bool(frame["header"].any())
    stamps_follow = not has_header and first_stamp is not None and first_row is not None and first_stamp > first_row
    stamped = pl.col("stamp").is_not_null()
    # a table starts at its header, or at the `date` line just above it
    table_start = (pl.col("header") & ~stamped.shift(1).fill_null(False)) | (
        stamped & pl.col("header").shift(-1).fill_null(False)
    )
    boundary = table_start if has_header else stamped
    # a stamp after the sample belongs to the rows before it: number samples so that it closes them
    sample = boundary.cum_sum() - (boundary.cast(pl.Int64) if stamps_follow else 0)
    frame = frame.with_columns(
        sample=sample,
        # the index row directly above a number row names its GPU
        gpu_index=pl.when(pl.col("line").shift(1) == pl.col("line") - 1).then(pl.col("index").shift(1)),
    )
    stamp_of = pl.col("stamp").drop_nulls()
    stamp_of = (stamp_of.last() if stamps_follow else stamp_of.first()).over("sample")
    rows = frame.with_columns(time=stamp_of).filter(pl.col("row"))
    if not has_header and first_stamp is None:
        # a bare `grep %` file without stamps: each row is a sample of one GPU
        rows = rows.with_columns(sample=pl.int_range(pl.len()))
    rows = rows.with_columns(
        sample=(pl.col("sample").rank("dense") - 1).cast(pl.Int64),
        gpu=pl.coalesce("gpu_index", pl.int_range(pl.len()).over("sample")),
    )
    return conform(rows, SAMPLE_SCHEMA)


def _classify(lines: pl.LazyFrame, utc_offset_s: float) -> pl.LazyFrame:
    """Per line: row/header flags, the index of an index row, a stamp, and the number row's cells as floats."""
    t = pl.col("text")
    row = t.str.contains(NUMBER_ROW)
    cells = t.str.extract_groups(NUMBER_ROW)
    date = t.str.extract_groups(_DATE)
    local = (
        date.struct["year"]
        + " "
        + date.struct["month"]
        + " "
        + date.struct["day"].str.zfill(2)
        + " "
        + date.struct["clock"]
    ).str.to_datetime("%Y %b %d %H:%M:%S", strict=False)
    zone_offset = pl.when(date.struct["zone"] == "UTC").then(0.0).otherwise(utc_offset_s)
    stamp = (
        pl.when(t.str.contains(_EPOCH))
        .then(t.str.strip_chars().cast(pl.Float64, strict=False))
        .when(t.str.contains(_DATE))
        .then(local.dt.epoch("ms").cast(pl.Float64) / 1000 - zone_offset)
    )
    return (
        lines.with_columns(
            row=row,
            header=t.str.contains(_HEADER),
            index=pl.when(t.str.contains(_INDEX_ROW)).then(t.str.extract(_INDEX_ROW, 1).cast(pl.Int64)),
            stamp=stamp,
        )
        .filter(pl.col("row") | pl.col("header") | pl.col("stamp").is_not_null() | pl.col("index").is_not_null())
        .with_columns(pl.when(pl.col("row")).then(cells).alias("cells"))
        .with_columns([_number(pl.col("cells").struct[str(i + 1)]).alias(name) for i, name in enumerate(_CELLS)])
        .drop("text", "cells", "perf")
    )


def _number(cell: pl.Expr) -> pl.Expr:
    """`113W`, `11636MiB`, `11000MB`, `35%`, `67C` -> float; `N/A`, `ERR!` and the like -> null."""
    return cell.str.strip_chars_end("WMiBC%").cast(pl.Float64, strict=False)
