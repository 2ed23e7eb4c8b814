"""Run analysis on small synthetic runs: clocks, GPU choice, failures, captures without a clock."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from bertlogs import metrics, summarize
from bertlogs.analysis import TRACE_POINTS, figures, samples
from bertlogs.readings import kept
from bertlogs.schema import SAMPLE_SCHEMA, conform

T0 = 1764086400.0  # 2025-11-25 16:00:00 UTC


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def docker_log(steps_per_s: float = 10.0, num_steps: int = 400, batch: int = 8, start: float = T0 + 10) -> str:
    """A TF1.15 log as `docker logs --timestamps` gives it: classic + absl twins, every line stamped."""
    lines = [
        (start - 5, "INFO:tensorflow:***** Running training *****"),
        (start - 5, "INFO:tensorflow:  Num examples = 640"),
        (start - 5, f"INFO:tensorflow:  Batch size = {batch}"),
        (start - 5, f"INFO:tensorflow:  Num steps = {num_steps}"),
        (start - 1, "INFO:tensorflow:Saving checkpoints for 0 into /o/model.ckpt."),
    ]
    for k in range(1, num_steps // 100):
        t = start + 100 * k / steps_per_s
        for msg in (f"global_step/sec: {steps_per_s:g}", f"examples/sec: {steps_per_s * batch:g}"):
            local = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("I%m%d %H:%M:%S.%f")
            lines += [(t, f"INFO:tensorflow:{msg}"), (t, f"{local} 1400 tpu_estimator.py:2159] {msg}")]
    end = start + num_steps / steps_per_s
    lines += [
        (end, f"INFO:tensorflow:Saving checkpoints for {num_steps} into /o/model.ckpt."),
        (end + 1, "INFO:tensorflow:Loss for final step: 0.5."),
        (end + 5, "INFO:tensorflow:***** Eval results *****"),
        (end + 5, "INFO:tensorflow:  eval_accuracy = 0.75"),
        (end + 5, "INFO:tensorflow:  eval_loss = 0.5"),
    ]
    return "".join(f"{iso(t)} {msg}\n" for t, msg in lines)


def csv_capture(busy_from: float, busy_to: float, gpus: int = 2, period: float = 0.5) -> str:
    """nvidia-smi --query-gpu CSV in local time (UTC here); GPU 0 busy in [busy_from, busy_to], GPU 1 idle."""
    rows = ["timestamp, index, power.draw [W], memory.used [MiB], utilization.gpu [%]"]
    t = T0
    while t < busy_to + 20:
        stamp = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
        for gpu in range(gpus):
            busy = gpu == 0 and busy_from < t <= busy_to
            rows.append(f"{stamp}, {gpu}, {200 if busy else 50}.00 W, {9000 if busy else 5} MiB, {90 if busy else 0} %")
        t += period
    return "\n".join(rows) + "\n"


def write_run(root: Path, name: str, **files: str) -> Path:
    run = root / name
    run.mkdir(parents=True)
    for filename, text in files.items():
        (run / filename.replace("_", ".", 1)).write_text(text)
    return run


def test_log_clock_sets_the_window_and_idle_gpus_are_left_out(tmp_path: Path) -> None:
    start, end = T0 + 10, T0 + 50  # 400 steps at 10 steps/s
    write_run(tmp_path, "clocked", train_log=docker_log(), gpu_csv=csv_capture(start, end))
    row = summarize([tmp_path]).results[0].row
    assert row["epoch_s_method"].startswith("wall clock")
    assert row["train_s"] == pytest.approx(40.0, abs=1e-6)
    assert row["epoch_s"] == pytest.approx(40.0 / 5, abs=1e-6)  # 400 steps x 8 / 640 examples = 5 epochs
    assert row["gpus"] == "0"
    assert row.power_w == pytest.approx(200.0)
    assert row["util_pct"] == pytest.approx(90.0)
    assert row["energy_j_per_epoch"] == pytest.approx(200.0 * 40 / 5)
    assert row["rate_readings"] == 3  # twins counted once
    assert row["status"] == "ok", row.warnings
    assert "idle GPU(s) [1] left out" in row.warnings


def test_gpus_from_meta_json_win(tmp_path: Path) -> None:
    run = write_run(tmp_path, "meta", train_log=docker_log(), gpu_csv=csv_capture(T0 + 10, T0 + 50))
    (run / "meta.json").write_text(
        json.dumps(
            {
                "labels": {"model": "Custom", "batch_size": "8"},
                "gpus": [{"index": 0}, {"index": 1}],
                "exit_code": 0,
            }
        )
    )
    row = summarize([tmp_path]).results[0].row
    assert row["gpus"] == "0,1" and row["model"] == "Custom"
    assert row.power_w == pytest.approx(250.0)


def test_out_of_memory_run_is_failed_not_an_error(tmp_path: Path) -> None:
    log = (
        docker_log()
        + f"{iso(T0 + 60)} tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor\n"
    )
    write_run(tmp_path, "oom", train_log=log, gpu_csv=csv_capture(T0 + 10, T0 + 50))
    row = summarize([tmp_path]).results[0].row
    assert row["status"] == "failed"
    assert row.warnings.startswith("training failed (oom)")


def test_capture_without_clock_uses_the_given_period(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "cola-sweep" / "tiny-bs64"
    rows = [line for line in (demo / "nvidia-smi.log").read_text().splitlines() if line.startswith("|")]
    write_run(
        tmp_path,
        "no-clock",
        train_log=(demo / "run_classifier.log").read_text(),
        gpu_log="\n".join(rows) + "\n",
    )
    assert summarize([tmp_path]).results[0].row.power_w is None  # no clock, no period: no figures
    row = summarize([tmp_path], period_s=0.31).results[0].row
    assert "times rebuilt from a 0.310 s period" in row.warnings
    assert row.power_w == pytest.approx(126.77, rel=0.02)


def test_trace_buckets_are_means_of_equal_time_spans() -> None:
    # 2 GPUs, 1 s apart for 100 s; power summed, utilisation averaged; GPU 1's power missing after t=50
    times = [float(t) for t in range(100) for _ in range(2)]
    gpu = [g for _ in range(100) for g in range(2)]
    power = [None if g == 1 and t >= 50 else 10.0 * g + t for t, g in zip(times, gpu, strict=True)]
    rows = pl.DataFrame(
        {
            "sample": [i // 2 for i in range(200)],
            "time": times,
            "gpu": gpu,
            "power_w": power,
            "memory_used_mib": [100.0] * 200,
            "util_pct": [50.0] * 200,
        },
        schema_overrides={"power_w": pl.Float32},
    )
    trace = samples.trace(samples.per_sample(_capture(rows)), points=10)
    assert {c: len(t) for c, (t, _) in trace.items()} == dict.fromkeys(samples.GAUGES, 10)
    # bucket 0 holds t = 0..9 (99/10 = 9.9 s wide): sum over GPUs = 2t + 10
    first = {c: v[0] for c, (_, v) in trace.items()}
    assert trace["power_w"][0][0] == pytest.approx(4.5)
    assert first == pytest.approx({"power_w": 19.0, "memory_used_mib": 200.0, "util_pct": 50.0})
    # a sample whose GPU 1 power is missing sums what is there (GPU 0 alone), as the summary does
    assert trace["power_w"][1][-1] == pytest.approx(sum(range(90, 100)) / 10)
    missing = samples.per_sample(_capture(rows.filter(pl.col("gpu") == 0).with_columns(power_w=pl.lit(None))))
    assert [len(a) for a in samples.trace(missing, TRACE_POINTS)["power_w"]] == [0, 0]  # no point


def _numpy_calls(call: Callable[[], object]) -> Counter[str]:
    """numpy's own Python functions that `call` runs, by name."""
    found: Counter[str] = Counter()

    def count(frame, event, arg):  # type: ignore[no-untyped-def]
        if event == "call" and "/numpy/" in frame.f_code.co_filename:
            found[frame.f_code.co_name] += 1

    sys.setprofile(count)
    try:
        call()
    finally:
        sys.setprofile(None)
    return found


