"""TensorFlow 1.x Estimator / TPUEstimator logs (google-research/bert run_classifier.py and kin).

Text in, one row per fact out (see `schema.FACT_SCHEMA`). Every line is handled by vectorised polars
expressions in one lazy plan, collected once: prefixes are peeled off (docker RFC 3339 stamp, indentation,
`#` comment, worker tag, `INFO:tensorflow:` / absl / C++ header), then each message is matched against the
fact patterns.
"""

from __future__ import annotations

import polars as pl

from bertlogs.parsers.text import text_lines
from bertlogs.schema import FACT_SCHEMA, conform

# StepCounterHook's default `log_step_count_steps`: each rate reading covers this many steps.
RATE_WINDOW_STEPS = 100

_DOCKER = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z "
_WORKER = r"^\[([^\]\s]+::std(?:err|out))\]\s?"
_CLASSIC = r"^(?:INFO|WARNING|ERROR|FATAL|DEBUG|WARN):(?:tensorflow|absl|root):"
_ABSL = r"^[IWEF](?<month>\d\d)(?<day>\d\d) (?<time>\d\d:\d\d:\d\d\.\d+)\s+\d+\s+[^\]\s]+\] "
_CPP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+): [IWEF] [^\]]+\] "

_SIMPLE_FACTS: list[tuple[str, str, str]] = [
    # (regex with the value in group 1, kind, key)
    (r"^global_step/sec: (\S+)$", "rate", "global_step/sec"),
    (r"^examples/sec: (\S+)$", "rate", "examples/sec"),
    (r"^Saving checkpoints for (\d+) ", "checkpoint", "checkpoint"),
    (r"^Loss for final step: (\S+?)\.?$", "loss", "final_step_loss"),
    (r"^loss = (\S+?),? step = \d+", "loss", "loss"),
    (r"^Model diverged with loss = (\S+?)\.?$", "error", "diverged"),
    (r"(ResourceExhaustedError|OOM when allocating tensor)", "error", "oom"),
    (r"^(Skipping training) since max_steps", "note", "skipped_training"),
]
_CONFIG = r"^\s*(Num examples|Batch size|Num steps) = (\d+)"
_KV = r"^\s*([A-Za-z_][\w.]*) = (\S+)$"
_EVAL_HEADER = "***** Eval results *****"
_DICT = r"^Saving dict for global step (\d+): (.*)$"
_VARIABLE = r"^\s*name = (\S+), shape = \(([^)]*)\)"


def parse(text: str, *, year: int | None = None, utc_offset_s: float = 0.0) -> pl.DataFrame:
    """Facts of a TF1 log.

    `year` completes absl stamps (`I1104 22:22:29.02`), which have none, when the log has no full
    stamp of its own; `utc_offset_s` turns local stamps (absl, C++) into unix time. Docker's UTC stamps,
    when present, win over both.
    """
    return parse_lines(text_lines(text), year=year, utc_offset_s=utc_offset_s)


def parse_lines(lines: pl.LazyFrame, *, year: int | None = None, utc_offset_s: float = 0.0) -> pl.DataFrame:
    # the peeled lines feed four branches: collect them once rather than once per branch
    peeled = _peel(lines, year, utc_offset_s).collect(engine="in-memory").lazy()
    facts = pl.concat(
        [_simple_facts(peeled), _config_facts(peeled), _eval_facts(peeled), _model_facts(peeled)],
        how="diagonal_relaxed",
    )
    return conform(_with_rate_steps(facts).sort("line", "key").collect(engine="in-memory"), FACT_SCHEMA)


