"""`bertlogs parse` prints a GPU capture a chunk at a time: the same CSV and JSON as the whole frame gives, with
each chunk's rows written before the next is read (memory holds a chunk, whatever the capture's size)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bertlogs.parsers
from bertlogs.cli import app
from bertlogs.errors import ExitCode, ParseError
from bertlogs.parsers import Parsed, parse_file
from bertlogs.schema import SAMPLE_SCHEMA

runner = CliRunner()
ROW = "|  40%   70C    P2   {:>3}W / 250W |  10400MiB / 11019MiB |     {:>2}%      Default |\n"


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `grep %` capture of about 5 MB: three of the fast path's 2 MiB pieces."""
    path = tmp_path_factory.mktemp("capture") / "nvidia-smi.log"
    path.write_text("".join(f"{1574690400 + i * 0.31:.9f}\n" + ROW.format(100 + i % 50, i % 90) for i in range(50_000)))
    return path


@pytest.mark.parametrize("to", ["csv", "json"])
def test_a_capture_printed_in_chunks_is_the_whole_frame(capture: Path, to: str) -> None:
    assert sum(1 for p in bertlogs.parsers.parse_chunks(*bertlogs.parsers.open_file(capture)) if p.frame.height) >= 3
    result = runner.invoke(app, ["parse", str(capture), "--to", to])
    assert result.exit_code == 0, result.output
    whole = parse_file(capture).frame
    if to == "csv":
        assert result.stdout == whole.write_csv()
    else:
        assert json.loads(result.stdout) == json.loads(whole.write_json())
    assert f"{capture}: smi-table, 50000 rows" in result.stderr


@pytest.fixture
def damaged(capture: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The capture, turning unreadable after its first chunk."""
    chunks = bertlogs.parsers.parse_chunks

    def failing_after_one(*args: object, **options: object) -> Iterator[Parsed]:
        yield next(iter(chunks(*args, **options)))  # type: ignore[arg-type]
        raise ParseError(str(capture), "damaged after its first chunk")

    monkeypatch.setattr(bertlogs.parsers, "parse_chunks", failing_after_one)
    return capture


def test_each_chunk_is_printed_before_the_next_is_read(damaged: Path) -> None:
    """A capture that turns unreadable after its first chunk: that chunk's rows are out, then the error."""
    result = runner.invoke(app, ["parse", str(damaged)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.stdout.startswith("sample,time,gpu,") and result.stdout.count("\n") > 1000
    assert "damaged after its first chunk" in result.stderr


def test_a_capture_without_rows_prints_its_header_and_its_warnings(tmp_path: Path) -> None:
    path = tmp_path / "gpu.csv"
    path.write_text("timestamp, index, power.draw [W], utilization.gpu [%]\n2019/11/25 14:00:00.100, 0, 55")
    result = runner.invoke(app, ["parse", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ",".join(SAMPLE_SCHEMA) + "\n"  # the header of no row
    assert f"{path}: smi-csv, 0 rows" in result.stderr and "truncated last line ignored" in result.stderr


def test_json_stays_one_array_when_a_chunk_fails(damaged: Path) -> None:
    result = runner.invoke(app, ["parse", str(damaged), "--to", "json"])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert len(json.loads(result.stdout)) > 1000  # the rows before the failure, as a whole JSON document
