"""Opening and sniffing a file cheaply says what the slower ways it replaces said: one open and one read for the
binary sniff and the head, a small file read whole at once, literal-first searches for a CSV's marks."""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertlogs.errors import BertlogsError, NotDataError
from bertlogs.parsers import open_file, smi_csv, text
from bertlogs.parsers.registry import sniff, sniff_bytes
from bertlogs.parsers.text import BINARY_HEAD_BYTES, HEAD_BYTES, Source

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file())


def _reference_format(path: Path) -> str:
    """The format as it was judged: the first bytes read by their own open (inflated when gzip) shown to the
    binary sniffer, else the text head sniffed; or what was wrong."""
    with path.open("rb") as f:
        first: bytes | None = f.read(BINARY_HEAD_BYTES)
    try:
        if first is not None and first.startswith(b"\x1f\x8b"):
            first = zlib.decompressobj(wbits=31).decompress(first, BINARY_HEAD_BYTES)
    except zlib.error:
        first = None
    binary = sniff_bytes(first) if first is not None else None
    if binary is not None:
        return str(binary)
    try:
        return str(sniff(Source(path).head))
    except BertlogsError as exc:
        return f"{type(exc).__name__}: {exc}"


def _format(path: Path) -> str:
    try:
        return str(open_file(path)[1])
    except BertlogsError as exc:
        try:
            Source(path)
        except BertlogsError:
            return f"{type(exc).__name__}: {exc}"
        return "None"  # opened as text, and no format claims its head


def test_fixture_verdicts_are_as_judged_before() -> None:
    assert len(FILES) > 300
    assert [(p, _format(p)) for p in FILES] == [(p, _reference_format(p)) for p in FILES]


@pytest.mark.parametrize("name", ["events.out.tfevents.1574690400.bert-host", "run_classifier.log"])
def test_gzipped_files_are_judged_as_before(tmp_path: Path, name: str) -> None:
    plain = next(p for p in FILES if p.name == name)
    packed = tmp_path / f"{name}.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert _format(packed) == _reference_format(packed) == _format(plain) != "None"


@pytest.mark.parametrize("size", [0, 1, HEAD_BYTES - 1, HEAD_BYTES, HEAD_BYTES + 1, 3 * HEAD_BYTES])
def test_a_head_is_the_files_first_bytes_whatever_its_size(tmp_path: Path, size: int) -> None:
    line = b"| 40%   70C    P2  200W / 250W |  10400MiB / 11019MiB |     85%      Default |\n"
    data = (line * (size // len(line) + 1))[:size]
    path = tmp_path / "capture.log"
    path.write_bytes(data)
    source = Source(path)
    assert (source.size_bytes, source.ends_with_newline) == (size, data.endswith(b"\n") or size == 0)
    kept = data[:HEAD_BYTES]
    assert source.head == (kept[: kept.rfind(b"\n") + 1] if size > HEAD_BYTES else kept).decode()


def test_a_nul_just_past_the_head_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "turns-binary.log"
    path.write_bytes(b"x" * (HEAD_BYTES - 1) + b"\n" + b"\x00")
    with pytest.raises(NotDataError, match=f"from byte {HEAD_BYTES}"):
        Source(path)


def test_a_file_that_grew_since_its_size_was_looked_at_gives_a_whole_head(tmp_path: Path) -> None:
    path = tmp_path / "growing.log"
    path.write_bytes(b"0123456789\n" * (HEAD_BYTES // 5))
    with path.open("rb") as f:
        assert text._read_head(f, 11) == path.read_bytes()[:HEAD_BYTES]


# a CSV's marks (the start of a header, a number with its unit), cut and whole, at a line's start and not
_CSV_FRAGMENTS = ["timestamp", ", ", ",", "power.draw [W]", " [", "]", "5 W", " %", "3 MiB", " ", "\t", "\r", "\n"]
_CSV_FRAGMENTS += ["INFO:tensorflow:loss = 0.5", "Mi", "B", "x", "0", "_a"]


def _reference_maybe_csv(head: str) -> bool:
    return any(
        re.search(pattern, head, re.MULTILINE) is not None
        for pattern in (smi_csv.HEADER_START, r"[0-9] (?:%|W|MiB)[ \t]*(?:,|\r?$)")
    )


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(_CSV_FRAGMENTS), max_size=12))
def test_csv_marks_are_found_as_by_multiline_searches(fragments: list[str]) -> None:
    head = "".join(fragments)
    assert smi_csv._maybe_csv(head) == _reference_maybe_csv(head)


def test_csv_marks_in_fixture_heads_are_found_as_by_multiline_searches() -> None:
    heads = []
    for path in FILES:
        try:
            heads.append(Source(path).head)
        except BertlogsError:
            continue
    assert sum(map(_reference_maybe_csv, heads)) > 10
    assert [smi_csv._maybe_csv(h) for h in heads] == [_reference_maybe_csv(h) for h in heads]


# line prefixes (a logger's stamp and level, a counter, a bracket, a service label, a quote), cut and whole
_PREFIX_FRAGMENTS = ["2024-05-01 10:00:00,123 - INFO - ", "[12] ", "0: ", "web_1  | ", "> ", "<br>", " ", "\t"]
_PREFIX_FRAGMENTS += ["INFO:tensorflow:loss = 0.5", "[x", "]", "\n", "\r\n", "x", "2024-05-01", " INFO ", "a_b, "]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(_PREFIX_FRAGMENTS), max_size=14))
def test_lines_at_line_starts_are_found_and_counted_as_by_multiline_searches(fragments: list[str]) -> None:
    head = "".join(fragments)
    for found in (text._PREFIXED_LINE, text._FILLED_LINE, smi_csv._HEADER_LINE):
        multiline = re.compile(f"^{found.at_start.pattern}", re.MULTILINE)
        assert found.search(head) == (multiline.search(head) is not None)
        assert found.count(head) == len(multiline.findall(head))
