"""nvidia-smi `--query-gpu=... --format=csv[,noheader][,nounits]` captures, and collect's own gpu.csv.

The header names the columns (`power.draw [W]`); anything before it (a command line, a default table)
is skipped. Without a header, columns are recognised by their units (`%`, `W`, `MiB`, the timestamp
form); two MiB columns whose sum stays constant are read as used and free memory.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bertlogs.errors import ParseError
from bertlogs.parsers import smi_csv_fast
from bertlogs.parsers.text import (
    AtLineStart,
    Source,
    engine,
    null_column,
    number,
    read_ahead,
    scan_fields,
    unix_s,
)
from bertlogs.raw import GPU_CSV_COLUMNS
from bertlogs.schema import SAMPLE_SCHEMA, conform

# nvidia-smi query names -> tidy column; then collect's gpu.csv names, and bertlogs' own tidy names
COLUMNS = {
    "timestamp": "timestamp",
    "index": "gpu",
    "power.draw": "power_w",
    "power.draw.average": "power_w",
    "power.limit": "power_limit_w",
    "enforced.power.limit": "power_limit_w",
    "memory.used": "memory_used_mib",
    "memory.total": "memory_total_mib",
    "memory.free": "memory_free_mib",
    "utilization.gpu": "util_pct",
    "utilization.memory": "mem_util_pct",
    "temperature.gpu": "temp_c",
    **{name: tidy for name, tidy in GPU_CSV_COLUMNS.items() if tidy is not None},
    **{name: name for name in SAMPLE_SCHEMA if name != "time"},
}
# Recognised and deliberately not read, without a warning: nvidia-smi's identity fields, and the columns of
# collect's gpu.csv that are bookkeeping (mono_ns, latency_ms) or readings no figure uses.
_NOT_READ = {
    "name", "uuid", "serial", "count", "pci.bus_id", "driver_version", "vbios_version", "pstate",
    *(name for name, tidy in GPU_CSV_COLUMNS.items() if tidy is None),
}  # fmt: skip
# The groups of `nvidia-smi --help-query-gpu`: a name under one of them is nvidia-smi's (read or not).
_SMI_GROUP = re.compile(
    r"^(?:clocks|clocks_throttle_reasons|clocks_event_reasons|fan|temperature|power|enforced|module|memory"
    r"|utilization|encoder|pci|pcie|ecc|retired_pages|remapped_rows|inforom|accounting|driver_model|gom|mig"
    r"|reset_status|compute_mode|persistence_mode|display_mode|display_active|addressing_mode)(?:\.|$)"
)
_READINGS = set(COLUMNS.values()) - {"timestamp", "time", "sample", "gpu"}
_NAME = r"^\s*([a-z_][a-z_.0-9]*)(?:\s*\[[^\]]*\])?\s*$"
_HEAD_LINES = 200
# the bytes read and parsed at a time: a piece, its fields' text and the frame (several times the piece) are
# what `chunks` holds on a capture of any size
PIECE_BYTES = 2 * 2**20
# nvidia-smi has about 200 query fields: a line with more commas is no header or row of ours (and splitting a
# megabyte line of commas in Python would take a second)
_MAX_FIELDS = 256
# a header line's start: a query name, maybe with its unit in brackets, then a comma
HEADER_START = r"^[ \t]*[a-z_][a-z_.0-9]*(?:[ \t]*\[[^\]\n]*\])?[ \t]*,"
_TIMESTAMP = r"^[0-9]{4}/[0-9][0-9]/[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9](?:\.[0-9]+)?$"
# a timestamp of another form than nvidia-smi's (`2024-05-01T10:00:00+08:00`, `...Z`, `2024-05-01 10:00:00.123`):
# read by the general (slower) date-time reader, its own zone winning over the capture's UTC offset
_OTHER_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:|:[0-9]{2}(?:[.,][0-9]+)?[ \t]*(?:Z|UTC|[+-][0-9]{2}:?[0-9]{2})\b"
)
# `250.07 W`, `17304 MiB`, `34 %`, `1500 MHz` read as their numbers
_UNITS = " \t\rWMiB%Hz"
_WITH_UNIT = re.compile(r"^[0-9]+(?:\.[0-9]+)? (%|W|MiB)$")
# A header's start at a line's start, or a number with its unit ending a field: what every capture CSV's head
# holds (`_maybe_csv`), searched for from a literal first character, which re skips to (a pattern starting with
# `^` or a digit is tried at nearly every position: 8x slower on a TF1 log's head, which is asked too).
_HEADER_LINE = AtLineStart.of(HEADER_START.removeprefix("^"))
_UNIT_BLANK = re.compile(r" (?:%|W|MiB)[ \t]*(?:,|\r?$)", re.MULTILINE)  # implied by the next: checked first
_NUMBER_UNIT = re.compile(r"[0-9] (?:%|W|MiB)[ \t]*(?:,|\r?$)", re.MULTILINE)
# `nvidia-smi --query-gpu=a,b,c --format=csv,noheader` written above its rows: it names their columns
_QUERY_COMMAND = re.compile(r"--query-gpu[= ]([a-z_.0-9]+(?:,[a-z_.0-9]+)*)")


def looks_like(text_head: str) -> bool:
    """A GPU capture's CSV: a header of nvidia-smi or collect columns, else rows of values with units."""
    if "," not in text_head or not _maybe_csv(text_head):  # asked of many heads: C first
        return False
    lines = head_lines(text_head)
    found = _header(lines)
    if found is not None:
        return refusal(found[1]) is None
    return any(_unit_fields(line) for line in lines)


