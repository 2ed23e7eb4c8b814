"""The C allocator told to reuse freed memory (glibc; elsewhere nothing changes).

A big capture is read in pieces of a few MB, and every piece's arrays are fresh allocations of MBs. glibc hands
those out as new mappings and returns them when freed, so every piece pays a page fault on the first touch of
each page again (three times the faults, and about a fifth of the parse's CPU time, on the 150 MB benchmark
capture). Kept in the heap below MMAP_THRESHOLD_BYTES and not trimmed below TRIM_THRESHOLD_BYTES, the freed
pages are reused instead. The peak resident memory does not change: only what was already resident is reused.

An analysis worker starts here too (`start_worker`): this module imports no polars, so that the worker's share of
polars' threads is set before polars is first imported (unless the script that spawned the worker imports polars
at its top level: each worker runs it again first, and then keeps polars' default).
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's own ceiling for this setting on 64-bit
TRIM_THRESHOLD_BYTES = 64 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)


def reuse_freed_memory() -> None:
    """Set the process's allocator to reuse freed memory (for an analysis and its workers only: a training
    command that `collect` runs keeps its own allocator's defaults)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError):  # no mallopt (macOS, Windows): nothing to tell
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)


def start_worker(polars_threads: int) -> None:
    """An analysis worker's start, before polars is imported: polars' threads limited to `polars_threads`, the
    worker's share (the workers fill the cores already: on 2 cores, two workers of two polars threads each took
    17 MB more a worker on the 1,000-run benchmark than of one, for the same CPU time), unless the user has set
    POLARS_MAX_THREADS; and the allocator told to reuse freed memory."""
    os.environ.setdefault("POLARS_MAX_THREADS", str(polars_threads))
    reuse_freed_memory()
