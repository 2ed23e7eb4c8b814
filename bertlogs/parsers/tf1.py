"""TensorFlow 1.x Estimator / TPUEstimator logs (google-research/bert run_classifier.py and kin).

Text in, one row per fact out (see `schema.FACT_SCHEMA`). Every line is handled by vectorised polars
expressions in one lazy plan, collected once: prefixes are peeled off (docker RFC 3339 stamp, indentation,
`#` comment, worker tag, `INFO:tensorflow:` / absl / C++ header), then each message is matched against the
fact patterns.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from bertlogs import facts as vocab
from bertlogs.parsers.text import COLLECT_STAMP, KEY_VALUE, Source, count_newlines, holds, scan_lines
from bertlogs.schema import FACT_SCHEMA, conform

# StepCounterHook's default `log_step_count_steps`: each rate reading covers this many steps (stated in
# each reading's STEPS_COVERED fact; nothing outside this module assumes it).
_RATE_WINDOW_STEPS = 100

# Lines only a TF1 log has. Python's re backtracks: with MULTILINE, a `^\s*` would run across blank lines
# from every line start (minutes on 64 KiB of newlines), hence `[ \t]` in these patterns.
_MARKERS = re.compile(
    r"INFO:tensorflow:"
    r"|^[ \t]*(?:[^ \t\n]+[ \t]+)?[IWEF][0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+[ \t]+[0-9]+ \S+\.py:[0-9]+\]"
    r"|global_step/sec:|examples/sec:|\*\*\*\*\* (?:Eval results|Running training)",
    re.MULTILINE,
)

# One pass peels every prefix: docker RFC 3339 stamp, indentation or a `#` comment, a worker tag, then the
# classic (`INFO:tensorflow:`), absl (`I1104 22:22:29.020849 tid file.py:N] `) or C++ header.
_LINE = (
    rf"^(?:(?<docker>{COLLECT_STAMP})Z )?"
    r"\s*(?:#\s+)?"
    r"(?:\[(?<worker>[^\]\s]+::std(?:err|out))\]\s?)?\s*"
    r"(?:(?<classic>(?:INFO|WARNING|ERROR|FATAL|DEBUG|WARN):(?:tensorflow|absl|root):)"
    r"|[IWEF](?<month>[0-9]{2})(?<day>[0-9]{2}) (?<time>[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+)\s+[0-9]+\s+[^\]\s]+\] "
    r"|(?<cpp>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+): [IWEF] [^\]]+\] )?"
    r"(?<msg>.*)$"
)
_COMMON = "INFO:tensorflow:"  # the commonest header, peeled by a slice (see `_prefixes`)
# Messages that are one fact each: (named group, kind, key). One regex, the first alternative that matches wins.
_SIMPLE_FACTS: list[tuple[str, str, str]] = [
    ("gs", vocab.RATE, vocab.STEPS_PER_S),
    ("ex", vocab.RATE, vocab.EXAMPLES_PER_S),
    ("ckpt", vocab.CHECKPOINT, vocab.CHECKPOINT),
    ("final", vocab.LOSS, vocab.FINAL_STEP_LOSS),
    ("loss", vocab.LOSS, vocab.LOSS),
    ("diverged", vocab.ERROR, vocab.DIVERGED),
    ("oom", vocab.ERROR, vocab.OOM),
    ("skipped", vocab.NOTE, vocab.SKIPPED_TRAINING),
    ("eval_start", vocab.PHASE, vocab.EVAL_START),
    ("eval_end", vocab.PHASE, vocab.EVAL_END),
]
_READING = r"^(?:global_step|examples)/sec: \S+$"  # `_FACT`'s first two alternatives: a rate reading
# `Starting/Finished evaluation at`: local time in three forms (the Z of the first is not UTC)
_EVAL_CLOCK_FORMATS = ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d-%H:%M:%S"]
_FACT = (
    r"^global_step/sec: (?<gs>\S+)$|^examples/sec: (?<ex>\S+)$|^Saving checkpoints for (?<ckpt>[0-9]+) "
    r"|^Loss for final step: (?<final>\S+?)\.?$|^loss = (?<loss>\S+?),? step = (?<step>[0-9]+)"
    r"|^Model diverged with loss = (?<diverged>\S+?)\.?$|(?<oom>ResourceExhaustedError|OOM when allocating tensor)"
    r"|^(?<skipped>Skipping training) since max_steps"
    r"|^Starting evaluation at (?<eval_start>\S+)$|^Finished evaluation at (?<eval_end>\S+)$"
)
_CONFIG = r"^\s*(?<name>Num examples|Batch size|Num steps) = (?<value>[0-9]+)"
_CONFIG_KEYS = {"Num examples": vocab.NUM_EXAMPLES, "Batch size": vocab.BATCH_SIZE, "Num steps": vocab.NUM_STEPS}
_MAX_COUNT = 10**15
_FILE_FACTS = {"file": pl.Int32(), **FACT_SCHEMA}  # a batch's facts, each tagged with its file's place
_EVAL_HEADER = "***** Eval results *****"
_TRAINING = "***** Running training"
_TRAINING_END = "Loss for final step"
_DICT = r"^Saving dict for global step (?<step>[0-9]+): (?<pairs>.*)$"
_VARIABLE = r"^\s*name = (?<name>\S+), shape = \((?<shape>[^)]*)\)"


def looks_like(head: str) -> bool:
    """A TF1 log: a line with a TF logger header, a rate reading or a `*****` section title."""
    # every marker holds one of these words: a substring test spares the regex most captures
    maybe = any(holds(head, word) for word in ("tensorflow", "/sec: ", "***** ", ".py:"))
    return maybe and _MARKERS.search(head) is not None


def evidence(head: str) -> int:
    """How many TF1 lines the head holds (weighed against another format that also claims it)."""
    return len(_MARKERS.findall(head))


def parse(source: Source, *, utc_offset_s: float, year: int | None = None) -> tuple[pl.DataFrame, list[str]]:
    """Facts of a TF1 log (see `parse_many`)."""
    return parse_many([source], utc_offsets_s=[utc_offset_s], year=year)[0]


def parse_many(
    sources: list[Source], *, utc_offsets_s: list[float], year: int | None = None
) -> list[tuple[pl.DataFrame, list[str]]]:
    """The facts of several logs, parsed in one polars query: a query's fixed cost (tens of milliseconds
    for a plan this size) is paid once, not once per log. Every window is partitioned by `file`.

    `year` completes absl stamps (`I1104 22:22:29.02`), which have none, when the log has no full
    stamp of its own; a log's UTC offset turns its local stamps (absl, C++) into unix time. Docker's UTC
    stamps, when present, win over both.
    """
    if not sources:
        return []
    prefixed = _prefixes(_lines(sources, utc_offsets_s)).collect(engine="in-memory")
    # readings are counted per worker where the batch's logs name any (one key less to group by where none do)
    has_workers = prefixed["worker"].null_count() < prefixed.height
    worker = [pl.col("file"), pl.col("worker").fill_null("")] if has_workers else [pl.col("file")]
    # the peeled lines feed six branches: collect them once rather than once per branch
    peeled = _peel(prefixed, worker, year).collect(engine="in-memory").lazy()
    branches = [_simple_facts, _phase_facts, _config_facts, _eval_facts, _saved_dict_facts, _model_facts]
    # each branch cut to the facts' columns at once: the sorts below move no message text
    found = pl.concat([conform(branch(peeled), _FILE_FACTS) for branch in branches])
    facts = _with_rate_steps(found, worker).sort("file", "line", "key", maintain_order=True).collect(engine="in-memory")
    # each log's facts a slice of the batch's, which are sorted by file (slices copy nothing)
    counts = np.bincount(facts["file"].to_numpy(), minlength=len(sources))
    starts, facts = np.cumsum(counts) - counts, facts.drop("file")
    return [(facts.slice(start, count), []) for start, count in zip(starts.tolist(), counts.tolist(), strict=True)]


def _lines(sources: list[Source], utc_offsets_s: list[float]) -> pl.LazyFrame:
    """The logs' lines (`Source.lines`) tagged with `file` and `offset` (as `text.concat_files` tags them); the
    plain ones (see `Source.plain`) read by one scan of their bytes joined: a scan per file costs ten times more.

    Raises:
        ParseError: a file cannot be read any more.
    """
    is_plain = [source.plain for source in sources]
    plain = [i for i, p in enumerate(is_plain) if p]
    others = [i for i, p in enumerate(is_plain) if not p]
    frames = [_joined([sources[i] for i in plain], plain, utc_offsets_s)] if plain else []
    frames += [
        sources[i].lines(utc_offsets_s[i]).with_columns(file=pl.lit(i, pl.Int32), offset=pl.lit(utc_offsets_s[i]))
        for i in others
    ]
    lines = pl.concat(frames, how="diagonal_relaxed")
    return lines.sort("file", "line", maintain_order=True) if plain and others else lines


def _joined(sources: list[Source], files: list[int], utc_offsets_s: list[float]) -> pl.LazyFrame:
    """Plain sources' lines, read by one scan of their bytes, each ended by a newline (a file's last line
    may lack one): line numbers are counted from each file's newlines."""
    texts = [source.read_again() for source in sources]
    ended = [text if text.endswith(b"\n") or not text else text + b"\n" for text in texts]
    counts = np.array([count_newlines(text) for text in ended], dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    text = scan_lines(b"".join(ended), clean=False).collect(engine="in-memory")["text"]
    frame = pl.DataFrame(
        {
            "line": np.arange(1, len(starts) + 1, dtype=np.int64) - starts,
            "text": text,
            "file": np.repeat(np.array(files, dtype=np.int32), counts),
            "offset": np.repeat(np.array([utc_offsets_s[i] for i in files], dtype=np.float64), counts),
        }
    )
    nulls = {"stamp_s": pl.lit(None, pl.Float64), "stamp_clock": pl.lit(None, pl.String)}
    return frame.lazy().select("line", "text", **nulls, file="file", offset="offset")


def _count(text_or_number: pl.Expr) -> pl.Expr:
    """A count (step, examples, batch size) as Int64, null when it is none: NaN, inf, negative, or past
    10^15 (no run is that long, and step arithmetic on a bigger count would wrap around int64 silently)."""
    count = text_or_number.cast(pl.Int64, strict=False)
    return pl.when(count.is_between(0, _MAX_COUNT)).then(count)


def _peel(prefixed: pl.DataFrame, worker: list[pl.Expr], year: int | None) -> pl.LazyFrame:
    """Each line's message, clock and section (`prefixed` by `_prefixes`); TF 1.14/1.15 twins counted once
    (only an absl line has a twin: a log without any has none to look for)."""
    has_absl = (prefixed["style"] == "absl").any()
    frame = _drop_twins(prefixed.lazy(), worker) if has_absl else prefixed.lazy()
    # a batch of logs without stamps (run_classifier.py's stdout) has no clock to read
    stamped = any(prefixed[stamp].null_count() < prefixed.height for stamp in ("docker", "stamp_s", "cpp", "absl_time"))
    clock = (
        _clock(year) if stamped else [pl.lit(None, pl.Float64).alias("time"), pl.lit(None, pl.String).alias("clock")]
    )
    return frame.with_columns(*clock, section=_section(), reading=pl.col("msg").str.contains(_READING)).select(
        "file", "offset", "line", "time", "clock", "worker", "msg", "section", "reading"
    )


def _prefixes(lines: pl.LazyFrame) -> pl.LazyFrame:
    """The parts of `_LINE`: stamps, worker, header style and message; lines with no message dropped."""
    part = pl.col("parts").struct
    style = (
        pl.when(part["classic"].is_not_null())
        .then(pl.lit("classic"))
        .when(part["time"].is_not_null())
        .then(pl.lit("absl"))
        .when(part["cpp"].is_not_null())
        .then(pl.lit("cpp"))
        .otherwise(pl.lit("bare"))
    )
    # `_LINE` peels the commonest header, `INFO:tensorflow:` at the line's start, as this slice does (the
    # regex skips those lines, null to it: capture groups are costly, and even an empty line costs a call)
    text, common = pl.col("text"), pl.col("text").str.starts_with(_COMMON)
    msg = pl.when(common).then(text.str.slice(len(_COMMON))).otherwise(part["msg"])
    return (
        lines.with_columns(parts=pl.when(~common).then(text).str.extract_groups(_LINE))
        .select(
            "file",
            "offset",
            "line",
            "stamp_s",
            "stamp_clock",
            docker=part["docker"].str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False),
            worker=part["worker"],
            style=pl.when(common).then(pl.lit("classic")).otherwise(style),
            absl_md=part["month"] + "-" + part["day"],
            absl_time=part["time"],
            cpp=part["cpp"].str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False),
            msg=msg.str.strip_chars_end(" \t"),  # `examples/sec: 123.4 ` is a reading
        )
        .filter(pl.col("msg").str.strip_chars() != "")
    )


