"""nvidia-smi default tables (drivers 352 to 580), single or repeated, and the `nvidia-smi | grep %` form.

Samples are told apart by the table header (`| NVIDIA-SMI ...`) or by interleaved stamp lines
(`date +%s.%N`, or `date`'s default format). A stamp line written after each sample (the seed's
`watch` loop) stamps the rows before it; a capture whose first stamp precedes the first row stamps the
rows after it. GPUs are identified by the index row above each number row, else by position.

Two readings with one meaning. The reference (`_parse_polars`, also `parse_many`'s batched query): one polars
query (streamed on big captures), every line becomes flags and numbers (no strings kept), then the rows are
grouped into samples. The fast path (`chunks`): the file in pieces of a few MB, the plain lines of each (number
rows of the capture's own layout, `date +%s.%N` stamps) read by numpy (`smi_fast`), every other line by the
same polars classification, then the samples numbered by `_Samples` with the state carried from piece to piece.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np
import polars as pl

from bertlogs.parsers import smi_fast
from bertlogs.parsers.text import PIECE_BYTES, Source, cleaned, concat_files, engine, number, pieces
from bertlogs.schema import SAMPLE_SCHEMA, conform

# | 39%   67C    P2   113W / 250W |  11636MiB / 12189MiB |     35%      Default |
# The regex is one-pass (no byte can be read two ways: words exclude blanks and bars, `/` stands alone between
# blanks, a number cell is digits then a unit or a word such as N/A or ERR!), which lets the regex engine
# capture in one pass: 4x faster than `\S+`-style groups on big captures. Each group costs a tenth of the parse:
# group 1, the temperature word (`67C`), also marks a match; the other number cells capture their digits only.
_WORD = r"[^ \t|]+"
_NUMBER = r"(?:([^ \t|A-Za-z%]+)[A-Za-z%]*|[A-Za-z%][^ \t|]*)"
NUMBER_ROW = (
    rf"^\|[ \t]*{_WORD}[ \t]+({_WORD})[ \t]+{_WORD}[ \t]+{_NUMBER}[ \t]+/[ \t]+{_NUMBER}[ \t]*\|"
    rf"[ \t]*{_NUMBER}[ \t]+/[ \t]+{_NUMBER}[ \t]*\|[ \t]*{_NUMBER}[ \t]+{_WORD}[ \t]*\|"
)
# (group index in NUMBER_ROW, column): the fan and the performance state are not kept
_CELLS = [
    (2, "power_w"),
    (3, "power_limit_w"),
    (4, "memory_used_mib"),
    (5, "memory_total_mib"),
    (6, "util_pct"),
]
_INDEX_ROW = r"^\|\s+([0-9]{1,4})\s+\S.*\|.*\|.*\|\s*$"
_HEADER = r"^\|\s*NVIDIA-SMI "
# `date +%s.%N`: a line that is just unix seconds (1973 to 5138); read by a cast, which is cheaper than a regex
_EPOCH_S = (1e8, 1e11)
# `date` default output: Tue Oct 29 19:00:23 2024 / Mon Nov 25 16:32:50 UTC 2019
_DATE = (
    r"^[ \t]*[A-Z][a-z]{2} (?<month>[A-Z][a-z]{2}) +(?<day>[0-9]{1,2}) (?<clock>[0-9][0-9]:[0-9][0-9]:[0-9][0-9]) "
    r"(?:(?<zone>[A-Z]{2,5}) )?(?<year>[0-9]{4})[ \t\r]*$"
)


_DATE_PY = _DATE.replace("(?<", "(?P<")
# a stamp line glued onto a table's last border, cut short when the loop wrote it: `+-----...Tue Nov 26 ...`
_BORDER = "+-="
_WEEKDAYS = ("Mon ", "Tue ", "Wed ", "Thu ", "Fri ", "Sat ", "Sun ")


_NUMBER_ROW = re.compile(NUMBER_ROW, re.MULTILINE)
_EMPTY = pl.DataFrame(schema=SAMPLE_SCHEMA)  # no rows (`conform` of an empty frame would give one of nulls)
PerFile = Callable[[pl.Expr], pl.Expr]  # an expression windowed per file (or as is, for one file)


def looks_like(head: str) -> bool:
    """A GPU number row of a default table, or of `nvidia-smi | grep %`."""
    return _NUMBER_ROW.search(head) is not None


def evidence(head: str) -> int:
    """How many GPU number rows the head holds (weighed against another format that also claims it)."""
    return len(_NUMBER_ROW.findall(head))


def parse(source: Source, *, utc_offset_s: float) -> tuple[pl.DataFrame, list[str]]:
    """Samples of a table or `grep %` capture; `utc_offset_s` converts `date`'s local times (see `chunks`)."""
    return pl.concat([_EMPTY, *chunks(source, utc_offset_s=utc_offset_s)]), []


