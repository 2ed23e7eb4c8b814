"""nvidia-smi dmon and dcgmi dmon captures, called directly (the registry takes each module with one entry).

Expected values are read off the files by hand. The real files are fixtures/real/nvidia-smi-dmon (verbatim
snippets); fixtures/dmon holds two hand-made files for what no real file shows (several GPUs, MIG).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, FIXTURES, REAL, python_calls

from bertlogs.parsers import dcgmi_dmon, smi_dmon, sniff
from bertlogs.parsers.registry import Format
from bertlogs.parsers.text import Source
from bertlogs.schema import SAMPLE_SCHEMA

DMON = REAL / "nvidia-smi-dmon"
HANDMADE = FIXTURES / "dmon"
MORPHEUS = DMON / "morpheus_abp_nvsmi_dmon_snippet.txt"
HASHCAT = DMON / "hashcat_gtx1050ti_dmon_old_header_snippet.txt"
A10 = DMON / "cn_notes_a10_dmon_mutc_TD_snippet.txt"
NVENC = DMON / "nvenc_transcode_dmon_d30_run1_snippet.txt"
T4 = DMON / "dcgmi_dmon_t4_triton_resnet_1inst_snippet.txt"
DEEPSPEECH = DMON / "deepspeech_issue178_dmon_pucvmet_4gpus_md_quote_snippet.txt"
USER_GUIDE = DMON / "dcgm_user_guide_mig_gract_tenso_pandoc_excerpt.txt"
TWO_GPUS = HANDMADE / "smi_dmon_pucvmet_DT_two_gpus_handmade.txt"
MIG = HANDMADE / "dcgmi_dmon_mig_two_gpus_handmade.txt"


def smi(path: Path, utc_offset_s: float = 0.0) -> tuple[pl.DataFrame, list[str]]:
    return smi_dmon.parse(Source(path), utc_offset_s=utc_offset_s)


def dcgmi(path: Path) -> tuple[pl.DataFrame, list[str]]:
    return dcgmi_dmon.parse(Source(path), utc_offset_s=0.0)


def written(tmp_path: Path, text: str, name: str = "capture.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def column(frame: pl.DataFrame, name: str) -> list[object]:
    return frame[name].to_list()


# --- the real files, read by hand -----------------------------------------------------------------------------


def test_morpheus_prompt_then_gtemp_header() -> None:
    frame, warnings = smi(MORPHEUS)
    assert frame.schema == pl.Schema(SAMPLE_SCHEMA)
    assert warnings == []  # the `$ nvidia-smi dmon` prompt above the header is no odd line
    assert column(frame, "sample") == list(range(9))
    assert set(column(frame, "gpu")) == {0}
    assert frame["time"].null_count() == 9  # no -o D/T: no clock
    assert column(frame, "power_w") == [70, 68, 69, 270, 274, 278, 279, 277, 281]
    assert column(frame, "temp_c")[:4] == [48, 48, 48, 53]
    assert column(frame, "util_pct")[-1] == 85 and column(frame, "mem_util_pct")[-1] == 54
    assert frame["memory_used_mib"].null_count() == 9  # no -s m


def test_hashcat_2016_header_temp_column() -> None:
    frame, warnings = smi(HASHCAT)
    assert warnings == []
    assert frame.height == 37 and frame["sample"].n_unique() == 37 and set(column(frame, "gpu")) == {0}
    first, odd = frame.row(0, named=True), frame.row(27, named=True)
    assert (first["power_w"], first["temp_c"], first["util_pct"], first["mem_util_pct"]) == (59, 72, 100, 2)
    assert (odd["power_w"], odd["temp_c"], odd["util_pct"], odd["mem_util_pct"]) == (67, 74, 93, 5)


def test_a10_date_time_columns_are_local_time() -> None:
    frame, warnings = smi(A10, utc_offset_s=8 * 3600)  # 2024-01-04 13:54:35 at UTC+8
    assert warnings == []  # trailing blanks and the blank line after the first row are no odd lines
    assert column(frame, "time") == [1704347675.0 + s for s in range(6)]
    assert column(frame, "memory_used_mib") == [239, 74, 7, 478, 67, 7]
    assert column(frame, "util_pct") == [6, 0, 3, 13, 0, 3]
    assert column(frame, "sample") == list(range(6)) and set(column(frame, "gpu")) == {0}
    assert frame["power_w"].null_count() == 6  # -s mutc: no power column


def test_nvenc_root_prompt_is_not_a_header() -> None:
    frame, warnings = smi(NVENC)
    assert warnings == []
    assert frame.height == 23 and frame["time"].null_count() == 23
    assert frame.row(0)[3] == 6 and frame.row(0, named=True)["temp_c"] == 52
    last = frame.row(-1, named=True)
    assert (last["power_w"], last["temp_c"], last["util_pct"]) == (1, 50, 0)


def test_deepspeech_four_gpus_pucvmet_in_a_markdown_quote() -> None:
    frame, warnings = smi(DEEPSPEECH)
    assert warnings == []  # the prose line above the quote is no odd line
    assert column(frame, "sample") == [0, 0, 0, 0] and column(frame, "gpu") == [0, 1, 2, 3]
    assert column(frame, "power_w") == [111, 111, 112, 86] and column(frame, "temp_c") == [83, 84, 80, 70]
    assert column(frame, "util_pct") == [25, 18, 24, 18] and column(frame, "mem_util_pct") == [7, 5, 7, 6]
    assert column(frame, "memory_used_mib") == [11651, 11653, 11653, 11660]


def test_dcgmi_t4_profiling_fields() -> None:
    frame, warnings = dcgmi(T4)
    assert warnings == []
    assert column(frame, "gpu") == [2, 2, 2] and column(frame, "sample") == [0, 1, 2]
    assert column(frame, "util_pct") == [79, 92, 93]  # GPUTL (203)
    assert column(frame, "mem_util_pct") == [43, 50, 51]  # MCUTL (204)
    assert frame["time"].null_count() == 3  # dcgmi dmon prints no stamps
    assert frame["power_w"].null_count() == 3  # SMACT, DRAMA ... are ratios of other things: not read


@pytest.mark.parametrize("path", sorted(DMON.glob("*.txt")), ids=lambda p: p.name)
def test_matches_expected_output(path: Path) -> None:
    """The `.expected.csv` beside each real file (checked by hand against the tests above) is what
    tests/test_parsers.py compares `parse_file` with, once the registry dispatches to these modules."""
    module = dcgmi_dmon if path in (T4, USER_GUIDE) else smi_dmon
    frame, _ = module.parse(Source(path), utc_offset_s=0.0)
    expected = pl.read_csv(path.with_name(path.name + ".expected.csv"), schema=frame.schema)
    assert frame.equals(expected)


# --- telling formats apart ------------------------------------------------------------------------------------

OTHERS = sorted(p for p in [*REAL.rglob("*"), *DEMO.rglob("*")] if p.is_file() and p.parent != DMON)


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: p.name)
def test_no_other_fixture_is_claimed(path: Path) -> None:
    head = Source(path).head
    assert not smi_dmon.looks_like(head)
    assert not dcgmi_dmon.looks_like(head)


def test_dmon_files_are_claimed_by_their_own_sniffer_only() -> None:
    smi_files = [MORPHEUS, HASHCAT, A10, NVENC, DEEPSPEECH, TWO_GPUS]
    dcgmi_files = [T4, USER_GUIDE, MIG]
    assert all(smi_dmon.looks_like(Source(p).head) and not dcgmi_dmon.looks_like(Source(p).head) for p in smi_files)
    assert all(dcgmi_dmon.looks_like(Source(p).head) and not smi_dmon.looks_like(Source(p).head) for p in dcgmi_files)
    formats = [sniff(Source(p).head) for p in smi_files + dcgmi_files]
    assert formats == [Format.SMI_DMON] * len(smi_files) + [Format.DCGMI_DMON] * len(dcgmi_files)


@pytest.mark.parametrize(
    "text",
    [
        "# Entity resolution notes\n\nWe link entities.\n",  # a markdown heading
        "# Entity POWER usage was measured\n",
        "gpu 0 ran hot\n# Idx was 0\n",  # `gpu` prose, then no units line
        "# gpu   pwr\n\n# Idx     W\n",  # the units line must follow its header
    ],
)
def test_prose_is_not_claimed(text: str) -> None:
    assert not smi_dmon.looks_like(text) and not dcgmi_dmon.looks_like(text)


def test_a_gpu_word_after_the_capture_is_no_header(tmp_path: Path) -> None:
    path = written(tmp_path, MORPHEUS.read_text() + "gpu 0 ran hot\n")
    frame, warnings = smi(path)
    assert frame.height == 9 and warnings == [f"{path}:13: not a dmon row: 'gpu 0 ran hot'"]


# --- several GPUs, repeated headers, `-`, MIG -------------------------------------------------------------------


def test_rows_printed_together_are_one_sample() -> None:
    frame, warnings = smi(TWO_GPUS)
    assert warnings == []
    assert column(frame, "sample") == [0, 0, 1, 1, 2, 2] and column(frame, "gpu") == [0, 1] * 3
    assert column(frame, "time") == [1714607998.0] * 2 + [1714607999.0] * 2 + [1714608000.0] * 2  # past midnight
    assert column(frame, "power_w") == [301, 296, 305, None, 299, 297]  # `-` is missing, the row is kept
    assert column(frame, "memory_used_mib")[-1] == 80013


def test_repeated_screens_are_read_as_one_capture(tmp_path: Path) -> None:
    """A longer capture made of real screens: the morpheus screen (header and rows) three times."""
    lines = MORPHEUS.read_text().splitlines(keepends=True)
    path = written(tmp_path, lines[0] + "".join(lines[1:]) * 3)
    frame, warnings = smi(path)
    once, _ = smi(MORPHEUS)
    assert warnings == []
    assert column(frame, "sample") == list(range(27))
    assert column(frame, "power_w") == column(once, "power_w") * 3


def test_dcgm_user_guide_mig_instances_are_not_samples() -> None:
    """NVIDIA's own MIG example (DCGM 2.x header `# Entity`, units line `Id`): GPU 0 and its two instances."""
    frame, warnings = dcgmi(USER_GUIDE)
    assert column(frame, "gpu") == [0] * 10 and column(frame, "sample") == list(range(10))
    assert frame.drop("sample", "gpu").null_count().row(0) == (10,) * 9  # GRACT and TENSO are ratios: not read
    assert warnings == [
        f"{USER_GUIDE}:9: 20 row(s) of GPU-I not read"
        " (MIG instances and other entities are not GPUs: only `GPU n` rows are samples)"
    ]


