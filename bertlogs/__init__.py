"""bertlogs: BERT fine-tuning logs and GPU telemetry in, a trustworthy results table out."""

from bertlogs.analysis import SUMMARY_COLUMNS, RunResult
from bertlogs.errors import BertlogsError, ParseError
from bertlogs.parsers import Parsed, parse_file
from bertlogs.summary import Summary, summarize

__version__ = "0.1.0"
__all__ = [
    "SUMMARY_COLUMNS",
    "BertlogsError",
    "ParseError",
    "Parsed",
    "RunResult",
    "Summary",
    "parse_file",
    "summarize",
]