def _parse_polars(source: Source, *, utc_offset_s: float) -> tuple[pl.DataFrame, list[str]]:
    """The reference reading: the whole capture in one polars query (`parse_many`)."""
    return parse_many([source], utc_offsets_s=[utc_offset_s])[0]


def parse_many(sources: list[Source], *, utc_offsets_s: list[float]) -> list[tuple[pl.DataFrame, list[str]]]:
    """Several captures in one polars query (streamed when one is large); every window is partitioned by file.

    The heads say which kinds of lines to look for: tables, `date` lines.
    """
    if not sources:
        return []
    tables, dates = _kinds([s.head for s in sources])
    prefix_stamps = any(s.quirks.prefix for s in sources)
    if len(sources) == 1:  # no file and offset columns: on a big capture they cost a tenth of the parse
        lines, offset = sources[0].lines(utc_offsets_s[0]), pl.lit(utc_offsets_s[0], pl.Float64)
    else:
        lines = concat_files([s.lines(o) for s, o in zip(sources, utc_offsets_s, strict=True)], utc_offsets_s)
        offset = pl.col("offset")
    # windows per file only when there are several: on one big capture they cost a second for nothing
    per_file = (lambda e: e.over("file")) if len(sources) > 1 else (lambda e: e)
    rows = (
        _classify(lines, tables, dates, offset, per_file if prefix_stamps and not tables else None)
        .with_columns(_samples(per_file, tables))
        .with_columns(_prefix_time(len(sources) > 1) if prefix_stamps and tables else [])
        .filter(pl.col("row"))
        .with_columns(_gpus(per_file))
        .collect(engine=engine(any(s.large for s in sources)))
    )
    empty = _EMPTY
    if len(sources) == 1:
        return [(conform(rows, SAMPLE_SCHEMA) if not rows.is_empty() else empty, [])]
    by_file = rows.partition_by("file", as_dict=True)
    return [(conform(by_file[(i,)], SAMPLE_SCHEMA) if (i,) in by_file else empty, []) for i in range(len(sources))]


