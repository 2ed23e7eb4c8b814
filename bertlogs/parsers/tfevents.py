"""TensorBoard event files (`events.out.tfevents.*`): the scalars of TF1 Estimator and Hugging Face Trainer runs.

An event file is a TFRecord stream: each record is a little-endian uint64 length, the masked CRC-32C of
those 8 bytes, the payload, and the payload's masked CRC-32C. The payload is an `Event` protobuf: wall time
(unix seconds, UTC), step, and a summary of tagged values, or the file version (the first record,
`brain.Event:2`), or a session log (a checkpoint saved). The payload is decoded by TensorBoard's own `Event`
message (`tensorboard.compat.proto.event_pb2`, protobuf's C decoder; TensorFlow is never imported), the
checksums by google-crc32c; both are imported only when an event file is read.

Scalars come in two encodings: `simple_value` (TF1, tensorboardX, torch's SummaryWriter) and a one-element
numeric `tensor` (TF2, tensorboard's own writer), in `float_val`/`double_val`/... or as raw `tensor_content`.
Tags become facts (see `bertlogs.facts`), other tags (histograms, images, text, custom scalars) are left out:
- TF1 Estimator, model dir: `loss`, `global_step/sec`, `examples/sec` (StepCounterHook's readings).
- TF1 Estimator, eval dir: every scalar is an evaluation metric at the step evaluated (`global_step` aside).
  A file is an eval file when its directory is `eval` or `eval_<name>` (Estimator's layout) or, for copies
  that lost the directory (collect's flat `events/`), when a tag is named `eval_...` (the metrics of
  google-research/bert and of Estimator's canned heads).
- Hugging Face Trainer (TensorBoardCallback): `train/<key>` and `eval/<metric>` (`eval_<metric>` in the facts,
  as in trainer_state.json); `train/train_*` and `train/total_flos` are one reading over the whole run.
A rate reading's STEPS_COVERED is the step distance to the previous reading (StepCounterHook's own window);
the first reading's is its step minus the file's first step (TF1 logs `loss` at step 1, the hook's start),
or the next reading's distance when the rate is the file's first scalar. A whole-run reading covers its step
(the Trainer counts steps from 0).
"""

from __future__ import annotations

import re
import struct
import zlib
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from bertlogs import facts as f
from bertlogs.errors import NotDataError, ParseError
from bertlogs.parsers.text import GUNZIPPED_MAX_BYTES, GZIP_MAGIC, Source, not_regular
from bertlogs.schema import FACT_SCHEMA, conform

FILE_VERSION = b"brain.Event:"
_HEADER = struct.Struct("<QI")  # payload length, masked CRC-32C of the length's 8 bytes
_FOOTER = struct.Struct("<I")  # masked CRC-32C of the payload
_FRAMING_BYTES = _HEADER.size + _FOOTER.size
_MAX_FIRST_RECORD_BYTES = 1 << 16  # a file_version event is ~50 bytes
_EVAL_DIR = re.compile(r"eval(?:_.*)?")

# tag -> (kind, key, what a rate reading covers: "interval" since the previous reading, or the "run")
_TAGS: dict[str, tuple[str, str, str | None]] = {
    "loss": (f.LOSS, f.LOSS, None),
    "global_step/sec": (f.RATE, f.STEPS_PER_S, "interval"),
    "examples/sec": (f.RATE, f.EXAMPLES_PER_S, "interval"),
    "train/loss": (f.LOSS, f.LOSS, None),
    "train/learning_rate": (f.LOSS, f.LEARNING_RATE, None),
    "train/grad_norm": (f.LOSS, f.GRAD_NORM, None),
    "train/epoch": (f.LOSS, f.EPOCH, None),
    "train/train_loss": (f.LOSS, f.TRAIN_LOSS_MEAN, None),
    "train/train_runtime": (f.RATE, f.RUNTIME_S, "run"),
    "train/train_samples_per_second": (f.RATE, f.EXAMPLES_PER_S, "run"),
    "train/train_steps_per_second": (f.RATE, f.STEPS_PER_S, "run"),
    "train/total_flos": (f.RATE, f.TOTAL_FLOS, "run"),
}


def looks_like_bytes(head: bytes) -> bool:
    """Whether `head` (a file's first bytes) starts with a whole, intact TFRecord holding the event file
    version: judged by content (checksums and the version string), never by the name."""
    if len(head) < _FRAMING_BYTES:
        return False
    length, length_crc = _HEADER.unpack_from(head)
    end = _HEADER.size + length
    if length > _MAX_FIRST_RECORD_BYTES or len(head) < end + _FOOTER.size:
        return False
    payload = head[_HEADER.size : end]
    checksum = _crc32c()
    return (
        checksum(head[:8]) == length_crc
        and checksum(payload) == _FOOTER.unpack_from(head, end)[0]
        and FILE_VERSION in payload
    )


def looks_like(head: str) -> bool:
    """A text head never is an event file (they are binary: see `looks_like_bytes`)."""
    return False


