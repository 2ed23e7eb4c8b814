"""The raw archive of one run: raw/<run-id>/meta.json, train.log, gpu.csv, events/.

Never overwrites: the run directory is created with mkdir (fails if it exists); logs are append-only;
meta.json is replaced atomically (write a temporary file, then rename). Disk errors become CollectError: a
writer that fails keeps the first error and drops what follows, so collect can stop and say why.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bertlogs.errors import CollectError, CollectWriteError

FORMAT_VERSION = 1
# the next meta.json is written into these preallocated bytes: the final one, with its reason, fits on a full disk
META_RESERVE_BYTES = 64 * 1024
MAX_RUN_ID_SUFFIX = 1000


def default_run_id(labels: dict[str, str], now_s: float) -> str:
    stamp = dt.datetime.fromtimestamp(now_s, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    words = [re.sub(r"[^A-Za-z0-9.]+", "-", v).strip("-.") for v in labels.values()]  # `.5x`: not hidden
    return "-".join([w for w in words if w] + [stamp])


def create_run_dir(raw: Path, run_id: str, *, suffixed: bool = False) -> Path:
    """A new, empty run directory, made by mkdir (atomic: two collects never get the same one).

    An explicit id that exists is an error; a default one (`suffixed`) takes the first free `-2`, `-3`, ...

    Raises:
        CollectError: a bad id, an explicit id that exists, or `raw` cannot be created or written.
    """
    if not re.fullmatch(r"[A-Za-z0-9_=-][A-Za-z0-9._=-]*", run_id):  # a leading . would hide it from analyze
        raise CollectError(f"{run_id!r}: a run id holds letters, digits and . _ = - only, and starts with no .")
    try:
        raw.mkdir(parents=True, exist_ok=True)
        for n in range(1, MAX_RUN_ID_SUFFIX + 1 if suffixed else 2):
            candidate = raw / (run_id if n == 1 else f"{run_id}-{n}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as exc:
        raise CollectWriteError(f"{raw}: cannot create the run directory: {exc.strerror or exc}") from None
    raise CollectError(f"{raw / run_id}: run directory exists; collect never overwrites a run")


def write_meta(run_dir: Path, meta: dict[str, Any], *, reserve: bool) -> None:
    """Replace meta.json atomically; with `reserve`, preallocate the space the next write will use.

    Raises:
        OSError: it could not be written (meta.json is then the previous one, whole).
    """
    text = (json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=2) + "\n").encode()
    temporary = run_dir / ".meta.json.tmp"
    with temporary.open("r+b" if temporary.exists() else "wb") as file:
        file.write(text)  # into the reserved bytes, if any: no new blocks needed
        file.truncate()
    os.replace(temporary, run_dir / "meta.json")
    if reserve:
        try:
            with temporary.open("xb") as file:
                file.write(bytes(META_RESERVE_BYTES))
        except OSError:
            temporary.unlink(missing_ok=True)


def rfc3339_now() -> str:
    """Docker's `--timestamps` form, UTC with nanoseconds."""
    ns = time.time_ns()
    return dt.datetime.fromtimestamp(ns // 10**9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"


class LogWriter:
    """Appends lines to train.log from several threads, flushing at least once a second.

    The first write error is kept in `error` and later lines are dropped: what was written stays readable.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8", errors="replace")
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.lines = 0
        self.error: str | None = None

    def write(self, line: str) -> None:
        with self._lock:
            self._guarded(self._file.write, line if line.endswith("\n") else line + "\n")
            self.lines += self.error is None
            now = time.monotonic()
            if now - self._last_flush >= 1.0:
                self._guarded(self._file.flush)
                self._last_flush = now

    def flush(self) -> None:
        with self._lock:
            self._guarded(self._file.flush)

    def close(self) -> None:
        with self._lock:
            try:
                self._file.close()  # a failed last flush still releases the descriptor
            except OSError as exc:
                self.error = self.error or self._reason(exc)

    def _guarded(self, call: Callable[..., object], *args: object) -> None:
        if self.error is not None:
            return
        try:
            call(*args)
        except OSError as exc:
            self.error = self._reason(exc)

    def _reason(self, exc: OSError) -> str:
        return f"{self.path}: cannot write: {exc.strerror or exc}"
