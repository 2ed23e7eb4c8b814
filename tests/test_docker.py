"""collect against a real Docker engine (CI installs and starts one; these tests must not skip there)."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from bertlogs import summarize
from bertlogs.cli import app
from bertlogs.collect.lines import stamp_ns
from bertlogs.errors import ExitCode

pytestmark = pytest.mark.docker
IMAGE = "bertlogs-test-busybox"
FAKE_BIN = ROOT / "tests" / "fake_bin"
# A TF1-style training log over ~3 s: config and checkpoints on stderr, readings on both streams. It starts
# once the test has seen collect sampling (`release`): on a loaded machine collect may take seconds to start.
SCRIPT = """
while [ ! -e /go ]; do sleep 0.05; done
echo 'INFO:tensorflow:***** Running training *****' >&2
echo 'INFO:tensorflow:  Num examples = 64' >&2
echo 'INFO:tensorflow:  Batch size = 8' >&2
echo 'INFO:tensorflow:  Num steps = 300' >&2
echo 'INFO:tensorflow:Saving checkpoints for 0 into /tmp/model.ckpt.' >&2
for i in 1 2; do
  sleep 1
  echo 'INFO:tensorflow:global_step/sec: 100' >&2
  echo 'INFO:tensorflow:examples/sec: 800'
done
echo 'INFO:tensorflow:Saving checkpoints for 300 into /tmp/model.ckpt.' >&2
echo 'INFO:tensorflow:***** Eval results *****'
echo 'INFO:tensorflow:  eval_accuracy = 0.75'
echo 'INFO:tensorflow:  eval_loss = 0.5'
exit ${EXIT_CODE:-0}
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("Docker engine not running: .ci/run must start it")
        pytest.skip("no Docker engine here (CI starts one)")
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        busybox = shutil.which("busybox")
        assert busybox, "busybox-static is needed to build the test image"
        rootfs = tmp_path_factory.mktemp("rootfs")
        (rootfs / "bin").mkdir()
        shutil.copy(busybox, rootfs / "bin" / "busybox")
        for tool in ("sh", "echo", "sleep", "seq", "cat"):
            (rootfs / "bin" / tool).symlink_to("busybox")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", IMAGE], stdin=tar.stdout, check=True, capture_output=True)
        tar.wait()
    return IMAGE


def start_collector(tmp_path: Path, name: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PATH": f"{FAKE_BIN}:{os.environ['PATH']}"}
    argv = [
        sys.executable,
        "-m",
        "bertlogs",
        "collect",
        "--docker",
        name,
        "--out",
        str(tmp_path / "raw"),
        "--run-id",
        "run",
        "--interval",
        "0.1",
        "--wait",
        "60",
        "--label",
        "model=Tiny",
        *extra,
    ]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_container(image: str, name: str, exit_code: int = 0, script: str = SCRIPT) -> None:
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "-e",
            f"EXIT_CODE={exit_code}",
            image,
            "sh",
            "-c",
            script,
        ],
        check=True,
        capture_output=True,
    )


def release(name: str, run_dir: Path) -> None:
    """Start the container's training once collect is sampling (a condition, not a sleep)."""
    gpu_csv = run_dir / "gpu.csv"
    deadline = time.monotonic() + 60
    while not (gpu_csv.exists() and gpu_csv.read_text().count("\n") >= 3):
        assert time.monotonic() < deadline, f"{gpu_csv}: collect is not sampling after 60 s"
        time.sleep(0.05)
    subprocess.run(["docker", "exec", name, "sh", "-c", ": > /go"], check=True, capture_output=True)


@pytest.fixture
def name() -> str:
    container = f"bertlogs-test-{uuid.uuid4().hex[:8]}"
    yield container
    subprocess.run(["docker", "rm", "-f", container], capture_output=True)


def test_container_started_after_collect_is_waiting(image: str, name: str, tmp_path: Path) -> None:
    collector = start_collector(tmp_path, name)
    assert collector.stderr is not None
    ready, _, _ = select.select([collector.stderr], [], [], 30)
    assert ready and collector.stderr.readline().startswith("waiting for container")
    assert collector.poll() is None and not (tmp_path / "raw").exists()  # collect waits for the container
    run_container(image, name)
    run_dir = tmp_path / "raw" / "run"
    release(name, run_dir)
    _, stderr = collector.communicate(timeout=60)
    assert collector.returncode == 0, stderr
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "ok" and meta["exit_code"] == 0
    assert meta["source"]["kind"] == "docker" and meta["source"]["image"] == image
    assert meta["source"]["container"] == name and meta["source"]["oom_killed"] is False
    assert meta["sampler"]["source"] == "nvidia-smi"  # the stand-in on PATH; NVML is absent here
    log = (run_dir / "train.log").read_text().splitlines()
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")  # docker's RFC3339Nano trims zeros
    assert len(log) == 13 and all(stamp.match(line) for line in log)
    assert sum("examples/sec" in line for line in log) == 2  # stdout and stderr both followed

    row = summarize([tmp_path / "raw"]).results[0].row
    assert row["rate_readings"] == 2 and row["eval_accuracy"] == 0.75
    assert row["epoch_s_method"].startswith("wall clock")
    assert 1.5 < row["train_s"] < 4.0
    assert row["power_w"] is not None and row["status"] == "ok", row["warnings"]


def test_failed_container_keeps_its_exit_code(image: str, name: str, tmp_path: Path) -> None:
    collector = start_collector(tmp_path, name)
    run_container(image, name, exit_code=3)
    release(name, tmp_path / "raw" / "run")
    collector.communicate(timeout=60)
    assert collector.returncode == 3
    meta = json.loads((tmp_path / "raw" / "run" / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["exit_code"] == 3
    assert summarize([tmp_path / "raw"]).results[0].row["status"] == "failed"


def test_container_that_never_appears(image: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["collect", "--docker", "bertlogs-never-there", "--wait", "1", "--out", str(tmp_path / "raw")]
    )
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "container 'bertlogs-never-there' did not appear within 1 s" in result.output
    assert not (tmp_path / "raw").exists()


def test_stdout_and_stderr_lines_are_written_in_stamp_order(image: str, name: str, tmp_path: Path) -> None:
    burst = "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo out $i; echo err $i >&2; done"
    collector = start_collector(tmp_path, name)
    run_container(image, name, script=burst)
    _, stderr = collector.communicate(timeout=60)
    assert collector.returncode == 0, stderr
    lines = (tmp_path / "raw" / "run" / "train.log").read_text().splitlines()
    assert len(lines) == 600
    stamps = [stamp_ns(line) for line in lines]
    assert None not in stamps and stamps == sorted(stamps)  # type: ignore[type-var]
    assert [line.split(" ", 1)[1] for line in lines if " out " in line] == [f"out {i}" for i in range(1, 301)]


@pytest.mark.parametrize("option_like", ["-h", "--help", "--format={{.Id}}"])
def test_container_names_that_look_like_options_are_refused(option_like: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["collect", f"--docker={option_like}", "--wait", "1", "--out", str(tmp_path)])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert f"bertlogs: error: {option_like!r}: not a container name or id" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
