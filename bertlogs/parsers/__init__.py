"""One module per input format; `parse_file` sniffs the content (never the name) and dispatches."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from bertlogs.errors import NotDataError, ParseError, one_line
from bertlogs.parsers import eval_results, smi_csv, smi_table, tf1
from bertlogs.parsers.text import Source
from bertlogs.schema import FACT_SCHEMA, SAMPLE_SCHEMA

TF1_LOG = "tf1-log"
EVAL_RESULTS = "eval-results"
SMI_TABLE = "smi-table"
SMI_CSV = "smi-csv"
GPU_FORMATS = (SMI_TABLE, SMI_CSV)
NOT_OURS = (
    "not a TF1 log, eval_results.txt or nvidia-smi capture (bertlogs reads TF1 training logs, eval_results.txt,"
    " nvidia-smi tables and `grep %` rows, nvidia-smi --query-gpu CSV and collect's gpu.csv)"
)

# Python's re backtracks: with MULTILINE, a `^\s*` would run across blank lines from every line start
# (minutes on 64 KiB of newlines), hence `[ \t]` in these patterns.
_TF1_MARKERS = re.compile(
    r"INFO:tensorflow:"
    r"|^[ \t]*(?:[^ \t\n]+[ \t]+)?[IWEF][0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+[ \t]+[0-9]+ \S+\.py:[0-9]+\]"
    r"|global_step/sec:|examples/sec:|\*\*\*\*\* (?:Eval results|Running training)",
    re.MULTILINE,
)
_TABLE_ROW = re.compile(smi_table.NUMBER_ROW, re.MULTILINE)
_SNIFF_CHARS = 64 * 1024


@dataclass
class Parsed:
    """A parsed file: its format, its tidy frame (samples or facts), and what was odd about it."""

    path: Path
    format: str
    frame: pl.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def is_gpu(self) -> bool:
        return self.format in GPU_FORMATS


def sniff(text: str) -> str | None:
    """The format of `text`, judged from its first 64 KiB; None when it is none of ours."""
    head = text[:_SNIFF_CHARS]
    if "," in head and re.search(smi_csv.HEADER_START, head, re.MULTILINE) and smi_csv.looks_like(head):
        return SMI_CSV
    # every TF1 marker holds one of these words: a substring test spares the regex most captures
    maybe_tf = any(word in head for word in ("tensorflow", "/sec: ", "***** ", ".py:"))
    tf_log = maybe_tf and _TF1_MARKERS.search(head) is not None
    table = _TABLE_ROW.search(head) is not None
    if tf_log and table:  # a log with nvidia-smi tables in it, or the reverse: the majority decides
        tf_log = len(_TF1_MARKERS.findall(head)) >= len(_TABLE_ROW.findall(head))
    if tf_log:
        return TF1_LOG
    if table:
        return SMI_TABLE
    if eval_results.looks_like(head):
        return EVAL_RESULTS
    if smi_csv.looks_like(head):
        return SMI_CSV
    return None


def open_file(path: Path) -> tuple[Source, str]:
    """The file, opened, and its format.

    Raises:
        ParseError: unreadable, binary, or not a format bertlogs knows.
    """
    source = Source(path)
    fmt = sniff(source.head)
    if fmt is None:
        first = next((s for s in source.head.split("\n") if s.strip()), None)
        reason = "empty file" if first is None else smi_csv.refused_header(source.head) or NOT_OURS
        raise NotDataError(str(path), reason, 1 if first is not None else None, first)
    return source, fmt


def parse_file(path: Path, *, year: int | None = None, utc_offset_s: float = 0.0) -> Parsed:
    """Read, sniff and parse one file (plain or gzip, judged by content).

    Raises:
        ParseError: unreadable, binary, not a format bertlogs knows, or content the parser cannot read.
    """
    source, fmt = open_file(path)
    if fmt == TF1_LOG:
        with _polars_failure_is_parse_error(source):
            return _logs([source], year, [utc_offset_s])[0]
    return parse_capture(source, fmt, utc_offset_s=utc_offset_s)


def parse_logs(sources: list[Source], *, year: int | None = None, utc_offsets_s: list[float]) -> list[Parsed]:
    """Several TF1 logs in one polars query (cheaper than one query each for many small logs).

    Never raises on content: should polars fail on the batch, each log is parsed alone, and one that still
    fails comes back with no facts and the reason as its warning, so the others are kept.
    """
    try:
        return _logs(sources, year, utc_offsets_s)
    except _POLARS_FAILURES:
        one_log = lambda source, o: _logs([source], year, [o])[0]  # noqa: E731
        return [_alone(one_log, s, o, TF1_LOG) for s, o in zip(sources, utc_offsets_s, strict=True)]


def parse_tables(sources: list[Source], *, utc_offsets_s: list[float]) -> list[Parsed]:
    """Several nvidia-smi table / `grep %` captures in one polars query (streamed when one is large).

    Never raises on content: a capture polars cannot read comes back empty with the reason (see `parse_logs`).
    """
    try:
        return _tables(sources, utc_offsets_s)
    except _POLARS_FAILURES:
        one_table = lambda source, o: _tables([source], [o])[0]  # noqa: E731
        return [_alone(one_table, s, o, SMI_TABLE) for s, o in zip(sources, utc_offsets_s, strict=True)]


def parse_capture(source: Source, fmt: str, *, utc_offset_s: float = 0.0) -> Parsed:
    """A GPU capture or eval_results.txt; a capture's truncated last line is left out, with a warning.

    Raises:
        ParseError: a CSV without a header or rows with units, or content the parser cannot read.
    """
    with _polars_failure_is_parse_error(source):
        if fmt == SMI_TABLE:
            return _tables([source], [utc_offset_s])[0]
        lines, last, warnings = _without_truncated_line(source, fmt)
        if fmt == EVAL_RESULTS:
            return Parsed(source.path, fmt, eval_results.parse_lines(lines), warnings)
        frame, unread = smi_csv.parse_data(
            source.data,
            head=source.head,
            path=str(source.path),
            utc_offset_s=utc_offset_s,
            streaming=source.large,
            before_line=last,
        )
        return Parsed(source.path, fmt, frame, warnings + unread)


def _logs(sources: list[Source], year: int | None, utc_offsets_s: list[float]) -> list[Parsed]:
    frames = tf1.parse_many([s.lines() for s in sources], year=year, utc_offsets_s=utc_offsets_s)
    return [Parsed(s.path, TF1_LOG, frame) for s, frame in zip(sources, frames, strict=True)]


def _tables(sources: list[Source], utc_offsets_s: list[float]) -> list[Parsed]:
    cut = [_without_truncated_line(s, SMI_TABLE) for s in sources]
    frames = smi_table.parse_many(
        [(lines, s.head, o) for s, (lines, _, _), o in zip(sources, cut, utc_offsets_s, strict=True)],
        streaming=any(s.large for s in sources),
    )
    return [Parsed(s.path, SMI_TABLE, f, w) for s, (_, _, w), f in zip(sources, cut, frames, strict=True)]


# The last line of defence, should polars meet content no fix foresaw: every known cause is fixed where it
# arises (tests/test_fuzz.py, tests/benchmarks/fuzz.py), so this turns only the unforeseen into a ParseError.
_POLARS_FAILURES = (pl.exceptions.PolarsError, pl.exceptions.PanicException)


@contextmanager
def _polars_failure_is_parse_error(source: Source) -> Iterator[None]:
    try:
        yield
    except _POLARS_FAILURES as exc:
        raise ParseError(str(source.path), f"cannot be parsed ({one_line(exc)})") from exc


def _alone(parse: Callable[[Source, float], Parsed], source: Source, utc_offset_s: float, fmt: str) -> Parsed:
    """One file of a batch that failed, parsed alone; empty, with the reason as its warning, if it fails too."""
    try:
        with _polars_failure_is_parse_error(source):
            return parse(source, utc_offset_s)
    except ParseError as exc:
        schema = FACT_SCHEMA if fmt == TF1_LOG else SAMPLE_SCHEMA
        return Parsed(source.path, fmt, pl.DataFrame(schema=schema), [str(exc)])


def _without_truncated_line(source: Source, fmt: str) -> tuple[pl.LazyFrame, int | None, list[str]]:
    """The lines to parse, the number of a truncated last line of a capture (left out), and the warning."""
    lines = source.lines()
    if fmt not in GPU_FORMATS or source.ends_with_newline:
        return lines, None, []
    last = source.line_count()
    return lines.filter(pl.col("line") < last), last, [f"{source.path}:{last}: truncated last line ignored"]
