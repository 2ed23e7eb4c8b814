"""Tests that pin the measurement method (issue 10, item 7).

Each test builds a small input whose expected figure is computed here, by hand, from the input itself (the
`reference_*` helpers below restate the README's method in plain Python), never copied from bertlogs' output.
They go through the public surface only: the CLI, `summarize(paths).frame` and `parse_file(path).frame`.

Golden summary: tests/golden/cola-sweep-summary.csv is `bertlogs analyze fixtures/cola-sweep --out DIR`'s
DIR/summary.csv, run from the repository root (so the path column reads `fixtures/cola-sweep/<run>`), and is
compared byte for byte: every column, every digit, the warnings text. After a change of figures or warnings
that you meant, rewrite it with

    python tests/update_golden.py

which prints the columns and runs that changed; read them, and commit the new golden with the change.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import DEMO, FIXTURES, REAL
from typer.testing import CliRunner
from update_golden import GOLDEN, changes, demo_summary_csv

from bertlogs import facts as F
from bertlogs.cli import app
from bertlogs.errors import ExitCode
from bertlogs.parsers import parse_file
from bertlogs.summary import summarize

runner = CliRunner()
T0 = 1764086400.0  # 2025-11-25 16:00:00 UTC
SKEW = FIXTURES / "skew"


# --- inputs ---------------------------------------------------------------------------------------------------


def utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)


@dataclass
class Training:
    """A TF1 run_classifier.py training: step 1 at `start`, a checkpoint at the end, one evaluation."""

    start: float = T0 + 10.25
    steps_per_s: float = 10.0
    num_steps: int = 400
    batch: int = 8
    examples: int = 640

    @property
    def end(self) -> float:
        return self.start + self.num_steps / self.steps_per_s

    @property
    def epochs(self) -> float:
        return self.num_steps * self.batch / self.examples

    def messages(self) -> list[tuple[float, str]]:
        """(time, message): the readings every 100 steps, each over the 100 steps before it (DOMAIN.md)."""
        s, gs = self.start, self.steps_per_s
        lines = [
            (s - 5, "***** Running training *****"),
            (s - 5, f"  Num examples = {self.examples}"),
            (s - 5, f"  Batch size = {self.batch}"),
            (s - 5, f"  Num steps = {self.num_steps}"),
            (s - 1, "Saving checkpoints for 0 into /o/model.ckpt."),
        ]
        for k in range(1, (self.num_steps - 1) // 100 + 1):
            t = s + 100 * k / gs
            lines += [(t, f"global_step/sec: {gs:g}"), (t, f"examples/sec: {gs * self.batch:g}")]
        return [
            *lines,
            (self.end, f"Saving checkpoints for {self.num_steps} into /o/model.ckpt."),
            (self.end + 1, "Loss for final step: 0.5."),
            (self.end + 5, "***** Eval results *****"),
            (self.end + 5, "  eval_accuracy = 0.75"),
            (self.end + 5, "  eval_loss = 0.5"),
        ]

    def docker_log(self) -> str:
        """As `docker logs --timestamps` gives a TF 1.11 log: RFC 3339 UTC stamps, classic lines."""
        return "".join(f"{utc(t):%Y-%m-%dT%H:%M:%S.%f}000Z INFO:tensorflow:{m}\n" for t, m in self.messages())

    def classic_log(self) -> str:
        """TF 1.11 without docker: no clock at all."""
        return "".join(f"INFO:tensorflow:{m}\n" for _, m in self.messages())

    def absl_log(self, *, twins: str = "") -> str:
        """absl lines (local time, here UTC, no year); twins="after"/"before": the classic twin of each line
        printed after / before it, as TF 1.14/1.15 do."""
        out = []
        for t, m in self.messages():
            absl = f"I{utc(t):%m%d %H:%M:%S.%f} 140008086570880 tpu_estimator.py:2159] {m}"
            classic = f"INFO:tensorflow:{m}"
            out += {"": [absl], "after": [absl, classic], "before": [classic, absl]}[twins]
        return "\n".join(out) + "\n"


@dataclass
class Capture:
    """One GPU's readings at `times`: power (W), memory used (MiB), utilisation (%), energy counter (mJ)."""

    times: list[float]
    power: list[float]
    memory: list[float]
    util: list[float]
    energy: list[float] | None = None

    @classmethod
    def of(cls, times: list[float], reading: Callable[[float], tuple[float, float, float]]) -> Capture:
        rows = [reading(t) for t in times]
        return cls(times, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    @property
    def period(self) -> float:
        return statistics.median(b - a for a, b in itertools.pairwise(self.times))

    def gpu_csv(self) -> str:
        """collect's gpu.csv (archive format 1, README)."""
        rows = [
            "sample,time_unix_s,mono_ns,latency_ms,gpu,power_w,power_instant_w,energy_mj,memory_used_mib,"
            "memory_total_mib,util_pct,mem_util_pct,temp_c,sm_clock_mhz,pstate"
        ]
        for k, t in enumerate(self.times):
            energy = f"{self.energy[k]:.3f}" if self.energy else ""
            p, m, u = self.power[k], self.memory[k], self.util[k]
            mono = round((t - T0) * 1e9)
            rows.append(f"{k},{t:.6f},{mono},0.4,0,{p:.2f},{p:.2f},{energy},{m:.0f},11019,{u:.0f},12,61,1500,P2")
        return "\n".join(rows) + "\n"

    def smi_csv(self, utc_offset_s: float = 0.0) -> str:
        """nvidia-smi --query-gpu CSV: stamps in the host's local time, `utc_offset_s` east of UTC."""
        rows = ["timestamp, index, power.draw [W], memory.used [MiB], memory.total [MiB], utilization.gpu [%]"]
        for k, t in enumerate(self.times):
            stamp = utc(t + utc_offset_s).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
            rows.append(f"{stamp}, 0, {self.power[k]:.2f} W, {self.memory[k]:.0f} MiB, 11019 MiB, {self.util[k]:.0f} %")
        return "\n".join(rows) + "\n"


def write_run(root: Path, name: str, files: dict[str, str]) -> Path:
    run = root / name
    run.mkdir(parents=True)
    for filename, text in files.items():
        (run / filename).write_text(text)
    return run


def row_of(paths: list[Path], run: str | None = None, **options: Any) -> dict[str, Any]:
    frame = summarize(paths, **options).frame
    return (frame if run is None else frame.filter(pl.col("run") == run)).row(0, named=True)


def seconds(times: list[float]) -> list[float]:
    return [t - T0 for t in times]


# --- the method, restated by hand (README "Measurement method") ------------------------------------------------


def reference_overlaps(times: list[float], start: float, end: float, period: float) -> list[float]:
    """Seconds of [start, end] that each reading describes: (previous stamp, its stamp]; the first reading,
    one median period before its stamp."""
    begins = [times[0] - period, *times[:-1]]
    return [max(0.0, min(t, end) - max(b, start)) for b, t in zip(begins, times, strict=True)]


def reference_mean(values: list[float], overlaps: list[float]) -> float:
    """Time-weighted mean over the covered part of the window."""
    return sum(v * w for v, w in zip(values, overlaps, strict=True)) / sum(overlaps)


def reference_in_window(overlaps: list[float]) -> list[int]:
    """The samples inside the window: those whose interval overlaps it."""
    return [i for i, w in enumerate(overlaps) if w > 0]


def reference_activity_start(times: list[float], util: list[float], period: float) -> float:
    """Start of the interval of the first of two consecutive samples whose utilisation reaches half of the
    capture's 90th percentile."""
    high = statistics.quantiles(util, n=10, method="inclusive")[-1]
    busy = [u >= 0.5 * high for u in util]
    first = next(i for i in range(len(util) - 1) if busy[i] and busy[i + 1])
    return times[first - 1] if first else times[0] - period


def reference_counter(times: list[float], counter: list[float], at: float) -> float:
    """A cumulative counter linearly interpolated between its readings."""
    i = next(i for i in range(1, len(times)) if times[i] >= at)
    return counter[i - 1] + (counter[i] - counter[i - 1]) * (at - times[i - 1]) / (times[i] - times[i - 1])


def window_length_of(log: str) -> tuple[float, float]:
    """A log without clock: window length = num_steps x mean(1 / global_step/sec), and the epochs (the first
    `Num steps`, `Batch size` and `Num examples` are training's, those of the evaluation come later)."""
    found = [re.search(rf"{key} = (\d+)", log) for key in ("Num steps", "Batch size", "Num examples")]
    num_steps, batch, examples = (int(m.group(1)) if m else 0 for m in found)
    rates = [float(r) for r in re.findall(r"global_step/sec: (\S+)", log)]
    return num_steps * statistics.mean(1 / r for r in rates), num_steps * batch / examples


# --- 1. the golden summary of the demo --------------------------------------------------------------------------


def test_demo_summary_is_the_golden_one_byte_for_byte() -> None:
    now = demo_summary_csv()
    golden = GOLDEN.read_bytes()
    assert now == golden, "summary.csv differs from the golden one (python tests/update_golden.py):\n" + "\n".join(
        changes(golden, now)
    )


# --- 2. one test per deliberate breakage (issue 10, "Tests pin too little") -------------------------------------


def busy_between(lo: float, hi: float) -> Callable[[float], tuple[float, float, float]]:
    """200 W, 9000 MiB, 100 % for stamps in (lo, hi]; 50 W, 5 MiB, 0 % elsewhere."""
    return lambda t: (200.0, 9000.0, 100.0) if lo < t <= hi else (50.0, 5.0, 0.0)


def test_window_without_clock_starts_at_the_interval_of_the_first_busy_sample(tmp_path: Path) -> None:
    """A log without clock is placed where sustained activity starts: at the start of the first busy
    sample's interval (the previous stamp), not at its own stamp."""
    training = Training()  # 400 steps at 10 steps/s: a 40 s window
    times = [T0 + k for k in range(71)]
    capture = Capture.of(times, busy_between(T0 + 10, T0 + 50))  # busy samples: stamps 11..50
    write_run(tmp_path, "unclocked", {"train.log": training.classic_log(), "gpu.csv": capture.gpu_csv()})
    row = row_of([tmp_path])
    length, epochs = window_length_of(training.classic_log())
    start = reference_activity_start(times, capture.util, capture.period)
    overlaps = reference_overlaps(times, start, start + length, capture.period)
    assert row["train_s"] == pytest.approx(length, rel=1e-9)
    assert row["power_w"] == pytest.approx(reference_mean(capture.power, overlaps), rel=1e-9)
    assert row["util_pct"] == pytest.approx(reference_mean(capture.util, overlaps), rel=1e-9)
    assert row["energy_j_per_epoch"] == pytest.approx(reference_mean(capture.power, overlaps) * length / epochs)


@pytest.mark.parametrize("twins", ["after", "before"])
def test_tf1_twins_count_once_whichever_line_comes_first(tmp_path: Path, twins: str) -> None:
    """TF 1.14/1.15 print each line twice, classic and absl: one fact per reading, with the absl clock,
    whether the classic twin comes after the absl line or before it."""
    training = Training()
    log = tmp_path / "train.log"
    log.write_text(training.absl_log(twins=twins))
    readings = [m for _, m in training.messages() if "/sec: " in m]
    rates = parse_file(log, year=2025).frame.filter(
        pl.col("kind") == F.RATE, pl.col("key").is_in([F.STEPS_PER_S, F.EXAMPLES_PER_S])
    )
    assert rates.height == len(readings)
    assert rates["time"].null_count() == 0  # the absl twin, which has a clock, is the one kept
    assert seconds(rates["time"].to_list()) == pytest.approx(
        seconds([t for t, m in training.messages() if "/sec" in m])
    )


def test_nvml_energy_counter_gives_the_energy_in_joules(tmp_path: Path) -> None:
    """gpu.csv's energy_mj counter: its increase over the window (interpolated at the edges), mJ -> J."""
    training = Training()  # window [T0 + 10.25, T0 + 50.25], 5 epochs
    times = [T0 + k for k in range(71)]
    capture = Capture.of(times, lambda t: (200.0, 9000.0, 90.0))
    capture.energy = [4.2e9 + 150_000 * (t - T0) for t in times]  # mJ since the driver loaded: 150 W, not 200 W
    write_run(tmp_path, "nvml", {"train.log": training.docker_log(), "gpu.csv": capture.gpu_csv()})
    row = row_of([tmp_path])
    used_mj = reference_counter(times, capture.energy, training.end) - reference_counter(
        times, capture.energy, training.start
    )
    assert row["energy_j_per_epoch"] == pytest.approx(used_mj / 1000 / training.epochs, rel=1e-9)
    assert row["power_w"] == pytest.approx(200.0)  # the power column is not what the energy comes from


def test_csv_local_stamps_are_converted_with_the_utc_offset() -> None:
    """nvidia-smi CSV stamps are local: UTC = local - offset east of UTC (real capture, 1 s polling)."""
    path = REAL / "nvidia-smi-csv" / "andyzzz_miris_v100s_gpu_log.csv"
    first = path.read_text().splitlines()[1].split(",")[0]  # 2025/06/13 00:27:52.195
    local = dt.datetime.strptime(first, "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()
    for offset_s in (3600.0, -5.5 * 3600):
        time = parse_file(path, utc_offset_s=offset_s).frame["time"][0]
        assert time == pytest.approx(local - offset_s, abs=1e-6), offset_s


def test_last_evaluation_is_the_one_reported(tmp_path: Path) -> None:
    """A log with an evaluation at step 1000 before the final one at 1336: the summary reports the last
    (demo log tiny-bs32 with an earlier evaluation inserted after the step-1000 checkpoint)."""
    log = (DEMO / "tiny-bs32" / "run_classifier.log").read_text()
    last = dict(re.findall(r"INFO:tensorflow:  (eval_accuracy|eval_loss|loss) = (\S+)\n", log))
    earlier = (
        "INFO:tensorflow:Saving dict for global step 1000: eval_accuracy = 0.5, eval_loss = 0.9, global_step = 1000,"
        " loss = 0.95\nINFO:tensorflow:***** Eval results *****\nINFO:tensorflow:  eval_accuracy = 0.5\n"
        "INFO:tensorflow:  eval_loss = 0.9\nINFO:tensorflow:  global_step = 1000\nINFO:tensorflow:  loss = 0.95\n"
    )
    with_earlier, inserted = re.subn(r"Saving checkpoints for 1000 [^\n]*\n", lambda m: m.group(0) + earlier, log)
    assert inserted == 1
    files = {"run_classifier.log": with_earlier}
    files["nvidia-smi.log"] = (DEMO / "tiny-bs32" / "nvidia-smi.log").read_text()
    write_run(tmp_path, "two-evals", files)
    row = row_of([tmp_path])
    assert row["eval_accuracy"] == float(last["eval_accuracy"])
    assert row["eval_loss"] == float(last["eval_loss"])
    assert row["eval_batch_loss"] == float(last["loss"])


def test_maxima_and_sample_count_cover_the_samples_whose_interval_meets_the_window(tmp_path: Path) -> None:
    """Peaks just before, at and after the window's edges: only the samples whose interval (previous stamp,
    stamp] overlaps the window count, for gpu_samples, power_w_max and memory_mib_max."""
    training = Training()  # window [T0 + 10.25, T0 + 50.25]
    times = [T0 + k for k in range(71)]
    peaks = {T0 + 10: (400.0, 10_000.0), T0 + 51: (300.0, 9_500.0), T0 + 52: (500.0, 10_500.0)}
    capture = Capture.of(times, lambda t: (*peaks.get(t, (200.0, 9000.0)), 90.0))
    write_run(tmp_path, "peaks", {"train.log": training.docker_log(), "gpu.csv": capture.gpu_csv()})
    row = row_of([tmp_path])
    inside = reference_in_window(reference_overlaps(times, training.start, training.end, capture.period))
    # stamp 10 describes (9, 10]: before the window; stamp 51 describes (50, 51]: the window's last 0.25 s
    assert row["gpu_samples"] == len(inside)
    assert row["power_w_max"] == max(capture.power[i] for i in inside)
    assert row["memory_mib_max"] == max(capture.memory[i] for i in inside)


@pytest.mark.parametrize("first_stamp", [T0 + 14, T0 + 16], ids=["covers-93pct", "covers-88pct"])
def test_a_capture_covering_under_90_percent_of_the_window_makes_the_run_partial(
    tmp_path: Path, first_stamp: float
) -> None:
    """A capture that starts late: partial below 90 % coverage (the first reading covers one period)."""
    training = Training()  # window [T0 + 10.25, T0 + 50.25]
    times = [first_stamp + k for k in range(int(T0 + 71 - first_stamp))]
    capture = Capture.of(times, lambda t: (200.0, 9000.0, 90.0))
    write_run(tmp_path, "short", {"train.log": training.docker_log(), "gpu.csv": capture.gpu_csv()})
    row = row_of([tmp_path])
    window_s = training.end - training.start
    coverage = sum(reference_overlaps(times, training.start, training.end, capture.period)) / window_s
    assert row["status"] == ("partial" if coverage < 0.9 else "ok"), (coverage, row["warnings"])
    assert row["power_w"] == pytest.approx(200.0)


def test_absl_year_comes_from_year_option() -> None:
    """Real absl-only log (TF 1.14, no year in its stamps): `--year` dates it."""
    path = REAL / "tf1-estimator" / "mobilebert_zh_indented_absl_tf114_snippet.txt"
    stamp = re.search(r"I(\d{4} [\d:.]+) \d+ basic_session_run_hooks.py:606\] Saving checkpoints", path.read_text())
    assert stamp is not None
    local = dt.datetime.strptime(f"2019{stamp.group(1)}", "%Y%m%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)
    checkpoint = parse_file(path, year=2019).frame.filter(pl.col("kind") == F.CHECKPOINT)
    assert checkpoint["time"][0] == pytest.approx(local.timestamp(), abs=1e-6)


def test_absl_year_comes_from_the_logs_own_full_stamps(tmp_path: Path) -> None:
    """A C++ line's full local stamp (2020) dates the absl lines of the same log."""
    log = tmp_path / "train.log"
    log.write_text(
        "2020-09-07 12:33:26.224454: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1304] Created TensorFlow"
        " device\nI0907 12:34:00.500000 140008086570880 tpu_estimator.py:2159] global_step/sec: 10\n"
    )
    rate = parse_file(log).frame.filter(pl.col("key") == F.STEPS_PER_S)
    assert rate["time"][0] == pytest.approx(calendar.timegm((2020, 9, 7, 12, 34, 0)) + 0.5, abs=1e-6)


def test_absl_year_comes_from_the_gpu_capture_when_nothing_else_dates_the_log(tmp_path: Path) -> None:
    """absl-only log, GPU capture stamped in 2025: the log's window lies on the capture's clock. GPU busy from
    T0 + 15 on, the window from T0 + 10.25: a window placed from the utilisation instead would differ."""
    training = Training()
    times = [T0 + 0.5 * k for k in range(141)]
    capture = Capture.of(times, busy_between(T0 + 15, T0 + 55))
    write_run(tmp_path, "absl", {"train.log": training.absl_log(), "gpu.csv": capture.gpu_csv()})
    row = row_of([tmp_path])
    overlaps = reference_overlaps(times, training.start, training.end, capture.period)
    assert row["train_s"] == pytest.approx(training.end - training.start, abs=1e-5)
    assert row["power_w"] == pytest.approx(reference_mean(capture.power, overlaps), rel=1e-6)


def test_captures_without_clock_take_the_median_period_of_the_stamped_ones(tmp_path: Path) -> None:
    """Three stamped runs sampled every 0.3, 0.5 and 1 s, and the demo's tiny-bs64 without its `date` lines."""
    periods = {"every-0.3s": 0.3, "every-0.5s": 0.5, "every-1s": 1.0}
    measured = []
    for name, period in periods.items():
        times = [T0 + period * k for k in range(round(70 / period))]
        capture = Capture.of(times, lambda t: (200.0, 9000.0, 90.0))
        write_run(tmp_path, name, {"train.log": Training().docker_log(), "gpu.csv": capture.gpu_csv()})
        measured.append(capture.period)
    demo = DEMO / "tiny-bs64"
    rows = [line for line in (demo / "nvidia-smi.log").read_text().splitlines() if line.startswith("|")]
    log = (demo / "run_classifier.log").read_text()
    write_run(tmp_path, "no-clock", {"run_classifier.log": log, "nvidia-smi.log": "\n".join(rows) + "\n"})
    row = row_of([tmp_path], run="no-clock")
    assert row["sample_period_s"] == pytest.approx(statistics.median(measured), rel=1e-6)
    assert row["train_s"] == pytest.approx(window_length_of(log)[0], rel=1e-9)


@pytest.mark.parametrize(("option", "offset_s"), [("+01:00", 3600.0), ("-05:30", -19800.0), ("5.5", 19800.0)])
def test_utc_offset_option_converts_local_capture_stamps(tmp_path: Path, option: str, offset_s: float) -> None:
    """`--utc-offset` is hours east of UTC: a docker-stamped (UTC) log and an nvidia-smi CSV in local time meet
    on one clock. GPU busy from T0 + 20 to T0 + 60, the window T0 + 10.25 to T0 + 50.25: a window placed from
    the utilisation (when the clocks do not meet) would give other figures."""
    training = Training()
    times = [T0 + 0.5 * k for k in range(141)]
    capture = Capture.of(times, busy_between(T0 + 20, T0 + 60))
    archive = tmp_path / "archive"
    write_run(archive, "local", {"train.log": training.docker_log(), "gpu.csv": capture.smi_csv(offset_s)})
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(archive), "--out", str(out), "--no-plots", "--utc-offset", option])
    assert result.exit_code == 0, result.output
    row = pl.read_csv(out / "summary.csv").row(0, named=True)
    overlaps = reference_overlaps(times, training.start, training.end, capture.period)
    assert row["power_w"] == pytest.approx(reference_mean(capture.power, overlaps), rel=1e-6)
    assert row["util_pct"] == pytest.approx(reference_mean(capture.util, overlaps), rel=1e-6)


# --- 3. GPUs stamped a few milliseconds apart are one sample ----------------------------------------------------


def read_smi_csv(path: Path) -> dict[int, tuple[list[float], list[float], list[float], list[float]]]:
    """GPU -> (times, power, memory, util) of a UTC `--query-gpu` CSV, read by hand."""
    gpus: dict[int, tuple[list[float], list[float], list[float], list[float]]] = {}
    for line in path.read_text().splitlines()[1:]:
        stamp, gpu, power, memory, _, util = (cell.strip() for cell in line.split(","))
        time = dt.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()
        values = (time, *(float(cell.split()[0]) for cell in (power, memory, util)))  # "187.00 W" -> 187.0
        for column, value in zip(gpus.setdefault(int(gpu), ([], [], [], [])), values, strict=True):
            column.append(value)
    return gpus


def test_two_gpu_capture_figures_by_hand() -> None:
    """fixtures/skew/aligned: two GPUs, one stamp per sample; power and memory summed, utilisation averaged."""
    run = SKEW / "aligned"
    length, epochs = window_length_of((run / "run_classifier.log").read_text())
    gpus = read_smi_csv(run / "nvidia-smi.csv")
    times = gpus[0][0]
    period = statistics.median(b - a for a, b in itertools.pairwise(times))
    busiest = [max(u) for u in zip(*(g[3] for g in gpus.values()), strict=True)]
    start = reference_activity_start(times, busiest, period)
    overlaps = reference_overlaps(times, start, start + length, period)
    inside = reference_in_window(overlaps)
    row = row_of([run])
    power = sum(reference_mean(g[1], overlaps) for g in gpus.values())
    assert row["gpus"] == "0,1" and row["status"] == "ok", row["warnings"]
    assert row["gpu_samples"] == len(inside)
    assert row["sample_period_s"] == pytest.approx(period, rel=1e-9)
    assert row["power_w"] == pytest.approx(power, rel=1e-6)
    assert row["power_w_max"] == max(sum(g[1][i] for g in gpus.values()) for i in inside)
    assert row["memory_mib_max"] == max(sum(g[2][i] for g in gpus.values()) for i in inside)
    assert row["util_pct"] == pytest.approx(statistics.mean(reference_mean(g[3], overlaps) for g in gpus.values()))
    assert row["energy_j_per_epoch"] == pytest.approx(power * length / epochs, rel=1e-6)


def test_per_gpu_stamp_skew_of_a_few_milliseconds_changes_no_figure() -> None:
    """fixtures/skew: the same two-GPU capture, GPU 1 stamped 0 or 2-3 ms after GPU 0 (integers compare exactly)."""
    aligned, skewed = (row_of([SKEW / name]) for name in ("aligned", "skewed"))
    columns = ("gpu_samples", "sample_period_s", "power_w", "power_w_max", "memory_mib_max", "energy_j_per_epoch")
    differ = {
        c: (aligned[c], skewed[c])
        for c in (*columns, "util_pct", "train_s")
        if skewed[c] != pytest.approx(aligned[c], rel=1e-3, abs=0)
    }
    assert not differ, differ


def test_skew_fixtures_are_what_their_generator_writes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SKEW / "make_skew.py"), str(tmp_path)], check=True)
    for name in ("aligned/run_classifier.log", "aligned/nvidia-smi.csv", "skewed/nvidia-smi.csv"):
        assert (tmp_path / name).read_bytes() == (SKEW / name).read_bytes(), name
    aligned, skewed = (read_smi_csv(tmp_path / n / "nvidia-smi.csv") for n in ("aligned", "skewed"))
    skew_s = [b - a for a, b in zip(aligned[1][0], skewed[1][0], strict=True)]
    assert min(skew_s) == pytest.approx(0.002, abs=1e-4) and max(skew_s) == pytest.approx(0.003, abs=1e-4)
    assert aligned[0] == skewed[0] and aligned[1][1:] == skewed[1][1:]  # only GPU 1's stamps differ


