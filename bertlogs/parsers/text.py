"""Reading capture files into a frame of cleaned lines. Pure apart from reading the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

from bertlogs.errors import ParseError

_GZIP_MAGIC = b"\x1f\x8b"
_ANSI = r"\x1b\[[0-9;?]*[A-Za-z]"


def read_text(path: Path) -> str:
    """The file's text, gunzipped when it is gzip (by content, not by name).

    Raises:
        ParseError: unreadable, not gzip despite the magic, or binary content.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    if raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ParseError(str(path), f"damaged gzip file: {exc}") from exc
    return decode(str(path), raw)


def decode(path: str, raw: bytes) -> str:
    """UTF-8 text of `raw`; binary content (NUL bytes, many invalid bytes) is refused."""
    head = raw[:65536]
    if b"\x00" in head:
        raise ParseError(path, "binary file (NUL bytes), not a text log or capture")
    text = raw.decode("utf-8", errors="replace")
    bad = text[:65536].count("\ufffd")
    if bad > 16 and bad > len(head) // 50:
        raise ParseError(path, "binary file (mostly invalid UTF-8), not a text log or capture")
    return text


def lines_frame(text: str) -> pl.DataFrame:
    """One row per line: `line` (1-based) and `text` with CR, ANSI colours and `\\r` redraws removed.

    A truncated last line (no final newline) is kept; callers decide whether it is whole.
    """
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    return (
        pl.DataFrame({"text": raw})
        .with_row_index("line", offset=1)
        .select(
            pl.col("line").cast(pl.Int64),
            pl.col("text")
            .str.strip_chars_end("\r")
            .str.replace_all(_ANSI, "")
            # a progress bar redrawn with \r: what is on screen is the text after the last \r
            .str.replace(r"^.*\r", ""),
        )
    )


def ends_with_newline(text: str) -> bool:
    return text.endswith("\n") or text == ""
