"""Issue 9's acceptance test: good runs mixed with every kind of input that used to kill, fool or hang analyze.

Each bad run is a copy of a real demo run with one thing broken, as the fuzzing and the hostile archives found.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
from conftest import DEMO, REAL, digest

from bertlogs.errors import ExitCode

GOOD = ["tiny-bs2", "tiny-bs16", "mini-bs8"]
LOG, CAPTURE = "run_classifier.log", "nvidia-smi.log"


def edit(name: str, change: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        path = run / name
        path.write_bytes(change(path.read_text(encoding="utf-8")).encode("utf-8"))

    return apply


def sub(pattern: str, replacement: str, count: int = 1) -> Callable[[str], str]:
    return lambda text: re.sub(pattern, replacement, text, count=count, flags=re.MULTILINE)


def put(name: str, content: bytes | str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        (run / name).write_bytes(content.encode("utf-8") if isinstance(content, str) else content)

    return apply


def gpu_csv() -> str:
    """A collect-style query CSV capture for the run (two samples), from a real capture's header."""
    return (REAL / "nvidia-smi-csv" / "andyzzz_miris_v100s_gpu_log.csv").read_text(encoding="utf-8")


BAD: dict[str, Callable[[Path], None]] = {
    "huge-num-steps": edit(LOG, sub(r"Num steps = \d+", "Num steps = 123456789012345678901234567")),
    "nan-step": edit(LOG, sub(r"global_step/sec: \S+", "global_step/sec: nan")),
    "huge-layer": edit(LOG, sub(r"layer_0/", "layer_99999999999999999999999/")),
    "huge-eval-step": edit("eval_results.txt", sub(r"global_step = \d+", "global_step = 99999999999999999999999")),
    "arabic-digits": edit(LOG, sub(r"Num steps = \d+", "Num steps = ١٢٣")),
    "negative-rate": edit(LOG, sub(r"examples/sec: \S+", "examples/sec: -40", count=0)),
    "negative-power": edit(CAPTURE, sub(r"\b\d+W /", "-23W /", count=0)),
    "util-5000": edit(CAPTURE, sub(r"\b\d+%(\s+Default)", r"5000%\1", count=0)),
    "cr-only": edit(CAPTURE, lambda text: text.replace("\n", "\r")),
    "no-final-newline": put(CAPTURE, "| 27%   35C    P8    22W / 250W |      1MiB / 11019MiB |      0%      Default |"),
    "short-headerless-row": put(CAPTURE, "1, 2, 3, 4, 5\n1, 2\n"),
    "command-then-headerless": put(CAPTURE, "$ nvidia-smi --query-gpu=power.draw --format=csv,noheader\n50.1 W\n"),
    "own-summary-left": put(CAPTURE, 'run,model,warnings\ntiny,Tiny,"a, b"\n'),
    "codecarbon": put(
        "emissions.csv",
        "timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power\n"
        "2024-01-01T00:00:00,codecarbon,1,10.0,0.001,0.0001,42.5,250.0,3.0\n",
    ),
    "meta-list": put("meta.json", "[]"),
    "meta-null": put("meta.json", "null"),
    "meta-bad-fields": put(
        "meta.json",
        json.dumps({"utc_offset_s": "x", "gpus": ["a"], "labels": {"batch_size": "abc", "model": ["Tiny"]}}),
    ),
    "meta-running": put("meta.json", json.dumps({"format_version": 1, "status": "running", "start": {"unix_s": 1}})),
    "nul-gzip": put("capture.gz", gzip.compress(b"\0" * (64 * 2**20))),
    "nul-tail": edit(CAPTURE, lambda text: text + "\0" * (4 * 2**20)),
    "corrupt-gzip": put("more.log.gz", gzip.compress(b"INFO:tensorflow:  Num steps = 5\n" * 1000)[:-40]),
    "a b": lambda run: None,
    "a_b": lambda run: None,
}


def test_one_row_per_run_good_runs_ok_exit_1_no_traceback_inputs_untouched(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    for name in GOOD:
        shutil.copytree(DEMO / name, root / name)
    for i, (name, breakage) in enumerate(BAD.items()):
        shutil.copytree(DEMO / GOOD[i % len(GOOD)], root / name)
        breakage(root / name)
    (root / "tiny-bs2" / "loop").symlink_to(root)  # would multiply the runs
    (root / "mini-bs8" / "outside.log").symlink_to(tmp_path / "elsewhere.log")
    (tmp_path / "elsewhere.log").write_text("INFO:tensorflow:  Num steps = 1\n")
    os.mkfifo(root / "tiny-bs16" / "live.log")
    before = digest(root)

    result = subprocess.run(
        [sys.executable, "-m", "bertlogs", "analyze", str(root), "--out", str(tmp_path / "r"), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == ExitCode.RUN_ERRORS, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    summary = pl.read_csv(tmp_path / "r" / "summary.csv", infer_schema_length=None)
    status = dict(zip(summary["run"], summary["status"], strict=True))
    assert sorted(status) == sorted(GOOD + list(BAD))
    assert {name: status[name] for name in GOOD} == dict.fromkeys(GOOD, "ok")
    for name in ("negative-rate", "negative-power", "util-5000", "meta-running"):
        assert status[name] != "ok", name
    samples = pl.read_parquet(tmp_path / "r" / "data" / "samples" / "*.parquet")
    assert {"a b", "a_b"} <= set(samples["run"])
    assert digest(root) == before
