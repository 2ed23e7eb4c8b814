"""Byte-level kernels of the smi-table fast path: numpy over a piece of a capture's raw bytes, no per-line Python.

A piece's lines are told apart by their first byte and length, then checked against the layout of the
capture's own first number row (the template) or against the `date +%s.%N` form; digits are converted column
by column. Only what these checks vouch for is read here: every other line is an odd line, handed back whole
for the polars reading (`smi_table`), so that both paths give the same frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

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
    Float32 (one column per cell, in `_NUMBER_GROUPS` order).

    The fixed bytes are compared eight at a time; the regions' bytes column by column (each column a
    contiguous array across the rows)."""
    width = len(tmpl.text)
    maybe = np.flatnonzero((ls.end - ls.start == width) & (ls.data[ls.start] == ord("|")) & ls.clean)
    if len(maybe) == 0:  # (else the data, padded, holds a window of `8 * words` bytes)
        return maybe, np.empty((0, len(tmpl.numbers)), np.float32)
    words = -(-width // 8)
    block = np.lib.stride_tricks.sliding_window_view(ls.data, 8 * words)[ls.start[maybe]]
    text, fixed = (np.zeros(8 * words, np.uint8) for _ in range(2))
    text[:width], fixed[:width] = tmpl.text, np.where(tmpl.fixed, 0xFF, 0)
    ok = ~((block ^ text) & fixed).view(np.uint64).any(axis=1)
    for i, (a, b) in enumerate(tmpl.words):
        region = np.ascontiguousarray(block[:, a:b].T)
        inked = [(c >= 0x21) & (c <= 0x7E) & (c != ord("|")) for c in region]
        ok &= _right_aligned(region, inked)
        if i == 0:  # the fan: not all digits, or the row could also read as an index row
            ok &= np.any([ink & ((c - ord("0")) > 9) for ink, c in zip(inked, region, strict=True)], axis=0)
    cells = np.empty((len(tmpl.numbers), len(maybe)), np.float32)
    for i, (a, b) in enumerate(tmpl.numbers):
        region = np.ascontiguousarray(block[:, a:b].T)
        inked = [(c - ord("0")) <= 9 for c in region]
        ok &= _right_aligned(region, inked)
        cells[i] = _digits_value(region, inked)
    return maybe[ok], cells[:, ok].T


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


# exact decimal to binary needs a 64-bit mantissa for the 19 digits of `%s.%N` (x86's long double)
EXACT_STAMPS = np.finfo(np.longdouble).nmant >= 63
_ZEROS = np.uint64(0x3030303030303030)


def stamps(ls: Lines) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the lines that are `date +%s` or `date +%s.%N` stamps (10 digits, a dot, 9 digits),
    and their values as float64, correctly rounded (as polars' cast gives); a value whose rounding is a tie
    is left to polars. Digits are read eight at a time (SWAR, as fast_float does)."""
    size = ls.end - ls.start
    maybe = np.flatnonzero(((size == 10) | (size == _STAMP_BYTES)) & (ls.data[ls.start] > ord("0")) & ls.clean)
    if not EXACT_STAMPS or len(maybe) == 0:
        return np.empty(0, np.int64), np.empty(0)
    block = np.lib.stride_tricks.sliding_window_view(ls.data, 24)[ls.start[maybe]]
    long = size[maybe] == _STAMP_BYTES
    block[~long, 10:20] = [ord("."), *b"000000000"]  # `date +%s`: read as `.000000000`
    head, whole8 = _eight_digits(block, 2)
    tail, fraction8 = _eight_digits(block, 12)
    two = block[:, :2].astype(np.uint64) - ord("0")
    tenth = block[:, 11].astype(np.uint64) - ord("0")
    ok = head & tail & (two <= 9).all(axis=1) & (tenth <= 9) & (block[:, 10] == ord("."))
    whole = (two[:, 0] * 10 + two[:, 1]) * np.uint64(10**8) + whole8
    nanos = whole * np.uint64(10**9) + tenth * np.uint64(10**8) + fraction8
    exact = nanos.astype(np.longdouble) / np.longdouble(10**9)
    value = exact.astype(np.float64)
    gap = np.abs(exact - value.astype(np.longdouble))
    spacing = np.spacing(value).astype(np.longdouble)
    ok &= (gap != spacing / 2) & (gap != spacing / 4)  # a tie, or one below a power of two: polars decides
    return maybe[ok], value[ok]


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