def test_mig_instances_are_kept_apart_from_gpus() -> None:
    frame, warnings = dcgmi(MIG)
    assert column(frame, "gpu") == [0, 1] * 3 and column(frame, "sample") == [0, 0, 1, 1, 2, 2]
    assert column(frame, "memory_used_mib") == [1066, 40211, 1070, 40211, 1071, 40213]  # not GPU-I's 512, 20
    assert column(frame, "power_w") == pytest.approx([62.376, 250.031, 63.002, None, 64.5, 249.875])  # N/A
    assert column(frame, "temp_c")[:2] == [33, 61]
    assert warnings == [
        f"{MIG}:5: 6 row(s) of GPU-I not read"
        " (MIG instances and other entities are not GPUs: only `GPU n` rows are samples)"
    ]


# --- pasted-log quirks and bad input ---------------------------------------------------------------------------


def test_a_capture_pasted_as_shell_comments(tmp_path: Path) -> None:
    lines = HASHCAT.read_text().splitlines(keepends=True)
    path = written(tmp_path, "".join("#   " + line.replace("\n", " \t\n") for line in lines))
    frame, warnings = smi(path)
    expected, _ = smi(HASHCAT)
    assert warnings == []
    assert frame.height == 37 and frame.equals(expected)


@pytest.mark.parametrize("mark", ["#   ", "> ", "    "], ids=["shell comment", "markdown quote", "indented"])
def test_a_dcgmi_capture_behind_paste_marks(tmp_path: Path, mark: str) -> None:
    path = written(tmp_path, "".join(mark + line for line in T4.read_text().splitlines(keepends=True)))
    assert dcgmi_dmon.looks_like(Source(path).head) and not smi_dmon.looks_like(Source(path).head)
    frame, warnings = dcgmi(path)
    assert warnings == [] and frame.equals(dcgmi(T4)[0]) and frame.height == 3


