"""Fallback without NVML: ONE long-lived `nvidia-smi --query-gpu ... -lms N` process, read line by line."""

from __future__ import annotations

import subprocess
import threading
from typing import Any

QUERY = [
    "index",
    "power.draw",
    "memory.used",
    "memory.total",
    "utilization.gpu",
    "utilization.memory",
    "temperature.gpu",
    "clocks.sm",
    "pstate",
    "name",
    "uuid",
    "driver_version",
    "power.limit",
]
_COLUMNS = [
    "gpu",
    "power_w",
    "memory_used_mib",
    "memory_total_mib",
    "util_pct",
    "mem_util_pct",
    "temp_c",
    "sm_clock_mhz",
    "pstate",
]


class SmiSource:
    """Keeps the latest row nvidia-smi printed for each GPU; `read` hands out the latest values."""

    name = "nvidia-smi"

    def __init__(self, gpus: list[int] | None, interval_s: float, executable: str = "nvidia-smi") -> None:
        command = [
            executable,
            f"--query-gpu={','.join(QUERY)}",
            "--format=csv,noheader,nounits",
            "-lms",
            str(max(int(interval_s * 1000), 1)),
        ]
        if gpus is not None:
            command.append(f"--id={','.join(map(str, gpus))}")
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._latest: dict[int, dict[str, Any]] = {}
        self._info: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._first = threading.Event()
        self.warnings: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._first.wait(10):
            self.close()
            raise OSError("nvidia-smi printed nothing within 10 s")
        self.indices = sorted(self._latest)

    def _pump(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            cells = [c.strip() for c in line.split(",")]
            if len(cells) != len(QUERY) or not cells[0].isdigit():
                continue
            row: dict[str, Any] = {name: _number(cell) for name, cell in zip(_COLUMNS, cells, strict=False)}
            row["gpu"], row["pstate"] = int(cells[0]), _number(cells[8].lstrip("P"))
            with self._lock:
                self._latest[row["gpu"]] = row
                self._info[row["gpu"]] = {
                    "index": row["gpu"],
                    "name": cells[9],
                    "uuid": cells[10],
                    "driver": cells[11],
                    "power_limit_w": _number(cells[12]),
                }
            self._first.set()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._info[g] for g in sorted(self._info)]

    def read(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(self._latest[g]) for g in sorted(self._latest)]

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None  # [N/A], [Not Supported]