def _drop_twins(frame: pl.LazyFrame, worker: list[pl.Expr]) -> pl.LazyFrame:
    """TF 1.14/1.15 print each Python log line twice (classic, then absl): keep the absl twin, it has a clock."""
    twin = [
        (pl.col("msg").shift(n).over(worker) == pl.col("msg")) & (pl.col("style").shift(n).over(worker) == "absl")
        for n in (-1, 1)
    ]
    return frame.filter(~((pl.col("style") == "classic") & (twin[0] | twin[1]).fill_null(False)))


def _clock(year: int | None) -> list[pl.Expr]:
    """A line's `time` (unix seconds) and `clock`: docker's UTC stamp, else a peeled prefix's full stamp (its
    date is whole, as docker's is), else the C++ or absl local stamp.

    absl stamps carry no year: the log's own full stamps give it, else `year`, else 1970 (and the clock says so).
    """
    peeled_year = pl.from_epoch(pl.col("stamp_s").cast(pl.Int64, strict=False), time_unit="s").dt.year()
    hint = pl.coalesce(pl.col("docker").dt.year(), pl.col("cpp").dt.year(), peeled_year)
    hint = hint.drop_nulls().first().over("file")
    year_used = pl.lit(year) if year is not None else hint.fill_null(1970)
    year_clock = pl.lit("local") if year is not None else pl.when(hint.is_null()).then(pl.lit("local-year-assumed"))
    absl_dt = (year_used.cast(pl.String) + "-" + pl.col("absl_md") + " " + pl.col("absl_time")).str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f", strict=False
    )
    docker, peeled = pl.col("docker").is_not_null(), pl.col("stamp_s").is_not_null()
    time = (
        pl.when(docker)
        .then(_epoch_s(pl.col("docker")))
        .when(peeled)
        .then(pl.col("stamp_s"))
        .otherwise(_epoch_s(pl.coalesce(pl.col("cpp"), absl_dt)) - pl.col("offset"))
    )
    clock = (
        pl.when(docker)
        .then(pl.lit("utc"))
        .when(peeled)
        .then(pl.col("stamp_clock"))
        .when(pl.col("cpp").is_not_null())
        .then(pl.lit("local"))
        .when(pl.col("absl_time").is_not_null())
        .then(year_clock.fill_null("local"))
    )
    return [time.alias("time"), clock.alias("clock")]


