"""The log's figures, read by Series and numpy operations (no polars query per run), say what the queries
they replace said: the last value of each fact, the throughput readings whatever nulls the facts hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import FIXTURES
from polars.testing import assert_frame_equal

from bertlogs import facts as F
from bertlogs import summarize
from bertlogs import summary as summary_module
from bertlogs.analysis import log, prepared_facts
from bertlogs.discovery import discover
from bertlogs.parsers import Format, Kind, Parsed, parse_file
from bertlogs.runs import load_many
from bertlogs.schema import FACT_SCHEMA

LOGS = [
    FIXTURES / "cola-sweep" / "base-bs2" / "run_classifier.log",
    *sorted(p for p in (FIXTURES / "real").glob("*/*") if p.parent.name in ("tf1-estimator", "hf-trainer")),
]
LOGS = [p for p in LOGS if not p.name.endswith(".expected.csv")]


def facts_of(path: Path) -> pl.DataFrame:
    parsed = parse_file(path)
    assert parsed.kind is not Kind.GPU_CAPTURE  # a training log, a run record or evaluation results: facts
    return parsed.frame


def one(frame: pl.DataFrame) -> log.Facts:
    """The facts of one frame, converted alone."""
    return log.facts_of([frame])[0]


def odd_facts() -> pl.DataFrame:
    """Facts a parser may well give: null keys, null and NaN values, a key given again."""
    rows = [
        (1, F.CONFIG, F.NUM_STEPS, 10.0),
        (2, F.LOSS, None, 1.0),
        (3, F.LOSS, None, None),
        (4, F.MODEL, F.LAYERS, float("nan")),
        (5, F.CONFIG, F.NUM_STEPS, 20.0),
        (6, F.LOSS, F.LOSS, None),
        (7, None, F.LOSS, 2.0),
        (8, F.RATE, F.STEPS_PER_S, 3.0),
    ]
    frame = pl.DataFrame(rows, schema=["line", "kind", "key", "value"], orient="row")
    return pl.concat([pl.DataFrame(schema=FACT_SCHEMA), frame], how="diagonal_relaxed").select(list(FACT_SCHEMA))


def queried_last_values(facts: pl.DataFrame) -> dict[tuple[str, str], float]:
    """The last values as a query reads them, of every fact but the rate readings (`log.rates` reads those)."""
    others = facts.filter((pl.col("kind") != F.RATE).fill_null(True))
    last = others.select("kind", "key", "value").unique(["kind", "key"], keep="last", maintain_order=True)
    return {(kind, key): value for kind, key, value in last.iter_rows()}


@pytest.mark.parametrize("facts", [facts_of(p) for p in LOGS] + [odd_facts()], ids=[p.name for p in LOGS] + ["odd"])
def test_last_values_are_the_last_of_each_kind_and_key_but_the_readings(facts: pl.DataFrame) -> None:
    found, queried = log.last_values(one(facts)), queried_last_values(facts)
    assert found.keys() == queried.keys()
    assert all(repr(found[k]) == repr(queried[k]) for k in found)  # NaN is NaN, None is None


def test_facts_with_null_kinds_and_keys_give_the_readings_of_the_others() -> None:
    facts = facts_of(FIXTURES / "cola-sweep" / "base-bs2" / "run_classifier.log")
    rate = facts.filter(pl.col("kind") == F.RATE).head(3)
    nulls = pl.concat([rate.with_columns(kind=pl.lit(None, pl.String)), rate.with_columns(key=pl.lit(None, pl.String))])
    mixed = pl.concat([facts, nulls.with_columns(pl.col("step") + 10**6)])
    readings, impossible = log.rates(one(facts), 2)
    assert len(readings) > 100
    mixed_readings, mixed_impossible = log.rates(one(mixed), 2)
    assert table(mixed_readings) == table(readings) and mixed_impossible.equals(impossible)


def table(readings: log.RateReadings) -> list[tuple[float | None, ...]]:
    """The readings as rows (step, time, steps, runtime_s, steps_per_s, examples_per_s), None where missing."""
    columns = [readings.step, readings.time, readings.steps, readings.runtime_s]
    columns += [readings.steps_per_s, readings.examples_per_s]
    return [tuple(None if v != v else v for v in row) for row in zip(*(c.tolist() for c in columns), strict=True)]


def test_readings_are_in_step_order_whatever_order_the_facts_come_in() -> None:
    facts = facts_of(FIXTURES / "cola-sweep" / "base-bs2" / "run_classifier.log")
    backwards = facts.with_row_index("at").sort(pl.col("step").fill_null(-1), "at", descending=[True, False])
    ordered, _ = log.rates(one(facts), 2)
    assert table(log.rates(one(backwards.drop("at")), 2)[0]) == table(ordered)
    assert [row[0] for row in table(ordered)] == sorted(facts.filter(pl.col("kind") == F.RATE)["step"].unique())


def facts_frame(rows: list[tuple[str, str, float | None, int | None, float | None]]) -> pl.DataFrame:
    """Facts from (kind, key, value, step, time) rows, one line each."""
    frame = pl.DataFrame(rows, schema=["kind", "key", "value", "step", "time"], orient="row")
    frame = frame.with_row_index("line", offset=1).with_columns(pl.col("line").cast(pl.Int64))
    return pl.concat([pl.DataFrame(schema=FACT_SCHEMA), frame], how="diagonal_relaxed").select(list(FACT_SCHEMA))


def test_the_last_evaluation_is_the_results_block_at_its_last_step_then_the_saved_dict() -> None:
    saved = [(F.EVAL_SAVED, F.EVAL_ACCURACY, 0.5, 300, None)]
    blocks = [(F.EVAL, F.EVAL_ACCURACY, 0.7, 200, None), (F.EVAL, F.EVAL_LOSS, 0.9, 200, None)]
    blocks += [(F.EVAL, F.EVAL_ACCURACY, 0.8, 100, None)]
    assert log.last_evaluation(one(facts_frame(saved + blocks)), None) == log.Evaluation(0.7, 0.9)
    assert log.last_evaluation(one(facts_frame(saved)), None) == log.Evaluation(0.5)
    assert log.last_evaluation(one(facts_frame([])), None) == log.Evaluation()


def test_the_window_ends_at_the_last_checkpoint_of_the_last_step() -> None:
    saves = [(F.CHECKPOINT, F.CHECKPOINT, 1000.0, 1000, t) for t in (150.0, 180.0, None)]
    single = [np.array([x]) for x in (100.0, 110.0, 100.0, np.nan, 10.0, 20.0)]
    readings = log.RateReadings(*single, walled=False)
    assert log.log_window(one(facts_frame(saves)), readings, 1000) == (100.0, 180.0)
    assert log.log_window(one(facts_frame(saves)), readings, 2000) == (100.0, 110.0 + 1900 / 10.0)
    stated = log.RateReadings(*single[:3], np.array([5.0]), *single[4:], walled=False)  # the runtime as stated
    assert log.log_window(one(facts_frame(saves)), stated, 2000) == (105.0, 110.0 + 1900 / 10.0)
    stepless = log.RateReadings(np.array([np.nan]), *single[1:], walled=False)
    assert log.log_window(one(facts_frame(saves)), stepless, 2000) is None  # no step: the steps left are unknown


def test_a_reading_takes_each_keys_first_value_at_its_step_and_its_latest_stamp() -> None:
    rows = [
        (F.RATE, F.STEPS_PER_S, 2.0, 100, 10.0),
        (F.RATE, F.STEPS_PER_S, 3.0, 100, 12.0),  # read again at the same step: the first value stands
        (F.RATE, F.STEPS_COVERED, 100.0, 100, 10.0),
        (F.RATE, F.RUNTIME_S, 50.0, 100, None),
        (F.RATE, F.EXAMPLES_PER_S, 40.0, 200, 20.0),
        (F.RATE, F.STEPS_COVERED, 100.0, 200, 20.0),
        (F.RATE, F.STEPS_COVERED, 50.0, 200, 20.0),
        (F.LOSS, F.STEPS_PER_S, 9.0, 100, 30.0),  # another kind's fact of the same key: no reading
    ]
    readings, impossible = log.rates(one(facts_frame(rows)), 2)
    assert impossible.is_empty()
    assert table(readings) == [(100, 12.0, 100.0, 50.0, 2.0, 4.0), (200, 20.0, 100.0, None, 20.0, 40.0)]


@pytest.mark.parametrize(
    ("clocks", "walled"),
    [([F.STEP_WALL_TIME] * 2, True), ([None, None], True), ([F.STEP_WALL_TIME, None], True), (["utc", None], False)],
)
def test_readings_are_walled_when_every_clock_they_have_is_the_steps_wall_time(
    clocks: list[str | None], walled: bool
) -> None:
    rows = [(F.RATE, key, 2.0, step, 10.0) for step in (100, 200) for key in (F.STEPS_PER_S, F.STEPS_COVERED)]
    facts = facts_frame(rows).with_columns(clock=pl.Series([c for c in clocks for _ in range(2)], dtype=pl.String))
    assert log.rates(one(facts), 2)[0].walled is walled


def test_a_reading_without_a_step_comes_first() -> None:
    rows = [(F.RATE, key, 2.0, step, None) for step in (100, None) for key in (F.STEPS_PER_S, F.STEPS_COVERED)]
    assert [row[0] for row in table(log.rates(one(facts_frame(rows)), 2)[0])] == [None, 100]


def figures_of(facts: log.Facts) -> tuple[object, ...]:
    """What the analysis reads of a log's facts: last values, evaluation, readings, window, errors."""
    readings, impossible = log.rates(facts, 2)
    values = {k: repr(v) for k, v in log.last_values(facts).items()}  # NaN is NaN, None is None
    window = log.log_window(facts, readings, 100)
    return values, log.last_evaluation(facts, None), table(readings), impossible.rows(), window, log.errors(facts)


