"""smi-csv read in chunks (`smi_csv.chunks`) gives, concatenated, the frame of one query over the whole file
(`smi_csv.parse`), on every fixture that sniffs as smi-csv and on generated captures, with memory bounded by
a piece of the file rather than the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from conftest import FIXTURES, python_calls
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from bertlogs.parsers import registry, smi_csv, smi_csv_fast
from bertlogs.parsers.text import Source, read_head
from bertlogs.schema import SAMPLE_SCHEMA

SHARED = Path("/work/shared/real-logs")


def smi_csv_files() -> list[Path]:
    """Every file under fixtures/ (and the shared real logs, where present) that sniffs as smi-csv."""
    roots = [FIXTURES] + ([SHARED] if SHARED.is_dir() else [])
    found = []
    for path in sorted(p for root in roots for p in root.rglob("*") if p.is_file()):
        try:
            fmt = registry.sniff(read_head(path))
        except (OSError, ValueError):
            continue
        if fmt is registry.Format.SMI_CSV:
            found.append(path)
    return found


def assert_chunks_are_reference(source: Source, utc_offset_s: float, piece_bytes: int) -> None:
    reference, _ = smi_csv.parse(source, utc_offset_s=utc_offset_s)
    frames = list(smi_csv.chunks(source, utc_offset_s=utc_offset_s, piece_bytes=piece_bytes))
    assert all(frame.schema == SAMPLE_SCHEMA and frame.height for frame in frames)
    assert_frame_equal(pl.concat([reference.clear(), *frames]), reference, check_exact=True)


FILES = smi_csv_files()


def test_the_fixtures_hold_smi_csv_captures() -> None:
    assert len(FILES) >= 20 and any("real" in p.parts for p in FILES) and any(p.name == "gpu.csv" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_chunks_are_the_reference_on_every_fixture(path: Path) -> None:
    source, _ = Source(path).without_truncated_line()
    for utc_offset_s, pieces in ((0.0, 7), (-7 * 3600.0, 25)):  # cut anywhere: mid-sample, before a header
        assert_chunks_are_reference(source, utc_offset_s, path.stat().st_size // pieces + 1)


BLANK = ["N/A", "[N/A]", "[Not Supported]", "[Unknown Error]", "ERR!", ""]
# cells the fast path must leave to the reference's own reading (or read as exactly): not numbers of its forms,
# more digits than a double holds, an index past 2^31, blanks and a CR inside, a byte that is no UTF-8
ODD_CELLS = [
    *BLANK, "1e5", "-3", "+4", "nan", "inf", "1.", ".5", "007", "0x10", "12345678901234567", "9007199254740993",
    "9999999999999999", "2147483648", "2147483647", "\t7\t", "5\r6", "55.00 W W", "3 %%", "ü", "\x7f1",
]  # fmt: skip
# nvidia-smi names, units, and how a reading of each is written
SMI_COLUMNS = {
    "index": ("", lambda i, g: f"{g}"),
    "power.draw": (" W", lambda i, g: f"{50 + (i * 37 + g) % 250}.{i % 100:02d}"),
    "memory.used": (" MiB", lambda i, g: f"{(i * 977 + g) % 40000}"),
    "memory.total": (" MiB", lambda i, g: "40960"),
    "memory.free": (" MiB", lambda i, g: f"{40960 - (i * 977 + g) % 40000}"),  # the total is used + free
    "utilization.gpu": (" %", lambda i, g: f"{(i * 7 + g) % 101}"),
    "temperature.gpu": ("", lambda i, g: f"{30 + i % 60}"),
    "clocks.sm": (" MHz", lambda i, g: f"{(i * 131) % 2100}"),
    # read by no one: identity and state, with blanks inside
    "name": ("", lambda i, g: "NVIDIA GeForce RTX 4090"),
    "pstate": ("", lambda i, g: f"P{(i // 3) % 3 * 2}"),
}
# the clock's forms (nvidia-smi writes milliseconds), and dates and times that are none
FRACTIONS = [
    lambda i: f".{i % 1000:03d}",
    lambda i: ".5",
    lambda i: f".{i % 100:02d}",
    lambda i: "",
    lambda i: ".1234567",
]
BAD_STAMPS = [
    "2019/13/01 00:00:00.000", "2019/02/29 10:00:00.000", "2000/02/29 10:00:00.000", "1900/02/29 10:00:00.000",
    "2019/04/31 10:00:00", "0000/01/01 00:00:00.000", "2019/01/01 24:00:00.000", "2019/01/01 23:60:00.000",
    "2016/12/31 23:59:60.500", "2019/01/01 23:59:61.000", "2019/00/10 10:00:00.000", "2019/1/10 10:00:00.000",
]  # fmt: skip
ODD_LINES = ["", "\r", " ", "header", "nvidia-smi restarted", "a,b", ",,,,,,,,,,,,,,"]


@st.composite
def captures(draw: st.DrawFn) -> str:
    """A `--query-gpu` capture as nvidia-smi writes one (or collect's gpu.csv), with what real ones hold: units
    or none, several GPUs, N/A cells, columns no one reads, odd cells, lines and stamps, CR line ends, blank
    lines, a restarted poller's header, a truncated last line."""
    collect = draw(st.booleans()) and draw(st.booleans())
    names = draw(st.lists(st.sampled_from(list(SMI_COLUMNS)), min_size=2, max_size=7, unique=True))
    units = draw(st.booleans())
    header = ", ".join(["timestamp"] + [n + (f" [{SMI_COLUMNS[n][0].strip()}]" if units else "") for n in names])
    if collect:
        header = "sample,time_unix_s,mono_ns,gpu,power_w,energy_mj,memory_used_mib,util_pct"
    gpus, samples = draw(st.integers(1, 3)), draw(st.integers(1, 12))
    start_s = draw(st.integers(0, 2_000_000_000))
    fraction = draw(st.sampled_from(FRACTIONS))
    odd_rate = draw(st.sampled_from([0, 10, 40]))  # one cell in this many is odd (0: none)
    lines = [header] if draw(st.booleans()) or not units or collect else []
    for i in range(samples):
        at = start_s + i * draw(st.sampled_from([0, 1, 7, 86_399]))
        stamp = pl.from_epoch(pl.Series([at]), "s").dt.strftime("%Y/%m/%d %H:%M:%S").item() + fraction(i)
        if odd_rate and draw(st.integers(0, odd_rate)) == 0:
            stamp = draw(st.sampled_from(BAD_STAMPS))
        for gpu in range(gpus):
            if collect:
                time_s = repr(at + draw(st.sampled_from([0.0, 0.5, 0.217995, 0.25058, 0.1])))
                power = draw(st.sampled_from(["21", "21.088", "100.5", "3.25"]))
                cells = [
                    f"{i}",
                    time_s,
                    f"{at * 10**9}",
                    f"{gpu}",
                    power,
                    f"{48891404921 + i}",
                    f"{i * 3}",
                    f"{i % 100}",
                ]
            else:
                cells = [stamp] + [_reading(draw, n, i, gpu, units) for n in names]
            if odd_rate and draw(st.integers(0, odd_rate)) == 0:
                cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(ODD_CELLS))
            if odd_rate and draw(st.integers(0, 4 * odd_rate)) == 0:  # a field more, or one fewer
                cells = [*cells, "1"] if draw(st.booleans()) else cells[:-1]
            lines.append(", ".join(cells) if not collect else ",".join(cells))
        odd = draw(st.sampled_from(["", "", "", "", *ODD_LINES]))
        if odd and lines:
            lines.append(lines[0] if odd == "header" else odd)
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(lines) + end
    if draw(st.booleans()):  # cut mid-write
        text = text[: len(text) - draw(st.integers(1, 12))]
    return text


