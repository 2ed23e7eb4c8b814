"""The Hugging Face Trainer's stdout and stderr (`run_glue.py ... 2>&1 | tee log`, or collect's train.log).

Read from it (into the facts of `bertlogs.facts`): the `***** Running training *****` block (counts with
thousands separators), the Python dict the Trainer prints at each logging step, evaluation and at the end
(`{'loss': 0.61, ..., 'epoch': 0.47}`; transformers 5 prints the floats as strings, `'0.61'`), the
`TrainOutput(global_step=..., metrics={...})` a script prints, tqdm's progress bars, the model's shape (from a
printed config or a BERT miniature's name `..._L-2_H-128_A-2`), and out-of-memory errors.

tqdm redraws its bar with `\\r` on one line: each line is split at `\\r` into segments, read in order. A dict
without a `step` key takes its step from the training bar redrawn right after it: tqdm clears the bar, the
dict is written, and the bar is drawn again showing the steps done when the dict was logged.

Clocks: collect's (or Docker's) RFC 3339 UTC stamp at the start of a line, stamped when the line ended, so it
is the time of the line's last segment only; transformers' explicit format (`[INFO|trainer.py:1618]
2026-12-01 13:08:54,333 >> `) and run_glue.py's (`12/01/2026 13:08:54 - INFO - __main__ - `) in local time.
"""

from __future__ import annotations

import re

import polars as pl

from bertlogs import facts as f
from bertlogs.errors import ParseError, one_line
from bertlogs.parsers.hf_state import entry_facts, whole
from bertlogs.parsers.text import ANSI, COLLECT_STAMP, Source, engine, holds, scan_lines
from bertlogs.schema import FACT_SCHEMA, conform

_MARKERS = re.compile(
    r"Total optimization steps = |Instantaneous batch size per device = "
    r"|^[^\n{]{0,80}\{'(?:loss|eval_loss|train_runtime)': [^\n]*'epoch': |TrainOutput\(global_step=",
    re.MULTILINE,
)
_MARKER_WORDS = (
    "Total optimization steps",
    "Instantaneous batch",
    "{'loss'",
    "{'eval_loss'",
    "{'train_runtime'",
    "TrainOutput(",
)
_STAMP = rf"^({COLLECT_STAMP})Z "
# transformers' explicit format, or run_glue.py's basicConfig format: both local time
_PREFIX = (
    r"\[(?:INFO|WARNING|ERROR|DEBUG|CRITICAL)\|[^\]|]+\] "
    r"(?<explicit>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8},[0-9]{3}) >>(?: |$)"  # `>>` ends a line peeled of its blanks
    r"|^(?<basic>[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9:]{8}) - [A-Z]+ - \S+ - "
)
_BAR = (
    r"[0-9]{1,3}%\|[^|]*\| *(?<n>[0-9]+)/(?<total>[0-9]+) \[(?<elapsed>[0-9:]+)<[0-9:?]+, *"
    r"(?<rate>[0-9.]+|\?)(?<unit>it/s|s/it)\]"
)
_CONFIG = r"^\s*(?<name>[A-Z][A-Za-z ]+?)(?: \([^)]*\))? = (?<value>[0-9][0-9,]*)\s*$"
_CONFIG_NAMES = {
    "Num examples": f.NUM_EXAMPLES,
    "Num Epochs": f.NUM_EPOCHS,
    "Num update steps per epoch": f.STEPS_PER_EPOCH,
    "Instantaneous batch size per device": f.DEVICE_BATCH_SIZE,
    "Total train batch size": f.BATCH_SIZE,
    "Gradient Accumulation steps": f.GRAD_ACCUM_STEPS,
    "Total optimization steps": f.NUM_STEPS,
    "Number of trainable parameters": f.NUM_PARAMETERS,
    "Batch size": f.BATCH_SIZE,  # in an evaluation's block
}
_DICT = r"^\s*(?:TrainOutput\(global_step=(?<global_step>[0-9]+), .*?metrics=)?(?<pairs>\{'.*\})\)?\s*$"
_PAIR = r"'[^']+': (?:'[^']*'|[^,{}]+)"
_MODEL = (
    r"_L-(?<name_layers>[0-9]+)_H-(?<name_hidden>[0-9]+)"
    r"|^\s*\"(?<field>num_hidden_layers|hidden_size)\": (?<size>[0-9]+),?\s*$"
)
_OOM = r"CUDA out of memory|OutOfMemoryError"
_METRICS_HEADER = "***** eval metrics *****"  # Trainer.log_metrics("eval", ...), as run_glue.py prints it
_METRIC = r"^\s*(?<key>[A-Za-z_]\w*)\s+=\s+(?<value>\S+)\s*$"


