"""Captures read a chunk at a time and samples streamed to the dataset as they are read: the same summary and
the same dataset as reading each capture whole and holding it for its batch's file."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import DEMO, FIXTURES
from polars.testing import assert_frame_equal

from bertlogs import dataset, summary
from bertlogs.errors import ParseError
from bertlogs.parsers import Format, parse_file, smi_csv, smi_table, text
from bertlogs.parsers.registry import REGISTRY
from bertlogs.summary import summarize

ORDER = ["run", "source", "sample", "gpu"]


def dataset_samples(root: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((root / "samples").glob("*.parquet"))).sort(ORDER)


@pytest.mark.parametrize("archive", [DEMO, FIXTURES / "cola-sweep-hf"], ids=["grep-rows", "collect-gpu-csv"])
def test_streamed_captures_and_spilled_samples_change_nothing(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = summarize([archive], dataset_dir=tmp_path / "whole")
    monkeypatch.setattr(text, "STREAMING_FROM_BYTES", 1)  # every capture is large: read in chunks
    for parser in (smi_table, smi_csv):  # pieces of 8 KiB: dozens of chunks a capture
        monkeypatch.setattr(parser.chunks, "__kwdefaults__", {"piece_bytes": 8192})
    monkeypatch.setattr(dataset, "SPILL_ROWS", 50)  # every capture's samples go to a file of their own
    monkeypatch.setattr(dataset, "GROUP_ROWS", 16)  # in row groups of 16 rows
    streamed = summarize([archive], dataset_dir=tmp_path / "streamed")
    assert_frame_equal(whole.frame, streamed.frame, check_exact=True)
    files = sorted((tmp_path / "streamed" / "samples").glob("part-*-*.parquet"))
    own = pl.read_parquet(files)
    assert set(own["run"]) == {r.row.run for r in whole.results}  # every capture went to files of its own
    metadata = [pq.ParquetFile(f).metadata for f in files]
    groups = [meta.row_group(i).num_rows for meta in metadata for i in range(meta.num_row_groups)]
    assert max(groups) == 16 and sum(groups) == own.height
    assert_frame_equal(dataset_samples(tmp_path / "whole"), dataset_samples(tmp_path / "streamed"), check_exact=True)


def test_a_batch_loaded_again_after_a_fault_writes_each_run_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose loading fails is loaded again in halves (to find the run at fault): what the first try
    gave the dataset, held or already in a capture's own file, is dropped."""
    expected = summarize([DEMO], dataset_dir=tmp_path / "once")
    real = summary._load

    def failing_for_whole_batches(jobs, samples):  # type: ignore[no-untyped-def]
        found = real(jobs, samples)
        if len(jobs) > 2:
            raise RuntimeError("a fault after the samples were taken")
        return found

    monkeypatch.setattr(summary, "_load", failing_for_whole_batches)
    monkeypatch.setattr(dataset, "SPILL_ROWS", 500)  # the big captures in files of their own, the others held
    again = summarize([DEMO], dataset_dir=tmp_path / "again")
    assert_frame_equal(expected.frame, again.frame, check_exact=True)
    assert_frame_equal(dataset_samples(tmp_path / "once"), dataset_samples(tmp_path / "again"), check_exact=True)


def test_the_dataset_holds_the_capture_a_run_uses_and_nothing_of_a_failed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two captures in one run: the dataset holds the one its figures use (the other is named as ignored). A
    capture that turns unreadable after some of its samples were spilled leaves none of them."""
    runs = tmp_path / "in"
    for name in ("two", "broken"):
        shutil.copytree(DEMO / "base-bs2", runs / name)
    shutil.copy(FIXTURES / "cola-sweep-hf" / "base-bs2" / "gpu.csv", runs / "two" / "gpu.csv")
    monkeypatch.setattr(text, "STREAMING_FROM_BYTES", 1)
    monkeypatch.setattr(dataset, "SPILL_ROWS", 300)

    def breaking(source, **options):  # type: ignore[no-untyped-def]
        for i, frame in enumerate(smi_table.chunks(source, piece_bytes=8192, **options)):
            if i == 3 and source.path.parent.name == "broken":
                raise ParseError(str(source.path), "unreadable from here on")
            yield frame, []

    table = REGISTRY[Format.SMI_TABLE]
    monkeypatch.setitem(REGISTRY, Format.SMI_TABLE, dataclasses.replace(table, chunks=breaking))
    found = summarize([runs], dataset_dir=tmp_path / "data")
    two = next(r.row for r in found.results if r.row.run == "two")
    assert "ignored nvidia-smi.log" in two.warnings
    held = dataset_samples(tmp_path / "data").group_by("run", "source").len().sort("run").rows()
    rows = parse_file(runs / "two" / "gpu.csv").frame.height
    assert held == [("two", "gpu.csv", rows)], held  # nothing of broken's, nothing of two's nvidia-smi.log


def test_a_batch_run_again_in_another_worker_leaves_nothing_of_the_dead_attempt(tmp_path: Path) -> None:
    """A worker that died mid-batch may have left spilled files (`part-N-K`); the batch's next attempt starts
    by removing its files, so the dataset holds each run once."""
    expected = summarize([DEMO], dataset_dir=tmp_path / "once")
    stale = tmp_path / "again" / "samples" / "part-000000-7.parquet"  # what a dead attempt left
    stale.parent.mkdir(parents=True)
    shutil.copy(sorted((tmp_path / "once" / "samples").glob("*.parquet"))[0], stale)
    again = summarize([DEMO], dataset_dir=tmp_path / "again")
    assert_frame_equal(expected.frame, again.frame, check_exact=True)
    assert not stale.exists()
    assert_frame_equal(dataset_samples(tmp_path / "once"), dataset_samples(tmp_path / "again"), check_exact=True)
