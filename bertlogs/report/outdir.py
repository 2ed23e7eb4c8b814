"""The report directory: bertlogs writes there only files it owns, and a new report replaces the old one whole.

Everything is written first into a staging directory inside the report directory (same file system), then
moved into place by renames; a manifest lists the files bertlogs owns there. A crash while writing leaves the
previous report as it was (and a staging directory that the next run removes); files that are not in the
manifest are never overwritten, moved or deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from bertlogs.errors import OutputError, ReportWriteError

MANIFEST = ".bertlogs-manifest.json"
_STAGING_PREFIX = ".bertlogs-staging-"


@contextlib.contextmanager
def staged_report(out: Path, *, inputs: list[Path], allow_existing: bool = False) -> Iterator[Path]:
    """A fresh staging directory for a report in `out`; when the block ends without an exception, what was
    written there replaces the previous report (stale files of it go), else it is thrown away.

    Raises:
        OutputError: `out` is not usable (a file, inside an input, a foreign non-empty directory, unwritable).
        ReportWriteError: writing or moving the reports failed (disk full, ...); the previous report is intact.
    """
    out = Path(os.path.abspath(out))
    _refuse_overlap(out, inputs)
    owned = _claim(out, allow_existing)
    try:
        staging = Path(_mkdir_staging(out))
    except OSError as exc:
        raise OutputError(f"{out}: cannot write there: {exc.strerror or exc}") from exc
    try:
        yield staging
        _commit(out, staging, owned)
    except OSError as exc:
        raise ReportWriteError(f"{out}: cannot write the reports: {exc.strerror or exc}") from exc
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


def _claim(out: Path, allow_existing: bool) -> set[str]:
    """The files bertlogs owns in `out` (from its manifest); `out` is created when missing.

    Raises:
        OutputError: not a directory, or a non-empty directory bertlogs did not make (without allow_existing).
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"--out {out}: exists and is not a directory") from None
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot create it: {exc.strerror or exc}") from exc
    manifest = out / MANIFEST
    if manifest.is_file() and not manifest.is_symlink():
        return _read_manifest(manifest)
    foreign = [p.name for p in out.iterdir() if not p.name.startswith(_STAGING_PREFIX)]
    if foreign and not allow_existing:
        raise OutputError(
            f"--out {out}: not empty and not a bertlogs report (no {MANIFEST}; it holds {_some(foreign)}): "
            "choose another directory, or pass --allow-existing to add the reports beside those files "
            "(none of them is overwritten or deleted)"
        )
    return set()


def _read_manifest(manifest: Path) -> set[str]:
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        owned = {str(f) for f in files}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"{manifest}: damaged bertlogs manifest ({exc}): remove it to start afresh") from exc
    # a manifest can only name plain relative paths below the report directory
    bad = [f for f in owned if PurePosixPath(f).is_absolute() or ".." in PurePosixPath(f).parts or not f]
    if bad:
        raise OutputError(f"{manifest}: names paths outside the report directory: {_some(bad)}")
    return owned


def _mkdir_staging(out: Path) -> str:
    for stale in out.glob(_STAGING_PREFIX + "*"):  # left by a run that crashed, unless it is still running
        pid = stale.name.removeprefix(_STAGING_PREFIX)
        if pid.isdigit() and not _alive(int(pid)) and stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    staging = out / f"{_STAGING_PREFIX}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return str(staging)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _commit(out: Path, staging: Path, owned: set[str]) -> None:
    """Move the staged files into place; then drop the previous report's files that the new one lacks."""
    new = {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
    blocked = [f for f in sorted(new) if f not in owned and _blocked(out, f)]
    if blocked:
        raise OutputError(
            f"--out {out}: would overwrite files bertlogs did not write: {_some(blocked)}; nothing was changed"
        )
    # the manifest names old and new files while they are moved: a crash then leaves nothing unowned
    _write_manifest(out, owned | new)
    for name in sorted(new):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, out / name)
    _write_manifest(out, new)
    for name in sorted(owned - new):
        stale = out / name
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            stale.unlink()
        _remove_empty_parents(out, stale.parent)


def _blocked(out: Path, name: str) -> bool:
    """Writing `name` would replace a foreign file or go through a foreign link or file."""
    path = out
    for part in PurePosixPath(name).parts:
        path = path / part
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            return True
    return False


def _write_manifest(out: Path, files: set[str]) -> None:
    tmp = out / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"written_by": "bertlogs", "files": sorted(files)}, indent=1) + "\n")
    os.replace(tmp, out / MANIFEST)


def _remove_empty_parents(out: Path, directory: Path) -> None:
    while directory != out and out in directory.parents:
        try:
            directory.rmdir()
        except OSError:  # not empty: it holds other files
            return
        directory = directory.parent


def _some(names: list[str], shown: int = 3) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
