"""Hugging Face Trainer's `trainer_state.json` (`Trainer.save_state()`, and each `checkpoint-N/`).

Its `log_history` holds one object per log: a logging step (`loss`, `grad_norm`, `learning_rate`, `epoch`,
`step`), an evaluation (`eval_*` keys), and at the end the run's summary (`train_runtime`,
`train_samples_per_second`, `train_steps_per_second`, `total_flos`, `train_loss`). The Trainer prints the same
objects on stdout as Python dicts, so `entry_facts` turns either into facts (see `bertlogs.facts`). The file has
no clock: its facts have no time.
"""

from __future__ import annotations

import json
import math

import polars as pl

from bertlogs import facts as f
from bertlogs.errors import ParseError
from bertlogs.parsers.text import Source, decode
from bertlogs.schema import FACT_SCHEMA, conform

# A run logging every step for 100,000 steps writes ~15 MB; json.loads holds it several times over.
MAX_BYTES = 32 * 2**20
MAX_COUNT = 10**15  # no run is longer; step arithmetic past it would wrap int64 silently

_LOSS_KEYS = {"loss": f.LOSS, "grad_norm": f.GRAD_NORM, "learning_rate": f.LEARNING_RATE, "epoch": f.EPOCH}
_SUMMARY_KEYS = {
    "train_runtime": (f.RATE, f.RUNTIME_S),
    "train_samples_per_second": (f.RATE, f.EXAMPLES_PER_S),
    "train_steps_per_second": (f.RATE, f.STEPS_PER_S),
    "total_flos": (f.RATE, f.TOTAL_FLOS),
    "train_loss": (f.LOSS, f.TRAIN_LOSS_MEAN),
}
_CONFIG_KEYS = {
    "max_steps": f.NUM_STEPS,
    "num_train_epochs": f.NUM_EPOCHS,
    "train_batch_size": f.DEVICE_BATCH_SIZE,  # per device (times DataParallel's GPUs), before accumulation
    "logging_steps": f.LOGGING_STEPS,
}
_ENTRY_SCHEMA = {"entry": pl.Int64, "key": pl.String, "value": pl.Float64}


def looks_like(head: str) -> bool:
    """A JSON object with the Trainer's `log_history` and `global_step` (HF writes its keys sorted)."""
    return head.lstrip().startswith("{") and '"log_history"' in head and '"global_step"' in head


def parse(source: Source, *, utc_offset_s: float = 0.0) -> tuple[pl.DataFrame, list[str]]:
    """Facts of a trainer_state.json: its log_history, and its settings as CONFIG facts.

    Raises:
        ParseError: larger than MAX_BYTES, not valid JSON, or without a log_history list.
    """
    path = str(source.path)
    document = read_json(source, "trainer_state.json")
    history = document.get("log_history")
    if not isinstance(history, list):
        raise ParseError(path, "no `log_history` list: not a Trainer state")
    warnings = [
        f"{path}: log_history[{i}] is not an object; ignored" for i, e in enumerate(history) if type(e) is not dict
    ]
    rows = [(i, k, float(v)) for i, e in enumerate(history) if type(e) is dict for k, v in e.items() if _real(v)]
    entries = pl.LazyFrame(rows, schema=_ENTRY_SCHEMA, orient="row")
    config = [(k, float(document[name])) for name, k in _CONFIG_KEYS.items() if _count(document.get(name))]
    settings = pl.LazyFrame(config, schema={"key": pl.String, "value": pl.Float64}, orient="row", strict=False)
    settings = settings.with_columns(kind=pl.lit(f.CONFIG))
    frame = pl.concat([entry_facts(entries), settings.filter(pl.col("value") >= 1)], how="diagonal_relaxed")
    steps, max_steps = document.get("global_step"), document.get("max_steps")
    if _count(steps) and _count(max_steps) and steps != max_steps:
        warnings.append(
            f"{path}: global_step {steps} of max_steps {max_steps}: a checkpoint's state or a run cut short"
        )
    return conform(frame, FACT_SCHEMA).collect(), warnings


