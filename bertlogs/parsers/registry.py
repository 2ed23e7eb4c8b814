"""The formats bertlogs reads: one entry each, saying what kind of file it is, how it is sniffed and how it
is parsed. Sniffing, dispatch and run assembly choose by kind, never by a named format.

Adding a format: a module `parsers/<name>.py` with `looks_like(head) -> bool` and
`parse(source, *, utc_offset_s) -> (frame, warnings)`, then a `Format` member and its `Entry` below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import polars as pl

from bertlogs.parsers import (
    dcgmi_dmon,
    eval_results,
    hf_config,
    hf_state,
    hf_trainer,
    smi_csv,
    smi_dmon,
    smi_table,
    tf1,
    tfevents,
    unsupported,
)
from bertlogs.schema import FACT_SCHEMA, SAMPLE_SCHEMA


class Kind(str, Enum):
    """What a file is to a run: each run has one training log and one GPU capture, maybe evaluation results,
    and run records (files beside the log that complement it: a Trainer's state, the model's config), whose
    facts join the log's."""

    TRAINING_LOG = "training log"
    GPU_CAPTURE = "GPU capture"
    EVAL_RESULTS = "evaluation results"
    RUN_RECORD = "run record"

    def __str__(self) -> str:
        return self.value

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """The columns a parser of this kind produces."""
        return SAMPLE_SCHEMA if self is Kind.GPU_CAPTURE else FACT_SCHEMA


class Format(str, Enum):
    """A format bertlogs reads (its value names it in messages, in `parse`'s output and on the command line)."""

    TF1_LOG = "tf1-log"
    HF_TRAINER = "hf-trainer"
    HF_STATE = "hf-trainer-state"
    MODEL_CONFIG = "model-config"
    TFEVENTS = "tfevents"
    EVAL_RESULTS = "eval-results"
    SMI_TABLE = "smi-table"
    SMI_CSV = "smi-csv"
    SMI_DMON = "smi-dmon"
    DCGMI_DMON = "dcgmi-dmon"

    def __str__(self) -> str:
        return self.value

    @property
    def kind(self) -> Kind:
        return REGISTRY[self].kind


Frame = tuple[pl.DataFrame, list[str]]  # a file's frame (in its kind's schema) and its warnings


@dataclass(frozen=True)
class Entry:
    """How one format is recognised and read.

    looks_like(head): whether a file's head (`Source.head`, content only) is this format.
    parse(source, *, utc_offset_s): the file's frame and warnings; raises only ParseError.
    evidence(head): how many of the head's lines are this format's, for formats a file can hold together (a
      TF1 log with nvidia-smi tables pasted in): of the formats with evidence that claim a head, the one with
      the most wins. A format without it claims a head in registry order.
    parse_many(sources, *, utc_offsets_s): several files in one polars query (cheaper for many small files).
    chunks(source, *, utc_offset_s): a GPU capture's (frame, warnings) a chunk of consecutive samples at a
      time, read in pieces: memory bounded by a chunk, whatever the file's size.
    refusal(head): why a head that nearly is this format is not (a CSV of other columns), for the message.
    takes_year: the format's stamps carry no year; parse and parse_many take `year=` to complete them.
    looks_like_bytes(head): for a binary format, whether a file's first bytes are this format (its text
      `looks_like` is then never true, and `parse` reads the path of a binary `Source`).
    marks_run: a file of this format makes its directory a run even with subfolders, as a training log and a
      GPU capture always do (a Trainer's state, beside its `checkpoint-N/` folders).
    """

    kind: Kind
    reads: str  # what the format is, in a few words, for the message that refuses a file
    looks_like: Callable[[str], bool]
    parse: Callable[..., Frame]
    evidence: Callable[[str], int] | None = None
    parse_many: Callable[..., list[Frame]] | None = None
    chunks: Callable[..., Iterator[Frame]] | None = None
    refusal: Callable[[str], str | None] | None = None
    takes_year: bool = False
    looks_like_bytes: Callable[[bytes], bool] | None = None
    marks_run: bool = False

    @property
    def makes_a_run(self) -> bool:
        return self.marks_run or self.kind in (Kind.TRAINING_LOG, Kind.GPU_CAPTURE)

    def year_argument(self, year: int | None) -> dict[str, Any]:
        """The keyword arguments that pass `year` on to this format's parser, if it takes one."""
        return {"year": year} if self.takes_year else {}


