"""Finding the runs under the input paths, literally and within bounds.

A run is a directory: the regular files directly inside it, every one of which is read and judged by its
content (a file that is none of bertlogs' formats is named in the run's warnings). Runs are the deepest
directories that hold a file that could be data, i.e. anything but READMEs, notes, scripts, pictures, reports and
TensorBoard event files; files beside run directories are named in the notes, not read. Directories named `.*`
are not searched. A file given on the command line is a run of one file.

Paths are never globs. A symbolic link is followed only when it leads to a place inside the inputs and not to
a directory already searched (so a link back to the archive root, or a loop, adds nothing); FIFOs, sockets and
devices are never opened.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from bertlogs.errors import NotFoundError

# Names that make no directory a run by themselves (they are still read, and named, inside a run).
_NOT_DATA = re.compile(
    r"^(?:README.*|events\.out\.tfevents\..*|.*\.(?:md|rst|py|sh|ipynb|png|svg|jpg|pdf|html|parquet))$", re.IGNORECASE
)


@dataclass(frozen=True)
class FoundRun:
    name: str  # unique among the runs found
    path: Path  # the run directory, or the file given alone
    files: list[Path]  # regular files, sorted
    skipped: list[str] = field(default_factory=list)  # "path: reason" for entries not read


@dataclass
class Found:
    runs: list[FoundRun]
    notes: list[str]  # files outside any run directory, links not followed there


def discover(paths: list[Path]) -> Found:
    """Every run under `paths`, sorted by name.

    Raises:
        NotFoundError: a path does not exist.
    """
    for path in paths:
        if not os.path.lexists(path):
            raise NotFoundError(f"{path}: no such file or directory")
    walk = _Walk([p.resolve() for p in paths])
    for path in paths:
        walk.root(path, named_by_resolution=len(paths) == 1)
    runs = sorted(walk.runs, key=lambda r: r.name)
    return Found(runs, walk.notes)


class _Walk:
    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self.seen: dict[tuple[int, int], Path] = {}  # (device, inode) of a directory -> the path searched as
        self.runs: list[FoundRun] = []
        self.notes: list[str] = []
        self._names: set[str] = set()

    def root(self, path: Path, *, named_by_resolution: bool) -> None:
        kind = _kind(path)
        if kind == "dir":
            self.directory(path, path.resolve().name if named_by_resolution else path.name)
        elif kind == "file":
            self._add(path.stem or path.name, path, [path], [])
        else:
            self._add(path.name, path, [], [f"{path}: {kind}: not read (save it to a file first)"])

    def directory(self, path: Path, name: str) -> bool:
        """Search `path`; True when it is a run or holds one. Runs are the deepest directories with data."""
        st = os.stat(path)
        key = (st.st_dev, st.st_ino)
        if key in self.seen:
            self.notes.append(f"{path}: already searched as {self.seen[key]}: not searched again")
            return False
        self.seen[key] = path
        files, subdirs, skipped = self._entries(path)
        holds_runs = [self.directory(sub, sub.name) for sub in subdirs]
        if not any(holds_runs) and any(not _NOT_DATA.match(f.name) and not f.name.startswith(".") for f in files):
            self._add(name, path, files, skipped)
            return True
        if files:
            self.notes.append(f"{path}: not a run directory, not read: {', '.join(f.name for f in files)}")
        self.notes.extend(skipped)
        return any(holds_runs)

    def _entries(self, directory: Path) -> tuple[list[Path], list[Path], list[str]]:
        files, subdirs, skipped = [], [], []
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = Path(directory, entry.name)
                reason = self._outside(path) if entry.is_symlink() else None
                kind = reason or _kind(path)
                if kind == "file":
                    files.append(path)
                elif kind == "dir":
                    if not entry.name.startswith("."):
                        subdirs.append(path)
                else:
                    skipped.append(f"{path}: {kind}: not read")
        return files, subdirs, skipped

    def _outside(self, link: Path) -> str | None:
        """Why a symbolic link is not followed, or None."""
        try:
            target = link.resolve(strict=True)
        except (OSError, RuntimeError):
            return "broken symbolic link or link loop"
        if not any(target == root or root in target.parents for root in self.roots):
            return f"symbolic link to {target}, outside the inputs"
        return None

    def _add(self, name: str, path: Path, files: list[Path], skipped: list[str]) -> None:
        unique, n = name, 2
        while unique in self._names:
            unique, n = f"{name}-{n}", n + 1
        self._names.add(unique)
        self.runs.append(FoundRun(unique, path, files, skipped))


def _kind(path: Path) -> str:
    """'file', 'dir', or what else the path is (never opened)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    what = {stat.S_IFIFO: "a FIFO or pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a disk"}
    return f"not a regular file but {what.get(stat.S_IFMT(mode), 'a special file')}"
