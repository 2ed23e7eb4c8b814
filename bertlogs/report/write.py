"""Writing every report of a Summary into one directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bertlogs.analysis import RunResult
from bertlogs.dataset import file_stem
from bertlogs.report.html import sparkline, write_html
from bertlogs.report.plots import plot_svg
from bertlogs.report.tables import markdown, write_csv, write_json
from bertlogs.summary import Summary


class Drawings:
    """A `summarize` sink: each run's plot written to `out/plots/<run>.svg` and its sparkline to a temporary
    file, as the run's result arrives, so that neither a trace nor a drawing is held for every run at once."""

    def __init__(self, out: Path, *, plots: bool = True) -> None:
        self.out, self.plots = out, plots
        self.plot_paths: dict[str, str] = {}  # run -> its plot, relative to `out`
        # the sparklines (inline SVG), read back for index.html; closed by `close` (or the `with` block's end)
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115
        self._at: dict[str, tuple[int, int]] = {}  # run -> (offset, length) of its sparkline in the spool

    def __call__(self, result: RunResult) -> None:
        """Raises OSError: the plot or the sparkline cannot be written."""
        run = result.row.run
        drawn = sparkline(result).encode()
        self._at[run] = (self._spool.seek(0, os.SEEK_END), len(drawn))
        self._spool.write(drawn)
        svg = plot_svg(result) if self.plots else None
        if svg is not None:
            name = f"plots/{file_stem(run)}.svg"
            if not self.plot_paths:  # the first plot
                (self.out / "plots").mkdir(exist_ok=True)
            with open(os.path.join(self.out, name), "w", encoding="utf-8") as plot:
                plot.write(svg)
            self.plot_paths[run] = name

    def __enter__(self) -> Drawings:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._spool.close()

    def sparkline(self, run: str) -> str:
        """The run's sparkline; empty for a run never drawn."""
        if run not in self._at:
            return ""
        offset, length = self._at[run]
        self._spool.seek(offset)
        return self._spool.read(length).decode()


def write_reports(summary: Summary, out: Path, drawings: Drawings) -> None:
    """summary.csv, summary.json, summary.md and index.html into `out` (a staging directory: see
    `outdir.staged_report`), beside the plots that `drawings` wrote there while the runs were analysed.

    Raises:
        OSError: a file cannot be written.
    """
    write_csv(summary, out / "summary.csv")
    write_json(summary, out / "summary.json")
    (out / "summary.md").write_text(markdown(summary), encoding="utf-8")
    write_html(summary, out / "index.html", drawings.plot_paths, drawings.sparkline)
