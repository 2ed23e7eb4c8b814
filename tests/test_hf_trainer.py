"""Hugging Face Trainer parsers on real files: two public ones (fixtures/real/hf-trainer) and a run of the real
Trainer (fixtures/hf-trainer, made by its make.py). Expected values are read off the files by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, FIXTURES, REAL, python_calls
from polars.testing import assert_frame_equal

from bertlogs import facts as f
from bertlogs.errors import ParseError
from bertlogs.parsers import hf_config, hf_state, hf_trainer
from bertlogs.parsers.text import Source

REAL_HF = REAL / "hf-trainer"
WHISPER_STATE = REAL_HF / "merlinmy_whisper_small_hi_trainer_state.json"
LLM_STDOUT = REAL_HF / "hf_scratch_llm_stdout_padded_dicts_with_step_excerpt.log"
PIPE = FIXTURES / "hf-trainer" / "pipe"
COLLECTED = FIXTURES / "hf-trainer" / "collect" / "tiny-bs8"
EVAL_AFTER = FIXTURES / "hf-trainer" / "eval-after"
MODULES = (hf_trainer, hf_state, hf_config)


def parsed(module, path: Path, utc_offset_s: float = 0.0) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    frame, warnings = module.parse(Source(path), utc_offset_s=utc_offset_s)
    assert warnings == []
    return frame


def series(frame: pl.DataFrame, kind: str, key: str) -> list[tuple[int | None, float]]:
    """(step, value) of every fact of that kind and key, in file order."""
    rows = frame.filter(kind=kind, key=key)
    return list(zip(rows["step"].to_list(), rows["value"].to_list(), strict=True))


def one(frame: pl.DataFrame, kind: str, key: str) -> tuple[int | None, float]:
    found = series(frame, kind, key)
    assert len(found) == 1, (kind, key, found)
    return found[0]


def unix_s(stamp: str, utc_offset_s: float = 0.0) -> float:
    """The unix time of a stamp, to the microsecond (as polars reads it)."""
    utc = dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.timezone.utc).timestamp()
    return pytest.approx(utc - utc_offset_s, abs=1e-6)


def test_real_trainer_state_without_grad_norm() -> None:
    frame = parsed(hf_state, WHISPER_STATE)
    assert one(frame, f.CONFIG, f.NUM_STEPS) == (None, 5000)
    assert one(frame, f.CONFIG, f.NUM_EPOCHS) == (None, 13)
    assert frame.filter(kind=f.CONFIG)["key"].sort().to_list() == [f.NUM_EPOCHS, f.NUM_STEPS]  # no batch size
    losses = series(frame, f.LOSS, f.LOSS)
    assert len(losses) == 200 and losses[0] == (25, 0.8917) and [s for s, _ in losses] == list(range(25, 5001, 25))
    assert series(frame, f.LOSS, f.LEARNING_RATE)[0] == (25, 4.6000000000000004e-07)
    assert series(frame, f.LOSS, f.GRAD_NORM) == []
    assert series(frame, f.EVAL, "eval_wer")[0] == (1000, 34.63133835604842)
    assert [s for s, _ in series(frame, f.EVAL, f.EVAL_LOSS)] == [1000, 2000, 3000, 4000, 5000]
    assert series(frame, f.EVAL, f.EPOCH)[0] == (1000, 2.44)
    assert one(frame, f.RATE, f.RUNTIME_S) == (5000, 16800.4503)
    assert one(frame, f.RATE, f.EXAMPLES_PER_S) == (5000, 4.762)
    assert one(frame, f.RATE, f.STEPS_PER_S) == (5000, 0.298)
    assert one(frame, f.RATE, f.STEPS_COVERED) == (5000, 5000)
    assert one(frame, f.RATE, f.TOTAL_FLOS) == (5000, 2.307297992638464e19)
    assert one(frame, f.LOSS, f.TRAIN_LOSS_MEAN) == (5000, 0.06323314253110439)
    assert frame["time"].is_null().all()


def test_real_stdout_padded_dicts_with_their_own_step() -> None:
    frame = parsed(hf_trainer, LLM_STDOUT)
    losses = series(frame, f.LOSS, f.LOSS)
    assert [s for s, _ in losses] == list(range(2500, 10001, 100)) and losses[0] == (2500, 1.6156)
    assert series(frame, f.LOSS, f.GRAD_NORM)[0] == (2500, 0.29814067482948303)
    assert series(frame, f.LOSS, f.LEARNING_RATE)[-1] == (10000, 0.0)
    evals = series(frame, f.EVAL, f.EVAL_LOSS)
    assert [s for s, _ in evals] == list(range(3000, 10001, 1000)) and evals[-1] == (10000, 0.3461727797985077)
    assert one(frame, f.RATE, f.RUNTIME_S) == (10000, 8754.1218)
    assert one(frame, f.RATE, f.EXAMPLES_PER_S) == (10000, 36.554)
    assert one(frame, f.RATE, f.STEPS_PER_S) == (10000, 1.142)
    assert one(frame, f.RATE, f.STEPS_COVERED) == (10000, 10000)
    assert one(frame, f.LOSS, f.TRAIN_LOSS_MEAN) == (10000, 2.159679998397827)
    # the closing bar `10000/10000 [2:25:52<00:00,  1.04it/s]`
    assert one(frame, f.PROGRESS, f.BAR_ELAPSED_S) == (10000, 2 * 3600 + 25 * 60 + 52)
    assert one(frame, f.PROGRESS, f.BAR_STEPS_PER_S) == (10000, 1.04)
    assert frame.filter(kind=f.CONFIG).is_empty() and frame["time"].is_null().all()


def test_produced_stdout_training_block_and_steps_from_the_bar() -> None:
    frame = parsed(hf_trainer, PIPE / "stdout.log")
    config = dict(zip(frame.filter(kind=f.CONFIG)["key"], frame.filter(kind=f.CONFIG)["value"], strict=True))
    assert config == {
        f.NUM_EXAMPLES: 160,
        f.NUM_EPOCHS: 3,
        f.STEPS_PER_EPOCH: 20,
        f.DEVICE_BATCH_SIZE: 8,
        f.BATCH_SIZE: 8,
        f.GRAD_ACCUM_STEPS: 1,
        f.NUM_STEPS: 60,
        f.NUM_PARAMETERS: 487554,  # `487,554`
        "eval_num_examples": 48,
        "eval_batch_size": 16,
    }
    # transformers 5 prints the values as strings ('0.6963'); the dicts have no step: the bar drawn after each says
    losses = series(frame, f.LOSS, f.LOSS)
    assert [s for s, _ in losses] == list(range(4, 61, 4)) and losses[0] == (4, 0.6963)
    assert series(frame, f.LOSS, f.LEARNING_RATE)[-2] == (56, 8.333e-05)
    assert [s for s, _ in series(frame, f.EVAL, f.EVAL_LOSS)] == [20, 40, 60]
    assert series(frame, f.EVAL, "eval_matthews_correlation")[1] == (40, 0.05634)
    # the TrainOutput line wins over the summary dict printed before it (`'train_runtime': '4.465'`)
    assert one(frame, f.RATE, f.RUNTIME_S) == (60, 4.4647)
    assert one(frame, f.RATE, f.STEPS_PER_S) == (60, 13.439)
    assert one(frame, f.RATE, f.TOTAL_FLOS) == (60, 19057305600.0)
    assert one(frame, f.RATE, f.STEPS_COVERED) == (60, 60)
    assert one(frame, f.MODEL, f.LAYERS)[1] == 2 and one(frame, f.MODEL, f.HIDDEN)[1] == 128


def test_produced_stdout_progress_bar_readings() -> None:
    frame = parsed(hf_trainer, PIPE / "stdout.log")
    rates = series(frame, f.PROGRESS, f.BAR_STEPS_PER_S)
    assert rates[0] == (1, 1 / 1.44)  # `1/60 [00:01<01:25,  1.44s/it]`; `0/60 [..., ?it/s]` has no rate
    assert rates[-1] == (60, 13.44)  # the closing redraw: 60 steps / elapsed
    assert series(frame, f.PROGRESS, f.BAR_ELAPSED_S)[0] == (0, 0)
    assert (3, 352.6) not in rates  # an evaluation's bar, `3/3 [00:00<00:00, 352.60it/s]`, is not the training bar
    # tqdm redraws the bar unchanged after each dict: one fact per state
    assert len(rates) == len(set(rates))


def test_produced_stdout_local_clock() -> None:
    frame = parsed(hf_trainer, PIPE / "stdout.log", utc_offset_s=3600)
    start = frame.filter(kind=f.PHASE, key=f.TRAIN_START)
    # `[INFO|trainer.py:1628] 2026-12-01 13:08:54,333 >>   Number of trainable parameters = 487,554`, local time
    assert start["value"].to_list() == [unix_s("2026-12-01T13:08:54.333", 3600)]
    assert start["clock"].to_list() == ["local"]
    assert frame.filter(kind=f.PHASE, key=f.TRAIN_END).is_empty()  # the train_runtime dict has no clock here


def test_evaluation_after_training_only_in_the_metrics_block() -> None:
    frame = parsed(hf_trainer, EVAL_AFTER / "stdout.log")
    evals = frame.filter(kind=f.EVAL)
    assert sorted(zip(evals["key"], evals["step"], evals["value"], evals["line"], strict=True)) == [
        (f.EPOCH, 60, 3.0, 188),
        (f.EVAL_LOSS, 60, 0.7633, 189),
        ("eval_matthews_correlation", 60, -0.042, 190),
        ("eval_samples_per_second", 60, 3125.267, 192),  # eval_runtime `0:00:00.01` is no number
        ("eval_steps_per_second", 60, 195.329, 193),
    ]
    # the `***** train metrics *****` block repeats the summary: it is not read again
    assert one(frame, f.RATE, f.RUNTIME_S) == (60, 23.1081)


def test_an_evaluation_logged_as_a_dict_is_not_counted_again_from_the_block() -> None:
    frame = parsed(hf_trainer, PIPE / "stdout.log")
    assert [s for s, _ in series(frame, f.EVAL, f.EVAL_LOSS)] == [20, 40, 60]
    assert series(frame, f.EVAL, "eval_samples_per_second")[-1] == (60, 3164)  # the dict's, not the block's 2947.335


def test_collect_stamps_place_the_training_window() -> None:
    frame = parsed(hf_trainer, COLLECTED / "train.log")
    start = frame.filter(kind=f.PHASE, key=f.TRAIN_START)
    end = frame.filter(kind=f.PHASE, key=f.TRAIN_END)
    assert start["value"].to_list() == [unix_s("2026-12-01T13:10:28.946381")]  # `Number of trainable parameters`
    assert end["value"].to_list() == [unix_s("2026-12-01T13:10:39.320987")]  # `{'train_runtime': '10.37', ...}`
    assert start["clock"].to_list() == end["clock"].to_list() == ["utc"]
    assert end["value"][0] - start["value"][0] == pytest.approx(one(frame, f.RATE, f.RUNTIME_S)[1], abs=0.01)
    # a stamp is the time its line ended: the dict that ends the line has it, the bars before it in the line do not
    loss = frame.filter(kind=f.LOSS, key=f.LOSS, step=4)
    assert loss["time"].to_list() == [unix_s("2026-12-01T13:10:29.684737")]
    assert frame.filter(kind=f.PROGRESS, step=1)["time"].is_null().all()


def test_stdout_and_state_of_one_run_agree() -> None:
    stdout, state = parsed(hf_trainer, PIPE / "stdout.log"), parsed(hf_state, PIPE / "trainer_state.json")
    for kind, key in [(f.LOSS, f.LOSS), (f.LOSS, f.GRAD_NORM), (f.EVAL, f.EVAL_LOSS)]:
        printed, saved = series(stdout, kind, key), series(state, kind, key)
        assert [s for s, _ in printed] == [s for s, _ in saved]
        assert all(p == pytest.approx(v, rel=5e-4) for (_, p), (_, v) in zip(printed, saved, strict=True))
    for key in (f.RUNTIME_S, f.STEPS_PER_S, f.EXAMPLES_PER_S, f.STEPS_COVERED, f.TOTAL_FLOS):
        assert one(stdout, f.RATE, key) == one(state, f.RATE, key)
    config = dict(zip(state.filter(kind=f.CONFIG)["key"], state.filter(kind=f.CONFIG)["value"], strict=True))
    assert config == {f.NUM_STEPS: 60, f.NUM_EPOCHS: 3, f.DEVICE_BATCH_SIZE: 8, f.LOGGING_STEPS: 4}


@pytest.mark.parametrize(
    ("module", "path"), [(hf_state, WHISPER_STATE), (hf_trainer, LLM_STDOUT)], ids=["state", "stdout"]
)
def test_real_files_match_their_expected_output(module, path: Path) -> None:  # type: ignore[no-untyped-def]
    """`NAME.expected.csv`, as tests/test_parsers.py reads it once the registry dispatches to these modules."""
    frame = parsed(module, path)
    expected = pl.read_csv(path.with_name(path.name + ".expected.csv"), schema=frame.schema)
    assert_frame_equal(frame, expected, check_exact=True)


def test_model_config_json() -> None:
    frame = parsed(hf_config, PIPE / "config.json")
    assert sorted(zip(frame["key"], frame["value"], strict=True)) == [(f.HIDDEN, 128), (f.LAYERS, 2)]


def test_google_bert_config_json(tmp_path: Path) -> None:
    path = tmp_path / "bert_config.json"  # google-research/bert's, for BERT-Base: no model_type
    path.write_text('{"attention_probs_dropout_prob": 0.1, "hidden_size": 768, "num_hidden_layers": 12}')
    assert hf_config.looks_like(Source(path).head)
    frame = parsed(hf_config, path)
    assert sorted(zip(frame["key"], frame["value"], strict=True)) == [(f.HIDDEN, 768), (f.LAYERS, 12)]


def test_each_module_claims_only_its_own_files() -> None:
    mine = {
        WHISPER_STATE: hf_state,
        LLM_STDOUT: hf_trainer,
        PIPE / "stdout.log": hf_trainer,
        PIPE / "trainer_state.json": hf_state,
        PIPE / "config.json": hf_config,
        COLLECTED / "train.log": hf_trainer,
        COLLECTED / "trainer_state.json": hf_state,
        COLLECTED / "config.json": hf_config,
        EVAL_AFTER / "stdout.log": hf_trainer,
        EVAL_AFTER / "trainer_state.json": hf_state,
        EVAL_AFTER / "config.json": hf_config,
    }
    others = [p for p in sorted(REAL.rglob("*")) + sorted(DEMO.rglob("*")) + sorted(COLLECTED.glob("*")) if p.is_file()]
    others = [p for p in others if p not in mine and p.suffix not in (".md", ".py") and ".expected" not in p.name]
    assert len(others) > 100
    for path in [*mine, *others]:
        head = Source(path).head
        claims = [m for m in MODULES if m.looks_like(head)]
        assert claims == ([mine[path]] if path in mine else []), path


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{\n  "global_step": 60,\n  "log_history": [\n    {"loss": 0.5,\n', ":5: not valid JSON"),
        ('{"global_step": 60, "log_history": {"loss": 0.5}}', "no `log_history` list"),
        ('[{"global_step": 60, "log_history": []}]', "not a JSON object"),
        ('{"log_history": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
    ids=["truncated", "history-not-a-list", "array", "deep"],
)
def test_bad_trainer_state_is_a_parse_error(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "trainer_state.json"
    path.write_text(content)
    with pytest.raises(ParseError) as caught:
        hf_state.parse(Source(path), utc_offset_s=0)
    assert str(caught.value).startswith(str(path)) and reason in str(caught.value)


def test_trainer_state_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_state, "MAX_BYTES", 1000)
    path = tmp_path / "trainer_state.json"
    path.write_text('{"global_step": 1, "log_history": [' + ", ".join(['{"loss": 0.5, "step": 1}'] * 100) + "]}")
    with pytest.raises(ParseError, match="larger than"):
        hf_state.parse(Source(path), utc_offset_s=0)


def test_odd_trainer_state_entries(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.json"
    path.write_text(
        '{"global_step": 40, "max_steps": 60, "log_history": [7, {"loss": NaN, "step": 4}, {"loss": true, "step": 8},'
        ' {"loss": 0.5, "step": 2.5}, {"loss": 0.25, "step": "12"}]}'
    )
    frame, warnings = hf_state.parse(Source(path), utc_offset_s=0)
    losses = series(frame, f.LOSS, f.LOSS)
    assert losses[0][0] == 4 and losses[0][1] != losses[0][1]  # a diverged loss, NaN, is kept
    assert losses[1:] == [(None, 0.5), (None, 0.25)]  # no whole step: none; a boolean is no loss
    assert warnings == [
        f"{path}: log_history[0] is not an object; ignored",
        f"{path}: global_step 40 of max_steps 60: a checkpoint's state or a run cut short",
    ]


def test_odd_stdout_lines_are_no_facts(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"
    path.write_text(
        "  Total optimization steps = 1,000,000,000,000,000,000\n"  # past any run: no count
        "{'loss': 'abc', 'epoch': 0.1}\n"
        "{'loss': 0.5, 'step': -3, 'epoch': 0.2}\n"
        "{'eval_loss': nan, 'step': 20}\n"
        " 45%|████▌     | 481/1070 [00:59<01:12,  8.11it/s]\r 46%|████▌     | 482/1070 [1:00:01<01:11,  ?it/s]\n"
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB\n"
        "Loading google/bert_uncased_L-4_H-256_A-4\n"
        '  "hidden_size": 512,\n'  # a printed config says what ran: it wins over the name
    )
    frame, warnings = hf_trainer.parse(Source(path), utc_offset_s=0)
    stepless = "1 Trainer dict(s) without a step (no 'step' key, no progress bar drawn after them)"
    assert warnings == [f"{path}:3: {stepless}: their facts have no step"]
    assert frame.filter(kind=f.CONFIG).is_empty()
    assert series(frame, f.LOSS, f.EPOCH) == [(None, 0.2)]  # 'abc' is no loss dict; step -3 is no step
    assert series(frame, f.EVAL, f.EVAL_LOSS)[0][1] != series(frame, f.EVAL, f.EVAL_LOSS)[0][1]
    assert series(frame, f.PROGRESS, f.BAR_ELAPSED_S) == [(481, 59), (482, 3601)]
    assert series(frame, f.PROGRESS, f.BAR_STEPS_PER_S) == [(481, 8.11)]
    assert series(frame, f.ERROR, f.OOM) == [(None, 1.0)]
    assert series(frame, f.MODEL, f.LAYERS) == [(None, 4)] and series(frame, f.MODEL, f.HIDDEN) == [(None, 512)]


def test_training_after_an_evaluation_reads_its_block_as_training(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"  # `trainer.evaluate()` for a baseline, then `trainer.train()`
    path.write_text(
        "***** Running Evaluation *****\n  Num examples = 1,043\n  Batch size = 8\n"
        "***** Running training *****\n  Num examples = 8,551\n  Num Epochs = 3\n"
        "  Total train batch size (w. parallel, distributed & accumulation) = 32\n  Total optimization steps = 804\n"
    )
    config = parsed(hf_trainer, path).filter(kind=f.CONFIG)
    assert list(zip(config["key"], config["value"], strict=True)) == [
        ("eval_num_examples", 1043),
        ("eval_batch_size", 8),
        (f.NUM_EXAMPLES, 8551),
        (f.NUM_EPOCHS, 3),
        (f.BATCH_SIZE, 32),
        (f.NUM_STEPS, 804),
    ]


def test_python_calls_do_not_grow_with_lines(tmp_path: Path) -> None:
    lines = (PIPE / "stdout.log").read_text().splitlines(keepends=True)
    steps = [s for s in lines if "{'loss'" in s]

    def calls(copies: int) -> int:
        path = tmp_path / f"{copies}.log"
        path.write_text("".join(lines[:150] + steps * copies + lines[150:]))
        return python_calls(lambda: hf_trainer.parse(Source(path), utc_offset_s=0))

    calls(10)
    few, many = calls(10), calls(1000)
    assert many <= few + 50, f"{few} Python calls for 10 copies but {many} for 1,000: a per-line loop?"


def test_neighbours_of_trainer_files_are_not_claimed() -> None:
    from bertlogs.parsers import hf_config

    notebook = '{\n "cells": [{"outputs": [{"text": ["  Total optimization steps = 1,070\\n"]}]}]\n}\n'
    lightning = "Epoch 0: {'loss': 0.52, 'acc': 0.8}\n"
    assert not hf_trainer.looks_like(notebook) and not hf_trainer.looks_like(lightning)
    assert hf_trainer.looks_like("{'loss': 0.61, 'grad_norm': 1.2, 'learning_rate': 2e-05, 'epoch': 0.47}\n")
    wandb = '{"num_hidden_layers": {"value": 12}, "hidden_size": {"value": 768}}\n'
    assert not hf_config.looks_like(wandb) and hf_config.looks_like('{"hidden_size": 128, "num_hidden_layers": 2}')


def test_integers_too_large_for_a_float_are_parse_errors_not_crashes(tmp_path: Path) -> None:
    from bertlogs.schema import read_meta

    digits = "9" * 400
    state = tmp_path / "trainer_state.json"
    state.write_text(f'{{"global_step": 1, "log_history": [{{"loss": {digits}, "step": 1}}], "max_steps": {digits}}}')
    frame, _ = hf_state.parse(Source(state))
    assert frame.filter(pl.col("key") == "loss").is_empty()  # not a float: left out
    state.write_text(f'{{"global_step": 1, "log_history": [], "max_steps": {"9" * 5000}}}')
    with pytest.raises(ParseError, match="not a JSON this reader takes"):
        hf_state.parse(Source(state))
    meta = tmp_path / "meta.json"
    meta.write_text(f'{{"labels": {{"model": {digits}}}}}')
    assert read_meta(meta)[0].labels["model"] == digits  # a number label, as its digits
