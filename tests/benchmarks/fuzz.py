#!/usr/bin/env python3
"""Fuzz campaign (not a test): inputs mutated from the real fixtures, fed to every parser entry point and to
`bertlogs.summary.summarize` end to end.

Each input is a real capture or log (fixtures/real/, fixtures/cola-sweep/, the real producers' files in
fixtures/tfevents/ and fixtures/hf-trainer/) after one to three mutations:
byte flips, truncation (every line boundary of every real fixture, then random cuts), duplicated and
shuffled lines, huge, negative, NaN and Unicode numbers, NUL bytes (in the head and after it), very long
lines, CR/CRLF mixes, gzip (whole or corrupt). Inputs come from a fixed seed: a run is reproducible.

Parser side, every input goes to `parse_file`, `open_file`, then the entry point of its sniffed format
(`parse_batch`, `parse_source`) and of one other format. Anything but `ParseError` is a
foreign exception (`parse_batch` may not raise at all); an input that runs over 5 s is a
hang. End to end, small archives of mutated run directories go to `summarize`: each run directory must get
a row. Reproducers (input + traceback) are saved under /tmp/bertlogs-fuzz/.

Usage: python tests/benchmarks/fuzz.py [--inputs 20000] [--runs 500] [--workers 2] [--seed 9]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import multiprocessing
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "fixtures" / "real"
SWEEP = REPO / "fixtures" / "cola-sweep"
OUT = Path("/tmp/bertlogs-fuzz")
HANG_S = 5.0
KEEP_REPRODUCERS = 5


def seeds() -> list[Path]:
    real = [p for p in sorted(REAL.glob("*/*")) if p.suffix != ".md" and ".expected" not in p.name]
    # files of the real producers: event files (binary), the Trainer's stdout, state and config
    made = sorted(p for d in ("tfevents", "hf-trainer") for p in (REPO / "fixtures" / d).rglob("*") if p.is_file())
    return real + [p for p in made if p.suffix not in (".md", ".py")] + sorted(SWEEP.glob("*/*"))


# ---- mutations: bytes in, bytes out, driven by one random.Random ------------------------------------------

NUMBERS = [
    b"99999999999999999999999",
    b"123456789012345678901234567",
    b"-40",
    b"-1",
    b"nan",
    b"NaN",
    b"inf",
    b"-inf",
    b"1e400",
    b"0",
    b"-0",
    b"9223372036854775807",
    b"9223372036854775808",
    "\u0661\u0662\u0663".encode(),  # Arabic-Indic digits
    "\uff11\uff12".encode(),  # fullwidth digits
    "\u00b2".encode(),  # superscript two
    b"1.5",
    b"",
]


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randint(0, len(data))]


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def duplicate_lines(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    if not lines:
        return data
    i = rng.randrange(len(lines))
    j = min(len(lines), i + rng.randint(1, 50))
    return b"".join(lines[:j] + lines[i:j] * rng.randint(1, 5) + lines[j:])


def shuffle_lines(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines) + 1)
    window = lines[i : i + rng.randint(2, 200)]
    rng.shuffle(window)
    return b"".join(lines[:i] + window + lines[i + len(window) :])


def odd_numbers(rng: random.Random, data: bytes) -> bytes:
    runs = [m.span() for m in re.finditer(rb"[0-9]+(?:\.[0-9]+)?", data)]
    if not runs:
        return data
    out, last = [], 0
    for start, end in sorted(rng.sample(runs, min(len(runs), rng.randint(1, 10)))):
        out += [data[last:start], rng.choice(NUMBERS)]
        last = end
    return b"".join([*out, data[last:]])


def nul_bytes(rng: random.Random, data: bytes) -> bytes:
    if rng.random() < 0.5 and data:  # after the 256 KiB head: the file turns binary late
        data = data * (300_000 // len(data) + 1)
    at = rng.randint(0, len(data))
    return data[:at] + b"\x00" * rng.choice([1, 16, 4096]) + data[at:]


def long_line(rng: random.Random, data: bytes) -> bytes:
    filler = rng.choice([b"x", b"9", b",", b" ", b"|", b"\r", b"a,"])
    at = rng.randint(0, len(data))
    return data[:at] + filler * rng.choice([70_000, 300_000, 2_000_000]) + data[at:]


def line_ends(rng: random.Random, data: bytes) -> bytes:
    style = rng.choice([b"\r\n", b"\r", b"\n\r", b"mixed"])
    if style != b"mixed":
        return data.replace(b"\n", style)
    return b"".join(line.rstrip(b"\n") + rng.choice([b"\n", b"\r\n", b"\r"]) for line in _lines(data))


def unicode_junk(rng: random.Random, data: bytes) -> bytes:
    junk = "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x3000), 0xFFFD, 0x2028, 0x85]))
                   for _ in range(rng.randint(1, 40)))  # fmt: skip
    at = rng.randint(0, len(data))
    return data[:at] + junk.encode("utf-8", errors="replace") + data[at:]


def gzipped(rng: random.Random, data: bytes) -> bytes:
    packed = gzip.compress(data, compresslevel=1)
    damage = rng.choice(["none", "cut", "flip", "trailing", "twice"])
    if damage == "cut":
        return packed[: rng.randint(2, len(packed))]
    if damage == "flip":
        return flip_bytes(rng, packed[:10]) + packed[10:] if rng.random() < 0.3 else flip_bytes(rng, packed)
    if damage == "trailing":
        return packed + b"garbage"
    if damage == "twice":
        return packed + gzip.compress(data[: len(data) // 2])
    return packed


MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    flip_bytes,
    truncate,
    duplicate_lines,
    shuffle_lines,
    odd_numbers,
    odd_numbers,
    nul_bytes,
    long_line,
    line_ends,
    unicode_junk,
]


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    names = []
    for _ in range(rng.randint(1, 3)):
        mutation = rng.choice(MUTATIONS)
        data, names = mutation(rng, data), [*names, mutation.__name__]
    if rng.random() < 0.08:
        data, names = gzipped(rng, data), [*names, "gzipped"]
    return data, names


def boundary_cuts(paths: list[Path]) -> Iterator[tuple[Path, bytes, list[str]]]:
    """Every real fixture cut at every line boundary and one byte past it."""
    for path in paths:
        data = path.read_bytes()
        for m in re.finditer(rb"\n", data):
            yield path, data[: m.start()], ["cut at a line end"]
            yield path, data[: m.end() + 1], ["cut one byte into a line"]


def inputs(count: int, seed: int) -> Iterator[tuple[int, Path, bytes, list[str]]]:
    paths = seeds()
    real = [p for p in paths if REAL in p.parents]
    i = 0
    for path, data, names in boundary_cuts(real):
        if i >= count // 4:
            break
        yield i, path, data, names
        i += 1
    while i < count:
        rng = random.Random(seed * 1_000_003 + i)
        path = rng.choice(real) if rng.random() < 0.7 else rng.choice(paths)
        data, names = mutate(rng, path.read_bytes())
        yield i, path, data, names
        i += 1


# ---- the parser entry points -------------------------------------------------------------------------------


def parse_every_way(path: Path, rng: random.Random) -> str:
    """Feed one file to every entry point; the outcome in a word, or raise a foreign exception."""
    from bertlogs.errors import ParseError
    from bertlogs.parsers import Format, open_file, parse_batch, parse_file, parse_source

    with contextlib.suppress(ParseError):
        parse_file(path)
    try:
        source, fmt = open_file(path)
    except ParseError:
        return "refused"

    def by_format(fmt: Format) -> None:
        if rng.random() < 0.5:
            assert len(parse_batch([source, source], fmt, utc_offsets_s=[0.0, 0.0])) == 2  # never raises on content
        else:
            with contextlib.suppress(ParseError):
                parse_source(source, fmt)

    by_format(fmt)
    by_format(rng.choice([f for f in Format if f != fmt]))
    return str(fmt)


def parser_task(i: int, name: str, data: bytes, work: Path) -> tuple[str, str | None]:
    path = work / f"input-{i}-{name}"
    path.write_bytes(data)
    try:
        return parse_every_way(path, random.Random(i)), None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a foreign exception (polars' PanicException is a BaseException): what we look for
        return "foreign", traceback.format_exc()
    finally:
        path.unlink()


# ---- end to end --------------------------------------------------------------------------------------------


def archive_task(i: int, runs: int, seed: int, work: Path) -> tuple[str, str | None]:
    """`runs` run directories (cola-sweep runs, most with a mutated file) summarized together."""
    from bertlogs.summary import summarize

    rng = random.Random(seed * 7_000_003 + i)
    root = work / f"archive-{i}"
    sweep = sorted(p for p in SWEEP.iterdir() if p.is_dir())
    names = []
    for k in range(runs):
        run = root / f"run-{k:02d}-{rng.choice(sweep).name}"
        shutil.copytree(SWEEP / run.name.split("-", 2)[2], run)
        names.append(run.name)
        files = sorted(run.iterdir())
        for target in rng.sample(files, rng.randint(0, len(files))):
            target.write_bytes(mutate(rng, target.read_bytes())[0])
    try:
        summary = summarize([root])
        rows = {str(r.row["run"]) for r in summary.results}
        missing = [n for n in names if n not in rows]
        return ("missing", f"{len(missing)} runs without a row: {missing}") if missing else ("ok", None)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        return "foreign", traceback.format_exc()
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- workers with a per-input deadline ---------------------------------------------------------------------
# One pipe per worker, no shared queue: a worker killed for a hang cannot leave a lock held.

Job = tuple[str, int, tuple]
Outcome = tuple[str, "str | None"]


def worker(conn: Connection) -> None:
    while (job := conn.recv()) is not None:
        kind, i, args = job
        conn.send((parser_task if kind == "parse" else archive_task)(i, *args))


class Slot:
    def __init__(self, context: BaseContext) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker, args=(child,), daemon=True)
        self.process.start()
        self.job: Job | None = None
        self.started = 0.0

    def give(self, job: Job) -> None:
        self.job, self.started = job, time.monotonic()
        self.conn.send(job)


def campaign(jobs: Iterator[Job], workers: int, hang_s: float, done: Callable[[Job, Outcome], None]) -> None:
    """Run the jobs on `workers` processes; a job past `hang_s` is a hang, and its worker is replaced."""
    context = multiprocessing.get_context("spawn")
    slots = [Slot(context) for _ in range(workers)]
    pending = iter(jobs)
    for slot in slots:
        if (job := next(pending, None)) is not None:
            slot.give(job)
    while any(slot.job is not None for slot in slots):
        wait([s.conn for s in slots if s.job is not None], timeout=0.5)
        for k, slot in enumerate(slots):
            if slot.job is None:
                continue
            outcome: Outcome | None = None
            if slot.conn.poll():
                try:
                    outcome = slot.conn.recv()
                except EOFError:  # the worker died: a crash of the interpreter or of polars
                    outcome = ("crash", f"worker died with exit code {slot.process.exitcode}")
            elif time.monotonic() - slot.started > hang_s:
                outcome = ("hang", f"over {hang_s:.0f} s")
            if outcome is None:
                continue
            done(slot.job, outcome)
            if outcome[0] in ("hang", "crash"):
                slot.process.kill()
                slot.process.join()
                slot = slots[k] = Slot(context)
            slot.job = None
            if (job := next(pending, None)) is not None:
                slot.give(job)
    for slot in slots:
        slot.conn.send(None)
        slot.process.join(timeout=5)


def save(name: str, result: str, i: int, data: bytes, detail: str | None) -> str:
    """A reproducer under OUT: the input (when a file) and what went wrong."""
    case = OUT / f"{result}-{i}"
    case.mkdir(parents=True, exist_ok=True)
    if data:
        (case / name).write_bytes(data)
    (case / "README.txt").write_text(f"{name}\n\n{detail}\n")
    return f"--- {result} #{i} ({name}) saved in {case}\n{detail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=500, help="run directories end to end (0: none)")
    parser.add_argument("--runs-per-archive", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="bertlogs-fuzz-"))
    shown: list[str] = []
    counts: Counter[str] = Counter()
    started = time.monotonic()

    def parsed(job: Job, outcome: Outcome) -> None:
        counts[outcome[0]] += 1
        if outcome[0] in ("foreign", "hang", "crash") and len(shown) < KEEP_REPRODUCERS:
            name, data, _ = job[2]
            shown.append(save(f"{name}", outcome[0], job[1], data, f"mutations: {mutations[job[1]]}\n{outcome[1]}"))
        if sum(counts.values()) % 1000 == 0:
            print(f"  {sum(counts.values())}/{args.inputs}", file=sys.stderr)

    mutations: dict[int, list[str]] = {}

    def parse_jobs() -> Iterator[Job]:
        for i, path, data, names in inputs(args.inputs, args.seed):
            mutations[i] = names
            yield ("parse", i, (path.name, data, work))

    campaign(parse_jobs(), args.workers, HANG_S, parsed)
    print(f"parsers: {sum(counts.values())} inputs in {time.monotonic() - started:.0f} s (seed {args.seed})")
    print(f"  outcomes: {dict(sorted(counts.items()))}")
    print(f"  foreign exceptions: {counts['foreign']}   hangs over {HANG_S:.0f} s: {counts['hang']}   "
          f"worker crashes: {counts['crash']}")  # fmt: skip

    if args.runs:
        started = time.monotonic()
        archives = max(1, args.runs // args.runs_per_archive)
        e2e: Counter[str] = Counter()
        causes: Counter[str] = Counter()  # the last line of each failure: most come from one cause
        rowless = [0]

        def summarized(job: Job, outcome: Outcome) -> None:
            e2e[outcome[0]] += 1
            if outcome[0] == "missing" and outcome[1]:
                rowless[0] += int(outcome[1].split()[0])
            elif outcome[0] != "ok":  # such an archive has no summary at all
                rowless[0] += args.runs_per_archive
            if outcome[0] != "ok":
                causes[(outcome[1] or "").strip().splitlines()[-1]] += 1
                if sum(causes.values()) <= 2:
                    shown.append(save("archive", outcome[0], job[1], b"", outcome[1]))

        jobs = (("archive", i, (args.runs_per_archive, args.seed, work)) for i in range(archives))
        campaign(jobs, args.workers, HANG_S * args.runs_per_archive, summarized)
        print(f"end to end: {archives * args.runs_per_archive} run dirs in {archives} archives, "
              f"{time.monotonic() - started:.0f} s")  # fmt: skip
        print(f"  archives with a foreign exception: {e2e['foreign']}   hangs: {e2e['hang']}   "
              f"crashes: {e2e['crash']}   runs without a row: {rowless[0]}")  # fmt: skip
        for cause, n in causes.most_common():
            print(f"  {n} x {cause}")
    for text in shown:
        print(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
