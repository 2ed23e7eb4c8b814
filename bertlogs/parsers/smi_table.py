"""nvidia-smi default tables (drivers 352 to 580), single or repeated, and the `nvidia-smi | grep %` form.

Samples are told apart by the table header (`| NVIDIA-SMI ...`) or by interleaved stamp lines
(`date +%s.%N`, or `date`'s default format). A stamp line written after each sample (the seed's
`watch` loop) stamps the rows before it; a capture whose first stamp precedes the first row stamps the
rows after it. GPUs are identified by the index row above each number row, else by position.
"""

from __future__ import annotations

import polars as pl

from bertlogs.parsers.text import lines_frame
from bertlogs.schema import SAMPLE_SCHEMA, conform

# | 39%   67C    P2   113W / 250W |  11636MiB / 12189MiB |     35%      Default |
NUMBER_ROW = r"^\|\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+?)\s*/\s*(\S+?)\s*\|\s*(\S+?)\s*/\s*(\S+?)\s*\|\s*(\S+)\s+\S+\s*\|"
_INDEX_ROW = r"^\|\s+(\d+)\s+\S.*\|.*\|.*\|\s*$"
_HEADER = r"^\|\s*NVIDIA-SMI "
_EPOCH = r"^\s*(\d{9,10}(?:\.\d+)?)\s*$"
# `date` default output: Tue Oct 29 19:00:23 2024 / Mon Nov 25 16:32:50 UTC 2019
_DATE = r"^\s*[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d\d:\d\d:\d\d) (?:([A-Z]{2,5}) )?(\d{4})\s*$"


def looks_like(text_head: str) -> bool:
    import re

    return re.search(NUMBER_ROW, text_head, re.MULTILINE) is not None


def parse(text: str, *, utc_offset_s: float = 0.0) -> pl.DataFrame:
    """Samples of a table or `grep %` capture; `utc_offset_s` converts `date`'s local times."""
    lines = lines_frame(text)
    t = pl.col("text")
    frame = lines.with_columns(
        row=t.str.contains(NUMBER_ROW),
        header=t.str.contains(_HEADER),
        index=t.str.extract(_INDEX_ROW, 1).cast(pl.Int64).shift(1),
        stamp=_stamp_expr(utc_offset_s),
    )
    frame = frame.filter(pl.col("row") | pl.col("header") | pl.col("stamp").is_not_null())
    first_row = frame["row"].arg_max()
    first_stamp = frame["stamp"].is_not_null().arg_max() if frame["stamp"].is_not_null().any() else None
    has_header = bool(frame["header"].any())
    stamps_follow = first_stamp is not None and first_row is not None and first_stamp > first_row
    stamped = pl.col("stamp").is_not_null()
    # a table starts at its header, or at the `date` line just above it
    table_start = (pl.col("header") & ~stamped.shift(1).fill_null(False)) | (
        stamped & pl.col("header").shift(-1).fill_null(False)
    )
    boundary = table_start if has_header else stamped
    # a stamp after the sample belongs to the rows before it: number samples so that it closes them
    sample = boundary.cum_sum() - (boundary.cast(pl.Int64) if stamps_follow and not has_header else 0)
    frame = frame.with_columns(sample=sample)
    stamp_of = (
        pl.col("stamp").drop_nulls().first().over("sample")
        if not stamps_follow or has_header
        else pl.col("stamp").drop_nulls().last().over("sample")
    )
    rows = frame.with_columns(time=stamp_of).filter(pl.col("row"))
    if not has_header and first_stamp is None:
        # a bare `grep %` file without stamps: each row is a sample of one GPU
        rows = rows.with_columns(sample=pl.int_range(pl.len()))
    cell = lambda i: t.str.extract(NUMBER_ROW, i)  # noqa: E731
    rows = rows.with_columns(
        sample=(pl.col("sample") - pl.col("sample").min()).rank("dense").cast(pl.Int64) - 1,
        gpu=pl.coalesce("index", pl.int_range(pl.len()).over("sample")),
        fan_pct=_number(cell(1)),
        temp_c=_number(cell(2)),
        power_w=_number(cell(4)),
        power_limit_w=_number(cell(5)),
        memory_used_mib=_number(cell(6)),
        memory_total_mib=_number(cell(7)),
        util_pct=_number(cell(8)),
    )
    return conform(rows, SAMPLE_SCHEMA)


def _number(cell: pl.Expr) -> pl.Expr:
    """`113W`, `11636MiB`, `35%`, `67C` -> float; `N/A`, `ERR!` and the like -> null."""
    return cell.str.extract(r"^(\d+(?:\.\d+)?)", 1).cast(pl.Float64)


def _stamp_expr(utc_offset_s: float) -> pl.Expr:
    t = pl.col("text")
    epoch = t.str.extract(_EPOCH, 1).cast(pl.Float64)
    human = (
        t.str.extract(_DATE, 5)
        + " "
        + t.str.extract(_DATE, 1)
        + " "
        + t.str.extract(_DATE, 2).str.zfill(2)
        + " "
        + t.str.extract(_DATE, 3)
    ).str.to_datetime("%Y %b %d %H:%M:%S", strict=False)
    zone = t.str.extract(_DATE, 4)
    human_s = human.dt.epoch("ms").cast(pl.Float64) / 1000 - pl.when(zone == "UTC").then(0.0).otherwise(utc_offset_s)
    return pl.coalesce(epoch, human_s)
