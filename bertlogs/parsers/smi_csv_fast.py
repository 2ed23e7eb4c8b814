"""Byte-level kernels of the smi-csv fast path: numpy over a piece of a capture's raw bytes, no per-line Python.

A piece is read here only when every line that holds something has exactly the header's number of fields (its
comma positions then give every cell's bounds). Each read column's cells are told apart by their length and
checked against templates: the first cell of each shape not yet matched, whose bytes other than its digits must
recur in every cell it vouches for. A template is a number (` 250.07 W`: blanks, digits, maybe a fraction, unit
letters), a timestamp (`2019/11/25 14:00:00.100`), or any other text (`[N/A]`, `[Not Supported]`, `-3`), read once
for all its cells by the reference's own expressions (`Evaluate`). A piece holding a line or a cell that no template
vouches for is left whole to the polars reading (`smi_csv`), so both paths give the same frame: the identity is
tested on every fixture and on fuzzed captures (tests/test_smi_csv_fast.py).

Most pieces of a steady capture hold lines of one layout: all of the first line's length, each byte the first
line's but the digits of its read cells (`_one_layout`). Those are read without searching the piece for line ends
and commas or gathering cells: the bytes compared with the first line's eight at a time, the digits taken place by
place (2.4 ms a 2 MiB piece of the benchmark's capture, against 5.2 ms by templates).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# a cell's text (blanks and units around the number, as `smi_csv._UNITS` strips them), by the kind of its column
_NUMBER = re.compile(rb"[ \t]*([0-9]{1,16})(?:\.([0-9]{1,16}))?[ \t\rWMiB%Hz]*")
_INDEX = re.compile(rb"[ \t]*([0-9]{1,16})[ \t\rWMiB%Hz]*")
# nvidia-smi's `2019/11/25 14:00:00.100` (at most milliseconds: their value is exact in float64 seconds x 1000)
_STAMP = re.compile(
    rb"[ \t]*([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,3}))?[ \t\r]*"
)
_EXACT_MANTISSA = 2**53  # a mantissa up to this over a power of ten up to 10^22: one correctly rounded division
_MAX_INDEX = 2**31  # `smi_csv._columns`: a larger GPU index or sample number is none
_MAX_TEMPLATES = 24  # per column and piece: more shapes than this and the piece is read by polars
_MAX_CELL_BYTES = 64
_PAD = 64  # zero bytes before a piece: every cell's window of up to 64 bytes ending at its end exists
_COMMA, _NEWLINE = 44, 10
# by its first byte, a line whose first field, stripped of white space, may be a name starting with a given letter:
# one starting with that letter, ASCII white space, or a byte of UTF-8 (`\xa0` and other spaces)
_MAY_START_A_NAME = np.zeros((128, 256), bool)
_MAY_START_A_NAME[:, [9, 10, 11, 12, 13, 32, *range(128, 256)]] = True
_MAY_START_A_NAME[np.arange(128), np.arange(128)] = True


@dataclass(frozen=True)
class Column:
    """A read column: its tidy name, its field's position, and how its cells read (`timestamp`, `index`:
    a whole number of 0..2^31, `number`)."""

    target: str
    at: int
    kind: str


# the values of texts that a template reads whole (the reference's expression on each): float64 with NaN where null,
# and the null mask
Evaluate = Callable[[Column, list[str]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Piece:
    """Of a piece's lines that hold something: whether their first field holds something (polars reads an empty
    field as null), and the values of each read column on them: float64 (`timestamp`: seconds since 1970 on the
    stamps' own wall clock) and a null mask."""

    first_filled: np.ndarray
    values: dict[str, tuple[np.ndarray, np.ndarray]]


def read(
    piece: bytes, width: int, columns: list[Column], evaluate: Evaluate, first_name: str | None = None
) -> Piece | None:
    """The piece's read columns, or None when a line or a cell is of a shape the fast path does not vouch for, or
    when a line may start with `first_name` (maybe the header again: a restarted poller), which the polars
    reading drops."""
    whole = piece if piece.endswith(b"\n") else piece + b"\n"
    same = _one_layout(whole, width, columns, evaluate, first_name)
    if same is not None:
        return same
    data = np.frombuffer(bytes(_PAD) + whole, np.uint8)
    body = data[_PAD:]
    newline = np.flatnonzero(body == _NEWLINE)
    newline += _PAD  # (in place: a new array of this size costs its page faults)
    start = np.concatenate(([_PAD], newline[:-1] + 1))
    # a blank line is all nulls: no row (a CR before the newline stays in the last cell, whose reading strips it)
    lines = np.flatnonzero(newline > start)
    every_comma = np.flatnonzero(body == _COMMA)
    every_comma += _PAD
    if width < 2 or len(every_comma) != len(lines) * (width - 1):
        return None
    commas = every_comma.reshape(len(lines), width - 1)
    start, end = start[lines], newline[lines]
    if first_name is not None and _MAY_START_A_NAME[ord(first_name[0])][data[start]].any():
        return None
    if len(lines) and not ((commas[:, 0] >= start) & (commas[:, -1] < end)).all():
        return None  # (then each line holds width - 1 commas: as many in all, none outside its own line)
    values: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for column in columns:
        cell_start = start if column.at == 0 else commas[:, column.at - 1] + 1
        cell_end = end if column.at == width - 1 else commas[:, column.at]
        found = _cells(data, cell_start, cell_end, column, evaluate)
        if found is None:
            return None
        values[column.target] = found
    return Piece(commas[:, 0] > start, values)


def _one_layout(
    whole: bytes, width: int, columns: list[Column], evaluate: Evaluate, first_name: str | None
) -> Piece | None:
    """The piece read as lines of one layout, its first line's: lines of one length whose bytes are the first
    line's but for the digits of its read cells (no search for line ends and commas, no cell gathered); None when
    a line differs (the general reading then decides)."""
    size = whole.find(b"\n") + 1
    template = np.frombuffer(whole, np.uint8, size)
    commas = np.flatnonzero(template == _COMMA)
    if len(whole) % size or len(commas) != width - 1:
        return None
    if first_name is not None and _MAY_START_A_NAME[ord(first_name[0])][template[0]]:
        return None
    rows = np.frombuffer(whole, np.uint8).reshape(-1, size)
    starts, ends = np.append(0, commas + 1), np.append(commas, size - 1)
    varies = np.zeros(size, bool)  # the digit places of the read cells
    values: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    numbers: list[tuple[Column, list[np.ndarray], int]] = []  # the columns read digit by digit: places, fraction
    for column in columns:
        start, end = int(starts[column.at]), int(ends[column.at])
        text = whole[start:end]
        fields, fraction_digits = _digit_places(text, column.kind) if text else ([], 0)
        if not fields:  # one text in every line
            value, null = evaluate(column, [text.decode("utf-8", errors="replace")]) if text else ([np.nan], [True])
            values[column.target] = (np.full(len(rows), value[0]), np.full(len(rows), null[0]))
        for field in fields:
            varies[start + field] = True
        numbers.append((column, [start + field for field in fields], fraction_digits))
    if not _same_but(whole, template, varies):
        return None
    digits = rows[:, np.flatnonzero(varies)].T.copy().T  # each place's digits in a row of their own (read 4 times)
    place = np.cumsum(varies) - 1
    for column, fields, fraction_digits in numbers:
        if fields:
            ok, read = _digits(digits, [place[field] for field in fields], fraction_digits, column.kind)
            if not ok.all():
                return None
            values[column.target] = read
    return Piece(np.full(len(rows), commas[0] > 0), values)


def _same_but(whole: bytes, template: np.ndarray, varies: np.ndarray) -> bool:
    """Whether each line of `whole` (all of the template's length) is the template but at the places that
    `varies`: compared eight bytes at a time."""
    lines = len(whole) // len(template)
    differ = np.tile(template, lines)  # the expected bytes, then how each byte differs from them (in place)
    fixed = np.tile(np.where(varies, 0, 0xFF).astype(np.uint8), lines)
    np.bitwise_xor(differ, np.frombuffer(whole, np.uint8), out=differ)
    words = len(whole) // 8 * 8
    np.bitwise_and(differ[:words].view(np.uint64), fixed[:words].view(np.uint64), out=differ[:words].view(np.uint64))
    return not differ[:words].view(np.uint64).any() and not (differ[words:] & fixed[words:]).any()


def _cells(
    data: np.ndarray, start: np.ndarray, end: np.ndarray, column: Column, evaluate: Evaluate
) -> tuple[np.ndarray, np.ndarray] | None:
    """One column's values and nulls, or None when a cell is of no template's shape."""
    size = end - start
    longest = int(size.max()) if len(size) else 0
    if not 0 < longest <= _MAX_CELL_BYTES:
        return None if longest else (np.full(len(size), np.nan), np.ones(len(size), bool))
    window = 8 * -(-longest // 8)
    # the `window` bytes from each position, as one item: gathered twice as fast as a sliding window view's rows
    windows = np.ndarray((len(data) - window + 1,), f"V{window}", data, 0, (1,))
    cells = windows[end - window].view(np.uint8).reshape(-1, window)  # each cell right-aligned in its window
    if int(size.min()) == longest:  # most columns: the first cell is the template of all
        ok, read = _template_holds(cells, data[start[0] : end[0]].tobytes(), column.kind)
        if read is not None and ok.all():
            return read
    return _by_templates(cells, data, start, end, column, evaluate)


def _by_templates(
    cells: np.ndarray, data: np.ndarray, start: np.ndarray, end: np.ndarray, column: Column, evaluate: Evaluate
) -> tuple[np.ndarray, np.ndarray] | None:
    """The cells (right-aligned in their windows) read template by template: a loop over the shapes, not the
    lines; None when a cell matches none within `_MAX_TEMPLATES`."""
    size = end - start
    whole: list[tuple[bytes, np.ndarray]] = []  # templates read whole: their text and their cells
    pending, taken = np.arange(len(size)), np.zeros(len(size), bool)
    value, null = np.full(len(size), np.nan), np.zeros(len(size), bool)
    for _ in range(_MAX_TEMPLATES):
        first = pending[0]
        same = pending[size[pending] == size[first]]
        text = data[start[first] : end[first]].tobytes()
        ok, read = _template_holds(cells[same], text, column.kind)
        if not ok[0]:  # the template fails itself: a number the fast path cannot make exact
            return None
        matched = same[ok]
        if read is None:
            whole.append((text, matched))
        else:
            value[matched], null[matched] = read[0][ok], read[1][ok]
        taken[matched] = True
        pending = pending[~taken[pending]]
        if not len(pending):
            break
    else:
        return None
    if whole:
        read_value, read_null = evaluate(column, [t.decode("utf-8", errors="replace") for t, _ in whole])
        for i, (_, matched) in enumerate(whole):
            value[matched], null[matched] = read_value[i], read_null[i]
    return value, null


def _template_holds(
    rows: np.ndarray, text: bytes, kind: str
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Which of these cells (rows of right-aligned windows, all of the template's length) fit the template
    `text`, and their values and nulls (None: the template is read whole)."""
    window = rows.shape[1]
    offset = window - len(text)
    fields, fraction_digits = _digit_places(text, kind)
    cell, pattern = np.zeros(window, np.uint8), np.zeros(window, np.uint8)
    cell[offset:], pattern[offset:] = 0xFF, np.frombuffer(text, np.uint8)
    fixed = cell.copy()
    for field in fields:
        fixed[offset + field] = 0
    words, pattern_words = rows.view(np.uint64), pattern.view(np.uint64)
    wrong, changed = np.zeros(len(rows), np.uint64), np.zeros(len(rows), np.uint64)
    for j in range(offset // 8, window // 8):  # word by word: numpy's loops over a short last axis are slow
        differ = words[:, j] ^ pattern_words[j]
        wrong |= differ & fixed.view(np.uint64)[j]
        changed |= differ & cell.view(np.uint64)[j]
    if not fields:
        return wrong == 0, None
    if len(rows) > 1 and not changed.any():  # every cell is the template's text (a constant reading): read it once
        one_ok, one = _template_holds(rows[:1], text, kind)
        if one is not None:
            return np.repeat(one_ok, len(rows)), (np.repeat(one[0], len(rows)), np.repeat(one[1], len(rows)))
    ok, read = _digits(rows, [offset + field for field in fields], fraction_digits, kind)
    return (wrong == 0) & ok, read


def _digits(
    rows: np.ndarray, places: list[np.ndarray], fraction_digits: int, kind: str
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Which rows hold digits at the template's digit places (per field, in the window) and an exact mantissa,
    and the values and nulls they spell."""
    numbers: list[np.ndarray] = []
    worst = np.zeros(len(rows), np.uint8)
    for field in places:
        number: np.ndarray = np.zeros(len(rows), np.int32 if len(field) <= 9 else np.int64)
        for at in field:  # a loop over the template's digit places, not the lines
            digit = rows[:, at] - np.uint8(ord("0"))
            np.maximum(worst, digit, out=worst)
            number *= 10
            number += digit
        numbers.append(number)
    ok = worst <= 9
    if kind == "timestamp":
        return ok, _unix_s(numbers, fraction_digits)
    number, none = numbers[0], np.zeros(len(rows), bool)
    if kind == "index":
        return ok, (number.astype(np.float64), number > _MAX_INDEX if len(places[0]) > 9 else none)
    if len(places[0]) > 15:
        ok &= number <= _EXACT_MANTISSA
    return ok, (number / 10.0**fraction_digits if fraction_digits else number.astype(np.float64), none)


def _digit_places(text: bytes, kind: str) -> tuple[list[np.ndarray], int]:
    """The places of a template's digits: per field, in `text` (none: the template is read whole; a number's
    integer and fraction digits are one field, its mantissa), and how many digits follow the decimal point."""
    form = {"timestamp": _STAMP, "index": _INDEX}.get(kind, _NUMBER).fullmatch(text)
    if form is None:
        return [], 0
    spans = [form.span(g) for g in range(1, form.re.groups + 1) if form.start(g) >= 0]
    fields = [np.arange(a, b) for a, b in spans]
    if kind == "number":
        fields = [np.concatenate(fields)]
        if len(fields[0]) > 16:  # more digits than an int64 mantissa holds: the cell is read whole
            return [], 0
    fraction = spans[-1][1] - spans[-1][0] if len(spans) == {"timestamp": 7, "number": 2}.get(kind) else 0
    return fields, fraction


def _unix_s(numbers: list[np.ndarray], fraction_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since 1970-01-01 00:00 of the stamps' own wall clock, exactly as `smi_csv._unix_s` computes them
    (whole milliseconds times 0.001); null where the date or the clock is none (Feb 30, 24:00, :60 minutes).
    The date is read once per run of rows on the same date (most pieces hold one or two)."""
    year, month, day, hour, minute, second = numbers[:6]
    date = (year * 100 + month) * 100 + day
    runs = np.flatnonzero(np.concatenate(([True], date[1:] != date[:-1])))
    days_of_run, valid_of_run = _days(*(n[runs].astype(np.int64) for n in (year, month, day)))
    run_of_row = np.repeat(np.arange(len(runs)), np.diff(np.append(runs, len(date))))
    valid = valid_of_run[run_of_row] & (hour < 24) & (minute < 60) & (second < 61)
    millis = numbers[6] * 10 ** (3 - fraction_digits) if fraction_digits else 0
    clock_ms = (hour * 3600 + minute * 60 + second) * 1000 + millis  # below 2^31
    unix_ms = days_of_run[run_of_row] * 86_400_000 + clock_ms
    return unix_ms.astype(np.float64) * 0.001, ~valid


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 of proleptic Gregorian dates, and whether each is a date (no Feb 30, no month 13)."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
    month_days = month_days + (leap & (month == 2))
    valid = (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    return _days_from_civil(year, month, day), valid


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    year_of_era = y - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468