def parse(source: Source, *, utc_offset_s: float = 0.0) -> tuple[pl.DataFrame, list[str]]:
    """`parse_path` on an opened binary file (a binary `Source`)."""
    return parse_path(source.path, utc_offset_s=utc_offset_s)


def parse_path(path: Path, *, utc_offset_s: float = 0.0) -> tuple[pl.DataFrame, list[str]]:
    """The facts of one event file (see `schema.FACT_SCHEMA`; `line` is the record's number) and what was
    odd: a truncated last record (a run still being written), a record whose checksum fails (skipped; after
    a bad length checksum the rest of the file is). `utc_offset_s` is not needed: wall times are UTC.

    Raises:
        ParseError: unreadable, empty, or not an event file (NotDataError).
    """
    where = str(path)
    try:
        special = not_regular(path.stat().st_mode)
        if special is not None:
            raise NotDataError(where, f"not a regular file but {special}")
        data = path.read_bytes()
        if data.startswith(GZIP_MAGIC):
            data = _gunzipped(where, data)
    except OSError as exc:
        raise ParseError.unreadable(where, exc) from exc
    if not data:
        raise NotDataError(where, "empty file")
    if not looks_like_bytes(data[:_MAX_FIRST_RECORD_BYTES]):
        raise NotDataError(where, "not a TensorBoard event file (no intact first record with brain.Event:)")
    events, warnings = _events(data, where)
    points = _points(events)
    is_eval = _EVAL_DIR.fullmatch(path.parent.name) is not None or points["tag"].str.starts_with("eval_").any()
    return _facts(points, is_eval), warnings


def _gunzipped(where: str, data: bytes) -> bytes:
    """A gzipped event file's bytes, inflated up to GUNZIPPED_MAX_BYTES (a bomb costs no more)."""
    inflate = zlib.decompressobj(wbits=31)
    try:
        out = inflate.decompress(data, GUNZIPPED_MAX_BYTES + 1)
    except zlib.error as exc:
        raise ParseError(where, f"damaged gzip file: {exc}") from exc
    if len(out) > GUNZIPPED_MAX_BYTES:
        raise ParseError(where, f"gzip inflates past {GUNZIPPED_MAX_BYTES >> 30} GiB: gunzip it first")
    return out


