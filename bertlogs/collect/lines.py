"""A child's output as lines of bounded length, and Docker's two streams merged back into stamp order."""

from __future__ import annotations

import calendar
import codecs
import heapq
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO

from bertlogs.collect.archive import rfc3339_now

# a longer line is cut into pieces of this size (a 400 MB line without newline must not be held whole)
LINE_LIMIT_BYTES = 2**20
# how long a Docker line waits for an earlier-stamped line from the other stream before it is written
MERGE_LAG_S = 1.0
_DOCKER_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z ")


class LineReader:
    """The lines of a byte stream without their end of line (`\\r` inside a line is kept: progress redraws).

    A line longer than `limit_bytes` comes out as several pieces; `split_lines` counts the lines cut so.
    """

    def __init__(self, stream: IO[bytes], limit_bytes: int = LINE_LIMIT_BYTES) -> None:
        self._stream, self._limit = stream, limit_bytes
        self.split_lines = 0

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character cut in two stays whole
        pieces = 0  # of the current line, so far
        for raw in iter(lambda: self._stream.readline(self._limit), b""):
            if pieces and raw == b"\n":  # the end of a line that was cut exactly at the limit
                pieces = 0
                continue
            self.split_lines += pieces == 1
            split = len(raw) >= self._limit and not raw.endswith(b"\n")
            pieces = pieces + 1 if split else 0
            text = decoder.decode(raw, final=not split)
            if text.endswith("\n"):
                text = text[:-2] if text.endswith("\r\n") else text[:-1]
            yield text


def split_warning(split_lines: int) -> list[str]:
    if not split_lines:
        return []
    size = f"{LINE_LIMIT_BYTES // 2**20} MiB"
    return [f"train.log: {split_lines} line(s) longer than {size} were split into stamped pieces of {size}"]


def stamp_ns(line: str) -> int | None:
    """Docker's `--timestamps` prefix (RFC 3339 UTC, nanoseconds with trailing zeros trimmed) in ns."""
    found = _DOCKER_STAMP.match(line)
    if found is None:
        return None
    *fields, fraction = found.groups()
    seconds = calendar.timegm((*map(int, fields), 0, 0, 0))
    return seconds * 10**9 + int((fraction or "").ljust(9, "0"))


class StampMerger:
    """Lines of several streams, each in stamp order, written in stamp order across streams.

    A reader thread per stream `feed`s lines; `release` writes those that have waited `lag_s`, smallest stamp
    first, so a line from one stream is never written after a later-stamped one from another stream that
    arrived within `lag_s` of it. A line without a stamp (a piece of a split line, Docker's own error) takes its
    stream's previous stamp.
    """

    def __init__(self, write: Callable[[str], None], lag_s: float = MERGE_LAG_S) -> None:
        self._write, self._lag_s = write, lag_s
        self._heap: list[tuple[int, int, float, str]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self.split_lines = 0

    def feed(self, stream: IO[bytes]) -> None:
        previous = None
        reader = LineReader(stream)
        for line in reader:
            key = stamp_ns(line)
            if key is None:
                previous = previous or (time.time_ns(), rfc3339_now())
                key, line = previous[0], f"{previous[1]} {line}"
            else:
                previous = (key, line.split(" ", 1)[0])
            with self._lock:
                heapq.heappush(self._heap, (key, next(self._order), time.monotonic(), line))
        with self._lock:
            self.split_lines += reader.split_lines

    def release(self, everything: bool = False) -> None:
        due = time.monotonic() - self._lag_s
        with self._lock:
            while self._heap and (everything or self._heap[0][2] <= due):
                self._write(heapq.heappop(self._heap)[3])
