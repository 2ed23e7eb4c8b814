#!/usr/bin/env python3
"""Benchmark (not a test): `bertlogs analyze --out` on big captures and big archives.

Generates its inputs deterministically under WORKDIR (default /tmp/bertlogs-bench), then for each case prints wall
time (process start to exit, reports written), MB/s, CPU seconds (workers included), peak RSS (the largest
process's; for an archive, also the process tree's, summed), and the ratios to `grep -c` on the same bytes (the I/O
floor) and to a naive Python loop with one regex per line doing the same extraction. The naive loop's CPU seconds,
measured in the same turns, are the machine's speed at the time: bertlogs' CPU against them compares runs made while
this machine ran at different speeds (it drifts by tens of percent within minutes).

  (a) one run whose legacy capture (`nvidia-smi | grep %` rows + `date +%s.%N` lines) is ~150 MB
  (b) an archive of 1,000 runs with a ~100 KB capture each
  (c) one run whose nvidia-smi --query-gpu CSV capture is ~130 MB (1.75 million samples)
  (d) as (a), ~1.5 GB (15 million samples)
  (e) as (c), ~1.3 GB
  (f) an archive of 10,000 runs (the runs of (b), each copied 10 times)

For the single-capture cases it also prints the parse alone (in one process, imports not counted: the capture
read a chunk at a time, as `analyze` reads it) against `grep -c`, and for (d) and (e) the time per byte against
(a) and (c) when those ran too.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEMO_RUN = REPO / "fixtures" / "cola-sweep" / "base-bs2"
ROW = "| {fan:>3}%   {temp:>2}C    P2  {power:>4}W / 250W |  {mem:>5}MiB / 11019MiB | {util:>6}%      Default |\n"


def legacy_capture(path: Path, samples: int, seed: int) -> None:
    """`grep %` rows, each followed by its `date +%s.%N` stamp, ~0.31 s apart, training in the middle."""
    rng = np.random.default_rng(seed)
    times = 1574690400 + np.cumsum(0.2 + rng.normal(0.11, 0.01, samples).clip(0.08, 0.2))
    busy = (np.arange(samples) > samples * 0.05) & (np.arange(samples) < samples * 0.95)
    power = np.where(busy, 200 + rng.integers(-10, 10, samples), 55)
    util = np.where(busy, 85 + rng.integers(-5, 5, samples), 0)
    chunk = 200_000
    with path.open("w") as f:
        for lo in range(0, samples, chunk):
            f.write(
                "".join(
                    ROW.format(fan=40, temp=70, power=power[i], mem=10400, util=util[i]) + f"{times[i]:.9f}\n"
                    for i in range(lo, min(lo + chunk, samples))
                )
            )


def csv_capture(path: Path, samples: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    start = 1574690400 + np.cumsum(np.full(samples, 0.1))
    with path.open("w") as f:
        f.write(
            "timestamp, index, power.draw [W], memory.used [MiB], memory.total [MiB], utilization.gpu [%], "
            "utilization.memory [%], temperature.gpu\n"
        )
        chunk = 200_000
        for lo in range(0, samples, chunk):
            rows = []
            for i in range(lo, min(lo + chunk, samples)):
                stamp = (
                    time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(start[i])) + f".{int(start[i] * 1000) % 1000:03d}"
                )
                busy = samples * 0.05 < i < samples * 0.95
                rows.append(
                    f"{stamp}, 0, {200.0 + rng.random() * 20 if busy else 55.0:.2f} W, 10400 MiB, 11019 MiB, "
                    f"{85 if busy else 0} %, 30 %, 70\n"
                )
            f.write("".join(rows))


def make_inputs(work: Path, cases: str) -> dict[str, Path]:
    log = (DEMO_RUN / "run_classifier.log").read_text()
    made = {}
    for case, name, samples, maker in (
        ("a", "big-legacy", 1_500_000, legacy_capture),
        ("c", "big-csv", 1_750_000, csv_capture),
        ("d", "huge-legacy", 15_000_000, legacy_capture),
        ("e", "huge-csv", 17_500_000, csv_capture),
    ):
        if case not in cases:
            continue
        run = work / name / "run"
        capture = run / ("nvidia-smi.log" if maker is legacy_capture else "gpu.csv")
        if not capture.exists():
            run.mkdir(parents=True, exist_ok=True)
            (run / "run_classifier.log").write_text(log)
            maker(capture, samples, seed=1)
        made[case] = work / name
    if "b" in cases or "f" in cases:
        root = work / "archive-1000"
        if not (root / "run-0999").exists():
            for i in range(1000):
                run = root / f"run-{i:04d}"
                run.mkdir(parents=True, exist_ok=True)
                (run / "run_classifier.log").write_text(log)
                legacy_capture(run / "nvidia-smi.log", 1000, seed=i)
        if "b" in cases:
            made["b"] = root
    if "f" in cases:
        many = work / "archive-10000"
        if not (many / "run-9999").exists():
            for i in range(10_000):
                shutil.copytree(root / f"run-{i % 1000:04d}", many / f"run-{i:04d}", dirs_exist_ok=True)
        made["f"] = many
    return made


def captures(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name in ("nvidia-smi.log", "gpu.csv"))


# The parse alone, in one process (imports not counted), its allocator set as the CLI sets it: the capture read
# a chunk at a time as `analyze` reads it (`parse_chunks`), each chunk dropped; prints its wall and CPU seconds
# and the samples.
PARSE_ALONE = r"""
import sys, time
from pathlib import Path
from bertlogs.allocator import reuse_freed_memory
from bertlogs.parsers import open_file, parse_chunks
reuse_freed_memory()
wall, cpu = time.perf_counter(), time.process_time()
rows = sum(chunk.frame.height for chunk in parse_chunks(*open_file(Path(sys.argv[1]))))
print(time.perf_counter() - wall, time.process_time() - cpu, rows)
"""


def parse_alone(path: Path, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of parsing `path` alone."""
    found = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", PARSE_ALONE, str(path)], capture_output=True, text=True, check=True)
        wall, cpu, _ = out.stdout.split()
        found.append((float(wall), float(cpu)))
    return statistics.median(w for w, _ in found), statistics.median(c for _, c in found)


