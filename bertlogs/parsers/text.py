"""Capture files as a lazy frame of cleaned lines, read by polars' native reader (no Python loop, no copy
of the file as a Python string)."""

from __future__ import annotations

import copy
import functools
import gzip
import io
import re
import stat
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
from polars._typing import EngineType

from bertlogs.errors import NotDataError, ParseError

GZIP_MAGIC = b"\x1f\x8b"
ANSI = r"\x1b\[[0-9;?]*[A-Za-z]"  # a terminal colour or cursor escape
# the RFC 3339 UTC stamp docker (`logs --timestamps`) and collect put before each line, without its `Z `
COLLECT_STAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
HEAD_BYTES = 256 * 1024
BINARY_HEAD_BYTES = 1 << 16  # what a binary format's sniffer is shown (`first_bytes`)
# polars' streaming engine bounds memory on big captures; its fixed cost per query (~0.3 ms) dominates on
# small ones, where the in-memory engine is about twice as fast.
STREAMING_FROM_BYTES = 16 * 2**20
# A gzip capture is inflated into memory (polars cannot stream a gzip): past this it is refused. A day of
# full nvidia-smi tables at 1 s is ~170 MB, a month of `grep %` rows at 0.31 s ~850 MB. No ratio limit:
# real idle captures inflate 145:1 (tables with a date line) to 294:1 (`grep %` rows without stamps), as
# much as a bomb; a bomb of NUL bytes is refused at its first chunk anyway.
GUNZIPPED_MAX_BYTES = 2**30
_CHUNK_BYTES = 2**20
# the pieces a capture is parsed in (`pieces`): big enough that numpy's per-call cost vanishes, small enough to
# stay in cache-friendly, bounded memory (2 MiB: 4 MiB took 20 % less time and 45 MB more peak memory on 1.5 GB)
PIECE_BYTES = 2 * 2**20
# A `key = value` line as BERT writes it to eval_results.txt and TF1 logs in an eval block (`"%s = %s"`): one
# reading for both, in Python's re and polars'. Exactly ` = `: a log's own prints (`accuracy=0.94`) are no result.
KEY_VALUE = r"^\s*(?P<key>[A-Za-z_][\w.]*) = (?P<value>\S+)\s*$"

