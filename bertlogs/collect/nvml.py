"""GPU readings through NVML (nvidia-ml-py). The only module that imports pynvml.

Every NVML call goes through `_read`, which turns "not supported" into None; a GPU that stops answering
(lost, unknown error) gives rows of empty values and one warning, and the other GPUs go on.
"""

from __future__ import annotations

from typing import Any

# NVML_FI_DEV_POWER_AVERAGE / _INSTANT field ids (drivers 535+); older drivers answer "not supported"
_POWER_AVERAGE, _POWER_INSTANT = 185, 186


class NvmlSource:
    """Reads every chosen GPU once per call of `read`."""

    name = "nvml"

    def __init__(self, gpus: list[int] | None) -> None:
        import pynvml  # lazily: importing bertlogs never needs a GPU

        self._nvml: Any = pynvml
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        self.indices = [g for g in (gpus if gpus is not None else range(count)) if 0 <= g < count]
        self._handles = {g: pynvml.nvmlDeviceGetHandleByIndex(g) for g in self.indices}
        self.lost: set[int] = set()
        self.warnings: list[str] = []
        if gpus is not None and len(self.indices) < len(gpus):
            self.warnings.append(f"GPU(s) {sorted(set(gpus) - set(self.indices))} not present ({count} GPUs)")

    def describe(self) -> list[dict[str, Any]]:
        nvml = self._nvml
        driver = self._read(None, nvml.nvmlSystemGetDriverVersion)
        return [
            {
                "index": g,
                "name": _text(self._read(g, nvml.nvmlDeviceGetName, h)),
                "uuid": _text(self._read(g, nvml.nvmlDeviceGetUUID, h)),
                "driver": _text(driver),
                "power_limit_w": _scaled(self._read(g, nvml.nvmlDeviceGetEnforcedPowerLimit, h), 1e-3),
            }
            for g, h in self._handles.items()
        ]

    def read(self) -> list[dict[str, Any]]:
        return [self._read_gpu(g, h) for g, h in self._handles.items()]

    def close(self) -> None:
        self._read(None, self._nvml.nvmlShutdown)

    def _read_gpu(self, gpu: int, h: Any) -> dict[str, Any]:
        nvml = self._nvml
        row: dict[str, Any] = {"gpu": gpu}
        if gpu in self.lost:
            return row
        memory = self._read(gpu, nvml.nvmlDeviceGetMemoryInfo, h)
        util = self._read(gpu, nvml.nvmlDeviceGetUtilizationRates, h)
        fields = self._fields(gpu, h)
        row.update(
            power_w=_scaled(fields.get(_POWER_AVERAGE) or self._read(gpu, nvml.nvmlDeviceGetPowerUsage, h), 1e-3),
            power_instant_w=_scaled(fields.get(_POWER_INSTANT), 1e-3),
            energy_mj=self._read(gpu, nvml.nvmlDeviceGetTotalEnergyConsumption, h),
            memory_used_mib=memory.used / 2**20 if memory is not None else None,
            memory_total_mib=memory.total / 2**20 if memory is not None else None,
            util_pct=util.gpu if util is not None else None,
            mem_util_pct=util.memory if util is not None else None,
            temp_c=self._read(gpu, nvml.nvmlDeviceGetTemperature, h, nvml.NVML_TEMPERATURE_GPU),
            sm_clock_mhz=self._read(gpu, nvml.nvmlDeviceGetClockInfo, h, nvml.NVML_CLOCK_SM),
            pstate=self._read(gpu, nvml.nvmlDeviceGetPerformanceState, h),
        )
        if gpu in self.lost:  # lost during this very read: no half rows
            return {"gpu": gpu}
        return row

    def _fields(self, gpu: int, h: Any) -> dict[int, int]:
        values = self._read(gpu, self._nvml.nvmlDeviceGetFieldValues, h, [_POWER_AVERAGE, _POWER_INSTANT])
        if values is None:
            return {}
        return {v.fieldId: v.value.uiVal for v in values if v.nvmlReturn == 0}

    def _read(self, gpu: int | None, call: Any, *args: Any) -> Any:
        nvml = self._nvml
        try:
            return call(*args)
        except nvml.NVMLError as exc:
            if exc.value in (nvml.NVML_ERROR_NOT_SUPPORTED, getattr(nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", -1)):
                return None
            if gpu is not None and gpu not in self.lost:
                self.lost.add(gpu)
                self.warnings.append(f"GPU {gpu} stopped answering NVML ({exc}); its rows are empty from here on")
            return None


def _scaled(value: Any, factor: float) -> float | None:
    return value * factor if isinstance(value, (int, float)) else None


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