def _maybe_csv(text_head: str) -> bool:
    """Whether a line of the head starts as a header does, or a field ends in a number with its unit."""
    if _HEADER_LINE.search(text_head):
        return True
    return _UNIT_BLANK.search(text_head) is not None and _NUMBER_UNIT.search(text_head) is not None


def refused_header(text_head: str) -> str | None:
    """Why the CSV in `text_head` is not a GPU capture (CodeCarbon, unknown columns), or None."""
    found = _header(head_lines(text_head))
    return refusal(found[1]) if found is not None else None


def refusal(names: list[str]) -> str | None:
    """Why a CSV with these columns is not a GPU capture, or None when it is one."""
    if {"project_name", "emissions"} <= set(names):
        return "CodeCarbon emissions.csv: not a GPU capture bertlogs reads"
    unknown = [n for n in names if not _is_gpu_column(n)]
    if 2 * len(unknown) > len(names) or not {COLUMNS.get(n) for n in names} & _READINGS:
        shown = ", ".join(unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
        return f"CSV with unknown columns: {shown} (not nvidia-smi --query-gpu or collect gpu.csv telemetry)"
    return None


def head_lines(text_head: str) -> list[str]:
    """The head's first lines as polars reads them (split at LF only, CR and what a redraw hid removed)."""
    return [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text_head.split("\n", _HEAD_LINES)[:_HEAD_LINES]]


def evidence(head: str) -> int:
    """How many of the head's lines hold a comma (weighed against another format that also claims it)."""
    return sum("," in line for line in head.split("\n"))


def parse(source: Source, *, utc_offset_s: float) -> tuple[pl.DataFrame, list[str]]:
    """Samples of a CSV capture (its header is looked for in the head, not in the file again), and a warning
    naming the columns not read; `utc_offset_s` converts its local `timestamp` column.

    One query over the whole file, which holds its text (about 3x the file): the frame of `chunks`
    concatenated (tested to be identical), which took 5-10% more CPU and, kept whole, saved nothing of
    `analyze`'s peak memory (400-440 MB on a 131 MB capture either way): a reader that keeps memory bounded
    takes `chunks` one at a time.

    Raises:
        ParseError: no header and no row whose values carry units.
    """
    layout = _layout(source)
    if not layout.columns:
        return pl.DataFrame(schema=SAMPLE_SCHEMA), layout.warnings
    # from the header on (dropped as a repeated header): polars takes the number of fields from the first line
    rows = _rows(source, len(layout.names), max((layout.header_line or 0) - 1, 0), utc_offset_s)
    frame = _samples(rows, layout, source, utc_offset_s, _sample_numbers(layout.columns), source.before_line)
    # one query: on a big capture, the timestamps' text never exists whole
    return frame.collect(engine=engine(source.large)), layout.warnings


def chunks(source: Source, *, utc_offset_s: float, piece_bytes: int = PIECE_BYTES) -> Iterator[pl.DataFrame]:
    """The samples of a CSV capture as frames of consecutive rows (SAMPLE_SCHEMA, `sample` numbered across
    them), read from the file (or a gzip's inflated bytes) in pieces of about `piece_bytes` cut at line ends:
    memory holds one piece and the frames the caller keeps, whatever the file's size. A piece is read by numpy
    (`smi_csv_fast`, its frame built from numpy in the reading thread: 3.3 CPU-ms a 2 MiB piece of the
    benchmark's capture) when all its lines and cells are of shapes it vouches for, else by polars' CSV reader;
    both give the same frame.

    A capture whose lines are wrapped (a prefix, HTML: see `Quirks`) is read by one query over its peeled lines,
    which holds the whole file: one frame.

    Raises:
        ParseError: no header and no row whose values carry units.
    """
    yield from _chunks(source, _layout(source), utc_offset_s, piece_bytes)


@dataclass(frozen=True)
class _Layout:
    """What the head says of a capture's rows: the header's line (None: no header), the columns' names,
    the tidy columns read from them (and the field each is read from), whether the stamps are of another form
    than nvidia-smi's, warnings."""

    header_line: int | None
    names: list[str]
    fields: dict[str, int]
    columns: dict[str, pl.Expr]
    other_form: bool
    warnings: list[str]


def chunks_and_warnings(source: Source, *, utc_offset_s: float) -> Iterator[tuple[pl.DataFrame, list[str]]]:
    """`chunks`, the first with the warnings `parse` gives (the columns not read)."""
    warnings = _layout(source).warnings
    for frame in chunks(source, utc_offset_s=utc_offset_s):
        yield frame, warnings
        warnings = []
    if warnings:  # no row: the warnings still
        yield pl.DataFrame(schema=SAMPLE_SCHEMA), warnings


def _layout(source: Source) -> _Layout:
    path = str(source.path)
    lines = head_lines(source.head)
    found = _header(lines)
    header_line, names = found if found is not None else (None, _infer_columns(lines, path))
    skipped = [n for n in names if n not in COLUMNS and n not in _NOT_READ]
    where = f"{path}:{header_line}" if header_line is not None else f"{path}: no header;"
    warnings = [f"{where} columns not read: {', '.join(skipped)}"] if skipped else []
    other_form = _OTHER_TIMESTAMP.search("\n".join(lines)) is not None
    fields = _fields(names)
    return _Layout(header_line, names, fields, _columns(fields), other_form, warnings)


def _chunks(source: Source, layout: _Layout, utc_offset_s: float, piece_bytes: int) -> Iterator[pl.DataFrame]:
    if not layout.columns:
        return
    if _peeled(source):  # wrappings are peeled line by line from the whole file's lines
        yield parse(source, utc_offset_s=utc_offset_s)[0]
        return
    last = _Last()

    def read(piece: bytes) -> tuple[bytes, pl.DataFrame | None]:  # two pieces at once
        return piece, None if layout.other_form else _fast(piece, layout, utc_offset_s)

    for piece, fast in read_ahead(read, _pieces(source, layout.header_line or 0, piece_bytes)):
        if fast is not None:
            frame = _numbered_on(fast, layout.columns, last)
        else:
            numbers = _sample_numbers(layout.columns, last)  # numbered on from the frame before
            rows = scan_fields(piece, width=len(layout.names), skip_lines=0)
            frame = _samples(rows, layout, source, utc_offset_s, numbers, None).collect()
        if frame.height:
            yield frame
            last = _Last(frame["sample"][-1], frame["gpu"][-1], frame["time"][-1])


def _pieces(source: Source, skip_lines: int, piece_bytes: int) -> Iterator[bytes]:
    """The capture after its first `skip_lines` lines (the head's: at most `_HEAD_LINES`), in pieces of about
    `piece_bytes` that end at a line end (a longer line is one piece), but the last, which may end with a
    truncated line: left out where `source` leaves it out. Only the bytes the file held when it was opened are
    read: what a poller writes since (the rest of a truncated line included) is not."""
    data = source.data
    with data.open("rb") if isinstance(data, Path) else io.BytesIO(data) as f:
        for _ in range(skip_lines):
            f.readline()
        left = source.size_bytes - f.tell()
        read = lambda: f.read(min(piece_bytes, left)) if left > 0 else b""  # noqa: E731
        while piece := read():
            left -= len(piece)
            while (end := piece.rfind(b"\n") + 1) == 0 and (more := read()):
                left -= len(more)
                piece += more
            if 0 < end < len(piece) and left > 0:
                f.seek(end - len(piece), io.SEEK_CUR)
                left += len(piece) - end
                piece = piece[:end]
            elif end < len(piece) and source.before_line is not None:  # the last piece: its truncated line
                piece = piece[:end]
            if piece:
                yield piece


def _fast(piece: bytes, layout: _Layout, utc_offset_s: float) -> pl.DataFrame | None:
    """The samples of a piece read by numpy (`smi_csv_fast`; SAMPLE_SCHEMA, and where the file numbers none,
    `sample` counted from 0 as if a new sample began at the first row: whether one does depends on the piece
    before, `_numbered_on`); None when the piece holds a line or a cell that only the polars reading reads as the
    reference does."""
    kinds = {"timestamp": "timestamp", "gpu": "index", "sample": "index"}
    columns = [smi_csv_fast.Column(target, at, kinds.get(target, "number")) for target, at in layout.fields.items()]
    first_name = layout.names[0] if layout.header_line is not None else None  # (see `_samples`)
    found = smi_csv_fast.read(piece, len(layout.names), columns, partial(_evaluated, layout), first_name)
    if found is None:
        return None
    values = {"time" if t == "timestamp" else t: value for t, value in found.values.items()}
    if "timestamp" in found.values:  # (it wins over a `time` column, as in `_timed`)
        time, null = found.values["timestamp"]
        values["time"] = (time - utc_offset_s, null)
    # a row has some value (`_timed`), and a first field when there is a header (`_samples`)
    kept = ~np.logical_and.reduce([null for _, null in values.values()])
    if layout.header_line is not None:
        kept &= found.first_filled
    if not kept.all():
        values = {name: (value[kept], null[kept]) for name, (value, null) in values.items()}
    if "memory_free_mib" in values and "memory_total_mib" not in values:  # (as `_completed` adds it)
        used, used_null = values.get("memory_used_mib", (np.float64(0.0), np.False_))
        free, free_null = values["memory_free_mib"]
        values["memory_total_mib"] = (used + free, used_null | free_null)
    return _sample_frame(values, int(kept.sum()), "timestamp" in layout.columns)


# `_sample_numbers`' rule, for numpy's arrays and single readings alike: a new sample starts between two
# consecutive readings where the GPU index does not grow, or (the file has a `timestamp` column) the time changes
Differ = Callable[[Any, Any], Any]
_GPU_RESTARTS: Differ = lambda a, b: b <= a  # noqa: E731
_TIME_CHANGES: Differ = lambda a, b: a != b  # noqa: E731


def _numbered_on(frame: pl.DataFrame, columns: dict[str, pl.Expr], last: _Last) -> pl.DataFrame:
    """A piece's frame read by numpy (`_fast`), its samples numbered on from `last` as `_sample_numbers`
    numbers them."""
    if "sample" in columns or not frame.height:
        return frame
    new = "gpu" not in columns or _differ(last.gpu, frame["gpu"][0], _GPU_RESTARTS)
    if not new and "timestamp" in columns:  # (a time from a stamp is never NaN)
        new = _differ(last.time, frame["time"][0], _TIME_CHANGES)
    sample = pl.Series("sample", frame["sample"].to_numpy() + (last.sample + new))  # (no polars query)
    return frame.clone().replace_column(frame.get_column_index("sample"), sample)


def _differ(last: float | None, first: float | None, differ: Differ) -> bool:
    """Whether a piece's first reading starts a new sample after the last one before it: either is null, or
    `differ`."""
    return last is None or first is None or bool(differ(last, first))


_NUMPY_TYPES: dict[pl.DataType, type] = {pl.Float32(): np.float32, pl.Float64(): np.float64, pl.Int64(): np.int64}


def _sample_frame(values: dict[str, tuple[np.ndarray, np.ndarray]], rows: int, timed: bool) -> pl.DataFrame:
    """SAMPLE_SCHEMA from the read columns' values (float64) and nulls; `sample`, where the file numbers none,
    counted from 0 as if a new sample began at the first row; `gpu` 0 where the file has none."""
    numbers = {"sample": np.cumsum(_new_samples(values, rows, timed)) - 1, "gpu": np.zeros(rows, np.int64)}
    columns = []
    for name, dtype in SAMPLE_SCHEMA.items():
        if name not in values:
            columns.append(pl.Series(name, numbers[name]) if name in numbers else null_column(name, dtype, rows))
            continue
        value, null = values[name]
        if dtype == pl.Int64:
            value = np.where(null, 0.0, value)
        series = pl.Series(name, value.astype(_NUMPY_TYPES[dtype]))
        columns.append(series.scatter(np.flatnonzero(null), None) if null.any() else series)
    return pl.DataFrame(columns)


def _new_samples(values: dict[str, tuple[np.ndarray, np.ndarray]], rows: int, timed: bool) -> np.ndarray:
    """Where a new sample starts (`_sample_numbers`, the first row taken as one): where the GPU index does not
    grow, or the time (read from a stamp: never NaN) changes; a null against anything is a change."""
    new = np.ones(rows, bool)
    if "gpu" not in values or rows < 2:
        return new
    readings = [(values["gpu"], _GPU_RESTARTS)]
    if timed:
        readings.append((values["time"], _TIME_CHANGES))
    new[1:] = False
    for (value, null), differ in readings:
        new[1:] |= differ(value[:-1], value[1:]) | null[:-1] | null[1:]
    return new


def _evaluated(layout: _Layout, column: smi_csv_fast.Column, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The values of these cell texts of `column` (float64, NaN where null) and their nulls, by the expressions
    of the reference (`_columns`, `_unix_s` without the UTC offset)."""
    cell = layout.columns[column.target]
    value = _unix_s(cell) if column.target == "timestamp" else cell
    read = pl.DataFrame({f"c{column.at}": texts}, schema={f"c{column.at}": pl.String}).select(value.cast(pl.Float64))
    series = read.to_series()
    return series.fill_null(np.nan).to_numpy(), series.is_null().to_numpy()


def _peeled(source: Source) -> bool:
    """Whether the capture's lines are read peeled of wrappings (cells are stripped of blanks anyway)."""
    return replace(source.quirks, trailing_blanks=False).any


def _samples(
    rows: pl.LazyFrame,
    layout: _Layout,
    source: Source,
    utc_offset_s: float,
    sample_numbers: pl.Expr,
    before_line: int | None,
) -> pl.LazyFrame:
    """The samples (SAMPLE_SCHEMA) of `rows` (`_rows`), numbered by `sample_numbers` unless the file numbers
    them, the lines from `before_line` on left out (a truncated last line)."""
    columns = layout.columns
    if layout.header_line is not None:  # the header again: a restarted poller appending to the same file
        rows = rows.filter(pl.col("c0").str.strip_chars() != layout.names[0])
    if before_line is not None:
        rows = rows.filter(pl.col("line") < before_line)
    frame = _timed(rows, columns, layout.other_form, utc_offset_s, source)
    return _completed(frame, columns, sample_numbers)


def _completed(frame: pl.LazyFrame, columns: dict[str, pl.Expr], sample_numbers: pl.Expr) -> pl.LazyFrame:
    """The samples (SAMPLE_SCHEMA) of rows as `_timed` gives them: the total memory from used and free, the
    sample numbers and the GPU index where the file has none."""
    if "memory_free_mib" in columns and "memory_total_mib" not in columns:
        used = pl.col("memory_used_mib") if "memory_used_mib" in columns else pl.lit(0.0)
        frame = frame.with_columns(memory_total_mib=used + pl.col("memory_free_mib"))
    if "sample" not in columns:
        frame = frame.with_columns(sample=sample_numbers)
    if "gpu" not in columns:
        frame = frame.with_columns(gpu=pl.lit(0))
    return conform(frame, SAMPLE_SCHEMA)


def _timed(
    rows: pl.LazyFrame, columns: dict[str, pl.Expr], other_form: bool, utc_offset_s: float, source: Source
) -> pl.LazyFrame:
    """The rows' columns and `time`: from the `timestamp` column (`other_form`: not nvidia-smi's, see
    `_OTHER_TIMESTAMP`), else from a peeled prefix's stamp; a line that is no row (blank, prose, a command, a
    table) has no value that reads, and is left out."""
    prefix_time = source.quirks.prefix and not {"timestamp", "time"} & columns.keys()  # a clock of its own wins
    frame = rows.select(**columns, **({"time": pl.col("stamp_s")} if prefix_time else {}))
    if "timestamp" in columns:
        stamp = pl.col("timestamp")
        frame = frame.with_columns(time=unix_s(stamp, utc_offset_s) if other_form else _unix_s(stamp) - utc_offset_s)
    # a prose line behind a stamped prefix is still no row
    return frame.filter(pl.any_horizontal(pl.exclude("timestamp", *(["time"] if prefix_time else [])).is_not_null()))


def _rows(source: Source, width: int, skip_lines: int, utc_offset_s: float) -> pl.LazyFrame:
    """Fields `c0`.. of the lines after `skip_lines`: polars' CSV reader, or the lines split at commas once their
    wrappings (a prefix, HTML, trailing blanks) are peeled, and then with `stamp_s` (see `Source.lines`)."""
    if not _peeled(source):
        return scan_fields(source.data, width=width, skip_lines=skip_lines)
    fields = pl.col("text").str.split_exact(",", width - 1)
    lines = source.lines(utc_offset_s).filter(pl.col("line") > skip_lines)
    return lines.select("line", "stamp_s", fields.struct.rename_fields([f"c{i}" for i in range(width)])).unnest("text")


def _fields(names: list[str]) -> dict[str, int]:
    """Tidy column -> the field it is read from; the first of two names for one column wins."""
    fields: dict[str, int] = {}
    for i, name in enumerate(names):
        target = COLUMNS.get(name)
        if target is not None and target not in fields:
            fields[target] = i
    return fields


def _columns(fields: dict[str, int]) -> dict[str, pl.Expr]:
    """Tidy column -> expression on the raw cells."""
    columns: dict[str, pl.Expr] = {}
    for target, i in fields.items():
        cell = pl.col(f"c{i}")
        if target == "timestamp":
            columns[target] = cell.str.strip_chars()
        elif target in ("gpu", "sample"):  # NaN, 1e20 or -1 is no index
            index = number(cell, pl.Float64(), strip=_UNITS).cast(pl.Int64, strict=False)
            columns[target] = pl.when(index.is_between(0, 2**31)).then(index)
        else:
            columns[target] = number(cell, pl.Float64(), strip=_UNITS)
    return columns


def _is_gpu_column(name: str) -> bool:
    return name in COLUMNS or name in _NOT_READ or _SMI_GROUP.match(name) is not None


def _unix_s(stamp: pl.Expr) -> pl.Expr:
    """`2019/11/25 14:00:00.100` -> seconds since 1970-01-01 00:00 in the stamp's own zone, to the nearest
    millisecond; anything else -> null.

    The date is parsed once per distinct day (cached) and the clock read from its fixed places: half of
    strptime's time on a big capture. Multiplied by 0.001 rather than divided by 1000: polars divides a column
    of one row exactly but longer ones by multiplying, so a row's time would depend on its frame's length.
    """
    days = stamp.str.slice(0, 10).str.to_date("%Y/%m/%d", strict=False, cache=True).cast(pl.Int64)
    hour, minute = (stamp.str.slice(start, 2).cast(pl.Int64, strict=False) for start in (11, 14))
    second = stamp.str.slice(17).cast(pl.Float64, strict=False)
    valid = stamp.str.contains(_TIMESTAMP) & (hour < 24) & (minute < 60) & (second < 61)
    unix_ms = (days * 86_400 + hour * 3600 + minute * 60) * 1000 + (second * 1000).round()
    return pl.when(valid).then(unix_ms * 0.001)


@dataclass(frozen=True)
class _Last:
    """The last sample of the chunks read so far (none yet: -1), which the next chunk's numbering continues."""

    sample: int = -1
    gpu: int | None = None
    time: float | None = None


def _sample_numbers(columns: dict[str, pl.Expr], last: _Last = _Last()) -> pl.Expr:
    """A new sample starts where the GPU index does not grow (or at every row for one GPU)."""
    if "gpu" not in columns:
        return pl.int_range(pl.len()) + (last.sample + 1)
    gpu = pl.col("gpu")
    new = (gpu <= gpu.shift(1, fill_value=pl.lit(last.gpu, pl.Int64))).fill_null(True)
    if "timestamp" in columns:
        time = pl.col("time")
        new = new | (time != time.shift(1, fill_value=pl.lit(last.time, pl.Float64))).fill_null(True)
    return new.cum_sum() + last.sample


def _header_fields(line: str) -> list[str] | None:
    parts = line.split(",", _MAX_FIELDS)
    if not 2 <= len(parts) <= _MAX_FIELDS:
        return None
    names = []
    for part in parts:
        m = re.match(_NAME, part)
        if not m:
            return None
        names.append(m.group(1))
    return names


def _unit_fields(line: str) -> bool:
    parts = [p.strip() for p in line.split(",", _MAX_FIELDS)]
    return 2 <= len(parts) <= _MAX_FIELDS and sum(_WITH_UNIT.match(p) is not None for p in parts) >= 2


def _header(lines: list[str]) -> tuple[int, list[str]] | None:
    """The 1-based line number and column names of the first header: names only, one of them nvidia-smi's
    or collect's, or followed by a line with as many fields (a CSV of someone else's, to be refused)."""
    for i, line in enumerate(lines):
        if "," not in line or not re.match(HEADER_START, line):
            continue
        names = _header_fields(line)
        follows = lines[i + 1] if i + 1 < len(lines) else ""
        if names and (any(n in COLUMNS for n in names) or follows.count(",") == len(names) - 1):
            return i + 1, names
    return None


def _infer_columns(lines: list[str], path: str) -> list[str]:
    """Name headerless columns from a `--query-gpu=` command above the rows, else from the units of the
    first row with units (a command line or prose before it is no row)."""
    rows = [line for line in lines if _unit_fields(line)]
    if not rows:
        raise ParseError(path, "no CSV header and no row of values with units (W, MiB, %)")
    width = rows[0].count(",") + 1
    command = next((m for line in lines if (m := _QUERY_COMMAND.search(line))), None)
    if command is not None and command.group(1).count(",") + 1 == width:
        return command.group(1).split(",")
    first = [p.strip() for p in rows[0].split(",")]
    names: list[str] = []
    pct = ["utilization.gpu", "utilization.memory"]
    for i, value in enumerate(first):
        unit = _WITH_UNIT.match(value)
        if re.match(_TIMESTAMP, value):
            names.append("timestamp")
        elif unit and unit.group(1) == "%" and pct:
            names.append(pct.pop(0))
        elif unit and unit.group(1) == "W":
            names.append("power.draw" if "power.draw" not in names else "power.limit")
        elif unit and unit.group(1) == "MiB":
            names.append("memory.used")
        else:
            names.append(f"column_{i + 1}")
    mib = [i for i, n in enumerate(names) if n == "memory.used"]
    if len(mib) == 2:
        _name_memory_pair(names, rows, *mib)
    return names


def _name_memory_pair(names: list[str], rows: list[str], a: int, b: int) -> None:
    """Two MiB columns: the constant one that is never below the other is the total; a pair whose sum stays
    constant is used and free."""
    pairs = []
    for row in rows:
        cells = row.split(",")
        values = [re.match(r"^\s*([0-9]+(?:\.[0-9]+)?) MiB\s*$", cells[i]) if i < len(cells) else None for i in (a, b)]
        if values[0] and values[1]:
            pairs.append((float(values[0].group(1)), float(values[1].group(1))))
    if not pairs:
        return
    col_a, col_b = [p[0] for p in pairs], [p[1] for p in pairs]
    sums = [x + y for x, y in pairs]
    if len(set(col_b)) == 1 and col_b[0] >= max(col_a):
        names[b] = "memory.total"
    elif len(set(col_a)) == 1 and col_a[0] >= max(col_b):
        names[a], names[b] = "memory.total", "memory.used"
    elif max(sums) - min(sums) <= 0.01 * max(sums):
        names[b] = "memory.free"
