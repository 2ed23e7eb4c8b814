"""Fallback without NVML: ONE long-lived `nvidia-smi --query-gpu ... -lms N` process, read line by line.

The GPUs' facts (name, UUID, driver, power limit) come from one query before sampling starts, so meta.json
lists every GPU; the source is ready once every one of them has answered the loop.
"""

from __future__ import annotations

import subprocess
import threading
from typing import Any

# nvidia-smi query field -> gpu.csv column
READINGS: dict[str, str] = {
    "index": "gpu",
    "power.draw": "power_w",
    "memory.used": "memory_used_mib",
    "memory.total": "memory_total_mib",
    "utilization.gpu": "util_pct",
    "utilization.memory": "mem_util_pct",
    "temperature.gpu": "temp_c",
    "clocks.sm": "sm_clock_mhz",
    "pstate": "pstate",
}
# nvidia-smi query field -> meta.json's GPU key
FACTS: dict[str, str] = {
    "index": "index",
    "name": "name",
    "uuid": "uuid",
    "driver_version": "driver",
    "power.limit": "power_limit_w",
}
FIRST_ANSWER_S = 10.0


class SmiSource:
    """Keeps the latest row nvidia-smi printed for each GPU; `read` hands out the latest values."""

    name = "nvidia-smi"

    def __init__(self, gpus: list[int] | None, interval_s: float, executable: str = "nvidia-smi") -> None:
        self._command = [executable, "--format=csv,noheader,nounits"]
        if gpus is not None:
            self._command.append(f"--id={','.join(map(str, gpus))}")
        self._latest: dict[int, dict[str, Any]] = {}
        self._info: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._all_answered = threading.Event()
        self.warnings: list[str] = []
        loop = [*self._command, f"--query-gpu={','.join(READINGS)}", "-lms", str(max(int(interval_s * 1000), 1))]
        # the loop starts while the facts are queried: sampling begins as early as it can
        self._process = subprocess.Popen(loop, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            info = self._query_facts()
        except OSError:
            self.close()
            raise
        with self._lock:
            self._info = info
            self._check_all_answered()
        self.indices = sorted(info)
        if gpus is not None and set(gpus) - set(info):
            self.warnings.append(f"GPU(s) {sorted(set(gpus) - set(info))} not present")
        if not self._all_answered.wait(FIRST_ANSWER_S):
            self.close()
            raise OSError(f"nvidia-smi did not report every GPU ({self.indices}) within {FIRST_ANSWER_S:g} s")

    def _check_all_answered(self) -> None:
        if self._info and self._latest.keys() >= self._info.keys():
            self._all_answered.set()

    def _query_facts(self) -> dict[int, dict[str, Any]]:
        query = [*self._command, f"--query-gpu={','.join(FACTS)}"]
        try:
            done = subprocess.run(query, capture_output=True, text=True, timeout=FIRST_ANSWER_S, check=False)
        except subprocess.TimeoutExpired:
            raise OSError(f"nvidia-smi did not answer within {FIRST_ANSWER_S:g} s") from None
        info = {}
        for line in done.stdout.splitlines():
            cells = dict(zip(FACTS.values(), (c.strip() for c in line.split(",")), strict=False))
            if len(cells) == len(FACTS) and cells["index"].isdigit():
                info[int(cells["index"])] = {
                    **cells,
                    "index": int(cells["index"]),
                    "power_limit_w": _number(cells["power_limit_w"]),
                }
        if not info:
            raise OSError(f"nvidia-smi lists no GPU (exit code {done.returncode})")
        return info

    def _pump(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            cells = dict(zip(READINGS, (c.strip() for c in line.split(",")), strict=False))
            if len(cells) != len(READINGS) or not cells["index"].isdigit():
                continue
            row: dict[str, Any] = {column: _number(cells[field]) for field, column in READINGS.items()}
            row["gpu"], row["pstate"] = int(cells["index"]), _number(cells["pstate"].lstrip("P"))
            with self._lock:
                self._latest[row["gpu"]] = row
                self._check_all_answered()

    def describe(self) -> list[dict[str, Any]]:
        return [self._info[g] for g in self.indices]

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
