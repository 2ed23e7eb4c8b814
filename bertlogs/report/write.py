"""Writing every report of a Summary into one directory."""

from __future__ import annotations

from pathlib import Path

from bertlogs.errors import BertlogsError
from bertlogs.report.html import write_html
from bertlogs.report.plots import plot_run
from bertlogs.report.tables import markdown, write_csv, write_json
from bertlogs.summary import Summary


def write_reports(summary: Summary, out: Path, *, plots: bool = True) -> int:
    """summary.csv, summary.json, summary.md, index.html and plots/<run>.png; returns the file count.

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
                name = f"plots/{_safe(str(result.row['run']))}.png"
                if plot_run(result, out / name):
                    plot_paths[str(result.row["run"])] = name
        write_html(summary, out / "index.html", plot_paths)
    except OSError as exc:
        raise BertlogsError(f"{out}: cannot write reports: {exc.strerror or exc}") from exc
    return 4 + len(plot_paths)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
