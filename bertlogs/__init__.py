"""bertlogs: BERT fine-tuning logs and GPU telemetry in, a trustworthy results table out.

The package's names are imported when first used: `import bertlogs.collect.run` (or reading `__version__`)
loads neither polars nor the analysis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "BertlogsError": "bertlogs.errors",
    "ParseError": "bertlogs.errors",
    "Parsed": "bertlogs.parsers",
    "parse_file": "bertlogs.parsers",
    "Row": "bertlogs.columns",
    "Status": "bertlogs.columns",
    "COLUMNS": "bertlogs.columns",
    "RunResult": "bertlogs.analysis",
    "Summary": "bertlogs.summary",
    "summarize": "bertlogs.summary",
}
__all__ = [
    "COLUMNS",
    "BertlogsError",
    "ParseError",
    "Parsed",
    "Row",
    "RunResult",
    "Status",
    "Summary",
    "parse_file",
    "summarize",
]

if TYPE_CHECKING:
    from bertlogs.analysis import RunResult
    from bertlogs.columns import COLUMNS, Row, Status
    from bertlogs.errors import BertlogsError, ParseError
    from bertlogs.parsers import Parsed, parse_file
    from bertlogs.summary import Summary, summarize


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'bertlogs' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
