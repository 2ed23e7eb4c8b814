"""nvidia-smi default tables (drivers 352 to 580), single or repeated, and the `nvidia-smi | grep %` form.

Samples are told apart by the table header (`| NVIDIA-SMI ...`) or by interleaved stamp lines
(`date +%s.%N`, or `date`'s default format). A stamp line written after each sample (the seed's
`watch` loop) stamps the rows before it; a capture whose first stamp precedes the first row stamps the
rows after it. GPUs are identified by the index row above each number row, else by position.

Two readings with one meaning. The reference (`_parse_polars`, also `parse_many`'s batched query): one polars
query (streamed on big captures), every line becomes flags and numbers (no strings kept), then the rows are
grouped into samples. The fast path (`chunks`): the file in pieces of a few MB, the plain lines of each (number
rows of the capture's own layout, `date +%s.%N` stamps) read by numpy (`smi_fast`; a piece whose lines repeat one
pattern of them as a table of periods), every other line by the same polars classification, then the samples
numbered by `smi_fast.Samples` with the state carried from piece to piece.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np
import polars as pl

from bertlogs.parsers import smi_fast
from bertlogs.parsers.text import (
    PIECE_BYTES,
    Source,
    concat_files,
    count_newlines,
    engine,
    holds,
    number,
    pieces,
    read_ahead,
)
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
_EMPTY = smi_fast.EMPTY
PerFile = Callable[[pl.Expr], pl.Expr]  # an expression windowed per file (or as is, for one file)


def looks_like(head: str) -> bool:
    """A GPU number row of a default table, or of `nvidia-smi | grep %`."""
    return "|" in head and _NUMBER_ROW.search(head) is not None  # no bar, no row: most logs spared the regex


def evidence(head: str) -> int:
    """How many GPU number rows the head holds (weighed against another format that also claims it)."""
    return len(_NUMBER_ROW.findall(head))


def parse(source: Source, *, utc_offset_s: float) -> tuple[pl.DataFrame, list[str]]:
    """Samples of a table or `grep %` capture; `utc_offset_s` converts `date`'s local times (see `chunks`)."""
    return pl.concat([_EMPTY, *chunks(source, utc_offset_s=utc_offset_s)], rechunk=True), []


def _parse_polars(source: Source, *, utc_offset_s: float) -> tuple[pl.DataFrame, list[str]]:
    """The reference reading: the whole capture in one polars query (`_query_many`)."""
    return _query_many([source], utc_offsets_s=[utc_offset_s])[0]


def parse_many(sources: list[Source], *, utc_offsets_s: list[float]) -> list[tuple[pl.DataFrame, list[str]]]:
    """Several captures: those that fit a piece (whole lines, no wrappings, no byte-order mark) by the fast path,
    joined a piece at a time per way of reading (`_joined`); the others by the reference's batched query."""
    found: dict[int, tuple[pl.DataFrame, list[str]]] = {}
    groups: dict[tuple[bool, bool, bool, float, bytes], list[int]] = {}
    templates: dict[bytes, smi_fast.Template | None] = {}
    for i, (source, offset) in enumerate(zip(sources, utc_offsets_s, strict=True)):
        if _joinable(source):
            tmpl = smi_fast.template(source.head)
            key = b"" if tmpl is None else tmpl.text.tobytes() + tmpl.fixed.tobytes()
            templates[key] = tmpl
            groups.setdefault((*_kinds([source.head]), source.needs_cleaning, offset, key), []).append(i)
    for (tables, dates, clean, offset, key), members in groups.items():
        reading = smi_fast.Reading(templates[key], _classifier(tables, dates, offset))
        for part in _up_to_a_piece(members, sources):
            frames = _joined(reading, [sources[i] for i in part], tables, clean)
            found.update((i, (frame, [])) for i, frame in zip(part, frames, strict=True) if frame is not None)
    queried: dict[tuple[bool, bool, bool], list[int]] = {}  # each file read as alone: by what its own head shows
    for i in (i for i in range(len(sources)) if i not in found):
        queried.setdefault((*_kinds([sources[i].head]), sources[i].quirks.prefix), []).append(i)
    for rest in queried.values():
        offsets = [utc_offsets_s[i] for i in rest]
        found.update(zip(rest, _query_many([sources[i] for i in rest], utc_offsets_s=offsets), strict=True))
    return [found[i] for i in range(len(sources))]


