"""nvidia-smi `--query-gpu=... --format=csv[,noheader][,nounits]` captures, and collect's own gpu.csv.

The header names the columns (`power.draw [W]`); anything before it (a command line, a default table)
is skipped. Without a header, columns are recognised by their units (`%`, `W`, `MiB`, the timestamp
form); two MiB columns whose sum stays constant are read as used and free memory.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from bertlogs.errors import ParseError
from bertlogs.parsers.text import engine, scan_fields, text_lines
from bertlogs.schema import SAMPLE_SCHEMA, conform

# nvidia-smi query names (and collect's own gpu.csv names) -> tidy column
COLUMNS = {
    "timestamp": "timestamp",
    "time_unix_s": "time",
    "sample": "sample",
    "index": "gpu",
    "gpu": "gpu",
    "power.draw": "power_w",
    "power.draw.average": "power_w",
    "power_w": "power_w",
    "power.limit": "power_limit_w",
    "enforced.power.limit": "power_limit_w",
    "power_limit_w": "power_limit_w",
    "energy_mj": "energy_mj",
    "memory.used": "memory_used_mib",
    "memory_used_mib": "memory_used_mib",
    "memory.total": "memory_total_mib",
    "memory_total_mib": "memory_total_mib",
    "memory.free": "memory_free_mib",
    "utilization.gpu": "util_pct",
    "util_pct": "util_pct",
    "utilization.memory": "mem_util_pct",
    "mem_util_pct": "mem_util_pct",
    "temperature.gpu": "temp_c",
    "temp_c": "temp_c",
}
_NAME = r"^\s*([a-z_][a-z_.]*)(?:\s*\[[^\]]*\])?\s*$"
_HEAD_LINES = 200
# a header line's start: a query name, maybe with its unit in brackets, then a comma
HEADER_START = r"^\s*[a-z_][a-z_.]*(?:\s*\[[^\]]*\])?\s*,"
_TIMESTAMP = r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)?$"


def looks_like(text_head: str) -> bool:
    return any(_header_fields(line) or _unit_fields(line) for line in text_head.splitlines()[:200])


def parse(text: str, *, path: str = "<text>", utc_offset_s: float = 0.0) -> pl.DataFrame:
    """Samples of a CSV query capture; `utc_offset_s` converts its local `timestamp` column."""
    data = text.replace("\x00", "\ufffd").encode()
    return parse_data(data, head=text, path=path, utc_offset_s=utc_offset_s)


def parse_data(
    data: Path | bytes,
    *,
    head: str,
    path: str = "<text>",
    utc_offset_s: float = 0.0,
    streaming: bool = False,
    before_line: int | None = None,
) -> pl.DataFrame:
    """Samples of a CSV capture held in `data` (a file or bytes) whose first lines are `head` (the header is
    looked for there, not in the file again); rows from `before_line` on are ignored."""
    first_lines = text_lines(head).head(_HEAD_LINES).collect(engine="in-memory")
    header_line, names = _find_header(first_lines)
    if header_line is None:
        names = _infer_columns(first_lines.filter(pl.col("text").str.contains(",")), path)
    rows = scan_fields(data, width=len(names), skip_lines=header_line or 0)
    if header_line is not None:  # the header again: a restarted poller appending to the same file
        rows = rows.filter(pl.col("c0").str.strip_chars() != names[0])
    if before_line is not None:  # a truncated last line
        rows = rows.filter(pl.col("line") < before_line)
    columns: dict[str, pl.Expr] = {}
    for i, name in enumerate(names):
        target = COLUMNS.get(name)
        if target is not None and target not in columns:
            cell = pl.col(f"c{i}")
            columns[target] = cell.str.strip_chars() if target == "timestamp" else _number(cell)
    if not columns:
        return conform(pl.DataFrame(), SAMPLE_SCHEMA)
    # a line that is no row (blank, prose, a table) has no value that reads
    frame = rows.select(**columns).filter(pl.any_horizontal(pl.all().is_not_null()))
    if "timestamp" in columns:
        frame = frame.with_columns(time=_unix_s(pl.col("timestamp")) - utc_offset_s)
    if "memory_free_mib" in columns and "memory_total_mib" not in columns:
        used = pl.col("memory_used_mib") if "memory_used_mib" in columns else pl.lit(0.0)
        frame = frame.with_columns(memory_total_mib=used + pl.col("memory_free_mib"))
    if "sample" not in columns:
        frame = frame.with_columns(sample=_sample_numbers(columns))
    if "gpu" not in columns:
        frame = frame.with_columns(gpu=pl.lit(0))
    # one query: on a big capture, the timestamps' text never exists whole
    return conform(frame, SAMPLE_SCHEMA).collect(engine=engine(streaming))


def _unix_s(stamp: pl.Expr) -> pl.Expr:
    """`2019/11/25 14:00:00.100` -> seconds since 1970-01-01 00:00 in the stamp's own zone, to the nearest
    millisecond; anything else -> null.

    The date is parsed once per distinct day (cached) and the clock read from its fixed places: half of
    strptime's time on a big capture.
    """
    days = stamp.str.slice(0, 10).str.to_date("%Y/%m/%d", strict=False, cache=True).cast(pl.Int64)
    hour, minute = (stamp.str.slice(start, 2).cast(pl.Int64, strict=False) for start in (11, 14))
    second = stamp.str.slice(17).cast(pl.Float64, strict=False)
    valid = stamp.str.contains(_TIMESTAMP) & (hour < 24) & (minute < 60) & (second < 61)
    unix_ms = (days * 86_400 + hour * 3600 + minute * 60) * 1000 + (second * 1000).round()
    return pl.when(valid).then(unix_ms / 1000)


def _number(cell: pl.Expr) -> pl.Expr:
    """`250.07 W`, `17304 MiB`, `34 %`, `1500 MHz`, `250.07` -> float; `[N/A]`, `[Not Supported]` -> null."""
    return cell.str.strip_chars(" \t\rWMiB%Hz").cast(pl.Float64, strict=False)


def _sample_numbers(columns: dict[str, pl.Expr]) -> pl.Expr:
    """A new sample starts where the GPU index does not grow (or at every row for one GPU)."""
    if "gpu" not in columns:
        return pl.int_range(pl.len())
    new = (pl.col("gpu") <= pl.col("gpu").shift(1)).fill_null(True)
    if "timestamp" in columns:
        new = new | (pl.col("time") != pl.col("time").shift(1)).fill_null(True)
    return new.cum_sum() - 1


def _header_fields(line: str) -> list[str] | None:
    parts = line.split(",")
    if len(parts) < 2:
        return None
    names = []
    for part in parts:
        m = re.match(_NAME, part)
        if not m:
            return None
        names.append(m.group(1))
    return names if any(n in COLUMNS for n in names) else None


def _unit_fields(line: str) -> bool:
    parts = [p.strip() for p in line.split(",")]
    return len(parts) >= 2 and sum(bool(re.match(r"^[\d.]+ (%|W|MiB)$", p)) for p in parts) >= 2


def _find_header(lines: pl.DataFrame) -> tuple[int | None, list[str]]:
    candidates = lines.filter(pl.col("text").str.contains(HEADER_START)).head(50)
    for line_no, text in candidates.iter_rows():
        names = _header_fields(text)
        if names:
            return line_no, names
    return None, []


def _infer_columns(rows: pl.DataFrame, path: str) -> list[str]:
    """Name headerless columns from the units of the first data row."""
    if rows.is_empty():
        raise ParseError(path, "no CSV rows found")
    first = [p.strip() for p in rows["text"][0].split(",")]
    names: list[str] = []
    pct = ["utilization.gpu", "utilization.memory"]
    mib_positions = []
    for i, value in enumerate(first):
        if re.match(_TIMESTAMP, value):
            names.append("timestamp")
        elif value.endswith(" %") and pct:
            names.append(pct.pop(0))
        elif value.endswith(" W"):
            names.append("power.draw" if "power.draw" not in names else "power.limit")
        elif value.endswith(" MiB"):
            mib_positions.append(i)
            names.append("memory.used")
        else:
            names.append(f"unknown_{i}")
    if len(mib_positions) == 2:
        a, b = mib_positions
        pair = rows.select(
            [
                pl.col("text").str.split(",").list.get(i).str.extract(r"(\d+)", 1).cast(pl.Float64).alias(str(i))
                for i in (a, b)
            ]
        ).drop_nulls()
        col_a, col_b = pair[str(a)].to_list(), pair[str(b)].to_list()
        used_plus_other = [x + y for x, y in zip(col_a, col_b, strict=True)]
        if len(set(col_b)) == 1 and col_b[0] >= max(col_a):
            names[b] = "memory.total"
        elif len(set(col_a)) == 1 and col_a[0] >= max(col_b):
            names[a], names[b] = "memory.total", "memory.used"
        elif max(used_plus_other) - min(used_plus_other) <= 0.01 * max(used_plus_other):
            names[b] = "memory.free"
    return names
