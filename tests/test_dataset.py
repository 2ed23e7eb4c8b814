"""The Parquet dataset as its readers see it (polars, DuckDB, the row-group statistics), and the sink through
which `summarize` hands each run's trace over while it goes on."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import DEMO
from typer.testing import CliRunner

from bertlogs import dataset as dataset_module
from bertlogs.analysis import RunResult
from bertlogs.cli import app
from bertlogs.parsers import parse_file
from bertlogs.summary import summarize

RUNS = sorted(p.name for p in DEMO.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("report") / "data"
    summarize([DEMO], dataset_dir=data)
    return data


def test_the_dataset_is_a_few_files_per_kind_whose_row_groups_name_a_few_runs_each(dataset: Path) -> None:
    for kind in ("samples", "facts"):
        files = sorted((dataset / kind).iterdir())
        assert 1 < len(files) < len(RUNS)  # batched: neither one file per run nor one for all
        spans = []  # each row group's (first run, last run), from its statistics
        for path in files:
            meta = pq.ParquetFile(path).metadata
            column = meta.schema.names.index("run")
            groups = [meta.row_group(i).column(column).statistics for i in range(meta.num_row_groups)]
            assert all(g.has_min_max for g in groups)
            spans += [(g.min, g.max) for g in groups]
            assert all(a.max <= b.min for a, b in itertools.pairwise(groups)), path  # sorted by run
        for run in RUNS:  # a reader filtering on one run skips the row groups of the others but two at most
            read = [(first, last) for first, last in spans if first <= run <= last]
            assert len([r for r in RUNS if read[0][0] <= r <= read[0][1]]) <= 5  # a group holds a few runs
            assert read and len([s for s in read if s != (run, run)]) <= 2 and len(read) < len(spans) / 2, run


@pytest.mark.parametrize("run", ["base-bs16", "tiny-bs2", RUNS[-1]])
def test_polars_filtering_one_run_reads_exactly_its_rows(dataset: Path, run: str) -> None:
    for kind, name in (("samples", "nvidia-smi.log"), ("facts", "run_classifier.log")):
        expected = parse_file(DEMO / run / name).frame
        got = pl.scan_parquet(dataset / kind / "*.parquet").filter(pl.col("run") == run).collect()
        assert got["source"].unique().to_list() == [name]
        assert got.drop("run", "source").equals(expected), kind


@pytest.mark.parametrize("run", ["base-bs16", "tiny-bs2", RUNS[-1]])
def test_duckdb_filtering_one_run_reads_exactly_its_rows(dataset: Path, run: str) -> None:
    expected = parse_file(DEMO / run / "nvidia-smi.log").frame
    files = str(dataset / "samples" / "*.parquet")
    facts = str(dataset / "facts" / "*.parquet")
    with duckdb.connect() as db:
        got = db.sql(
            "SELECT * EXCLUDE (run, source) FROM read_parquet($files) WHERE run = $run ORDER BY sample, gpu",
            params={"files": files, "run": run},
        ).pl()
        count = db.sql(
            "SELECT count(*) FROM read_parquet($facts) WHERE run = $run", params={"facts": facts, "run": run}
        )
        assert count.fetchall() == [(parse_file(DEMO / run / "run_classifier.log").frame.height,)]
    assert got.cast(dict(expected.schema)).equals(expected.sort("sample", "gpu"))


def test_a_report_in_the_old_layout_is_replaced_and_its_partitions_removed(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert CliRunner().invoke(app, ["analyze", str(DEMO / "tiny-bs2"), "--out", str(out)]).exit_code == 0
    old = out / "data" / "samples" / "run=tiny-bs2" / "part-0.parquet"  # as bertlogs 0.1 wrote it
    old.parent.mkdir()
    shutil.copy(next((out / "data" / "samples").glob("part-*.parquet")), old)
    manifest = json.loads((out / ".bertlogs-manifest.json").read_text())
    manifest["files"].append("data/samples/run=tiny-bs2/part-0.parquet")
    (out / ".bertlogs-manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(app, ["analyze", str(DEMO / "tiny-bs2"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not old.parent.exists()
    assert pl.read_parquet(out / "data" / "samples" / "*.parquet")["run"].unique().to_list() == ["tiny-bs2"]


def test_the_sink_takes_each_trace_once_and_the_summary_keeps_none(tmp_path: Path) -> None:
    taken: list[RunResult] = []
    summary = summarize([DEMO], sink=taken.append)
    assert sorted(r.row.run for r in taken) == RUNS
    assert all(len(r.trace["power_w"][0]) > 1 for r in taken)
    assert [r.trace for r in summary.results] == [{}] * len(RUNS)


def test_a_capture_without_clock_reaches_the_sink_once_with_the_measured_period(tmp_path: Path) -> None:
    shutil.copytree(DEMO / "tiny-bs2", tmp_path / "stamped")
    shutil.copytree(DEMO / "tiny-bs64", tmp_path / "no-clock")
    capture = tmp_path / "no-clock" / "nvidia-smi.log"
    capture.write_text("".join(line for line in capture.read_text().splitlines(True) if line.startswith("|")))
    taken: list[RunResult] = []
    summary = summarize([tmp_path], sink=taken.append)
    assert sorted(r.row.run for r in taken) == ["no-clock", "stamped"]
    unclocked = next(r for r in taken if r.row.run == "no-clock")
    assert summary.period_note is not None and unclocked.row.sample_period_s is not None
    assert unclocked.window is not None and len(unclocked.trace["power_w"][0]) > 1


def test_the_streamed_reports_are_the_documents_written_whole(tmp_path: Path) -> None:
    from bertlogs.report.html import sparkline
    from bertlogs.report.tables import write_json
    from bertlogs.report.write import Drawings

    taken: list[RunResult] = []
    with Drawings(tmp_path, plots=False) as drawings:
        summary = summarize([DEMO], sink=lambda r: (taken.append(r), drawings(r)))
        write_json(summary, tmp_path / "summary.json")
        assert {r.row.run: drawings.sparkline(r.row.run) for r in taken} == {r.row.run: sparkline(r) for r in taken}
    document = json.loads((tmp_path / "summary.json").read_text())
    assert document["runs"] == summary.frame.to_dicts()
    assert (tmp_path / "summary.json").read_text() == json.dumps(document, indent=2) + "\n"


def test_a_batch_holds_at_most_held_rows_however_many_captures_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Captures each under SPILL_ROWS but over HELD_ROWS together: the one holding most goes to a file of its
    own, so the batch never holds more than HELD_ROWS rows, and every sample is written once."""
    monkeypatch.setattr(dataset_module, "HELD_ROWS", 6000)
    captures = [parse_file(DEMO / run / "nvidia-smi.log") for run in RUNS[:6]]
    assert all(c.frame.height < 6000 < dataset_module.SPILL_ROWS for c in captures)
    assert sum(c.frame.height for c in captures) > 2 * 6000
    sink = dataset_module.Samples(tmp_path, "part-000000.parquet")
    for run, capture in zip(RUNS, captures, strict=False):
        sink.add(run, capture)
        assert sum(p.frame.height for r in RUNS for p in sink.held(r)) <= 6000
    assert sink.written
    written = pl.read_parquet(sink.written)
    held = sum(p.frame.height for r in RUNS for p in sink.held(r))
    assert written.height + held == sum(c.frame.height for c in captures)
    assert written.group_by("run").len().height == len(sink.written)  # a file holds one capture


