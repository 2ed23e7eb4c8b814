"""The report directory: bertlogs writes there only files it owns, and a new report replaces the old one whole.

Everything is written first into a staging directory inside the report directory (same file system), then
moved into place by renames; a manifest lists the files bertlogs owns there. Every path is checked before the
first move: a name held by anything but an owned regular file, or reached through a symbolic link, stops the
commit with nothing changed. Files that are not in the manifest are never overwritten, moved or deleted, and
no link is ever followed. An exclusive lock on the directory keeps two analyses from writing it at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from bertlogs.discovery import listed
from bertlogs.errors import OutputError, ReportWriteError

MANIFEST = ".bertlogs-manifest.json"
_STAGING_PREFIX = ".bertlogs-staging-"
# The only names bertlogs writes: a manifest naming anything else is not bertlogs', and is refused.
_OWNABLE = re.compile(
    r"summary\.(?:csv|json|md)|index\.html|plots/[^/\x00]+\.svg|data/(?:samples|facts)/part-[0-9]+(?:-[0-9]+)?\.parquet"
    r"|data/(?:samples|facts)/run=[^/\x00]+/part-0\.parquet"  # the layout before 0.2: replaced by the above
)


@contextlib.contextmanager
def staged_report(out: Path, *, inputs: list[Path], allow_existing: bool = False) -> Iterator[Path]:
    """A fresh staging directory for a report in `out`; when the block ends without an exception, what was
    written there replaces the previous report (stale files of it go), else it is thrown away.

    Raises:
        OutputError: `out` is not usable (a file, overlapping an input, a foreign non-empty directory, in use,
            a file of the user's in the way); nothing was changed.
        ReportWriteError: writing the reports failed (disk full, ...); the previous report is intact.
    """
    out = Path(os.path.abspath(out))
    _refuse_overlap(out, inputs)
    with _locked(out):
        owned = _claim(out, allow_existing)
        try:
            staging = Path(_mkdir_staging(out))
        except OSError as exc:
            raise OutputError(f"--out {out}: cannot write there: {exc.strerror or exc}") from exc
        try:
            yield staging
            _commit(out, staging, owned)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise ReportWriteError(f"{out}: cannot write the reports: {exc.strerror or exc}{where}") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _refuse_overlap(out: Path, inputs: list[Path]) -> None:
    """The report directory may not equal, contain or lie inside an input (a file input: its folder)."""
    target = out.resolve()
    for path in inputs:
        root = path.resolve()
        if not root.is_dir():
            root = root.parent
        if target == root or root in target.parents or target in root.parents:
            raise OutputError(f"--out {out} overlaps the input {path}: analyze never writes among its inputs")


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """`out` created if missing, and held under an exclusive lock (flock on the directory itself)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)  # `out` itself may be a link: the user named it
    except OSError as exc:
        raise OutputError(f"--out {out}: not a directory bertlogs can write: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"--out {out}: another bertlogs analyze is writing there") from None
        yield
    finally:
        os.close(fd)


def _claim(out: Path, allow_existing: bool) -> set[str]:
    """The files bertlogs owns in `out`, from its manifest.

    Raises:
        OutputError: a non-empty directory bertlogs did not make (without allow_existing), or a bad manifest.
    """
    manifest = out / MANIFEST
    if os.path.lexists(manifest):
        if not stat.S_ISREG(os.lstat(manifest).st_mode):
            raise OutputError(f"{manifest}: not a regular file: remove it, or choose another --out")
        return _read_manifest(manifest)
    foreign = [p.name for p in out.iterdir() if not p.name.startswith(_STAGING_PREFIX)]
    if foreign and not allow_existing:
        raise OutputError(
            f"--out {out}: not empty and not a bertlogs report (no {MANIFEST}; it holds {listed(foreign)}): "
            "choose another directory, or pass --allow-existing to add the reports beside those files "
            "(none of them is overwritten or deleted)"
        )
    return set()


def _read_manifest(manifest: Path) -> set[str]:
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"{manifest}: damaged bertlogs manifest ({exc}): remove it to start afresh") from exc
    if not isinstance(files, list) or not all(isinstance(f, str) and _OWNABLE.fullmatch(f) for f in files):
        raise OutputError(f"{manifest}: names files bertlogs never writes: remove it to start afresh")
    return set(files)


def _mkdir_staging(out: Path) -> str:
    for stale in out.glob(_STAGING_PREFIX + "*"):  # left by a run that crashed: the lock says none is running
        if stale.name.removeprefix(_STAGING_PREFIX).isdigit() and stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    staging = out / f"{_STAGING_PREFIX}{os.getpid()}"
    staging.mkdir()
    return str(staging)


def _commit(out: Path, staging: Path, owned: set[str]) -> None:
    """Move the staged files into place; then drop the previous report's files that the new one lacks."""
    new = {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
    blocked = [f for f in sorted(new | owned) if _blocked(out, f, owned=f in owned)]
    if blocked:
        raise OutputError(
            f"--out {out}: files or links of the user's are in the way: {listed(blocked)}; nothing was changed"
        )
    # the manifest names old and new files while they are moved: a crash then leaves nothing unowned
    _write_manifest(out, staging, owned | new)
    for name in sorted(new):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, out / name)
    _write_manifest(out, staging, new)
    for name in sorted(owned - new):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
        _remove_empty_parents(out, (out / name).parent)


def _blocked(out: Path, name: str, *, owned: bool) -> bool:
    """Writing or deleting `name` would go through a link, or replace what is not an owned regular file."""
    path = out
    parts = PurePosixPath(name).parts
    for i, part in enumerate(parts):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return False
        last = i == len(parts) - 1
        if stat.S_ISLNK(mode) or (not last and not stat.S_ISDIR(mode)):
            return True
        if last:
            return not (owned and stat.S_ISREG(mode))
    return False


def _write_manifest(out: Path, staging: Path, files: set[str]) -> None:
    tmp = staging / MANIFEST  # inside the staging directory: no name of the user's is ever written through
    tmp.write_text(json.dumps({"written_by": "bertlogs", "files": sorted(files)}, indent=1) + "\n")
    os.replace(tmp, out / MANIFEST)


def _remove_empty_parents(out: Path, directory: Path) -> None:
    while directory != out and out in directory.parents:
        try:
            directory.rmdir()
        except OSError:  # not empty: it holds other files
            return
        directory = directory.parent
