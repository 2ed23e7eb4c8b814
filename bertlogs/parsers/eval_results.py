"""BERT's `eval_results.txt`: `key = value` lines, `#` comments allowed."""

from __future__ import annotations

import polars as pl

from bertlogs.parsers.text import text_lines
from bertlogs.schema import FACT_SCHEMA, conform

PAIR = r"^\s*([A-Za-z_][\w.]*)\s*=\s*(\S+)\s*$"


def looks_like(text_head: str) -> bool:
    import re

    lines = [s for s in text_head.splitlines() if s.strip() and not s.lstrip().startswith("#")]
    return bool(lines) and all(re.match(PAIR, s) for s in lines[:50])


def parse(text: str) -> pl.DataFrame:
    return parse_lines(text_lines(text))


def parse_lines(lines: pl.LazyFrame) -> pl.DataFrame:
    found = lines.filter(pl.col("text").str.contains(PAIR)).collect(engine="in-memory")
    frame = found.with_columns(
        kind=pl.lit("eval"),
        key=pl.col("text").str.extract(PAIR, 1),
        value=pl.col("text").str.extract(PAIR, 2).str.to_lowercase().cast(pl.Float64, strict=False),
    ).filter(pl.col("value").is_not_null())
    step = frame.filter(pl.col("key") == "global_step")["value"].max()
    # NaN, inf or a 27-digit global_step is no step
    return conform(frame.with_columns(step=pl.lit(step).cast(pl.Int64, strict=False)), FACT_SCHEMA)
