"""Input paths are literal and bounded: no glob expansion, no escape through links, no waiting on FIFOs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, digest

from bertlogs import discovery
from bertlogs.errors import ExitCode
from bertlogs.summary import summarize


def test_brackets_in_a_run_directory_are_characters_not_a_glob(tmp_path: Path) -> None:
    shutil.copytree(DEMO / "tiny-bs32", tmp_path / "run1")
    shutil.copytree(DEMO / "tiny-bs2", tmp_path / "run[1]")
    rows = {r["run"]: r for r in summarize([tmp_path]).frame.iter_rows(named=True)}
    assert rows["run[1]"]["batch_size"] == 2
    assert rows["run1"]["batch_size"] == 32


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point, bounded in time: a FIFO that is opened would block it forever."""
    return subprocess.run([sys.executable, "-m", "bertlogs", *args], capture_output=True, text=True, timeout=60)


def test_a_link_back_to_the_root_adds_no_runs(tmp_path: Path) -> None:
    shutil.copytree(DEMO / "tiny-bs32", tmp_path / "archive" / "run")
    (tmp_path / "archive" / "run" / "sub").mkdir()
    (tmp_path / "archive" / "run" / "sub" / "loop").symlink_to(tmp_path / "archive")
    (tmp_path / "archive" / "again").symlink_to(tmp_path / "archive")
    summary = summarize([tmp_path / "archive"])
    assert summary.frame["run"].to_list() == ["run"]


def test_links_out_of_the_inputs_fifos_and_notes_are_named_never_read(tmp_path: Path) -> None:
    run = tmp_path / "archive" / "tiny-bs32"
    shutil.copytree(DEMO / "tiny-bs32", run)
    secret = tmp_path / "secret.log"
    secret.write_text("INFO:tensorflow:  Num examples = 999\n")
    (run / "linked.log").symlink_to(secret)
    os.mkfifo(run / "pipe.log")
    (run / "NOTES.md").write_text("# what I changed\n")
    (tmp_path / "archive" / "README.md").write_text("# my sweep\n")
    before = digest(tmp_path / "archive")
    result = run_cli("analyze", str(tmp_path / "archive"), "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    row = pl.read_csv(tmp_path / "r" / "summary.csv").row(0, named=True)
    assert row["status"] == "ok" and row["num_examples"] == 8551
    assert f"{run}/linked.log: symbolic link to {secret}, outside the inputs" in row["warnings"]
    assert f"{run}/pipe.log: not a regular file but a FIFO or pipe" in row["warnings"]
    assert f"{run}/NOTES.md:1: none of the formats bertlogs reads (hf-trainer, " in row["warnings"]
    assert "README.md" in result.stderr and "not a run directory, not read" in result.stderr
    assert digest(tmp_path / "archive") == before


def test_a_pipe_given_as_input_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "capture.log"
    os.mkfifo(fifo)
    parsed = run_cli("parse", str(fifo))
    assert parsed.returncode == ExitCode.BAD_INPUT and "not a regular file" in parsed.stderr
    analysed = run_cli("analyze", str(fifo), str(DEMO / "tiny-bs2"))
    assert analysed.returncode == ExitCode.RUN_ERRORS and "Traceback" not in analysed.stderr
    assert "not a regular file but a FIFO or pipe" in analysed.stdout
    assert "tiny-bs2" in analysed.stdout


def test_runs_of_the_same_name_under_two_roots_stay_apart(tmp_path: Path) -> None:
    shutil.copytree(DEMO / "tiny-bs2", tmp_path / "old" / "tiny")
    shutil.copytree(DEMO / "tiny-bs64", tmp_path / "new" / "tiny")
    frame = summarize([tmp_path / "old", tmp_path / "new"]).frame
    assert sorted(zip(frame["run"], frame["batch_size"], strict=True)) == [("tiny", 2), ("tiny-2", 64)]


def test_a_run_with_an_output_folder_is_still_a_run(tmp_path: Path) -> None:
    run = tmp_path / "archive" / "tiny-bs32"
    shutil.copytree(DEMO / "tiny-bs32", run)
    (run / "output").mkdir()  # run_classifier.py's output_dir: checkpoints and eval_results.txt
    shutil.copy(DEMO / "tiny-bs32" / "eval_results.txt", run / "output" / "eval_results.txt")
    (run / "output" / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-668"\n')
    (tmp_path / "archive" / "sweep.tsv").write_text("model\tbatch_size\nTiny\t32\n")  # a folder of runs' own file
    rows = summarize([tmp_path / "archive"]).frame
    assert rows.select("run", "status").rows() == [("tiny-bs32", "ok")]


def test_deep_hidden_and_unreadable_directories_are_named_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    shutil.copytree(DEMO / "tiny-bs2", tmp_path / "archive" / "good")
    levels = [tmp_path / "archive" / "deep"]
    for _ in range(1100):  # deeper than Python's recursion limit (os.makedirs and rmtree recurse themselves)
        levels.append(levels[-1] / "d")
    for level in levels:
        level.mkdir(parents=level is levels[0])
    request.addfinalizer(lambda: [level.rmdir() for level in reversed(levels)])
    shutil.copytree(DEMO / "tiny-bs4", tmp_path / "archive" / ".hidden-run")
    shutil.copytree(DEMO / "tiny-bs8", tmp_path / "archive" / "locked")
    scandir = os.scandir

    def refusing(path: Path) -> object:  # what a directory without read permission does (root reads all)
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(discovery.os, "scandir", refusing)
    found = discovery.discover([tmp_path / "archive"])
    assert [r.name for r in found.runs] == ["good"]
    notes = "\n".join(found.notes)
    assert "levels below an input: not searched deeper" in notes
    assert "directories named .* not searched: .hidden-run" in notes
    assert f"{tmp_path}/archive/locked: cannot read the directory (Permission denied): not searched" in notes


def test_a_file_inside_a_directory_given_too_is_one_run_not_two(tmp_path: Path) -> None:
    shutil.copytree(DEMO / "tiny-bs2", tmp_path / "tiny-bs2")
    found = discovery.discover([tmp_path / "tiny-bs2" / "run_classifier.log", tmp_path / "tiny-bs2"])
    assert [r.name for r in found.runs] == ["tiny-bs2"]
    assert "inside another input directory" in found.notes[0]


def test_a_trainer_output_directory_with_checkpoint_folders_is_one_run(tmp_path: Path) -> None:
    """run_glue.py's --output_dir: the state and a dozen tokenizer files beside checkpoint-N/ folders."""
    from bertlogs.discovery import discover

    hf = Path(__file__).resolve().parent.parent / "fixtures" / "hf-trainer" / "pipe"
    out = tmp_path / "tiny-bs8"
    out.mkdir()
    for name in ("trainer_state.json", "config.json"):
        shutil.copy(hf / name, out / name)
    for i in range(12):  # tokenizer and results files: none makes a run, all sort before trainer_state.json
        (out / f"a{i:02d}_tokenizer.json").write_text('{"model_max_length": 512}\n')
    for step in (20, 40):
        (out / f"checkpoint-{step}").mkdir()
        shutil.copy(hf / "trainer_state.json", out / f"checkpoint-{step}" / "trainer_state.json")
    found = discover([tmp_path])
    assert [r.path for r in found.runs] == [out]