def looks_like(head: str) -> bool:
    """The training block, a Trainer log dict or a TrainOutput: what the Trainer alone prints (a JSON document,
    such as a notebook holding a Trainer's output, is no stdout)."""
    # every marker holds one of these: a substring test spares the regex (4 ms on a 256 KiB head) most files
    json_document = head.lstrip().startswith("{") and not head.lstrip().startswith("{'")
    maybe = not json_document and any(holds(head, word) for word in _MARKER_WORDS)
    return maybe and _MARKERS.search(head) is not None


def parse(source: Source, *, utc_offset_s: float = 0.0) -> tuple[pl.DataFrame, list[str]]:
    """Facts of a Trainer's stdout; `utc_offset_s` turns the logging format's local stamps into unix time.

    Raises:
        ParseError: content polars cannot read.
    """
    try:
        lines = source.peel(scan_lines(source.data, clean=False), utc_offset_s)
        segments = _segments(lines, utc_offset_s).collect(engine=engine(source.large))
        config = _config_facts(segments)
        train_total = _first(config.filter(pl.col("key") == f.NUM_STEPS)["value"])
        bars = _training_bars(segments, train_total)
        logged = _dict_facts(segments, bars)
        last_step = _first(logged.filter(pl.col("key") == f.STEPS_COVERED)["step"])
        final_eval = _metrics_block(segments, last_step if last_step is not None else train_total, logged)
        parts = [config, logged, final_eval, _progress_facts(bars), _model_facts(segments), _oom_facts(segments)]
        frame = pl.concat([*parts, _phases(config, segments)], how="diagonal_relaxed").sort(
            "line", "kind", "key", maintain_order=True
        )
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise ParseError(str(source.path), f"cannot be parsed ({one_line(exc)})") from exc
    return conform(frame, FACT_SCHEMA), _stepless(str(source.path), logged)


def _stepless(path: str, logged: pl.DataFrame) -> list[str]:
    lines = logged.filter(pl.col("step").is_null())["line"].unique().sort()
    if lines.is_empty():
        return []
    what = "Trainer dict(s) without a step (no 'step' key, no progress bar drawn after them)"
    return [f"{path}:{lines[0]}: {len(lines)} {what}: their facts have no step"]


def _first(values: pl.Series) -> float | None:
    return None if values.is_empty() or values[0] is None else float(values[0])


def _segments(lines: pl.LazyFrame, utc_offset_s: float) -> pl.LazyFrame:
    """One row per `\\r` segment of each line (`seg` numbers them over the file), its text without colours or
    prefix (`msg`), time and clock; blank segments left out, section (train or eval) carried forward."""
    text = pl.col("text")
    stamp = text.str.extract(_STAMP, 1).str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False)
    split = lines.with_columns(
        stamp=stamp, parts=text.str.replace(_STAMP, "").str.replace_all(ANSI, "").str.split("\r")
    )
    split = split.with_columns(last=pl.col("parts").list.len() - 1).explode("parts")
    split = split.with_columns(part=pl.int_range(pl.len()).over("line")).rename({"parts": "segment"})
    split = split.filter(pl.col("segment").str.strip_chars() != "").with_row_index("seg")
    prefix = pl.col("segment").str.extract_groups(_PREFIX)
    local = pl.coalesce(
        prefix.struct["explicit"].str.to_datetime("%Y-%m-%d %H:%M:%S,%3f", strict=False),
        prefix.struct["basic"].str.to_datetime("%m/%d/%Y %H:%M:%S", strict=False),
    )
    epoch_s = lambda dt: dt.dt.epoch("us").cast(pl.Float64) / 1e6  # noqa: E731
    stamped = pl.col("stamp").is_not_null() & (pl.col("part") == pl.col("last"))
    msg = pl.col("segment").str.replace(r"^.*?(?:" + _PREFIX + ")", "")
    # `***** Running training *****`, `***** Running Evaluation *****`, `***** Running Prediction *****`
    header = msg.str.extract(r"\*\*\*\*\* Running (?i:(training|evaluation|prediction)) \*\*\*\*\*", 1)
    return split.select(
        "seg",
        "line",
        "segment",
        msg=msg,
        # a stamp peeled off the line (`[2024-05-01 10:00:00] `, see `Source.peel`) is a wrapper's, as collect's
        time=pl.when(stamped)
        .then(epoch_s(pl.col("stamp")))
        .otherwise(pl.coalesce("stamp_s", epoch_s(local) - utc_offset_s)),
        clock=pl.when(stamped)
        .then(pl.lit("utc"))
        .when(pl.col("stamp_s").is_not_null())
        .then(pl.col("stamp_clock"))
        .when(local.is_not_null())
        .then(pl.lit("local")),
        section=header.str.to_lowercase().replace({"prediction": "evaluation"}).forward_fill().fill_null("training"),
    )


