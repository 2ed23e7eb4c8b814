"""The second demo archive, fixtures/cola-sweep-hf/ (Hugging Face Trainer runs recorded by collect), reproduces
the seed experiment's table like the TF1 demo (tests/test_demo.py), and its launcher prints what made it."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, ROOT

from bertlogs import facts as F
from bertlogs.parsers import Format, parse_file
from bertlogs.raw import GPU_CSV_COLUMNS

DEMO_HF = FIXTURES / "cola-sweep-hf"
LAUNCHER = ROOT / "collectors" / "run_glue_cola.sh"
RUN_GLUE = "/src/transformers/examples/pytorch/text-classification/run_glue.py"  # as the generator's meta.json says
RUNS = sorted(p.name for p in DEMO_HF.iterdir())


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """`bertlogs analyze fixtures/cola-sweep-hf --out DIR`, its summary.csv joined to the seed table."""
    out = tmp_path_factory.mktemp("hf") / "report"
    result = subprocess.run(
        [sys.executable, "-m", "bertlogs", "analyze", str(DEMO_HF), "--out", str(out), "--no-plots"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    seed = pl.read_csv(FIXTURES / "cola_seed_table.csv")
    ours = pl.read_csv(out / "summary.csv", infer_schema_length=None)
    return seed.join(ours, on=["model", "batch_size"], how="left", suffix="_ours")


def test_every_seed_row_is_an_ok_run_without_warnings(joined: pl.DataFrame) -> None:
    assert joined.height == 29 and sorted(joined["run"].to_list()) == RUNS
    assert joined["status"].unique().to_list() == ["ok"]
    assert joined["warnings"].fill_null("").unique().to_list() == [""]


@pytest.mark.parametrize(
    "ours_col, seed, rel",
    [
        ("epoch_s_ours", pl.col("epoch_s"), 0.005),
        ("power_w_ours", pl.col("power_w"), 0.01),
        ("memory_mib_ours", pl.col("memory_mib"), 0.01),
        ("util_pct_ours", pl.col("util_pct"), 0.01),
        ("energy_j_per_epoch", pl.col("power_w") * pl.col("epoch_s"), 0.01),  # the seed's energy: power x time
    ],
)
def test_figures_within_tolerance(joined: pl.DataFrame, ours_col: str, seed: pl.Expr, rel: float) -> None:
    error = joined.select((pl.col(ours_col) / seed - 1).abs()).to_series()
    assert error.max() < rel, joined.filter(error == error.max()).row(0, named=True)


def test_window_and_energy_come_from_the_clocks_the_archive_holds(joined: pl.DataFrame) -> None:
    assert joined["epoch_s_method"].unique().to_list() == ["wall clock of the log over the training window"]
    assert joined["energy_method"].unique().to_list() == ["NVML total-energy counter difference over the window"]
    assert joined["rate_readings"].unique().to_list() == [1]  # train_runtime: one reading over the whole loop
    assert ((joined["sample_period_s"] - 0.1).abs() < 0.001).all()  # collect's 10 Hz


def test_eval_figures_to_the_printed_digits(joined: pl.DataFrame) -> None:
    assert ((joined["eval_accuracy"] * 100).round(2) == joined["eval_accuracy_pct"]).all()
    assert (joined["eval_loss_ours"].round(2) == joined["eval_loss"]).all()


def test_train_loss_to_the_printed_digits(joined: pl.DataFrame) -> None:
    assert (joined["train_loss_mean"].round(2) == joined["train_loss"]).all()


def test_labels_and_shapes(joined: pl.DataFrame) -> None:
    shapes = joined.select("model", "layers", "hidden").unique().sort("layers", "hidden").rows()
    assert shapes == [("Tiny", 2, 128), ("Mini", 4, 256), ("Small", 4, 512), ("Medium", 8, 512), ("Base", 12, 768)]
    assert (joined["num_examples"] == 8551).all()
    assert (joined["num_steps"] == 5 * ((8551 + joined["batch_size"] - 1) // joined["batch_size"])).all()


@pytest.mark.parametrize("run", RUNS)
def test_train_log_is_a_trainer_log_with_one_whole_run_reading(run: str) -> None:
    """The facts bertlogs derives the window from: the train_runtime dict, at its line's stamp."""
    parsed = parse_file(DEMO_HF / run / "train.log")
    assert parsed.format == Format.HF_TRAINER and parsed.warnings == []
    facts = parsed.frame
    assert facts["clock"].drop_nulls().unique().to_list() == ["utc"]  # collect's stamps
    rate = {
        k: (v, s, t)
        for k, v, s, t in facts.filter(pl.col("kind") == F.RATE).select("key", "value", "step", "time").rows()
    }
    config = dict(
        facts.filter(pl.col("kind") == F.CONFIG, ~pl.col("key").str.starts_with("eval_")).select("key", "value").rows()
    )
    steps, bs = config[F.NUM_STEPS], config[F.BATCH_SIZE]
    assert config[F.NUM_EXAMPLES] == 8551 and config[F.NUM_EPOCHS] == 5 and config[F.GRAD_ACCUM_STEPS] == 1
    assert rate[F.STEPS_COVERED][0] == steps and {s for _, s, _ in rate.values()} == {steps}
    seed = pl.read_csv(FIXTURES / "cola_seed_table.csv").filter(
        (pl.col("model").str.to_lowercase() + "-bs" + pl.col("batch_size").cast(pl.String)) == run
    )
    epoch_s = rate[F.RUNTIME_S][0] / (steps * bs / 8551)
    assert epoch_s == pytest.approx(seed["epoch_s"][0], rel=5e-4)  # '.4g' as the Trainer prints it
    end = facts.filter(pl.col("key") == F.TRAIN_END)["time"][0]
    assert rate[F.RUNTIME_S][2] == end  # the reading is stamped where train_runtime stops
    # ... and train_runtime (to 0.1 ms in the state) started where the training block ends, before step 1
    runtime_s = json.loads((DEMO_HF / run / "trainer_state.json").read_text())["log_history"][-1]["train_runtime"]
    start = facts.filter(pl.col("key") == F.TRAIN_START)["time"][0]
    assert 0 <= (end - runtime_s) - start < 0.005


