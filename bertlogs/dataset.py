"""The tidy data as one Parquet dataset per kind: a file per batch of runs (`samples/part-NNNNNN.parquet`),
sorted by its `run` column, whose row-group statistics let readers skip the other runs."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import numpy as np
import polars as pl

from bertlogs.parsers import Parsed
from bertlogs.runs import RunFiles

_STEM_CHARS = 200  # stem + ".svg" stays under 255 bytes


def file_stem(name: str) -> str:
    """A run name as a file name: percent-encoded, so that distinct runs (`a b`, `a_b`) never share a file."""
    stem = quote(name, safe="")
    if len(stem) <= _STEM_CHARS:
        return stem
    # file systems take 255 bytes a name: a long name keeps its start and gets a digest of the whole
    head = name[: _STEM_CHARS - 17]
    while len(quote(head, safe="")) > _STEM_CHARS - 17:  # cut whole characters, never half an escape
        head = head[:-1]
    return f"{quote(head, safe='')}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def part_name(first_run: int) -> str:
    """The file of the batch whose first run is the `first_run`-th of the analysis (0-based)."""
    return f"part-{first_run:06d}.parquet"


# A capture past this many rows is written to a file of its own as it is read, not held for its batch's file;
# so is the largest of a batch's captures when the batch holds more than HELD_ROWS (about 60 MB of rows). Every
# file is written in row groups of at most GROUP_ROWS: the writer's memory grows with a group's rows (a file of
# 287,000 rows in one group raised the peak by 36 MB, in groups of 32,768 by 15), and with the rows held beside
# it: files of 2^17 rows in these groups took 20 MB off the 1.3 GB benchmark capture's peak, against files of
# 2^18 rows in one group
SPILL_ROWS = 1 << 17
GROUP_ROWS = 1 << 15
HELD_ROWS = 1 << 20


class Samples:
    """The GPU samples of a batch's runs, taken as the loader reads them (`add` is its sink): held for the
    batch's file (`write_batch`), but a capture's held chunks past SPILL_ROWS rows, or the largest capture's
    when the batch holds more than HELD_ROWS, are written to a file of their own (`samples/PART-N.parquet`)
    and let go: memory holds at most HELD_ROWS rows a batch (and the rows of the one file being written),
    whatever its captures' sizes, and a batch of small captures stays one file. Once the batch is loaded,
    `keep` leaves each run only the capture it uses.

    A file of its own is written by a thread while the loader reads on (the writer lets go of the GIL); a
    failure to write one (a full disk) is its run's (`failures`), whose samples the batch then leaves out."""

    def __init__(self, dataset_dir: Path, part: str) -> None:
        self._stem = dataset_dir / "samples" / part.removesuffix(".parquet")
        self._held: dict[tuple[str, Path], list[Parsed]] = {}  # per (run, capture), the chunks not yet written
        self._files: dict[tuple[str, Path], list[Path]] = {}  # per (run, capture), the files of its own
        self._opened = 0
        self._writing: tuple[tuple[str, Path], Future[None]] | None = None  # the capture, its file's writing
        self._failures: dict[tuple[str, Path], BaseException] = {}

    def add(self, run: str, chunk: Parsed) -> None:
        mine = self._held.setdefault((run, chunk.path), [])
        mine.append(chunk)
        if _rows(mine) > SPILL_ROWS:
            self._spill((run, chunk.path))
        elif sum(_rows(chunks) for chunks in self._held.values()) > HELD_ROWS:
            self._spill(max(self._held, key=lambda k: _rows(self._held[k])))

    def _spill(self, key: tuple[str, Path]) -> None:
        self._opened += 1  # a name never given before (a forgotten file frees a number that another holds)
        path = self._stem.with_name(f"{self._stem.name}-{self._opened}.parquet")
        self._files.setdefault(key, []).append(path)
        chunks, self._held[key] = self._held[key], []
        self._settle()  # one file written at a time: memory holds one file's rows beyond the held ones
        self._writing = key, _WRITER.submit(_write_own, chunks, key[0], path)

    def _settle(self) -> None:
        """The file being written, finished; a failure kept as its capture's."""
        if self._writing is not None:
            key, writing = self._writing
            if (exc := writing.exception()) is not None:
                self._failures.setdefault(key, exc)
            self._writing = None

    def held(self, run: str) -> list[Parsed]:
        return [p for (r, _), chunks in self._held.items() if r == run for p in chunks]

    @property
    def written(self) -> list[Path]:
        """The files of their own (finished, or failed and gone)."""
        self._settle()
        return [path for paths in self._files.values() for path in paths]

    @property
    def failures(self) -> dict[str, BaseException]:
        """Per run, why a file of its own could not be written (a full disk), every file finished."""
        self._settle()
        return {run: exc for (run, _), exc in self._failures.items()}

    def keep(self, run: str, capture: Path | None) -> None:
        """Only `capture`'s samples stay the run's (None: none): a run's other captures are not its samples,
        nor is what a capture that turned unreadable gave before it did."""
        for key in [k for k in {*self._held, *self._files} if k[0] == run and k[1] != capture]:
            self._drop(key)

    def forget(self, runs: list[str]) -> None:
        """What `runs` gave so far is dropped (they are loaded again, or failed), their own files removed."""
        for key in [k for k in {*self._held, *self._files} if k[0] in runs]:
            self._drop(key)

    def _drop(self, key: tuple[str, Path]) -> None:
        self._settle()
        self._held.pop(key, None)
        self._failures.pop(key, None)
        for path in self._files.pop(key, []):
            path.unlink(missing_ok=True)