def _config_facts(segments: pl.DataFrame) -> pl.DataFrame:
    config = pl.col("msg").str.extract_groups(_CONFIG)
    name = config.struct["name"]
    key = name.replace_strict(_CONFIG_NAMES, default=None)
    return (
        segments.with_columns(
            kind=pl.lit(f.CONFIG),
            key=pl.when(pl.col("section") == "evaluation").then(f.EVAL_PREFIX + key).otherwise(key),
            value=whole(config.struct["value"].str.replace_all(",", "").cast(pl.Float64, strict=False)).cast(
                pl.Float64
            ),
        )
        .filter(pl.col("key").is_not_null() & pl.col("value").is_not_null())
        .select("seg", "line", "time", "clock", "kind", "key", "value", "section")
    )


def _training_bars(segments: pl.DataFrame, train_total: float | None) -> pl.DataFrame:
    """The training bar's redraws: the bar whose total is the run's steps (else the largest total: an
    evaluation's bar counts its batches)."""
    bar = pl.col("segment").str.extract_groups(_BAR)
    bars = segments.with_columns(
        n=whole(bar.struct["n"].cast(pl.Float64, strict=False)),
        total=bar.struct["total"].cast(pl.Int64, strict=False),
        elapsed=bar.struct["elapsed"],
        rate=bar.struct["rate"].cast(pl.Float64, strict=False),
        unit=bar.struct["unit"],
    ).filter(pl.col("n").is_not_null())
    total = pl.lit(train_total).cast(pl.Int64) if train_total is not None else pl.col("total").max()
    return bars.filter(pl.col("total") == total)


def _progress_facts(bars: pl.DataFrame) -> pl.DataFrame:
    # `1:02:03` or `02:03`: the fields are hours, minutes, seconds from the right
    fields = pl.col("elapsed").str.split(":").list.reverse()
    elapsed_s = sum(
        (fields.list.get(i, null_on_oob=True).cast(pl.Float64, strict=False).fill_null(0) * 60**i for i in range(3)),
        start=pl.lit(0.0),
    )
    rate = pl.when(pl.col("unit") == "s/it").then(1 / pl.col("rate")).otherwise(pl.col("rate"))
    readings = bars.select("seg", "line", "time", "clock", step=pl.col("n"), steps_per_s=rate, elapsed_s=elapsed_s)
    # tqdm draws the bar again, unchanged, after each dict it prints: one fact per state
    readings = readings.unique(subset=["step", "steps_per_s", "elapsed_s"], keep="first", maintain_order=True)
    long = readings.unpivot(["steps_per_s", "elapsed_s"], index=["seg", "line", "time", "clock", "step"])
    names = {"steps_per_s": f.BAR_STEPS_PER_S, "elapsed_s": f.BAR_ELAPSED_S}
    return long.select(
        "seg",
        "line",
        "time",
        "clock",
        "step",
        kind=pl.lit(f.PROGRESS),
        key=pl.col("variable").replace_strict(names),
        value="value",
    ).filter(pl.col("value").is_finite())


