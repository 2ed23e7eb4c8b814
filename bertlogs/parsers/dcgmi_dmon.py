"""`dcgmi dmon -e <field ids>` captures (DCGM 2.x to 4.x).

    #Entity   POWER       TMPTR  GPUTL       FBUSD             (DCGM 2.x: `# Entity`, snippets: `# EntityId`)
    ID        W           C                                    (units; empty for most fields)
    GPU 0     62.376      33     0           1066
    GPU-I 1   N/A         N/A    N/A         512

The header holds DCGM's short field names (dcgm_fields.cpp), not the ids given to `-e`; it repeats every 14
samples. Rows carry no time stamp: the capture has no clock. One sample is the rows printed together: a GPU row
whose GPU id does not grow starts the next one. MIG instances (`GPU-I n`, `GPU-CI n`) and other entities
(NVLinks, switches, CPUs) are not GPUs: their rows are left out, with one warning, so that a GPU's readings
are never mixed with an instance's.
"""

from __future__ import annotations

import polars as pl

from bertlogs.parsers.smi_dmon import PASTE_MARKS, cleaned_lines, distinct_headers, numbered, odd_lines, read_rows
from bertlogs.parsers.text import Source
from bertlogs.schema import SAMPLE_SCHEMA, conform

# tidy column -> DCGM short names (field id), the first present wins
COLUMNS: dict[str, tuple[str, ...]] = {
    "power_w": ("POWER",),  # 155 power usage, W
    "temp_c": ("TMPTR",),  # 150 GPU temperature, C
    "util_pct": ("GPUTL",),  # 203 GPU utilisation, %
    "mem_util_pct": ("MCUTL",),  # 204 memory copy utilisation, %
    "memory_used_mib": ("FBUSD",),  # 252 framebuffer used: bytes / 2^20, although DCGM says MB
    "memory_total_mib": ("FBTTL",),  # 250 framebuffer total
    "energy_mj": ("TOTEC",),  # 156 energy since the driver loaded, mJ
    "power_limit_w": ("EPLMT", "PMLMT"),  # 164 enforced, 160 management power limit, W
}
_HEADER = r"^Entity(?:Id)?(?:\s|$)"
_SKIPPED = r"^(?:ID|Id)(?:\s|$)|^dmon was stopped d"  # units line; the end after Ctrl-C
_OTHER_ENTITY = r"^(?:GPU-I|GPU-CI|vGPU|Switch|Link|CPU|Core|(?:GPU|SW) [0-9]+ LINK) [0-9]+(?:\s|$)"


def looks_like(head: str) -> bool:
    """A `#Entity` header line (maybe behind paste marks) followed by upper-case DCGM short names."""
    for line in head.split("\n", 200)[:200]:
        marks, entity, names = line.partition("Entity")
        if entity and "#" in marks and not marks.strip(PASTE_MARKS):
            short_names = names.removeprefix("Id").split()
            return bool(short_names) and all(n[:1].isalpha() and n == n.upper() for n in short_names)
    return False


def parse(source: Source, *, utc_offset_s: float) -> tuple[pl.DataFrame, list[str]]:
    """Samples of the GPU rows of a dcgmi dmon capture (no clock: `utc_offset_s` is not needed)."""
    lines, warnings = cleaned_lines(source)
    is_header = pl.col("text").str.contains(_HEADER)
    positions = _positions(distinct_headers(lines, is_header, source))
    rows = read_rows(lines, is_header, pl.col("text").str.contains(_SKIPPED), positions, source)
    gpu_row = (pl.col("entity") == "GPU") & pl.col("fits") & pl.col("gpu").cast(pl.Int64, strict=False).is_not_null()
    other = ~gpu_row & pl.col("text").str.contains(_OTHER_ENTITY)
    frame = rows.filter(gpu_row).with_columns(gpu=pl.col("gpu").cast(pl.Int64), time=pl.lit(None, pl.Float64))
    path = str(source.path)
    bad = rows.filter(~gpu_row & ~other & ~pl.col("before")).select("line", "text")
    notes = odd_lines(path, bad, "not a dcgmi dmon row")
    others = rows.filter(other)
    if others.height:
        kinds = ", ".join(sorted(set(others["entity"].unique().drop_nulls().to_list())))
        notes.append(
            f"{path}:{others['line'][0]}: {others.height} row(s) of {kinds} not read"
            " (MIG instances and other entities are not GPUs: only `GPU n` rows are samples)"
        )
    return conform(numbered(frame), SAMPLE_SCHEMA), warnings + notes


def _positions(headers: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per distinct header, the row token of each tidy column: a row starts with two tokens (`GPU 0`) where
    its header has one (`#Entity`)."""
    positions: dict[str, dict[str, int]] = {name: {} for name in [*COLUMNS, "entity", "gpu", "width"]}
    for text, names in headers.select("text", "tokens").iter_rows():
        positions["width"][text] = len(names) + 1
        positions["entity"][text], positions["gpu"][text] = 0, 1
        for column, aliases in COLUMNS.items():
            at = next((names.index(alias) for alias in aliases if alias in names), None)
            if at is not None:
                positions[column][text] = at + 1
    return positions
