"""Captures read a chunk at a time and samples streamed to the dataset as they are read: the same summary and
the same dataset as reading each capture whole and holding it for its batch's file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, FIXTURES
from polars.testing import assert_frame_equal

from bertlogs import dataset, summary
from bertlogs.parsers import smi_csv, smi_table, text
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
    streamed = summarize([archive], dataset_dir=tmp_path / "streamed")
    assert_frame_equal(whole.frame, streamed.frame)
    own = pl.read_parquet(sorted((tmp_path / "streamed" / "samples").glob("part-*-*.parquet")))
    assert set(own["run"]) == {r.row.run for r in whole.results}  # every capture went to files of its own
    assert_frame_equal(dataset_samples(tmp_path / "whole"), dataset_samples(tmp_path / "streamed"))


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
    assert_frame_equal(expected.frame, again.frame)
    assert_frame_equal(dataset_samples(tmp_path / "once"), dataset_samples(tmp_path / "again"))
