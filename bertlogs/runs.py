"""Loading each run's files (found by `discovery`): a training log, a GPU capture, optionally
`eval_results.txt` and collect's `meta.json`; and the run's labels."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from bertlogs import facts
from bertlogs.discovery import FoundRun
from bertlogs.errors import BertlogsError, NotDataError, ParseError, one_line
from bertlogs.parsers import Format, Kind, Parsed, batches, open_file, parse_batch, parse_chunks, parse_file
from bertlogs.parsers.text import Source
from bertlogs.readings import Keeper, Readings
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


# Takes a run's name and a chunk of one of its GPU captures' full tidy samples (to write them out): the run
# keeps only their readings (`CaptureFile`).
SamplesSink = Callable[[str, Parsed], None]


@dataclass(frozen=True)
class CaptureFile:
    """A run's GPU capture: its file, format, and the readings kept for the figures (not its tidy frame)."""

    path: Path
    format: Format
    readings: Readings | None


@dataclass
class RunFiles:
    """What one run's directory holds, parsed."""

    name: str
    path: Path
    log: Parsed | None = None
    gpu: CaptureFile | None = None
    eval_file: Parsed | None = None
    records: list[Parsed] = field(default_factory=list)  # files whose facts join the log's (trainer_state.json)
    meta: Meta = field(default_factory=Meta)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # files that could not be parsed (also in warnings)


@dataclass
class _Loading:
    """A run being loaded: its files opened, then parsed."""

    run: RunFiles
    files: list[Path]
    utc_offset_s: float
    opened: list[tuple[Source, Format]] = field(default_factory=list)
    parsed: list[Parsed] = field(default_factory=list)  # its files but its GPU captures
    captures: list[CaptureFile] = field(default_factory=list)


def load_many(
    runs: list[FoundRun],
    *,
    year: int | None = None,
    utc_offset_s: float | None = None,
    fmt: Format | None = None,
    samples: SamplesSink | None = None,
) -> list[RunFiles]:
    """Parse several runs' files, those of a format that batches in one polars query per format (see
    `parsers.batches`), a large GPU capture a chunk at a time; what discovery did not read opens each run's
    warnings. Every GPU capture's tidy samples go to `samples` as they are read, and only their readings stay.

    `fmt` forces a format on the files whose sniffed format is of its kind (forcing a training-log format
    leaves the GPU capture a capture); the others are read as sniffed.
    """
    loading = [_open_run(entry, utc_offset_s, fmt) for entry in runs]
    files = [(load, source, found) for load in loading for source, found in load.opened]
    for group in batches([(source, found) for _, source, found in files]):
        batch = [files[i] for i in group]
        load, source, found = batch[0]
        if found.kind is Kind.GPU_CAPTURE and source.large:
            with _blame([source.path]):
                _stream(load, source, found, samples)
            continue
        with _blame([source.path for _, source, _ in batch]):
            parsed = parse_batch(
                [source for _, source, _ in batch],
                found,
                year=year,
                utc_offsets_s=[f.utc_offset_s for f, _, _ in batch],
            )
        for (load, source, _), one in zip(batch, parsed, strict=True):
            if isinstance(one, ParseError):
                _unreadable(load.run, one)
            elif one.kind is Kind.GPU_CAPTURE:
                _keep(load, [one], source.size_bytes, samples)
            else:
                load.parsed.append(one)
    return [_assemble(load, year) for load in loading]


def _stream(load: _Loading, source: Source, fmt: Format, samples: SamplesSink | None) -> None:
    """A large GPU capture read a chunk at a time (memory bounded by a chunk and the readings kept)."""
    try:
        _keep(load, parse_chunks(source, fmt, utc_offset_s=load.utc_offset_s), source.size_bytes, samples)
    except ParseError as exc:
        _unreadable(load.run, exc)


def _keep(load: _Loading, chunks: Iterable[Parsed], size_bytes: int, samples: SamplesSink | None) -> None:
    """A capture's chunks handed to `samples`, its readings kept."""
    keeper = Keeper(size_bytes)
    last: Parsed | None = None
    for last in chunks:
        if samples is not None:
            samples(load.run.name, last)
        keeper.add(last.frame)
        load.run.warnings.extend(last.warnings)
    if last is not None:
        load.captures.append(CaptureFile(last.path, last.format, keeper.readings()))


