"""Finding the runs under the input paths, literally and within bounds.

A run is a directory: the regular files directly inside it, every one of which is read and judged by its
content (a file that is none of bertlogs' formats is named in the run's warnings). A directory is a run when it
holds a file that could be data (anything but READMEs, notes, scripts, pictures, reports and TensorBoard event
files) and either has no subdirectories, or its own files hold a training log, a GPU capture or `meta.json` (a
run with an output folder), or none of its subdirectories holds a run. Otherwise it is a folder of runs, and
its own files are named in the notes, not read. Directories named `.*`, and levels deeper than MAX_DEPTH, are
named in the notes, not searched. A file given on the command line is a run of one file.

Paths are never globs. A symbolic link is followed only when it leads to a place inside the inputs and not to
a directory already searched (so a link back to the archive root, or a loop, adds nothing); FIFOs, sockets and
devices are never opened; a directory that cannot be read is named in the notes.
"""

from __future__ import annotations

import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from bertlogs.errors import NotFoundError
from bertlogs.parsers import REGISTRY, sniff
from bertlogs.parsers.text import not_regular, read_head

# Names that make no directory a run by themselves (they are still read, and named, inside a run).
_NOT_DATA = re.compile(
    r"^(?:README.*|events\.out\.tfevents\..*|.*\.(?:md|rst|py|sh|ipynb|png|svg|jpg|pdf|html|parquet))$", re.IGNORECASE
)
# TensorBoard event files, the one kind of file read from a run's subfolders (`eval/`, the Trainer's
# `runs/<date>_<host>/`, collect's `events/`): checkpoints and exports beside them are never opened.
_EVENT_FILE = re.compile(r"^events\.out\.tfevents\.")
_EVENT_DEPTH = 3  # subfolder levels of a run searched for event files


MAX_DEPTH = 32  # directory levels searched below an input (real archives have a handful)
_SNIFFED_FILES = 32  # files whose head is read to tell a run with subfolders from a folder of runs


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
    require_existing(paths)
    walk = _Walk([p.resolve() for p in paths])
    for path in paths:
        walk.root(path, named_by_resolution=len(paths) == 1)
    runs = sorted(walk.runs, key=lambda r: r.name)
    return Found(runs, walk.notes)


def require_existing(paths: list[Path]) -> None:
    """Raises:
    NotFoundError: a path does not exist."""
    for path in paths:
        if not os.path.lexists(path):
            raise NotFoundError(f"{path}: no such file or directory")


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
            resolved = path.resolve()
            if any(root in resolved.parents and root.is_dir() for root in self.roots):  # one log, one row
                self.notes.append(f"{path}: inside another input directory: taken as part of it")
                return
            self._add(path.stem or path.name, path, [path], [])
        else:
            self._add(path.name, path, [], [f"{path}: {kind}: not read (save it to a file first)"])

    def directory(self, path: Path, name: str, depth: int = 0) -> bool:
        """Search `path`; True when it is a run or holds one."""
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in self.seen:
                self.notes.append(f"{path}: already searched as {self.seen[st.st_dev, st.st_ino]}: not again")
                return False
            self.seen[st.st_dev, st.st_ino] = path
            files, subdirs, skipped = self._entries(path)
        except OSError as exc:
            self.notes.append(f"{path}: cannot read the directory ({exc.strerror or exc}): not searched")
            return False
        data = [f for f in files if not _NOT_DATA.match(f.name) and not f.name.startswith(".")]
        # a run's own output folder (checkpoints, eval_results.txt) does not make it a mere container
        if data and (not subdirs or _holds_run_data(data)):
            self._add(name, path, files + _event_files(subdirs), skipped)
            return True
        if depth >= MAX_DEPTH and subdirs:
            self.notes.append(f"{path}: more than {MAX_DEPTH} levels below an input: not searched deeper")
            subdirs = []
        holds_runs = [self.directory(sub, sub.name, depth + 1) for sub in subdirs]
        if data and not any(holds_runs):
            self._add(name, path, files + _event_files(subdirs), skipped)
            return True
        if files:
            self.notes.append(f"{path}: not a run directory, not read: {listed([f.name for f in files])}")
        self.notes.extend(skipped)
        return any(holds_runs)

    def _entries(self, directory: Path) -> tuple[list[Path], list[Path], list[str]]:
        files: list[Path] = []
        subdirs: list[Path] = []
        hidden: list[Path] = []
        skipped: list[str] = []
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = Path(entry.path)  # one string parsed, not a path joined (pathlib is slow Python)
                reason = self._outside(path) if entry.is_symlink() else None
                kind = reason or _kind(entry)
                if kind == "file":
                    files.append(path)
                elif kind == "dir":
                    (hidden if entry.name.startswith(".") else subdirs).append(path)
                else:
                    skipped.append(f"{path}: {kind}: not read")
        if hidden:
            skipped.append(f"{directory}: directories named .* not searched: {listed([p.name for p in hidden])}")
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


def _event_files(subdirs: list[Path]) -> list[Path]:
    """The TensorBoard event files in a run's subfolders, up to _EVENT_DEPTH levels down (links and hidden
    folders are not followed), sorted."""
    found: list[Path] = []
    for top in subdirs:
        for directory, names, files in os.walk(top):
            depth = len(Path(directory).relative_to(top).parts)
            names[:] = [] if depth + 1 >= _EVENT_DEPTH else sorted(n for n in names if not n.startswith("."))
            events = (Path(directory, n) for n in files if _EVENT_FILE.match(n))
            found += [p for p in events if not p.is_symlink() and _kind(p) == "file"]
    return sorted(found)


def _holds_run_data(files: list[Path]) -> bool:
    """Whether any of `files` is, by its head, a file that makes a run (a training log, a GPU capture, a
    Trainer's state: `Entry.makes_a_run`) or collect's meta.json."""
    for path in files[:_SNIFFED_FILES]:
        if path.name == "meta.json":
            return True
        try:
            fmt = sniff(read_head(path))
        except (OSError, zlib.error):
            continue
        if fmt is not None and REGISTRY[fmt].makes_a_run:
            return True
    return False


def listed(names: list[str], shown: int = 5) -> str:
    """The first few `names`, and how many more: a message stays one readable line."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _kind(path: os.PathLike[str]) -> str:
    """'file', 'dir', or what else the path (or directory entry: cheaper to name) is (never opened)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "dir"
    special = not_regular(mode)
    return "file" if special is None else f"not a regular file but {special}"
