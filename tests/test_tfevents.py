"""TensorBoard event files: read point for point as tbparse reads them, damage reported, other files refused.

The fixtures were written by real writers (fixtures/tfevents/make.py, README.md there)."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, ROOT

from bertlogs import facts as f
from bertlogs.errors import NotDataError
from bertlogs.parsers import tfevents
from bertlogs.schema import FACT_SCHEMA

EVENTS = FIXTURES / "tfevents"
TF1 = EVENTS / "tf1-estimator" / "events.out.tfevents.1574690400.bert-host"
TF1_EVAL = EVENTS / "tf1-estimator" / "eval" / "events.out.tfevents.1574690601.bert-host"
HF = EVENTS / "hf-trainer" / "events.out.tfevents.1574690400.bert-host"
TB_WRITER = EVENTS / "tensorboard-writer" / "events.out.tfevents.1574690400.bert-host"
TENSOR_CONTENT = EVENTS / "tensor-content" / "events.out.tfevents.1574690400.bert-host"
TF2 = EVENTS / "tf2-summary" / "events.out.tfevents.1574690400.bert-host.v2"

# What each tag means, written out here apart from the parser's own table.
TF1_TRAIN = {
    "loss": (f.LOSS, f.LOSS),
    "global_step/sec": (f.RATE, f.STEPS_PER_S),
    "examples/sec": (f.RATE, f.EXAMPLES_PER_S),
}
TF1_EVAL_TAGS = {
    "eval_accuracy": (f.EVAL, f.EVAL_ACCURACY),
    "eval_loss": (f.EVAL, f.EVAL_LOSS),
    "loss": (f.EVAL, "loss"),
}
TF2_TENSORS = {"loss": (f.LOSS, f.LOSS), "global_step/sec": (f.RATE, f.STEPS_PER_S)}
HF_TAGS = {
    "train/loss": (f.LOSS, f.LOSS),
    "train/grad_norm": (f.LOSS, f.GRAD_NORM),
    "train/learning_rate": (f.LOSS, f.LEARNING_RATE),
    "train/epoch": (f.LOSS, f.EPOCH),
    "train/train_loss": (f.LOSS, f.TRAIN_LOSS_MEAN),
    "train/train_runtime": (f.RATE, f.RUNTIME_S),
    "train/train_samples_per_second": (f.RATE, f.EXAMPLES_PER_S),
    "train/train_steps_per_second": (f.RATE, f.STEPS_PER_S),
    "train/total_flos": (f.RATE, f.TOTAL_FLOS),
    "eval/loss": (f.EVAL, f.EVAL_LOSS),
    "eval/matthews_correlation": (f.EVAL, "eval_matthews_correlation"),
    "eval/runtime": (f.EVAL, "eval_runtime"),
}


def tbparse_points(path: Path) -> pl.DataFrame:
    """(tag, step, time, value) of every scalar, as tbparse reads them (TF2 tensor scalars are its `tensors`)."""
    from tbparse import SummaryReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = SummaryReader(str(path), extra_columns={"wall_time"})
        found = [pl.from_pandas(frame) for frame in (reader.scalars, reader.tensors) if len(frame)]
    return pl.concat(found).select("tag", "step", time="wall_time", value=pl.col("value").cast(pl.Float64))


@pytest.mark.parametrize(
    ("path", "meaning"),
    [
        (TF1, TF1_TRAIN),
        (TF1_EVAL, TF1_EVAL_TAGS),
        (HF, HF_TAGS),
        (TB_WRITER, TF1_TRAIN),
        (TENSOR_CONTENT, TF2_TENSORS),
        (TF2, TF1_TRAIN),
    ],
    ids=["tf1-estimator", "tf1-eval", "hf-trainer", "tensorboard-writer", "tensor-content", "tf2-summary"],
)
def test_every_scalar_as_tbparse_reads_it(path: Path, meaning: dict[str, tuple[str, str]]) -> None:
    peer = tbparse_points(path)
    assert set(peer["tag"]) == set(meaning), "the fixture holds exactly the tags this test spells out"
    table = pl.DataFrame([(t, k, key) for t, (k, key) in meaning.items()], schema=["tag", "kind", "key"], orient="row")
    expected = peer.join(table, on="tag").select("kind", "key", "step", "time", "value").sort(pl.all())
    frame, found_warnings = tfevents.parse_path(path)
    assert found_warnings == []
    assert frame.schema == pl.Schema(FACT_SCHEMA)
    assert (frame["clock"] == f.STEP_WALL_TIME).all()
    ours = frame.filter(~pl.col("key").is_in([f.STEPS_COVERED, f.CHECKPOINT])).select(expected.columns)
    assert ours.sort(pl.all()).to_dicts() == expected.to_dicts()


def steps_covered(path: Path) -> list[tuple[int, float]]:
    frame, _ = tfevents.parse_path(path)
    return frame.filter(pl.col("key") == f.STEPS_COVERED).select("step", "value").rows()


def test_a_tf1_reading_covers_the_100_steps_since_the_previous_one() -> None:
    # loss is logged from step 1, where StepCounterHook starts counting: the first reading covers 1..101
    assert steps_covered(TF1) == [(step, 100.0) for step in range(101, 1000, 100)]


def test_a_first_reading_at_the_files_first_step_covers_the_interval_of_the_next() -> None:
    assert steps_covered(TB_WRITER) == [(step, 100.0) for step in range(101, 600, 100)]
    assert steps_covered(TENSOR_CONTENT) == [(step, 100.0) for step in range(100, 501, 100)]
    assert steps_covered(TF2) == [(step, 100.0) for step in range(101, 600, 100)]


def test_a_single_reading_covers_the_steps_since_the_files_first(tmp_path: Path) -> None:
    from tensorboard.summary import Writer

    writer = Writer(str(tmp_path))  # a run of 150 steps: StepCounterHook's one reading, at step 101
    writer.add_scalar("loss", 0.7, 1, wall_time=1.6e9)
    writer.add_scalar("global_step/sec", 5.5, 101, wall_time=1.6e9 + 18.2)
    writer.close()
    (path,) = tmp_path.iterdir()
    assert steps_covered(path) == [(101, 100.0)]


def test_the_trainers_closing_readings_cover_the_whole_run() -> None:
    assert steps_covered(HF) == [(804, 804.0)]


def test_checkpoint_saves_come_from_the_session_log() -> None:
    frame, _ = tfevents.parse_path(TF1)
    saves = frame.filter(pl.col("kind") == f.CHECKPOINT)
    assert saves.select("step", "value").rows() == [(0, 0.0), (1000, 1000.0)]
    assert saves["time"][0] == 1574690400.0


def test_an_eval_copy_without_its_directory_is_still_an_evaluation(tmp_path: Path) -> None:
    flat = tmp_path / "events"  # collect copies event files flat, eval/ lost
    flat.mkdir()
    copy = Path(shutil.copy(TF1_EVAL, flat))
    frame, _ = tfevents.parse_path(copy)
    assert frame.select("kind", "key").rows() == [(f.EVAL, f.EVAL_ACCURACY), (f.EVAL, f.EVAL_LOSS), (f.EVAL, "loss")]


def test_in_an_eval_directory_every_metric_is_an_evaluation(tmp_path: Path) -> None:
    from tensorboard.summary import Writer

    writer = Writer(str(tmp_path / "eval"))  # an Estimator with a metric named `accuracy`
    for tag, value in (("accuracy", 0.8), ("loss", 0.5), ("global_step", 1000.0)):
        writer.add_scalar(tag, value, 1000, wall_time=1.6e9)
    writer.close()
    (path,) = (tmp_path / "eval").iterdir()
    frame, _ = tfevents.parse_path(path)
    assert frame.select("kind", "key", "step").rows() == [(f.EVAL, f.EVAL_ACCURACY, 1000), (f.EVAL, "loss", 1000)]


def records(path: Path) -> list[tuple[int, int]]:
    """(offset, size) of each record, from the lengths in the framing."""
    data, found, offset = path.read_bytes(), [], 0
    while offset < len(data):
        size = 16 + int.from_bytes(data[offset : offset + 8], "little")
        found.append((offset, size))
        offset += size
    return found


def facts_without(path: Path, record_numbers: set[int]) -> list[dict]:
    frame, _ = tfevents.parse_path(path)
    return frame.filter(~pl.col("line").is_in(list(record_numbers))).to_dicts()


@pytest.mark.parametrize("kept", [3, 11, 40], ids=["in-length", "in-header-crc", "in-payload"])
def test_a_truncated_last_record_is_left_out_with_a_warning(tmp_path: Path, kept: int) -> None:
    offset, size = records(TF1)[-1]
    kept = min(kept, size - 1)
    cut = tmp_path / TF1.name
    cut.write_bytes(TF1.read_bytes()[: offset + kept])
    frame, found_warnings = tfevents.parse_path(cut)
    assert found_warnings == [f"{cut}: truncated last record ({kept} bytes) ignored"]
    assert frame.to_dicts() == facts_without(TF1, {len(records(TF1))})


def test_a_record_with_a_bad_data_checksum_is_skipped_and_named(tmp_path: Path) -> None:
    number = 10
    offset, size = records(TF1)[number - 1]
    data = bytearray(TF1.read_bytes())
    data[offset + size - 5] ^= 0x01  # the payload's last byte
    damaged = tmp_path / TF1.name
    damaged.write_bytes(bytes(data))
    frame, found_warnings = tfevents.parse_path(damaged)
    assert found_warnings == [f"{damaged}: record {number} at byte {offset}: data checksum mismatch; record skipped"]
    assert frame.filter(pl.col("key") != f.STEPS_COVERED).to_dicts() == [
        row for row in facts_without(TF1, {number}) if row["key"] != f.STEPS_COVERED
    ]


def test_a_bad_length_checksum_ends_the_reading_where_it_is(tmp_path: Path) -> None:
    number = 10
    offset, _ = records(TF1)[number - 1]
    data = bytearray(TF1.read_bytes())
    data[offset + 1] ^= 0x40  # the length: the next record cannot be found
    damaged = tmp_path / TF1.name
    damaged.write_bytes(bytes(data))
    frame, found_warnings = tfevents.parse_path(damaged)
    rest = len(data) - offset
    assert found_warnings == [
        f"{damaged}: record {number} at byte {offset}: length checksum mismatch; the remaining {rest} bytes ignored"
    ]
    assert frame.to_dicts() == facts_without(TF1, set(range(number, len(records(TF1)) + 1)))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "events.out.tfevents.1.host"
    empty.write_bytes(b"")
    with pytest.raises(NotDataError, match="empty file"):
        tfevents.parse_path(empty)


def framed(payload: bytes) -> bytes:
    """One TFRecord, framed and checksummed as tensorboard's own record writer does."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    class Sink:
        data = b""

        def write(self, chunk: bytes) -> None:
            self.data += chunk

    sink = Sink()
    RecordWriter(sink).write(payload)
    return sink.data


