"""The format registry: sniffing, dispatch and run assembly by kind; forcing a format; refusing an unknown one."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, REAL
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from bertlogs import facts as vocab
from bertlogs.cli import app
from bertlogs.discovery import discover
from bertlogs.errors import ExitCode, NotDataError, ParseError
from bertlogs.parsers import Format, Kind, open_file, parse_batch, parse_file, parse_text, smi_csv
from bertlogs.parsers.registry import REGISTRY, Entry, sniff
from bertlogs.parsers.text import HEAD_BYTES, Source
from bertlogs.runs import load_many
from bertlogs.schema import FACT_SCHEMA, conform

runner = CliRunner()
MIXED = REAL / "nvidia-smi-csv" / "theabrusch_v100_495.44_table_then_query_csv_mixed.csv"  # a table, then CSV
TF1 = [p for p in sorted((REAL / "tf1-estimator").glob("*_snippet.txt")) if "eval_results_txt" not in p.name]
EXPECTED = (".expected.csv", ".expected-error.txt")
INPUTS = sorted(p for p in REAL.glob("*/*") if p.suffix != ".md" and not p.name.endswith(EXPECTED))


# ---- a new format takes one entry, and runs take it by its kind -------------------------------------------


class ToyFormat(str):
    """A format that is not in the Format enum, as a new module's would be before its member is added."""

    @property
    def kind(self) -> Kind:
        return REGISTRY[self].kind  # type: ignore[index]


TOY = ToyFormat("toy-log")


def toy_parse(source: Source, *, utc_offset_s: float) -> tuple[pl.DataFrame, list[str]]:
    """`TOY steps N` lines: one NUM_STEPS config fact each."""
    text = pl.col("text")
    frame = (
        source.lines()
        .filter(text.str.starts_with("TOY steps "))
        .select(
            "line", kind=pl.lit(vocab.CONFIG), key=pl.lit(vocab.NUM_STEPS), value=text.str.slice(10).cast(pl.Float64)
        )
        .collect()
    )
    return conform(frame, FACT_SCHEMA), [f"{source.path}: toy, offset {utc_offset_s:g}"]


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = Entry(Kind.TRAINING_LOG, "toy logs", lambda head: head.startswith("TOY"), toy_parse)
    monkeypatch.setitem(REGISTRY, TOY, entry)  # type: ignore[index]


def test_a_new_training_log_format_is_one_entry_and_its_run_is_assembled_by_kind(
    tmp_path: Path, toy_registered: None
) -> None:
    run = tmp_path / "run"
    shutil.copytree(DEMO / "tiny-bs32", run)
    (run / "run_classifier.log").unlink()
    (run / "train.txt").write_text("TOY start\nTOY steps 42\n")
    [loaded] = load_many(discover([tmp_path]).runs, utc_offset_s=3600)
    assert loaded.errors == []
    assert loaded.log is not None and loaded.log.format == TOY and loaded.log.kind is Kind.TRAINING_LOG
    assert loaded.log.frame.select("line", "key", "value").rows() == [(2, vocab.NUM_STEPS, 42.0)]
    assert f"{run / 'train.txt'}: toy, offset 3600" in loaded.warnings
    assert loaded.gpu is not None and loaded.gpu.format == Format.SMI_TABLE
    assert loaded.eval_file is not None and loaded.eval_file.kind is Kind.EVAL_RESULTS


