"""One run, one fault domain: a bad run (malformed meta.json, impossible readings, a bug, a dying worker)
gets its own row and never costs the others theirs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, digest
from test_analysis import T0, csv_capture, docker_log, iso, write_run

from bertlogs import summarize
from bertlogs import summary as summary_module
from bertlogs.analysis import analyze_run
from bertlogs.parsers import Kind
from bertlogs.summary import PARALLEL_FROM_RUNS

GOOD = ("tiny-bs64", "mini-bs64", "small-bs64")
_REAL_ANALYZE = summary_module._analyze  # what the worker processes run, before any test patches it

# (meta.json bytes, what its warning names; None: nothing to warn about)
META_VARIANTS = [
    (b"[]", "expected a JSON object"),
    (b"null", "expected a JSON object"),
    (b'"x"', "expected a JSON object"),
    (b"{}", None),
    (b'{"labels": null, "gpus": null, "end": null, "exit_code": null}', None),
    (b"", "empty file"),
    (b'{"labels": {"model": "\xff"}}', "unreadable"),
    (b'{"labels": ', "not valid JSON"),
    (b"[" * 100_000, "meta.json ignored"),
    (b'{"utc_offset_s": "3600"}', "utc_offset_s"),
    (b'{"utc_offset_s": NaN}', "utc_offset_s"),
    (b'{"utc_offset_s": 1e300}', "utc_offset_s"),
    (b'{"gpus": ["a"]}', "gpus[0]"),
    (b'{"gpus": [{"index": "x"}]}', "gpus[0]"),
    (b'{"gpus": [1000000000000000000000000000000]}', "gpus[0]"),
    (b'{"gpus": 3}', "gpus"),
    (b'{"labels": {"batch_size": "abc"}}', "labels.batch_size"),
    (b'{"labels": {"batch_size": 1e400}}', "labels.batch_size"),
    (b'{"labels": {"model": ["Tiny"]}}', "labels.model"),
    (b'{"labels": {"model": {"name": "Tiny"}}}', "labels.model"),
    (b'{"labels": [[[{}]]], "gpus": {"x": [1]}, "start": [], "sampler": "fast"}', "labels"),
    (b'{"exit_code": "zero"}', "exit_code"),
    (b'{"exit_code": true}', "exit_code"),
    (b'{"exit_code": 1e400}', "exit_code"),
    (b'{"status": 5}', "status"),
    (b'{"start": {"unix_s": "yesterday"}}', "start"),
]


def synthetic_run(root: Path, name: str, **extra: str) -> Path:
    return write_run(root, name, train_log=docker_log(), gpu_csv=csv_capture(T0 + 10, T0 + 50), **extra)


@pytest.mark.parametrize("raw, named", META_VARIANTS, ids=lambda v: repr(v)[:40] if isinstance(v, bytes) else None)
def test_a_malformed_meta_json_is_a_warning_never_a_crash(tmp_path: Path, raw: bytes, named: str | None) -> None:
    synthetic_run(tmp_path, "good")
    (synthetic_run(tmp_path, "odd-meta") / "meta.json").write_bytes(raw)
    rows = {r.row["run"]: r.row for r in summarize([tmp_path]).results}
    assert set(rows) == {"good", "odd-meta"}
    assert rows["good"]["status"] == "ok", rows["good"]["warnings"]
    odd = rows["odd-meta"]
    assert odd["status"] == "ok", odd["warnings"]  # the figures do not depend on meta.json here
    assert odd["power_w"] == pytest.approx(200.0) and odd["batch_size"] == 8
    if named is None:
        assert "meta.json" not in odd["warnings"]
    else:
        assert "meta.json" in odd["warnings"] and named in odd["warnings"], odd["warnings"]


def capture_with_total(rows: list[tuple[float, str, str, str]]) -> str:
    """A --query-gpu CSV of GPU 0 with memory.total: (time, power, memory used, utilisation) per sample."""
    lines = ["timestamp, index, power.draw [W], memory.used [MiB], memory.total [MiB], utilization.gpu [%]"]
    for t, power, memory, util in rows:
        stamp = iso(t).replace("-", "/").replace("T", " ")[:23]
        lines.append(f"{stamp}, 0, {power} W, {memory} MiB, 11019 MiB, {util} %")
    return "\n".join(lines) + "\n"


def impossible_run(root: Path, name: str = "impossible") -> Path:
    """The clean run's figures are 200 W, 9000 MiB, 90 %; six readings in its window are impossible."""
    busy = [(T0 + 10 + 0.5 * k, "200.00", "9000", "90") for k in range(1, 81)]
    busy[10] = (busy[10][0], "-23.00", "9000", "90")
    busy[20] = (busy[20][0], "200.00", "9000", "5000")
    busy[30] = (busy[30][0], "nan", "9000", "90")
    busy[40] = (busy[40][0], "200.00", "99999", "90")  # more than the card's 11019 MiB
    busy.insert(50, (T0 + 12, "999.00", "9000", "90"))  # stamped before the previous sample: clock went back
    idle = [(T0 + 0.5 * k, "50.00", "5", "0") for k in range(20)] + [(T0 + 51 + k, "50.00", "5", "0") for k in range(9)]
    log = docker_log().replace("examples/sec: 80\n", "examples/sec: -40\n", 1)
    log = log.replace("global_step/sec: 10\n", "global_step/sec: nan\n", 1)
    return write_run(root, name, train_log=log, gpu_csv=capture_with_total(idle[:20] + busy + idle[20:]))