def test_facts_converted_with_a_batch_are_those_converted_alone() -> None:
    """A batch's logs are converted together and each takes its slices: each run's figures as when converted
    alone, whatever the runs around it (an empty log, odd facts, several producers' logs) and their order."""
    frames = [facts_of(p) for p in LOGS] + [odd_facts(), facts_frame([])]
    frames.insert(1, facts_frame([(F.ERROR, F.DIVERGED, 1.0, 5, None), (F.EVAL, F.EVAL_ACCURACY, 0.5, 7, 1.0)]))
    alone = [figures_of(one(frame)) for frame in frames]
    for order in (frames, frames[::-1]):
        together = log.facts_of(order)
        assert all(f.frame is frame for f, frame in zip(together, order, strict=True))
        assert [figures_of(f) for f in together] == (alone if order is frames else alone[::-1])


ARCHIVES = [FIXTURES / name for name in ("cola-sweep", "cola-sweep-hf", "hf-trainer", "real", "skew")]


@pytest.mark.parametrize("archive", ARCHIVES, ids=[a.name for a in ARCHIVES])
def test_runs_analysed_with_their_batchs_facts_are_those_analysed_alone(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's logs are converted together (`prepared_facts`); every fixture's table is the one each run's
    own conversion gives (what a run with records, a failed conversion, or a lone `analyze_run` takes)."""
    batched = summarize([archive], period_s=0.31).frame
    monkeypatch.setattr(summary_module, "prepared_facts", lambda runs: iter([None] * len(runs)))
    assert_frame_equal(summarize([archive], period_s=0.31).frame, batched)


WORKERS = FIXTURES / "real" / "tf1-estimator" / "kungfu_osdi20_bert_elastic_mixed_absl_snippet.txt"
READING = [(F.STEPS_PER_S, 2.0), (F.STEPS_COVERED, 100.0)]


@pytest.mark.parametrize(
    "frame",
    [
        facts_of(WORKERS),  # several workers: the first one's facts
        # a reading stamped with its step's wall time: the log's own readings are left out
        facts_frame(
            [(F.RATE, key, value, step, time) for step, time in ((100, 10.0), (200, None)) for key, value in READING]
        ).with_columns(clock=pl.Series([F.STEP_WALL_TIME] * 2 + [None] * 2, dtype=pl.String)),
        facts_frame([(F.RATE, F.STEPS_PER_S, 2.0, 100, 10.0), (F.CONFIG, F.NUM_STEPS, 100.0, None, None)]),
    ],
    ids=["workers", "walled", "plain"],
)
def test_a_logs_prepared_facts_are_its_facts(frame: pl.DataFrame) -> None:
    """A run's facts converted with other runs' are those it converts alone, and its files' combining gives the
    same warnings, with records or without (several workers, readings stamped with their step's wall time)."""
    parsed = Parsed(Path("train.log"), Format.TF1_LOG, frame, [])
    record = Parsed(Path("trainer_state.json"), Format.HF_STATE, facts_frame([(F.LOSS, F.LOSS, 1.0, 5, None)]), [])
    other = (Parsed(Path("other.log"), Format.TF1_LOG, facts_of(LOGS[0]), []), [])
    for records in ([], [record]):
        warnings: list[str] = []
        expected = figures_of(log.log_facts(parsed, records, warnings))
        found = list(log.prepared([other, None, (parsed, records)]))
        assert found[1] is None and found[2] is not None
        assert figures_of(found[2].facts) == expected and found[2].warnings == warnings


def test_runs_are_converted_a_bounded_group_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """However long a batch's logs, what is converted at once stays about GROUP_FACTS facts (a bigger run's
    alone), and each run's facts are those it converts alone."""
    frames = [facts_of(p) for p in LOGS]
    files = [(Parsed(Path(f"{i}.log"), Format.TF1_LOG, frame, []), list[Parsed]()) for i, frame in enumerate(frames)]
    real, sizes = log.facts_of, list[list[int]]()
    monkeypatch.setattr(log, "facts_of", lambda group: sizes.append([f.height for f in group]) or real(group))
    monkeypatch.setattr(log, "GROUP_FACTS", 2 * max(f.height for f in frames))
    found = [p.facts if p is not None else None for p in log.prepared(files)]
    assert len(sizes) > 1 and all(sum(group) <= log.GROUP_FACTS for group in sizes)
    assert [n for group in sizes for n in group] == [log.combined(*these, []).height for these in files]
    assert [figures_of(f) for f in found if f is not None] == [figures_of(log.log_facts(*f, [])) for f in files]


def test_a_failed_conversion_leaves_each_run_to_convert_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    real = log.facts_of

    def failing(frames: list[pl.DataFrame]) -> list[log.Facts]:
        if len(frames) > 1:
            raise OverflowError("injected")
        return real(frames)

    archive = FIXTURES / "cola-sweep"
    expected = summarize([archive]).frame
    monkeypatch.setattr(log, "facts_of", failing)
    runs = load_many(discover([archive]).runs)
    assert list(prepared_facts(runs)) == [None] * len(runs)
    assert_frame_equal(summarize([archive]).frame, expected)


def test_failures_are_named_once_each_in_the_order_the_log_first_reports_them() -> None:
    keys = ["oom", "x", "diverged", "oom", "y", "x"]
    facts = facts_frame([(F.ERROR, key, 1.0, i, None) for i, key in enumerate(keys)])
    assert log.errors(one(facts)) == ["oom", "x", "diverged", "y"]
