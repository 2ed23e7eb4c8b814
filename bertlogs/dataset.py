"""The tidy data as one Parquet dataset per kind, partitioned by run (hive style: `run=NAME`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import polars as pl

from bertlogs.parsers import Parsed
from bertlogs.runs import RunFiles

_STEM_CHARS = 200  # "run=" + stem, or stem + ".svg", stays under 255 bytes


def file_stem(name: str) -> str:
    """A run name as a file name: percent-encoded, so that distinct runs (`a b`, `a_b`) never share a file;
    hive readers (polars, pyarrow, DuckDB, Spark) decode `run=a%20b` back to `a b`."""
    stem = quote(name, safe="")
    if len(stem) <= _STEM_CHARS:
        return stem
    # file systems take 255 bytes a name: a long name keeps its start and gets a digest of the whole
    head = name[: _STEM_CHARS - 17]
    while len(quote(head, safe="")) > _STEM_CHARS - 17:  # cut whole characters, never half an escape
        head = head[:-1]
    return f"{quote(head, safe='')}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def write_run(dataset_dir: Path, name: str, run: RunFiles, samples: list[Parsed]) -> None:
    """`samples/run=NAME/part-0.parquet` (GPU samples, with `source` file) and `facts/...` (log facts). Should
    a write fail (a full disk), none of the run's files is left behind: a truncated Parquet file never
    reaches the report.

    Raises:
        OSError: a file cannot be written.
    """
    written: list[Path] = []
    try:
        logs = [p for p in [run.log, *run.records] if p is not None]
        for kind, parsed in (("samples", samples), ("facts", logs)):
            frames = [p.frame.with_columns(source=pl.lit(p.path.name)) for p in parsed if not p.frame.is_empty()]
            if not frames:
                continue
            directory = dataset_dir / kind / f"run={file_stem(name)}"
            directory.mkdir(parents=True, exist_ok=True)
            written.append(directory / "part-0.parquet")
            pl.concat(frames).write_parquet(written[-1], compression="snappy")
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
