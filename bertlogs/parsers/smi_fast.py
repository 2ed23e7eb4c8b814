"""Byte-level kernels of the smi-table fast path: numpy over a piece of a capture's raw bytes, no per-line Python.

A piece's lines are told apart by their first byte and length, then checked against the layout of the
capture's own first number row (the template) or against the `date +%s.%N` form; digits are converted column
by column. Only what these checks vouch for is read here: every other line is an odd line, handed back whole
for the polars reading (`smi_table`), so that both paths give the same frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from bertlogs.parsers.text import cleaned, null_column
from bertlogs.schema import SAMPLE_SCHEMA

# a number row as the template's layout must show it (blanks are spaces; words printable ASCII, no bar)
_W = rb"[\x21-\x7b\x7d\x7e]+"
_TEMPLATE = re.compile(
    rb"^(?P<row>\|  *("
    + _W
    + rb") +([0-9]+)C +("
    + _W
    + rb") +([0-9]+)W +/ +([0-9]+)W +\| +([0-9]+)MiB +/ +([0-9]+)MiB"
    rb" +\| +([0-9]+)% +(" + _W + rb") +\|[\x20-\x7e]*)\r?$",
    re.MULTILINE,
)
_NUMBER_GROUPS = (3, 5, 6, 7, 8, 9)  # temp_c, power_w, power_limit_w, memory_used_mib, memory_total_mib, util_pct
_FAN, _WORD_GROUPS = 2, (2, 4, 10)  # group 1 is the row
_MAX_DIGITS = 7  # below 2^24: exact in Float32, as polars' cast of the digits gives
_STAMP_BYTES = 20  # `date +%s.%N`: 10 digits, a dot, 9 digits (the data is padded to read 24)
_ONE_CR = 13
EMPTY = pl.DataFrame(schema=SAMPLE_SCHEMA)  # no rows (`conform` of an empty frame would give one of nulls)
CELLS = ["temp_c", "power_w", "power_limit_w", "memory_used_mib", "memory_total_mib", "util_pct"]


@dataclass(frozen=True)
class Template:
    """A capture's number-row layout: bytes outside the regions must equal its own; each region holds one
    right-aligned word or number (blanks on its left), as nvidia-smi pads its columns."""

    text: np.ndarray  # uint8, the row's bytes
    fixed: np.ndarray  # bool per byte: outside every region
    words: tuple[tuple[int, int], ...]  # fan, performance state, compute mode
    numbers: tuple[tuple[int, int], ...]  # the digits of the kept cells (units are fixed bytes)


def template(head: str, tries: int = 64) -> Template | None:
    """The layout of the first all-numeric number row in the head, or None (then no row is read fast)."""
    raw = head.encode("utf-8", errors="replace")
    for _, match in zip(range(tries), _TEMPLATE.finditer(raw), strict=False):
        line, at = match.group("row"), match.start()
        regions = {g: (len(line[: match.start(g) - at].rstrip(b" ")) + 1, match.end(g) - at) for g in range(2, 11)}
        fan = regions[_FAN]
        if fan[1] - fan[0] >= 10 or any(b - a > _MAX_DIGITS for a, b in (regions[g] for g in _NUMBER_GROUPS)):
            continue  # a fan region wide enough for `NVIDIA-SMI` could read a header as a row
        fixed = np.ones(len(line), bool)
        for a, b in regions.values():
            fixed[a:b] = False
        return Template(
            np.frombuffer(line, np.uint8),
            fixed,
            tuple(regions[g] for g in _WORD_GROUPS),
            tuple(regions[g] for g in _NUMBER_GROUPS),
        )
    return None


@dataclass(frozen=True)
class Lines:
    """A piece's lines: `data` (the bytes, padded), each line's `start` and `end` (its text as polars' reader
    gives it: without the newline and one CR before it), and `clean`: no CR or ESC byte inside."""

    data: np.ndarray
    start: np.ndarray
    end: np.ndarray
    newline: np.ndarray
    clean: np.ndarray


def lines(piece: bytes) -> Lines:
    """The lines of a piece (whole lines; a last line without a newline counts as one)."""
    whole = piece if piece.endswith(b"\n") else piece + b"\n"
    data = np.frombuffer(whole + bytes(24), np.uint8)
    newline = np.flatnonzero(data[: len(whole)] == 10)
    start = np.concatenate(([0], newline[:-1] + 1))
    end = newline - ((newline > start) & (data[np.maximum(newline - 1, 0)] == _ONE_CR))
    clean = np.ones(len(start), bool)
    if b"\r" in whole or b"\x1b" in whole:  # memchr first: most captures have neither
        odd = np.flatnonzero((data == 13) | (data == 27))
        at = np.searchsorted(newline, odd)
        inside = odd < end[np.minimum(at, len(end) - 1)]
        clean[at[inside]] = False
    return Lines(data, start, end, newline, clean)


def rows(ls: Lines, tmpl: Template) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the lines that are number rows of the template's layout, and their kept cells as
    Float32 (one column per cell, in `_NUMBER_GROUPS` order)."""
    width = len(tmpl.text)
    maybe = np.flatnonzero((ls.end - ls.start == width) & (ls.data[ls.start] == ord("|")) & ls.clean)
    if len(maybe) == 0:  # (else the data, padded, holds a window of `8 * words` bytes)
        return maybe, np.empty((0, len(tmpl.numbers)), np.float32)
    block = np.lib.stride_tricks.sliding_window_view(ls.data, 8 * -(-width // 8))[ls.start[maybe]]
    ok, cells = _row_cells(block, tmpl)
    return maybe[ok], cells[:, ok].T


def _row_cells(block: np.ndarray, tmpl: Template) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `block` (a line's first bytes, `8 * words` of them, from its first byte on: the last axis
    contiguous), whether it is a number row of the template's layout, and the kept cells (a row per cell).

    The fixed bytes are compared eight at a time; the regions' bytes column by column (each column a
    contiguous array across the rows)."""
    width, words = len(tmpl.text), block.shape[1] // 8
    text, fixed = (np.zeros(8 * words, np.uint8) for _ in range(2))
    text[:width], fixed[:width] = tmpl.text, np.where(tmpl.fixed, 0xFF, 0)
    wrong = (block.view(np.uint64) ^ text.view(np.uint64)) & fixed.view(np.uint64)
    for j in range(1, words):  # OR the words column by column: numpy's reduce over a short axis is slower
        wrong[:, 0] |= wrong[:, j]
    ok = wrong[:, 0] == 0
    for i, (a, b) in enumerate(tmpl.words):
        region = np.ascontiguousarray(block[:, a:b].T)
        inked = [(c >= 0x21) & (c <= 0x7E) & (c != ord("|")) for c in region]
        ok &= _right_aligned(region, inked)
        if i == 0:  # the fan: not all digits, or the row could also read as an index row
            ok &= np.any([ink & ((c - ord("0")) > 9) for ink, c in zip(inked, region, strict=True)], axis=0)
    cells = np.empty((len(tmpl.numbers), len(block)), np.float32)
    for i, (a, b) in enumerate(tmpl.numbers):
        region = np.ascontiguousarray(block[:, a:b].T)
        inked = [(c - ord("0")) <= 9 for c in region]
        ok &= _right_aligned(region, inked)
        cells[i] = _digits_value(region, inked)
    return ok, cells


def _right_aligned(region: np.ndarray, inked: list[np.ndarray]) -> np.ndarray:
    """Per row: spaces, then inked bytes to the region's end (at least one); `region` holds its columns."""
    ok = inked[-1].copy()
    for j, column in enumerate(region[:-1]):  # a loop over the region's columns, not its lines
        ok &= (inked[j] | (column == ord(" "))) & (inked[j + 1] | ~inked[j])
    return ok


def _digits_value(region: np.ndarray, inked: list[np.ndarray]) -> np.ndarray:
    """The number that right-aligned digits spell (the blanks on their left count as zeros)."""
    value = np.zeros(region.shape[1], np.int32)
    for column, digit in zip(region, inked, strict=True):
        value = value * 10 + np.where(digit, column - ord("0"), 0)
    return value


_ZEROS = np.uint64(0x3030303030303030)


def stamps(ls: Lines) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the lines that are `date +%s` or `date +%s.%N` stamps (10 digits, a dot, 9 digits),
    and their values as float64, correctly rounded (as polars' cast gives). Digits are read eight at a time
    (SWAR, as fast_float does).

    Whole seconds W (10 digits: 1e9 <= W < 1e10) plus F / 1e9 rounded once more is the correctly rounded value:
    F / 1e9 is off by at most 2^-54, while W + F / 1e9 lies at least 1 / (1e9 2^24) (> 2^-54) from any midpoint
    between two doubles near W (it would be one only if F 2^k, k >= 24, equalled an odd multiple of 1e9 =
    2^9 5^9), so the second rounding goes the way the exact value does."""
    size = ls.end - ls.start
    maybe = np.flatnonzero(((size == 10) | (size == _STAMP_BYTES)) & ls.clean)
    if len(maybe) == 0:
        return np.empty(0, np.int64), np.empty(0)
    block = np.lib.stride_tricks.sliding_window_view(ls.data, 24)[ls.start[maybe]]
    ok, value = _stamp_values(block, size[maybe] == _STAMP_BYTES)
    return maybe[ok], value[ok]


def _stamp_values(block: np.ndarray, long: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `block` (a line's first 24 bytes, a copy: it is written to), whether it is a stamp (`long`:
    with its nine decimals; else `date +%s`), and its value."""
    block[~long, 10:20] = [ord("."), *b"000000000"]  # `date +%s`: read as `.000000000`
    head, whole8 = _eight_digits(block, 2)
    tail, fraction8 = _eight_digits(block, 12)
    two = block[:, :2].astype(np.uint64) - ord("0")
    tenth = block[:, 11].astype(np.uint64) - ord("0")
    ok = head & tail & (two <= 9).all(axis=1) & (two[:, 0] > 0) & (tenth <= 9) & (block[:, 10] == ord("."))
    whole = (two[:, 0] * 10 + two[:, 1]) * np.uint64(10**8) + whole8
    nanos = tenth * np.uint64(10**8) + fraction8
    return ok, whole.astype(np.float64) + nanos.astype(np.float64) / 1e9


def _eight_digits(block: np.ndarray, at: int) -> tuple[np.ndarray, np.ndarray]:
    """Whether bytes at..at+8 of each row are digits, and the number they spell."""
    v = np.ascontiguousarray(block[:, at : at + 8]).view("<u8")[:, 0]
    digits = ((v + np.uint64(0x4646464646464646)) | (v - _ZEROS)) & np.uint64(0x8080808080808080) == 0
    v = v - _ZEROS
    v = (v * np.uint64(10)) + (v >> np.uint64(8))
    low = (v & np.uint64(0x000000FF000000FF)) * np.uint64(100 + (1000000 << 32))
    high = ((v >> np.uint64(16)) & np.uint64(0x000000FF000000FF)) * np.uint64(1 + (10000 << 32))
    return digits, (low + high) >> np.uint64(32)


def odd_text(ls: Lines, odd: np.ndarray) -> str:
    """The text of these lines (indices), one per line, decoded as polars' reader decodes (lossy UTF-8)."""
    cover = np.zeros(len(ls.data) + 1, np.int32)
    cover[ls.start[odd]] += 1
    cover[ls.end[odd]] -= 1
    cover[ls.newline[odd]] += 1  # each line's newline joins it to the next
    cover[ls.newline[odd] + 1] -= 1
    kept = np.cumsum(cover[:-1]) > 0
    return ls.data[kept].tobytes().decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Kept:
    """Kept lines (rows, stamps; in tables also headers and index rows) as numpy columns, in line order."""

    line: np.ndarray  # int64
    row: np.ndarray  # bool
    stamp: np.ndarray  # float64 unix seconds; NaN: not a stamp (no stamp is NaN)
    header: np.ndarray  # bool
    index: np.ndarray  # int64 GPU index of an index row; -1: none
    cells: np.ndarray  # float32, a column per `CELLS` (NaN where null, or NaN as read)
    null: np.ndarray  # bool, like `cells`: a null cell

    def __getitem__(self, at: slice | np.ndarray) -> Kept:
        return Kept(*(getattr(self, name)[at] for name in _KEPT))

    @staticmethod
    def plain(line: np.ndarray, row: np.ndarray, stamp: np.ndarray, cells: np.ndarray) -> Kept:
        """Rows and stamps read by numpy: no header, no index row, no null cell."""
        none = np.zeros(len(line), bool)
        return Kept(line, row, stamp, none, np.full(len(line), -1), cells, np.zeros(cells.shape, bool))

    @staticmethod
    def joined(parts: list[Kept]) -> Kept:
        return parts[0] if len(parts) == 1 else Kept(*(np.concatenate([getattr(p, n) for p in parts]) for n in _KEPT))


_KEPT = ("line", "row", "stamp", "header", "index", "cells", "null")


class Reading:
    """How a capture's pieces become kept lines: the rows of the template's layout and `date +%s.%N` stamps
    by numpy, every other line by `classify` (the reference's classification of a lazy frame of lines)."""

    def __init__(self, tmpl: Template | None, classify: Callable[[pl.LazyFrame], pl.LazyFrame]) -> None:
        self.tmpl, self.classify = tmpl, classify

    def kept(self, piece: bytes, clean: bool) -> tuple[int, Kept]:
        """How many lines the piece holds, and its kept lines, numbered from 0; `clean`: the capture's lines
        are cleaned of CR and ESC (`text.cleaned`) before they are read. (Pieces may be read in parallel.)

        A piece whose lines repeat one pattern of row and stamp lines (`periodic`) is read as a table of
        periods; the lines after the last whole period, or every line when a period is not as its pattern
        says, line by line."""
        found = periodic(piece, self.tmpl)
        if found is None:
            return self._kept(piece, clean)
        kept, length = found
        if length == len(piece):
            return len(kept.line), kept
        count, rest = self._kept(piece[length:], clean)
        np.add(rest.line, len(kept.line), out=rest.line)
        return len(kept.line) + count, Kept.joined([kept, rest])

    def _kept(self, piece: bytes, clean: bool) -> tuple[int, Kept]:
        ls = lines(piece)
        count = len(ls.start)
        kind = np.zeros(count, np.int8)  # 1: a row read fast, 2: a stamp read fast
        cells = np.full((count, len(CELLS)), np.nan, np.float32)
        stamp = np.full(count, np.nan)
        if self.tmpl is not None:
            at, cells_at = rows(ls, self.tmpl)
            kind[at], cells[at] = 1, cells_at
        at, stamp_at = stamps(ls)
        kind[at], stamp[at] = 2, stamp_at
        at = np.flatnonzero(kind > 0)
        fast = Kept.plain(at, kind[at] == 1, stamp[at], cells[at])
        odd = np.flatnonzero((kind == 0) & (ls.end > ls.start))
        if len(odd) == 0:
            return count, fast
        both = Kept.joined([fast, self._odd(ls, odd, clean)])
        return count, both[np.argsort(both.line, kind="stable")]

    def _odd(self, ls: Lines, odd: np.ndarray, clean: bool) -> Kept:
        """These lines (indices) read by `classify`."""
        text = pl.Series("text", [odd_text(ls, odd)]).str.split("\n").explode().head(len(odd))
        lines = pl.LazyFrame({"line": odd.astype(np.int64), "text": text}).with_columns(
            text=cleaned(pl.col("text")) if clean else pl.col("text"),
            stamp_s=pl.lit(None, pl.Float64),
            stamp_clock=pl.lit(None, pl.String),
        )
        found = self.classify(lines)
        names = found.collect_schema().names()
        is_header, index_of = (pl.col(n) if n in names else pl.lit(None) for n in ("header", "index"))
        frame = found.select(
            pl.col("line").cast(pl.Int64),
            "row",
            pl.col("stamp").fill_null(np.nan),
            is_header.fill_null(False).cast(pl.Boolean).alias("header"),
            index_of.fill_null(-1).cast(pl.Int64).alias("index"),
            *CELLS,
            *(pl.col(c).is_null().alias(f"{c}_null") for c in CELLS),
        ).collect()
        line, row, stamp, header, index = (frame[n].to_numpy() for n in ("line", "row", "stamp", "header", "index"))
        cells = frame.select(CELLS).to_numpy().astype(np.float32)
        return Kept(line, row, stamp, header, index, cells, frame.select(f"{c}_null" for c in CELLS).to_numpy())


_PERIOD_LINES = 16  # a pattern of at most this many lines (a sample of up to 15 GPUs and its stamp)


def periodic(piece: bytes, tmpl: Template | None) -> tuple[Kept, int] | None:
    """The kept lines of the piece's whole periods and the bytes they span, when its lines repeat one pattern
    (seen in its first lines) of number rows of the template's layout and `date +%s.%N` stamps, every period
    read as its pattern says; else None. A period holds no CR or ESC: the template's bytes and a stamp's digits
    leave no room for one."""
    if tmpl is None or (sizes := _pattern(piece)) is None:
        return None
    period = int(sizes.sum())
    # a line's window reaches at most 13 bytes past it (a `date +%s` stamp's 24): the last periods that would
    # read past the piece are left to the line by line reading, and the piece is read without a padded copy
    count = (len(piece) - 16) // period
    if count < 1:
        return None
    data = np.frombuffer(piece, np.uint8)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    is_row = sizes == len(tmpl.text) + 1
    if not (is_row | (sizes == 11) | (sizes == _STAMP_BYTES + 1)).all():
        return None
    lines = len(sizes) * count
    stamp, cells = np.full(lines, np.nan), np.full((lines, len(CELLS)), np.nan, np.float32)
    for j, (at, size) in enumerate(zip(starts.tolist(), sizes.tolist(), strict=True)):  # over the pattern's lines
        window = 8 * -(-size // 8) if is_row[j] else 24
        # a copy, its rows one after the other: numpy reads a strided array's 8-byte words one by one
        block = np.lib.stride_tricks.as_strided(data[at:], (count, window), (period, 1)).copy()
        if not (block[:, size - 1] == 10).all():
            return None
        if is_row[j]:
            ok, values = _row_cells(block, tmpl)
            cells[j :: len(sizes)] = values.T
        else:
            ok, values = _stamp_values(block, np.full(count, size == _STAMP_BYTES + 1))
            stamp[j :: len(sizes)] = values
        if not ok.all():
            return None
    return Kept.plain(np.arange(lines), np.tile(is_row, count), stamp, cells), period * count


def _pattern(piece: bytes) -> np.ndarray | None:
    """The sizes (newline included) of the lines of the shortest pattern that the piece's first lines repeat,
    seen at least three times; None when they repeat none."""
    head = np.frombuffer(piece[:4096], np.uint8)
    sizes = np.diff(np.concatenate(([-1], np.flatnonzero(head == 10))))
    for n in range(1, min(_PERIOD_LINES, len(sizes) // 3) + 1):
        if (sizes[n:] == sizes[:-n]).all():
            return sizes[:n]
    return None


@dataclass(frozen=True)
class Numbered:
    """Rows of whole samples, numbered, timed and given their GPU (the columns of `frame`)."""

    sample: np.ndarray  # int64
    time: np.ndarray  # float64, NaN: no stamp
    gpu: np.ndarray  # int64
    cells: np.ndarray  # float32, a column per `CELLS`
    null: np.ndarray  # bool, like `cells`

    def __len__(self) -> int:
        return len(self.sample)


def frame(parts: list[Numbered]) -> pl.DataFrame:
    """`parts`, one after the other, as one SAMPLE_SCHEMA frame (built from its columns: no query)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return EMPTY
    rows = (
        Numbered(*(np.concatenate([getattr(p, n) for p in parts]) for n in _NUMBERED)) if len(parts) > 1 else parts[0]
    )
    cells, null = np.ascontiguousarray(rows.cells.T), rows.null.T
    columns = {
        "sample": pl.Series(rows.sample),
        "time": pl.Series(rows.time, nan_to_null=True),
        "gpu": pl.Series(rows.gpu),
        **{c: pl.Series(cells[i]) for i, c in enumerate(CELLS)},
    }
    for i, c in enumerate(CELLS):
        if null[i].any():  # a null cell (NaN in `cells` is a NaN read)
            columns[c] = columns[c].scatter(np.flatnonzero(null[i]), None)
    return pl.DataFrame(
        [
            columns[name].cast(dtype).alias(name) if name in columns else null_column(name, dtype, len(rows))
            for name, dtype in SAMPLE_SCHEMA.items()
        ]
    )


_NUMBERED = ("sample", "time", "gpu", "cells", "null")
_NONE = Numbered(
    np.empty(0, np.int64),
    np.empty(0),
    np.empty(0, np.int64),
    np.empty((0, len(CELLS)), np.float32),
    np.empty((0, len(CELLS)), bool),
)


class Samples:
    """The reference's sample numbering (`smi_table._samples`, `_gpus`) carried from piece to piece: kept lines
    wait in `tail` until the next boundary (a stamp; in tables a table start) closes the sample they belong
    to; `order` says whether stamps precede or follow the rows, known at the first stamp; `samples` counts
    the samples numbered so far."""

    def __init__(self, tables: bool) -> None:
        self.tables, self.order, self.samples = tables, "", 0
        self.tail: list[Kept] = []

    def feed(self, kept: Kept) -> Numbered:
        """The rows of the samples that `kept`, after the lines kept back, closes."""
        if self.tail and np.isnan(kept.stamp).all() and not (self.tables and kept.header.any()):
            self.tail.append(kept)  # no boundary: all of it waits
            return _NONE
        batch = Kept.joined([*self.tail, kept])
        cut = self._cut(batch)
        self.tail = [batch[cut:]]
        return self._numbered(batch[:cut])

    def finish(self) -> Numbered:
        return self._numbered(Kept.joined(self.tail)) if self.tail else _NONE

    def _cut(self, batch: Kept) -> int:
        """Where the last sample that may go on in the next piece starts."""
        stamped = ~np.isnan(batch.stamp)
        if self.tables and len(stamped):
            # a stamp last is no start yet: whether a header follows it is for the next piece to say
            starts = np.flatnonzero(_table_starts(batch.header, stamped))
            return int(starts[-1]) if len(starts) else 0
        at = np.flatnonzero(stamped)
        if len(at) == 0:
            return 0
        if not self.order:
            rows = np.flatnonzero(batch.row)
            self.order = "follow" if len(rows) and rows[0] < at[0] else "precede"
        return int(at[-1]) + (self.order == "follow")

    def _numbered(self, part: Kept) -> Numbered:
        """The rows of `part` (whole samples) numbered, timed and given their GPU."""
        at = np.flatnonzero(part.row)
        if len(at) == 0:
            return _NONE
        group, time_at, above = self._groups(part)
        new = np.concatenate(([True], group[at][1:] != group[at][:-1]))
        sample = self.samples + np.cumsum(new) - 1
        self.samples += int(new.sum())
        time = np.where(time_at[at] >= 0, part.stamp[np.maximum(time_at[at], 0)], np.nan)
        gpu = np.where(above[at] >= 0, above[at], _positions(new))
        return Numbered(sample, time, gpu, part.cells[at], part.null[at])

    def _groups(self, part: Kept) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per kept line: its sample group, the position of the line whose stamp times it (-1: none), and the
        GPU index of the index row right above it (-1: none)."""
        count, stamped = len(part.row), ~np.isnan(part.stamp)
        position, none = np.arange(count), np.full(count, -1)
        if self.tables:
            start = _table_starts(part.header, stamped)
            adjacent = np.concatenate(([False], part.line[1:] == part.line[:-1] + 1))
            above = np.where(adjacent, np.concatenate(([-1], part.index[:-1])), -1)
            return np.cumsum(start), np.maximum.accumulate(np.where(start, position, -1)), above
        if self.order == "precede":
            return np.cumsum(stamped), np.maximum.accumulate(np.where(stamped, position, -1)), none
        if self.order == "follow":
            following = np.minimum.accumulate(np.where(stamped, position, count)[::-1])[::-1]
            return np.cumsum(stamped) - stamped, np.where(following < count, following, -1), none
        return np.cumsum(part.row), none, none  # no stamp at all: each row is a sample


def _positions(new: np.ndarray) -> np.ndarray:
    """Each row's position in its sample (`new`: a sample's first row)."""
    if new.all():  # a GPU a sample
        return np.zeros(len(new), np.int64)
    position = np.arange(len(new))
    return position - np.maximum.accumulate(np.where(new, position, 0))


def _table_starts(header: np.ndarray, stamped: np.ndarray) -> np.ndarray:
    """A table starts at its header, or at the stamp line just above it (as `smi_table._samples` says)."""
    after_stamp = np.concatenate(([False], stamped[:-1]))
    before_header = np.concatenate((header[1:], [False]))
    return (header & ~after_stamp) | (stamped & before_header)
