"""Fallback without NVML: ONE long-lived `nvidia-smi --query-gpu ... -lms N` process, read line by line."""

from __future__ import annotations

import subprocess
import threading
from typing import Any

# nvidia-smi query field -> gpu.csv column; None: a fact about the GPU for meta.json, not a reading
QUERY: dict[str, str | None] = {
    "index": "gpu",
    "power.draw": "power_w",
    "memory.used": "memory_used_mib",
    "memory.total": "memory_total_mib",
    "utilization.gpu": "util_pct",
    "utilization.memory": "mem_util_pct",
    "temperature.gpu": "temp_c",
    "clocks.sm": "sm_clock_mhz",
    "pstate": "pstate",
    "name": None,
    "uuid": None,
    "driver_version": None,
    "power.limit": None,
}


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
            cells = dict(zip(QUERY, (c.strip() for c in line.split(",")), strict=False))
            if len(cells) != len(QUERY) or not cells["index"].isdigit():
                continue
            row: dict[str, Any] = {column: _number(cells[field]) for field, column in QUERY.items() if column}
            row["gpu"], row["pstate"] = int(cells["index"]), _number(cells["pstate"].lstrip("P"))
            info = {
                "index": row["gpu"],
                "name": cells["name"],
                "uuid": cells["uuid"],
                "driver": cells["driver_version"],
                "power_limit_w": _number(cells["power.limit"]),
            }
            with self._lock:
                self._latest[row["gpu"]] = row
                self._info[row["gpu"]] = info
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
