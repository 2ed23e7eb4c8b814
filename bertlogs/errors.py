"""The project's exceptions and the exit codes the CLI turns them into."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    RUN_ERRORS = 1  # analysis finished, but some runs or files could not be read
    USAGE = 2  # bad options or arguments (typer's own code for usage errors)
    BAD_INPUT = 3  # nothing usable in the input
    NOT_FOUND = 4  # container never appeared, path missing
    WRITE_FAILED = 5  # reports or the raw archive could not be written (disk full, ...): what was there is kept
    INTERNAL = 70  # a bug in bertlogs (sysexits' EX_SOFTWARE); --debug shows the traceback
    INTERRUPTED = 130


def one_line(exc: BaseException) -> str:
    """`Type: first line of the message` (at most 200 characters): polars' messages run over many lines."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.partition(chr(10))[0][:200]}" if text else type(exc).__name__


class BertlogsError(Exception):
    """Base of every error bertlogs raises on purpose."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class ParseError(BertlogsError):
    """A file, or one line of it, that cannot be read as its format."""

    def __init__(self, path: str, reason: str, line_no: int | None = None, line: str | None = None):
        self.path, self.reason, self.line_no, self.line = path, reason, line_no, line
        where = f"{path}:{line_no}" if line_no is not None else path
        shown = f": {line[:120]!r}" if line is not None else ""
        super().__init__(f"{where}: {reason}{shown}")

    @classmethod
    def unreadable(cls, path: str, exc: OSError) -> ParseError:
        """The file at `path` cannot be read (gone, moved, no permission): what the OS said."""
        return cls(path, f"cannot read: {exc.strerror or exc}")


class NotDataError(ParseError):
    """A file that is none of the formats bertlogs reads (unknown, binary, empty): skipped, not damaged."""


class NotFoundError(BertlogsError):
    exit_code = ExitCode.NOT_FOUND


class CollectError(BertlogsError):
    """collect could not start or keep going (Docker missing, run dir exists, ...)."""


class CollectWriteError(CollectError):
    """collect could not write its archive (full disk, read-only): what was written is kept."""

    exit_code = ExitCode.WRITE_FAILED


class OutputError(BertlogsError):
    """An `--out` that cannot be used: a file, inside an input, a directory bertlogs did not make."""

    exit_code = ExitCode.USAGE


class ReportWriteError(BertlogsError):
    """Writing the reports failed midway; the previous report was left as it was."""

    exit_code = ExitCode.WRITE_FAILED