def _samples(per_file: Callable[[pl.Expr], pl.Expr], tables: bool) -> list[pl.Expr]:
    """Per line of each file: the sample it belongs to, the sample's time, and the GPU index row above it.

    A table starts at its header, or at the `date` line just above it (its stamp is that date); without
    tables, a stamp line is a sample boundary; a stamp written after each sample (the seed's watch loop)
    closes the rows before it; a bare `grep %` file has no stamps, and each row is a sample.
    """
    stamped = pl.col("stamp").is_not_null()
    first_stamp = per_file(pl.col("line").filter(stamped).min())
    first_row = per_file(pl.col("line").filter(pl.col("row")).min())
    no_stamps = first_stamp.is_null()
    stamps_follow = (first_stamp > first_row).fill_null(False)
    boundary = pl.when(no_stamps).then(pl.col("row")).otherwise(stamped)
    time = (
        pl.when(no_stamps)
        .then(pl.lit(None, pl.Float64))
        .when(stamps_follow)
        .then(per_file(pl.col("stamp").backward_fill()))
        .otherwise(per_file(pl.col("stamp").forward_fill()))
    )
    index_above = pl.lit(None, pl.Int32)
    if tables:  # a file with headers (some may not have any): samples are tables
        has_header = per_file(pl.col("header").any())
        stamps_follow = ~has_header & stamps_follow
        table_start = (pl.col("header") & ~per_file(stamped.shift(1)).fill_null(False)) | (
            stamped & per_file(pl.col("header").shift(-1)).fill_null(False)
        )
        table_time = per_file(pl.when(table_start).then(pl.col("stamp").fill_null(float("nan"))).forward_fill())
        boundary = pl.when(has_header).then(table_start).otherwise(boundary)
        time = pl.when(has_header).then(table_time.fill_nan(None)).otherwise(time)
        index_above = pl.when(per_file(pl.col("line").shift(1)) == pl.col("line") - 1).then(
            per_file(pl.col("index").shift(1))
        )
    boundary = boundary.cast(pl.Int64)
    sample = per_file(boundary.cum_sum()) - pl.when(stamps_follow).then(boundary).otherwise(0)
    return [sample.alias("sample"), time.alias("time"), index_above.alias("index_above")]


def _kinds(heads: list[str]) -> tuple[bool, bool]:
    """Whether these heads show tables, and `date` lines: the kinds of lines the classification looks for."""
    # substring tests first: they spare most heads the regexes (a millisecond each on 100 KB)
    tables = any("NVIDIA-SMI" in head and re.search(_HEADER, head, re.MULTILINE) for head in heads)
    dates = any(any(day in head for day in _WEEKDAYS) and _has_date_line(head, tables) for head in heads)
    return tables, dates


def _has_date_line(head: str, tables: bool) -> bool:
    lines = re.sub(rf"^[{re.escape(_BORDER)}]+", "", head, flags=re.MULTILINE) if tables else head
    return re.search(_DATE_PY, lines, re.MULTILINE) is not None


def _prefix_time(several: bool) -> pl.Expr:
    """A sample without a stamp line takes the time its first line's peeled prefix gives (`[2024-05-01 ...] `)."""
    by = ["file", "sample"] if several else ["sample"]
    return pl.coalesce("time", pl.col("stamp_s").drop_nulls().first().over(by)).alias("time")


def _gpus(per_file: Callable[[pl.Expr], pl.Expr]) -> list[pl.Expr]:
    """Samples renumbered 0, 1, ... per file; a row's GPU is its index row, else its position in the sample."""
    new_sample = (pl.col("sample") != per_file(pl.col("sample").shift(1))).fill_null(True)
    position = per_file(pl.int_range(pl.len(), dtype=pl.Int64))
    first_of_sample = per_file(pl.when(new_sample).then(position).forward_fill())
    return [
        (per_file(new_sample.cum_sum()) - 1).alias("sample"),
        pl.coalesce(pl.col("index_above"), position - first_of_sample).alias("gpu"),
    ]


def _stamp(t: pl.Expr, dates: bool, offset: pl.Expr, tables: bool, prefixed: PerFile | None) -> pl.Expr:
    """A line's stamp in unix seconds: a `date +%s.%N` number, or (with `dates`) a `date` line in local time;
    in a file of tables, also one glued onto a truncated border. With `prefixed` (rows behind peeled
    date-time prefixes, no tables; it windows per file), a row whose prefix's time differs from the line
    above's is stamped with it, as if a stamp line started its sample."""
    if tables:  # a strip, not a regex: cheap on every line
        t = t.str.strip_chars_start(_BORDER)
    seconds = t.cast(pl.Float64, strict=False)
    stamp: pl.Expr = pl.when(seconds.is_between(*_EPOCH_S)).then(seconds)
    if prefixed is not None:
        changed = (pl.col("stamp_s") != prefixed(pl.col("stamp_s").shift(1))).fill_null(True)
        stamp = pl.coalesce(stamp, pl.when(changed).then(pl.col("stamp_s")))
    if not dates:
        return stamp
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
    zone_offset = pl.when(date.struct["zone"] == "UTC").then(0.0).otherwise(offset)
    from_date = pl.when(t.str.contains(_DATE)).then(local.dt.epoch("ms").cast(pl.Float64) / 1000 - zone_offset)
    return pl.coalesce(stamp, from_date)


