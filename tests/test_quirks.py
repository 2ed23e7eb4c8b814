"""Pasted-log quirks (issue 11, item 4) and files recognised as what they are (item 5).

Each quirk is applied to real files of every format (fixtures/real, the demo archive): the wrapped file must
read as the file itself, so the tests hold for the kind of quirk, not for one example.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, FIXTURES, REAL
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from bertlogs import facts as vocab
from bertlogs.cli import app
from bertlogs.errors import ExitCode, NotDataError
from bertlogs.parsers import Parsed, parse_text
from bertlogs.parsers.registry import REGISTRY
from bertlogs.parsers.text import Source


def text_of(path: Path) -> str:
    return path.read_bytes().decode()  # as it is: `read_text` would turn tqdm's `\r` redraws into lines


TF1 = [*sorted((REAL / "tf1-estimator").glob("*_snippet.txt")), DEMO / "base-bs2" / "run_classifier.log"]
TF1 = [p for p in TF1 if "eval_results" not in p.name]
TABLES = [*sorted((REAL / "nvidia-smi-table").glob("*[!v]")), DEMO / "base-bs2" / "nvidia-smi.log"]
TABLES = [p for p in TABLES if not p.name.endswith(".csv")]
CSVS = sorted(p for p in (REAL / "nvidia-smi-csv").glob("*.csv") if not p.name.endswith(".expected.csv"))
HF = [REAL / "hf-trainer" / "hf_scratch_llm_stdout_padded_dicts_with_step_excerpt.log"]
HF += [FIXTURES / "hf-trainer" / "pipe" / "stdout.log"]
EVAL_RESULTS = [
    DEMO / "base-bs2" / "eval_results.txt",
    REAL / "tf1-estimator" / "mobilebert_zh_eval_results_txt_snippet.txt",
]
ALL = TF1 + TABLES + CSVS + HF + EVAL_RESULTS
TIMELESS = ["time", "clock"]  # a prefix's stamp gives lines a time they did not have (and phases their value)


def parsed(path: Path, wrap: Callable[[str], str] = lambda line: line, **kwargs: float) -> Parsed:
    """The file parsed with `wrap` applied to every line (its line ends kept apart)."""
    lines = text_of(path).split("\n")
    return parse_text("\n".join(wrap(line) for line in lines), **kwargs)  # type: ignore[arg-type]


def same(wrapped: Parsed, clean: Parsed, ignore: list[str] | None = None) -> None:
    assert wrapped.format == clean.format
    frames = [wrapped.frame, clean.frame]
    if ignore:
        frames = [f.drop(c for c in ignore if c in f.columns) for f in frames]
        if "kind" in clean.frame.columns:  # phase markers are where lines have a time, their value is it
            frames = [f.filter(pl.col("kind") != vocab.PHASE) for f in frames]
    assert_frame_equal(*frames, check_exact=True)
    assert not clean.frame.is_empty()


def name(p: Path) -> str:
    return f"{p.parent.name}/{p.name}"[-60:]


# ---- every line behind a counter or a bracketed tag ----


@pytest.mark.parametrize("path", ALL, ids=name)
@pytest.mark.parametrize(
    "prefix", ["[12] ", "[stdout] ", "0: ", "[job 7] [stdout] ", "web_1  | ", "2.train | [7] ", "[1,0]<stdout>:", "> "]
)
def test_a_counter_or_tag_before_every_line_is_peeled(path: Path, prefix: str) -> None:
    same(parsed(path, lambda line: prefix + line), parsed(path))


@pytest.mark.parametrize("path", ALL, ids=name)
def test_a_bracketed_stamp_before_every_line_is_peeled_and_gives_lines_their_time(path: Path) -> None:
    clean = parsed(path)
    wrapped = parsed(path, lambda line: "[2020-03-05 07:32:05:49] " + line, utc_offset_s=3600)
    same(wrapped, clean, TIMELESS)


def test_a_bracketed_stamp_is_the_time_of_lines_that_have_none() -> None:
    path = REAL / "tf1-estimator" / "zh_notes_run_squad_base_train_tail_snippet.txt"
    frame = parsed(path, lambda line: "[2020-03-05 07:32:05:49] " + line, utc_offset_s=3600).frame
    assert parsed(path).frame["time"].is_null().all()
    local = datetime(2020, 3, 5, 7, 32, 5, 490000, tzinfo=timezone(timedelta(hours=1)))  # `:49`: hundredths
    assert frame["time"].unique().to_list() == [local.timestamp()]
    assert frame["clock"].unique().to_list() == ["local"]


def test_a_bracketed_stamp_wins_over_the_lines_own_stamp_as_dockers_does() -> None:
    """A wrapper's stamp is whole (a year, maybe a zone); absl's `I0305 07:32:06.1` has no year."""
    text = "[2020-03-05 07:32:05:49] I0305 07:32:06.123456 140 basic_session_run_hooks.py:692] global_step/sec: 3.2\n"
    frame = parse_text(text, utc_offset_s=3600).frame
    local = datetime(2020, 3, 5, 7, 32, 5, 490000, tzinfo=timezone(timedelta(hours=1)))
    assert frame["time"].unique().to_list() == [local.timestamp()] and frame["clock"].unique().to_list() == ["local"]


def test_a_bracketed_stamp_with_its_zone_is_utc() -> None:
    text = "[2024-05-01T10:00:00+08:00] INFO:tensorflow:global_step/sec: 3.2\n"
    frame = parse_text(text, utc_offset_s=3600).frame
    assert frame["time"].unique().to_list() == [1714528800.0]
    assert frame["clock"].unique().to_list() == ["utc"]


def test_stamped_grep_rows_of_two_gpus_are_one_sample_per_stamp() -> None:
    path = REAL / "nvidia-smi-table" / "daisuketakai_h100x2_570.133.20.log"  # two GPUs
    rows = [line for line in path.read_text().split("\n") if "MiB /" in line]
    text = "".join(f"[2024-05-01 10:00:0{i}] {row}\n" for i in range(3) for row in rows)
    frame = parse_text(text).frame
    assert frame.select("sample", "gpu").rows() == [(s, g) for s in range(3) for g in range(2)]
    assert frame["time"].unique().sort().to_list() == [1714557600.0 + i for i in range(3)]


@pytest.mark.parametrize("path", TF1 + HF, ids=name)
@pytest.mark.parametrize(
    "prefix",
    [
        "2024-05-01 10:00:00,123 - root - INFO - ",  # logging's `%(asctime)s - %(name)s - %(levelname)s - `
        "2024-05-01 10:00:00,123 INFO ",
        "2024-05-01 10:00:00.123 | INFO     | __main__:main:12 - ",  # loguru's default
        "2024-05-01 10:00:00,123 INFO: ",
        "2024-05-01T10:00:00.123456789Z stdout F ",  # Kubernetes' CRI log line
    ],
)
def test_a_python_logger_prefix_is_peeled(path: Path, prefix: str) -> None:
    same(parsed(path, lambda line: prefix + line), parsed(path), TIMELESS)


def test_a_logger_level_glued_to_a_tf_header_is_no_prefix() -> None:
    text = "2019-11-25T16:29:32.123Z INFO:tensorflow:global_step/sec: 3.2\n"  # a Docker stamp, then a TF header
    frame = parse_text(text).frame
    assert frame["clock"].unique().to_list() == ["utc"] and not frame.is_empty()


# ---- trailing blanks, HTML, docstrings ----


@pytest.mark.parametrize("path", ALL, ids=name)
@pytest.mark.parametrize("blanks", [" ", " \t", "\t  "])
def test_trailing_blanks_after_every_value_are_ignored(path: Path, blanks: str) -> None:
    same(parsed(path, lambda line: line + blanks if line.strip() else line), parsed(path))


@pytest.mark.parametrize(
    "text",
    ["INFO:tensorflow:examples/sec: 123.4 \n", "INFO:tensorflow:examples/sec: 123.4\t\n"],
)
def test_a_rate_followed_by_a_blank_is_read(text: str) -> None:
    frame = parse_text("INFO:tensorflow:global_step/sec: 3.2\n" + text).frame
    assert 123.4 in frame.filter(pl.col("key") == vocab.EXAMPLES_PER_S)["value"].to_list()


@pytest.mark.parametrize("path", ALL, ids=name)
@pytest.mark.parametrize(
    "wrap",
    [lambda line: line + "<br />", lambda line: f"<p>{line}</p>", lambda line: f"<tr><td><strong>{line}</strong></td>"],
    ids=["br", "p", "td"],
)
def test_html_tags_around_lines_are_peeled(path: Path, wrap: Callable[[str], str]) -> None:
    same(parsed(path, wrap), parsed(path))


@pytest.mark.parametrize("path", [p for p in ALL if html.escape(text_of(p)) != text_of(p)], ids=name)
def test_html_escaped_text_is_unescaped(path: Path) -> None:
    """A blog's `<pre>` block: `'` as `&#x27;`, `>` as `&gt;`, `&` as `&amp;`, each line ending in `<br />`."""
    text = text_of(path)
    escaped = "<pre>" + "<br />\n".join(html.escape(line) for line in text.split("\n")) + "</pre>"
    same(parse_text(escaped), parse_text(text))


