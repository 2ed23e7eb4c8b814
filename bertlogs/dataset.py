"""The tidy data as one Parquet dataset per kind: a file per batch of runs (`samples/part-NNNNNN.parquet`),
sorted by its `run` column, whose row-group statistics let readers skip the other runs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

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


def write_batch(dataset_dir: Path, part: str, runs: list[tuple[str, RunFiles]]) -> None:
    """`samples/PART` (GPU samples, with `run` and `source` file) and `facts/PART` (log facts) for a batch
    of (name, run). Should a write fail (a full disk), neither file is left behind: a truncated Parquet file
    never reaches the report.

    Raises:
        OSError: a file cannot be written.
    """
    written: list[Path] = []
    try:
        for kind in ("samples", "facts"):
            parts = [(name, parsed) for name, run in sorted(runs, key=lambda r: r[0]) if (parsed := _parts(kind, run))]
            if not parts:
                continue
            (dataset_dir / kind).mkdir(parents=True, exist_ok=True)
            written.append(dataset_dir / kind / part)
            _write_by_run(parts, written[-1])
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _parts(kind: str, run: RunFiles) -> list[Parsed]:
    """The run's parsed files that hold rows of `kind`."""
    parsed = ([run.gpu] if run.gpu is not None else []) if kind == "samples" else [run.log, *run.records]
    return [p for p in parsed if p is not None and not p.frame.is_empty()]


# Row groups of a batch's file: as long as its smallest run, within these bounds (a tiny run would make a big
# one's groups tiny; a huge group would hold many small runs)
_GROUP_ROWS = (1024, 1 << 20)


def _write_by_run(parts: list[tuple[str, list[Parsed]]], path: Path) -> None:
    """Each run's files' rows, runs in order of name, in row groups about as long as the smallest run: each
    group's statistics on `run` span a run or a few neighbours, which a filter on another run skips."""
    frames = [p.frame.with_columns(source=pl.lit(p.path.name), run=pl.lit(name)) for name, ps in parts for p in ps]
    smallest = min(sum(p.frame.height for p in ps) for _, ps in parts)
    rows = min(max(smallest, _GROUP_ROWS[0]), _GROUP_ROWS[1])
    pl.concat(frames).write_parquet(path, compression="snappy", row_group_size=rows)