def _reading(draw: st.DrawFn, name: str, i: int, gpu: int, units: bool) -> str:
    """A cell of column `name`, sample `i`, GPU `gpu`: its number, with its unit (maybe missing where the
    others have one)."""
    unit, value = SMI_COLUMNS[name]
    with_unit = units and draw(st.integers(0, 30)) != 0
    return value(i, gpu) + (unit if with_unit else "")


@settings(max_examples=300, deadline=None)
@given(
    text=captures(),
    utc_offset_s=st.sampled_from([0.0, 3600.0, -19800.0, 0.1]),
    piece_bytes=st.one_of(st.integers(16, 300), st.integers(300, 5000)),
)
def test_chunks_are_the_reference_on_generated_captures(text: str, utc_offset_s: float, piece_bytes: int) -> None:
    if not smi_csv.looks_like(Source.of_text(text).head):
        return  # too little of a capture left (a cut header, no units): not ours to read
    source, _ = Source.of_text(text).without_truncated_line()
    assert_chunks_are_reference(source, utc_offset_s, piece_bytes)


def test_sample_numbers_continue_across_chunks() -> None:
    rows = "".join(f"2024/05/01 10:00:{s:02d}.000, {g}, {100 + s} W\n" for s in range(40) for g in range(4))
    source = Source.of_text("timestamp, index, power.draw [W]\n" + rows)
    frames = list(smi_csv.chunks(source, utc_offset_s=0.0, piece_bytes=100))
    assert len(frames) > 10
    samples = pl.concat(frames)["sample"]
    assert samples.to_list() == [s for s in range(40) for _ in range(4)]