def _crc32c() -> Any:
    """The masked CRC-32C of TFRecord framing, as a function of bytes."""
    import google_crc32c  # here, not at the top: only reading an event file pays for it

    value = google_crc32c.value

    def masked(data: bytes) -> int:
        crc = value(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    return masked


def _events(data: bytes, where: str) -> tuple[list[tuple[int, Any]], list[str]]:
    """(record number, Event) of each intact record, and a warning for each that is not.

    One Python step per record: the framing is sequential (each length gives the next offset) and protobuf
    decodes one message per call."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto.event_pb2 import Event

    checksum, decode = _crc32c(), Event.FromString
    events: list[tuple[int, Any]] = []
    warnings: list[str] = []
    offset, number, size = 0, 1, len(data)
    while offset < size:
        if size - offset < _FRAMING_BYTES:
            warnings.append(f"{where}: truncated last record ({size - offset} bytes) ignored")
            break
        length, length_crc = _HEADER.unpack_from(data, offset)
        if checksum(data[offset : offset + 8]) != length_crc:
            warnings.append(
                f"{where}: record {number} at byte {offset}: length checksum mismatch;"
                f" the remaining {size - offset} bytes ignored"
            )
            break
        end = offset + _HEADER.size + length
        if end + _FOOTER.size > size:
            warnings.append(f"{where}: truncated last record ({size - offset} bytes) ignored")
            break
        payload = data[offset + _HEADER.size : end]
        try:
            if checksum(payload) != _FOOTER.unpack_from(data, end)[0]:
                raise DecodeError("data checksum mismatch")
            events.append((number, decode(payload)))
        except DecodeError as exc:
            warnings.append(f"{where}: record {number} at byte {offset}: {exc}; record skipped")
        offset, number = end + _FOOTER.size, number + 1
    return events, warnings


def _points(events: list[tuple[int, Any]]) -> pl.DataFrame:
    """One row per scalar (line, time, step, tag, value) and per checkpoint saved (tag null)."""
    from tensorboard.compat.proto.event_pb2 import SessionLog

    what = [e.WhichOneof("what") for _, e in events]
    summaries = [(n, e, e.summary.value) for (n, e), kind in zip(events, what, strict=True) if kind == "summary"]
    heads = [(n, e.wall_time, e.step, len(tagged)) for n, e, tagged in summaries]
    values = [v for *_, tagged in summaries for v in tagged]
    kinds = [v.WhichOneof("value") for v in values]
    numbers = [
        v.simple_value if kind == "simple_value" else _tensor_scalar(v.tensor) if kind == "tensor" else None
        for v, kind in zip(values, kinds, strict=True)
    ]
    schema = {"line": pl.Int64, "time": pl.Float64, "step": pl.Int64}
    scalars = (
        pl.DataFrame(heads, schema={**schema, "count": pl.Int64}, orient="row")
        .select(pl.col(schema).repeat_by("count").explode())
        .with_columns(
            tag=pl.Series([v.tag for v in values], dtype=pl.String),
            value=pl.Series(numbers, dtype=pl.Float64),
        )
        .filter(pl.col("value").is_not_null())
    )
    saves = [
        (n, e.wall_time, e.step)
        for (n, e), kind in zip(events, what, strict=True)
        if kind == "session_log" and e.session_log.status == SessionLog.CHECKPOINT
    ]
    checkpoints = pl.DataFrame(saves, schema=schema, orient="row")
    return pl.concat([scalars, checkpoints.with_columns(value=pl.col("step").cast(pl.Float64))], how="diagonal")


def _tensor_scalar(tensor: Any) -> float | None:
    """The number in a one-element numeric tensor (a TF2 scalar), else None (histograms, text, images)."""
    field, layout = _tensor_layouts().get(tensor.dtype, ("", ""))
    if not field or any(dim.size != 1 for dim in tensor.tensor_shape.dim):
        return None
    content = tensor.tensor_content
    if content:
        return float(struct.unpack(layout, content)[0]) if len(content) == struct.calcsize(layout) else None
    numbers = getattr(tensor, field)
    return float(numbers[0]) if len(numbers) == 1 else None


@cache
def _tensor_layouts() -> dict[int, tuple[str, str]]:
    """dtype -> (the TensorProto field of its values, its struct layout in tensor_content)."""
    from tensorboard.compat.proto import types_pb2 as t

    return {
        t.DT_FLOAT: ("float_val", "<f"),
        t.DT_DOUBLE: ("double_val", "<d"),
        t.DT_INT32: ("int_val", "<i"),
        t.DT_INT64: ("int64_val", "<q"),
    }


def _facts(points: pl.DataFrame, is_eval: bool) -> pl.DataFrame:
    """Points as facts: each tag by its meaning (see the module's docstring), with the rates' steps covered."""
    tag = pl.col("tag")
    table = pl.DataFrame(
        [(name, *meaning) for name, meaning in _TAGS.items()],
        schema={"tag": pl.String, "kind": pl.String, "key": pl.String, "covers": pl.String},
        orient="row",
    )
    if is_eval:  # TF1's eval dir: `loss` is EVAL_BATCH_LOSS, `accuracy` becomes `eval_accuracy`
        named = pl.when(tag.str.starts_with(f.EVAL_PREFIX) | (tag == f.EVAL_BATCH_LOSS)).then(tag)
        meaning = points.with_columns(kind=pl.lit(f.EVAL), key=named.otherwise(f.EVAL_PREFIX + tag), covers=None)
        meaning = meaning.filter(tag != f.GLOBAL_STEP)
    else:
        hf_eval = tag.str.starts_with("eval/")
        meaning = points.join(table, on="tag", how="left").with_columns(
            kind=pl.when(hf_eval).then(pl.lit(f.EVAL)).otherwise("kind"),
            key=pl.when(hf_eval).then(f.EVAL_PREFIX + tag.str.strip_prefix("eval/")).otherwise("key"),
        )
    meaning = meaning.with_columns(
        kind=pl.when(tag.is_null()).then(pl.lit(f.CHECKPOINT)).otherwise("kind"),
        key=pl.when(tag.is_null()).then(pl.lit(f.CHECKPOINT)).otherwise("key"),
    ).filter(pl.col("key").is_not_null())
    found = pl.concat([meaning, _steps_covered(meaning, points)], how="diagonal")
    return conform(found.with_columns(clock=pl.lit(f.STEP_WALL_TIME)).sort("line", "key"), FACT_SCHEMA)


def _steps_covered(meaning: pl.DataFrame, points: pl.DataFrame) -> pl.DataFrame:
    """One STEPS_COVERED fact at each step with a rate reading (see the module's docstring)."""
    first_step = points.filter(pl.col("tag").is_not_null())["step"].min()
    step = pl.col("step")
    gap = step.diff()
    since_first = step - pl.lit(first_step, pl.Int64)
    interval = (
        meaning.filter(pl.col("covers") == "interval")
        .sort("step", "line")
        .unique("step", keep="first", maintain_order=True)
        .with_columns(
            value=pl.when(gap.is_not_null()).then(gap).when(since_first > 0).then(since_first).otherwise(gap.shift(-1))
        )
    )
    run = (
        meaning.filter(pl.col("covers") == "run")
        .sort("step", "line")
        .unique("step", keep="first")
        .with_columns(value=step)
    )
    covered = pl.concat([interval, run]).filter(pl.col("value") > 0)
    return covered.select(
        "line", "time", "step", kind=pl.lit(f.RATE), key=pl.lit(f.STEPS_COVERED), value=pl.col("value").cast(pl.Float64)
    )
