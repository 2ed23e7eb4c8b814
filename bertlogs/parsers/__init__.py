"""One module per input format (see `registry`); a file's format is sniffed from its content (never its name),
or forced by the caller, and the file is parsed by its format's entry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from bertlogs.errors import NotDataError, ParseError, one_line
from bertlogs.parsers.registry import READ, REGISTRY, Format, Kind, refusal, sniff, sniff_bytes
from bertlogs.parsers.text import Source
from bertlogs.schema import SAMPLE_SCHEMA

__all__ = [
    "Format",
    "Kind",
    "Parsed",
    "batches",
    "open_file",
    "parse_batch",
    "parse_chunks",
    "parse_file",
    "parse_source",
    "parse_text",
    "sniff",
]


@dataclass
class Parsed:
    """A parsed file: its format, its tidy frame (samples or facts), and what was odd about it."""

    path: Path
    format: Format
    frame: pl.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def kind(self) -> Kind:
        return self.format.kind


def open_file(path: Path, fmt: Format | None = None) -> tuple[Source, Format]:
    """The file, opened, and its format: `fmt` when given, else the one its head shows.

    Raises:
        ParseError: unreadable, binary, or (unless `fmt` is given) not a format bertlogs reads.
    """
    known = _known(fmt, path) if fmt is not None else None
    if known is not None and REGISTRY[known].looks_like_bytes is None:  # a text format: no binary sniffed
        return Source(path), known
    source = Source(path, sniff_binary=lambda first: _binary_format(first, known))
    if source.binary_format is not None:
        return source, _known(source.binary_format, path)
    return source, known if known is not None else _sniffed(source)


def _binary_format(first: bytes, fmt: Format | None) -> Format | None:
    """The binary format a file's first bytes show (an event file), when it is `fmt` or no format is forced."""
    found = sniff_bytes(first)
    return found if found is not None and fmt in (None, found) else None


def parse_file(path: Path, *, fmt: Format | None = None, year: int | None = None, utc_offset_s: float = 0.0) -> Parsed:
    """Read one file (plain or gzip, judged by content) as `fmt`, else as its sniffed format.

    `year` completes stamps that have none (absl's); `utc_offset_s` turns local stamps into unix time.

    Raises:
        ParseError: unreadable, binary, not a format bertlogs reads, or content the parser cannot read.
    """
    source, found = open_file(path, fmt)
    return parse_source(source, found, year=year, utc_offset_s=utc_offset_s)


def parse_text(text: str, *, fmt: Format | None = None, year: int | None = None, utc_offset_s: float = 0.0) -> Parsed:
    """`parse_file` on in-memory text: the same head, sniffing and parser, so the same result.

    Raises:
        ParseError: as `parse_file`.
    """
    source = Source.of_text(text)
    return parse_source(source, fmt if fmt is not None else _sniffed(source), year=year, utc_offset_s=utc_offset_s)


def parse_source(source: Source, fmt: Format, *, year: int | None = None, utc_offset_s: float = 0.0) -> Parsed:
    """An opened file parsed as `fmt`; a GPU capture's truncated last line is left out, with a warning.

    Raises:
        ParseError: content the parser cannot read, or `fmt` is none of the formats bertlogs reads.
    """
    fmt = _known(fmt, source.path)
    entry = REGISTRY[fmt]
    with _polars_failure_is_parse_error(source):
        source, warnings = _complete(source, fmt)
        frame, found = entry.parse(source, utc_offset_s=utc_offset_s, **entry.year_argument(year))
    return Parsed(source.path, fmt, frame, warnings + found)


def parse_chunks(source: Source, fmt: Format, *, utc_offset_s: float = 0.0) -> Iterator[Parsed]:
    """A GPU capture's samples a chunk at a time, each a Parsed of consecutive samples whose warnings are those
    found so far; memory is bounded by a chunk when the format reads in chunks (`Entry.chunks`), else the file
    is one chunk.

    Raises:
        ParseError: content the parser cannot read (maybe after some chunks), or not a format bertlogs reads.
    """
    fmt = _known(fmt, source.path)
    entry = REGISTRY[fmt]
    with _polars_failure_is_parse_error(source):
        source, warnings = _complete(source, fmt)
        if entry.chunks is None:
            frame, found = entry.parse(source, utc_offset_s=utc_offset_s, **entry.year_argument(None))
            yield Parsed(source.path, fmt, frame, warnings + found)
            return
        none = True
        for frame, found in entry.chunks(source, utc_offset_s=utc_offset_s):
            yield Parsed(source.path, fmt, frame, warnings + found)
            warnings, none = [], False
        if none:  # a capture without a row still says what was odd in it
            yield Parsed(source.path, fmt, pl.DataFrame(schema=SAMPLE_SCHEMA), warnings)


