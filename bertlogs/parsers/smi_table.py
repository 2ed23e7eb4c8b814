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
# (group index in NUMBER_ROW, column): the fan and the performance state are not kept
_CELLS = [
    (1, "temp_c"),
    (3, "power_w"),
    (4, "power_limit_w"),
    (5, "memory_used_mib"),
    (6, "memory_total_mib"),
    (7, "util_pct"),
]
_INDEX_ROW = r"^\|\s+(\d+)\s+\S.*\|.*\|.*\|\s*$"
_HEADER = r"^\|\s*NVIDIA-SMI "
_EPOCH = r"^\s*\d{9,10}(?:\.\d+)?\s*$"
# `date` default output: Tue Oct 29 19:00:23 2024 / Mon Nov 25 16:32:50 UTC 2019
_DATE = (
    r"^\s*[A-Z][a-z]{2} (?<month>[A-Z][a-z]{2}) +(?<day>\d{1,2}) (?<clock>\d\d:\d\d:\d\d) "
    r"(?:(?<zone>[A-Z]{2,5}) )?(?<year>\d{4})\s*$"
)


_DATE_PY = _DATE.replace("(?<", "(?P<")


def parse(text: str, *, utc_offset_s: float = 0.0) -> pl.DataFrame:
    """Samples of a table or `grep %` capture; `utc_offset_s` converts `date`'s local times."""
    return parse_lines(text_lines(text), head=text[:65536], utc_offset_s=utc_offset_s)


def parse_lines(lines: pl.LazyFrame, *, head: str, utc_offset_s: float = 0.0, streaming: bool = False) -> pl.DataFrame:
    """`head` (the file's first 64 KiB) says which kinds of lines to look for: tables, `date` lines."""
    tables = re.search(_HEADER, head, re.MULTILINE) is not None
    dates = re.search(_DATE_PY, head, re.MULTILINE) is not None
    frame = _classify(lines, utc_offset_s, tables, dates).collect(engine=engine(streaming))
    if frame.is_empty() or not frame["row"].any():
        return conform(pl.DataFrame(), SAMPLE_SCHEMA)
    stamped_rows = frame["stamp"].is_not_null()
    first_stamp = stamped_rows.arg_max() if stamped_rows.any() else None
    has_header = bool(frame["header"].any())
    first_row = int(frame["row"].arg_max() or 0)
    stamps_follow = not has_header and first_stamp is not None and first_stamp > first_row
    stamped = pl.col("stamp").is_not_null()
    if has_header:
        # a table starts at its header, or at the `date` line just above it; its stamp is that date
        boundary = (pl.col("header") & ~stamped.shift(1).fill_null(False)) | (
            stamped & pl.col("header").shift(-1).fill_null(False)
        )
        time = pl.when(boundary).then(pl.col("stamp").fill_null(float("nan"))).forward_fill().fill_nan(None)
    elif first_stamp is None:
        boundary, time = pl.col("row"), pl.lit(None, pl.Float64)  # a bare `grep %` file: a row is a sample
    else:
        boundary = stamped
        # a stamp written after each sample (the seed's watch loop) closes the rows before it
        time = pl.col("stamp").backward_fill() if stamps_follow else pl.col("stamp").forward_fill()
    sample = boundary.cum_sum() - (boundary.cast(pl.Int64) if stamps_follow else 0)
    rows = (
        frame.lazy()
        .with_columns(sample=sample, time=time, index_above=_index_above())
        .filter(pl.col("row"))
        .with_columns(sample=(pl.col("sample") != pl.col("sample").shift(1)).fill_null(True).cum_sum() - 1)
        .with_columns(gpu=pl.coalesce("index_above", _position_in_sample()))
        .collect(engine="in-memory")
    )
    return conform(rows, SAMPLE_SCHEMA)


def _index_above() -> pl.Expr:
    """The index row directly above a number row names its GPU."""
    return pl.when(pl.col("line").shift(1) == pl.col("line") - 1).then(pl.col("index").shift(1))


def _position_in_sample() -> pl.Expr:
    """0, 1, ... within each run of equal `sample` values (which never decrease)."""
    position = pl.int_range(pl.len(), dtype=pl.Int64)
    first = pl.when(pl.col("sample") != pl.col("sample").shift(1).fill_null(-1)).then(position).forward_fill()
    return position - first


def _classify(lines: pl.LazyFrame, utc_offset_s: float, tables: bool, dates: bool) -> pl.LazyFrame:
    """Per line: row/header flags, the index of an index row, a stamp, and the number row's cells as numbers.

    Only what the file can hold is looked for: each regex costs a pass over every line.
    """
    t = pl.col("text")
    epoch = t.str.contains(_EPOCH)
    stamp: pl.Expr = pl.when(epoch).then(t.str.strip_chars().cast(pl.Float64, strict=False))
    if dates:
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
        from_date = pl.when(t.str.contains(_DATE)).then(local.dt.epoch("ms").cast(pl.Float64) / 1000 - zone_offset)
        stamp = pl.coalesce(stamp, from_date)
    index = (
        pl.when(t.str.contains(_INDEX_ROW)).then(t.str.extract(_INDEX_ROW, 1).cast(pl.Int32))
        if tables
        else pl.lit(None, pl.Int32)
    )
    cells = pl.col("cells")
    return (
        lines.with_columns(
            line=pl.col("line").cast(pl.Int32),
            row=t.str.contains(NUMBER_ROW),
            header=t.str.contains(_HEADER) if tables else pl.lit(False),
            index=index,
            stamp=stamp,
        )
        .filter(pl.col("row") | pl.col("header") | pl.col("stamp").is_not_null() | pl.col("index").is_not_null())
        # the row matched NUMBER_ROW: its cells are the words between the bars and slashes (N/A is one word)
        .with_columns(cells=pl.when(pl.col("row")).then(t.str.extract_all(r"N/A|[^\s|/]+")))
        .with_columns([_number(cells.list.get(i, null_on_oob=True)).alias(name) for i, name in _CELLS])
        .drop("text", "cells")
    )


def _number(cell: pl.Expr) -> pl.Expr:
    """`113W`, `11636MiB`, `11000MB`, `35%`, `67C` -> float; `N/A`, `ERR!` and the like -> null."""
    return cell.str.strip_chars_end("WMiBC%").cast(pl.Float32, strict=False)