@pytest.mark.parametrize("path", ALL, ids=name)
def test_a_notebooks_output_reads_as_the_log(path: Path) -> None:
    """A log printed in a Jupyter cell, kept in the `.ipynb` JSON: each line a JSON string ending in `\\n`."""
    lines = text_of(path).splitlines(keepends=True)
    output = {"name": "stdout", "output_type": "stream", "text": lines}
    cells = {"cells": [{"cell_type": "code", "outputs": [output]}], "nbformat": 4}
    notebook = json.dumps(cells, indent=1, ensure_ascii=False)  # as Jupyter writes it
    clean, wrapped = parse_text(text_of(path)), parse_text(notebook)
    assert wrapped.format == clean.format
    if "line" in clean.frame.columns:  # Jupyter splits its strings at `\r` too: facts on other lines, same facts
        frames = [f.drop("line").sort(pl.all(), nulls_last=True) for f in (wrapped.frame, clean.frame)]
    else:
        frames = [wrapped.frame, clean.frame]
    assert_frame_equal(*frames, check_exact=True)
    assert not clean.frame.is_empty()


EVAL_BLOCK = REAL / "tf1-estimator" / "glue_notes_mrpc_eval_snippet.txt"


def evaluations(text: str) -> pl.DataFrame:
    return parse_text(text).frame.filter(pl.col("kind") == vocab.EVAL).select("key", "value", "step")


