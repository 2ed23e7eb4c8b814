"""The tidy data as one Parquet dataset per kind, partitioned by run (hive style: `run=NAME`)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import polars as pl

from bertlogs.runs import RunFiles


def file_stem(name: str) -> str:
    """A run name as a file name: percent-encoded, so that distinct runs (`a b`, `a_b`) never share a file;
    hive readers (polars, pyarrow, DuckDB, Spark) decode `run=a%20b` back to `a b`."""
    return quote(name, safe="")


def write_run(dataset_dir: Path, name: str, run: RunFiles) -> None:
    """`samples/run=NAME/part-0.parquet` (GPU samples, with `source` file) and `facts/...` (log facts)."""
    for kind, parsed in (("samples", run.gpu), ("facts", run.log)):
        if parsed is None or parsed.frame.is_empty():
            continue
        directory = dataset_dir / kind / f"run={file_stem(name)}"
        directory.mkdir(parents=True, exist_ok=True)
        frame = parsed.frame.with_columns(source=pl.lit(parsed.path.name))
        frame.write_parquet(directory / "part-0.parquet", compression="snappy")