def _epoch_s(stamp: pl.Expr) -> pl.Expr:
    return stamp.dt.epoch("us").cast(pl.Float64) / 1e6


def _section() -> pl.Expr:
    """`train` or `eval`: the last `***** Running ...` title above the line (train before any)."""
    msg = pl.col("msg")
    evaluation = msg.str.contains("***** Running evaluation", literal=True) | msg.str.contains(
        "***** Running prediction", literal=True
    )
    title = (
        pl.when(msg.str.contains(_TRAINING, literal=True)).then(pl.lit("train")).when(evaluation).then(pl.lit("eval"))
    )
    return title.forward_fill().over("file").fill_null("train")


def _simple_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Facts of one line each: rate readings, the commonest, read as `_FACT`'s first two alternatives read
    them (their one space parts name and value); the other lines by the regex (capture groups are costly)."""
    msg = pl.col("msg")
    readings = lines.filter(pl.col("reading")).with_columns(
        kind=pl.lit(vocab.RATE),
        key=pl.when(msg.str.starts_with("global_step/"))
        .then(pl.lit(vocab.STEPS_PER_S))
        .otherwise(pl.lit(vocab.EXAMPLES_PER_S)),
        value=msg.str.splitn(" ", 2).struct[1].str.to_lowercase().cast(pl.Float64, strict=False),
    )
    return pl.concat([_matched_facts(_no_readings(lines)), readings], how="diagonal_relaxed")


def _matched_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """One regex pass: the alternative that matched names the fact, its group holds the value."""
    groups = [group for group, _, _ in _SIMPLE_FACTS]
    fact = pl.col("fact")
    which: pl.Expr = pl.lit(None, pl.Int32)
    for i, group in reversed(list(enumerate(groups))):
        which = pl.when(fact.struct[group].is_not_null()).then(pl.lit(i, pl.Int32)).otherwise(which)
    kinds = pl.Series([kind for _, kind, _ in _SIMPLE_FACTS])
    keys = pl.Series([key for _, _, key in _SIMPLE_FACTS])
    frame = (
        lines.with_columns(fact=pl.col("msg").str.extract_groups(_FACT))
        .with_columns(which=which)
        .filter(pl.col("which").is_not_null())
        .with_columns(
            kind=pl.lit(kinds).gather(pl.col("which")),
            key=pl.lit(keys).gather(pl.col("which")),
            raw=pl.coalesce([fact.struct[g] for g in groups]).str.to_lowercase(),
        )
    )
    phase = pl.col("kind") == vocab.PHASE
    stamp = pl.when(phase).then(pl.col("raw"))  # parsed where it is a stamp: a phase's
    local = pl.coalesce(
        [stamp.str.to_datetime(form, strict=False).dt.epoch("ms") for form in _EVAL_CLOCK_FORMATS]
    ).cast(pl.Float64) / 1000 - pl.col("offset")
    frame = frame.with_columns(raw=pl.when(phase).then(pl.col("raw").str.to_uppercase()).otherwise(pl.col("raw")))
    return frame.with_columns(
        # an error is a fact whether or not it carries a number; a phase marker's value is its unix time
        value=pl.when(pl.col("kind") == vocab.ERROR)
        .then(pl.col("raw").cast(pl.Float64, strict=False).fill_null(1.0))
        .when(phase)
        .then(local)
        .otherwise(pl.col("raw").cast(pl.Float64, strict=False)),
        time=pl.when(phase).then(pl.coalesce("time", local)).otherwise(pl.col("time")),
        clock=pl.when(phase).then(pl.coalesce("clock", pl.lit("local"))).otherwise(pl.col("clock")),
        step=pl.when(pl.col("key") == vocab.LOSS)
        .then(_count(fact.struct["step"]))
        .when(pl.col("kind") == vocab.CHECKPOINT)
        .then(_count(pl.col("raw"))),
    ).drop("which", "raw", "fact")


def _no_readings(lines: pl.LazyFrame) -> pl.LazyFrame:
    """The lines that are no rate reading: the other facts' patterns match none (and each costs a call a line)."""
    return lines.filter(~pl.col("reading"))


