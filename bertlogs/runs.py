"""Loading each run's files (found by `discovery`): a training log, a GPU capture, optionally
`eval_results.txt` and collect's `meta.json`; and the run's labels."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from bertlogs.discovery import FoundRun
from bertlogs.errors import BertlogsError, NotDataError, one_line
from bertlogs.parsers import (
    EVAL_RESULTS,
    SMI_TABLE,
    TF1_LOG,
    Parsed,
    open_file,
    parse_capture,
    parse_file,
    parse_logs,
    parse_tables,
)
from bertlogs.parsers.text import Source
from bertlogs.schema import Meta, read_meta

META = "meta.json"

# (layers, hidden) -> the BERT miniatures' names (google-research/bert README)
MODEL_NAMES = {
    (2, 128): "Tiny",
    (4, 256): "Mini",
    (4, 512): "Small",
    (8, 512): "Medium",
    (12, 768): "Base",
    (24, 1024): "Large",
}
_NAME_IN_DIR = re.compile(r"(tiny|mini|small|medium|base|large)", re.IGNORECASE)
_BATCH_IN_DIR = re.compile(r"(?:bs|batch|batch_size)[_\-=]?(\d+)", re.IGNORECASE)


@dataclass
class RunFiles:
    """What one run's directory holds, parsed."""

    name: str
    path: Path
    log: Parsed | None = None
    gpu: Parsed | None = None
    eval_file: Parsed | None = None
    meta: Meta = field(default_factory=Meta)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # files that could not be parsed (also in warnings)


def load_many(runs: list[FoundRun], *, year: int | None = None, utc_offset_s: float | None = None) -> list[RunFiles]:
    """Parse several runs' files, their training logs in one polars query (see `parsers.parse_logs`); what
    discovery did not read opens each run's warnings."""
    loaded: list[tuple[RunFiles, list[Path], float, list[Parsed]]] = []
    logs: list[tuple[int, Source, float]] = []
    tables: list[tuple[int, Source, float]] = []  # small table captures, parsed in one query too
    for entry in runs:
        run, files = RunFiles(name=entry.name, path=entry.path, warnings=list(entry.skipped)), entry.files
        meta_path = next((f for f in files if f.name == META), None)
        if meta_path is not None:
            run.meta, problems = read_meta(meta_path)
            run.warnings += problems
        offset = utc_offset_s if utc_offset_s is not None else run.meta.utc_offset_s or 0.0
        parsed: list[Parsed] = []
        for path in files:
            if path.name == META:
                continue
            try:
                with _blame([path]):
                    source, fmt = open_file(path)
                    if fmt == TF1_LOG:
                        logs.append((len(loaded), source, offset))
                    elif fmt == SMI_TABLE and not source.large:
                        tables.append((len(loaded), source, offset))
                    else:
                        parsed.append(parse_capture(source, fmt, utc_offset_s=offset))
            except NotDataError as exc:
                run.warnings.append(f"{exc}: not read")
            except BertlogsError as exc:
                run.warnings.append(str(exc))
                run.unreadable.append(str(exc))
        loaded.append((run, files, offset, parsed))
    with _blame([s.path for _, s, _ in logs]):
        found = parse_logs([s for _, s, _ in logs], year=year, utc_offsets_s=[o for _, _, o in logs])
    with _blame([s.path for _, s, _ in tables]):
        found += parse_tables([s for _, s, _ in tables], utc_offsets_s=[o for _, _, o in tables])
    for (index, _, _), one in zip(logs + tables, found, strict=True):
        loaded[index][3].append(one)
    return [_assemble(run, files, offset, parsed, year) for run, files, offset, parsed in loaded]


class LoadFault(Exception):
    """A bug (an exception other than BertlogsError) met while reading one file: names the file; the
    original exception is its `__cause__`."""


@contextmanager
def _blame(paths: list[Path]) -> Iterator[None]:
    """A bug met while reading a single file becomes a LoadFault that names it (with several, the caller
    narrows down which run is at fault)."""
    try:
        yield
    except (BertlogsError, LoadFault):
        raise
    except Exception as exc:
        if len(paths) != 1:
            raise
        raise LoadFault(f"{paths[0]}: internal error while reading it ({one_line(exc)})") from exc


def _assemble(run: RunFiles, files: list[Path], offset: float, parsed: list[Parsed], year: int | None) -> RunFiles:
    for p in parsed:
        run.warnings.extend(p.warnings)
    logs = [p for p in parsed if p.format == TF1_LOG]
    gpus = [p for p in parsed if p.is_gpu]
    evals = [p for p in parsed if p.format == EVAL_RESULTS]
    run.log = _largest(run, logs, "training logs")
    run.gpu = _largest(run, gpus, "GPU captures")
    run.eval_file = evals[0] if evals else None
    if run.log is not None and year is None and run.log.frame["clock"].eq("local-year-assumed").any():
        stamped = run.gpu.frame["time"].drop_nulls() if run.gpu is not None else pl.Series([], dtype=pl.Float64)
        if len(stamped):
            # absl stamps have no year: take it from the capture's clock and parse again
            gpu_year = dt.datetime.fromtimestamp(stamped[0] + offset, dt.timezone.utc).year
            with _blame([run.log.path]):
                run.log = parse_file(run.log.path, year=gpu_year, utc_offset_s=offset)
        else:
            run.warnings.append(f"{run.log.path}: absl stamps have no year and nothing else dates the run")
    if not files:
        run.errors.append(f"{run.path}: nothing that could be read")
    elif run.log is None:
        run.errors.append(f"{run.path}: no TF1 training log found among {len(files)} file(s)")
    return run


def _largest(run: RunFiles, found: list[Parsed], what: str) -> Parsed | None:
    if not found:
        return None
    best = max(found, key=lambda p: p.frame.height)
    if len(found) > 1:
        others = ", ".join(p.path.name for p in found if p is not best)
        run.warnings.append(f"{run.path}: several {what}; used {best.path.name}, ignored {others}")
    return best


def labels(run: RunFiles, last: dict[tuple[str, str], float]) -> dict[str, Any]:
    """model, layers, hidden, batch_size and where each came from: meta.json, then the log, then the dir name."""
    meta_labels = run.meta.labels
    layers_i, hidden_i = whole(last.get(("model", "layers"))), whole(last.get(("model", "hidden")))
    model = meta_labels.get("model") or MODEL_NAMES.get((layers_i or 0, hidden_i or 0))
    dir_text = f"{run.path.name} {run.name}"
    if model is None and (m := _NAME_IN_DIR.search(dir_text)):
        model = m.group(1).capitalize()
    batch = whole(meta_labels.get("batch_size") or last.get(("config", "batch_size")))
    if batch is None and (m := _BATCH_IN_DIR.search(dir_text)):
        batch = whole(m.group(1))
    return {"model": model, "layers": layers_i, "hidden": hidden_i, "batch_size": batch}


def whole(value: object) -> int | None:
    """A count read from a file as an int that fits the summary's Int64 columns, else None."""
    if isinstance(value, str):
        value = int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return int(value) if abs(value) < 2**63 else None
    return None