# In sniffing order: the first format that claims a head wins, unless formats with evidence compete for it.
REGISTRY: dict[Format, Entry] = {
    # before TF1's: the Trainer's stdout prints `***** Running training *****` too
    Format.HF_TRAINER: Entry(Kind.TRAINING_LOG, "Hugging Face Trainer stdout", hf_trainer.looks_like, hf_trainer.parse),
    Format.HF_STATE: Entry(
        Kind.RUN_RECORD, "Hugging Face trainer_state.json", hf_state.looks_like, hf_state.parse, marks_run=True
    ),
    Format.MODEL_CONFIG: Entry(
        Kind.RUN_RECORD, "a model's config.json or bert_config.json", hf_config.looks_like, hf_config.parse
    ),
    Format.TFEVENTS: Entry(
        Kind.RUN_RECORD,
        "TensorBoard event files",
        tfevents.looks_like,
        tfevents.parse,
        looks_like_bytes=tfevents.looks_like_bytes,
    ),
    Format.TF1_LOG: Entry(
        Kind.TRAINING_LOG,
        "TF1 Estimator training logs",
        tf1.looks_like,
        tf1.parse,
        evidence=tf1.evidence,
        parse_many=tf1.parse_many,
        takes_year=True,
    ),
    Format.SMI_TABLE: Entry(
        Kind.GPU_CAPTURE,
        "nvidia-smi tables and `grep %` rows",
        smi_table.looks_like,
        smi_table.parse,
        evidence=smi_table.evidence,
        parse_many=smi_table.parse_many,
        chunks=lambda source, **options: ((frame, []) for frame in smi_table.chunks(source, **options)),
    ),
    Format.SMI_CSV: Entry(
        Kind.GPU_CAPTURE,
        "nvidia-smi --query-gpu CSV and collect's gpu.csv",
        smi_csv.looks_like,
        smi_csv.parse,
        evidence=smi_csv.evidence,
        refusal=smi_csv.refused_header,
        chunks=smi_csv.chunks_and_warnings,
    ),
    Format.SMI_DMON: Entry(Kind.GPU_CAPTURE, "nvidia-smi dmon", smi_dmon.looks_like, smi_dmon.parse),
    Format.DCGMI_DMON: Entry(Kind.GPU_CAPTURE, "dcgmi dmon", dcgmi_dmon.looks_like, dcgmi_dmon.parse),
    Format.EVAL_RESULTS: Entry(
        Kind.EVAL_RESULTS, "BERT's eval_results.txt", eval_results.looks_like, eval_results.parse
    ),
}

READ = "; ".join(f"{fmt} ({entry.reads})" for fmt, entry in REGISTRY.items())  # for `--format` help and errors
NOT_OURS = f"none of the formats bertlogs reads ({', '.join(REGISTRY)})"


def sniff(head: str) -> Format | None:
    """The format of a file whose head (`Source.head`) this is; None when it is none of ours."""
    formats = list(REGISTRY)
    for i, fmt in enumerate(formats):
        entry = REGISTRY[fmt]
        if not entry.looks_like(head):
            continue
        if entry.evidence is None:
            return fmt
        rivals = [fmt] + [
            f for f in formats[i + 1 :] if REGISTRY[f].evidence is not None and REGISTRY[f].looks_like(head)
        ]
        if len(rivals) == 1:
            return fmt
        return max(rivals, key=lambda f: _evidence(f, head))  # the first of equals: registry order
    return None


def sniff_bytes(head: bytes) -> Format | None:
    """The binary format whose first bytes these are; None when none of ours (text formats are sniffed on
    the decoded head)."""
    found = (f for f, e in REGISTRY.items() if e.looks_like_bytes is not None and e.looks_like_bytes(head))
    return next(found, None)


def refusal(head: str) -> str:
    """Why a head is none of the formats bertlogs reads: what it is when it is a known neighbour (an MLPerf
    log), else a format's own reason, else the list of formats."""
    neighbour = unsupported.what(head)
    if neighbour is not None:
        return f"{neighbour}: not read (bertlogs reads {', '.join(REGISTRY)})"
    reasons = (entry.refusal(head) for entry in REGISTRY.values() if entry.refusal is not None)
    return next((reason for reason in reasons if reason is not None), NOT_OURS)


def _evidence(fmt: Format, head: str) -> int:
    count = REGISTRY[fmt].evidence
    return count(head) if count is not None else 0
