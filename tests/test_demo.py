"""The bundled demo archive reproduces the seed experiment's table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, FIXTURES

from bertlogs import summarize


@pytest.fixture(scope="module")
def joined() -> pl.DataFrame:
    seed = pl.read_csv(FIXTURES / "cola_seed_table.csv")
    ours = summarize([DEMO]).frame
    return seed.join(ours, on=["model", "batch_size"], how="left", suffix="_ours")


def test_every_seed_row_is_a_run(joined: pl.DataFrame) -> None:
    assert joined.height == 29
    assert joined["run"].null_count() == 0
    assert joined["status"].unique().to_list() == ["ok"]


@pytest.mark.parametrize(
    "seed_col, ours_col, rel",
    [
        ("epoch_s", "epoch_s_seed", 0.005),
        ("power_w", "power_w_ours", 0.01),
        ("memory_mib", "memory_mib_ours", 0.01),
        ("util_pct", "util_pct_ours", 0.01),
    ],
)
def test_figures_within_tolerance(joined: pl.DataFrame, seed_col: str, ours_col: str, rel: float) -> None:
    error = (joined[ours_col] / joined[seed_col] - 1).abs()
    assert error.max() < rel, joined.filter(error == error.max()).row(0, named=True)


def test_eval_figures_to_the_printed_digits(joined: pl.DataFrame) -> None:
    assert ((joined["eval_accuracy"] * 100).round(2) == joined["eval_accuracy_pct"]).all()
    assert (joined["eval_loss_ours"].round(2) == joined["eval_loss"]).all()
    assert (joined["eval_batch_loss"].round(2) == joined["train_loss"]).all()


def test_wall_clock_epoch_is_slower_than_the_seeds_arithmetic_mean(joined: pl.DataFrame) -> None:
    # examples/sec readings are averaged harmonically: the arithmetic mean overstates throughput
    assert (joined["epoch_s_ours"] > joined["epoch_s_seed"]).all()
    assert (joined["examples_per_s"] < joined["examples_per_s_mean"]).all()


def test_labels_come_from_the_log(joined: pl.DataFrame) -> None:
    base = joined.filter(pl.col("model") == "Base")
    assert base.select("layers", "hidden").unique().rows() == [(12, 768)]


def test_generator_is_deterministic(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(FIXTURES / "make_cola_sweep.py"), str(tmp_path)], check=True)
    for run in ("tiny-bs64", "base-bs2"):
        for name in ("run_classifier.log", "nvidia-smi.log", "eval_results.txt"):
            assert (tmp_path / run / name).read_bytes() == (DEMO / run / name).read_bytes(), f"{run}/{name}"


def test_readme_library_example() -> None:
    summary = summarize([DEMO])
    df = summary.frame.to_pandas()  # pandas interop, as the README shows it
    assert list(df.columns[:3]) == ["run", "model", "layers"]
    assert df.loc[df["run"] == "tiny-bs2", "epoch_s"].iloc[0] == pytest.approx(53.26, abs=0.01)