def test_a_truncated_last_line_is_left_out(tmp_path: Path) -> None:
    text = MORPHEUS.read_text()
    path = written(tmp_path, text[: text.rindex("1740") + 2])  # the last row cut inside its pclk
    frame, warnings = smi(path)
    assert warnings == [f"{path}:12: truncated last line ignored"]
    assert frame.height == 8 and column(frame, "power_w")[-1] == 277


def test_garbage_rows_are_warnings_with_their_line(tmp_path: Path) -> None:
    lines = NVENC.read_text().splitlines(keepends=True)
    cut_short, prose = "    0     6    52\n", "Ctrl-C pressed, bye\n"
    garbage = [cut_short, prose, "    x     6    52     -    36    17     9     0  2505  1045\n"]
    path = written(tmp_path, "".join(lines[:5] + garbage + lines[5:]))
    frame, warnings = smi(path)
    assert frame.height == 23  # every real row is still read
    assert warnings == [
        f"{path}:6: not a dmon row: '0     6    52'",
        f"{path}:7: not a dmon row: 'Ctrl-C pressed, bye'",
        f"{path}:8: not a dmon row: 'x     6    52     -    36    17     9     0  2505  1045'",
    ]


def test_a_row_with_an_impossible_date_is_garbage(tmp_path: Path) -> None:
    row = " 20241304   13:54:41      0      7      2      0      3" + "      0" * 7 + "   6250   1695\n"
    path = written(tmp_path, A10.read_text() + row)
    frame, warnings = smi(path)
    assert frame.height == 6 and warnings == [f"{path}:11: not a dmon row: {row.strip()!r}"]


