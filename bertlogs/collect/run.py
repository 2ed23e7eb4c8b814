"""Collecting one run: a Docker container by name, or a local command."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bertlogs import __version__
from bertlogs.collect.archive import LogWriter, create_run_dir, default_run_id, rfc3339_now, write_meta
from bertlogs.collect.lines import LineReader, StampMerger, split_warning
from bertlogs.collect.sampler import GPU_CSV_COLUMNS, Sampler
from bertlogs.errors import CollectError, CollectWriteError, NotFoundError

Status = Callable[[str], None]
# Docker's rule for names, and hex ids: never an option (`-x`), never a path
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass
class Options:
    out: Path = Path("raw")
    run_id: str | None = None
    interval_s: float = 0.1
    gpus: list[int] | None = None
    wait_s: float = 120.0
    labels: dict[str, str] = field(default_factory=dict)
    tfevents: Path | None = None
    kill_grace_s: float = 10.0  # a command still running this long after SIGINT/SIGTERM is killed


@dataclass
class Result:
    run_dir: Path
    exit_code: int
    status: str
    warnings: list[str]


def open_source(gpus: list[int] | None, interval_s: float, warnings: list[str]) -> Any:
    """NVML, else one long-lived nvidia-smi, else None (the log is collected alone)."""
    try:
        from bertlogs.collect.nvml import NvmlSource

        return NvmlSource(gpus)
    except Exception as exc:  # any failure to start NVML means: try the fallback
        nvml_reason = f"{type(exc).__name__}: {exc}"
    if shutil.which("nvidia-smi"):
        try:
            from bertlogs.collect.smi import SmiSource

            warnings.append(f"NVML unavailable ({nvml_reason}); sampling through one nvidia-smi process")
            return SmiSource(gpus, interval_s)
        except OSError as exc:
            nvml_reason += f"; nvidia-smi: {exc}"
    warnings.append(f"no GPU telemetry: NVML unavailable ({nvml_reason}) and no working nvidia-smi; log only")
    return None


@contextmanager
def _session(options: Options, source_facts: dict[str, Any], status: Status | None) -> Iterator[_Session]:
    session = _Session(options, source_facts, status)
    try:
        yield session
    finally:
        session.finish()


class _Session:
    """Run directory, meta.json, train.log and the sampler of one collection.

    A write error (full disk, read-only place) anywhere ends it: `finish` writes meta.json as `failed` with the
    reason where it can (into space reserved at the start) and raises CollectError.
    """

    def __init__(self, options: Options, source_facts: dict[str, Any], status: Status | None) -> None:
        self.options, self.status_line = options, status
        start_wall, self.start_mono = time.time(), time.monotonic_ns()
        run_id = options.run_id or default_run_id(options.labels, start_wall)
        self.run_dir = create_run_dir(options.out, run_id, suffixed=options.run_id is None)
        self.warnings: list[str] = []
        self.log: LogWriter | None = None
        self.gpu_file: IO[str] | None = None
        self.source: Any = None
        self.sampler: Sampler | None = None
        self.meta: dict[str, Any] = {}
        self.error: str | None = None
        self.exit_code: int | None = None
        self.final_status = "interrupted"
        try:
            self._start(source_facts, start_wall)
        except OSError as exc:
            self.error = f"{self.run_dir}: cannot write: {exc.strerror or exc}"
            self.finish()

    def _start(self, source_facts: dict[str, Any], start_wall: float) -> None:
        options = self.options
        self.log = LogWriter(self.run_dir / "train.log")
        self.gpu_file = (self.run_dir / "gpu.csv").open("a", encoding="utf-8")
        self.gpu_file.write(",".join(GPU_CSV_COLUMNS) + "\n")
        gpus = options.gpus if options.gpus is not None else source_facts.pop("gpus_requested", None)
        self.source = open_source(gpus, options.interval_s, self.warnings)
        self.sampler = Sampler(self.source.read, self.gpu_file, options.interval_s) if self.source else None
        self.meta = {
            "bertlogs_version": __version__,
            "host": socket.gethostname(),
            "utc_offset_s": time.localtime().tm_gmtoff,
            "labels": options.labels,
            "source": source_facts,
            "gpus": self.source.describe() if self.source else [],
            "sampler": {"source": self.source.name if self.source else None, "interval_s": options.interval_s},
            "start": {"unix_s": start_wall, "mono_ns": self.start_mono},
            "end": None,
            "exit_code": None,
            "status": "running",
        }
        write_meta(self.run_dir, self.meta, reserve=True)
        if self.sampler:
            self.sampler.start()

    def write_error(self) -> str | None:
        """The first write error of the log or the sampler so far."""
        return self.error or (self.log and self.log.error) or (self.sampler and self.sampler.error) or None

    def tick(self) -> None:
        """Once a second or so: flush the log, refresh the status line."""
        assert self.log is not None
        self.log.flush()
        if self.status_line is None:
            return
        elapsed = (time.monotonic_ns() - self.start_mono) / 1e9
        parts = [f"{elapsed:6.0f} s", f"{self.log.lines} log lines"]
        if self.sampler:
            latest = self.sampler.latest
            power = sum(r.get("power_w") or 0 for r in latest)
            util = max((r.get("util_pct") or 0 for r in latest), default=0)
            memory = sum(r.get("memory_used_mib") or 0 for r in latest)
            parts += [f"{self.sampler.samples} samples", f"{power:.0f} W", f"{util:.0f} %", f"{memory:.0f} MiB"]
        self.status_line(" | ".join(parts))

    def finish(self) -> None:
        """Close everything and write the final meta.json.

        Raises:
            CollectError: something could not be written (the reason is in meta.json where it could be).
        """
        self._close_writers()
        if self.options.tfevents is not None and self.error is None:
            self._copy_events(self.options.tfevents)
        if self.error:
            self.final_status = "failed"
            self.warnings.append(f"collect stopped: {self.error}")
        self.meta.update(
            end={"unix_s": time.time(), "mono_ns": time.monotonic_ns()},
            exit_code=self.exit_code,
            status=self.final_status,
            samples=self.sampler.samples if self.sampler else 0,
            skipped_ticks=self.sampler.skipped if self.sampler else 0,
            log_lines=self.log.lines if self.log else 0,
            warnings=self.warnings,
        )
        try:
            write_meta(self.run_dir, self.meta, reserve=False)
        except OSError as exc:
            reason = f"meta.json could not be updated ({exc.strerror or exc})"
            self.error = f"{self.error}; {reason}" if self.error else f"{self.run_dir}: {reason}"
        if self.error:
            raise CollectWriteError(f"{self.error}; what was written is kept in {self.run_dir}")

    def _close_writers(self) -> None:
        if self.sampler:
            self.sampler.stop()
        if self.source:
            self.source.close()
            self.warnings += self.source.warnings
        if self.gpu_file:
            try:
                self.gpu_file.close()
            except OSError as exc:
                self.error = self.error or f"{self.gpu_file.name}: cannot write: {exc.strerror or exc}"
        if self.log:
            self.log.close()
        self.error = self.write_error()

    def _copy_events(self, directory: Path) -> None:
        found = sorted(directory.glob("**/events.out.tfevents.*")) if directory.is_dir() else []
        if not found:
            self.warnings.append(f"{directory}: no TensorBoard event files to copy")
            return
        try:
            for path in found:  # where each lies is kept: an `eval/` directory says its scalars are evaluations
                copy = self.run_dir / "events" / path.relative_to(directory)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy)
        except OSError as exc:
            self.error = f"{self.run_dir / 'events'}: cannot write: {exc.strerror or exc}"


@contextmanager
def _signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    previous = {s: signal.signal(s, lambda signum, _frame: on_signal(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Command:
    """The local command in a process group of its own: a signal reaches it (and its children) once, from
    collect; if the group is still there `grace_s` after the first signal, it is killed (SIGKILL)."""

    def __init__(self, argv: list[str], grace_s: float) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self.grace_s = grace_s
        self.kill_at: float | None = None
        self.killed = False

    def signal(self, signum: int) -> None:
        self._to_group(signum)
        if self.kill_at is None:
            self.kill_at = time.monotonic() + self.grace_s

    def running(self) -> bool:
        if self.process.poll() is not None:
            return False
        if self.kill_at is not None and time.monotonic() >= self.kill_at and not self.killed:
            self.killed = True
            self._to_group(signal.SIGKILL)
        return True

    def _to_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it has just exited
            os.killpg(self.process.pid, signum)


def _pump(lines: LineReader, log: LogWriter) -> None:
    for line in lines:
        log.write(f"{rfc3339_now()} {line}")


def collect_command(argv: list[str], options: Options, status: Status | None = None) -> Result:
    """Run `argv`, stamping each line of its merged stdout/stderr on arrival; SIGINT/SIGTERM are forwarded,
    and a command still running `options.kill_grace_s` after the first is killed.

    Raises:
        CollectError: the command cannot be started, the run directory exists, or the archive cannot be written.
    """
    interrupted: list[int] = []
    command: _Command | None = None

    def forward(signum: int) -> None:
        interrupted.append(signum)
        if command is not None:
            command.signal(signum)

    with _signals(forward), _session(options, {"kind": "command", "argv": argv}, status) as session:
        try:
            command = _Command(argv, options.kill_grace_s)
        except OSError as exc:
            session.final_status = "failed"
            raise CollectError(f"{argv[0]}: cannot start: {exc.strerror or exc}") from exc
        if interrupted:  # a signal before the command existed
            command.signal(interrupted[0])
        _follow(command, session)
        code = command.process.returncode
        session.exit_code = code if code >= 0 else 128 - code
        session.final_status = "interrupted" if interrupted else ("ok" if code == 0 else "failed")
    return Result(session.run_dir, session.exit_code, session.final_status, session.warnings)


def _follow(command: _Command, session: _Session) -> None:
    """Record the command's output until it ends (stopping it, the way Ctrl-C would, if the archive cannot
    be written)."""
    assert command.process.stdout is not None and session.log is not None
    lines = LineReader(command.process.stdout)
    reader = threading.Thread(target=_pump, args=(lines, session.log), daemon=True)
    reader.start()
    while command.running():
        if session.write_error() and command.kill_at is None:
            command.signal(signal.SIGTERM)
        session.tick()
        time.sleep(0.2)
    reader.join(5)
    session.warnings += split_warning(lines.split_lines)
    if command.killed:
        session.warnings.append(f"the command was still running {command.grace_s:g} s after the signal: killed")


def _docker(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise CollectError("docker: command not found (install Docker, or collect a local command)") from None


def wait_for_container(name: str, wait_s: float) -> dict[str, Any]:
    """`docker inspect` of the container once it exists.

    Raises:
        CollectError: `name` is not a container name or id (one that starts with `-` would be an option).
        NotFoundError: it did not appear within `wait_s`.
    """
    if not _CONTAINER_NAME.fullmatch(name):
        raise CollectError(f"{name!r}: not a container name or id (letters, digits, _ . -, not starting with - . _)")
    deadline = time.monotonic() + wait_s
    while True:
        found = _docker("inspect", "--type", "container", "--", name)
        if found.returncode == 0:
            return json.loads(found.stdout)[0]
        if time.monotonic() >= deadline:
            reason = found.stderr.strip().splitlines()[-1] if found.stderr.strip() else "no such container"
            raise NotFoundError(f"container {name!r} did not appear within {wait_s:g} s ({reason})")
        time.sleep(0.25)


def _container_facts(inspect: dict[str, Any]) -> dict[str, Any]:
    state, config, host = inspect.get("State", {}), inspect.get("Config", {}), inspect.get("HostConfig", {})
    requests = host.get("DeviceRequests") or []
    ids = [int(i) for r in requests for i in (r.get("DeviceIDs") or []) if str(i).isdigit()]
    return {
        "kind": "docker",
        "container": inspect.get("Name", "").lstrip("/"),
        "id": inspect.get("Id"),
        "image": config.get("Image"),
        "command": [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])],
        "device_requests": requests,
        "gpus_requested": ids or None,
        "started_at": state.get("StartedAt"),
    }


def collect_docker(name: str, options: Options, status: Status | None = None) -> Result:
    """Wait for container `name`, follow its log (stdout and stderr, stamped by Docker, written in stamp
    order), sample until it exits.

    Raises:
        NotFoundError: the container never appeared.
        CollectError: Docker is missing, a bad name, the run directory exists, or the archive cannot be written.
    """
    inspect = wait_for_container(name, options.wait_s)
    facts = _container_facts(inspect)
    with _session(options, facts, status) as session:
        assert session.log is not None
        merger = StampMerger(session.log.write)
        logs = subprocess.Popen(
            ["docker", "logs", "--follow", "--timestamps", "--", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        readers = [threading.Thread(target=merger.feed, args=(s,), daemon=True) for s in (logs.stdout, logs.stderr)]
        for reader in readers:
            reader.start()
        waiter = subprocess.Popen(["docker", "wait", "--", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        interrupted: list[int] = []
        with _signals(interrupted.append):
            while waiter.poll() is None and not interrupted and not session.write_error():
                merger.release()
                session.tick()
                time.sleep(0.2)
        if waiter.poll() is None:
            waiter.terminate()
            logs.terminate()
        for reader in readers:
            reader.join(10)
        logs.wait(10)
        merger.release(everything=True)
        session.warnings += split_warning(merger.split_lines)
        _finish_container(session, name, facts, interrupted=bool(interrupted))
    return Result(session.run_dir, session.exit_code or 0, session.final_status, session.warnings)


def _finish_container(session: _Session, name: str, facts: dict[str, Any], interrupted: bool) -> None:
    final = _docker("inspect", "--type", "container", "--", name)
    state = json.loads(final.stdout)[0].get("State", {}) if final.returncode == 0 else {}
    facts.update(finished_at=state.get("FinishedAt"), oom_killed=state.get("OOMKilled"))
    code = int(state.get("ExitCode", 1)) if not interrupted else 130
    if state.get("OOMKilled"):
        session.warnings.append("the container was killed for running out of host memory (OOMKilled)")
    session.exit_code = code
    session.final_status = "interrupted" if interrupted else ("ok" if code == 0 else "failed")