def _classify(lines: pl.LazyFrame, tables: bool, dates: bool, offset: pl.Expr, by: PerFile | None) -> pl.LazyFrame:
    """Per line: row/header flags, the index of an index row, a stamp, and the number row's cells as numbers;
    `offset` is the capture's UTC offset in seconds (for `date` lines); `by`: `_stamp`'s `prefixed`.

    Only what the file can hold is looked for: each regex costs a pass over every line.
    """
    t = pl.col("text")
    stamp = _stamp(t, dates, offset, tables, by)
    # header lines and index rows exist in tables only
    table_lines = (
        {
            "header": t.str.contains(_HEADER),
            "index": pl.when(t.str.contains(_INDEX_ROW)).then(
                t.str.extract(_INDEX_ROW, 1).cast(pl.Int32, strict=False)
            ),
        }
        if tables
        else {}
    )
    kept = [pl.col("row"), pl.col("stamp").is_not_null()]
    if tables:
        kept += [pl.col("header"), pl.col("index").is_not_null()]
    cells = pl.col("cells")
    return (
        lines.with_columns(
            line=pl.col("line").cast(pl.Int32),
            stamp=stamp,
            **table_lines,
            cells=t.str.extract_groups(NUMBER_ROW),
        )
        .with_columns(row=cells.struct["1"].is_not_null())
        .filter(pl.any_horizontal(kept))
        .with_columns(
            # the number cells' groups hold digits only; the temperature word (`67C`) its unit too
            temp_c=number(cells.struct["1"].str.strip_chars_end("C"), pl.Float32()),
            **{name: number(cells.struct[str(i)], pl.Float32()) for i, name in _CELLS},
        )
        .drop("text", "cells", "stamp_clock", *([] if by is not None or tables else ["stamp_s"]))
    )


_CELL_COLUMNS = ["temp_c", "power_w", "power_limit_w", "memory_used_mib", "memory_total_mib", "util_pct"]


def chunks(source: Source, *, utc_offset_s: float, piece_bytes: int = PIECE_BYTES) -> Iterator[pl.DataFrame]:
    """The samples of a capture as frames of consecutive samples (`sample` numbered on from frame to frame),
    read in pieces of `piece_bytes` (cut after a newline): memory holds a piece, its frame and the kept lines of
    an unfinished sample (in a capture without any stamp line, all its rows: until its end it cannot be told
    from one whose stamps follow the rows).

    Each piece's plain lines go to numpy (`smi_fast`), its other lines (CR, ESC, `date` lines, the other lines
    of tables, glitches) to the reference's own classification. A whole file goes to the reference reading
    (one frame; a big one streamed, but its result and the classified lines held) when the fast path cannot
    be exact for it: wrappings peeled off every line (`Quirks`), a byte-order mark, a last line without a
    newline that was not cut off (`Source.without_truncated_line`), a head with tables but no table header in
    the first piece.
    """
    if source.quirks.any or source.head.startswith("\ufeff") or not (source.ends_with_newline or source.before_line):
        yield _parse_polars(source, utc_offset_s=utc_offset_s)[0]
        return
    tables, dates = _kinds([source.head])
    reading = _Reading(
        smi_fast.template(source.head), tables, dates, utc_offset_s, "\x1b" in source.head or "\r" in source.head
    )
    samples, first_line = _Samples(tables), 1
    for piece in pieces(source.data, piece_bytes):
        lines = smi_fast.lines(piece)
        limit = len(lines.start) if source.before_line is None else source.before_line - first_line
        kept = reading.kept(lines, first_line, limit)
        if first_line == 1 and tables and not kept["header"].any():
            yield _parse_polars(source, utc_offset_s=utc_offset_s)[0]
            return
        first_line += len(lines.start)
        frame = samples.feed(kept)
        if not frame.is_empty():
            yield frame
    yield samples.finish()


