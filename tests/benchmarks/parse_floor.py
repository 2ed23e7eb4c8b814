#!/usr/bin/env python3
"""Benchmark (not a test): parsing alone, against `grep -c` on the same file in the same run (the I/O floor).

The formats read in chunks (`Entry.chunks`), each against its reference reading. Each measurement runs in a fresh
process (`nice`), the readings take turns (grep, reference, fast, grep, ...) and medians are printed: wall and
CPU seconds of the parse (imports excluded), peak RSS of the process, and its rise over the RSS after imports.

  smi-table: the 150 MB `grep %` capture of analyze_scale.py; reference = the one polars query
             (`smi_table._parse_polars`), fast = `smi_table.chunks` iterated and concatenated (`parse`);
             and on the 1,000-run archive: `parse_many` (the captures joined a piece at a time, read by numpy)
             vs the fast path file by file (`chunks`).
  smi-csv:   the 131 MB CSV capture; reference = `smi_csv.parse` (one query over the file), fast =
             `smi_csv.chunks` concatenated (what `analyze` reads, in pieces).

Usage: python tests/benchmarks/parse_floor.py [WORKDIR] [--repeat 5]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# run in the child process: prints {"wall_s", "cpu_s", "rss_mb", "base_mb"}
_CHILD = """
import json, resource, sys, time
from pathlib import Path
import polars as pl
from bertlogs.allocator import reuse_freed_memory
from bertlogs.parsers import smi_csv, smi_table
from bertlogs.parsers.text import Source
reuse_freed_memory()  # as the CLI does
module, mode, paths = sys.argv[1], sys.argv[2], [Path(p) for p in sys.argv[3:]]
parser = smi_table if module == "smi-table" else smi_csv
reference = smi_table._parse_polars if module == "smi-table" else smi_csv.parse
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
wall, cpu = time.perf_counter(), time.process_time()
sources = [Source(p).without_truncated_line()[0] for p in paths]
if mode == "reference":
    frames = [reference(s, utc_offset_s=0.0)[0] for s in sources]
elif mode == "fast":
    frames = [pl.concat(parser.chunks(s, utc_offset_s=0.0), rechunk=True) for s in sources]
elif mode == "fast-dropped":  # chunks iterated, each dropped: the streaming bound
    frames = [pl.DataFrame({"rows": [sum(f.height for f in parser.chunks(s, utc_offset_s=0.0))]}) for s in sources]
else:  # batched: `parse_many`, the captures joined a piece at a time
    frames = [f for f, _ in smi_table.parse_many(sources, utc_offsets_s=[0.0] * len(sources))]
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "rss_mb": rss / 1024, "base_mb": base / 1024}))
"""


def _grep(path: Path) -> dict[str, float]:
    wall = time.perf_counter()
    subprocess.run(["nice", "grep", "-c", "%", str(path)], check=False, capture_output=True)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": float("nan"), "rss_mb": float("nan"), "base_mb": 0.0}


def _parse(module: str, mode: str, paths: list[Path]) -> dict[str, float]:
    command = ["nice", sys.executable, "-c", _CHILD, module, mode, *map(str, paths)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.splitlines()[-1])


def _report(name: str, readings: dict[str, list[dict[str, float]]], floor_s: float | None) -> None:
    for mode, runs in readings.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        ratio = f"{med['wall_s'] / floor_s:5.1f}x grep" if floor_s else "          "
        rise = med["rss_mb"] - med["base_mb"]
        print(
            f"{name:<22} {mode:<13} wall {med['wall_s']:6.3f} s  {ratio}  cpu {med['cpu_s']:6.3f} s  "
            f"peak RSS {med['rss_mb']:6.0f} MB (+{rise:4.0f} over imports)"
        )


def one_capture(module: str, path: Path, repeat: int) -> None:
    """One big capture: grep -c, the reference, the fast path (kept, and dropped chunk by chunk)."""
    modes = ["grep", "reference", "fast", "fast-dropped"]
    readings: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for _ in range(repeat):
        for mode in modes:  # taking turns: the machine's load shifts between readings alike
            readings[mode].append(_grep(path) if mode == "grep" else _parse(module, mode, [path]))
    floor = statistics.median(r["wall_s"] for r in readings.pop("grep"))
    name = f"{module} {path.stat().st_size / 1e6:.0f} MB"
    print(f"{name}: grep -c % {floor:.3f} s")
    _report(name, readings, floor)


def smi_table_archive(workdir: Path, repeat: int) -> None:
    """The 1,000 small captures: `parse_many` (joined a piece at a time) against the fast path file by file."""
    paths = sorted((workdir / "archive-1000").glob("*/nvidia-smi.log"))
    readings: dict[str, list[dict[str, float]]] = {"batched": [], "fast": []}
    for _ in range(repeat):
        for mode in readings:
            readings[mode].append(_parse("smi-table", mode, paths))
    print(f"smi-table archive: {len(paths)} captures")
    _report("smi-table archive", readings, None)


def main() -> None:
    args = sys.argv[1:]
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 5
    positional = [a for i, a in enumerate(args) if not a.startswith("--") and (i == 0 or args[i - 1] != "--repeat")]
    workdir = Path(positional[0]) if positional else Path("/tmp/bertlogs-bench")
    one_capture("smi-table", workdir / "big-legacy" / "run" / "nvidia-smi.log", repeat)
    one_capture("smi-csv", workdir / "big-csv" / "run" / "gpu.csv", repeat)
    smi_table_archive(workdir, repeat)


if __name__ == "__main__":
    main()