def test_a_run_without_a_training_log_says_so_whatever_the_format(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(DEMO / "tiny-bs32" / "nvidia-smi.log", run)
    [loaded] = load_many(discover([run]).runs)
    assert loaded.errors == [f"{run}: no training log found among 1 file(s)"]


# ---- sniffing -------------------------------------------------------------------------------------------


def test_a_head_claimed_by_two_formats_goes_to_the_one_with_most_evidence() -> None:
    log = (DEMO / "tiny-bs32" / "run_classifier.log").read_text()
    table = (REAL / "nvidia-smi-table" / "daisuketakai_h100x2_570.133.20.log").read_text()
    assert sniff(log + table) == Format.TF1_LOG  # a log with a table pasted in
    rows = "".join(line + "\n" for line in table.splitlines() if "W / " in line)
    three_lines = "".join(log.splitlines(keepends=True)[:3])
    assert sniff(three_lines + rows * 10) == Format.SMI_TABLE  # a capture with a few log lines
    assert sniff(MIXED.read_text()) == Format.SMI_CSV  # one table, then many CSV rows


def test_an_unknown_file_is_refused_naming_the_formats_and_never_reaches_the_csv_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[object] = []
    monkeypatch.setitem(REGISTRY, Format.SMI_CSV, Entry(Kind.GPU_CAPTURE, "CSV", smi_csv.looks_like, called.append))
    path = tmp_path / "notes.txt"
    path.write_text("shopping list: milk, eggs\n")
    with pytest.raises(NotDataError, match=r"notes.txt:1: none of the formats bertlogs reads \(hf-trainer, "):
        parse_file(path)
    with pytest.raises(ParseError, match=r"'smi_csv': not a format bertlogs reads \(hf-trainer \(Hugging Face"):
        parse_file(MIXED, fmt="smi_csv")  # type: ignore[arg-type]
    assert called == []


# ---- forcing a format -----------------------------------------------------------------------------------


def test_a_forced_format_reads_the_file_as_that_format() -> None:
    sniffed, forced = parse_file(MIXED), parse_file(MIXED, fmt=Format.SMI_TABLE)
    assert sniffed.format == Format.SMI_CSV and sniffed.frame.height == 4
    assert forced.format == Format.SMI_TABLE and forced.frame.select("power_w", "temp_c").rows() == [(25.0, 30.0)]


def test_load_many_forces_a_format_on_the_files_of_its_kind_only(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(DEMO / "tiny-bs32", run)
    (run / "nvidia-smi.log").unlink()
    shutil.copy(MIXED, run / "gpu.csv")
    [loaded] = load_many(discover([run]).runs, fmt=Format.SMI_TABLE)
    assert (
        loaded.gpu is not None
        and loaded.gpu.format == Format.SMI_TABLE
        and loaded.gpu.readings is not None
        and len(loaded.gpu.readings) == 1
    )
    assert loaded.log is not None and loaded.log.format == Format.TF1_LOG  # a log stays a log
    assert loaded.eval_file is not None and loaded.eval_file.format == Format.EVAL_RESULTS


def test_cli_parse_format_forces_the_input_format_and_to_chooses_the_output() -> None:
    result = runner.invoke(app, ["parse", str(MIXED), "--format", "smi-table", "--to", "json"])
    assert result.exit_code == 0, result.output
    assert f"{MIXED}: smi-table, 1 rows" in result.stderr
    assert result.stdout.startswith('[{"sample":0,')


@pytest.mark.parametrize(
    "name, hint", [("xml", ""), ("json", "; the output is chosen with --to json"), ("csv", "; the output is chosen")]
)
def test_cli_parse_refuses_an_unknown_format_with_the_list(name: str, hint: str) -> None:
    result = runner.invoke(app, ["parse", str(MIXED), "--format", name])
    assert result.exit_code == ExitCode.USAGE
    message = " ".join(result.output.replace("│", " ").split())  # rich frames and wraps usage errors
    assert f"'{name}': not a format bertlogs reads (hf-trainer (Hugging Face Trainer stdout); " in message
    assert "eval-results (BERT's eval_results.txt))" + hint in message


# ---- the training-log vocabulary ------------------------------------------------------------------------


@pytest.mark.parametrize("path", TF1, ids=lambda p: p.name)
def test_every_rate_reading_states_the_steps_it_covers(path: Path) -> None:
    parsed = parse_file(path)
    assert parsed.format == Format.TF1_LOG
    rate = parsed.frame.filter(pl.col("kind") == vocab.RATE)
    readings = rate.filter(pl.col("key") != vocab.STEPS_COVERED).drop("key", "value")
    covered = rate.filter(pl.col("key") == vocab.STEPS_COVERED)
    assert covered["value"].to_list() == [100.0] * readings.height  # TF1's StepCounterHook
    assert_frame_equal(covered.drop("key", "value"), readings, check_exact=True)  # same line, time, clock, worker, step


def test_rate_readings_on_real_logs_come_with_steps_covered() -> None:
    counted = {p.name: parse_file(p).frame.filter(pl.col("key") == vocab.STEPS_COVERED).height for p in TF1}
    assert counted["kungfu_osdi20_bert_elastic_mixed_absl_snippet.txt"] == 8
    assert counted["zh_notes_run_squad_base_train_tail_snippet.txt"] == 6


def test_phase_markers_of_training_and_evaluation() -> None:
    frame = parse_file(REAL / "tf1-estimator" / "fastertransformer_bert_imdb_blankline_indented_train_eval_snippet.txt")
    phases = frame.frame.filter(pl.col("kind") == vocab.PHASE)
    assert phases.select("line", "key").rows() == [(1, vocab.TRAIN_START), (9, vocab.TRAIN_END)]
    docker = "2019-11-25T16:00:00.500000000Z INFO:tensorflow:***** Running training *****\n"
    assert parse_text(docker).frame.select("kind", "key", "value").rows() == [
        (vocab.PHASE, vocab.TRAIN_START, 1574697600.5)
    ]


# ---- one head, one parser: text and file agree ----------------------------------------------------------


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_parsing_text_equals_parsing_the_file(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")  # line ends as they are
    try:
        from_file = parse_file(path)
    except ParseError as exc:
        with pytest.raises(ParseError) as caught:
            parse_text(text)
        assert caught.value.reason == exc.reason
        return
    from_text = parse_text(text)
    assert from_text.format == from_file.format
    assert_frame_equal(from_text.frame, from_file.frame, check_exact=True)
    assert [w.replace("<text>", str(path)) for w in from_text.warnings] == from_file.warnings


def test_text_and_file_agree_past_the_first_64_kib(tmp_path: Path) -> None:
    """`grep %` rows first, full tables after 64 KiB: the head that says "tables" is the same for both."""
    table = (REAL / "nvidia-smi-table" / "daisuketakai_h100x2_570.133.20.log").read_text()
    rows = "".join(line + "\n" for line in table.splitlines() if "W / " in line)
    text = rows * (70 * 1024 // len(rows)) + table * 3
    assert 64 * 1024 < text.index("NVIDIA-SMI") < HEAD_BYTES
    path = tmp_path / "nvidia-smi.log"
    path.write_text(text)
    assert_frame_equal(parse_text(text).frame, parse_file(path).frame, check_exact=True)


def test_discovery_sniffs_the_same_head_as_the_parsers(tmp_path: Path) -> None:
    """A log whose first TF1 line lies past 64 KiB is a training log to discovery as to parse_file."""
    run = tmp_path / "run"
    (run / "output").mkdir(parents=True)
    log = "starting up, please wait\n" * (80 * 1024 // 25) + (DEMO / "tiny-bs32" / "run_classifier.log").read_text()
    (run / "train.log").write_text(log)
    shutil.copy(DEMO / "tiny-bs32" / "eval_results.txt", run / "output")
    assert parse_file(run / "train.log").format == Format.TF1_LOG
    assert [(r.name, r.path) for r in discover([tmp_path]).runs] == [("run", run)]


def test_a_binary_file_forced_to_a_text_format_is_refused_not_read_as_text(tmp_path: Path) -> None:
    """A half gzipped event file is an event file to the sniffer; forced to a text format it is a ParseError
    (polars used to inflate the path itself and fail with an OSError from inside the batch)."""
    events = Path("fixtures/tfevents/hf-trainer/events.out.tfevents.1574690400.bert-host").read_bytes()
    packed = gzip.compress(events)
    path = tmp_path / "events.gz"
    path.write_bytes(packed[: len(packed) // 2])
    source, found = open_file(path)
    assert found == Format.TFEVENTS
    for fmt in (Format.TF1_LOG, Format.SMI_TABLE):
        refused = parse_batch([source, source], fmt, utc_offsets_s=[0.0, 0.0])
        assert all(isinstance(r, ParseError) and "a binary file, not" in str(r) for r in refused), refused
