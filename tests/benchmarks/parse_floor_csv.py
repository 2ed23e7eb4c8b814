#!/usr/bin/env python3
"""Benchmark (not a test): the smi-csv parser alone against the I/O floor, `grep -c %` on the same file.

Each measurement runs in a fresh process (so that its peak RSS is its own), taking turns between the ways of
reading the file, and prints the medians: wall and CPU seconds of the parse (imports and opening excluded),
the ratio of the wall time to `grep -c %` timed in the same turn, and the process's peak RSS (imports included;
`baseline` is the RSS once bertlogs and polars are imported).

  parse      `smi_csv.parse`: one query over the whole file
  chunks     `smi_csv.chunks`, each frame dropped once read (what bounded memory means)
  concat     `smi_csv.chunks`, the frames kept and concatenated (the frame `parse` gives)

Usage: nice python tests/benchmarks/parse_floor_csv.py [FILE] [--repeat 5]
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

DEFAULT = Path("/tmp/bertlogs-bench/big-csv/run/gpu.csv")
WAYS = ("parse", "chunks", "concat")


def measure(way: str, path: Path) -> dict[str, float]:
    """In this process: one parse of `path` the `way` named, its wall and CPU seconds and the peak RSS."""
    import polars as pl

    from bertlogs.parsers import smi_csv
    from bertlogs.parsers.text import Source

    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    source, _ = Source(path).without_truncated_line()
    wall, cpu = time.perf_counter(), time.process_time()
    if way == "chunks":
        rows = sum(frame.height for frame in smi_csv.chunks(source, utc_offset_s=0.0))
    elif way == "concat":
        rows = pl.concat(smi_csv.chunks(source, utc_offset_s=0.0), rechunk=False).height
    else:
        rows = smi_csv.parse(source, utc_offset_s=0.0)[0].height
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": peak_mb, "baseline_mb": baseline_mb, "rows": rows}


def grep_s(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["grep", "-c", "%", str(path)], check=False, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str]) -> None:
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 5
    files = [a for a in argv if not a.startswith("--") and not a.isdigit()]
    path = Path(files[0]) if files else DEFAULT
    runs: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    for _ in range(repeat):
        for way in WAYS:  # taking turns: a busy moment of the machine falls on every way alike
            floor_s = grep_s(path)
            child = [sys.executable, __file__, "--child", way, str(path)]
            found = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
            runs[way].append(found | {"ratio": found["wall_s"] / floor_s, "grep_s": floor_s})
    size_mb = path.stat().st_size / 2**20
    print(f"{path} ({size_mb:.0f} MiB, {runs['parse'][0]['rows']:.0f} rows), medians of {repeat}:")
    for way, found in runs.items():
        med = {key: statistics.median(r[key] for r in found) for key in found[0]}
        print(
            f"  {way:<9} wall {med['wall_s']:.3f} s  cpu {med['cpu_s']:.3f} s  {med['ratio']:.1f}x grep -c "
            f"({med['grep_s']:.3f} s)  peak RSS {med['peak_mb']:.0f} MB (baseline {med['baseline_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure(sys.argv[2], Path(sys.argv[3]))))
    else:
        main(sys.argv[1:])
