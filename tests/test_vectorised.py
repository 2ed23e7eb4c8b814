"""Parsing stays vectorised: the number of Python function calls does not grow with the number of lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, python_calls

from bertlogs.parsers import parse_file

ROW = "| 40%   70C    P2   {power:>3}W / 250W |  10400MiB / 11019MiB |     {util:>2}%      Default |\n"


def grep_capture(rows: int) -> str:
    return "".join(ROW.format(power=100 + i % 50, util=i % 90) + f"{1574690400 + i * 0.31:.9f}\n" for i in range(rows))


def csv_capture(rows: int) -> str:
    header = "timestamp, index, power.draw [W], memory.used [MiB], utilization.gpu [%]\n"
    return header + "".join(
        f"2019/11/25 14:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10}00, 0, {100 + i % 50}.00 W, 10400 MiB, 50 %\n"
        for i in range(rows)
    )


def tf1_log(rows: int) -> str:
    log = (DEMO / "base-bs2" / "run_classifier.log").read_text().splitlines(keepends=True)
    readings = [line for line in log if "/sec: " in line]
    return "".join(log[:150]) + "".join(readings[i % len(readings)] for i in range(rows)) + "".join(log[-25:])


@pytest.fixture(autouse=True)
def no_python_udfs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python functions run by polars per element or batch (from its own threads) would not be counted."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a Python UDF inside a parser")

    for owner in (pl.Expr, pl.Series):
        for name in ("map_elements", "map_batches"):
            if hasattr(owner, name):
                monkeypatch.setattr(owner, name, refuse)


@pytest.mark.parametrize("make", [grep_capture, csv_capture, tf1_log], ids=lambda f: f.__name__)
def test_python_calls_do_not_grow_with_lines(tmp_path: Path, make: Callable[[int], str]) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_text(make(1_000))
    large.write_text(make(10_000))
    python_calls(lambda: parse_file(small))  # warm caches and imports
    few, many = python_calls(lambda: parse_file(small)), python_calls(lambda: parse_file(large))
    assert parse_file(large).frame.height > parse_file(small).frame.height * 5  # the rows are really there
    assert many <= few + 50, f"{few} Python calls for 1,000 lines but {many} for 10,000: a per-line loop?"