def _peel(lines: pl.LazyFrame, year: int | None, utc_offset_s: float) -> pl.LazyFrame:
    text = pl.col("text")
    frame = lines.with_columns(
        docker=text.str.extract(_DOCKER, 1).str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False),
        rest=text.str.replace(_DOCKER, "").str.replace(r"^\s*(?:#\s+)?", ""),
    ).with_columns(
        worker=pl.col("rest").str.extract(_WORKER, 1),
        rest=pl.col("rest").str.replace(_WORKER, "").str.strip_chars_start(),
    )
    rest = pl.col("rest")
    absl = rest.str.extract_groups(_ABSL)
    frame = frame.with_columns(
        style=pl.when(rest.str.contains(_CLASSIC))
        .then(pl.lit("classic"))
        .when(absl.struct["time"].is_not_null())
        .then(pl.lit("absl"))
        .when(rest.str.contains(_CPP))
        .then(pl.lit("cpp"))
        .otherwise(pl.lit("bare")),
        absl_md=absl.struct["month"] + "-" + absl.struct["day"],
        absl_time=absl.struct["time"],
        cpp=rest.str.extract(_CPP, 1).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False),
        msg=rest.str.replace(_CLASSIC, "").str.replace(_ABSL, "").str.replace(_CPP, ""),
    ).filter(pl.col("msg").str.strip_chars() != "")

    # TF 1.14/1.15 print each Python log line twice (classic, then absl): keep the absl twin, it has a clock.
    worker = pl.col("worker").fill_null("")
    twin_next = (pl.col("msg").shift(-1).over(worker) == pl.col("msg")) & (
        pl.col("style").shift(-1).over(worker) == "absl"
    )
    twin_prev = (pl.col("msg").shift(1).over(worker) == pl.col("msg")) & (
        pl.col("style").shift(1).over(worker) == "absl"
    )
    frame = frame.filter(~((pl.col("style") == "classic") & (twin_next | twin_prev).fill_null(False)))

    # absl stamps carry no year: the log's own full stamps give it, else `year`, else 1970 (and the clock says so)
    hint = pl.coalesce("docker", "cpp").drop_nulls().first().dt.year()
    year_used = pl.lit(year) if year is not None else hint.fill_null(1970)
    year_clock = pl.lit("local") if year is not None else pl.when(hint.is_null()).then(pl.lit("local-year-assumed"))
    absl_dt = (year_used.cast(pl.String) + "-" + pl.col("absl_md") + " " + pl.col("absl_time")).str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f", strict=False
    )
    epoch = lambda dt: dt.dt.epoch("us").cast(pl.Float64) / 1e6  # noqa: E731
    return frame.with_columns(
        time=pl.when(pl.col("docker").is_not_null())
        .then(epoch(pl.col("docker")))
        .otherwise(epoch(pl.coalesce(pl.col("cpp"), absl_dt)) - utc_offset_s),
        clock=pl.when(pl.col("docker").is_not_null())
        .then(pl.lit("utc"))
        .when(pl.col("cpp").is_not_null())
        .then(pl.lit("local"))
        .when(pl.col("absl_time").is_not_null())
        .then(year_clock.fill_null("local")),
        section=pl.when(pl.col("msg").str.contains(r"\*\*\*\*\* Running training"))
        .then(pl.lit("train"))
        .when(pl.col("msg").str.contains(r"\*\*\*\*\* Running (?:evaluation|prediction)"))
        .then(pl.lit("eval"))
        .forward_fill()
        .fill_null("train"),
    ).select("line", "time", "clock", "worker", "msg", "section")


def _simple_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """One pass: the first matching pattern names the fact, its group 1 is the value."""
    msg = pl.col("msg")
    which: pl.Expr = pl.lit(None, pl.Int32)
    value: pl.Expr = pl.lit(None, pl.String)
    for i, (pattern, _, _) in reversed(list(enumerate(_SIMPLE_FACTS))):  # the first match wins
        which = pl.when(msg.str.contains(pattern)).then(pl.lit(i, pl.Int32)).otherwise(which)
        value = pl.when(pl.col("which") == i).then(msg.str.extract(pattern, 1)).otherwise(value)
    kinds = pl.Series([kind for _, kind, _ in _SIMPLE_FACTS])
    keys = pl.Series([key for _, _, key in _SIMPLE_FACTS])
    any_fact = "|".join(f"(?:{pattern})" for pattern, _, _ in _SIMPLE_FACTS)
    frame = (
        lines.filter(msg.str.contains(any_fact))
        .with_columns(which=which)
        .with_columns(
            kind=pl.lit(kinds).gather(pl.col("which")),
            key=pl.lit(keys).gather(pl.col("which")),
            raw=value.str.to_lowercase(),
        )
    )
    return frame.with_columns(
        # an error is a fact whether or not it carries a number
        value=pl.when(pl.col("kind") == "error")
        .then(pl.col("raw").cast(pl.Float64, strict=False).fill_null(1.0))
        .otherwise(pl.col("raw").cast(pl.Float64, strict=False)),
        step=pl.when(pl.col("key") == "loss")
        .then(msg.str.extract(r"step = (\d+)", 1).cast(pl.Int64))
        .when(pl.col("kind") == "checkpoint")
        .then(pl.col("raw").cast(pl.Int64, strict=False)),
    ).drop("which", "raw")


def _config_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    msg = pl.col("msg")
    name = msg.str.extract(_CONFIG, 1).str.to_lowercase().str.replace(" ", "_")
    return lines.filter(msg.str.contains(_CONFIG)).with_columns(
        kind=pl.lit("config"),
        key=pl.when(pl.col("section") == "eval").then("eval_" + name).otherwise(name),
        value=msg.str.extract(_CONFIG, 2).cast(pl.Float64),
    )