@pytest.mark.parametrize(
    "content",
    [
        bytes(random.Random(5).randrange(256) for _ in range(4096)),
        b"\x89PNG\r\n\x1a\n" + bytes(200),
        framed(b"\n\x07example"),  # an intact TFRecord that is no event file (a tf.Example dataset)
        framed(b"brain.Event:2")[:-1] + b"\x00",  # the version, but its checksum fails
        TF1.read_bytes()[:30],  # the first record cut short
    ],
    ids=["random", "png", "tfrecord-dataset", "bad-crc", "cut-first-record"],
)
def test_other_binary_files_are_not_claimed(tmp_path: Path, content: bytes) -> None:
    assert not tfevents.looks_like_bytes(content)
    path = tmp_path / "events.out.tfevents.1.host"  # the name is no evidence
    path.write_bytes(content)
    with pytest.raises(NotDataError, match="not a TensorBoard event file"):
        tfevents.parse_path(path)


@pytest.mark.parametrize("path", [TF1, TF1_EVAL, HF, TB_WRITER, TENSOR_CONTENT, TF2], ids=lambda p: p.parent.name)
def test_event_files_are_claimed_by_their_first_record(path: Path) -> None:
    assert tfevents.looks_like_bytes(path.read_bytes()[:256])
    assert not tfevents.looks_like_bytes(b"INFO:tensorflow:global_step/sec: 5.5\n" * 4)


