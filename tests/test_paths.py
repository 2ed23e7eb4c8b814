"""Input paths are literal and bounded: no glob expansion, no escape through links, no waiting on FIFOs."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import DEMO

from bertlogs.summary import summarize


def test_brackets_in_a_run_directory_are_characters_not_a_glob(tmp_path: Path) -> None:
    shutil.copytree(DEMO / "tiny-bs32", tmp_path / "run1")
    shutil.copytree(DEMO / "tiny-bs2", tmp_path / "run[1]")
    rows = {r["run"]: r for r in summarize([tmp_path]).frame.iter_rows(named=True)}
    assert rows["run[1]"]["batch_size"] == 2
    assert rows["run1"]["batch_size"] == 32