def batches(opened: list[tuple[Source, Format]]) -> list[list[int]]:
    """The indices of `opened`, grouped into what `parse_batch` reads in one query each: the files of a format
    that batches, except large ones (a large file's query is streamed alone); every other file alone."""
    groups: dict[Format, list[int]] = {}
    alone: list[list[int]] = []
    for i, (source, fmt) in enumerate(opened):
        if REGISTRY[fmt].parse_many is not None and not source.large:
            groups.setdefault(fmt, []).append(i)
        else:
            alone.append([i])
    return alone + list(groups.values())


def parse_batch(
    sources: list[Source], fmt: Format, *, year: int | None = None, utc_offsets_s: list[float]
) -> list[Parsed | ParseError]:
    """Several files of one format, in one polars query when the format batches (else one by one).

    Never raises on content: a file that cannot be parsed is its ParseError in the list, and the others are
    kept (should polars fail on the batch, each file is parsed alone to find which).

    Raises:
        ParseError: `fmt` is none of the formats bertlogs reads.
    """
    fmt = _known(fmt, sources[0].path if sources else Path())
    entry = REGISTRY[fmt]
    if entry.parse_many is not None and len(sources) > 1:
        try:
            cut = [_complete(s, fmt) for s in sources]
            found = entry.parse_many([s for s, _ in cut], utc_offsets_s=utc_offsets_s, **entry.year_argument(year))
            return [Parsed(s.path, fmt, frame, w + more) for (s, w), (frame, more) in zip(cut, found, strict=True)]
        except (*_POLARS_FAILURES, ParseError):  # find which file: each alone
            pass
    return [_parsed_or_error(s, fmt, year, o) for s, o in zip(sources, utc_offsets_s, strict=True)]


def _known(fmt: Format | str, path: Path) -> Format:
    """The registry's own key for `fmt`; any other name is refused (never handed to another format's parser)."""
    known = next((f for f in REGISTRY if f == fmt), None)
    if known is None:
        raise ParseError(str(path), f"{fmt!r}: not a format bertlogs reads ({READ})")
    return known


def _sniffed(source: Source) -> Format:
    """The format `source`'s head shows.

    Raises:
        NotDataError: an empty file, or none of the formats bertlogs reads (the message names them).
    """
    fmt = sniff(source.head)
    if fmt is None:
        first = next((s for s in source.head.split("\n") if s.strip()), None)
        reason = "empty file" if first is None else refusal(source.head)
        raise NotDataError(str(source.path), reason, 1 if first is not None else None, first)
    return fmt


def _complete(source: Source, fmt: Format) -> tuple[Source, list[str]]:
    """A capture cut mid-write ends in a truncated line: it is left out (a log's last line is whole text).

    Raises:
        ParseError: a binary file (an event file) given to a text format.
    """
    if source.is_binary and REGISTRY[fmt].looks_like_bytes is None:
        raise ParseError(str(source.path), f"a binary file, not {fmt}")
    return source.without_truncated_line() if fmt.kind is Kind.GPU_CAPTURE else (source, [])


def _parsed_or_error(source: Source, fmt: Format, year: int | None, utc_offset_s: float) -> Parsed | ParseError:
    try:
        return parse_source(source, fmt, year=year, utc_offset_s=utc_offset_s)
    except ParseError as exc:
        return exc


# The last line of defence, should polars meet content no fix foresaw: every known cause is fixed where it
# arises (tests/test_fuzz.py, tests/benchmarks/fuzz.py), so this turns only the unforeseen into a ParseError.
_POLARS_FAILURES = (pl.exceptions.PolarsError, pl.exceptions.PanicException)


@contextmanager
def _polars_failure_is_parse_error(source: Source) -> Iterator[None]:
    try:
        yield
    except _POLARS_FAILURES as exc:
        raise ParseError(str(source.path), f"cannot be parsed ({one_line(exc)})") from exc