def _dict_facts(segments: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """The Trainer's log dicts and a TrainOutput's metrics, as log entries (see `hf_state.entry_facts`)."""
    found = pl.col("msg").str.extract_groups(_DICT)
    dicts = segments.with_columns(
        pairs=found.struct["pairs"],
        global_step=whole(found.struct["global_step"].cast(pl.Float64, strict=False)),
        output=found.struct["global_step"].is_not_null(),
    ).filter(pl.col("pairs").is_not_null())
    # a dict given again verbatim (printed, then quoted in a docstring or pasted twice) is logged once
    dicts = dicts.unique(subset=["pairs", "global_step"], keep="first", maintain_order=True)
    # the training bar drawn again right after a dict shows the step it was logged at
    after = bars.select(seg=pl.col("seg") - 1, bar_step=pl.col("n"))
    dicts = dicts.join(after, on="seg", how="left").with_columns(step=pl.coalesce("global_step", "bar_step"))
    pair = pl.col("pair")
    entries = (
        dicts.with_columns(pair=pl.col("pairs").str.extract_all(_PAIR))
        .explode("pair")
        .select(
            "line",
            "time",
            "clock",
            "step",
            "output",
            entry="seg",
            key=pair.str.extract(r"^'([^']+)'", 1),
            value=pair.str.extract(r"^'[^']+': '?([^']*?)'?\s*$", 1).cast(pl.Float64, strict=False),
        )
        .filter(pl.col("value").is_not_null())
    )
    # a script's TrainOutput repeats the summary dict with more digits and the step: keep it alone
    summary = (pl.col("key") == "train_runtime").any().over("entry")
    has_output = (summary & pl.col("output")).any()
    entries = entries.filter(~(summary & ~pl.col("output") & has_output))
    return entry_facts(entries.lazy()).drop("output").collect()


def _metrics_block(segments: pl.DataFrame, step: float | None, logged: pl.DataFrame) -> pl.DataFrame:
    """The `***** eval metrics *****` block of the evaluation after training (the only one when the run does
    not evaluate during training, run_glue.py's default), at the run's last step; an evaluation also logged
    as a dict at that step is counted once, from the dict."""
    metric = pl.col("msg").str.extract_groups(_METRIC)
    is_metric = metric.struct["key"].is_not_null()
    blocks = segments.with_columns(is_metric=is_metric, block=(~is_metric).cum_sum())
    in_block = pl.col("msg").first().over("block").str.strip_chars() == _METRICS_HEADER
    found = blocks.filter(pl.col("is_metric") & in_block).select(
        "seg",
        "line",
        "time",
        "clock",
        kind=pl.lit(f.EVAL),
        key=metric.struct["key"],
        value=metric.struct["value"].cast(pl.Float64, strict=False),
        step=pl.lit(step).cast(pl.Int64),
    )
    seen = logged.filter(pl.col("kind") == f.EVAL).select("step", "key")
    # the block given again (printed, then quoted in a docstring or pasted twice) is one evaluation
    found = found.filter(pl.col("value").is_not_null()).unique(subset=["key"], keep="first", maintain_order=True)
    return found.join(seen, on=["step", "key"], how="anti", nulls_equal=True)


def _model_facts(segments: pl.DataFrame) -> pl.DataFrame:
    """LAYERS and HIDDEN from a printed config (`"num_hidden_layers": 2,`), else from a miniature's name."""
    model = pl.col("model")
    found = segments.with_columns(model=pl.col("msg").str.extract_groups(_MODEL))
    printed = found.filter(model.struct["size"].is_not_null()).select(
        "seg",
        "line",
        key=model.struct["field"].replace_strict({"num_hidden_layers": f.LAYERS, "hidden_size": f.HIDDEN}),
        value=model.struct["size"],
        priority=pl.lit(0),
    )
    named = found.filter(model.struct["name_layers"].is_not_null()).select(
        "seg", "line", **{f.LAYERS: model.struct["name_layers"], f.HIDDEN: model.struct["name_hidden"]}
    )
    named = named.unpivot(index=["seg", "line"], variable_name="key").with_columns(priority=pl.lit(1))
    first = pl.concat([printed, named]).sort("priority", "seg").group_by("key", maintain_order=True).first()
    value = whole(pl.col("value").cast(pl.Float64, strict=False)).cast(pl.Float64)
    return first.select("seg", "line", "key", kind=pl.lit(f.MODEL), value=value).filter(pl.col("value").is_not_null())


def _oom_facts(segments: pl.DataFrame) -> pl.DataFrame:
    return segments.filter(pl.col("msg").str.contains(_OOM)).select(
        "seg", "line", "time", "clock", kind=pl.lit(f.ERROR), key=pl.lit(f.OOM), value=pl.lit(1.0)
    )


def _phases(config: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """TRAIN_START at the end of the training block (the Trainer starts `train_runtime`'s clock there),
    TRAIN_END at the first line with `'train_runtime': ` (the Trainer's own dict, printed as the loop ends;
    a script's TrainOutput comes later): both only where those lines have a clock."""
    block = config.filter((pl.col("section") == "training") & pl.col("time").is_not_null())
    end = segments.filter(pl.col("msg").str.contains("'train_runtime': ", literal=True) & pl.col("time").is_not_null())
    return pl.concat(
        [
            block.sort("seg").tail(1).select("seg", "line", "time", "clock", key=pl.lit(f.TRAIN_START)),
            end.sort("seg").head(1).select("seg", "line", "time", "clock", key=pl.lit(f.TRAIN_END)),
        ]
    ).with_columns(kind=pl.lit(f.PHASE), value=pl.col("time"))
