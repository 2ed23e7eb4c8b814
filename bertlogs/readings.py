"""A GPU capture's readings as the figures keep them: compact numpy arrays, filled chunk by chunk while the
capture is read, so that memory grows by `bytes_per_sample` a GPU sample and never holds the file or its
full tidy frame (time float64; power, memory and utilisation float32, NaN where missing; the GPU index int16,
not stored for a single-GPU capture; the energy counter float64, only where the capture has one).

Readings outside their physical range are left out as they come: a gauge becomes NaN, and a row whose time
is not finite or goes back before an earlier row of the same GPU is dropped; each is counted, the first named,
and the time and GPU of each kept, for the figures to count those inside the training window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

GAUGES = ("power_w", "memory_used_mib", "util_pct")
GAUGES_AND_ENERGY = ("power_w", "energy_mj", "memory_used_mib", "util_pct")
_GPU_DTYPE = np.int16  # an index beyond 32767 is not a GPU's
# Rows a capture of N bytes is first given room for (np.empty: untouched room is never resident); a capture
# denser than this (a CSV of one or two columns) grows by copying.
_BYTES_PER_ROW_AT_LEAST = 32


@dataclass(frozen=True)
class Excluded:
    """Readings left out: how many, the first in capture order (`path sample N (GPU g)`, reading, value), and
    the time and GPU of each (NaN time: the time itself was not finite)."""

    count: int = 0
    first: tuple[int, int, str, float] | None = None  # sample, gpu, reading, value
    time: np.ndarray = field(default_factory=lambda: np.empty(0))
    gpu: np.ndarray = field(default_factory=lambda: np.empty(0, _GPU_DTYPE))


@dataclass(frozen=True)
class Readings:
    """One row per GPU per sample, in capture order. `time` is unix seconds, or the capture's sample numbers
    when it has no clock (`unclocked`); `gpu` is an array, or the one GPU's index."""

    time: np.ndarray
    gpu: np.ndarray | int
    power_w: np.ndarray
    memory_used_mib: np.ndarray
    util_pct: np.ndarray
    energy_mj: np.ndarray | None
    unclocked: bool
    excluded: Excluded

    def __len__(self) -> int:
        return len(self.time)

    @property
    def bytes_per_sample(self) -> int:
        arrays = [self.time, self.power_w, self.memory_used_mib, self.util_pct, self.energy_mj, self.gpu]
        return sum(a.itemsize for a in arrays if isinstance(a, np.ndarray))