# Wrappings a log picks up on its way to an archive (pipes, schedulers, notebooks, blogs, chat), looked for in
# the head and peeled off every line before any format reads it (patterns shared by Python's re and polars').
_HTML_TAG = (
    r"</?(?:br|p|pre|code|samp|kbd|tt|td|tr|th|table|tbody|thead|strong|b|i|em|u|s|a|font|small|span|div|li|ul|ol"
    r"|blockquote|h[1-6])\b[^<>\n]*>"
)
_HTML_HINTS = ("</", "<br", "<p", "<li", "<t")  # what a paste's HTML shows: other tags come with their closing
_HTML_HINT = re.compile("|".join(map(re.escape, _HTML_HINTS)))  # one search: a substring test each costs 20x
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&#x27;": "'", "&apos;": "'", "&nbsp;": " "}
_ENTITIES |= {"&#60;": "<", "&#62;": ">", "&#34;": '"', "&#x3C;": "<", "&#x3E;": ">", "&#x22;": '"', "&#x7C;": "|"}
_ENTITIES |= {"&#124;": "|", "&#37;": "%", "&#x25;": "%"}
_ENTITIES["&amp;"] = "&"  # last: `&amp;gt;` is `&gt;` (one pass)
# A date-time as loggers and captures write it: `2024-05-01 10:00:00,123`, `2020-03-05 07:32:05:49` (the
# fraction after a colon), `2024-05-01T10:00:00+08:00`, `...Z`, `2019/11/25 14:00:00.100`.
DATE_TIME = (
    r"(?P<date>[0-9]{4}[-/][0-9]{2}[-/][0-9]{2})[ T](?P<hms>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:[.,:](?P<frac>[0-9]{1,9}))?"
    r"[ \t]*(?P<zone>Z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_DATE_TIME_TEXT = re.sub(r"\(\?P<\w+>", "(?:", DATE_TIME)  # the same, capturing nothing
# Every line behind a bracketed stamp or counter (`[2020-03-05 07:32:05:49] `, `[12] `, `[stdout] `; not a
# worker tag `[host::stderr]` nor transformers' `[INFO|file.py:12]`, which their formats read), a service
# label (docker compose's `web_1  | `, `riseml logs`' `2.train       | `), a `srun -l` counter (`0: `), or a
# Python logger's `2024-05-01 10:00:00,123 - name - INFO - ` or loguru's (the level followed by a blank: `...Z
# INFO:tensorflow:` is a Docker stamp and a TF header, which the TF1 format reads).
_BRACKET = r"\[[^\[\]|:\n]*(?::[^\[\]|:\n]+)*\]"
_SERVICE = r"[\w.-]+[ \t]+\|[ \t]"
# mpirun --tag-output's `[1,0]<stdout>:`, a markdown or mail quote's `> `, Kubernetes' CRI `... stdout F `
_OTHER_TAGS = rf"<std(?:out|err)>:|>[ \t]|{_DATE_TIME_TEXT}[ \t]+std(?:out|err)[ \t]+[FP][ \t]"
_LOGGER = (
    rf"{_DATE_TIME_TEXT}[ \t]*(?:[-:|][ \t]*)?(?:[\w.]+[ \t]+-[ \t]+)?"
    r"\[?(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\]?"
    r"(?:[ \t]*\|[ \t]*[\w.]+:[\w<>]+:[0-9]+[ \t]+-[ \t]+|[ \t]+-[ \t]+|:?[ \t]+)"  # loguru's `| mod:fn:12 - `
)
_PREFIXES = rf"(?:(?:{_BRACKET}|{_SERVICE}|{_OTHER_TAGS}|[0-9]{{1,5}}: |{_LOGGER})[ \t]*)+"  # again: `0: [12] `
# the stamp of a prefix: the first date-time in it (a logger's, or in brackets)
_PREFIX_STAMP = rf"(?:^|[ \t\[])({_DATE_TIME_TEXT})"
PREFIX = rf"^[ \t]*{_PREFIXES}"


@dataclass(frozen=True)
class AtLineStart:
    """A pattern (that never crosses a newline) found at lines' starts, as `^` in MULTILINE mode finds it: at the
    text's start, and after each newline. re skips to a literal first character but tries `^` at each position
    (5-10x slower on a head that holds few matches)."""

    at_start: re.Pattern[str]
    after_newline: re.Pattern[str]

    @classmethod
    def of(cls, pattern: str) -> AtLineStart:
        return cls(re.compile(pattern), re.compile("\n" + pattern))

    def search(self, text: str) -> bool:
        return self.at_start.match(text) is not None or self.after_newline.search(text) is not None

    def count(self, text: str) -> int:
        """The lines that start with a match."""
        return (self.at_start.match(text) is not None) + len(self.after_newline.findall(text))


# in the head: lines that hold something, and lines behind a prefix (maybe inside HTML tags), counted by regex
_FILLED_LINE = AtLineStart.of(r"[ \t]*\S")
_PREFIXED_LINE = AtLineStart.of(rf"(?:{_HTML_TAG})*[ \t]*{_PREFIXES}")
_QUOTES = r"^[ \t]*(?:\"\"\"|\'\'\')|(?:\"\"\"|\'\'\')[ \t]*,?$"
_QUIRK_LINES = 200
# a notebook's (`.ipynb`) output: each line a JSON string, `"INFO:tensorflow:loss = 0.61, step = 1\n",`
_JSON_LINE = r'^[ \t]*"((?:[^"\\\n]|\\.)*?)(?:\\n)?",?[ \t]*$'
_JSON_LINE_PY = re.compile(_JSON_LINE, re.MULTILINE)
_JSON_OUTPUT_LINE = re.compile(r'^[ \t]*"(?:[^"\\\n]|\\.)*\\n",?[ \t]*$', re.MULTILINE)
_JSON_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\t": "\t", "\\r": "\r", "\\/": "/", "\\u001b": "\x1b"}


@dataclass(frozen=True)
class Quirks:
    """Which wrappings a file's head shows (each costs a pass over every line, so only those are peeled)."""

    json_strings: bool = False  # two lines or more: a log's own lines never end in `\n",`
    html: bool = False
    entities: bool = False
    prefix: bool = False  # on most lines: a line of a log that merely starts with `[x]` keeps it
    quotes: bool = False
    trailing_blanks: bool = False

    @classmethod
    def of(cls, head: str) -> Quirks:
        judged = "\n".join(head.split("\n", _QUIRK_LINES)[:_QUIRK_LINES])
        json_strings = holds(judged, '\\n"') and len(_JSON_OUTPUT_LINE.findall(judged)) >= 2
        if json_strings:  # the other wrappings are judged inside the strings (an approximation: no unescaping)
            head = judged = "\n".join(_JSON_LINE_PY.findall(judged))
        # a substring test first (microseconds on 256 KiB), the regex on the whole head only when it hits
        html = "<" in head and _HTML_HINT.search(head) is not None and re.search(_HTML_TAG, head) is not None
        return cls(
            json_strings=json_strings,
            html=html,
            entities="&" in head and any(entity in head for entity in _ENTITIES),
            prefix=_mostly_prefixed(judged),
            quotes=holds(head, '"""') or holds(head, "'''"),
            trailing_blanks=any(holds(judged, end) for end in (" \n", "\t\n", " \r\n", "\t\r\n")),
        )

    def peel(self, lines: pl.LazyFrame, utc_offset_s: float) -> pl.LazyFrame:
        """`lines` with these wrappings peeled off `text`, and each line's `stamp_s` (unix seconds) and
        `stamp_clock` from a peeled date-time prefix (local time at `utc_offset_s` unless it names its zone)."""
        text = pl.col("text")
        if self.json_strings:  # the strings are the log; the notebook's own lines (`"cells": [`) are left blank
            unquoted = text.str.replace(_JSON_LINE, "${1}").str.replace_many(
                list(_JSON_ESCAPES), list(_JSON_ESCAPES.values())
            )
            unquoted = unquoted.str.replace_all(ANSI, "")  # colours escaped in the JSON, as scan_lines cleans them
            text = pl.when(text.str.contains(_JSON_LINE)).then(unquoted).otherwise(pl.lit(""))
        if self.html:
            text = text.str.replace_all(_HTML_TAG, "")
        if self.entities:
            text = text.str.replace_many(list(_ENTITIES), list(_ENTITIES.values()))
        stamp_s, clock = pl.lit(None, pl.Float64), pl.lit(None, pl.String)
        if self.prefix:
            stamp = text.str.extract(f"({PREFIX})", 1).str.extract(_PREFIX_STAMP, 1)
            stamp_s, clock = unix_s(stamp, utc_offset_s), zone_clock(stamp)
            text = text.str.replace(PREFIX, "")
        if self.quotes:
            text = text.str.replace_all(_QUOTES, "")
        if self.trailing_blanks:
            text = text.str.strip_chars_end(" \t\r")
        return lines.with_columns(text=text, stamp_s=stamp_s, stamp_clock=clock)

    @property
    def any(self) -> bool:
        return self.json_strings or self.html or self.entities or self.prefix or self.quotes or self.trailing_blanks


def count_newlines(data: bytes) -> int:
    """`data.count(b"\\n")` by numpy, a piece of PIECE_BYTES at a time (the comparison's temporary stays that size):
    3x faster on a 28 KB log, 4.5x on a 100 KB capture (`bytes.count` does not run at memchr's speed)."""
    view = memoryview(data)  # slices of a view copy nothing
    spans = (view[at : at + PIECE_BYTES] for at in range(0, len(view), PIECE_BYTES))
    return sum(int(np.count_nonzero(np.frombuffer(span, np.uint8) == 10)) for span in spans)


def holds(text: str, word: str) -> bool:
    """`word in text`, each of its characters looked for first: a one-character test runs at memchr's speed, a
    word's search up to 50x slower on 256 KiB (and most heads hold no quote, tab or CR at all)."""
    for character in _characters(word):
        if character not in text:
            return False
    return word in text


@functools.cache
def _characters(word: str) -> str:
    """A word's characters, each once (asked of every head: a set made each time cost a third of a test)."""
    return "".join(set(word))


def _mostly_prefixed(judged: str) -> bool:
    """Whether most of these lines (that hold something) are behind a prefix; none in the first 20 lines: no."""
    if not _PREFIXED_LINE.search("\n".join(judged.split("\n", 20)[:20])):  # most files: 20 lines judged
        return False
    return 2 * _PREFIXED_LINE.count(judged) > _FILLED_LINE.count(judged) > 0


def unix_s(stamp: pl.Expr, utc_offset_s: float | pl.Expr) -> pl.Expr:
    """A `DATE_TIME` text as unix seconds (null when it is none): its own zone when it names one, else local
    time at `utc_offset_s`."""
    parts = stamp.str.extract_groups(rf"^[ \t]*{DATE_TIME}[ \t]*$")
    wall = (parts.struct["date"].str.replace_all("/", "-", literal=True) + " " + parts.struct["hms"]).str.to_datetime(
        "%Y-%m-%d %H:%M:%S", strict=False
    )
    fraction = ("0." + parts.struct["frac"]).cast(pl.Float64, strict=False).fill_null(0.0)
    zone = parts.struct["zone"]
    sign = pl.when(zone.str.starts_with("-")).then(-1.0).otherwise(1.0)
    hours = zone.str.slice(1, 2).cast(pl.Float64, strict=False)
    minutes = zone.str.slice(3).str.strip_chars_start(":").cast(pl.Float64, strict=False).fill_null(0.0)
    zone_s = pl.when(zone.is_in(["Z", "UTC"])).then(0.0).otherwise(sign * (hours * 3600 + minutes * 60))
    return wall.dt.epoch("ms").cast(pl.Float64) / 1000 + fraction - pl.coalesce(zone_s, utc_offset_s)


def zone_clock(stamp: pl.Expr) -> pl.Expr:
    """`utc` for a `DATE_TIME` that names its zone, `local` for one that does not, null for none."""
    parts = stamp.str.extract_groups(rf"^[ \t]*{DATE_TIME}[ \t]*$")
    named = pl.when(parts.struct["zone"].is_not_null()).then(pl.lit("utc"))
    return named.when(parts.struct["hms"].is_not_null()).then(pl.lit("local"))


def engine(streaming: bool) -> EngineType:
    return "streaming" if streaming else "in-memory"


class Source:
    """A file (plain or gzip, judged by content) opened for sniffing and scanning; `head` is its first
    256 KiB (whole lines), decoded.

    Memory stays bounded whatever the content: a file that turns binary after its head is refused at its
    first NUL byte (the rest is scanned in chunks, never held), and a gzip file is inflated in chunks and
    refused at a NUL byte or past `GUNZIPPED_MAX_BYTES`.

    Raises:
        ParseError: not a regular file, unreadable, damaged gzip, too large once inflated, or binary content.
    """

    def __init__(self, path: Path, sniff_binary: Callable[[bytes], str | None] | None = None) -> None:
        """`sniff_binary`: the binary format a file's first bytes show (`first_bytes`), or None; a file it names
        is opened as binary (`binary_format`; `head` is empty: its parser reads the path), nothing more read."""
        self.path = path
        self.before_line: int | None = None  # lines from here on are left out (a capture's truncated last line)
        self.binary_format: str | None = None
        where = str(path)
        try:
            st = path.stat()
            special = not_regular(st.st_mode)
            if special is not None:  # a FIFO would block the open below, a device never end
                raise NotDataError(where, f"not a regular file but {special}")
            with path.open("rb") as f:
                head = _read_head(f, st.st_size)
                if sniff_binary is not None and (first := first_bytes(head)) is not None:
                    self.binary_format = sniff_binary(first)
                if self.binary_format is not None:
                    self._open_binary(st.st_size)
                    return
                data: Path | bytes = path
                if head.startswith(GZIP_MAGIC):
                    f.seek(0)
                    data = _gunzip(where, f)
                    head, size, last = data[:HEAD_BYTES], len(data), data[-1:]
                elif len(head) < HEAD_BYTES:  # the whole file: a short read is its end
                    size, last = len(head), head[-1:]
                else:
                    size, last = _scan_rest(where, f, head)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ParseError(where, f"damaged gzip file: {exc}") from exc
        except OSError as exc:
            raise ParseError.unreadable(where, exc) from exc
        self._open(data, head, size, last)

    @classmethod
    def of_text(cls, text: str, path: Path = Path("<text>")) -> Source:
        """In-memory text as a file would be read (the parsers' pure entry points): the same head, the same
        refusals, so that parsing text and parsing a file of that text agree."""
        source = cls.__new__(cls)
        source.path, source.before_line, source.binary_format = path, None, None
        data = text.encode("utf-8", errors="replace")
        at = data.find(b"\x00")
        if at >= 0:
            raise NotDataError(str(path), f"binary content (NUL bytes) from byte {at}, not a text log or capture")
        source._open(data, data[:HEAD_BYTES], len(data), data[-1:])
        return source

    def _open_binary(self, size: int) -> None:
        self._data: Path | bytes = self.path
        self.head, self.ends_with_newline, self.quirks = "", True, Quirks()
        self.size_bytes = size
        self.large = size >= STREAMING_FROM_BYTES

    @property
    def is_binary(self) -> bool:
        return self.binary_format is not None

    def _open(self, data: Path | bytes, head: bytes, size: int, last: bytes) -> None:
        where = str(self.path)
        if b"\r" in head and b"\n" not in head and size:  # classic Mac line ends: one line to polars
            data = _cr_to_lf(where, data)
            head, last = data[:HEAD_BYTES], data[-1:]
        self._data = data
        self.ends_with_newline = size == 0 or last == b"\n"
        self.head, self.quirks = peeled_head(decode(where, whole_lines(head, size)))
        self.size_bytes = size  # when it was opened (inflated, for gzip)
        self.large = size >= STREAMING_FROM_BYTES

    def without_truncated_line(self) -> tuple[Source, list[str]]:
        """This capture without its last line when the file does not end with a newline (cut mid-write),
        and the warning that says so."""
        if self.ends_with_newline:
            return self, []
        cut = copy.copy(self)
        cut.before_line = self.line_count()
        return cut, [f"{self.path}:{cut.before_line}: truncated last line ignored"]

    def read_again(self) -> bytes:
        """The file's bytes as they are now (a plain file read again; a gunzipped one's are held).

        Raises:
            ParseError: the file cannot be read any more (moved or removed since it was opened).
        """
        try:
            return self._data if isinstance(self._data, bytes) else self._data.read_bytes()
        except OSError as exc:
            raise ParseError.unreadable(str(self.path), exc) from exc

    @property
    def data(self) -> Path | bytes:
        """The path of a plain file, or the bytes of a gunzipped one."""
        return self._data

    def lines(self, utc_offset_s: float = 0.0) -> pl.LazyFrame:
        """`line`, `text` (cleaned, its wrappings peeled: see `Quirks`), and the `stamp_s` and `stamp_clock`
        of a peeled date-time prefix (null where there is none)."""
        lines = self.peel(scan_lines(self._data, clean=self.needs_cleaning), utc_offset_s)
        return lines if self.before_line is None else lines.filter(pl.col("line") < self.before_line)

    @property
    def needs_cleaning(self) -> bool:
        """Whether lines are cleaned of colours and \r redraws: where the head shows them (two regex passes fewer
        per line elsewhere)."""
        return "\x1b" in self.head or "\r" in self.head

    @property
    def unwrapped(self) -> bool:
        """Whether the file's lines are its text as written: no wrappings peeled off them (`Quirks`), no
        byte-order mark, no truncated last line left out."""
        return not (self.quirks.any or self.head.startswith("\ufeff") or self.before_line is not None)

    @property
    def plain(self) -> bool:
        """Whether `lines()` is the file's lines as `scan_lines(data, clean=False)` reads them, with null stamps:
        unwrapped text with nothing to clean."""
        return self.unwrapped and not (self.is_binary or self.needs_cleaning)

    def peel(self, lines: pl.LazyFrame, utc_offset_s: float = 0.0) -> pl.LazyFrame:
        """`lines` of this file (`scan_lines`) with the wrappings its head shows peeled off (see `Quirks`)."""
        if not self.quirks.any:
            return lines.with_columns(stamp_s=pl.lit(None, pl.Float64), stamp_clock=pl.lit(None, pl.String))
        return self.quirks.peel(lines, utc_offset_s)

    def line_count(self) -> int:
        # the last line number, not pl.len(): polars' row count takes seconds on a line of megabytes
        lines = scan_lines(self._data, clean=False).select(pl.col("line").max())
        return int(lines.collect(engine=engine(self.large)).item() or 0)


def peeled_head(head: str) -> tuple[str, Quirks]:
    """A head with the wrappings it shows peeled off, as `Source.lines` peels every line, and those wrappings."""
    quirks = Quirks.of(head)
    if not quirks.any:
        return head, quirks
    # split by polars: a Python list of the lines would be converted element by element
    lines = pl.LazyFrame({"text": [head]}).select(pl.col("text").str.split("\n").explode())
    return quirks.peel(lines, 0.0).select(pl.col("text").fill_null("").str.join("\n")).collect().item(), quirks


def whole_lines(head: bytes, size: int) -> bytes:
    """The head of a file of `size` bytes cut after its last full line: a line cut in two would read as two."""
    if size > len(head) and b"\n" in head:
        return head[: head.rfind(b"\n") + 1]
    return head


def _read_head(f: io.BufferedReader, size_bytes: int) -> bytes:
    """The first HEAD_BYTES of a file of `size_bytes` (when it was looked at): a small file is read into a
    buffer of its size (one of HEAD_BYTES costs a large allocation), then on should it have grown since."""
    head = f.read(min(HEAD_BYTES, size_bytes + 1))
    return head + f.read(HEAD_BYTES - len(head)) if len(head) > size_bytes else head


def first_bytes(head: bytes) -> bytes | None:
    """What a binary format's sniffer is shown of a file whose `head` this is: its first BINARY_HEAD_BYTES,
    inflated when it is a gzip (a gzipped event file's first records are in them); None when they cannot be."""
    if not head.startswith(GZIP_MAGIC):
        return head[:BINARY_HEAD_BYTES]
    try:
        return zlib.decompressobj(wbits=31).decompress(head[:BINARY_HEAD_BYTES], BINARY_HEAD_BYTES)
    except zlib.error:
        return None


def read_head(path: Path) -> str:
    """The head of a file (gunzipped if it is a gzip) as `Source.head` would hold it, reading no more than the
    head: cheap enough to peek at many files. Raises OSError or zlib.error when unreadable."""
    with path.open("rb") as f:
        raw = f.read(HEAD_BYTES + 1)
    if raw.startswith(GZIP_MAGIC):
        raw = zlib.decompressobj(wbits=31).decompress(raw, HEAD_BYTES + 1)
    return peeled_head(whole_lines(raw[:HEAD_BYTES], len(raw)).decode("utf-8", errors="replace"))[0]


def not_regular(mode: int) -> str | None:
    """What a file of this `st_mode` is when it is not a regular file ('a FIFO or pipe', ...), else None."""
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO or pipe", stat.S_IFSOCK: "a socket"}
    return kinds.get(stat.S_IFMT(mode), "a device or special file")


def _scan_rest(path: str, f: io.BufferedReader, head: bytes) -> tuple[int, bytes]:
    """The size and last byte of a plain file whose `head` was read; refused at its first NUL byte.

    memchr over 1 MiB chunks, read into one reused buffer: ~20 ms per 150 MB from the page cache, and
    a file that turns binary stops here rather than in polars after gigabytes.
    """
    size, last = len(head), head[-1:]
    buffer = bytearray(_CHUNK_BYTES)
    while n := f.readinto(buffer):
        at = buffer.find(b"\x00", 0, n)
        if at >= 0:
            raise NotDataError(path, f"binary content (NUL bytes) from byte {size + at}, not a text log or capture")
        size, last = size + n, bytes(buffer[n - 1 : n])
    return size, last


def _gunzip(path: str, f: io.BufferedReader) -> bytes:
    """A gzip file's content, inflated chunk by chunk: refused at the first NUL byte or once it passes
    `GUNZIPPED_MAX_BYTES`, so a decompression bomb costs one chunk of memory, not gigabytes."""
    out = bytearray()
    with gzip.GzipFile(fileobj=f) as inflated:
        while chunk := inflated.read(_CHUNK_BYTES):
            if b"\x00" in chunk:
                raise NotDataError(path, f"binary content (NUL bytes) inside the gzip from byte {len(out)}")
            if len(out) + len(chunk) > GUNZIPPED_MAX_BYTES:
                raise ParseError(path, f"gzip inflates past {GUNZIPPED_MAX_BYTES >> 30} GiB: gunzip it first")
            out += chunk
    return bytes(out)


def _cr_to_lf(path: str, data: Path | bytes) -> bytes:
    """A file whose lines end in a bare CR, with LF instead (held in memory: such files are rare and small)."""
    if isinstance(data, Path):
        if data.stat().st_size > GUNZIPPED_MAX_BYTES:
            raise ParseError(path, f"CR-only line ends in a file over {GUNZIPPED_MAX_BYTES >> 30} GiB")
        data = data.read_bytes()
    return data.replace(b"\r", b"\n")


def decode(path: str, raw: bytes) -> str:
    """UTF-8 text of `raw`; binary content (NUL bytes, many invalid bytes) is refused."""
    if b"\x00" in raw:
        raise NotDataError(path, "binary file (NUL bytes), not a text log or capture")
    text = raw.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad > 16 and bad > len(raw) // 50:
        raise NotDataError(path, "binary file (mostly invalid UTF-8), not a text log or capture")
    return text


def scan_lines(data: Path | bytes, *, clean: bool = True) -> pl.LazyFrame:
    """`line` (1-based) and `text`: CRLF, ANSI colours and `\\r` progress redraws removed, blank lines kept."""
    source = data if isinstance(data, Path) else io.BytesIO(data)
    # one column: NUL never occurs in a text file (they are refused), so it never splits a line
    frame = pl.scan_csv(
        source,
        has_header=False,
        separator="\x00",
        quote_char=None,
        new_columns=["text"],
        glob=False,  # a path is literal: `run[1]/x.log` is not `run1/x.log`
        schema={"text": pl.String},
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
        extra_columns="ignore",
    )
    text = pl.col("text").fill_null("")
    return frame.with_row_index("line", offset=1).select(
        pl.col("line").cast(pl.Int64), cleaned(text) if clean else text
    )


def cleaned(text: pl.Expr) -> pl.Expr:
    """A line's text as `scan_lines` cleans it: trailing CRs and ANSI escapes removed, and of a progress bar
    redrawn with \r, what is on screen (the text after the last \r)."""
    return text.str.strip_chars_end("\r").str.replace_all(ANSI, "").str.replace(r"^.*\r", "")


def pieces(data: Path | bytes, size_bytes: int = PIECE_BYTES) -> Iterator[bytes]:
    """A file's bytes (or in-memory bytes) in pieces of about `size_bytes`, each cut after a newline (the last
    one holds what follows the last newline): memory holds one piece, whatever the file's size.

    Raises:
        ParseError: the file cannot be read any more (moved or removed since it was opened).
    """
    if isinstance(data, bytes):
        yield from _cut_at_newlines(data[i : i + size_bytes] for i in range(0, len(data), size_bytes))
        return
    try:
        with data.open("rb") as f:
            yield from _cut_at_newlines(iter(lambda: f.read(size_bytes), b""))
    except OSError as exc:
        raise ParseError.unreadable(str(data), exc) from exc


T = TypeVar("T")
R = TypeVar("R")


def read_ahead(read: Callable[[T], R], items: Iterable[T], ahead: int = 2) -> Iterator[R]:
    """`read` of each item (a piece), in order, by two threads (numpy and polars let go of the GIL while they
    work), at most `ahead` items read and held at once."""
    with ThreadPoolExecutor(2) as pool:
        waiting: deque[Future[R]] = deque()
        for item in items:
            waiting.append(pool.submit(read, item))
            if len(waiting) >= ahead:
                yield waiting.popleft().result()
        while waiting:
            yield waiting.popleft().result()


def _cut_at_newlines(reads: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    for read in reads:
        cut = read.rfind(b"\n")
        if cut < 0:
            rest += read
            continue
        yield rest + memoryview(read)[: cut + 1]  # one copy: the slice is a view
        rest = read[cut + 1 :]
    if rest:
        yield rest


def number(cell: pl.Expr, dtype: pl.DataType, *, strip: str = "") -> pl.Expr:
    """A text cell as a number of `dtype`, null when it holds none (`N/A`, `[Not Supported]`, `ERR!`); `strip`:
    characters cut from both ends first (blanks, unit letters: `250.07 W`, `17304 MiB`, `34 %`)."""
    return (cell.str.strip_chars(strip) if strip else cell).cast(dtype, strict=False)


def concat_files(lines: list[pl.LazyFrame], utc_offsets_s: list[float]) -> pl.LazyFrame:
    """Several files' lines as one frame for one query, each line tagged with its file's position (`file`)
    and UTC offset in seconds (`offset`)."""
    return pl.concat(
        [
            lf.with_columns(file=pl.lit(i, pl.Int32), offset=pl.lit(o, pl.Float64))
            for i, (lf, o) in enumerate(zip(lines, utc_offsets_s, strict=True))
        ]
    )


def null_column(name: str, dtype: pl.DataType, rows: int) -> pl.Series:
    """A column of `rows` nulls (a frame built from numpy: a column the capture does not have)."""
    return pl.Series(name, [None], dtype).new_from_index(0, rows)


def scan_fields(data: Path | bytes, *, width: int, skip_lines: int) -> pl.LazyFrame:
    """Comma-separated fields `c0`..: polars' own CSV reader, after `skip_lines` lines; `line` is 1-based.

    A line with fewer fields has nulls in the missing ones (blank lines are all nulls): callers filter.
    """
    source = data if isinstance(data, Path) else io.BytesIO(data)
    frame = pl.scan_csv(
        source,
        has_header=False,
        skip_rows=skip_lines,
        glob=False,
        separator=",",
        quote_char=None,
        schema={f"c{i}": pl.String for i in range(width)},
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
        extra_columns="ignore",  # a longer row (a quoted comma, a restarted poller with more columns)
        missing_columns="insert",  # a shorter first line (blank, a note): else polars takes its width
    )
    return frame.with_row_index("line", offset=skip_lines + 1).with_columns(pl.col("line").cast(pl.Int64))