def _scalars(path: Path) -> list[tuple[str, int, float, float]]:
    """(tag, step, wall time, value) of an event file's scalars: TFRecord framing, tensorboardX's Event message."""
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    data, at, found = path.read_bytes(), 0, []
    while at < len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        event = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
        at += 12 + length + 4
        found += [
            (v.tag, event.step, event.wall_time, v.simple_value)
            for v in event.summary.value
            if v.HasField("simple_value")
        ]
    assert at == len(data)
    return found


@pytest.mark.parametrize("run", ["tiny-bs2", "small-bs16", "base-bs32"])
def test_event_files_hold_the_trainer_state_on_the_logs_clock(run: str) -> None:
    """What the TensorBoardCallback writes: every log_history value under its rewritten tag at its step (the
    evaluation after training in a second file), the train_runtime point stamped with the dict's line."""
    files = sorted((DEMO_HF / run / "events").iterdir())
    assert [p.name.startswith("events.out.tfevents.") for p in files] == [True, True]
    training, final = _scalars(files[0]), _scalars(files[1])
    history = json.loads((DEMO_HF / run / "trainer_state.json").read_text())["log_history"]
    expected = [
        ("eval/" + k[5:] if k.startswith("eval_") else "train/" + k, entry["step"], v)
        for entry in history
        for k, v in entry.items()
        if k != "step"
    ]
    written = sorted((tag, step, value) for tag, step, _, value in training)  # the state's keys are sorted
    assert [(tag, step) for tag, step, _ in written] == [(tag, step) for tag, step, _ in sorted(expected)]
    assert [v for *_, v in written] == pytest.approx([v for *_, v in sorted(expected)], rel=1e-6)  # float32
    assert {tag for tag, *_ in final} >= {"eval/accuracy", "eval/loss", "eval/matthews_correlation"}
    runtime_wall = next(t for tag, _, t, _ in training if tag == "train/train_runtime")
    end = parse_file(DEMO_HF / run / "train.log").frame.filter(pl.col("key") == F.TRAIN_END)["time"][0]
    assert abs(runtime_wall - end) < 0.002
    meta = json.loads((DEMO_HF / run / "meta.json").read_text())
    walls = [t for _, _, t, _ in training + final]
    assert meta["start"]["unix_s"] < min(walls) and max(walls) < meta["end"]["unix_s"]


