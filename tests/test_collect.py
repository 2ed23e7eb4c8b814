"""collect without Docker: NVML mocked per driver scenario, the nvidia-smi fallback, local commands, faults."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from conftest import ROOT
from fake_pynvml import FakeGpu, module

from bertlogs import summarize
from bertlogs.collect import archive
from bertlogs.collect import run as run_module
from bertlogs.collect.lines import LINE_LIMIT_BYTES, LineReader
from bertlogs.collect.run import Options, collect_command
from bertlogs.errors import CollectError, ExitCode
from bertlogs.parsers import Format, parse_file

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
    assert parse_file(result.run_dir / "gpu.csv").format == Format.SMI_CSV
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
    events = result.run_dir / "events"
    copied = sorted(str(p.relative_to(events)) for p in events.rglob("*") if p.is_file())
    assert copied == ["eval/events.out.tfevents.1574690500.host", "events.out.tfevents.1574690400.host"]
    missing = collect_command(["true"], Options(out=tmp_path / "raw", run_id="r2", tfevents=tmp_path / "none"))
    assert any("no TensorBoard event files" in w for w in missing.warnings)


def test_run_ids_never_start_with_a_dot_which_would_hide_them_from_analyze(tmp_path: Path) -> None:
    assert archive.default_run_id({"model": ".5x", "lr": ".001"}, 1_764_000_000) == "5x-001-20251124T160000Z"
    with pytest.raises(CollectError, match=r"starts with no \."):
        archive.create_run_dir(tmp_path, ".x")
    assert not list(tmp_path.iterdir())


def test_default_run_ids_never_collide(monkeypatch, tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    same_second = archive.default_run_id({"model": "Tiny"}, 1_764_000_000)
    monkeypatch.setattr(run_module, "default_run_id", lambda labels, now_s: same_second)
    options = Options(out=tmp_path, labels={"model": "Tiny"})
    first = collect_command(["echo", "one"], options)
    second = collect_command(["echo", "two"], options)
    assert (first.run_dir.name, second.run_dir.name) == (same_second, f"{same_second}-2")
    assert (second.run_dir / "train.log").read_text().endswith(" two\n")  # the second training ran
    with ThreadPoolExecutor(8) as pool:  # created by mkdir: no window between looking and making
        made = list(pool.map(lambda _: archive.create_run_dir(tmp_path, "x", suffixed=True), range(8)))
    assert sorted(p.name for p in made) == sorted(["x", *(f"x-{n}" for n in range(2, 9))])


def collect_cli(out: Path, *command: str, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-m", "bertlogs", "collect", "--out", str(out), "--run-id", "r", "--", *command]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, preexec_fn=preexec)


def limit_file_size() -> None:  # a per-file size limit: writes fail with EFBIG, as a full disk fails with ENOSPC
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


@contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


CHATTY = "yes 'INFO:tensorflow:examples/sec: 800' | head -c 3000000; sleep 30"


@pytest.mark.parametrize("fault", ["tmpfs", "file size limit"])
def test_a_full_disk_gives_one_line_and_a_failed_run_that_stays_readable(tmp_path: Path, fault: str) -> None:
    if fault == "tmpfs":
        with mounted_tmpfs(tmp_path / "disk", "size=256k") as disk:
            result = collect_cli(disk, "sh", "-c", CHATTY)
            meta = json.loads((disk / "r" / "meta.json").read_text())
            facts = parse_file(disk / "r" / "train.log").frame
        reason = "No space left on device"
    else:
        result = collect_cli(tmp_path, "sh", "-c", CHATTY, preexec=limit_file_size)
        meta = json.loads((tmp_path / "r" / "meta.json").read_text())
        facts = parse_file(tmp_path / "r" / "train.log").frame
        reason = "File too large"
    assert result.returncode == ExitCode.WRITE_FAILED
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("bertlogs: error: "), result.stderr
    assert f"cannot write: {reason}; what was written is kept in" in result.stderr
    assert meta["status"] == "failed" and meta["end"] is not None  # the command was stopped, not waited for
    assert any(reason in w for w in meta["warnings"])
    assert facts.filter(pl.col("key") == "examples/sec").height > 1000


def test_an_unwritable_out_gives_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    result = collect_cli(tmp_path / "file" / "raw", "true")
    assert result.returncode == ExitCode.WRITE_FAILED and result.stderr.count("\n") == 1, result.stderr
    assert "raw: cannot create the run directory: Not a directory" in result.stderr
    with mounted_tmpfs(tmp_path / "ro", "ro,size=64k") as read_only:
        result = collect_cli(read_only, "true")
    assert result.returncode == ExitCode.WRITE_FAILED and result.stderr.count("\n") == 1, result.stderr
    assert "cannot create the run directory: Read-only file system" in result.stderr


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "r" / "train.log"

    def interrupt_once_started() -> None:
        wait_for_lines(log, 1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    stubborn = "trap '' TERM; echo started; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done"
    started = time.monotonic()
    result = collect_command(["sh", "-c", stubborn], Options(out=tmp_path, run_id="r", kill_grace_s=0.5))
    assert time.monotonic() - started < 15  # not the 30 s the command would take
    assert (result.status, result.exit_code) == ("interrupted", 128 + signal.SIGKILL)
    assert any("still running 0.5 s after the signal: killed" in w for w in result.warnings)
    assert Options().kill_grace_s == 10


def test_long_lines_are_split_and_progress_redraws_kept(tmp_path, no_nvidia_smi) -> None:  # type: ignore[no-untyped-def]
    tail = b"\nstep 1%\rstep 50%\rstep 100%\r\nend"
    script = f"import sys; sys.stdout.buffer.write(b'x' * {2 * LINE_LIMIT_BYTES + 5} + {tail!r})"
    result = collect_command([sys.executable, "-c", script], Options(out=tmp_path, run_id="r"))
    lines = [line.split(b" ", 1)[1] for line in (result.run_dir / "train.log").read_bytes().split(b"\n")[:-1]]
    assert [len(line) for line in lines[:3]] == [LINE_LIMIT_BYTES, LINE_LIMIT_BYTES, 5]
    assert lines[3:] == [b"step 1%\rstep 50%\rstep 100%", b"end"]
    meta = json.loads((result.run_dir / "meta.json").read_text())
    assert "train.log: 1 line(s) longer than 1 MiB were split into stamped pieces of 1 MiB" in meta["warnings"]


def test_line_reader_keeps_a_character_cut_at_the_limit_whole() -> None:
    reader = LineReader(io.BytesIO("abécd\nxyz\n".encode()), limit_bytes=3)
    assert list(reader) == ["ab", "écd", "xyz"] and reader.split_lines == 1


def test_nvidia_smi_fallback_lists_every_gpu_even_when_rows_come_slowly(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slow = tmp_path / "bin" / "nvidia-smi"  # the stand-in, printing one row every 0.3 s
    slow.parent.mkdir()
    slow.write_text(
        f"#!{sys.executable}\n"
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        f"smi = subprocess.Popen([{str(FAKE_BIN / 'nvidia-smi')!r}, *sys.argv[1:]], stdout=subprocess.PIPE)\n"
        "try:\n"
        "    for line in smi.stdout:\n"
        "        sys.stdout.buffer.write(line)\n"
        "        sys.stdout.flush()\n"
        "        time.sleep(0.3)\n"
        "finally:\n"
        "    smi.kill()\n"
    )
    slow.chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow.parent}:/usr/bin:/bin")
    _, meta, samples = run_with(monkeypatch, tmp_path, [], missing=True)
    assert [g["uuid"] for g in meta["gpus"]] == ["GPU-fake-0", "GPU-fake-1"]
    first = samples.filter(pl.col("sample") == samples["sample"].min())
    assert first["gpu"].to_list() == [0, 1]  # the first sample already has every GPU


def test_the_training_command_keeps_its_own_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `analyze` sets for itself (one BLAS thread) is not set for a training command."""
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    done = collect_cli(tmp_path, "sh", "-c", "echo blas=${OPENBLAS_NUM_THREADS-unset}")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "train.log").read_text().endswith(" blas=unset\n")
