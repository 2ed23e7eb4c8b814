"""The raw archive of one run: raw/<run-id>/meta.json, train.log, gpu.csv, events/.

Never overwrites: the run directory is created with mkdir (fails if it exists); logs are append-only;
meta.json is replaced atomically (write a temporary file, then rename).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from bertlogs.errors import CollectError

FORMAT_VERSION = 1


def default_run_id(labels: dict[str, str], now_s: float) -> str:
    stamp = dt.datetime.fromtimestamp(now_s, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    words = [re.sub(r"[^A-Za-z0-9.]+", "-", v).strip("-") for v in labels.values()]
    return "-".join([w for w in words if w] + [stamp])


def create_run_dir(raw: Path, run_id: str) -> Path:
    """A new, empty run directory; an explicit id that exists is an error, a default one gets a suffix."""
    if not re.fullmatch(r"[A-Za-z0-9._=-]+", run_id) or run_id in (".", ".."):
        raise CollectError(f"{run_id!r}: a run id may hold letters, digits and . _ = - only")
    raw.mkdir(parents=True, exist_ok=True)
    try:
        (raw / run_id).mkdir()
    except FileExistsError:
        raise CollectError(f"{raw / run_id}: run directory exists; collect never overwrites a run") from None
    return raw / run_id


def write_meta(run_dir: Path, meta: dict[str, Any]) -> None:
    temporary = run_dir / ".meta.json.tmp"
    temporary.write_text(json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=2) + "\n")
    os.replace(temporary, run_dir / "meta.json")


def rfc3339_now() -> str:
    """Docker's `--timestamps` form, UTC with nanoseconds."""
    ns = time.time_ns()
    return dt.datetime.fromtimestamp(ns // 10**9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"


class LogWriter:
    """Appends lines to train.log from several threads, flushing at least once a second."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8", errors="replace")
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.lines = 0

    def write(self, line: str) -> None:
        with self._lock:
            self._file.write(line if line.endswith("\n") else line + "\n")
            self.lines += 1
            now = time.monotonic()
            if now - self._last_flush >= 1.0:
                self._file.flush()
                self._last_flush = now

    def flush(self) -> None:
        with self._lock:
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