def _open_run(entry: FoundRun, utc_offset_s: float | None, fmt: Format | None) -> _Loading:
    """The run's meta.json read, and its other files opened with their formats (what cannot be, named)."""
    run = RunFiles(name=entry.name, path=entry.path, warnings=list(entry.skipped))
    meta_path = next((f for f in entry.files if f.name == META), None)
    if meta_path is not None:
        run.meta, problems = read_meta(meta_path)
        run.warnings += problems
    offset = utc_offset_s if utc_offset_s is not None else run.meta.utc_offset_s or 0.0
    load = _Loading(run, entry.files, offset)
    for path in entry.files:
        if path == meta_path:
            continue
        try:
            with _blame([path]):
                source, found = open_file(path)
            load.opened.append((source, fmt if fmt is not None and fmt.kind is found.kind else found))
        except NotDataError as exc:
            run.warnings.append(f"{exc}: not read")
        except BertlogsError as exc:
            _unreadable(run, exc)
    return load


def _unreadable(run: RunFiles, exc: BertlogsError) -> None:
    run.warnings.append(str(exc))
    run.unreadable.append(str(exc))


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


def _assemble(load: _Loading, year: int | None) -> RunFiles:
    run, offset = load.run, load.utc_offset_s
    for p in load.parsed:
        run.warnings.extend(p.warnings)
    run.log = _largest(run, [p for p in load.parsed if p.kind is Kind.TRAINING_LOG], "training logs")
    run.gpu = _largest(run, load.captures, "GPU captures")
    run.eval_file = next((p for p in load.parsed if p.kind is Kind.EVAL_RESULTS), None)
    run.records = [p for p in load.parsed if p.kind is Kind.RUN_RECORD]
    if run.log is not None and year is None and run.log.frame["clock"].eq("local-year-assumed").any():
        readings = run.gpu.readings if run.gpu is not None else None
        stamped = readings.time if readings is not None and not readings.unclocked else np.empty(0)
        if len(stamped):
            # stamps without a year (absl): take it from the capture's clock and parse again
            gpu_year = dt.datetime.fromtimestamp(stamped[0] + offset, dt.timezone.utc).year
            with _blame([run.log.path]):
                run.log = parse_file(run.log.path, fmt=run.log.format, year=gpu_year, utc_offset_s=offset)
        else:
            run.warnings.append(f"{run.log.path}: its stamps have no year and nothing else dates the run")
    if not load.files:
        run.errors.append(f"{run.path}: nothing that could be read")
    elif run.log is None and not run.records:
        run.errors.append(f"{run.path}: no training log found among {len(load.files)} file(s)")
    return run


F = TypeVar("F", Parsed, CaptureFile)


def _largest(run: RunFiles, found: list[F], what: str) -> F | None:
    if not found:
        return None
    best = max(found, key=_rows)
    if len(found) > 1:
        others = ", ".join(p.path.name for p in found if p is not best)
        run.warnings.append(f"{run.path}: several {what}; used {best.path.name}, ignored {others}")
    return best


def _rows(file: Parsed | CaptureFile) -> int:
    if isinstance(file, Parsed):
        return file.frame.height
    return len(file.readings) if file.readings is not None else 0


def labels(run: RunFiles, last: dict[tuple[str, str], float]) -> dict[str, Any]:
    """model, layers, hidden, batch_size and where each came from: meta.json, then the log, then the dir name."""
    meta_labels = run.meta.labels
    layers_i, hidden_i = whole(last.get((facts.MODEL, facts.LAYERS))), whole(last.get((facts.MODEL, facts.HIDDEN)))
    model = meta_labels.get("model") or MODEL_NAMES.get((layers_i or 0, hidden_i or 0))
    dir_text = f"{run.path.name} {run.name}"
    if model is None and (m := _NAME_IN_DIR.search(dir_text)):
        model = m.group(1).capitalize()
    batch = whole(meta_labels.get("batch_size") or last.get((facts.CONFIG, facts.BATCH_SIZE)))
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