@pytest.mark.parametrize(
    "figure, function, times",
    [
        (lambda every: samples.period(every), "diff", 1),  # the intervals, for their median, mean and spread
        (lambda every: figures.activity_start(every, 1.0), "nan_to_num", 1),  # the signal, for its threshold and scan
        (lambda every: samples.trace(every, 600), "unique", 0),  # the buckets' starts ascend: no sort
    ],
)
def test_a_short_capture_figure_makes_each_pass_once(figure, function, times) -> None:  # type: ignore[no-untyped-def]
    """A capture of one piece (thousands of runs have one each) is diffed, converted or bucketed once, not once a
    pass over it."""
    t = np.arange(1000, dtype=np.float64)
    gauge = (50 + 40 * np.sin(t / 50)).astype(np.float32)
    every = samples.Samples(t, gauge, gauge, gauge, gauge, gauge)
    expected = figure(every)
    assert _numpy_calls(lambda: figure(every))[function] == times
    with pytest.MonkeyPatch.context() as patch:  # the same figures as a piece at a time
        patch.setattr(metrics, "PIECE", 7)
        np.testing.assert_equal(figure(every), expected)


def _capture(rows: pl.DataFrame) -> samples.Capture:
    found = samples.capture("<rows>", kept(conform(rows, SAMPLE_SCHEMA)), None, [])
    assert found is not None
    return found


