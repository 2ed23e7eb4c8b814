"""A stand-in for the pynvml module, per driver scenario (tests have no GPU)."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

NOT_SUPPORTED, GPU_IS_LOST, LIBRARY_NOT_FOUND = 3, 15, 12


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {
            NOT_SUPPORTED: "Not Supported",
            GPU_IS_LOST: "GPU is lost",
            LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
        }.get(self.value, f"error {self.value}")


@dataclass
class FakeGpu:
    name: str = "Tesla V100-PCIE-32GB"
    power_mw: int = 150_000
    util: int = 80
    energy: bool = True  # Volta and newer have the total-energy counter
    power_fields: bool = True  # drivers 535+ expose average and instant power as field values
    lost_after_reads: int | None = None


def module(gpus: list[FakeGpu], *, missing: bool = False) -> types.ModuleType:
    reads = [0] * len(gpus)
    energy_mj = [1_000_000] * len(gpus)
    mod = types.ModuleType("pynvml")

    def checked(handle: int) -> FakeGpu:
        gpu = gpus[handle]
        if gpu.lost_after_reads is not None and reads[handle] >= gpu.lost_after_reads:
            raise NVMLError(GPU_IS_LOST)
        return gpu

    def init() -> None:
        if missing:
            raise NVMLError(LIBRARY_NOT_FOUND)

    def memory(handle: int) -> Any:
        checked(handle)
        return types.SimpleNamespace(used=9000 * 2**20, total=32510 * 2**20)

    def energy(handle: int) -> int:
        if not checked(handle).energy:
            raise NVMLError(NOT_SUPPORTED)
        energy_mj[handle] += 15_000  # 150 W for 0.1 s
        return energy_mj[handle]

    def fields(handle: int, ids: list[int]) -> list[Any]:
        gpu = checked(handle)
        if not gpu.power_fields:
            raise NVMLError(NOT_SUPPORTED)
        value = {185: gpu.power_mw, 186: gpu.power_mw + 20_000}
        return [
            types.SimpleNamespace(fieldId=i, nvmlReturn=0, value=types.SimpleNamespace(uiVal=value[i])) for i in ids
        ]

    def pstate(handle: int) -> int:
        checked(handle)
        reads[handle] += 1  # the last call of a sample: one more whole sample answered
        return 0

    mod.__dict__.update(
        NVMLError=NVMLError,
        NVML_ERROR_NOT_SUPPORTED=NOT_SUPPORTED,
        NVML_ERROR_GPU_IS_LOST=GPU_IS_LOST,
        NVML_TEMPERATURE_GPU=0,
        NVML_CLOCK_SM=1,
        nvmlInit=init,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: len(gpus),
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlSystemGetDriverVersion=lambda: "535.54.03",
        nvmlDeviceGetName=lambda h: gpus[h].name,
        nvmlDeviceGetUUID=lambda h: f"GPU-fake-{h}",
        nvmlDeviceGetEnforcedPowerLimit=lambda h: 250_000,
        nvmlDeviceGetPowerUsage=lambda h: checked(h).power_mw,
        nvmlDeviceGetTotalEnergyConsumption=energy,
        nvmlDeviceGetMemoryInfo=memory,
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=checked(h).util, memory=30),
        nvmlDeviceGetTemperature=lambda h, sensor: 60,
        nvmlDeviceGetClockInfo=lambda h, clock: 1380,
        nvmlDeviceGetPerformanceState=pstate,
        nvmlDeviceGetFieldValues=fields,
    )
    return mod
