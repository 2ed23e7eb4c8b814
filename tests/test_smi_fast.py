"""The smi-table fast path (`smi_table.chunks`: numpy over raw bytes in pieces) gives the reference's frames
(`smi_table._parse_polars`, one polars query) on every capture that sniffs as smi-table and on fuzzed ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from bertlogs.errors import ParseError
from bertlogs.parsers import parse_batch, smi_fast, smi_table
from bertlogs.parsers.registry import Format, sniff
from bertlogs.parsers.text import Source

SHARED = Path("/work/shared/real-logs")


def _captures() -> list[Path]:
    """Every file under fixtures/ (and shared/real-logs, where present) that sniffs as smi-table."""
    found = []
    for root in (FIXTURES, SHARED):
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            try:
                if path.is_file() and sniff(Source(path).head) == "smi-table":
                    found.append(path)
            except ParseError:  # binary files, not captures
                continue
    return found


CAPTURES = _captures()


def same_as_reference(source: Source, piece_bytes: int, utc_offset_s: float = 0.0) -> pl.DataFrame:
    source, _ = source.without_truncated_line()
    expected = smi_table._parse_polars(source, utc_offset_s=utc_offset_s)[0]
    frames = list(smi_table.chunks(source, utc_offset_s=utc_offset_s, piece_bytes=piece_bytes))
    assert_frame_equal(pl.concat([smi_table._EMPTY, *frames]), expected, check_exact=True)
    return expected


def test_the_captures_are_found() -> None:
    assert len(CAPTURES) >= 30  # the cola sweep's captures and the real tables at least
    assert any("real" in p.parts for p in CAPTURES)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("piece_bytes", [2048, 4 * 2**20])
def test_fast_path_matches_reference_on_fixtures(path: Path, piece_bytes: int) -> None:
    expected = same_as_reference(Source(path), piece_bytes, utc_offset_s=3600.0)
    assert expected.height > 0


def test_parse_is_the_fast_path() -> None:
    """`parse` reads numbers fast: a template row and stamps, no odd line on a plain `grep %` capture."""
    text = (FIXTURES / "cola-sweep" / "base-bs2" / "nvidia-smi.log").read_text()
    source = Source.of_text(text)
    ls = smi_fast.lines(text.encode())
    template = smi_fast.template(source.head)
    assert template is not None
    rows, _ = smi_fast.rows(ls, template)
    stamps, _ = smi_fast.stamps(ls)
    assert len(rows) + len(stamps) == len(ls.start)
    assert_frame_equal(
        smi_table.parse(source, utc_offset_s=0.0)[0],
        smi_table._parse_polars(source, utc_offset_s=0.0)[0],
        check_exact=True,
    )


def test_chunks_stream_with_sample_numbers_going_on(tmp_path: Path) -> None:
    row = "|  40%   70C    P2   {:>3}W / 250W |  10400MiB / 11019MiB |     {:>2}%      Default |\n"
    text = "".join(f"{1574690400 + i * 0.31:.9f}\n" + row.format(100 + i % 50, i % 90) * 2 for i in range(20_000))
    path = tmp_path / "nvidia-smi.log"
    path.write_text(text)
    frames = list(smi_table.chunks(Source(path), utc_offset_s=0.0, piece_bytes=2**16))
    assert len(frames) >= len(text) // 2**16  # a frame per piece: nothing waits for the file's end
    assert max(f.height for f in frames) < 2 * 2**16 // 80  # each holds about a piece's rows
    samples = pl.concat(frames)["sample"]
    assert samples.n_unique() == 20_000 and samples.diff().drop_nulls().is_in([0, 1]).all()


# fuzzed captures: `grep %` rows and tables, stamps before or after, with the glitches real captures show
ROW = "| {fan:>4}   {temp}    P{perf}   {power:>4} / {limit:>4} |  {used:>8} / {total:>8} |  {util:>6}      Default |"
HEADER = [
    "+-----------------------------------------------------------------------------+",
    "| NVIDIA-SMI 440.33.01    Driver Version: 440.33.01    CUDA Version: 10.2     |",
    "|-------------------------------+----------------------+----------------------+",
]
GLITCH = [
    "",
    "   ",
    "stray text",
    "1574690412.250000000",
    "1574690400.12345678x",
    "157469040x",
    "ERR!",
    "|",
    "| N/A  N/A  N/A |",
    "1574690400.",
    "+-----1574690412.5",
    "-1574690400",
]
DATES = [
    "Tue Nov 26 14:08:41 2019",
    "Mon Nov 25 16:32:50 UTC 2019",
    "Wed Feb 30 10:00:00 2020",
    "Thu Jan  2 01:02:03 2020",
]


def numbers(unit: str, top: int) -> st.SearchStrategy[str]:
    odd = st.sampled_from(["N/A", "[Not Supported]", "ERR!", "1055" + unit, "07" + unit, "12.5" + unit])
    return st.one_of(st.integers(0, top).map(lambda n: f"{n}{unit}"), odd)


@st.composite
def rows(draw: st.DrawFn) -> str:
    fan = draw(st.sampled_from(["40%", "100%", "N/A", "ERR!", "7"]))
    cells = {
        "temp": draw(st.sampled_from(["70C", "5C", "N/A", "nanC"])),
        "perf": draw(st.integers(0, 12)),
        "power": draw(numbers("W", 999)),
        "limit": draw(numbers("W", 999)),
        "used": draw(numbers("MiB", 99999)),
        "total": draw(numbers("MiB", 99999)),
        "util": draw(numbers("%", 100)),
    }
    return ROW.format(fan=fan, **cells)


@st.composite
def stamps(draw: st.DrawFn) -> str:
    t = draw(st.floats(1.5e9, 1.7e9))
    return draw(st.sampled_from([f"{t:.9f}", f"{int(t)}", f"{t:.3f}", DATES[int(t) % len(DATES)]]))


@st.composite
def captures(draw: st.DrawFn) -> str:
    tables, after = draw(st.booleans()), draw(st.booleans())
    gpus = draw(st.integers(1, 3))
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        stamp = [draw(stamps())] * draw(st.integers(0, 2))  # none, one, or duplicated
        body = []
        for gpu in range(gpus):
            if tables and draw(st.booleans()):
                body.append(f"|   {gpu}  Tesla V100-SXM2...  On   | 00000000:00:1E.0 Off |                    0 |")
            body.append(draw(rows()))
        body = (HEADER if tables else []) + body
        glitch = draw(st.lists(st.sampled_from(GLITCH), max_size=2))
        lines += glitch + (body + stamp if after else stamp + body)
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()) and len(text) > 1:
        text = text[: draw(st.integers(1, len(text) - 1))]  # cut mid-write
    return text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=captures(), piece_bytes=st.sampled_from([64, 200, 4096]), offset=st.sampled_from([0.0, -18000.0]))
def test_fast_path_matches_reference_on_fuzzed_captures(text: str, piece_bytes: int, offset: float) -> None:
    source = Source.of_text(text)
    if sniff(source.head) == "smi-table":
        same_as_reference(source, piece_bytes, utc_offset_s=offset)


# periodic captures (`smi_fast.periodic`): rows of one width and stamps in one pattern, as a `watch` loop writes
# them, with a byte or a line here and there that breaks the pattern
FIXED_ROW = "|  40%   70C    P2   {:>3}W / 250W |  {:>5}MiB / 11019MiB |     {:>2}%      Default |"
BREAKS = ["|  40%   70C    P2  1055W / 250W |  10400MiB / 11019MiB |     35%      Default |", "ERR!", "", "x"]


@st.composite
def periodic_captures(draw: st.DrawFn) -> str:
    gpus, after = draw(st.integers(1, 3)), draw(st.booleans())
    stamp_form = draw(st.sampled_from(["{:.9f}", "{:.0f}", "{:.3f}", "{:.0f}000000000"]))  # the last: `date +%s%N`
    lines: list[str] = []
    for i in range(draw(st.integers(3, 150))):  # past a pattern's 4 KB at times: it is seen in them
        stamp = stamp_form.format(1574690400 + i * 0.31)
        body = [FIXED_ROW.format(100 + (i * 7 + g) % 900, 10000 + i, (i + g) % 100) for g in range(gpus)]
        lines += [*body, stamp] if after else [stamp, *body]
    for _ in range(draw(st.integers(0, 2))):  # a line that breaks the pattern
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(BREAKS)))
    text = "\n".join(lines) + "\n"
    for _ in range(draw(st.integers(0, 2))):  # a byte that breaks a row or a stamp, or joins two lines
        at = draw(st.integers(0, len(text) - 1))
        at = text.find("\n", at) if draw(st.booleans()) and text.find("\n", at) < len(text) - 1 else at
        text = text[:at] + draw(st.sampled_from(["x", " ", "|", "\r", "\n", "7"])) + text[at + 1 :]
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=periodic_captures(), piece_bytes=st.sampled_from([1024, 8192, 2**20]))
def test_periodic_pieces_match_reference(text: str, piece_bytes: int) -> None:
    source = Source.of_text(text)
    if sniff(source.head) == "smi-table":
        same_as_reference(source, piece_bytes)


@pytest.mark.parametrize("after", [False, True])
def test_two_lines_joined_past_the_pattern_are_read_as_one(after: bool) -> None:
    """A newline lost past the first 4 KB (where the pattern is seen): the row and the stamp it joins are one
    line, as the reference reads them, not a row and a stamp in their usual places."""
    lines = []
    for i in range(80):
        pair = [f"{1574690400 + i * 0.31:.9f}", FIXED_ROW.format(100 + i, 10000 + i, i % 100)]
        lines += pair[::-1] if after else pair
    text = "\n".join(lines) + "\n"
    at = text.find("\n", 6000)
    same_as_reference(Source.of_text(text[:at] + "x" + text[at + 1 :]), 2**20)


def test_a_periodic_piece_is_read_as_periods() -> None:
    """The demo's capture (rows and stamps one after the other, each of one width) is read period by period,
    and as the line by line reading reads it."""
    text = (FIXTURES / "cola-sweep" / "base-bs2" / "nvidia-smi.log").read_bytes()
    template = smi_fast.template(Source.of_text(text.decode()).head)
    found = smi_fast.periodic(text, template)
    assert found is not None
    kept, length = found
    assert len(text) - length < 200 and kept.row.sum() == kept.line.size // 2  # (the pattern: a row, a stamp)
    reading = smi_fast.Reading(template, smi_table._classifier(False, False, 0.0))
    expected = reading._kept(text[:length], False)[1]
    for name in smi_fast._KEPT:
        assert np.array_equal(getattr(kept, name), getattr(expected, name), equal_nan=True), name


@pytest.mark.parametrize("stamp", ["1574690400.313455820", "1574690400.999999999", "1099511627.776000000"])
def test_stamps_are_correctly_rounded(stamp: str) -> None:
    ls = smi_fast.lines(f"{stamp}\n".encode())
    at, values = smi_fast.stamps(ls)
    assert at.tolist() == [0] and values[0] == float(stamp)


@given(st.lists(st.tuples(st.integers(10**9, 10**10 - 1), st.integers(0, 10**9 - 1)), min_size=1, max_size=50))
def test_stamps_are_correctly_rounded_whatever_their_digits(stamps: list[tuple[int, int]]) -> None:
    """Whole seconds plus the fraction rounded once more is the correctly rounded value (`smi_fast.stamps`)."""
    texts = [f"{whole}.{nanos:09d}" for whole, nanos in stamps]
    at, values = smi_fast.stamps(smi_fast.lines("".join(f"{t}\n" for t in texts).encode()))
    assert at.tolist() == list(range(len(texts))) and values.tolist() == [float(t) for t in texts]


def test_numbers_too_wide_for_the_fast_path_are_left_to_polars() -> None:
    row = "|  40%   70C    P2   113W / 250W | 12345678901MiB / 99999999999MiB |     35%      Default |"
    expected = same_as_reference(Source.of_text(f"{row}\n1574690400.5\n" * 3), 4096)
    assert expected["memory_used_mib"].to_list() == [float(np.float32(12345678901))] * 3


def same_as_reference_many(sources: list[Source], offsets: list[float]) -> None:
    """`parse_many` (small captures joined a piece at a time, read by numpy) gives each file's reference frame."""
    cut = [s.without_truncated_line()[0] for s in sources]
    found = smi_table.parse_many(cut, utc_offsets_s=offsets)
    for source, offset, (frame, _) in zip(cut, offsets, found, strict=True):
        assert_frame_equal(frame, smi_table._parse_polars(source, utc_offset_s=offset)[0], check_exact=True)