def test_buckets_are_means_of_what_they_hold_and_skip_missing_values() -> None:
    # 0..99 s: value = t; t = 50 missing; 10 buckets of 9.9 s: bucket 5 holds t = 50..59
    times = np.arange(100, dtype=float)
    values = np.where(times == 50, np.nan, times)
    t, v = samples.buckets(times, values, 10)
    assert len(t) == 10 and t[0] == pytest.approx(4.5) and v[0] == pytest.approx(4.5)  # t = 0..9
    assert t[5] == pytest.approx(55.0) and v[5] == pytest.approx(55.0)  # 51..59: the missing reading is left out
    assert t[-1] == pytest.approx(94.5)  # 90..99: the end belongs to the last bucket
    kept = [float(x) for x in range(100) if x != 50]
    assert [a.tolist() for a in samples.buckets(times, values, 1000)] == [kept, kept]


def test_a_reading_covers_the_steps_it_states_not_a_fixed_100() -> None:
    """Readings of 50 and 150 steps (another logger's intervals): the window starts where the first reading's
    50 steps began, and throughput is total examples over total time."""
    from bertlogs import facts as F
    from bertlogs.analysis import analyze_run
    from bertlogs.parsers import Parsed
    from bertlogs.parsers.registry import Format
    from bertlogs.runs import RunFiles
    from bertlogs.schema import FACT_SCHEMA, conform

    # (line, time, kind, key, value, step): 50 steps at 10/s end at T0 + 5; 150 steps at 5/s end at T0 + 35
    rows = [
        (1, T0, F.CONFIG, F.NUM_STEPS, 200.0, None),
        (2, T0, F.CONFIG, F.BATCH_SIZE, 4.0, None),
        (3, T0, F.CONFIG, F.NUM_EXAMPLES, 800.0, None),
        (4, T0 + 5, F.RATE, F.STEPS_PER_S, 10.0, 50),
        (4, T0 + 5, F.RATE, F.STEPS_COVERED, 50.0, 50),
        (5, T0 + 35, F.RATE, F.STEPS_PER_S, 5.0, 200),
        (5, T0 + 35, F.RATE, F.STEPS_COVERED, 150.0, 200),
    ]
    names = ("line", "time", "kind", "key", "value", "step")
    frame = conform(pl.DataFrame([dict(zip(names, r, strict=True)) for r in rows]), FACT_SCHEMA)
    run = RunFiles(name="r", path=Path("r"), log=Parsed(Path("r/log"), Format.TF1_LOG, frame))
    row = analyze_run(run).row
    assert row.train_s == pytest.approx(35.0)  # from T0 (T0 + 5 minus 50 steps at 10/s) to T0 + 35
    assert row.examples_per_s == pytest.approx(200 * 4 / 35.0)  # not the plain harmonic mean 26.7
    assert row.epoch_s == pytest.approx(35.0)  # 200 steps x 4 / 800 examples = 1 epoch


def test_a_trainer_runs_window_is_its_train_runtime_before_the_line_that_states_it() -> None:
    """fixtures/hf-trainer/collect (the real Trainer under collect): train_runtime, not steps over the
    3-decimal train_steps_per_second."""
    run = Path(__file__).resolve().parent.parent / "fixtures" / "hf-trainer" / "collect"
    state = json.loads((run / "tiny-bs8" / "trainer_state.json").read_text())
    runtime_s = next(e["train_runtime"] for e in state["log_history"] if "train_runtime" in e)
    row = summarize([run]).results[0].row
    assert row.train_s == pytest.approx(runtime_s, abs=2e-6)  # to the stamp's microsecond
    assert row.epoch_s == pytest.approx(runtime_s / row.epochs, abs=1e-6)


def test_a_capture_without_clock_sums_its_gpus_per_sample_of_the_file() -> None:
    """Two GPUs, four samples, no stamps: a sample is the file's own (its rows summed), not a row."""
    rows = pl.DataFrame({"sample": [0, 0, 1, 1, 2, 2, 3, 3], "gpu": [0, 1] * 4, "power_w": [100.0] * 8})
    found = samples.capture("<rows>", kept(conform(rows, SAMPLE_SCHEMA)), 0.5, [])
    assert found is not None and found.unclocked
    every = samples.per_sample(found)
    assert list(every.power_w) == [200.0] * 4 and list(every.time) == [0.0, 0.5, 1.0, 1.5]
    assert list(samples.per_sample(found, [0, 1]).power_w) == [200.0] * 4