def test_impossible_readings_are_left_out_and_named(tmp_path: Path) -> None:
    impossible_run(tmp_path)
    row = summarize([tmp_path]).results[0].row
    assert row["power_w"] == pytest.approx(200.0) and row["power_w_max"] == pytest.approx(200.0)
    assert row["util_pct"] == pytest.approx(90.0) and row["memory_mib"] == pytest.approx(9000.0)
    assert row["examples_per_s"] == pytest.approx(80.0) and row["rate_readings"] == 3
    assert row["status"] == "partial"
    warnings = row["warnings"]
    assert "5 GPU reading(s) outside their physical range left out" in warnings, warnings
    assert "first at " in warnings and "sample 30 (GPU 0): power_w -23" in warnings, warnings
    assert "2 rate reading(s) outside their physical range" in warnings and "train.log:" in warnings, warnings
    assert "5 reading(s) in the training window were impossible" in warnings, warnings


def test_a_collector_that_died_leaves_a_partial_run_that_says_how_far_it_got(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path, "killed")
    meta = {"status": "running", "start": {"unix_s": T0}, "end": None, "exit_code": None, "labels": {}}
    (run / "meta.json").write_text(json.dumps(meta))
    row = summarize([tmp_path]).results[0].row
    assert row["status"] == "partial", row["warnings"]
    assert "collection unfinished (collector killed, or still running)" in row["warnings"]
    assert "the log reaches 55 s and the GPU capture 70 s" in row["warnings"], row["warnings"]


def mixed_archive(root: Path, copies: int = 1) -> list[str]:
    """Good demo runs (`copies` of each) and bad runs; returns the bad runs' names."""
    for copy in range(copies):
        for name in GOOD:
            shutil.copytree(DEMO / name, root / (f"{name}-copy{copy}" if copy else name))
    (synthetic_run(root, "bad-meta") / "meta.json").write_text('{"gpus": ["a"], "labels": {"model": [1]}}')
    impossible_run(root)
    synthetic_run(root, "boom")
    return ["bad-meta", "impossible", "boom"]


def raising_analyze_run(run, **kwargs):  # type: ignore[no-untyped-def]
    if run.name == "boom":
        raise pl.exceptions.ComputeError("injected: a bug while analysing one run")
    return analyze_run(run, **kwargs)


def analyze_with_a_bug(batch):  # type: ignore[no-untyped-def]
    """The worker's batch function, with a bug injected into one run's analysis (in this process or a worker)."""
    summary_module.analyze_run = raising_analyze_run
    return _REAL_ANALYZE(batch)


@pytest.mark.parametrize("workers, copies", [(1, 1), (2, 2)])
def test_bad_runs_get_their_own_rows_and_the_good_ones_stay_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, copies: int
) -> None:
    mixed_archive(tmp_path / "in", copies)
    before = digest(tmp_path / "in")
    monkeypatch.setattr(summary_module, "_analyze", analyze_with_a_bug)
    monkeypatch.setattr(summary_module, "analyze_run", raising_analyze_run)
    summary = summarize([tmp_path / "in"], workers=workers, dataset_dir=tmp_path / "data")
    assert len(summary.results) == 3 * copies + 3 and (copies == 1 or len(summary.results) > PARALLEL_FROM_RUNS)
    frame = summary.frame
    assert frame.height == len(summary.results)
    assert sorted(frame["path"]) == sorted(str(p) for p in (tmp_path / "in").iterdir())
    status = dict(zip(frame["run"], frame["status"], strict=True))
    assert all(status[name] == "ok" for name in status if name.split("-copy")[0] in GOOD), status
    assert status["bad-meta"] == "ok" and status["impossible"] == "partial" and status["boom"] == "error"
    boom = next(r for r in summary.results if r.row["run"] == "boom")
    assert boom.row["warnings"].startswith(f"{tmp_path / 'in' / 'boom'}: internal error while analysing it")
    assert "ComputeError: injected" in boom.row["warnings"] and "\n" not in boom.row["warnings"]
    assert boom.traceback is not None and "raising_analyze_run" in boom.traceback
    assert all(r.traceback is None for r in summary.results if r is not boom)
    assert summary.has_errors
    assert digest(tmp_path / "in") == before


