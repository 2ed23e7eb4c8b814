"""smi-csv read in chunks (`smi_csv.chunks`) gives, concatenated, the frame of one query over the whole file
(`smi_csv.parse`), on every fixture that sniffs as smi-csv and on generated captures, with memory bounded by
a piece of the file rather than the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from bertlogs.parsers import registry, smi_csv
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
    assert_frame_equal(pl.concat([reference.clear(), *frames]), reference)


FILES = smi_csv_files()


def test_the_fixtures_hold_smi_csv_captures() -> None:
    assert len(FILES) >= 20 and any("real" in p.parts for p in FILES) and any(p.name == "gpu.csv" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_chunks_are_the_reference_on_every_fixture(path: Path) -> None:
    source, _ = Source(path).without_truncated_line()
    for utc_offset_s, pieces in ((0.0, 7), (-7 * 3600.0, 25)):  # cut anywhere: mid-sample, before a header
        assert_chunks_are_reference(source, utc_offset_s, path.stat().st_size // pieces + 1)


BLANK = ["N/A", "[N/A]", "[Not Supported]", "[Unknown Error]", "ERR!", ""]
# nvidia-smi names, units, and how a reading of each is written
SMI_COLUMNS = {
    "index": ("", lambda i, g: f"{g}"),
    "power.draw": (" W", lambda i, g: f"{50 + (i * 37 + g) % 250}.{i % 100:02d}"),
    "memory.used": (" MiB", lambda i, g: f"{(i * 977 + g) % 40000}"),
    "memory.total": (" MiB", lambda i, g: "40960"),
    "utilization.gpu": (" %", lambda i, g: f"{(i * 7 + g) % 101}"),
    "temperature.gpu": ("", lambda i, g: f"{30 + i % 60}"),
}


@st.composite
def captures(draw: st.DrawFn) -> str:
    """A `--query-gpu` capture as nvidia-smi writes one (or collect's gpu.csv), with what real ones hold."""
    collect = draw(st.booleans()) and draw(st.booleans())
    names = draw(st.lists(st.sampled_from(list(SMI_COLUMNS)), min_size=2, max_size=6, unique=True))
    units = draw(st.booleans())
    header = ", ".join(["timestamp"] + [n + (f" [{SMI_COLUMNS[n][0].strip()}]" if units else "") for n in names])
    if collect:
        header = "sample,time_unix_s,gpu,power_w,memory_used_mib,util_pct"
    gpus, samples = draw(st.integers(1, 3)), draw(st.integers(1, 12))
    start_s = draw(st.integers(0, 2_000_000_000))
    lines = [header] if draw(st.booleans()) or not units or collect else []
    for i in range(samples):
        at = start_s + i * draw(st.sampled_from([0, 1, 7, 86_399]))
        stamp = pl.from_epoch(pl.Series([at]), "s").dt.strftime("%Y/%m/%d %H:%M:%S").item()
        stamp += draw(st.sampled_from([f".{i % 1000:03d}", ".5", "", ".1234567"]))
        for gpu in range(gpus):
            if collect:
                cells = [f"{i}", f"{at}.{gpu}{i % 10}", f"{gpu}", f"{100 + i}.5", f"{i * 3}", f"{i % 100}"]
            else:
                cells = [stamp] + [SMI_COLUMNS[n][1](i, gpu) + (SMI_COLUMNS[n][0] if units else "") for n in names]
            if draw(st.integers(0, 9)) == 0:
                cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(BLANK))
            lines.append(", ".join(cells) if not collect else ",".join(cells))
        odd = draw(st.sampled_from(["", "", "", "", "blank", "header", "prose"]))
        if odd and lines:
            lines.append({"blank": "", "header": lines[0], "prose": "nvidia-smi restarted"}[odd])
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(lines) + end
    if draw(st.booleans()):  # cut mid-write
        text = text[: len(text) - draw(st.integers(1, 12))]
    return text


@settings(max_examples=150, deadline=None)
@given(text=captures(), utc_offset_s=st.sampled_from([0.0, 3600.0, -19800.0]), piece_bytes=st.integers(16, 300))
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