_WRITER = ThreadPoolExecutor(1, thread_name_prefix="bertlogs-samples")


def _write_own(chunks: list[Parsed], run: str, path: Path) -> None:
    """A capture's chunks to a file of their own; a full disk leaves no truncated file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        _tagged([(run, p) for p in chunks]).write_parquet(partial, compression="snappy", row_group_size=GROUP_ROWS)
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)


def _rows(chunks: list[Parsed]) -> int:
    return sum(p.frame.height for p in chunks)


def _tagged(files: list[tuple[str, Parsed]]) -> pl.DataFrame:
    """The (run, file)s' rows, one after the other, with each one's `source` file name and `run` (gathered at
    once: a literal column a file cost more)."""
    of_file = pl.Series(np.repeat(np.arange(len(files)), [p.frame.height for _, p in files]))
    source = pl.Series("source", [p.path.name for _, p in files]).gather(of_file)
    run = pl.Series("run", [name for name, _ in files]).gather(of_file)
    return pl.concat([p.frame for _, p in files]).hstack([source, run])


def clear_batch(dataset_dir: Path, part: str) -> None:
    """The files of batch `part` gone: an attempt at a batch (again, after a worker died or a run faulted)
    starts from none of an earlier attempt's files."""
    stem = part.removesuffix(".parquet")
    for kind in ("samples", "facts"):
        for path in [dataset_dir / kind / part, *(dataset_dir / kind).glob(f"{stem}-*.parquet")]:
            path.unlink(missing_ok=True)


def write_batch(dataset_dir: Path, part: str, runs: list[tuple[str, RunFiles]], samples: Samples) -> None:
    """`samples/PART` (GPU samples held in `samples`, with `run` and `source` file) and `facts/PART` (log
    facts) for a batch of (name, run). Should a write fail (a full disk), none of the batch's files is left
    behind (the samples' own files included): a truncated Parquet file never reaches the report.

    Raises:
        OSError: a file cannot be written.
    """
    written: list[Path] = []
    try:
        for kind in ("samples", "facts"):
            ordered = sorted(runs, key=lambda r: r[0])
            parts = [(name, parsed) for name, run in ordered if (parsed := _parts(kind, name, run, samples))]
            if not parts:
                continue
            (dataset_dir / kind).mkdir(parents=True, exist_ok=True)
            written.append(dataset_dir / kind / part)
            _write_by_run(parts, written[-1])
    except BaseException:
        for path in written + samples.written:
            path.unlink(missing_ok=True)
        raise


def _parts(kind: str, name: str, run: RunFiles, samples: Samples) -> list[Parsed]:
    """The run's parsed files (or chunks of its captures) that hold rows of `kind`."""
    parsed = samples.held(name) if kind == "samples" else [run.log, *run.records]
    return [p for p in parsed if p is not None and not p.frame.is_empty()]


# Row groups of a batch's file: as long as four of its smallest runs, 1,024 rows at least (a tiny run would make a
# big one's groups tiny), GROUP_ROWS at most. A group a run costs the writer more than twice as much: 1,000-row
# groups took 17 CPU-ms a file of 50 runs, 4,096-row groups 9 (polars 2.1, 2 cores)
_RUNS_A_GROUP = 4
_FEWEST_GROUP_ROWS = 1024


def _write_by_run(parts: list[tuple[str, list[Parsed]]], path: Path) -> None:
    """Each run's files' rows, runs in order of name, in row groups about as long as four of the smallest runs:
    each group's statistics on `run` span a few neighbouring runs, which a filter on another run skips."""
    smallest = min(_rows(ps) for _, ps in parts)
    rows = min(max(_RUNS_A_GROUP * smallest, _FEWEST_GROUP_ROWS), GROUP_ROWS)
    _tagged([(name, p) for name, ps in parts for p in ps]).write_parquet(
        path, compression="snappy", row_group_size=rows
    )