def _eval_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    msg = pl.col("msg")
    is_kv = msg.str.contains(_KV) & ~msg.str.contains(r"^\s*(?:name|Num examples|Batch size|Num steps) = ")
    blocks = (
        lines.with_columns(kv=is_kv, header=msg.str.strip_chars() == _EVAL_HEADER)
        .with_columns(block=(~pl.col("kv")).cum_sum())
        .filter(pl.col("kv") | pl.col("header"))
        .with_columns(
            key=msg.str.extract(_KV, 1),
            value=msg.str.extract(_KV, 2).str.to_lowercase().cast(pl.Float64, strict=False),
        )
    )
    # a block of `  key = value` lines is an eval result after the header, or when it has an eval_ key
    blocks = blocks.with_columns(
        is_eval=(
            pl.col("header").any().over("block")
            | (pl.col("kv") & pl.col("key").str.starts_with("eval_")).any().over("block")
        )
    ).filter(pl.col("kv") & pl.col("is_eval") & pl.col("value").is_not_null())
    blocks = blocks.with_columns(
        kind=pl.lit("eval"),
        step=pl.when(pl.col("key") == "global_step").then(pl.col("value")).max().over("block").cast(pl.Int64),
    )
    pairs = (
        lines.filter(msg.str.contains(_DICT))
        .with_columns(
            step=msg.str.extract(_DICT, 1).cast(pl.Int64),
            pair=msg.str.extract(_DICT, 2).str.extract_all(r"[A-Za-z_][\w.]* = [^,]+"),
        )
        .explode("pair")
        .with_columns(
            kind=pl.lit("eval_dict"),
            key=pl.col("pair").str.extract(r"^(\S+) = ", 1),
            value=pl.col("pair")
            .str.extract(r" = (.+)$", 1)
            .str.strip_chars()
            .str.to_lowercase()
            .cast(pl.Float64, strict=False),
        )
        .filter(pl.col("value").is_not_null())
    )
    return pl.concat([blocks, pairs], how="diagonal_relaxed")


def _model_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """layers = highest `layer_N` + 1, hidden = the word-embedding width, from the Trainable Variables listing."""
    msg = pl.col("msg")
    variables = lines.filter(msg.str.contains(_VARIABLE)).with_columns(
        name=msg.str.extract(_VARIABLE, 1), shape=msg.str.extract(_VARIABLE, 2)
    )
    layers = variables.select(
        pl.col("line").first(),
        kind=pl.lit("model"),
        key=pl.lit("layers"),
        value=(pl.col("name").str.extract(r"layer_(\d+)/", 1).cast(pl.Int64).max() + 1).cast(pl.Float64),
    )
    hidden = variables.select(
        pl.col("line").first(),
        kind=pl.lit("model"),
        key=pl.lit("hidden"),
        value=pl.col("shape")
        .filter(pl.col("name").str.contains("embeddings/word_embeddings"))
        .str.extract(r",\s*(\d+)", 1)
        .cast(pl.Float64)
        .first(),
    )
    return pl.concat([layers, hidden]).filter(pl.col("value").is_not_null())


def _with_rate_steps(facts: pl.LazyFrame) -> pl.LazyFrame:
    """Give each rate reading the last step of the window it covers.

    With `loss = X, step = N` lines the step is the last one logged before the reading; without them
    (TPUEstimator, as in run_classifier.py) the k-th reading covers steps
    1+100(k-1) .. 1+100k after the checkpoint saved before the first reading (step 0 in a whole run).
    """
    worker = pl.col("worker").fill_null("")
    facts = facts.sort("line").with_columns(
        logged_step=pl.when(pl.col("key") == "loss").then(pl.col("step")).forward_fill().over(worker)
    )
    # a log that starts later (a resumed run, an excerpt) counts from the checkpoint before its first reading
    saved = pl.when(pl.col("kind") == "checkpoint").then(pl.col("step")).forward_fill().over(worker)
    base = saved.filter(pl.col("kind") == "rate").first().over(worker).fill_null(0)
    nth = pl.col("key").cum_count().over(worker, "key")
    counted = base + 1 + RATE_WINDOW_STEPS * nth
    return facts.with_columns(
        step=pl.when(pl.col("kind") == "rate")
        .then(pl.coalesce(pl.col("logged_step"), counted))
        .otherwise(pl.col("step"))
    ).drop("logged_step")