def _unless_reading(msg: pl.Expr) -> pl.Expr:
    """The message, null where it is a rate reading: a regex skips a null (see `_no_readings`)."""
    return pl.when(~pl.col("reading")).then(msg)


def _phase_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Training's start (its `***** Running training *****` title) and end (`Loss for final step`), at the
    time of their line (null when the line has no clock)."""
    msg = pl.col("msg")
    key = (
        pl.when(msg.str.contains(_TRAINING, literal=True))
        .then(pl.lit(vocab.TRAIN_START))
        .when(msg.str.starts_with(_TRAINING_END))
        .then(pl.lit(vocab.TRAIN_END))
    )
    marked = lines.with_columns(key=key).filter(pl.col("key").is_not_null())
    return marked.with_columns(kind=pl.lit(vocab.PHASE), value=pl.col("time"))


def _config_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    config = pl.col("config")
    name = config.struct["name"].replace_strict(_CONFIG_KEYS, default=None)
    return (
        _no_readings(lines)
        .with_columns(config=pl.col("msg").str.extract_groups(_CONFIG))
        .filter(config.struct["name"].is_not_null())
        .with_columns(
            kind=pl.lit(vocab.CONFIG),
            key=pl.when(pl.col("section") == "eval").then(vocab.EVAL_PREFIX + name).otherwise(name),
            value=_count(config.struct["value"]).cast(pl.Float64),
        )
        .filter(pl.col("value").is_not_null())  # a 27-digit `Num steps` is no count
        .drop("config")
    )


def _eval_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Blocks of `  key = value` lines that are eval results (EVAL), after the header or holding an eval_ key."""
    msg = pl.col("msg")
    kv = pl.col("kv")
    blocks = (
        lines.with_columns(
            kv=_unless_reading(msg).str.extract_groups(KEY_VALUE), header=msg.str.strip_chars() == _EVAL_HEADER
        )
        .with_columns(is_kv=kv.struct["key"].is_not_null() & (kv.struct["key"] != "name"))
        .with_columns(block=(~pl.col("is_kv")).cum_sum().over("file"))
        .filter(pl.col("is_kv") | pl.col("header"))
        .with_columns(
            key=kv.struct["key"],
            value=kv.struct["value"].str.to_lowercase().cast(pl.Float64, strict=False),
        )
    )
    blocks = blocks.with_columns(
        is_eval=(
            pl.col("header").any().over("file", "block")
            | (pl.col("is_kv") & pl.col("key").str.starts_with(vocab.EVAL_PREFIX)).any().over("file", "block")
        )
    ).filter(pl.col("is_kv") & pl.col("is_eval") & pl.col("value").is_not_null())
    # a block given again verbatim (printed, then quoted in a docstring or pasted twice) is one evaluation
    contents = (pl.col("key") + "=" + pl.col("value").cast(pl.String)).sort().str.join(",").over("file", "block")
    blocks = blocks.with_columns(contents=contents).filter(
        pl.col("block") == pl.col("block").min().over("file", "contents")
    )
    return blocks.with_columns(
        kind=pl.lit(vocab.EVAL),
        step=_count(pl.when(pl.col("key") == vocab.GLOBAL_STEP).then(pl.col("value")).max().over("file", "block")),
    ).drop("kv", "contents")


