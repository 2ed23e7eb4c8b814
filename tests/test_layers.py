"""The layers: ruff's banned-api rules (bertlogs/**/ruff.toml) keep imports downward; these check what they
cannot: what importing a module loads."""

from __future__ import annotations

import subprocess
import sys


def loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split())


def test_collect_loads_neither_polars_nor_the_analysis() -> None:
    loaded = loaded_by("bertlogs.collect.run")
    assert "polars" not in loaded and "pandas" not in loaded
    assert not {m for m in loaded if m.startswith(("bertlogs.analysis", "bertlogs.parsers", "bertlogs.report"))}


def test_the_command_line_loads_neither_numpy_nor_polars_before_a_command_runs() -> None:
    """`analyze` and `parse` set numpy's BLAS threads before numpy is first imported (cli._no_blas_threads)."""
    loaded = loaded_by("bertlogs.cli")
    assert "numpy" not in loaded and "polars" not in loaded


def test_a_worker_starts_before_polars_is_imported() -> None:
    """Its initializer sets polars' threads (allocator.start_worker): importing it must not load polars."""
    assert "polars" not in loaded_by("bertlogs.allocator")


def test_the_package_root_is_lazy() -> None:
    loaded = loaded_by("bertlogs")
    assert "polars" not in loaded and loaded & {m for m in loaded if m.startswith("bertlogs")} == {"bertlogs"}
    code = "import bertlogs; print(bertlogs.summarize.__module__, bertlogs.__version__)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split()[0] == "bertlogs.summary"


MAX_FUNCTION_LINES = 40


def test_functions_are_short_or_say_why() -> None:
    """No function in bertlogs/ is longer than MAX_FUNCTION_LINES (def to last line) unless the line above it
    says why (`# long: ...`)."""
    import ast
    from pathlib import Path

    long = []
    for path in sorted((Path(__file__).resolve().parent.parent / "bertlogs").rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if length > MAX_FUNCTION_LINES and not lines[first - 2].strip().startswith("# long:"):
                    long.append(f"{path.name}:{node.lineno} {node.name} ({length} lines)")
    assert not long, long
