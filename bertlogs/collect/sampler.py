"""The drift-free sampling loop and the gpu.csv it appends to."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from bertlogs.raw import GPU_CSV_COLUMNS


class Sampler(threading.Thread):
    """Calls `read` at start + k * interval on the monotonic clock and appends one row per GPU.

    A tick that comes late (the previous read overran) is skipped, never bunched: the next read waits for
    the next slot of the schedule, so the period never drifts. A write error (full disk) stops the sampler and
    is kept in `error`.
    """

    def __init__(self, read: Callable[[], list[dict[str, Any]]], out: TextIO, interval_s: float) -> None:
        super().__init__(daemon=True)
        self._read, self._out, self.interval_s = read, out, interval_s
        self._stop_event = threading.Event()
        self.samples = self.skipped = 0
        self.latest: list[dict[str, Any]] = []
        self.error: str | None = None

    def stop(self) -> None:
        self._stop_event.set()
        if self.ident is not None:  # started
            self.join()

    def run(self) -> None:
        try:
            self._loop()
            self._sample()  # one last reading as the run ends: the capture covers the end of the run
            self._out.flush()
        except OSError as exc:
            self.error = f"{getattr(self._out, 'name', 'gpu.csv')}: cannot write: {exc.strerror or exc}"

    def _loop(self) -> None:
        interval_ns = int(self.interval_s * 1e9)
        start = time.monotonic_ns()
        last_flush = start
        k = 0
        while not self._stop_event.is_set():
            due = start + k * interval_ns
            delay = (due - time.monotonic_ns()) / 1e9
            if delay > 0 and self._stop_event.wait(delay):
                break
            after = self._sample()
            if after - last_flush >= 1_000_000_000:
                self._out.flush()
                last_flush = after
            # the next slot after now: late ticks are skipped
            next_k = max(k + 1, (after - start) // interval_ns + 1)
            self.skipped += next_k - k - 1
            k = next_k

    def _sample(self) -> int:
        """One reading of every GPU, written; returns when it finished (monotonic ns)."""
        before_wall, before = time.time_ns(), time.monotonic_ns()
        rows = self._read()
        after = time.monotonic_ns()
        self._write(rows, before_wall, before, after)
        return after

    def _write(self, rows: list[dict[str, Any]], wall_ns: int, mono_ns: int, done_ns: int) -> None:
        latency_ms = (done_ns - mono_ns) / 1e6
        # the reading's time is the middle of the query
        wall = (wall_ns + (done_ns - mono_ns) / 2) / 1e9
        for row in rows:
            fixed = {
                "sample": self.samples,
                "time_unix_s": f"{wall:.6f}",
                "mono_ns": mono_ns,
                "latency_ms": f"{latency_ms:.3f}",
            }
            cells = [fixed.get(c, row.get(c)) for c in GPU_CSV_COLUMNS]
            self._out.write(",".join("" if v is None else _fmt(v) for v in cells) + "\n")
        self.latest = rows
        self.samples += 1


def _fmt(value: Any) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