def _saved_dict_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """The `Saving dict for global step N: a = 1, b = 2` line's pairs (EVAL_SAVED)."""
    saved = pl.col("saved")
    return (
        _no_readings(lines)
        .with_columns(saved=pl.col("msg").str.extract_groups(_DICT))
        .filter(saved.struct["step"].is_not_null())
        .with_columns(
            step=_count(saved.struct["step"]),
            pair=saved.struct["pairs"]
            .str.extract_all(r"[A-Za-z_][\w./]* = [^,]+")  # tf.metrics names hold `/`
            .list.eval(pl.element().str.split_exact(" = ", 1)),
        )
        .explode("pair")
        .with_columns(
            kind=pl.lit(vocab.EVAL_SAVED),
            key=pl.col("pair").struct["field_0"],
            value=pl.col("pair").struct["field_1"].str.strip_chars().str.to_lowercase().cast(pl.Float64, strict=False),
        )
        .filter(pl.col("value").is_not_null())
        .drop("saved", "pair")
    )


def _model_facts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """layers = highest `layer_N` + 1, hidden = the word-embedding width, from the Trainable Variables listing."""
    variable = pl.col("variable")
    name, shape = variable.struct["name"], variable.struct["shape"]
    width = shape.str.split(",").list.get(1, null_on_oob=True).str.strip_chars().cast(pl.Float64, strict=False)
    variables = (
        _no_readings(lines)
        .with_columns(variable=pl.col("msg").str.extract_groups(_VARIABLE))
        .filter(name.is_not_null())
        .select(
            "file",
            "line",
            layer=_count(name.str.extract(r"layer_([0-9]+)/", 1)),
            embedding=name.str.contains("embeddings/word_embeddings", literal=True),
            width=width,
        )
    )
    model = variables.group_by("file").agg(
        pl.col("line").first(),
        **{
            vocab.LAYERS: pl.col("layer").max().cast(pl.Float64) + 1,
            vocab.HIDDEN: pl.col("width").filter(pl.col("embedding")).first(),
        },
    )
    facts = [model.select("file", "line", key=pl.lit(key), value=pl.col(key)) for key in (vocab.LAYERS, vocab.HIDDEN)]
    return pl.concat(facts).with_columns(kind=pl.lit(vocab.MODEL)).filter(pl.col("value").is_not_null())