class _Reading:
    """How a capture's pieces are read into kept lines (`_classify`'s frame): `tmpl`, its number-row layout
    (None: every row is read by polars); `tables`, `dates`: what its head shows; `clean`: CR and ESC cleaned."""

    def __init__(self, tmpl: smi_fast.Template | None, tables: bool, dates: bool, offset_s: float, clean: bool):
        self.tmpl, self.tables, self.dates, self.offset_s, self.clean = tmpl, tables, dates, offset_s, clean
        self.columns = ["line", "stamp", "row", *_CELL_COLUMNS, *(["header", "index"] if tables else [])]

    def kept(self, lines: smi_fast.Lines, first_line: int, limit: int) -> pl.DataFrame:
        """The kept lines (rows, stamps; in tables also headers and index rows) of the piece's lines before
        `limit`, numbered from `first_line`, in order."""
        count = len(lines.start)
        kind = np.zeros(count, np.int8)  # 1: a row read fast, 2: a stamp read fast
        cells = np.full((count, len(_CELL_COLUMNS)), np.nan, np.float32)
        stamps = np.full(count, np.nan)
        if self.tmpl is not None:
            at, cells_at = smi_fast.rows(lines, self.tmpl)
            kind[at], cells[at] = 1, cells_at
        at, stamps_at = smi_fast.stamps(lines)
        kind[at], stamps[at] = 2, stamps_at
        kind[max(limit, 0) :] = -1
        at = np.flatnonzero(kind > 0)
        fast = pl.DataFrame(
            {"line": (at + first_line).astype(np.int32), "stamp": stamps[at], "row": kind[at] == 1}
            | {name: cells[at, i] for i, name in enumerate(_CELL_COLUMNS)}
        ).with_columns(
            pl.col("stamp", *_CELL_COLUMNS).fill_nan(None), header=pl.lit(False), index=pl.lit(None, pl.Int32)
        )
        odd = np.flatnonzero((kind == 0) & (lines.end > lines.start))
        if len(odd) == 0:
            return fast.select(self.columns)
        return pl.concat([fast.select(self.columns), self._odd(lines, odd, first_line)]).sort("line")

    def _odd(self, lines: smi_fast.Lines, odd: np.ndarray, first_line: int) -> pl.DataFrame:
        """These lines (indices) classified by the reference's own expressions (`_classify`)."""
        text = pl.Series("text", [smi_fast.odd_text(lines, odd)]).str.split("\n").explode().head(len(odd))
        frame = pl.LazyFrame({"line": (odd + first_line).astype(np.int64), "text": text}).with_columns(
            text=cleaned(pl.col("text")) if self.clean else pl.col("text"),
            stamp_s=pl.lit(None, pl.Float64),
            stamp_clock=pl.lit(None, pl.String),
        )
        offset = pl.lit(self.offset_s, pl.Float64)
        return _classify(frame, self.tables, self.dates, offset, None).select(self.columns).collect()


