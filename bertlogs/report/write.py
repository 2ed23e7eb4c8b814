"""Writing every report of a Summary into one directory."""

from __future__ import annotations

from pathlib import Path

from bertlogs.analysis import RunResult
from bertlogs.dataset import file_stem
from bertlogs.report.html import sparkline, write_html
from bertlogs.report.plots import plot_svg
from bertlogs.report.tables import markdown, write_csv, write_json
from bertlogs.summary import Summary


class Drawings:
    """A `summarize` sink: each run's plot written to `out/plots/<run>.svg` and its sparkline kept, as the
    run's result arrives, so that no trace outlives its run's analysis."""

    def __init__(self, out: Path, *, plots: bool = True) -> None:
        self.out, self.plots = out, plots
        self.plot_paths: dict[str, str] = {}  # run -> its plot, relative to `out`
        self.sparklines: dict[str, str] = {}  # run -> its sparkline (inline SVG)

    def __call__(self, result: RunResult) -> None:
        """Raises OSError: the plot cannot be written."""
        run = result.row.run
        self.sparklines[run] = sparkline(result)
        svg = plot_svg(result) if self.plots else None
        if svg is not None:
            name = f"plots/{file_stem(run)}.svg"
            (self.out / "plots").mkdir(exist_ok=True)
            (self.out / name).write_text(svg, encoding="utf-8")
            self.plot_paths[run] = name


def write_reports(summary: Summary, out: Path, drawings: Drawings) -> None:
    """summary.csv, summary.json, summary.md and index.html into `out` (a staging directory: see
    `outdir.staged_report`), beside the plots that `drawings` wrote there while the runs were analysed.

    Raises:
        OSError: a file cannot be written.
    """
    write_csv(summary, out / "summary.csv")
    write_json(summary, out / "summary.json")
    (out / "summary.md").write_text(markdown(summary), encoding="utf-8")
    write_html(summary, out / "index.html", drawings.plot_paths, drawings.sparklines)
