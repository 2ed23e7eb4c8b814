"""TF1 logs parsed in batches: the batch's plain logs read by one scan of their bytes joined give the lines
each file's own scan (`Source.lines`) gives, the commonest header is peeled as the regex peels it, and every
log of a batch keeps a frame of its own."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from bertlogs.errors import ParseError
from bertlogs.parsers import Format, Parsed, open_file, parse_batch, parse_file, sniff, tf1
from bertlogs.parsers.text import Source, read_head
from bertlogs.schema import FACT_SCHEMA


def tf1_fixtures() -> list[Path]:
    """Every file under fixtures/ whose head is a TF1 log (the demo's, the real logs, the quirky ones)."""
    files = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix not in (".py", ".parquet"))
    return [p for p in files if sniff(read_head(p)) is Format.TF1_LOG]


def reference_lines(sources: list[Source], utc_offsets_s: list[float]) -> pl.DataFrame:
    """Each file's lines as its own scan reads them, tagged as the batch tags them."""
    tagged = [
        s.lines(o).with_columns(file=pl.lit(i, pl.Int32), offset=pl.lit(o, pl.Float64))
        for i, (s, o) in enumerate(zip(sources, utc_offsets_s, strict=True))
    ]
    return pl.concat(tagged).collect()


def test_the_fixtures_hold_plain_logs_and_others() -> None:
    sources = [open_file(p)[0] for p in tf1_fixtures()]
    assert len(sources) > 40
    assert 10 < sum(s.plain for s in sources) < len(sources)  # both paths are exercised below


def test_one_scan_of_the_joined_logs_reads_what_each_files_scan_reads() -> None:
    sources = [open_file(p)[0] for p in tf1_fixtures()]
    offsets = [60.0 * i for i in range(len(sources))]
    joined = tf1._lines(sources, offsets).collect()
    assert joined.equals(reference_lines(sources, offsets), null_equal=True)


EDGES = {
    "no_newline_at_end.log": b"INFO:tensorflow:global_step/sec: 1.5\nINFO:tensorflow:examples/sec: 3",
    "empty.log": b"",
    "blank_lines.log": b"\n\n\nINFO:tensorflow:examples/sec: 3\n\n",
    "crlf.log": b"INFO:tensorflow:global_step/sec: 1.5\r\nINFO:tensorflow:examples/sec: 3\r\n",
    "bom.log": b"\xef\xbb\xbfINFO:tensorflow:global_step/sec: 2.5\n",
    "colours.log": b"\x1b[32mINFO:tensorflow:global_step/sec: 1.5\x1b[0m\n",
    "cr_at_end.log": b"INFO:tensorflow:global_step/sec: 1.5\r",
    "bad_utf8_at_end.log": b"INFO:tensorflow:examples/sec: 3\xe2",
}


def test_file_boundaries_cut_no_line_in_two_and_join_none(tmp_path: Path) -> None:
    paths = []
    for name, data in EDGES.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    (tmp_path / "gzipped.log.gz").write_bytes(gzip.compress(EDGES["no_newline_at_end.log"]))
    paths.append(tmp_path / "gzipped.log.gz")
    sources = [Source(p) for p in paths] * 2  # each twice: every file is followed by another
    offsets = [0.0] * len(sources)
    assert tf1._lines(sources, offsets).collect().equals(reference_lines(sources, offsets), null_equal=True)
    facts = tf1.parse_many(sources, utc_offsets_s=offsets)
    assert [f.height for f, _ in facts] == [tf1.parse(s, utc_offset_s=0.0)[0].height for s in sources]


def test_a_log_without_facts_keeps_an_empty_frame_beside_others() -> None:
    demo = open_file(FIXTURES / "cola-sweep" / "base-bs2" / "run_classifier.log")[0]
    nothing = Source.of_text("no fact in this log\n")
    (empty, _), (full, _), (alone, _) = tf1.parse_many([nothing, demo, nothing], utc_offsets_s=[0.0] * 3)
    assert empty.height == 0 and alone.height == 0 and full.height > 100
    assert empty.schema == full.schema == pl.Schema(FACT_SCHEMA)


# A line's rest after its header: the characters that make the peeling regex branch (blanks, `#`, brackets,
# `::std`, digits and colons of a stamp, another header) and some that polars and Python count differently.
tails = st.text(alphabet=st.sampled_from(list(" \t\r#[]:0123456789IWEFZT.-_/=,stdoerrINFO:tensorflow:ü€\U0001f600")))


@settings(max_examples=300, deadline=None)
@given(tails)
def test_the_commonest_header_is_peeled_as_the_regex_peels_another(tail: str) -> None:
    """`INFO:tensorflow:` (sliced off) and `INFO:absl:` (peeled by the regex) are both classic headers: the
    same rest behind either gives the same message and parts."""
    lines = pl.LazyFrame(
        {"line": [1, 2], "text": ["INFO:tensorflow:" + tail, "INFO:absl:" + tail]},
        schema={"line": pl.Int64, "text": pl.String},
    ).with_columns(
        file=pl.lit(0, pl.Int32),
        offset=pl.lit(0.0),
        stamp_s=pl.lit(None, pl.Float64),
        stamp_clock=pl.lit(None, pl.String),
    )
    peeled = tf1._prefixes(lines).collect().drop("line")
    assert peeled.height in (0, 2)
    if peeled.height:
        assert peeled.row(0) == peeled.row(1)
        assert peeled["msg"][0] == tail.rstrip(" \t") and peeled["style"][0] == "classic"


@pytest.mark.parametrize("path", tf1_fixtures()[::7], ids=lambda p: p.name)
def test_a_log_alone_and_in_a_batch_has_the_same_facts(path: Path) -> None:
    demo = FIXTURES / "cola-sweep" / "tiny-bs8" / "run_classifier.log"
    sources = [open_file(p)[0] for p in (demo, path, demo)]
    batch = tf1.parse_many(sources, utc_offsets_s=[0.0, 3600.0, 0.0])
    assert batch[1][0].equals(parse_file(path, utc_offset_s=3600.0).frame, null_equal=True)


def test_a_log_removed_after_it_was_opened_is_its_own_parse_error(tmp_path: Path) -> None:
    demo = (FIXTURES / "cola-sweep" / "base-bs2" / "run_classifier.log").read_bytes()
    (tmp_path / "gone.log").write_bytes(demo)
    (tmp_path / "kept.log").write_bytes(demo)
    sources = [open_file(tmp_path / name)[0] for name in ("gone.log", "kept.log")]
    (tmp_path / "gone.log").unlink()
    gone, kept = parse_batch(sources, Format.TF1_LOG, utc_offsets_s=[0.0, 0.0])
    assert isinstance(gone, ParseError) and str(gone).startswith(f"{tmp_path / 'gone.log'}: cannot read")
    assert isinstance(kept, Parsed) and kept.frame.height > 100
