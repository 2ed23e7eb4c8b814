"""`nvidia-smi dmon` captures: any `-s` selection, `-o D/T/DT`, headers repeated every screen, `-` for missing.

    # gpu   pwr gtemp mtemp    sm   mem   enc   dec  mclk  pclk        (2016-era drivers: `temp` for `gtemp`)
    # Idx     W     C     C     %     %     %     %   MHz   MHz
        0    70    48     -     5     1     0     0  7000  1350

Columns are found by header name and checked against the units line below it; a column whose unit is not
the one expected is not read (with a warning). `#Date` (YYYYMMDD) and `Time` (HH:MM:SS) are local time; without
both the capture has no clock. One sample is one screen row per GPU: a row whose GPU index does not grow, or
whose time changes, starts the next sample.

Pasted captures are read as they come: a prompt or prose line before the header, a `#` before any line (a root
prompt, a capture pasted as shell comments), a markdown quote (`> \\# gpu`), indentation, trailing
blanks and blank lines. The helpers here are shared with dcgmi_dmon, whose table has the same shape.
"""

from __future__ import annotations

import re

import polars as pl

from bertlogs.parsers import unsupported
from bertlogs.parsers.text import Source, engine
from bertlogs.schema import SAMPLE_SCHEMA, conform

# tidy column -> (dmon header names, the unit its units line must show); Date and Time give `time`
COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "gpu": (("gpu",), "Idx"),
    "power_w": (("pwr",), "W"),
    "temp_c": (("gtemp", "temp"), "C"),
    "util_pct": (("sm",), "%"),
    "mem_util_pct": (("mem",), "%"),
    "memory_used_mib": (("fb",), "MB"),  # nvidia-smi's MB are MiB (README: formats)
    "date": (("Date",), "YYYYMMDD"),
    "clock": (("Time",), "HH:MM:SS"),
}
# on a cleaned line (no leading `#` or blanks)
_HEADER = r"^(?:Date\s+)?(?:Time\s+)?gpu(?:\s|$)"
_UNITS = r"^(?:YYYYMMDD\s+)?(?:HH:MM:SS\s+)?Idx(?:\s|$)"
# on the raw head, paste marks allowed; `[ \t]`, not `\s`: Python's re would backtrack across blank lines
_SNIFF = re.compile(
    r"^[ \t#>\\]*(?:Date[ \t]+)?(?:Time[ \t]+)?gpu[ \t]+[a-z][^\n]*\n"
    r"[ \t#>\\]*(?:YYYYMMDD[ \t]+)?(?:HH:MM:SS[ \t]+)?Idx[ \t]",
    re.MULTILINE,
)
# what a paste puts before a line: indentation, a root prompt or shell comment `#`, a markdown quote `> \#`
PASTE_MARKS = " \t#>\\"
TEXT = ("gpu", "date", "clock", "entity")  # columns that read_rows leaves as text
TOKEN = r"\S+"
_SHOWN_LINES = 5


def looks_like(head: str) -> bool:
    """A dmon header line followed by its units line (`# gpu ...` then `# Idx ...`); not pmon's (`# gpu pid type`,
    one row per process: named in the refusal by `unsupported`)."""
    return "Idx" in head and _SNIFF.search(head) is not None and unsupported.what(head) is None


def parse(source: Source, *, utc_offset_s: float) -> tuple[pl.DataFrame, list[str]]:
    """Samples of a dmon capture (Date/Time read as local time at `utc_offset_s`) and what was odd."""
    lines, warnings = cleaned_lines(source)
    units_below = pl.col("text").shift(-1).str.contains(_UNITS).fill_null(False)
    is_header = pl.col("text").str.contains(_HEADER) & units_below
    headers = distinct_headers(lines, is_header, source)
    positions, odd_units = _positions(headers, str(source.path))
    rows = read_rows(lines, is_header, is_header.shift(1).fill_null(False), positions, source)
    stamped = sorted(positions["date"].keys() & positions["clock"].keys())
    local = (pl.col("date") + " " + pl.col("clock")).str.to_datetime("%Y%m%d %H:%M:%S", strict=False)
    time = local.dt.epoch("ms").cast(pl.Float64) / 1000 - utc_offset_s
    rows = rows.with_columns(time=pl.when(pl.col("header").is_in(stamped)).then(time))
    good = pl.col("gpu").cast(pl.Int64, strict=False).is_not_null() & pl.col("fits")
    good = good & (pl.col("time").is_not_null() | ~pl.col("header").is_in(stamped))
    frame = rows.filter(good).with_columns(gpu=pl.col("gpu").cast(pl.Int64))
    bad = rows.filter(~good & ~pl.col("before")).select("line", "text")
    notes = odd_units + odd_lines(str(source.path), bad, "not a dmon row")
    half = positions["date"].keys() ^ positions["clock"].keys()  # -o D or -o T alone
    first_half = frame.filter(pl.col("header").is_in(sorted(half)))["line"].head(1)
    if first_half.len():
        notes.append(f"{source.path}:{first_half[0]}: a Date or a Time column alone: these samples have no clock")
    return conform(numbered(frame), SAMPLE_SCHEMA), warnings + notes