def test_no_tensorflow_is_imported_and_nothing_before_a_file_is_read(tmp_path: Path) -> None:
    trap = tmp_path / "tensorflow"
    trap.mkdir()
    (trap / "__init__.py").write_text("raise RuntimeError('bertlogs imported TensorFlow')\n")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bertlogs.parsers import tfevents\n"
        "assert 'tensorboard' not in sys.modules and 'google.protobuf' not in sys.modules, 'imported at start'\n"
        f"frame, _ = tfevents.parse_path(Path({str(TF1)!r}))\n"
        "assert frame.height > 0 and 'tensorflow' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_runs_event_files_give_its_window_and_readings_over_the_logs_stamps(tmp_path: Path) -> None:
    """A TF1 model dir (event files, `eval/` beside them) with a docker-stamped log whose stamps run 7 s late:
    the window and the readings come from the event files' step wall times, and the run says so."""
    from bertlogs.raw import GPU_CSV_COLUMNS
    from bertlogs.summary import summarize

    run = tmp_path / "tiny-bs32"
    shutil.copytree(EVENTS / "tf1-estimator", run)
    late = 1574690400.0 + 7
    stamp = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")  # noqa: E731
    log = [
        (late, "INFO:tensorflow:  Num examples = 32000"),
        (late, "INFO:tensorflow:  Batch size = 32"),
        (late, "INFO:tensorflow:  Num steps = 1000"),
        (late + 30, "INFO:tensorflow:global_step/sec: 3.0"),  # what the log says is overruled, not mixed in
        (late + 30, "INFO:tensorflow:examples/sec: 96.0"),
    ]
    (run / "train.log").write_text("".join(f"{stamp(t)} {line}\n" for t, line in log))
    rows = [",".join(GPU_CSV_COLUMNS)]
    for i in range(2600):  # 10 Hz from 20 s before the run to 240 s after its start, 100 W, 50 %
        row = {"sample": i, "time_unix_s": 1574690380 + i / 10, "gpu": 0, "power_w": 100, "util_pct": 50}
        rows.append(",".join(str(row.get(c, "")) for c in GPU_CSV_COLUMNS))
    (run / "gpu.csv").write_text("\n".join(rows) + "\n")

    facts = pl.concat(tfevents.parse_path(p)[0] for p in sorted(run.rglob("events.out.tfevents.*")))
    rates = facts.filter(pl.col("key") == f.STEPS_PER_S).sort("step")
    first_time, first_rate = rates.row(0, named=True)["time"], rates.row(0, named=True)["value"]
    saved = facts.filter((pl.col("kind") == f.CHECKPOINT) & (pl.col("value") == 1000))["time"][-1]
    row = summarize([tmp_path]).results[0].row
    assert row.window_method.startswith("event files' step wall times"), row.warnings
    assert row.train_s == pytest.approx(saved - (first_time - 100 / first_rate))
    assert row.rate_readings == rates.height  # the log's own reading is not among them
    assert row.eval_accuracy == facts.filter(pl.col("key") == f.EVAL_ACCURACY)["value"][-1]
    assert row.power_w == pytest.approx(100.0) and row.status == "ok", row.warnings


