"""The `bertlogs` command: each subcommand checks its options, makes one library call and renders."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from bertlogs.allocator import reuse_freed_memory
from bertlogs.errors import BertlogsError, ExitCode, one_line
from bertlogs.report.escape import terminal_safe

if TYPE_CHECKING:
    from bertlogs.parsers import Parsed
    from bertlogs.parsers.registry import Format
    from bertlogs.summary import Sink, Summary

app = typer.Typer(
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    help="Turn BERT fine-tuning logs and GPU telemetry into a trustworthy results table.",
)
err = Console(stderr=True, soft_wrap=True)  # messages are never wrapped: they are grepped
_state = {"debug": False}
_NOTES_SHOWN = 5  # notes on files outside runs printed; summary.json has them all
T = TypeVar("T")


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option(help="Show tracebacks instead of one-line errors.")] = False,
) -> None:
    _state["debug"] = debug


def _utc_offset(text: str | None) -> float | None:
    """'+01:00', '-5', '5.5' -> seconds east of UTC."""
    if text is None:
        return None
    m = re.fullmatch(r"([+-]?)(\d{1,2})(?::?(\d\d))?|([+-]?\d+(?:\.\d+)?)", text.strip())
    if not m:
        raise typer.BadParameter(f"{text!r}: expected hours east of UTC such as +01:00, -5 or 5.5")
    if m.group(4):
        return float(m.group(4)) * 3600
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60)


def _gpu_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected GPU indices such as 0 or 0,1") from None


UtcOffset = Annotated[
    str | None,
    typer.Option(
        "--utc-offset",
        help="Zone of local stamps (absl, nvidia-smi CSV), e.g. +01:00. Default: meta.json, else UTC.",
    ),
]
Year = Annotated[
    int | None, typer.Option(help="Year for absl stamps (they carry none) when nothing else dates the log.")
]


_OUTPUTS = ("csv", "json")
InputFormat = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="Read files as this format instead of the one their content shows (analyze: files of the same kind).",
    ),
]


def _no_blas_threads() -> None:
    """For `analyze` and `parse`, called before numpy is first imported: numpy's OpenBLAS would start a thread a
    core that spins for about 0.1 CPU-s after the import, in this process and in each analysis worker (which
    inherit the environment), and bertlogs uses no BLAS (`metrics` sums with numpy). A value of the user's is
    kept. Not for `collect`: the training command it runs inherits the environment, and keeps its own."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@app.command()
def parse(
    file: Annotated[Path, typer.Argument(help="A training log, eval_results.txt or GPU capture (plain or .gz).")],
    input_format: InputFormat = None,
    to: Annotated[str, typer.Option("--to", help="Output: csv or json.")] = "csv",
    utc_offset: UtcOffset = None,
    year: Year = None,
) -> None:
    """Print what the parser extracted from one file, one row per fact or per GPU sample.

    Example: bertlogs parse fixtures/cola-sweep/tiny-bs32/run_classifier.log
    """
    _no_blas_threads()
    from bertlogs.discovery import require_existing
    from bertlogs.parsers import open_file, parse_chunks, parse_source
    from bertlogs.parsers.registry import Kind

    fmt = _input_format(input_format)
    if to not in _OUTPUTS:
        raise typer.BadParameter(f"{to!r}: expected csv or json", param_hint="--to")
    offset_s = _utc_offset(utc_offset) or 0.0
    with _reported():
        require_existing([file])
        source, found = open_file(file, fmt)
        if found.kind is Kind.GPU_CAPTURE:  # printed a chunk at a time: a capture of any size, in bounded memory
            parsed = parse_chunks(source, found, utc_offset_s=offset_s)
        else:
            parsed = iter([parse_source(source, found, year=year, utc_offset_s=offset_s)])
        rows, warnings = _printed(parsed, to)
    err.print(f"{file}: {found}, {rows} rows", style="dim", markup=False)
    for warning in warnings:
        err.print(terminal_safe(warning), style="yellow", markup=False)


def _printed(parsed: Iterator[Parsed], to: str) -> tuple[int, list[str]]:
    """Each chunk's rows written to stdout as they come (one CSV header, one JSON array, closed even when a
    chunk fails), and how many rows and warnings there were.

    Raises:
        ParseError: a chunk cannot be parsed (what came before it is printed).
    """
    rows, warnings = 0, list[str]()
    try:
        for i, chunk in enumerate(parsed):
            frame = chunk.frame
            if to == "csv" and (i == 0 or frame.height):
                sys.stdout.write(frame.write_csv(include_header=i == 0))
            elif to == "json" and frame.height:
                sys.stdout.write(("," if rows else "[") + frame.write_json()[1:-1])
            rows, warnings = rows + frame.height, warnings + chunk.warnings
    finally:
        if to == "json":
            sys.stdout.write("]\n" if rows else "[]\n")
    return rows, warnings