# --- 4. every exit code is reached by a real scenario -----------------------------------------------------------


@contextmanager
def full_disk(path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs filled to the last byte."""
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        (path / "fill").write_bytes(b"\0" * 65536)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def bertlogs(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no nvidia-smi: collect records the log alone
    return subprocess.run(
        [sys.executable, "-m", "bertlogs", *args], env=env, capture_output=True, text=True, timeout=60
    )


def scenario_ok(tmp: Path) -> list[str]:
    return ["analyze", str(DEMO / "tiny-bs64")]


def scenario_run_errors(tmp: Path) -> list[str]:
    shutil.copytree(DEMO / "tiny-bs64", tmp / "archive" / "good")
    write_run(tmp / "archive", "no-log", {"nvidia-smi.log": (DEMO / "tiny-bs64" / "nvidia-smi.log").read_text()})
    return ["analyze", str(tmp / "archive")]


def scenario_usage(tmp: Path) -> list[str]:
    (tmp / "a-file").write_text("not a directory\n")
    return ["analyze", str(DEMO / "tiny-bs64"), "--out", str(tmp / "a-file")]


def scenario_bad_input(tmp: Path) -> list[str]:
    return ["parse", str(REAL / "not-gpu-captures" / "ambroise012_bert_pruning_v100_codecarbon_emissions.csv")]


def scenario_not_found(tmp: Path) -> list[str]:
    return ["analyze", str(tmp / "no-such-archive")]


def scenario_write_failed(tmp: Path) -> list[str]:
    (tmp / "a-file").write_text("not a directory\n")
    return ["collect", "--out", str(tmp / "a-file" / "raw"), "--run-id", "r", "--", "true"]


SCENARIOS: dict[ExitCode, Callable[[Path], list[str]]] = {
    ExitCode.OK: scenario_ok,
    ExitCode.RUN_ERRORS: scenario_run_errors,
    ExitCode.USAGE: scenario_usage,
    ExitCode.BAD_INPUT: scenario_bad_input,
    ExitCode.NOT_FOUND: scenario_not_found,
    ExitCode.WRITE_FAILED: scenario_write_failed,
}
# reached only where a test cannot bring it about honestly here, and tested there
ELSEWHERE = {
    ExitCode.INTERNAL: "a bug: tests/test_cli.py injects one",
    ExitCode.INTERRUPTED: "collect --docker interrupted: needs a container",
}


def test_every_exit_code_has_a_scenario() -> None:
    assert set(SCENARIOS) | set(ELSEWHERE) == set(ExitCode)
    assert len({int(c) for c in ExitCode}) == len(ExitCode)


@pytest.mark.parametrize("code", list(SCENARIOS), ids=lambda c: c.name)
def test_exit_code_of_a_real_scenario(tmp_path: Path, code: ExitCode) -> None:
    result = bertlogs(*SCENARIOS[code](tmp_path))
    assert result.returncode == code, result.stderr
    if code != ExitCode.OK:
        assert "Traceback" not in result.stderr


def test_analyze_on_a_full_disk_exits_write_failed(tmp_path: Path) -> None:
    with full_disk(tmp_path / "disk") as disk:
        result = bertlogs("analyze", str(DEMO / "tiny-bs64"), "--out", str(disk / "report"))
        assert result.returncode == ExitCode.WRITE_FAILED, result.stderr
        assert "No space left on device" in result.stderr and "Traceback" not in result.stderr


def eight_gpu_capture(stagger_ms: int) -> str:
    """`nvidia-smi --query-gpu -lms 100` on 8 GPUs, each row stamped `stagger_ms` after the one before."""
    rows = ["timestamp, index, power.draw [W], memory.used [MiB], memory.total [MiB], utilization.gpu [%]"]
    for k in range(601):
        busy = 10 < k / 10 <= 50
        for gpu in range(8):
            stamp = utc(T0 + k / 10 + stagger_ms * gpu / 1000).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
            power, util = (180.0 + 7 * (k % 5) - 11 * gpu, 90 - 2 * gpu) if busy else (30.0 + gpu, 0)
            rows.append(f"{stamp}, {gpu}, {power:.2f} W, {9000 + 100 * gpu} MiB, 11019 MiB, {util} %")
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("stagger_ms", [5, 8])  # 8 GPUs x 8 ms: a sample's rows span over half the period
def test_eight_gpus_read_one_after_another_are_one_sample(tmp_path: Path, stagger_ms: int) -> None:
    for name, stagger in (("aligned", 0), ("staggered", stagger_ms)):
        (tmp_path / name).mkdir()
        shutil.copy(DEMO / "tiny-bs16" / "run_classifier.log", tmp_path / name)
        (tmp_path / name / "nvidia-smi.csv").write_text(eight_gpu_capture(stagger))
    aligned, staggered = row_of([tmp_path], "aligned"), row_of([tmp_path], "staggered")
    assert staggered["gpu_samples"] == aligned["gpu_samples"] > 0
    assert staggered["sample_period_s"] == pytest.approx(aligned["sample_period_s"], abs=1e-6)
    assert (
        staggered["power_w_max"]
        == aligned["power_w_max"]
        == max(sum(180 + 7 * j - 11 * g for g in range(8)) for j in range(5))
    )
    assert staggered["power_w"] == pytest.approx(aligned["power_w"], rel=2e-3)


def test_whole_second_stamps_shared_by_two_samples_keep_them_apart(tmp_path: Path) -> None:
    """Two GPUs sampled every 0.5 s, stamped by whole-second `date` lines: two samples share each stamp."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(DEMO / "tiny-bs16" / "run_classifier.log", run)
    row = "| 39%   67C    P2  {p:>3}W / 250W |  9000MiB / 12189MiB |    {u:>2}%      Default |\n"
    lines = []
    for k in range(240):  # 120 s; busy from 10 s to 110 s at 200 W per GPU
        busy = 20 <= k < 220
        lines += [row.format(p=200 if busy else 30, u=90 if busy else 0)] * 2
        lines.append(utc(T0 + k // 2).strftime("%a %b %d %H:%M:%S UTC %Y") + "\n")
    (run / "nvidia-smi.log").write_text("".join(lines))
    found = row_of([run])
    assert found["power_w_max"] == 400.0  # two GPUs at 200 W, never one sample of four readings
    assert found["sample_period_s"] == 1.0  # the stamps' resolution: README "Samples"
