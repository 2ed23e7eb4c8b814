"""The tidy data as one Parquet dataset per kind: a file per batch of runs (`samples/part-NNNNNN.parquet`),
with a `run` column and one row group per run, so that readers prune by run from the row-group statistics."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

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


def _write_by_run(parts: list[tuple[str, list[Parsed]]], path: Path) -> None:
    """Each run's files' rows as one row group (several past a million rows), `run` and `source` as
    dictionary-encoded text (4 bytes a row in memory), written without an Arrow schema: every reader reads
    them as plain text columns."""
    import pyarrow as pa  # only an analysis that writes its dataset pays for the import
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    try:
        for name, parsed in parts:
            table = pa.concat_tables([_table(p, name, pa) for p in parsed])
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy", store_schema=False)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _table(parsed: Parsed, run: str, pa: Any) -> Any:
    table = parsed.frame.to_arrow()
    for column, text in (("source", parsed.path.name), ("run", run)):
        codes = pa.array(np.zeros(table.num_rows, dtype=np.int32))
        table = table.append_column(column, pa.DictionaryArray.from_arrays(codes, pa.array([text])))
    return table
