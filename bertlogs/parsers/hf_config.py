"""A model's `config.json` (Hugging Face, saved beside `trainer_state.json` by `Trainer.save_model()`), or
google-research/bert's `bert_config.json`: the model's shape as MODEL facts (LAYERS, HIDDEN)."""

from __future__ import annotations

import re

import polars as pl

from bertlogs import facts as f
from bertlogs.errors import ParseError
from bertlogs.parsers.hf_state import MAX_COUNT, read_json
from bertlogs.parsers.text import Source
from bertlogs.schema import FACT_SCHEMA, conform

_SHAPE = {"num_hidden_layers": f.LAYERS, "hidden_size": f.HIDDEN}


def looks_like(head: str) -> bool:
    """A JSON object naming both a layer count and a hidden size (HF writes its keys sorted, in the first KiB)."""
    return head.lstrip().startswith("{") and all(re.search(f'"{name}": *[0-9]', head) for name in _SHAPE)


def parse(source: Source, *, utc_offset_s: float = 0.0) -> tuple[pl.DataFrame, list[str]]:
    """LAYERS and HIDDEN of the model.

    Raises:
        ParseError: not a JSON object, or neither field a whole number >= 1.
    """
    document = read_json(source, "model config.json")
    shape = {key: document.get(name) for name, key in _SHAPE.items()}
    found = {k: float(v) for k, v in shape.items() if type(v) is int and 1 <= v <= MAX_COUNT}
    if not found:
        raise ParseError(str(source.path), "no num_hidden_layers or hidden_size as a whole number: not a model config")
    warnings = [
        f"{source.path}: {k} is {v!r}, not a whole number >= 1; ignored" for k, v in shape.items() if k not in found
    ]
    frame = pl.DataFrame({"key": list(found), "value": list(found.values())}).with_columns(kind=pl.lit(f.MODEL))
    return conform(frame, FACT_SCHEMA), warnings