def test_a_bug_in_a_batched_query_fails_only_its_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mixed_archive(tmp_path)
    from bertlogs import runs

    real = runs.parse_batch

    def overflowing(sources, fmt, **kwargs):  # type: ignore[no-untyped-def]
        if fmt.kind is Kind.TRAINING_LOG and any(s.path.parent.name == "bad-meta" for s in sources):
            raise OverflowError("injected: int too large to convert")
        return real(sources, fmt, **kwargs)

    monkeypatch.setattr(runs, "parse_batch", overflowing)
    results = summarize([tmp_path]).results  # 6 runs: batches of 2, "bad-meta" shares one with "boom"
    status = {r.row["run"]: r.row["status"] for r in results}
    assert status == dict.fromkeys(GOOD, "ok") | {"bad-meta": "error", "impossible": "partial", "boom": "ok"}
    bad = next(r.row["warnings"] for r in results if r.row["run"] == "bad-meta")
    reason = "internal error while reading it (OverflowError: injected: int too large to convert)"
    assert bad == f"{tmp_path / 'bad-meta' / 'train.log'}: {reason}"


def killing_analyze(batch):  # type: ignore[no-untyped-def]
    if any(job.run.name == "boom" for job in batch):
        os._exit(9)  # as the kernel's OOM killer would end it
    return _REAL_ANALYZE(batch)


def test_a_worker_that_dies_costs_only_its_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mixed_archive(tmp_path, copies=2)
    monkeypatch.setattr(summary_module, "_analyze", killing_analyze)
    results = summarize([tmp_path], workers=2).results
    status = {r.row["run"]: r.row["status"] for r in results}
    assert len(status) == 9 and status.pop("boom") == "error" and status.pop("impossible") == "partial"
    assert set(status.values()) == {"ok"}, status
    boom = next(r.row["warnings"] for r in results if r.row["run"] == "boom")
    assert boom == f"{tmp_path / 'boom'}: the worker process died (killed, or out of memory?) while analysing this run"


def test_workers_share_the_cores_among_their_polars_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker of two gets half the threads polars takes here (the workers fill the cores already); a user's own
    POLARS_MAX_THREADS is kept. (Counts that differ from polars' default on this machine.)"""
    threads = pl.thread_pool_size  # (what the worker reports: the patch below is this process's)
    cores = threads()
    monkeypatch.setattr(pl, "thread_pool_size", lambda: 2 * (cores + 1))
    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    with summary_module._pool(2) as pool:
        assert pool.submit(threads).result() == cores + 1
    monkeypatch.setenv("POLARS_MAX_THREADS", str(cores + 3))
    with summary_module._pool(2) as pool:
        assert pool.submit(threads).result() == cores + 3


def test_runs_of_the_same_name_under_two_roots_say_where_they_came_from(tmp_path: Path) -> None:
    for root in ("a", "b"):
        shutil.copytree(DEMO / "tiny-bs64", tmp_path / root / "x")
    frame = summarize([tmp_path / "a", tmp_path / "b"]).frame
    assert sorted(frame["path"]) == [str(tmp_path / "a" / "x"), str(tmp_path / "b" / "x")]


def _demo_runs_with_work(root: Path, capture_mb: int) -> list[Path]:
    """A few demo runs under `root`, the first holding a file of `capture_mb` (its size is what the work is
    estimated from; its NULs are refused at once, so it costs no time to read)."""
    runs = sorted(p for p in DEMO.iterdir() if p.is_dir())[:PARALLEL_FROM_RUNS]
    for run in runs:
        shutil.copytree(run, root / run.name)
    with (root / runs[0].name / "big.log").open("wb") as f:
        f.truncate(capture_mb << 20)
    return runs


@pytest.mark.parametrize(("capture_mb", "cores", "workers"), [(0, 3, None), (70, 3, 2), (350, 2, 2), (350, 64, 3)])
def test_workers_left_to_choose_start_for_enough_work_and_one_a_second_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capture_mb: int, cores: int, workers: int | None
) -> None:
    """Left to choose (`workers=None`, the CLI's default), the demo's small runs are analysed in one process
    (starting workers would cost more than their work); a big capture among them starts workers, one a core but
    at most one a second of the estimated work (about 10 ms a MB): on 64 cores, 3.7 s of work start 3, not 64."""
    runs = _demo_runs_with_work(tmp_path, capture_mb)
    monkeypatch.setattr(summary_module, "_cores", lambda: cores)
    started: list[int] = []

    def in_workers(batches, count):  # type: ignore[no-untyped-def]
        started.append(count)
        return map(summary_module._analyze, batches)  # (in this process: only the choice is under test)

    monkeypatch.setattr(summary_module, "_in_workers", in_workers)
    assert len(summarize([tmp_path], workers=None).results) == len(runs)
    assert started == ([workers] if workers else [])


def test_a_process_pinned_to_one_core_starts_no_workers(tmp_path: Path) -> None:
    """Pinned to one core (as `taskset` or a batch scheduler pins it), the analysis counts the cores it may use,
    not the machine's: enough work for workers is analysed in the one process. (On a machine of one core, both
    counts are one.)"""
    _demo_runs_with_work(tmp_path, 350)  # 3.7 s of estimated work
    code = f"""
import os, sys
os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}})  # before polars counts its threads
from bertlogs import summary
started = []
summary._in_workers = lambda batches, count: started.append(count) or map(summary._analyze, batches)
summary.summarize([__import__("pathlib").Path({str(tmp_path)!r})], workers=None)
print(started)
"""
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