def test_many_garbage_rows_are_summed_up(tmp_path: Path) -> None:
    path = written(tmp_path, MORPHEUS.read_text() + "oops\n" * 40)
    frame, warnings = smi(path)
    assert frame.height == 9
    assert len(warnings) == 6 and warnings[-1] == f"{path}:18: and 35 more such line(s), not read"


def test_a_column_in_another_unit_is_not_read(tmp_path: Path) -> None:
    text = A10.read_text().replace("MB     MB     MB", "GB     MB     MB", 1)
    frame, warnings = smi(written(tmp_path, text))
    assert frame["memory_used_mib"].null_count() == 6 and column(frame, "util_pct")[3] == 13
    assert warnings == [f"{tmp_path / 'capture.txt'}:2: column fb in 'GB', expected 'MB': not read"]


@pytest.mark.parametrize(
    ("header", "units", "value"),
    [("Date       ", "YYYYMMDD   ", "20240104"), ("Time        ", "HH:MM:SS    ", "13:54:[0-9][0-9]")],
    ids=["-o T", "-o D"],
)
def test_a_time_or_a_date_column_alone_gives_no_clock(tmp_path: Path, header: str, units: str, value: str) -> None:
    lines = A10.read_text().splitlines(keepends=True)
    heads = [lines[1].replace(header, "", 1), lines[2].replace(units, "", 1)]
    rows = [re.sub(rf" {value} *", " ", line, count=1) if line.strip() else line for line in lines[3:]]
    path = written(tmp_path, "".join([lines[0], *heads, *rows]))
    frame, warnings = smi(path)
    assert frame.height == 6 and frame["time"].null_count() == 6
    assert column(frame, "sample") == list(range(6))  # each row its own sample, as without any clock
    assert warnings == [f"{path}:4: a Date or a Time column alone: these samples have no clock"]