def test_a_batch_of_small_captures_stays_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Captures each under SPILL_ROWS, under HELD_ROWS together: none goes to a file of its own."""
    monkeypatch.setattr(dataset_module, "SPILL_ROWS", 6000)
    captures = [parse_file(DEMO / run / "nvidia-smi.log") for run in RUNS[:6]]
    assert sum(c.frame.height for c in captures) > 2 * 6000
    sink = dataset_module.Samples(tmp_path, "part-000000.parquet")
    for run, capture in zip(RUNS, captures, strict=False):
        sink.add(run, capture)
    assert not sink.written


def test_a_file_of_its_own_that_fails_fails_its_batch_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture's file of its own is written while the loader reads on; when the disk fills as it is written,
    the batch's runs are errors (`writing its data`) and no Parquet file, whole or partial, is left."""
    monkeypatch.setattr(dataset_module, "SPILL_ROWS", 500)  # every capture goes to files of its own
    write = pl.DataFrame.write_parquet

    def full_disk(frame: pl.DataFrame, path: Path, **options: object) -> None:
        if ".partial" in str(path):
            Path(path).write_bytes(b"PAR1")  # what a full disk leaves: the start of a file
            raise OSError(28, "No space left on device")
        write(frame, path, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_disk)
    data = tmp_path / "data"
    summary = summarize([DEMO / RUNS[0], DEMO / RUNS[1]], dataset_dir=data)
    assert [r.row.status for r in summary.results] == ["error", "error"]
    assert all("writing its data" in r.row.warnings for r in summary.results)
    assert not [p for p in data.rglob("*") if p.is_file()]


def test_a_file_of_its_own_that_fails_once_costs_only_its_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One write of a file of its own fails (EIO): its run is an error and has no data in the dataset; the
    batch's other runs are ok and all there."""
    monkeypatch.setattr(dataset_module, "SPILL_ROWS", 500)
    write, failed = pl.DataFrame.write_parquet, []

    def fails_once(frame: pl.DataFrame, path: Path, **options: object) -> None:
        if ".partial" in str(path) and not failed:
            failed.append(frame["run"][0])
            raise OSError(5, "Input/output error")
        write(frame, path, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_parquet", fails_once)
    data = tmp_path / "data"
    summary = summarize([DEMO / run for run in RUNS[:8]], dataset_dir=data)  # batches of two runs
    status = {r.row.run: r.row.status for r in summary.results}
    assert status == {run: "ok" for run in RUNS[:8] if run != failed[0]} | {failed[0]: "error"}
    for kind in ("samples", "facts"):
        assert sorted(pl.read_parquet(data / kind / "*.parquet")["run"].unique()) == sorted(set(RUNS[:8]) - {failed[0]})