def entry_facts(entries: pl.LazyFrame) -> pl.LazyFrame:
    """Facts of Trainer log entries: rows `entry`, `key` (the Trainer's), `value`, and optionally `step`
    (where the entry has no `step` key of its own), `line`, `time`, `clock`. The summary entry also gives
    STEPS_COVERED: its runtime covers every step of the run, up to its step."""
    names = entries.collect_schema().names()
    key = pl.col("key")
    in_entry = lambda condition: condition.any().over("entry")  # noqa: E731
    summary, evaluation, loss = (
        in_entry(key == "train_runtime"),
        in_entry(key.str.starts_with("eval_")),
        in_entry(key == "loss"),
    )
    own_step = whole(pl.when(key == "step").then(pl.col("value")).max().over("entry"))
    step = pl.coalesce(own_step, pl.col("step")) if "step" in names else own_step
    kind = (
        pl.when(summary)
        .then(key.replace_strict({k: kind for k, (kind, _) in _SUMMARY_KEYS.items()}, default=None))
        .when(evaluation)
        .then(pl.lit(f.EVAL))
        .when(loss & key.is_in(list(_LOSS_KEYS)))
        .then(pl.lit(f.LOSS))
    )
    renamed = (
        pl.when(summary)
        .then(key.replace_strict({k: name for k, (_, name) in _SUMMARY_KEYS.items()}, default=None))
        .when(evaluation)
        .then(key)
        .otherwise(key.replace_strict(_LOSS_KEYS, default=None))
    )
    found = entries.with_columns(step=step, kind=kind, key=renamed).filter(
        pl.col("kind").is_not_null() & (key != "step")
    )
    covered = found.filter(key == f.RUNTIME_S).with_columns(
        key=pl.lit(f.STEPS_COVERED), value=pl.col("step").cast(pl.Float64)
    )
    return pl.concat([found, covered.filter(pl.col("value").is_not_null())])


def whole(value: pl.Expr) -> pl.Expr:
    """A count as Int64, null when it is none: NaN, inf, fractional, negative or past MAX_COUNT."""
    count = value.cast(pl.Int64, strict=False)
    return pl.when(count.is_between(0, MAX_COUNT) & (count.cast(pl.Float64) == value)).then(count)


def read_json(source: Source, what: str) -> dict:
    """The JSON object in `source`, read whole up to MAX_BYTES.

    Raises:
        ParseError: larger than MAX_BYTES, unreadable, not valid JSON, or not an object.
    """
    path = str(source.path)
    try:
        if isinstance(source.data, bytes):
            raw = source.data
        else:
            with source.data.open("rb") as file:
                raw = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ParseError.unreadable(path, exc) from exc
    if len(raw) > MAX_BYTES:
        raise ParseError(path, f"larger than {MAX_BYTES >> 20} MiB: too large for a {what}")
    text = decode(path, raw)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        shown = lines[exc.lineno - 1] if exc.lineno <= len(lines) else None
        raise ParseError(path, f"not valid JSON ({exc.msg}, column {exc.colno})", exc.lineno, shown) from exc
    except RecursionError as exc:
        raise ParseError(path, "JSON nested too deeply") from exc
    except ValueError as exc:  # an integer of over 4,300 digits
        raise ParseError(path, f"not a JSON this reader takes ({exc})") from exc
    if not isinstance(document, dict):
        raise ParseError(path, f"not a JSON object, so not a {what}")
    return document


def _real(value: object) -> bool:
    """A JSON number that is a float (NaN included: the Trainer writes a diverged loss as NaN); true and
    false are not, nor an integer too large for one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, float) or abs(value) < 2**1023


def _count(value: object) -> bool:
    return _real(value) and math.isfinite(value)  # type: ignore[arg-type]
