"""The standalone collectors/ scripts (shellcheck runs on them in .ci/run)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import ROOT

from bertlogs.parsers import Format, parse_file

COLLECTORS = ROOT / "collectors"
FAKE_BIN = ROOT / "tests" / "fake_bin"


def run(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def test_launcher_dry_run_prints_the_docker_command() -> None:
    result = run(
        str(COLLECTORS / "run_classifier_cola.sh"),
        "--bert-src",
        "/src/bert",
        "--model-dir",
        "/m/Tiny",
        "--glue-dir",
        "/glue",
        "--output-dir",
        "/out",
        "--batch-size",
        "32",
        "--name",
        "tiny-32",
        "--gpu",
        "1",
        "--allow-growth",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    command = result.stdout
    assert command.startswith("docker run --detach --name tiny-32 --gpus device=1 ")
    assert "NVIDIA_DRIVER_CAPABILITIES=compute\\,utility" in command
    assert "TF_FORCE_GPU_ALLOW_GROWTH=true" in command and "tensorflow/tensorflow:1.15.5-gpu-py3" in command
    assert "--train_batch_size=32" in command and "--task_name=CoLA" in command


def test_launcher_refuses_missing_options() -> None:
    result = run(str(COLLECTORS / "run_classifier_cola.sh"), "--batch-size", "8")
    assert result.returncode == 2 and "--bert-src is required" in result.stderr


def test_sweep_dry_run_pairs_a_collector_with_each_launch(tmp_path: Path) -> None:
    result = run(
        str(COLLECTORS / "sweep.sh"),
        "--bert-src",
        "/b",
        "--models-root",
        "/m",
        "--glue-dir",
        "/g",
        "--out",
        str(tmp_path / "sweep"),
        "--models",
        "Tiny Base",
        "--batch-sizes",
        "2 64",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    collects = [line for line in lines if line.startswith("bertlogs collect --docker")]
    launches = [line for line in lines if line.startswith("docker run")]
    assert len(collects) == len(launches) == 4
    assert "--label model=Base --label batch_size=64" in collects[-1]
    assert not (tmp_path / "sweep").exists()  # a dry run writes nothing


def test_poller_keeps_one_nvidia_smi_and_its_output_parses(tmp_path: Path) -> None:
    output = tmp_path / "gpu.csv"
    env = {**os.environ, "PATH": f"{FAKE_BIN}:{os.environ['PATH']}"}
    poller = subprocess.Popen([str(COLLECTORS / "poll_nvidia_smi.sh"), str(output), "50"], env=env)
    deadline = time.monotonic() + 30  # a fixed sleep flakes on a loaded machine: wait for the rows instead
    while time.monotonic() < deadline and (not output.exists() or output.read_text().count("\n") < 25):
        time.sleep(0.1)
    poller.send_signal(signal.SIGTERM)
    poller.wait(10)
    parsed = parse_file(output)
    assert parsed.format == Format.SMI_CSV
    assert parsed.frame["sample"].n_unique() >= 10 and set(parsed.frame["gpu"]) == {0, 1}
    again = run(str(COLLECTORS / "poll_nvidia_smi.sh"), str(output), env=env)
    assert again.returncode == 1 and "not overwriting" in again.stderr