def _with_rate_steps(facts: pl.LazyFrame, worker: list[pl.Expr]) -> pl.LazyFrame:
    """Give each rate reading the last step of the window it covers, and a STEPS_COVERED fact beside it.

    With `loss = X, step = N` lines the step is the last one logged before the reading; without them
    (TPUEstimator, as in run_classifier.py) the k-th reading covers steps
    1+100(k-1) .. 1+100k after the checkpoint saved before the first reading (step 0 in a whole run).
    Readings are counted per `worker` (its file, and its tag where the logs have any).
    """
    rate = pl.col("kind") == vocab.RATE
    facts = facts.sort("file", "line", maintain_order=True).with_columns(
        logged_step=pl.when(pl.col("key") == vocab.LOSS).then(pl.col("step")).forward_fill().over(worker)
    )
    # a log that starts later (a resumed run, an excerpt) counts from the checkpoint before its first reading
    saved = pl.when(pl.col("kind") == vocab.CHECKPOINT).then(pl.col("step")).forward_fill().over(worker)
    base = saved.filter(rate).first().over(worker).fill_null(0)
    nth = pl.col("key").cum_count().over(*worker, "key")
    counted = base + 1 + _RATE_WINDOW_STEPS * nth
    facts = facts.with_columns(
        step=pl.when(rate).then(pl.coalesce(pl.col("logged_step"), counted)).otherwise(pl.col("step"))
    ).drop("logged_step")
    covered = facts.filter(rate).with_columns(key=pl.lit(vocab.STEPS_COVERED), value=pl.lit(float(_RATE_WINDOW_STEPS)))
    return pl.concat([facts, covered])