def test_a_chunk_may_start_with_a_blank_line() -> None:
    """polars takes the number of fields from the first line it reads (one query over the whole file fails when
    the line after the header is blank)."""
    text = "timestamp, power.draw [W], utilization.gpu [%]\n\n2024/05/01 10:00:00.000, 100.00 W, 5 %\n"
    frames = smi_csv.chunks(Source.of_text(text), utc_offset_s=0.0)
    assert pl.concat(frames)["power_w"].to_list() == [100.0]


CHILD = """
import json, resource, sys
from pathlib import Path
from bertlogs.parsers import smi_csv
from bertlogs.parsers.text import Source
source = Source(Path(sys.argv[1]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows = sum(frame.height for frame in smi_csv.chunks(source, utc_offset_s=0.0, piece_bytes=1 << 20))
print(json.dumps({"rows": rows, "grown_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """Chunks dropped as they are read: peak memory grows by some pieces, not by the 64 MB file (one query over
    it grows by about 3x the file)."""
    path = tmp_path / "gpu.csv"
    row = "2024/05/01 10:00:{:02d}.{:03d}, 0, 250.00 W, 17304 MiB, 34 %\n"
    rows = "".join(row.format(s % 60, s % 1000) for s in range(10_000))
    with path.open("w") as f:
        f.write("timestamp, index, power.draw [W], memory.used [MiB], utilization.gpu [%]\n")
        for _ in range(64 * 2**20 // len(rows)):
            f.write(rows)
    found = json.loads(subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True).stdout)
    assert found["rows"] == 10_000 * (64 * 2**20 // len(rows))
    assert found["grown_mb"] < 32, f"peak RSS grew by {found['grown_mb']:.0f} MB reading a 64 MB capture"


def test_a_time_does_not_depend_on_how_many_rows_share_its_chunk() -> None:
    """polars divides a column of one row exactly, a longer one by multiplying: 128027 / 1000 != 128027 * 0.001."""
    rows = "".join(f"1970/01/01 00:02:08.027, {gpu}, 50.00 W\n" for gpu in range(2))
    source = Source.of_text("timestamp, index, power.draw [W]\n" + rows)
    times = [frame["time"].item() for frame in smi_csv.chunks(source, utc_offset_s=0.0, piece_bytes=16)]
    assert times == smi_csv.parse(source, utc_offset_s=0.0)[0]["time"].to_list()


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pieces read by numpy (`smi_csv_fast.read`) and pieces left to the polars reading, counted: [fast, polars]."""
    counts = [0, 0]
    read = smi_csv_fast.read

    def counted(*args: Any, **kwargs: Any) -> smi_csv_fast.Piece | None:
        found = read(*args, **kwargs)
        counts[found is None] += 1
        return found

    monkeypatch.setattr(smi_csv_fast, "read", counted)
    return counts


