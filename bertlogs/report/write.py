"""Writing every report of a Summary into one directory."""

from __future__ import annotations

from pathlib import Path

from bertlogs.errors import BertlogsError
from bertlogs.report.dataset import safe_name
from bertlogs.report.html import write_html
from bertlogs.report.plots import plot_svg
from bertlogs.report.tables import markdown, write_csv, write_json
from bertlogs.summary import Summary


def write_reports(summary: Summary, out: Path, *, plots: bool = True) -> None:
    """summary.csv, summary.json, summary.md, index.html and plots/<run>.svg.

    Raises:
        BertlogsError: the directory cannot be created or written.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_csv(summary, out / "summary.csv")
        write_json(summary, out / "summary.json")
        (out / "summary.md").write_text(markdown(summary), encoding="utf-8")
        plot_paths: dict[str, str] = {}
        if plots:
            (out / "plots").mkdir(exist_ok=True)
            for result in summary.results:
                svg = plot_svg(result)
                if svg is not None:
                    name = f"plots/{safe_name(str(result.row['run']))}.svg"
                    (out / name).write_text(svg, encoding="utf-8")
                    plot_paths[str(result.row["run"])] = name
        write_html(summary, out / "index.html", plot_paths)
    except OSError as exc:
        raise BertlogsError(f"{out}: cannot write reports: {exc.strerror or exc}") from exc