Turn = tuple[float, float, float, float, float]  # one run's figures, as `run_once` gives them


def run_once(argv: list[str]) -> Turn:
    """Wall seconds, peak RSS (MB, of the largest process), CPU seconds (user + system, its workers included), the
    system (kernel) seconds among them, and the peak of the process tree's summed RSS (MB, `TreePeak`), of one run
    of a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree = TreePeak(child.pid)
    tree.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    tree.stopping.set()
    tree.join()
    if status != 0:
        raise SystemExit(f"{argv} failed with status {status}")
    if tree.failure is not None:  # a sampler that died has no peak to give
        raise tree.failure
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, usage.ru_stime, tree.peak_mb


class TreePeak(threading.Thread):
    """The peak, over samples every SAMPLE_S, of the summed VmRSS of a process and its descendants (an analysis'
    workers: the kernel's peak RSS is the largest process's alone), read from /proc; pages two processes share,
    the libraries' code, are counted in each. The descendants are looked up again every TREE_S, from every
    process's parent (a /proc children list holds one thread's children only): a process is missed until then, and
    a peak shorter than a sample can be missed. Its own CPU (about 0.6 % of a core) is not the child's."""

    SAMPLE_S, TREE_S = 0.02, 0.25

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.stopping = pid, 0.0, threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            pids, found_at = [self.pid], float("-inf")
            while not self.stopping.is_set():
                if time.monotonic() - found_at > self.TREE_S:
                    pids, found_at = descendants(self.pid), time.monotonic()
                self.peak_mb = max(self.peak_mb, sum(rss_mb(pid) for pid in pids))
                self.stopping.wait(self.SAMPLE_S)
        except BaseException as exc:  # raised again by run_once
            self.failure = exc


def descendants(root: int) -> list[int]:
    """`root` and the processes below it. /proc is read as bytes: a process name is cut at 15 bytes, maybe inside
    a character."""
    children: dict[int, list[int]] = {}
    for pid in (int(entry) for entry in os.listdir("/proc") if entry.isdigit()):
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        except OSError:  # gone
            continue
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        found.append(pid := todo.pop())
        todo += children.get(pid, [])
    return found


def rss_mb(pid: int) -> float:
    """A process's resident memory; 0 once it is gone (or a zombie, which has none)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith(b"VmRSS:"))
    except (OSError, StopIteration):
        return 0.0


def timed(commands: dict[str, list[str]], repeat: int) -> tuple[dict[str, tuple[float, ...]], dict[str, list[Turn]]]:
    """Per command: the median and fastest wall seconds, then the medians of peak RSS, CPU seconds, system CPU
    seconds and the tree's peak RSS; and every turn's figures. The commands take turns: this machine's speed drifts
    by tens of percent, and taking turns exposes them to the same drift."""
    runs: dict[str, list[Turn]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            runs[name].append(run_once(argv))
    figures: dict[str, tuple[float, ...]] = {}
    for name, r in runs.items():
        wall, rss, cpu, system, tree = (statistics.median(column) for column in zip(*r, strict=True))
        figures[name] = (wall, min(w for w, *_ in r), rss, cpu, system, tree)
    return figures, runs


def spread(values: list[float], digits: int, unit: str) -> str:
    """`values`' median, and their range when they are several: `2.76x (2.68 to 2.85 over the turns)`."""
    shown = [f"{v:.{digits}f}{unit}" for v in (statistics.median(values), min(values), max(values))]
    return shown[0] if len(values) < 2 else f"{shown[0]} ({shown[1]} to {shown[2]} over the turns)"


