"""The tidy data as one Parquet dataset per kind, partitioned by run (hive style: `run=NAME`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from bertlogs.runs import RunFiles


def safe_name(name: str) -> str:
    """A run name usable as a file or directory name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_run(dataset_dir: Path, name: str, run: RunFiles) -> None:
    """`samples/run=NAME/part-0.parquet` (GPU samples, with `source` file) and `facts/...` (log facts)."""
    for kind, parsed in (("samples", run.gpu), ("facts", run.log)):
        if parsed is None or parsed.frame.is_empty():
            continue
        directory = dataset_dir / kind / f"run={safe_name(name)}"
        directory.mkdir(parents=True, exist_ok=True)
        frame = parsed.frame.with_columns(source=pl.lit(parsed.path.name))
        frame.write_parquet(directory / "part-0.parquet", compression="snappy")
