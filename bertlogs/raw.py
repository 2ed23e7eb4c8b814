"""The raw archive's files as collect writes them and the parsers read them: shared by both, and free of
polars so that collect stays light (see the README's "Raw archive")."""

from __future__ import annotations

# collect's gpu.csv, its columns in order (units in the names), each with the SAMPLE_SCHEMA column the CSV
# parser reads it into; None: bookkeeping (mono_ns, latency_ms) or a reading no figure uses, kept in the file.
GPU_CSV_COLUMNS: dict[str, str | None] = {
    "sample": "sample",
    "time_unix_s": "time",
    "mono_ns": None,
    "latency_ms": None,
    "gpu": "gpu",
    "power_w": "power_w",
    "power_instant_w": None,
    "energy_mj": "energy_mj",
    "memory_used_mib": "memory_used_mib",
    "memory_total_mib": "memory_total_mib",
    "util_pct": "util_pct",
    "mem_util_pct": "mem_util_pct",
    "temp_c": "temp_c",
    "sm_clock_mhz": None,
    "pstate": None,
}