def _joinable(source: Source) -> bool:
    """Whether the fast path reads this capture whole, joined with others: it fits a piece and ends with a
    newline (a line cut off would run on into the next file), without wrappings or a byte-order mark."""
    return source.unwrapped and source.ends_with_newline and source.size_bytes <= PIECE_BYTES


def _up_to_a_piece(members: list[int], sources: list[Source]) -> Iterator[list[int]]:
    """`members` in runs of consecutive files whose bytes together fit a piece."""
    part: list[int] = []
    total = 0
    for i in members:
        size = sources[i].size_bytes
        if part and total + size > PIECE_BYTES:
            yield part
            part, total = [], 0
        part.append(i)
        total += size
    if part:
        yield part


def _joined(reading: smi_fast.Reading, sources: list[Source], tables: bool, clean: bool) -> list[pl.DataFrame | None]:
    """Each capture's samples, their bytes read as one piece (each line is read for itself), then numbered file
    by file; None for a file of tables whose head has no table header (the reference reads it)."""
    # up to the last newline: a line a writer has added since the file was opened, and not ended yet, would run on
    # into the next file's first
    data = [d[: d.rfind(b"\n") + 1] for d in (s.read_again() for s in sources)]
    _, kept = reading.kept(b"".join(data), clean)
    first = np.cumsum([0, *map(count_newlines, data)])
    bounds = np.searchsorted(kept.line, first)
    parts: list[list[smi_fast.Numbered] | None] = []
    for i in range(len(sources)):
        mine = kept[bounds[i] : bounds[i + 1]]
        samples = smi_fast.Samples(tables)
        parts.append(None if tables and not mine.header.any() else [samples.feed(mine), samples.finish()])
    whole = smi_fast.frame([p for ps in parts if ps is not None for p in ps])
    ends = np.cumsum([sum(map(len, ps)) if ps is not None else 0 for ps in parts])
    return [
        None if ps is None else whole.slice(end - n, n)
        for ps, end, n in zip(parts, ends, np.diff(ends, prepend=0), strict=True)
    ]


def _classifier(tables: bool, dates: bool, offset_s: float) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    offset = pl.lit(offset_s, pl.Float64)
    return lambda lines: _classify(lines, tables, dates, offset, None)


def _query_many(sources: list[Source], *, utc_offsets_s: list[float]) -> list[tuple[pl.DataFrame, list[str]]]:
    """The reference reading of several captures in one polars query (streamed when one is large); every window
    is partitioned by file.

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
    # substring tests first (`holds`: a word's characters, then the word): they spare most heads the regexes (0.4 ms
    # each on 100 KB)
    tables = any(holds(head, "NVIDIA-SMI") and re.search(_HEADER, head, re.MULTILINE) for head in heads)
    # a `date` line holds a clock: a head without a colon (a `grep %` capture) needs no weekday searched
    dates = any(
        ":" in head and any(day in head for day in _WEEKDAYS) and _has_date_line(head, tables) for head in heads
    )
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
    reading = smi_fast.Reading(smi_fast.template(source.head), _classifier(tables, dates, utc_offset_s))
    samples, first_line = smi_fast.Samples(tables), 1
    # numpy and polars let go of the GIL: two pieces are read at once
    for count, kept in read_ahead(
        lambda piece: reading.kept(piece, source.needs_cleaning), pieces(source.data, piece_bytes)
    ):
        np.add(kept.line, first_line, out=kept.line)  # numbered from the file's first line
        if source.before_line is not None:
            kept = kept[kept.line < source.before_line]
        if first_line == 1 and tables and not kept.header.any():
            yield _parse_polars(source, utc_offset_s=utc_offset_s)[0]
            return
        first_line += count
        frame = smi_fast.frame([samples.feed(kept)])
        if frame.height:
            yield frame
    yield smi_fast.frame([samples.finish()])