class Keeper:
    """Readings kept from the chunks of one capture (SAMPLE_SCHEMA frames, in capture order): `add` each, then
    `readings`. `size_bytes` (the capture's) sizes the first room."""

    def __init__(self, size_bytes: int) -> None:
        self._capacity = max(1024, size_bytes // _BYTES_PER_ROW_AT_LEAST)
        self._n = 0
        self._arrays: dict[str, np.ndarray] = {}
        self._latest: dict[int, float] = {}  # per GPU, the latest time kept (a time going back is left out)
        self._clocked = False
        self._only_gpu: int | None = None  # the GPU of every row so far, while there is one
        self._excluded: list[tuple[np.ndarray, np.ndarray]] = []
        self._count = 0
        self._first: tuple[int, int, str, float] | None = None

    def add(self, chunk: pl.DataFrame) -> None:
        """Keep one chunk's readings (impossible ones left out and counted)."""
        unstamped = chunk["time"].null_count()
        if not self._clocked and unstamped < chunk.height:  # rows without a time count while no row has one
            self._clocked, self._n, self._latest, self._only_gpu = True, 0, {}, None
            self._arrays.pop("gpu", None)
            self._arrays.pop("energy_mj", None)
            self._excluded, self._count, self._first = [], 0, None
        if self._clocked and unstamped:
            chunk = chunk.filter(pl.col("time").is_not_null())
        if chunk["gpu"].null_count():  # a reading of no GPU (an index `[N/A]`) is no GPU's, as one of no time
            chunk = chunk.filter(pl.col("gpu").is_not_null())
        if chunk.is_empty():
            return
        columns = _arrays(chunk, self._clocked)
        bad = _impossible(columns, chunk["memory_total_mib"].to_numpy())
        for c, wrong in bad.items():  # NaN read from the file (not a missing reading, which is null until here)
            wrong |= _nan_read(chunk[c])
        bad["time"] = ~np.isfinite(columns["time"]) | (columns["time"] < self._earlier(columns["gpu"], columns["time"]))
        for c in GAUGES_AND_ENERGY:
            if c in bad:  # a dropped row's gauges are not counted again
                bad[c] &= ~bad["time"]
        self._count_excluded(chunk["sample"].to_numpy(), columns, bad)
        self._append(columns, bad)

    def _earlier(self, gpu: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Per row, the latest finite time of its GPU before it (earlier chunks included); -inf for the first."""
        earlier = np.empty(len(time))
        finite = np.where(np.isfinite(time), time, -np.inf)
        gpus = np.unique(gpu).tolist()
        for g in gpus:  # a few GPUs, never a loop over rows
            mine = slice(None) if len(gpus) == 1 else gpu == g
            running = np.maximum.accumulate(np.concatenate(([self._latest.get(g, -np.inf)], finite[mine])))
            earlier[mine] = running[:-1]
            self._latest[g] = float(running[-1])
        return earlier

    def _count_excluded(self, sample: np.ndarray, columns: dict[str, np.ndarray], bad: dict[str, np.ndarray]) -> None:
        """Count what `bad` leaves out, keep each one's time and GPU, and name the first by (sample, GPU), the
        readings in the order of `bad`."""
        rows = {c: np.flatnonzero(wrong) for c, wrong in bad.items() if wrong.any()}
        if not rows:
            return
        every = np.concatenate(list(rows.values()))
        self._count += len(every)
        self._excluded.append((columns["time"][every], columns["gpu"][every]))
        if self._first is None:
            rows = {c: r[np.lexsort((columns["gpu"][r], sample[r]))] for c, r in rows.items()}
            order = {c: (int(sample[r[0]]), int(columns["gpu"][r[0]]), k) for k, (c, r) in enumerate(rows.items())}
            reading = min(order, key=order.__getitem__)
            i = rows[reading][0]
            self._first = (int(sample[i]), int(columns["gpu"][i]), reading, float(columns[reading][i]))

    def _append(self, columns: dict[str, np.ndarray], bad: dict[str, np.ndarray]) -> None:
        """The kept rows of `columns` after the rows kept so far, impossible gauges as NaN."""
        keep = ~bad["time"]
        k, start = int(keep.sum()), self._n
        if start + k > self._capacity:
            self._capacity = max(2 * self._capacity, start + k)
            self._arrays = {c: _moved(a, self._capacity) for c, a in self._arrays.items()}
        gpu = columns.pop("gpu")
        one = self._only_gpu if self._only_gpu is not None else int(gpu[0])
        if "gpu" not in self._arrays and (gpu == one).all():
            self._only_gpu = one  # one GPU so far: its index is not stored row by row
        elif "gpu" not in self._arrays:  # a second GPU: the rows so far were all the first one's
            self._arrays["gpu"] = np.empty(self._capacity, _GPU_DTYPE)
            self._arrays["gpu"][:start] = one
        if "gpu" in self._arrays:
            columns["gpu"] = gpu
        for c, values in columns.items():
            kept = self._room(c, values, start)
            kept[start : start + k] = values if k == len(values) else values[keep]
            if c in bad and bad[c].any():
                kept[start : start + k][bad[c] if k == len(values) else bad[c][keep]] = np.nan
        if "energy_mj" in self._arrays and "energy_mj" not in columns:
            self._arrays["energy_mj"][start : start + k] = np.nan
        self._n += k

    def _room(self, c: str, values: np.ndarray, start: int) -> np.ndarray:
        """The array that keeps column `c`, made or widened for `values`: utilisation in half precision while
        every reading so far is exact in it (whole percents are), every other column as read."""
        kept = self._arrays.get(c)
        with np.errstate(over="ignore", invalid="ignore"):  # a reading past half precision's range is not exact
            half = (
                c == "util_pct"
                and (kept is None or kept.dtype == np.float16)  # (once widened, kept wide)
                and np.array_equal(values.astype(np.float16).astype(values.dtype), values, equal_nan=True)
            )
        if kept is None:  # a column met for the first time: NaN for the rows before
            kept = np.empty(self._capacity, np.float16 if half else values.dtype)
            if start:  # only energy can be met late (the GPU index is above)
                kept[:start] = np.nan
        elif kept.dtype == np.float16 and not half:  # a reading half precision cannot hold: all kept widened
            wide = np.empty(self._capacity, values.dtype)
            wide[:start] = kept[:start]
            kept = wide
        self._arrays[c] = kept
        return kept

    def readings(self) -> Readings | None:
        """What was kept; None when no row was."""
        if self._n == 0:
            return None
        kept = {c: _moved(a, self._n) for c, a in self._arrays.items()}
        times, gpu_of = (
            zip(*self._excluded, strict=True) if self._excluded else ((np.empty(0),), (np.empty(0, _GPU_DTYPE),))
        )
        return Readings(
            time=kept["time"],
            gpu=kept["gpu"] if "gpu" in kept else int(self._only_gpu if self._only_gpu is not None else 0),
            power_w=kept["power_w"],
            memory_used_mib=kept["memory_used_mib"],
            util_pct=kept["util_pct"],
            energy_mj=kept.get("energy_mj"),
            unclocked=not self._clocked,
            excluded=Excluded(self._count, self._first, np.concatenate(times), np.concatenate(gpu_of)),
        )


def _arrays(chunk: pl.DataFrame, clocked: bool) -> dict[str, np.ndarray]:
    """A chunk's columns as the arrays keep them (missing readings NaN; time: the sample numbers while the
    capture has no clock; energy only where the chunk has some)."""
    time = chunk["time"] if clocked else chunk["sample"].cast(pl.Float64)
    columns = {"time": time.to_numpy(), "gpu": np.clip(chunk["gpu"].to_numpy(), -(2**15), 2**15 - 1).astype(_GPU_DTYPE)}
    columns |= {c: chunk[c].cast(pl.Float32).to_numpy() for c in GAUGES}
    if chunk["energy_mj"].null_count() < chunk.height:
        columns["energy_mj"] = chunk["energy_mj"].cast(pl.Float64).to_numpy()
    return columns


def _nan_read(column: pl.Series) -> np.ndarray:
    """Where the file itself said NaN (a missing reading is null, not NaN)."""
    nan = np.isnan(column.to_numpy())
    return nan & ~column.is_null().to_numpy() if column.null_count() else nan


def _impossible(columns: dict[str, np.ndarray], total_mib: np.ndarray) -> dict[str, np.ndarray]:
    """Per gauge, the readings outside their physical range or infinite (NaN is a missing reading)."""
    with np.errstate(invalid="ignore"):
        memory = columns["memory_used_mib"]
        bad = {
            "power_w": columns["power_w"] < 0,
            "energy_mj": columns["energy_mj"] < 0 if "energy_mj" in columns else None,
            "memory_used_mib": (memory < 0) | (memory > total_mib),
            "util_pct": (columns["util_pct"] < 0) | (columns["util_pct"] > 100),
        }
    return {c: wrong | np.isinf(columns[c]) for c, wrong in bad.items() if wrong is not None}


def _moved(array: np.ndarray, length: int) -> np.ndarray:
    """`array`'s first `length` values, in an array of that length: a view when shorter (the untouched rest of
    its room never became resident memory: a copy would double it for a moment), a copy into room when longer."""
    if length <= len(array):
        return array[:length]
    grown = np.empty(length, array.dtype)
    grown[: len(array)] = array
    return grown


def kept(frame: pl.DataFrame) -> Readings | None:
    """The readings of a whole capture's frame (SAMPLE_SCHEMA) at once."""
    keeper = Keeper(int(frame.estimated_size()))
    keeper.add(frame)
    return keeper.readings()