@pytest.mark.parametrize(
    "quoted",
    [
        lambda block: f'"""\n{block}"""\n',  # `"""` lines around it
        lambda block: f'"""{block.rstrip()}"""\n',  # glued to its first and last lines
        lambda block: "    '''\n" + "".join(f"    {line}\n" for line in block.splitlines()) + "    '''\n",  # indented
    ],
    ids=["lines", "glued", "indented"],
)
def test_an_evaluation_printed_and_quoted_in_a_docstring_counts_once(quoted: Callable[[str], str]) -> None:
    block = EVAL_BLOCK.read_text()
    once = evaluations(block)
    assert evaluations(quoted(block)).equals(once)
    assert evaluations(block + quoted(block)).equals(once)


def test_two_different_evaluations_are_both_kept() -> None:
    block = EVAL_BLOCK.read_text()
    other = re.sub(r"eval_accuracy = [0-9.]+", "eval_accuracy = 0.5", block)
    assert evaluations(block + other).height == 2 * evaluations(block).height


def test_a_trainer_eval_dict_printed_and_quoted_counts_once() -> None:
    text = text_of(HF[1])
    dict_line = next(line for line in text.split("\n") if "{'eval_loss'" in line)
    once = parse_text(text).frame
    twice = parse_text(text + f'"""\n{dict_line}\n"""\n').frame
    assert_frame_equal(twice.drop("line"), once.drop("line"), check_exact=True)