def test_parse_file_knows_an_event_file_by_its_bytes_and_still_refuses_other_binaries(tmp_path: Path) -> None:
    from bertlogs.parsers import parse_file
    from bertlogs.parsers.registry import Format

    renamed = tmp_path / "run.bin"  # by content, not name
    shutil.copy(HF, renamed)
    assert parse_file(renamed).format is Format.TFEVENTS
    other = tmp_path / "events.out.tfevents.0.host"
    other.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(NotDataError, match="binary file"):
        parse_file(other)


def tf1_run(run: Path, log_start_s: float) -> None:
    """A TF1 run directory: a docker-stamped log starting at `log_start_s`, 1000 steps at 32 examples."""
    run.mkdir(parents=True)
    stamp = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")  # noqa: E731
    lines = ["  Num examples = 32000", "  Batch size = 32", "  Num steps = 1000"]
    lines += ["Saving checkpoints for 0 into /o/model.ckpt.", "global_step/sec: 5.0", "examples/sec: 160.0"]
    text = "".join(f"{stamp(log_start_s + i)} INFO:tensorflow:{line}\n" for i, line in enumerate(lines))
    (run / "train.log").write_text(text)


def write_attempt(directory: Path, start_s: float, last_step: int, steps_per_s: float) -> None:
    """A TF1 attempt's event file, written by tensorboardX: readings every 100 steps up to `last_step`."""
    from tensorboardX import SummaryWriter

    with SummaryWriter(str(directory)) as writer:
        for step in range(101, last_step + 1, 100):
            wall = start_s + step / steps_per_s
            writer.add_scalar("global_step/sec", steps_per_s, step, walltime=wall)
            writer.add_scalar("examples/sec", 32 * steps_per_s, step, walltime=wall)


