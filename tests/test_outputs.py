"""`analyze --out` touches only what bertlogs wrote, and a new report replaces the previous one whole."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO
from typer.testing import CliRunner

from bertlogs.cli import app
from bertlogs.errors import ExitCode
from bertlogs.report import write

runner = CliRunner()


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


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
    assert "summary.csv" in after and "data/samples/run=tiny-bs2/part-0.parquet" in after


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
    assert sorted(p.name for p in (out / "data" / "samples").iterdir()) == ["run=tiny-bs2", "run=tiny-bs4"]
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
    samples = pl.read_parquet(tmp_path / "r" / "data" / "samples" / "*" / "*.parquet", hive_partitioning=True)
    counts = dict(samples.group_by("run").len().iter_rows())
    expected = {
        n: (DEMO / d / "nvidia-smi.log").read_text().count("MiB /")
        for n, d in [("a b", "tiny-bs2"), ("a_b", "tiny-bs64")]
    }
    assert counts == expected
    assert len(list((tmp_path / "r" / "plots").iterdir())) == 2
    page = (tmp_path / "r" / "index.html").read_text()
    assert 'href="plots/a%2520b.svg"' in page  # the file is plots/a%20b.svg