# What a user writes by hand: one regex per line, keeping time, power, memory and utilisation.
NAIVE_LEGACY = r"""
import re, sys
row = re.compile(r"(\d+)W / +\d+W \| +(\d+)MiB / +\d+MiB \| +(\d+)%")
times, power, memory, util, pending = [], [], [], [], None
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            m = row.search(line)
            if m:
                pending = m.groups()
            elif pending:
                times.append(float(line)); power.append(float(pending[0])); memory.append(float(pending[1]))
                util.append(float(pending[2])); pending = None
print(len(times), sum(power) / max(len(power), 1))
"""
NAIVE_CSV = r"""
import re, sys
row = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+), \d+, ([\d.]+) W, (\d+) MiB, \d+ MiB, (\d+) %")
times, power, memory, util = [], [], [], []
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            m = row.match(line)
            if m:
                times.append(m.group(1)); power.append(float(m.group(2))); memory.append(float(m.group(3)))
                util.append(float(m.group(4)))
print(len(times), sum(power) / max(len(power), 1))
"""


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", nargs="?", type=Path, default=Path("/tmp/bertlogs-bench"), help="inputs and reports")
    parser.add_argument("--cases", default="abcdef", help="which cases: letters of abcdef (run as a, c, d, e, b, f)")
    parser.add_argument("--repeat", type=int, default=3, help="turns per command (the median is printed)")
    args = parser.parse_args()
    if not args.cases or set(args.cases) - set("abcdef"):
        parser.error(f"--cases {args.cases!r}: letters of abcdef")
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    return args


def main() -> None:
    args = arguments()
    cases, repeat, work = args.cases, args.repeat, args.workdir
    made = make_inputs(work, cases)
    # bytecode compiled once, as `pip install` does: with PYTHONDONTWRITEBYTECODE set (as on this project's
    # machines) an editable install would compile bertlogs again on every run (~30 ms)
    compileall.compile_dir(REPO / "bertlogs", quiet=1)
    print(f"machine: {os.cpu_count()} cores; polars {__import__('polars').__version__}; median of {repeat} runs each")
    per_byte: dict[str, float] = {}
    for case, root in made.items():
        files = captures(root)
        size_mb = sum(p.stat().st_size for p in files) / 1e6
        largest_mb = max(p.stat().st_size for p in files) / 1e6
        out = work / f"report-{case}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        cat = f"find {root} -name {files[0].name} -exec cat {{}} +"
        naive_code = NAIVE_CSV if files[0].suffix == ".csv" else NAIVE_LEGACY
        figures, turns = timed(
            {
                "bertlogs": [sys.executable, "-m", "bertlogs", "analyze", str(root), "--out", str(out)],
                "grep": ["sh", "-c", f"{cat} | grep -c %"],
                "naive": [sys.executable, "-c", naive_code, *map(str, files)],
            },
            repeat,
        )
        (wall, fastest, rss, cpu, system, tree), (grep, *_), naive_figures = figures.values()
        naive, naive_fastest, naive_rss, naive_cpu, *_ = naive_figures
        summarized = (out / "summary.csv").read_text().count("\n") - 1
        print(f"({case}) {root.name}: {len(files)} capture(s), {size_mb:.0f} MB; runs in the summary: {summarized}")
        if len(files) == 1:
            memory = f"{rss / largest_mb:.1f}x the capture"
        else:  # many small runs: memory must not grow with their number; compare with one run alone
            _, one_rss, *_ = run_once([sys.executable, "-m", "bertlogs", "analyze", str(files[0].parent)])
            memory = f"the largest process; the process tree's, summed: {tree:.0f} MB; one run alone: {one_rss:.0f} MB"
        print(
            f"    bertlogs analyze --out: {wall:.2f} s (fastest {fastest:.2f}), {size_mb / wall:.0f} MB/s, "
            f"{cpu:.2f} CPU-s ({cpu / len(files) * 1000:.1f} CPU-ms a run; the kernel's {system:.2f} s), "
            f"peak RSS {rss:.0f} MB ({memory})"
        )
        greps = spread([g for g, *_ in turns["grep"]], 2, " s")
        print(f"    grep -c %:              {greps}  (bertlogs / grep = {wall / grep:.1f}x)")
        if len(files) == 1:
            parse_wall, parse_cpu = parse_alone(files[0], repeat)
            ratio = parse_wall / grep
            print(
                f"    parse alone:            {parse_wall:.2f} s, {parse_cpu:.2f} CPU-s  (parse / grep = {ratio:.1f}x)"
            )
            per_byte[case] = wall / size_mb
            if (small := {"d": "a", "e": "c"}.get(case)) in per_byte:
                print(f"    time per byte / ({small})'s:  {per_byte[case] / per_byte[small]:.2f}x")
        cpu_ratios = [b[2] / n[2] for b, n in zip(turns["bertlogs"], turns["naive"], strict=True)]
        print(
            f"    naive Python loop:      {naive:.2f} s (fastest {naive_fastest:.2f}), {naive_cpu:.2f} CPU-s, "
            f"peak RSS {naive_rss:.0f} MB  (naive / bertlogs = {naive / wall:.1f}x; CPU bertlogs / naive, turn by "
            f"turn: {spread(cpu_ratios, 2, 'x')})"
        )


if __name__ == "__main__":
    main()