def test_the_trainers_eval_metrics_block_printed_and_quoted_counts_once() -> None:
    text = text_of(FIXTURES / "hf-trainer" / "eval-after" / "stdout.log")
    block = text[text.index("***** eval metrics *****") :].split("\n\n")[0]
    once = parse_text(text).frame
    twice = parse_text(text + f'\n"""\n{block}\n"""\n').frame
    assert once.filter(pl.col("kind") == vocab.EVAL).height >= 5
    assert_frame_equal(twice, once, check_exact=True)


# ---- a `date` line glued onto a truncated table border ----

POLLED = REAL / "nvidia-smi-table" / "guanqun-yang_slurmmwe_l40s_550.54.15_poll_first8.log"


def glued_dates(text: str, keep: int) -> str:
    """Each date line after the first glued onto the border above it, cut after `keep` characters."""
    return re.sub(r"\n(\+-+\+)[ \t]*\n((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )", lambda m: f"\n{m[1][:keep]}{m[2]}", text)


@pytest.mark.parametrize("keep", [1, 30, 89])
def test_a_date_glued_onto_a_truncated_table_border_stamps_the_next_table(keep: int) -> None:
    text = POLLED.read_text()
    glued = glued_dates(text, keep)
    assert glued.count("+Tue Oct") + glued.count("-Tue Oct") == 7
    clean = parse_text(text, utc_offset_s=-3600).frame
    assert clean["time"].is_not_null().all()
    assert_frame_equal(parse_text(glued, utc_offset_s=-3600).frame, clean, check_exact=True)


def test_a_utc_date_glued_onto_a_border_is_utc() -> None:
    table = POLLED.read_text().split("\n")[1:20]  # the first table, without its date line
    text = "\n".join(table[:-1]) + "\n+------Tue Nov 26 10:00:01 UTC 2019\n" + "\n".join(table) + "\n"
    frame = parse_text(text, utc_offset_s=3600).frame
    assert frame["time"].to_list() == [None, 1574762401.0]


# ---- ISO-8601 stamps in CSV captures ----

V100 = REAL / "nvidia-smi-csv" / "andyzzz_miris_v100s_gpu_log.csv"
STAMP = r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9:.]+)"


@pytest.mark.parametrize(
    ("form", "offset_s"),
    [
        (r"\1-\2-\3T\4+08:00", 8 * 3600),
        (r"\1-\2-\3T\4Z", 0),
        (r"\1-\2-\3T\4-0530", -5.5 * 3600),
        (r"\1/\2/\3 \4 +0800", 8 * 3600),
    ],
    ids=["+08:00", "Z", "-0530", "slashes +0800"],
)
def test_iso_stamps_with_a_zone_give_every_sample_its_time(form: str, offset_s: float) -> None:
    """The stamp's own zone wins over the capture's offset; samples stay one per stamp."""
    text = V100.read_text()
    iso = re.sub(STAMP, form, text)
    expected = parse_text(text, utc_offset_s=offset_s).frame
    got = parse_text(iso, utc_offset_s=3600).frame
    assert got["time"].is_not_null().all()
    assert_frame_equal(got, expected, check_exact=False, rel_tol=0, abs_tol=1e-6)


def test_iso_stamps_without_a_zone_are_local() -> None:
    text = V100.read_text()
    iso = re.sub(STAMP, r"\1-\2-\3 \4", text)
    assert_frame_equal(parse_text(iso, utc_offset_s=7200).frame, parse_text(text, utc_offset_s=7200).frame)