def test_a_header_alone_gives_no_samples(tmp_path: Path) -> None:
    path = written(tmp_path, "".join(MORPHEUS.read_text().splitlines(keepends=True)[:3]))
    frame, warnings = smi(path)
    assert frame.is_empty() and frame.schema == pl.Schema(SAMPLE_SCHEMA) and warnings == []


# --- vectorised ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("module", "source"), [(smi_dmon, TWO_GPUS), (dcgmi_dmon, MIG)], ids=["smi", "dcgmi"])
def test_python_calls_do_not_grow_with_lines(tmp_path: Path, module: object, source: Path) -> None:
    lines = source.read_text().splitlines(keepends=True)
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_text("".join(lines[1:]) * 100)
    large.write_text("".join(lines[1:]) * 1000)
    parse = module.parse  # type: ignore[attr-defined]
    python_calls(lambda: parse(Source(small), utc_offset_s=0.0))  # warm caches and imports
    few = python_calls(lambda: parse(Source(small), utc_offset_s=0.0))
    many = python_calls(lambda: parse(Source(large), utc_offset_s=0.0))
    assert parse(Source(large), utc_offset_s=0.0)[0].height == 10 * parse(Source(small), utc_offset_s=0.0)[0].height
    assert many <= few + 50, f"{few} Python calls for the small capture but {many} for the large: a per-line loop?"


def test_a_capture_cut_at_its_start_takes_the_first_header_below(tmp_path: Path) -> None:
    """`tail -n` of a capture: rows above the first header are read with it; a prompt there is no odd line."""
    lines = TWO_GPUS.read_text().splitlines(keepends=True)
    frame, warnings = smi(written(tmp_path, "".join(["$ tail -n 6 dmon.log\n", *lines[5:]])))
    assert warnings == []
    assert column(frame, "sample") == [0, 0, 1, 1] and column(frame, "gpu") == [0, 1, 0, 1]
    assert column(frame, "time") == [1714607999.0] * 2 + [1714608000.0] * 2


def test_a_missing_row_does_not_merge_two_samples(tmp_path: Path) -> None:
    """GPU 0 at one second and GPU 1 at the next: the GPU index grows, the time tells them apart."""
    lines = TWO_GPUS.read_text().splitlines(keepends=True)
    frame, warnings = smi(written(tmp_path, "".join(lines[:4] + lines[6:])))  # GPU 1 at :58, GPU 0 at :59 lost
    assert warnings == []
    assert column(frame, "sample") == [0, 1, 2, 2] and column(frame, "gpu") == [0, 1, 0, 1]


def test_dcgmi_garbage_rows_are_warnings_with_their_line(tmp_path: Path) -> None:
    lines = T4.read_text().splitlines(keepends=True)
    garbage = ["Error getting values information. Return -6: No data is available\n", "    GPU 2          80\n"]
    path = written(tmp_path, "".join(lines[:2] + garbage + lines[2:]))
    frame, warnings = dcgmi(path)
    assert column(frame, "util_pct") == [79, 92, 93]
    assert warnings == [
        f"{path}:3: not a dcgmi dmon row: 'Error getting values information. Return -6: No data is available'",
        f"{path}:4: not a dcgmi dmon row: 'GPU 2          80'",
    ]


def test_a_pmon_capture_is_named_not_read_as_an_empty_dmon(tmp_path: Path) -> None:
    """`nvidia-smi pmon` prints dmon's header shape with one row per process: no GPU samples."""
    from bertlogs.errors import NotDataError
    from bertlogs.parsers import parse_file

    pmon = tmp_path / "pmon.txt"
    pmon.write_text(
        "# gpu        pid  type    sm   mem   enc   dec   command\n"
        "# Idx          #   C/G     %     %     %     %   name\n"
        "    0      12345     C    95    40     -     -   python\n"
    )
    assert not smi_dmon.looks_like(Source(pmon).head)
    with pytest.raises(NotDataError, match="an nvidia-smi pmon capture"):
        parse_file(pmon)
