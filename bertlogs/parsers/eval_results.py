"""BERT's `eval_results.txt`: `key = value` lines, `#` comments allowed."""

from __future__ import annotations

import re

import polars as pl

from bertlogs import facts as vocab
from bertlogs.parsers.text import KEY_VALUE, Source
from bertlogs.schema import FACT_SCHEMA, conform

_KEY_VALUE = re.compile(KEY_VALUE)
_LINES_JUDGED = 50


def looks_like(head: str) -> bool:
    """Every line of the head's first 50 (blank and `#` comment lines aside) is `key = value`."""
    lines = [s for s in head.splitlines() if s.strip() and not s.lstrip().startswith("#")]
    return bool(lines) and all(_KEY_VALUE.match(s) for s in lines[:_LINES_JUDGED])


def parse(source: Source, *, utc_offset_s: float) -> tuple[pl.DataFrame, list[str]]:
    """One EVAL fact per `key = value` line whose value is a number; the step is `global_step`'s value (the
    file has no clock of its own: a peeled date-time prefix gives a line its time, local at `utc_offset_s`)."""
    pair = pl.col("pair").struct
    found = (
        source.lines(utc_offset_s)
        .with_columns(pair=pl.col("text").str.extract_groups(KEY_VALUE))
        .select(
            "line",
            time="stamp_s",
            clock="stamp_clock",
            kind=pl.lit(vocab.EVAL),
            key=pair["key"],
            value=pair["value"].str.to_lowercase().cast(pl.Float64, strict=False),
        )
        .filter(pl.col("value").is_not_null())
        .collect(engine="in-memory")
    )
    step = found.filter(pl.col("key") == vocab.GLOBAL_STEP)["value"].max()
    # NaN, inf or a 27-digit global_step is no step
    return conform(found.with_columns(step=pl.lit(step).cast(pl.Int64, strict=False)), FACT_SCHEMA), []