COMMON = [p for p in sorted(FIXTURES.glob("real/nvidia-smi-csv/*.csv")) if not p.name.endswith(".expected.csv")]
COMMON += sorted(FIXTURES.glob("cola-sweep-hf/*/gpu.csv"))


@pytest.mark.parametrize("path", COMMON, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_the_fast_path_reads_real_captures_and_collects_gpu_csv(path: Path, fallbacks: list[int]) -> None:
    """The identity tests above hold for the fast path only if it reads: every piece of these captures is read
    by numpy (nvidia-smi's layout with N/A-free rows, a name column, no units; collect's Python floats)."""
    source, _ = Source(path).without_truncated_line()
    assert_chunks_are_reference(source, -7 * 3600.0, path.stat().st_size // 5 + 1)
    assert fallbacks[0] >= 1 and fallbacks[1] == 0


def benchmark_rows(count: int) -> str:
    """Rows as the benchmark's capture holds them (idle and busy, two lengths of line), with 4 GPUs."""
    row = "2019/11/25 {}:{:02d}:{:02d}.{}00, {}, {}.{:02d} W, 10400 MiB, 11019 MiB, {} %, 30 %, 70\n"
    return "".join(
        row.format(10 + i // 36000, i // 600 % 60, i // 10 % 60, i % 10, i % 4, 55 + i % 200, i % 100, i % 3 * 50)
        for i in range(count)
    )


BENCHMARK_HEADER = (
    "timestamp, index, power.draw [W], memory.used [MiB], memory.total [MiB], utilization.gpu [%], "
    "utilization.memory [%], temperature.gpu\n"
)


def test_python_calls_do_not_grow_with_lines(fallbacks: list[int]) -> None:
    """The fast path loops over pieces, columns and templates, never over lines (see test_vectorised.py)."""
    small, large = (Source.of_text(BENCHMARK_HEADER + benchmark_rows(n)) for n in (1_000, 10_000))

    def read(source: Source) -> int:
        return sum(f.height for f in smi_csv.chunks(source, utc_offset_s=0.0, piece_bytes=1 << 20))

    read(small)
    few, many = python_calls(lambda: read(small)), python_calls(lambda: read(large))
    assert read(large) == 10_000 and fallbacks[1] == 0
    assert many <= few + 50, f"{few} Python calls for 1,000 lines but {many} for 10,000: a per-line loop?"


def test_stamps_that_are_no_date_or_clock_are_read_as_the_reference(fallbacks: list[int]) -> None:
    """Feb 29 of a year that is no leap year, month 13, 24:00, minute 60 (null times), a leap second, year 0."""
    rows = "".join(
        f"{stamp}, {i % 2}, {100 + i}.00 W\n" for i, stamp in enumerate(BAD_STAMPS * 3 + ["2024/02/29 10:00:00"])
    )
    source = Source.of_text("timestamp, index, power.draw [W]\n" + rows)
    assert_chunks_are_reference(source, 3600.0, 1 << 20)
    assert fallbacks == [1, 0]
    assert smi_csv.parse(source, utc_offset_s=3600.0)[0]["time"].null_count() == 9 * 3


def test_numbers_are_read_exactly(fallbacks: list[int]) -> None:
    """Decimals of up to 16 digits read as polars reads them (correctly rounded), in collect's gpu.csv (written as
    `collect.sampler` writes them: 6 decimals, 3 without trailing zeros)."""
    values = np.random.default_rng(1).uniform(1e9, 2e9, 3000)
    power_w = [f"{v % 300:.3f}".rstrip("0").rstrip(".") for v in values]
    rows = "".join(
        f"{i},{v:.6f},0,{p},{int(v)},{v % 1:.15f}\n" for i, (v, p) in enumerate(zip(values, power_w, strict=True))
    )
    source = Source.of_text("sample,time_unix_s,gpu,power_w,energy_mj,util_pct\n" + rows)
    assert_chunks_are_reference(source, 0.0, 1 << 20)
    assert fallbacks == [1, 0]


def test_a_time_column_wins_over_a_prefix_stamp() -> None:
    """`[N/A]` first in most rows reads as a line prefix: the capture's own clock still times its rows."""
    text = "sample,time_unix_s,gpu,power_w\n[N/A],10.5,0,100.5\n[N/A],10.6,1,100.5\n"
    frame, _ = smi_csv.parse(Source.of_text(text), utc_offset_s=0.0)
    assert frame["time"].to_list() == [10.5, 10.6]


@pytest.mark.parametrize("first", ["", "2024/05/01 10:00:00.000, 0, 50.00 W"])
def test_parse_reads_a_capture_whose_first_row_has_fewer_fields(first: str) -> None:
    """polars takes the number of fields from the first line it reads: a blank line or a short row after the
    header is read as the rows that follow it are."""
    text = f"timestamp, index, power.draw [W], memory.used [MiB]\n{first}\n2024/05/01 10:00:01.000, 0, 51.00 W, 9 MiB\n"
    frame, _ = smi_csv.parse(Source.of_text(text), utc_offset_s=0.0)
    assert frame["memory_used_mib"].to_list() == ([9.0] if not first else [None, 9.0])


@pytest.mark.parametrize(
    "text",
    [
        "name, power.draw [W]\nname, 50.00 W\nTesla T4, 60.00 W\n",  # its first field is the first name
        "timestamp, power.draw [W]\n, 50.00 W\n2024/05/01 10:00:00.000, 60.00 W\n",  # it has no first field
    ],
)
def test_rows_that_the_header_filter_drops_are_dropped(text: str) -> None:
    """The reference drops a repeated header by its first field (a restarted poller), whatever the others hold,
    and so a row whose first field is the first name, or empty (null to polars' CSV reader)."""
    frames = smi_csv.chunks(Source.of_text(text), utc_offset_s=0.0)
    assert pl.concat(frames)["power_w"].to_list() == [60.0]


def test_collects_indices_past_2_31_and_a_column_empty_in_every_row(fallbacks: list[int]) -> None:
    """A sample number or GPU index past 2^31 is none (`smi_csv._columns`); a GPU without an energy counter
    leaves its cells empty."""
    numbers = [2**31 - 1, 2**31, 2**31 + 1, 99_999_999_999, 7]
    rows = "".join(f"{n},{1e9 + i},{i % 2},21.5,,1\n" for i, n in enumerate(numbers * 3))
    source = Source.of_text("sample,time_unix_s,gpu,power_w,energy_mj,util_pct\n" + rows)
    assert_chunks_are_reference(source, 0.0, 1 << 20)
    assert fallbacks == [1, 0]
    frame = pl.concat(smi_csv.chunks(source, utc_offset_s=0.0))
    assert frame["sample"].null_count() == 2 * 3 and frame["energy_mj"].null_count() == frame.height


def test_the_total_memory_is_used_plus_free_and_null_with_either(fallbacks: list[int]) -> None:
    """Without a `memory.total` column the total is used + free (`smi_csv._completed`): null where either is."""
    cells = [("1000 MiB", "39960 MiB"), ("[N/A]", "39960 MiB"), ("1000 MiB", "[N/A]"), ("2000 MiB", "38960 MiB")]
    rows = "".join(f"2024/05/01 10:00:0{i}.000, 0, {used}, {free}\n" for i, (used, free) in enumerate(cells * 5))
    source = Source.of_text("timestamp, index, memory.used [MiB], memory.free [MiB]\n" + rows)
    assert_chunks_are_reference(source, 0.0, 1 << 20)
    assert fallbacks == [1, 0]
    frame = pl.concat(smi_csv.chunks(source, utc_offset_s=0.0))
    assert frame["memory_total_mib"].to_list() == [40960.0, None, None, 40960.0] * 5


@pytest.mark.parametrize("lines", range(1, 9))
@pytest.mark.parametrize(
    ("first", "last", "value"), [(" 5 %", "-5 %", -5.0), ("15 %", "-5 %", -5.0), ("15 %", "N/A ", None)]
)
def test_a_line_of_the_first_lines_length_differing_in_a_byte_is_read_as_the_reference(
    lines: int, first: str, last: str, value: float | None
) -> None:
    """Lines of one length are read by their first line's layout (`smi_csv_fast._one_layout`): one that differs
    in a byte that is no digit, or holds no digit where the first line has one, is not of that layout, wherever
    the byte falls (the piece's last bytes are not a whole word)."""
    row = "2024/05/01 10:00:0{}.000, 0, 50.00 W, {}\n"
    text = "timestamp, index, power.draw [W], utilization.gpu [%]\n"
    text += "".join(row.format(i, first) for i in range(lines)) + row.format(lines, last)
    source = Source.of_text(text)
    assert_chunks_are_reference(source, 0.0, 1 << 20)
    util = pl.concat(smi_csv.chunks(source, utc_offset_s=0.0))["util_pct"].to_list()
    assert util == [float(first[:2])] * lines + [value]


@pytest.mark.parametrize("first", ["\n", "a note\n", "x, y, z\n"])
def test_a_headerless_capture_whose_first_line_is_short_reads_as_its_rows(first: str) -> None:
    """A blank line or a note above headerless rows: polars would take the number of fields from it, and the
    whole-file reading (used when wrappings are peeled) raised polars' SchemaError."""
    rows = "".join(f"2019/11/25 12:00:0{i}.000, 55.00 W, 10400 MiB, 30 %\n" for i in range(5))
    source = Source.of_text(first + rows)
    frame = smi_csv.parse(source, utc_offset_s=0.0)[0]
    assert frame.height == 5 and frame["util_pct"].to_list() == [30.0] * 5
    assert_frame_equal(
        pl.concat(list(smi_csv.chunks(source, utc_offset_s=0.0, piece_bytes=64))), frame, check_exact=True
    )


def test_rows_a_poller_writes_after_the_capture_was_opened_are_not_read(tmp_path: Path) -> None:
    """The capture is read as it was when opened: its truncated last line stays left out (as its warning says),
    and so do the lines written since, as the whole-file reading leaves them out."""
    path = tmp_path / "gpu.csv"
    rows = [f"2025/06/13 00:27:{s:02d}.195, 0, {s} %, {100 + s} MiB\n" for s in range(10)]
    path.write_text("timestamp, index, utilization.gpu [%], memory.used [MiB]\n" + "".join(rows[:5]) + rows[5][:12])
    source, warnings = Source(path).without_truncated_line()
    assert warnings == [f"{path}:7: truncated last line ignored"]
    with path.open("a") as f:
        f.write(rows[5][12:] + "".join(rows[6:]))  # the poller writes on
    frame = pl.concat(list(smi_csv.chunks(source, utc_offset_s=0.0, piece_bytes=64)))
    assert frame["util_pct"].to_list() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert_frame_equal(frame, smi_csv.parse(source, utc_offset_s=0.0)[0], check_exact=True)
