"""collect without Docker: NVML mocked per driver scenario, the nvidia-smi fallback, local commands, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import ROOT
from fake_pynvml import FakeGpu, module

from bertlogs import summarize
from bertlogs.collect.run import Options, collect_command
from bertlogs.errors import CollectError
from bertlogs.parsers import SMI_CSV, parse_file

FAKE_BIN = ROOT / "tests" / "fake_bin"
TRAINING = (
    "sleep 0.3; echo 'INFO:tensorflow:***** Running training *****' >&2; "
    "echo 'INFO:tensorflow:  Num examples = 64' >&2; "
    "echo 'INFO:tensorflow:  Batch size = 8' >&2; echo 'INFO:tensorflow:  Num steps = 300' >&2; "
    "echo 'INFO:tensorflow:Saving checkpoints for 0 into /tmp/m.' >&2; "
    "for i in 1 2; do sleep 0.5; echo 'INFO:tensorflow:global_step/sec: 200' >&2; "
    "echo 'INFO:tensorflow:examples/sec: 1600'; done; "
    "echo 'INFO:tensorflow:Saving checkpoints for 300 into /tmp/m.' >&2; "
    "echo 'INFO:tensorflow:***** Eval results *****'; echo 'INFO:tensorflow:  eval_accuracy = 0.7'"
)


@pytest.fixture
def no_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")


def run_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gpus: list[FakeGpu], **kw: object):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "pynvml", module(gpus, **kw))  # type: ignore[arg-type]
    options = Options(out=tmp_path / "raw", run_id="run", interval_s=0.05, labels={"model": "Tiny", "batch_size": "8"})
    result = collect_command(["sh", "-c", TRAINING], options)
    meta = json.loads((result.run_dir / "meta.json").read_text())
    return result, meta, parse_file(result.run_dir / "gpu.csv").frame


def test_nvml_modern_gpu_records_everything_and_analyze_reads_the_run(monkeypatch, tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    result, meta, samples = run_with(monkeypatch, tmp_path, [FakeGpu(), FakeGpu()])
    assert result.exit_code == 0 and meta["status"] == "ok"
    assert meta["sampler"] == {"source": "nvml", "interval_s": 0.05}
    assert [g["uuid"] for g in meta["gpus"]] == ["GPU-fake-0", "GPU-fake-1"]
    assert meta["gpus"][0]["power_limit_w"] == 250.0
    assert samples["sample"].n_unique() >= 15  # ~1 s at 20 Hz
    assert set(samples["power_w"]) == {150.0} and samples["energy_mj"].null_count() == 0
    header = (result.run_dir / "gpu.csv").read_text().splitlines()[0]
    assert "power_instant_w" in header and "mono_ns" in header
    row = summarize([tmp_path / "raw"]).results[0].row
    assert row["model"] == "Tiny" and row["rate_readings"] == 2 and row["gpus"] == "0,1"
    assert row["energy_method"].startswith("NVML total-energy counter")
    assert row["status"] == "ok", row["warnings"]


def test_nvml_old_gpu_without_energy_counter_or_power_fields(monkeypatch, tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    _, meta, samples = run_with(monkeypatch, tmp_path, [FakeGpu(name="Tesla P100", energy=False, power_fields=False)])
    assert samples["energy_mj"].null_count() == samples.height  # empty, not an error
    assert set(samples["power_w"]) == {150.0}  # from nvmlDeviceGetPowerUsage
    assert meta["warnings"] == []
    row = summarize([tmp_path / "raw"]).results[0].row
    assert row["energy_method"] == "time-weighted power x window length"


def test_nvml_gpu_lost_mid_run_leaves_empty_rows_and_the_others_go_on(monkeypatch, tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    _, meta, samples = run_with(monkeypatch, tmp_path, [FakeGpu(), FakeGpu(lost_after_reads=5)])
    gpu0, gpu1 = samples.filter(pl.col("gpu") == 0), samples.filter(pl.col("gpu") == 1)
    assert gpu0["power_w"].null_count() == 0
    assert gpu1["power_w"].head(5).null_count() == 0 and gpu1["power_w"].tail(5).null_count() == 5
    assert gpu0.height == gpu1.height  # a row per GPU per sample, lost or not
    assert any("GPU 1 stopped answering NVML (GPU is lost)" in w for w in meta["warnings"])


def test_nvml_missing_falls_back_to_one_long_lived_nvidia_smi(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:/usr/bin:/bin")
    result, meta, samples = run_with(monkeypatch, tmp_path, [], missing=True)
    assert meta["sampler"]["source"] == "nvidia-smi"
    assert meta["gpus"][1] == {
        "index": 1,
        "name": "Fake GPU",
        "uuid": "GPU-fake-1",
        "driver": "535.54.03",
        "power_limit_w": 250.0,
    }
    assert any("NVML Shared Library Not Found" in w and "one nvidia-smi process" in w for w in meta["warnings"])
    assert parse_file(result.run_dir / "gpu.csv").format == SMI_CSV
    assert samples["power_w"].min() >= 150 and samples["util_pct"].min() >= 80


def test_no_gpu_at_all_collects_the_log_alone(monkeypatch, tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    result, meta, samples = run_with(monkeypatch, tmp_path, [], missing=True)
    assert meta["sampler"]["source"] is None and samples.is_empty()
    assert any("no GPU telemetry" in w for w in meta["warnings"])
    lines = (result.run_dir / "train.log").read_text().splitlines()
    assert len(lines) == 12 and all(line[:4].isdigit() and line[29:31] == "Z " for line in lines)


def test_failing_command_keeps_its_exit_code(tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    result = collect_command(["sh", "-c", "echo boom >&2; exit 3"], Options(out=tmp_path, run_id="r"))
    assert (result.exit_code, result.status) == (3, "failed")
    assert json.loads((tmp_path / "r" / "meta.json").read_text())["exit_code"] == 3
    assert (tmp_path / "r" / "train.log").read_text().endswith(" boom\n")


def test_an_existing_run_is_never_overwritten(tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    collect_command(["true"], Options(out=tmp_path, run_id="r"))
    before = (tmp_path / "r" / "meta.json").read_bytes()
    with pytest.raises(CollectError, match="run directory exists"):
        collect_command(["true"], Options(out=tmp_path, run_id="r"))
    assert (tmp_path / "r" / "meta.json").read_bytes() == before


def test_command_that_cannot_start(tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CollectError, match="no-such-program: cannot start"):
        collect_command(["no-such-program"], Options(out=tmp_path, run_id="r"))
    assert json.loads((tmp_path / "r" / "meta.json").read_text())["status"] == "failed"


def collector(tmp_path: Path, *command: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PATH": f"{FAKE_BIN}:/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable,
        "-m",
        "bertlogs",
        "collect",
        "--out",
        str(tmp_path),
        "--run-id",
        "r",
        "--interval",
        "0.05",
        "--",
        *command,
    ]
    return subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_lines(path: Path, n: int, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path}: fewer than {n} lines after {timeout_s} s")


def test_sigint_forwards_to_the_command_and_marks_the_run_interrupted(tmp_path: Path) -> None:
    process = collector(tmp_path, "sh", "-c", "echo started; trap 'echo stopping; exit 130' INT; sleep 30 & wait")
    wait_for_lines(tmp_path / "r" / "train.log", 1)
    wait_for_lines(tmp_path / "r" / "gpu.csv", 6)
    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 130
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["end"] is not None
    assert (tmp_path / "r" / "train.log").read_text().splitlines()[-1].endswith(" stopping")
    assert parse_file(tmp_path / "r" / "gpu.csv").frame.height >= 4


def test_sigkill_of_the_collector_leaves_readable_files(tmp_path: Path) -> None:
    process = collector(
        tmp_path, "sh", "-c", "for i in $(seq 100); do echo INFO:tensorflow:examples/sec: $i; sleep 0.1; done"
    )
    wait_for_lines(tmp_path / "r" / "train.log", 15)
    wait_for_lines(tmp_path / "r" / "gpu.csv", 30)
    os.killpg(process.pid, signal.SIGKILL)  # the collector and its command, as a crash would
    process.wait(10)
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert meta["status"] == "running"  # written at the start; the end never came
    samples = parse_file(tmp_path / "r" / "gpu.csv").frame
    facts = parse_file(tmp_path / "r" / "train.log").frame
    assert samples.height >= 20 and facts.filter(pl.col("key") == "examples/sec").height >= 10


def test_tensorboard_event_files_are_copied_at_the_end(tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    output = tmp_path / "output"
    (output / "eval").mkdir(parents=True)
    # the training writes its event files while it runs: they must be copied once it has finished
    script = (
        f"echo x > {output}/events.out.tfevents.1574690400.host; "
        f"echo y > {output}/eval/events.out.tfevents.1574690500.host"
    )
    result = collect_command(["sh", "-c", script], Options(out=tmp_path / "raw", run_id="r", tfevents=output))
    copied = sorted(p.name for p in (result.run_dir / "events").iterdir())
    assert copied == ["events.out.tfevents.1574690400.host", "events.out.tfevents.1574690500.host"]
    missing = collect_command(["true"], Options(out=tmp_path / "raw", run_id="r2", tfevents=tmp_path / "none"))
    assert any("no TensorBoard event files" in w for w in missing.warnings)