class _Samples:
    """`_samples` and `_gpus` carried from piece to piece: kept lines wait in `tail` until the next boundary
    (a stamp; in tables a table start) closes the sample they belong to; `order` says whether stamps precede
    or follow the rows, known at the first stamp; `samples` counts the samples numbered so far."""

    def __init__(self, tables: bool) -> None:
        self.tables, self.order, self.samples = tables, "", 0
        self.tail = pl.DataFrame()

    def feed(self, kept: pl.DataFrame) -> pl.DataFrame:
        """The rows of the samples that `kept`, after the lines kept back, closes."""
        if self.tail.width and not _may_bound(kept, self.tables):
            self.tail = pl.concat([self.tail, kept])
            return _EMPTY
        batch = pl.concat([self.tail, kept]) if self.tail.width else kept
        cut = self._cut(batch)
        self.tail = batch.slice(cut)
        return self._numbered(batch.slice(0, cut))

    def finish(self) -> pl.DataFrame:
        return self._numbered(self.tail) if self.tail.width else _EMPTY

    def _cut(self, batch: pl.DataFrame) -> int:
        """Where the last sample that may go on in the next piece starts."""
        stamped = batch["stamp"].is_not_null().to_numpy()
        if self.tables:
            header = batch["header"].to_numpy()
            known = _table_starts(header, stamped)
            known[-1] &= header[-1]  # a stamp last: whether a header follows it is for the next piece to say
            starts = np.flatnonzero(known)
            return int(starts[-1]) if len(starts) else 0
        stamps = np.flatnonzero(stamped)
        if len(stamps) == 0:
            return 0
        if not self.order:
            rows = np.flatnonzero(batch["row"].to_numpy())
            self.order = "follow" if len(rows) and rows[0] < stamps[0] else "precede"
        return int(stamps[-1]) + (self.order == "follow")

    def _numbered(self, part: pl.DataFrame) -> pl.DataFrame:
        """The rows of `part` (whole samples) numbered, timed and given their GPU."""
        row = part["row"].to_numpy()
        at = np.flatnonzero(row)
        if len(at) == 0:
            return _EMPTY
        stamped = part["stamp"].is_not_null().to_numpy()
        group, time_at, above = self._groups(part, row, stamped)
        stamp = part["stamp"].fill_null(np.nan).to_numpy()
        new = np.concatenate(([True], group[at][1:] != group[at][:-1]))
        position = np.arange(len(at))
        first = np.maximum.accumulate(np.where(new, position, 0))
        sample = self.samples + np.cumsum(new) - 1
        self.samples += int(new.sum())
        time = np.where(time_at[at] >= 0, stamp[np.maximum(time_at[at], 0)], np.nan)
        gpu = np.where(above[at] >= 0, above[at], position - first)
        frame = part.filter(pl.col("row")).with_columns(
            sample=pl.Series(sample), time=pl.Series(time).fill_nan(None), gpu=pl.Series(gpu)
        )
        return conform(frame, SAMPLE_SCHEMA)

    def _groups(self, part: pl.DataFrame, row: np.ndarray, stamped: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per kept line: its sample group, the position of the line whose stamp times it (-1: none), and the
        GPU index of the index row right above it (-1: none)."""
        count = len(row)
        position = np.arange(count)
        none = np.full(count, -1)
        if self.tables:
            start = _table_starts(part["header"].to_numpy(), stamped)
            line, index = part["line"].to_numpy(), part["index"].fill_null(-1).to_numpy()
            adjacent = np.concatenate(([False], line[1:] == line[:-1] + 1))
            above = np.where(adjacent, np.concatenate(([-1], index[:-1])), -1)
            return np.cumsum(start), np.maximum.accumulate(np.where(start, position, -1)), above
        if self.order == "precede":
            return np.cumsum(stamped), np.maximum.accumulate(np.where(stamped, position, -1)), none
        if self.order == "follow":
            following = np.minimum.accumulate(np.where(stamped, position, count)[::-1])[::-1]
            return np.cumsum(stamped) - stamped, np.where(following < count, following, -1), none
        return np.cumsum(row), none, none  # no stamp at all: each row is a sample


def _table_starts(header: np.ndarray, stamped: np.ndarray) -> np.ndarray:
    """A table starts at its header, or at the stamp line just above it (as `_samples` says)."""
    after_stamp = np.concatenate(([False], stamped[:-1]))
    before_header = np.concatenate((header[1:], [False]))
    return (header & ~after_stamp) | (stamped & before_header)


def _may_bound(kept: pl.DataFrame, tables: bool) -> bool:
    """Whether these kept lines hold a sample boundary (a stamp; in tables also a header)."""
    return bool(kept["stamp"].is_not_null().any() or (tables and kept["header"].any()))