def test_batched_captures_match_reference_on_fixtures() -> None:
    """All the fixtures' captures in one batch: those of one layout and kind are joined, tables with plain rows."""
    sources = [Source(p) for p in CAPTURES]
    same_as_reference_many(sources, [3600.0 * (i % 2) for i in range(len(sources))])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(texts=st.lists(captures(), min_size=1, max_size=4), offset=st.sampled_from([0.0, -18000.0]))
def test_batched_captures_match_reference_on_fuzzed_captures(texts: list[str], offset: float) -> None:
    sources = [Source.of_text(t, Path(f"<capture {i}>")) for i, t in enumerate(texts)]
    captures_ = [s for s in sources if sniff(s.head) == "smi-table"]
    same_as_reference_many(captures_, [offset] * len(captures_))


def test_a_capture_growing_while_its_batch_is_read_leaves_the_next_file_alone(tmp_path: Path) -> None:
    """A poller adds to a capture after it was opened, its last line not ended yet: that line is left out, not
    run on into the next file of the batch."""
    row = "|  40%   70C    P2   113W / 250W |  11636MiB / 12189MiB |     35%      Default |\n"
    paths = [tmp_path / "a.log", tmp_path / "b.log"]
    for i, path in enumerate(paths):
        path.write_text(f"{1574690400 + 100 * i}.5\n{row}{1574690401 + 100 * i}.5\n{row}")
    sources = [Source(p) for p in paths]
    with paths[0].open("a") as f:
        f.write("1574690402.5\n" + row[:30])  # the poller mid-line
    found = smi_table.parse_many(sources, utc_offsets_s=[0.0, 0.0])
    assert_frame_equal(found[1][0], smi_table._parse_polars(Source(paths[1]), utc_offset_s=0.0)[0], check_exact=True)
    assert found[0][0]["time"].to_list() == [1574690400.5, 1574690401.5]  # (its new stamp has no row yet)


def test_a_capture_removed_after_it_was_opened_is_its_own_error(tmp_path: Path) -> None:
    row = "|  40%   70C    P2   113W / 250W |  11636MiB / 12189MiB |     35%      Default |\n"
    paths = [tmp_path / "a.log", tmp_path / "b.log"]
    for path in paths:
        path.write_text(f"1574690400.5\n{row}")
    sources = [Source(p) for p in paths]
    paths[0].unlink()
    found = parse_batch(sources, Format.SMI_TABLE, utc_offsets_s=[0.0, 0.0])
    assert isinstance(found[0], ParseError) and "cannot read" in str(found[0])
    assert not isinstance(found[1], ParseError) and found[1].frame.height == 1