def _input_format(name: str | None) -> Format | None:
    """The format named by --format; an output name (the option's meaning before) gets a hint to --to."""
    from bertlogs.parsers.registry import READ, Format

    if name is None:
        return None
    try:
        return Format(name)
    except ValueError:
        hint = f"; the output is chosen with --to {name}" if name in _OUTPUTS else ""
        raise typer.BadParameter(
            f"{name!r}: not a format bertlogs reads ({READ}){hint}", param_hint="--format"
        ) from None


Out = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write summary.csv/.json/.md, index.html, plots/, data/ (Parquet).")
]
Period = Annotated[float | None, typer.Option(help="Real sampling period (s) of captures without a clock.")]
Gpus = Annotated[
    str | None, typer.Option(help="GPU indices the runs used, e.g. 0,1 (default: meta.json, else the active ones).")
]
AllowExisting = Annotated[
    bool,
    typer.Option(
        help="Write into an existing directory that bertlogs did not make; none of its files is overwritten or deleted."
    ),
]
Jobs = Annotated[
    int,
    typer.Option(
        help="Worker processes (default: where the runs are enough work, one per core this process may use, at most "
        "one a second of their estimated work; else none)."
    ),
]


# long: the signature declares the command's options, one per line
@app.command()
def analyze(
    paths: Annotated[list[Path], typer.Argument(help="Archive roots, run directories or single files.")],
    out: Out = None,
    period: Period = None,
    gpus: Gpus = None,
    plots: Annotated[bool, typer.Option(help="Write an SVG plot per run under OUT/plots.")] = True,
    allow_existing: AllowExisting = False,
    jobs: Jobs = 0,
    input_format: InputFormat = None,
    utc_offset: UtcOffset = None,
    year: Year = None,
) -> None:
    """Analyse runs and print the results table; with --out, also write the reports and the Parquet dataset.

    Example: bertlogs analyze fixtures/cola-sweep --out report
    """
    _no_blas_threads()
    from bertlogs.parsers.registry import Kind
    from bertlogs.summary import summarize

    if jobs < 0:
        raise typer.BadParameter(
            "must be 0 (the default: chosen from the cores and the work) or more", param_hint="--jobs"
        )
    if period is not None and period <= 0:
        raise typer.BadParameter("must be positive", param_hint="--period")
    gpu_list, offset_s, workers = _gpu_list(gpus), _utc_offset(utc_offset), jobs or None
    fmt = _input_format(input_format)
    if fmt is not None and fmt.kind is Kind.RUN_RECORD:  # a run has many records of several formats
        raise typer.BadParameter(
            f"{fmt} is a run record, read by its content; give a training-log or GPU-capture format",
            param_hint="--format",
        )

    def work(dataset_dir: Path | None, sink: Sink | None) -> Summary:
        return _with_progress(
            lambda tick: summarize(
                paths,
                period_s=period,
                gpus=gpu_list,
                year=year,
                utc_offset_s=offset_s,
                fmt=fmt,
                progress=tick,
                dataset_dir=dataset_dir,
                workers=workers,
                sink=sink,
            )
        )

    with _reported():
        summary, wrote = (work(None, None), None) if out is None else _written(out, paths, work, plots, allow_existing)
    _render(summary, wrote)
    if summary.has_errors:
        raise typer.Exit(ExitCode.RUN_ERRORS)


def _written(
    out: Path, paths: list[Path], work: Callable[[Path, Sink], Summary], plots: bool, allow_existing: bool
) -> tuple[Summary, str]:
    """The summary, its reports and its dataset written into `out` (staged: see `outdir.staged_report`)."""
    from bertlogs.discovery import require_existing
    from bertlogs.report.outdir import staged_report
    from bertlogs.report.write import Drawings, write_reports

    require_existing(paths)  # a missing input is "not found", whatever --out says
    with (
        staged_report(out, inputs=paths, allow_existing=allow_existing) as staging,
        Drawings(staging, plots=plots) as drawings,  # each run drawn as its result arrives
    ):
        summary = work(staging / "data", drawings)
        write_reports(summary, staging, drawings)
    return summary, f"wrote {out}/: summary.csv, summary.json, summary.md, index.html, data/{', plots/' * plots}"