def test_event_files_of_another_run_are_not_used_and_a_restarts_newest_readings_are(tmp_path: Path) -> None:
    from bertlogs.summary import summarize

    t0 = 1574690400.0
    tf1_run(tmp_path / "old-attempt", t0 + 3 * 3600)  # the log is 3 h after the only event file
    write_attempt(tmp_path / "old-attempt" / "runs" / "a", t0, 1000, 4.0)
    tf1_run(tmp_path / "longer", t0)  # the event file reaches past the run's 1000 steps
    write_attempt(tmp_path / "longer" / "runs" / "a", t0, 2001, 4.0)
    tf1_run(tmp_path / "restarted", t0 + 3600)  # an aborted attempt an hour before the run that finished
    write_attempt(tmp_path / "restarted" / "runs" / "a", t0, 501, 4.0)
    write_attempt(tmp_path / "restarted" / "runs" / "b", t0 + 3600, 1000, 8.0)
    rows = {r.row.run: r.row for r in summarize([tmp_path]).results}
    for name in ("old-attempt", "longer"):
        assert rows[name].examples_per_s == pytest.approx(160.0), name  # the log's own reading
        assert "another run's, not used" in rows[name].warnings, name
    assert rows["restarted"].examples_per_s == pytest.approx(256.0)  # only the newest attempt's 8 steps/s
    assert rows["restarted"].window_method.startswith("event files' step wall times")
    assert "the newest readings used" in rows["restarted"].warnings


def test_a_gzipped_event_file_is_read_as_the_file_itself(tmp_path: Path) -> None:
    import gzip

    from bertlogs.parsers import parse_file

    packed = tmp_path / "events.out.tfevents.1574690400.bert-host.gz"
    packed.write_bytes(gzip.compress(HF.read_bytes()))
    parsed = parse_file(packed)
    assert parsed.format == "tfevents"
    assert parsed.frame.equals(tfevents.parse_path(HF)[0])