def cleaned_lines(source: Source) -> tuple[pl.LazyFrame, list[str]]:
    """`line` and `text`, with what a paste adds before a line removed (`PASTE_MARKS`; trailing
    blanks and tabs fall out when a line is split into tokens); a truncated last line is left out, with a
    warning."""
    lines, warnings = source.lines(), []
    if not source.ends_with_newline:
        last = source.line_count()
        lines = lines.filter(pl.col("line") < last)
        warnings.append(f"{source.path}:{last}: truncated last line ignored")
    return lines.with_columns(text=pl.col("text").str.strip_chars_start(PASTE_MARKS)), warnings


def distinct_headers(lines: pl.LazyFrame, is_header: pl.Expr, source: Source) -> pl.DataFrame:
    """Each distinct header (`text`, `tokens`, its first `line`) and the tokens of the line below it (`units`).

    A header repeats every screen: only its distinct forms reach Python.
    """
    return (
        lines.with_columns(below=pl.col("text").shift(-1), is_header=is_header)
        .filter(pl.col("is_header"))
        .unique("text", keep="first", maintain_order=True)
        .select(
            "line", "text", tokens=pl.col("text").str.extract_all(TOKEN), units=pl.col("below").str.extract_all(TOKEN)
        )
        .collect(engine=engine(source.large))
    )


def read_rows(
    lines: pl.LazyFrame,
    is_header: pl.Expr,
    skipped: pl.Expr,
    positions: dict[str, dict[str, int]],
    source: Source,
) -> pl.DataFrame:
    """Every line that is not a header, `skipped` or blank, with its header's columns picked by position
    (`positions`: column -> {header text: token index}) and read as numbers (`TEXT` columns as text).

    A line's header is the last one above it, else the first one below it (a capture cut at its start, such
    as `tail -n 1000`); `before` marks the lines above the first header (a prompt, prose, or such rows), and
    `fits` says whether a line has its header's number of fields (`positions["width"]`).
    """
    header_line = pl.when(is_header).then(pl.col("text"))
    above = header_line.forward_fill()
    candidate = ~is_header & ~skipped & (pl.col("text") != "")

    def at(name: str) -> pl.Expr:
        index = pl.col("header").replace_strict(positions[name], default=None, return_dtype=pl.Int64)
        return pl.col("tokens").list.get(index, null_on_oob=True)

    width = pl.col("header").replace_strict(positions["width"], default=None, return_dtype=pl.Int64)
    names = [name for name in positions if name != "width"]
    picked = {name: at(name) if name in TEXT else at(name).cast(pl.Float64, strict=False) for name in names}
    return (
        lines.with_columns(header=pl.coalesce(above, header_line.backward_fill()), before=above.is_null())
        .filter(candidate & pl.col("header").is_not_null())
        .with_columns(tokens=pl.col("text").str.extract_all(TOKEN))
        .select(
            "line",
            "text",
            "header",
            "before",
            fits=pl.col("tokens").list.len() == width,
            **picked,
        )
        .collect(engine=engine(source.large))
    )


def _positions(headers: pl.DataFrame, path: str) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Per distinct header, the token index of each tidy column (checked against its unit), and a warning for
    each column whose unit is not the expected one."""
    positions: dict[str, dict[str, int]] = {name: {} for name in [*COLUMNS, "width"]}
    warnings = []
    for line, text, names, units in headers.iter_rows():
        positions["width"][text] = len(names)
        for column, (aliases, unit) in COLUMNS.items():
            at = next((names.index(alias) for alias in aliases if alias in names), None)
            if at is None:
                continue
            shown = units[at] if at < len(units) else None
            if shown == unit:
                positions[column][text] = at
            else:
                warnings.append(f"{path}:{line}: column {names[at]} in {shown!r}, expected {unit!r}: not read")
    return positions, warnings


def numbered(frame: pl.DataFrame) -> pl.DataFrame:
    """`sample` for rows in file order: a row whose GPU index does not grow, or whose time changes, starts one."""
    gpu_again = (pl.col("gpu") <= pl.col("gpu").shift(1)).fill_null(True)
    time_moved = (pl.col("time") != pl.col("time").shift(1)).fill_null(False)
    return frame.with_columns(sample=(gpu_again | time_moved).cum_sum().cast(pl.Int64) - 1)


def odd_lines(path: str, bad: pl.DataFrame, what: str) -> list[str]:
    """`path:line: what: 'text'` for the first few lines of `bad` (`line`, `text`), then how many more."""
    warnings = [f"{path}:{n}: {what}: {text.strip()[:120]!r}" for n, text in bad.head(_SHOWN_LINES).iter_rows()]
    if bad.height > _SHOWN_LINES:
        more = bad.height - _SHOWN_LINES
        warnings.append(f"{path}:{bad['line'][_SHOWN_LINES]}: and {more} more such line(s), not read")
    return warnings
