"""The command line, through typer's CliRunner: exit codes, messages, and inputs left untouched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, REAL, digest
from typer.testing import CliRunner

from bertlogs.cli import app
from bertlogs.errors import ExitCode

runner = CliRunner()


def test_a_bug_is_one_line_with_its_own_exit_code_and_a_traceback_under_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bertlogs.summary

    def bug(*_: object, **__: object) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(bertlogs.summary, "summarize", bug)
    result = runner.invoke(app, ["analyze", str(DEMO)])
    assert result.exit_code == ExitCode.INTERNAL and ExitCode.INTERNAL not in (ExitCode.RUN_ERRORS, ExitCode.USAGE)
    assert result.output.strip().splitlines() == [
        "bertlogs: internal error (a bug, please report it with the output of --debug): "
        "ZeroDivisionError: float division by zero"
    ]
    debug = runner.invoke(app, ["--debug", "analyze", str(DEMO)])
    assert isinstance(debug.exception, ZeroDivisionError)  # re-raised: typer prints the traceback


def test_parse_and_analyze_agree_on_a_missing_path(tmp_path: Path) -> None:
    for command in ("parse", "analyze"):
        result = runner.invoke(app, [command, str(tmp_path / "nope.log")])
        assert result.exit_code == ExitCode.NOT_FOUND, command
        assert "no such file or directory" in result.output


def test_names_reach_markdown_as_text_and_the_terminal_without_escapes(tmp_path: Path) -> None:
    name = "run <b>bold *x* [l](u) \x1b]0;pwned\x07\x1b[31m"  # no "/": it is a directory name
    shutil.copytree(DEMO / "tiny-bs64", tmp_path / "in" / name)
    result = runner.invoke(app, ["analyze", str(tmp_path / "in"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "run <b>bold *x* [l](u) ]0;pwned[31m" in result.output
    md = (tmp_path / "r" / "summary.md").read_text()
    assert "<b>" not in md and "*x*" not in md and "](u)" not in md and "\x1b" not in md
    assert "| run \\<b\\>bold \\*x\\* \\[l\\]\\(u\\) \\]0;pwned\\[31m | Tiny |" in md


def test_analyze_demo_writes_reports_and_leaves_inputs_identical(tmp_path: Path) -> None:
    before = digest(DEMO)
    result = runner.invoke(app, ["analyze", str(DEMO), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert digest(DEMO) == before
    table = result.stdout.splitlines()
    assert table[0].split()[:4] == ["Run", "Model", "Batch", "Eval"] and table[2].split()[:4] == [
        "tiny-bs2",
        "Tiny",
        "2",
        "69.13",
    ]
    assert len({len(line) for line in table[:31]}) == 1  # header, rule and 29 rows, aligned
    out = tmp_path / "report"
    assert pl.read_csv(out / "summary.csv").height == 29
    document = json.loads((out / "summary.json").read_text())
    assert set(document["columns"]) == set(document["runs"][0])
    assert "| tiny-bs2 | Tiny | 2 | 69.13 |" in (out / "summary.md").read_text()
    page = (out / "index.html").read_text()
    assert page.count("<polyline") >= 29 and "plots/base-bs32.svg" in page
    plots = sorted((out / "plots").glob("*.svg"))
    assert len(plots) == 29 and plots[0].read_text().count("<path") == 3  # power, memory, utilisation
    samples = pl.read_parquet(out / "data" / "samples" / "*.parquet")
    assert samples["run"].n_unique() == 29 and samples.height == sum(
        p.read_text().count("MiB /") for p in DEMO.glob("*/nvidia-smi.log")
    )
    facts = pl.read_parquet(out / "data" / "facts" / "*.parquet")
    assert facts.filter(pl.col("key") == "eval_accuracy")["run"].n_unique() == 29


@pytest.fixture
def mixed_archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    shutil.copytree(DEMO / "tiny-bs64", root / "good")
    garbage = root / "garbage"
    garbage.mkdir()
    (garbage / "run.log").write_bytes(bytes(range(256)) * 8)
    no_rates = root / "no-rates"
    no_rates.mkdir()
    shutil.copy(REAL / "tf1-estimator" / "glue_notes_mrpc_eval_snippet.txt", no_rates / "train.log")
    truncated = root / "truncated"
    shutil.copytree(DEMO / "tiny-bs32", truncated)
    capture = truncated / "nvidia-smi.log"
    capture.write_text(capture.read_text() + "| 40%   50C    P2   1")
    return root


def test_bad_runs_are_reported_and_good_runs_still_analysed(mixed_archive: Path, tmp_path: Path) -> None:
    before = digest(mixed_archive)
    result = runner.invoke(app, ["analyze", str(mixed_archive), "--out", str(tmp_path / "r"), "--no-plots"])
    assert result.exit_code == ExitCode.RUN_ERRORS, result.output
    summary = pl.read_csv(tmp_path / "r" / "summary.csv").sort("run")
    status = dict(zip(summary["run"], summary["status"], strict=True))
    assert status == {"garbage": "error", "good": "ok", "no-rates": "error", "truncated": "ok"}
    warnings = dict(zip(summary["run"], summary["warnings"], strict=True))
    assert f"{mixed_archive}/garbage/run.log: binary file" in warnings["garbage"]
    assert "no examples/sec or global_step/sec readings" in warnings["no-rates"]
    assert "nvidia-smi.log:" in warnings["truncated"] and "truncated last line ignored" in warnings["truncated"]
    assert digest(mixed_archive) == before


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path / "nope")])
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "no such file or directory" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["analyze", str(empty)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "no runs found" in result.output


def test_console_script_flushes_everything_before_it_leaves(tmp_path: Path) -> None:
    """`main` ends with os._exit: the table, the messages and the exit code must still come out."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # block-buffered pipes, as usual

    def bertlogs(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bertlogs", *argv], capture_output=True, text=True, env=env)

    ok = bertlogs("analyze", str(DEMO / "base-bs2"), "--out", str(tmp_path / "r"))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[2].split()[:3] == ["base-bs2", "Base", "2"]
    assert ok.stderr.rstrip().endswith("data/, plots/")
    assert (tmp_path / "r" / "summary.csv").read_text().count("\n") == 2
    parsed = bertlogs("parse", str(DEMO / "base-bs2" / "eval_results.txt"))  # less than a pipe's buffer
    assert parsed.returncode == 0 and parsed.stdout.startswith("line,") and parsed.stdout.count("\n") == 5
    missing = bertlogs("analyze", str(tmp_path / "nowhere"))
    assert missing.returncode == ExitCode.NOT_FOUND and "no such file or directory" in missing.stderr


def test_out_inside_an_input_is_refused(tmp_path: Path) -> None:
    shutil.copytree(DEMO / "tiny-bs64", tmp_path / "run")
    result = runner.invoke(app, ["analyze", str(tmp_path), "--out", str(tmp_path / "run" / "report")])
    assert result.exit_code == ExitCode.USAGE
    assert not (tmp_path / "run" / "report").exists()


def test_parse_prints_facts_as_csv_and_json() -> None:
    log = DEMO / "tiny-bs64" / "run_classifier.log"
    result = runner.invoke(app, ["parse", str(log)])
    assert result.exit_code == 0
    assert result.stdout.startswith("line,time,clock,worker,kind,key,value,step\n")
    assert ",config,num_steps,668.0," in result.stdout
    rows = json.loads(runner.invoke(app, ["parse", str(log), "--to", "json"]).stdout)
    assert sum(r["key"] == "examples/sec" for r in rows) == 6


def test_parse_of_a_bad_file_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n")
    result = runner.invoke(app, ["parse", str(path)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert f"{path}:1: none of the formats bertlogs reads (hf-trainer, " in result.output


def test_bad_options_are_usage_errors() -> None:
    for args in (
        ["analyze", str(DEMO), "--utc-offset", "noon"],
        ["analyze", str(DEMO), "--period", "-1"],
        ["parse", str(DEMO / "tiny-bs64" / "eval_results.txt"), "--to", "xml"],
        ["parse", str(DEMO / "tiny-bs64" / "eval_results.txt"), "--format", "xml"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == ExitCode.USAGE, args


def test_every_command_has_help() -> None:
    for command in app.registered_commands:
        assert command.callback.__doc__, command.name
        assert "Example" in command.callback.__doc__


def test_readme_documents_every_summary_column_as_declared() -> None:
    from bertlogs.columns import reference_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Summary columns", 1)[1].split("\n## ", 1)[0]
    assert reference_table() in section, (
        f"README's table differs from bertlogs.columns; it should read:\n{reference_table()}"
    )


def test_html_escapes_what_comes_from_the_inputs(tmp_path: Path) -> None:
    hostile = "run<img src=x onerror=alert(1)>"
    shutil.copytree(DEMO / "tiny-bs64", tmp_path / "in" / hostile)
    result = runner.invoke(app, ["analyze", str(tmp_path / "in"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "index.html").read_text()
    assert "<img" not in page and "run&lt;img src=x onerror=alert(1)&gt;" in page
    plot = next((tmp_path / "r" / "plots").glob("*.svg")).read_text()
    assert "<img" not in plot


def test_analyze_format_forces_the_files_of_its_kind(tmp_path: Path) -> None:
    run = tmp_path / "tiny-bs64"
    shutil.copytree(DEMO / "tiny-bs64", run)
    as_shown = runner.invoke(app, ["analyze", str(tmp_path), "--jobs", "1"])
    assert as_shown.exit_code == ExitCode.OK, as_shown.output
    # the table capture read as a CSV capture: that file is unreadable, the log (another kind) is read as ever
    forced = runner.invoke(app, ["analyze", str(tmp_path), "--format", "smi-csv", "--jobs", "1"])
    assert forced.exit_code == ExitCode.RUN_ERRORS
    assert f"{run / 'nvidia-smi.log'}" in forced.output and "no GPU capture" in forced.output
    unknown = runner.invoke(app, ["analyze", str(tmp_path), "--format", "mllog"])
    assert unknown.exit_code == ExitCode.USAGE and "tf1-log" in unknown.output
    record = runner.invoke(app, ["analyze", str(tmp_path), "--format", "model-config"])  # a run has several
    assert record.exit_code == ExitCode.USAGE and "run record" in record.output


@pytest.mark.parametrize(
    "command", [["analyze", str(DEMO / "tiny-bs32")], ["parse", str(DEMO / "tiny-bs32" / "nvidia-smi.log")]]
)
def test_analysis_starts_numpy_with_one_blas_thread_and_keeps_a_users_own(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Set for this process and the workers it spawns (they inherit it); a training command that `collect` runs
    does not (tests/test_collect.py)."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "")  # (so that the end of the test restores the user's value)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    assert runner.invoke(app, command).exit_code == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert runner.invoke(app, command).exit_code == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
