"""Writing every report of a Summary into one directory."""

from __future__ import annotations

from pathlib import Path

from bertlogs.dataset import file_stem
from bertlogs.report.html import write_html
from bertlogs.report.plots import plot_svg
from bertlogs.report.tables import markdown, write_csv, write_json
from bertlogs.summary import Summary


def write_reports(summary: Summary, out: Path, *, plots: bool = True) -> None:
    """summary.csv, summary.json, summary.md, index.html and plots/<run>.svg into `out` (a staging directory:
    see `outdir.staged_report`).

    Raises:
        OSError: a file cannot be written.
    """
    write_csv(summary, out / "summary.csv")
    write_json(summary, out / "summary.json")
    (out / "summary.md").write_text(markdown(summary), encoding="utf-8")
    plot_paths: dict[str, str] = {}
    if plots:
        (out / "plots").mkdir(exist_ok=True)
        for result in summary.results:
            svg = plot_svg(result)
            if svg is not None:
                name = f"plots/{file_stem(result.row.run)}.svg"
                (out / name).write_text(svg, encoding="utf-8")
                plot_paths[result.row.run] = name
    write_html(summary, out / "index.html", plot_paths)