def test_two_gpus_with_offset_stamps_are_one_sample_per_stamp() -> None:
    header = "timestamp, index, power.draw [W], utilization.gpu [%]\n"
    rows = "".join(f"2024-05-01T10:00:0{s}+08:00, {g}, 100.0 W, 50 %\n" for s in range(3) for g in range(2))
    frame = parse_text(header + rows).frame
    assert frame["sample"].to_list() == [0, 0, 1, 1, 2, 2]
    assert frame["time"].to_list() == [1714528800.0 + s for s in range(3) for _ in range(2)]


# ---- the head is read as its lines are ----


def test_a_file_and_its_text_agree_on_the_peeled_head(tmp_path: Path) -> None:
    text = "".join(f"[12] {line}<br />\n" for line in EVAL_BLOCK.read_text().split("\n"))
    path = tmp_path / "log.txt"
    path.write_text(text)
    assert Source(path).head == Source.of_text(text).head
    assert "[12]" not in Source(path).head and "<br />" not in Source(path).head


def test_a_log_whose_few_lines_start_with_brackets_keeps_them() -> None:
    """A prefix is peeled only when most lines have one: `[0.1, 0.2]` in a log's own print stays."""
    text = EVAL_BLOCK.read_text() + "[0.1, 0.2] eval_accuracy = 0.5\n"
    assert "[0.1, 0.2]" in Source.of_text(text).head


# ---- item 5: a recognised neighbour is named in the refusal ----

NEIGHBOURS = {
    "an MLPerf log": ':::MLLOG {"namespace": "", "time_ms": 1593152738057, "event_type": "POINT_IN_TIME"}\n',
    "an nvidia-smi -q report": "\n==============NVSMI LOG==============\n\nTimestamp    : Mon Oct  7 2019\n",
    "an nvidia-smi -q -x report": '<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n',
    "an nvidia-smi --query-compute-apps CSV": "pid, process_name, used_gpu_memory [MiB]\n4123, python, 1024 MiB\n",
    "a Weights & Biases wandb-summary.json": '{"_runtime": 12.5, "_step": 99, "_wandb": {"runtime": 12}}\n',
    "a PyTorch Lightning metrics.csv": "epoch,step,train_loss,val_loss\n0,49,0.61,\n0,49,,0.55\n",
}


@pytest.mark.parametrize(("what", "text"), NEIGHBOURS.items(), ids=list(NEIGHBOURS))
def test_a_recognised_neighbour_is_named_and_the_formats_read_listed(what: str, text: str) -> None:
    with pytest.raises(NotDataError) as caught:
        parse_text(text)
    assert caught.value.reason.startswith(what)
    assert caught.value.reason.endswith(f"not read (bertlogs reads {', '.join(REGISTRY)})")
    assert caught.value.line_no == 1


def test_codecarbon_keeps_its_message() -> None:
    path = REAL / "not-gpu-captures" / "ambroise012_bert_pruning_v100_codecarbon_emissions.csv"
    with pytest.raises(NotDataError) as caught:
        parse_text(path.read_text())
    assert caught.value.reason == "CodeCarbon emissions.csv: not a GPU capture bertlogs reads"


MLPERF = REAL / "not-gpu-captures" / "mlcommons_v0.7_dgx1_bert_result_0_first16.txt"
NVSMI_Q = REAL / "not-gpu-captures" / "elsasjsu_rtx4090_nvidia_smi_q_first12.txt"


@pytest.mark.parametrize("path", [MLPERF, NVSMI_Q], ids=name)
def test_parse_exits_3_naming_the_file(path: Path) -> None:
    result = CliRunner().invoke(app, ["parse", str(path)])
    assert result.exit_code == ExitCode.BAD_INPUT == 3
    assert "not read (bertlogs reads" in result.output


def test_analyze_warns_of_an_mlperf_log_beside_a_run(tmp_path: Path) -> None:
    run = tmp_path / "archive" / "base-bs2"
    run.mkdir(parents=True)
    for f in (DEMO / "base-bs2").iterdir():
        (run / f.name).write_bytes(f.read_bytes())
    (run / "mlperf.log").write_bytes(MLPERF.read_bytes())
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "archive"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "an MLPerf log (:::MLLOG lines): not read" in result.output
