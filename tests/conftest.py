from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
REAL = FIXTURES / "real"
DEMO = FIXTURES / "cola-sweep"


def digest(root: Path) -> dict[str, str]:
    """SHA-256 of every regular file under `root` (links not followed): inputs must come out byte-identical."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture
def real() -> Path:
    return REAL


@pytest.fixture(autouse=True)
def _environment() -> Iterator[None]:
    """Each test ends with the environment it began with: `analyze` and `parse` run in this process (CliRunner)
    set OPENBLAS_NUM_THREADS for the workers they spawn, which later tests' subprocesses would inherit."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


# CI machines are shared and slow at times: a property test is judged by its result, not its speed
from hypothesis import settings  # noqa: E402

settings.register_profile("bertlogs", deadline=None)
settings.load_profile("bertlogs")


def python_calls(call: Callable[[], object]) -> int:
    """Python and C function calls made from Python while `call` runs (polars' own threads are not seen): the
    vectorisation guard counts them on a small and a large input."""
    calls = 0

    def count(frame, event, arg):  # type: ignore[no-untyped-def]
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        call()
    finally:
        sys.setprofile(None)
    return calls