@pytest.mark.parametrize("run", ["tiny-bs2", "base-bs32"])
def test_every_file_is_read_as_what_it_is(run: str) -> None:
    formats = {p.name: parse_file(p).format for p in (DEMO_HF / run).iterdir() if p.is_file() and p.name != "meta.json"}
    assert formats == {
        "train.log": Format.HF_TRAINER,
        "trainer_state.json": Format.HF_STATE,
        "config.json": Format.MODEL_CONFIG,
        "gpu.csv": Format.SMI_CSV,
    }


def test_gpu_csv_is_collects() -> None:
    for run in RUNS:
        path = DEMO_HF / run / "gpu.csv"
        with path.open() as f:
            assert f.readline().rstrip("\n").split(",") == list(GPU_CSV_COLUMNS)
    parsed = parse_file(DEMO_HF / "tiny-bs2" / "gpu.csv")
    assert parsed.format == Format.SMI_CSV and parsed.warnings == []
    energy = parsed.frame["energy_mj"]
    assert energy.null_count() == 0 and (energy.diff().drop_nulls() > 0).all()  # a cumulative counter


def test_generator_is_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    subprocess.run([sys.executable, str(FIXTURES / "make_cola_sweep_hf.py"), str(tmp_path)], check=True)
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    kept = sorted(str(p.relative_to(DEMO_HF)) for p in DEMO_HF.rglob("*") if p.is_file())
    assert made == kept
    for name in made:  # event files included: the writer's clock and host are pinned
        assert (tmp_path / name).read_bytes() == (DEMO_HF / name).read_bytes(), name


def _dry_run(*extra: str) -> subprocess.CompletedProcess[str]:
    argv = [str(LAUNCHER), "--run-glue", RUN_GLUE, "--out", "/data/cola-hf", "--dry-run", *extra]
    return subprocess.run(argv, capture_output=True, text=True)


def test_launcher_dry_run_prints_the_commands_that_made_each_run() -> None:
    result = _dry_run()
    assert result.returncode == 0, result.stderr
    commands = [line.split() for line in result.stdout.splitlines() if line.startswith("bertlogs collect ")]
    assert len(commands) == 30  # 5 models x 6 batch sizes (the seed's Base at 64 ran out of memory)
    by_run = {c[c.index("--run-id") + 1]: c for c in commands}
    for run in RUNS:
        command, meta = by_run[run], json.loads((DEMO_HF / run / "meta.json").read_text())
        assert command[command.index("--") + 1 :] == meta["source"]["argv"]
        labels = [command[i + 1] for i, word in enumerate(command) if word == "--label"]
        assert labels == [f"{k}={v}" for k, v in meta["labels"].items()]
        assert command[command.index("--tfevents") + 1] == f"/data/cola-hf/output/{run}"
    copies = [line.strip() for line in result.stdout.splitlines() if line.startswith("cp ")]
    assert (
        len(copies) == 60
        and "cp /data/cola-hf/output/base-bs2/trainer_state.json /data/cola-hf/raw/base-bs2/" in copies
    )


def test_launcher_refuses_what_it_cannot_run() -> None:
    assert _dry_run("--models", "Huge").returncode == 2
    assert _dry_run("--batch-sizes", "8x").returncode == 2
    missing = subprocess.run([str(LAUNCHER), "--out", "x"], capture_output=True, text=True)
    assert missing.returncode == 2 and "--run-glue is required" in missing.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (CI installs it)")
def test_launcher_is_shellcheck_clean() -> None:
    result = subprocess.run(["shellcheck", str(LAUNCHER)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