def _render(summary: Summary, wrote: str | None) -> None:
    from bertlogs.report.tables import print_table

    print_table(summary, Console(width=max(Console().width, 160)))
    if summary.period_note:
        err.print(summary.period_note, style="dim", markup=False)
    if wrote is not None:
        err.print(terminal_safe(wrote), markup=False)
    for note in summary.skipped[:_NOTES_SHOWN]:
        err.print(terminal_safe(note), style="dim", markup=False)
    if len(summary.skipped) > _NOTES_SHOWN:
        more = len(summary.skipped) - _NOTES_SHOWN
        err.print(f"... and {more} more not read (summary.json lists them all)", style="dim")
    for problem in summary.unreadable:
        err.print(terminal_safe(problem), style="red", markup=False)
    if _state["debug"]:
        for result in summary.results:
            if result.traceback:
                err.print(terminal_safe(f"{result.row.run}:\n{result.traceback}"), markup=False)


# long: the signature declares the command's options, one per line
@app.command(context_settings={"allow_interspersed_args": False})
def collect(
    command: Annotated[list[str] | None, typer.Argument(help="A local command to run (after --).")] = None,
    docker: Annotated[str | None, typer.Option(help="Follow this container (waits for it to appear).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Raw archive root.")] = Path("raw"),
    run_id: Annotated[str | None, typer.Option(help="Run directory name (default: labels + UTC start time).")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between GPU samples.")] = 0.1,
    gpu: Annotated[str | None, typer.Option(help="GPU indices, e.g. 0,1 (default: the container's, else all).")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the container to appear.")] = 120.0,
    label: Annotated[list[str] | None, typer.Option(help="key=value, repeatable: model=Tiny batch_size=32.")] = None,
    tfevents: Annotated[Path | None, typer.Option(help="Copy TensorBoard event files from here at the end.")] = None,
) -> None:
    """Record a training run's log (every line stamped) and its GPU telemetry into OUT/<run-id>/.

    Examples:
      bertlogs collect --docker bert-tiny-32 --label model=Tiny --label batch_size=32
      bertlogs collect --label model=Tiny -- python run_classifier.py --train_batch_size=32
    """
    from bertlogs.collect.run import Options, collect_command, collect_docker

    if (docker is None) == (not command):
        raise typer.BadParameter("give either --docker NAME or a command after --")
    if not 0.01 <= interval <= 60:
        raise typer.BadParameter("must be between 0.01 and 60 seconds", param_hint="--interval")
    labels = _labels(label or [])
    options = Options(
        out=out, run_id=run_id, interval_s=interval, gpus=_gpu_list(gpu), wait_s=wait, labels=labels, tfevents=tfevents
    )
    line = _status_line if err.is_terminal else None
    if docker is not None:
        err.print(f"waiting for container {docker!r} (up to {wait:g} s)", style="dim", markup=False)
        with _reported():
            result = collect_docker(docker, options, line)
    else:
        with _reported():
            result = collect_command(command or [], options, line)
    if err.is_terminal:
        err.file.write("\n")
    for warning in result.warnings:
        err.print(terminal_safe(warning), style="yellow", markup=False)
    err.print(f"{result.run_dir}: {result.status}, exit code {result.exit_code}", markup=False)
    raise typer.Exit(result.exit_code)


def _labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r}: expected key=value", param_hint="--label")
        labels[key] = value
    return labels


def _status_line(text: str) -> None:
    err.file.write(f"\r\x1b[2K{text}")
    err.file.flush()


def _with_progress(work: Callable[[Callable[[int, int, str], None] | None], T]) -> T:
    """A transient progress bar on stderr, on a terminal only."""
    if not err.is_terminal:
        return work(None)
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("analysing", total=None)
        return work(lambda done, total, name: bar.update(task, completed=done, total=total, description=name))


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """The library's errors become one line on stderr and their exit code; anything else is a bug: one line
    and exit code INTERNAL (the traceback with --debug)."""
    try:
        yield
    except BertlogsError as exc:
        if _state["debug"]:
            raise
        err.print(f"bertlogs: error: {terminal_safe(str(exc))}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except Exception as exc:
        if _state["debug"]:
            raise
        err.print(
            f"bertlogs: internal error (a bug, please report it with the output of --debug): "
            f"{terminal_safe(one_line(exc))}",
            style="red",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(ExitCode.INTERNAL) from None


def main() -> None:
    """The console script. Once its output is flushed it leaves through `os._exit`: the interpreter's own
    teardown would free a big analysis object by object (0.1 s on a 150 MB capture) with every file closed
    and every worker joined already."""
    reuse_freed_memory()  # this process's allocator only: a command `collect` runs keeps its own
    try:
        app()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        err.print(code, markup=False)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a closed pipe (`bertlogs analyze ... | head`)
            stream.flush()
    os._exit(code or 0)
