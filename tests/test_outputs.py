"""`analyze --out` touches only what bertlogs wrote, and a new report replaces the previous one whole."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, digest
from typer.testing import CliRunner

from bertlogs.cli import app
from bertlogs.errors import ExitCode
from bertlogs.report import write

runner = CliRunner()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    for name in ("tiny-bs2", "tiny-bs4", "tiny-bs8"):
        shutil.copytree(DEMO / name, root / name)
    return root


def analyze(*args: str) -> int:
    return runner.invoke(app, ["analyze", *args]).exit_code


def test_a_users_own_folder_is_refused_and_with_the_flag_left_untouched(archive: Path, tmp_path: Path) -> None:
    paper = tmp_path / "paper"
    (paper / "data").mkdir(parents=True)
    (paper / "data" / "measurements.csv").write_text("mine\n")
    (paper / "draft.tex").write_text("\\section{Results}\n")
    before = digest(paper)
    result = runner.invoke(app, ["analyze", str(archive), "--out", str(paper)])
    assert result.exit_code == ExitCode.USAGE and "--allow-existing" in result.output
    assert digest(paper) == before
    assert analyze(str(archive), "--out", str(paper), "--allow-existing") == 0
    after = digest(paper)
    assert {k: after[k] for k in before} == before  # every file of the user's is still there, unchanged
    assert "summary.csv" in after and "data/samples/part-000000.parquet" in after


def test_a_foreign_file_in_the_way_is_never_overwritten(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("<h1>my homepage</h1>\n")
    before = digest(out)
    result = runner.invoke(app, ["analyze", str(archive), "--out", str(out), "--allow-existing"])
    assert result.exit_code == ExitCode.USAGE and "index.html" in result.output
    assert digest(out) == before


def test_a_rerun_replaces_exactly_its_own_files(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert analyze(str(archive), "--out", str(out)) == 0
    (out / "my-notes.txt").write_text("keep me\n")  # added by the user beside the report
    shutil.rmtree(archive / "tiny-bs8")
    assert analyze(str(archive), "--out", str(out)) == 0
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["tiny-bs2.svg", "tiny-bs4.svg"]
    assert sorted(pl.read_parquet(out / "data" / "samples" / "*.parquet")["run"].unique()) == ["tiny-bs2", "tiny-bs4"]
    assert pl.read_csv(out / "summary.csv").height == 2
    assert (out / "my-notes.txt").read_text() == "keep me\n"
    assert not list(out.glob(".bertlogs-staging-*"))


@pytest.mark.parametrize(
    ("failure", "code"), [(OSError(28, "No space left on device"), ExitCode.WRITE_FAILED), (RuntimeError("bug"), 70)]
)
def test_a_crash_while_writing_leaves_the_previous_report_intact(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception, code: int
) -> None:
    out = tmp_path / "report"
    assert analyze(str(archive), "--out", str(out)) == 0
    before = digest(out)
    shutil.rmtree(archive / "tiny-bs8")

    def crash(*_: object) -> None:
        raise failure

    monkeypatch.setattr(write, "write_html", crash)  # the last file written: everything else is staged
    result = runner.invoke(app, ["analyze", str(archive), "--out", str(out)])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert digest(out) == before
    assert not list(out.glob(".bertlogs-staging-*"))


def test_out_may_not_overlap_an_input(archive: Path, tmp_path: Path) -> None:
    log = archive / "tiny-bs2" / "run_classifier.log"
    before = digest(archive)
    for args in (
        [str(archive), "--out", str(archive / "tiny-bs2" / "report")],  # inside an input
        [str(archive / "tiny-bs2"), "--out", str(archive)],  # containing an input
        [str(archive), "--out", str(archive)],  # the input itself
        [str(log), "--out", str(archive / "tiny-bs2")],  # a file input's folder
        [str(log), "--out", str(archive / "tiny-bs2" / "r")],
    ):
        assert analyze(*args, "--allow-existing") == ExitCode.USAGE, args  # refused for overlap alone
    assert digest(archive) == before


def test_a_bad_out_is_one_line_and_exit_2(archive: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x\n")
    for out in (a_file, a_file / "below"):
        result = runner.invoke(app, ["analyze", str(archive), "--out", str(out)])
        assert result.exit_code == ExitCode.USAGE, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert a_file.read_text() == "x\n"


def test_runs_whose_names_differ_only_in_punctuation_keep_their_own_files(tmp_path: Path) -> None:
    shutil.copytree(DEMO / "tiny-bs2", tmp_path / "in" / "a b")
    shutil.copytree(DEMO / "tiny-bs64", tmp_path / "in" / "a_b")
    assert analyze(str(tmp_path / "in"), "--out", str(tmp_path / "r")) == 0
    samples = pl.read_parquet(tmp_path / "r" / "data" / "samples" / "*.parquet")
    counts = dict(samples.group_by("run").len().iter_rows())
    expected = {
        n: (DEMO / d / "nvidia-smi.log").read_text().count("MiB /")
        for n, d in [("a b", "tiny-bs2"), ("a_b", "tiny-bs64")]
    }
    assert counts == expected
    assert len(list((tmp_path / "r" / "plots").iterdir())) == 2
    page = (tmp_path / "r" / "index.html").read_text()
    assert 'href="plots/a%2520b.svg"' in page  # the file is plots/a%20b.svg


def test_a_link_inside_the_report_is_never_written_or_deleted_through(archive: Path, tmp_path: Path) -> None:
    out, mine = tmp_path / "report", tmp_path / "mine"
    assert analyze(str(archive), "--out", str(out)) == 0
    shutil.rmtree(out / "plots")
    mine.mkdir()
    for name in ("tiny-bs2.svg", "tiny-bs8.svg"):
        (mine / name).write_text("my figure\n")
    (out / "plots").symlink_to(mine)
    before = digest(mine), digest(out)
    shutil.rmtree(archive / "tiny-bs8")
    result = runner.invoke(app, ["analyze", str(archive), "--out", str(out)])
    assert result.exit_code == ExitCode.USAGE and "in the way: plots/" in result.output
    assert (digest(mine), digest(out)) == before


@pytest.mark.parametrize(
    "files", [["thesis.tex"], ["link/x"], ["../x"], "data", ["summary.csv\x00"], [1], ["plots/../../x.svg"]]
)
def test_a_manifest_naming_what_bertlogs_never_writes_is_refused(archive: Path, tmp_path: Path, files: object) -> None:
    out, other = tmp_path / "report", tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("keep\n")
    out.mkdir()
    (out / "thesis.tex").write_text("keep\n")
    (out / "link").symlink_to(other)
    (out / ".bertlogs-manifest.json").write_text(json.dumps({"files": files}))
    before = digest(out), digest(other)
    result = runner.invoke(app, ["analyze", str(archive), "--out", str(out)])
    assert result.exit_code == ExitCode.USAGE and "manifest" in result.output
    assert (digest(out), digest(other)) == before


def test_no_file_of_the_users_is_written_through_a_planted_link(archive: Path, tmp_path: Path) -> None:
    out, victim = tmp_path / "report", tmp_path / "victim.txt"
    victim.write_text("precious\n")
    assert analyze(str(archive), "--out", str(out)) == 0
    (out / ".bertlogs-manifest.json.tmp").symlink_to(victim)
    assert analyze(str(archive), "--out", str(out)) == 0
    assert victim.read_text() == "precious\n"


def test_a_directory_of_the_users_at_a_reports_name_stops_the_commit_before_any_move(
    archive: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    assert analyze(str(archive / "tiny-bs2"), "--out", str(out)) == 0
    (out / "plots" / "tiny-bs4.svg").mkdir()
    before = digest(out)
    result = runner.invoke(app, ["analyze", str(archive), "--out", str(out)])
    assert result.exit_code == ExitCode.USAGE and "plots/tiny-bs4.svg" in result.output
    assert digest(out) == before and (out / "plots" / "tiny-bs4.svg").is_dir()


def test_two_analyses_never_write_one_report_at_once(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert analyze(str(archive), "--out", str(out)) == 0
    before = digest(out)
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running analyze holds it
        result = runner.invoke(app, ["analyze", str(archive / "tiny-bs2"), "--out", str(out)])
    finally:
        os.close(fd)
    assert result.exit_code == ExitCode.USAGE and "another bertlogs analyze" in result.output
    assert digest(out) == before


def test_a_long_run_name_keeps_its_figures_with_out(tmp_path: Path) -> None:
    name = "ü" * 100  # 600 bytes percent-encoded, over any file system's 255
    shutil.copytree(DEMO / "tiny-bs2", tmp_path / "in" / name)
    assert analyze(str(tmp_path / "in"), "--out", str(tmp_path / "r")) == 0
    samples = pl.read_parquet(tmp_path / "r" / "data" / "samples" / "*.parquet")
    assert samples["run"].unique().to_list() == [name]
    assert pl.read_csv(tmp_path / "r" / "summary.csv")["status"].to_list() == ["ok"]


def test_a_missing_input_is_not_found_even_with_out(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path / "nosuch"), "--out", str(tmp_path / "r")])
    assert result.exit_code == ExitCode.NOT_FOUND and "no such file or directory" in result.output


def test_a_dataset_file_that_cannot_be_written_whole_is_not_left_in_the_report(tmp_path: Path) -> None:
    import resource
    import signal
    import subprocess
    import sys

    def limit_file_size() -> None:  # the summaries and facts fit in 16 KiB, the samples (98 KB) do not
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    out = tmp_path / "report"
    argv = [sys.executable, "-m", "bertlogs", "analyze", str(DEMO / "base-bs2"), "--out", str(out), "--no-plots"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size)
    assert done.returncode == ExitCode.RUN_ERRORS, done.stderr
    assert "writing its data" in (out / "summary.csv").read_text()
    for part in out.rglob("*.parquet"):
        pl.read_parquet(part)  # every file that reached the report is whole
    assert not list((out / "data").rglob("*.parquet"))
