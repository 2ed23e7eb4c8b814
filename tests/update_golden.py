"""Rewrite tests/golden/cola-sweep-summary.csv from the current code, and print what changed.

    python tests/update_golden.py

The golden file is `bertlogs analyze fixtures/cola-sweep --out DIR`'s DIR/summary.csv, run from the repository
root so that the path column reads `fixtures/cola-sweep/<run>` on every machine. tests/test_method.py compares
it byte for byte. Rewrite it only for a change of figures or warnings that you meant, read the changes this
prints, and commit the new file with the change that explains them.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "cola-sweep-summary.csv"
DEMO_ARG = "fixtures/cola-sweep"  # relative to ROOT, where the command runs


def demo_summary_csv() -> bytes:
    """summary.csv of the demo archive, as `bertlogs analyze fixtures/cola-sweep --out DIR` writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report"
        argv = [sys.executable, "-m", "bertlogs", "analyze", DEMO_ARG, "--out", str(out), "--no-plots"]
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if not (out / "summary.csv").is_file():
            raise RuntimeError(f"analyze wrote no summary.csv (exit {done.returncode}): {done.stderr[-2000:]}")
        return (out / "summary.csv").read_bytes()


def changes(old: bytes, new: bytes) -> list[str]:
    """What differs between two summary.csv files: columns added or removed, runs added or removed, and per
    changed column how many runs changed, with the first one's old and new value."""
    before, after = (list(csv.DictReader(io.StringIO(text.decode()))) for text in (old, new))
    old_columns, new_columns = (list(rows[0]) if rows else [] for rows in (before, after))
    lines = []
    if old_columns != new_columns:
        lines.append(f"columns: {old_columns} -> {new_columns}")
    old_runs, new_runs = ({row["run"]: row for row in rows} for rows in (before, after))
    if list(old_runs) != list(new_runs):
        lines.append(f"runs: {list(old_runs)} -> {list(new_runs)}")
    for column in [c for c in new_columns if c in old_columns]:
        changed = [r for r in new_runs if r in old_runs and old_runs[r][column] != new_runs[r][column]]
        if changed:
            first = changed[0]
            was, now = old_runs[first][column], new_runs[first][column]
            lines.append(f"{column}: {len(changed)} run(s) changed, first {first}: {was!r} -> {now!r}")
    if not lines and old != new:
        lines.append("same cells, different bytes (quoting, line ends or column order)")
    return lines


def main() -> None:
    new = demo_summary_csv()
    old = GOLDEN.read_bytes() if GOLDEN.exists() else b""
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_bytes(new)
    runs = new.count(b"\n") - 1
    found = changes(old, new) if old else [f"new file, {runs} runs"]
    print(f"{GOLDEN.relative_to(ROOT)}: " + ("unchanged" if old == new else "rewritten"))
    for line in found:
        print(f"  {line}")


if __name__ == "__main__":
    main()
