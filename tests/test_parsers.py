"""Parsers on the real captures of fixtures/real (copied verbatim from shared/real-logs)."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from conftest import DEMO, REAL
from polars.testing import assert_frame_equal

from bertlogs import facts as vocab
from bertlogs.errors import ParseError
from bertlogs.parsers import Format, parse_file, parse_text
from bertlogs.parsers.text import Source

EXPECTED = (".expected.csv", ".expected-error.txt")
INPUTS = sorted(p for p in REAL.glob("*/*") if p.suffix != ".md" and not p.name.endswith(EXPECTED))
CAPTURES = [p for p in INPUTS if p.parent.name != "not-gpu-captures"]
INPUTS_ANY_DEPTH = {p for p in REAL.rglob("*") if p.name != "SOURCES.md" and not p.name.endswith(EXPECTED)}


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_matches_expected_output(path: Path) -> None:
    """A capture's frame is its `.expected.csv`; a refused file's reason is its `.expected-error.txt`."""
    refusal = path.with_name(path.name + ".expected-error.txt")
    if refusal.exists():
        with pytest.raises(ParseError) as caught:
            parse_file(path)
        assert caught.value.reason == refusal.read_text().strip()
        return
    parsed = parse_file(path)
    expected = pl.read_csv(path.with_name(path.name + ".expected.csv"), schema=parsed.frame.schema)
    assert_frame_equal(parsed.frame, expected, check_exact=True)


# The format of every input under fixtures/real/ (None: refused as none of bertlogs' formats); a file added
# there without a row here fails `test_every_real_file_has_its_expected_format`.
REAL_FORMATS: dict[str, Format | None] = {
    "hf-trainer/hf_scratch_llm_stdout_padded_dicts_with_step_excerpt.log": Format.HF_TRAINER,
    "hf-trainer/merlinmy_whisper_small_hi_trainer_state.json": Format.HF_STATE,
    "nvidia-smi-dmon/cn_notes_a10_dmon_mutc_TD_snippet.txt": Format.SMI_DMON,
    "nvidia-smi-dmon/dcgm_user_guide_mig_gract_tenso_pandoc_excerpt.txt": Format.DCGMI_DMON,
    "nvidia-smi-dmon/dcgmi_dmon_t4_triton_resnet_1inst_snippet.txt": Format.DCGMI_DMON,
    "nvidia-smi-dmon/deepspeech_issue178_dmon_pucvmet_4gpus_md_quote_snippet.txt": Format.SMI_DMON,
    "nvidia-smi-dmon/hashcat_gtx1050ti_dmon_old_header_snippet.txt": Format.SMI_DMON,
    "nvidia-smi-dmon/morpheus_abp_nvsmi_dmon_snippet.txt": Format.SMI_DMON,
    "nvidia-smi-dmon/nvenc_transcode_dmon_d30_run1_snippet.txt": Format.SMI_DMON,
    "not-gpu-captures/ambroise012_bert_pruning_v100_codecarbon_emissions.csv": None,
    "not-gpu-captures/bertlogs_own_summary_tiny-bs2_base-bs2.csv": None,
    "not-gpu-captures/elsasjsu_rtx4090_nvidia_smi_q_first12.txt": None,
    "not-gpu-captures/mlcommons_v0.7_dgx1_bert_result_0_first16.txt": None,
    "not-gpu-captures/ogunatalay_machine_translation_custom_monitor_gpu_usage.csv": None,
    "nvidia-smi-csv/andyzzz_miris_v100s_gpu_log.csv": Format.SMI_CSV,
    "nvidia-smi-csv/beam11221_plato_headerless_query_l5_head61.csv": Format.SMI_CSV,
    "nvidia-smi-csv/eobo0530_rtx4090_gpu_log_first16k.csv": Format.SMI_CSV,
    "nvidia-smi-csv/theabrusch_v100_495.44_table_then_query_csv_mixed.csv": Format.SMI_CSV,  # a table, then CSV
    "nvidia-smi-table/cenzwong_l40s_580.126.09.txt": Format.SMI_TABLE,
    "nvidia-smi-table/daisuketakai_h100x2_570.133.20.log": Format.SMI_TABLE,
    "nvidia-smi-table/gsp_xid119_issue_a40x8_525.60.13_ERR_snippet.txt": Format.SMI_TABLE,
    "nvidia-smi-table/guanqun-yang_slurmmwe_l40s_550.54.15_poll_first8.log": Format.SMI_TABLE,
    "nvidia-smi-table/ivanzz1001_gtx1080ti_x2_384.111_snippet.txt": Format.SMI_TABLE,
    "nvidia-smi-table/wuk_reduce_add_log_a100x8_mig_450.80.02_mixed_snippet.log": Format.SMI_TABLE,
    "tf1-estimator/bert_notes_pretraining_eval_bare_official_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/bluebert_chemprot_comment_prefixed_absl_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/deepfm_1gpu_loss_step_globalstep_trailing_blank_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/fastertransformer_bert_imdb_blankline_indented_train_eval_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/fastertransformer_readme_mrpc_eval_mixed_duplicated_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/glue_notes_mrpc_eval_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/glue_notes_sst_evaluate_three_runs_noheader_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/kungfu_osdi20_bert_elastic_mixed_absl_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/mobilebert_zh_eval_results_txt_snippet.txt": Format.EVAL_RESULTS,
    "tf1-estimator/mobilebert_zh_indented_absl_tf114_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/neurosat_tpu_readme_indented_with_prose_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/riseml_census_logs_service_label_bracketed_utc_stamps_snippet.txt": Format.TF1_LOG,
    "tf1-estimator/zh_notes_run_squad_base_train_tail_snippet.txt": Format.TF1_LOG,
}


def test_every_real_file_has_its_expected_format() -> None:
    inputs = sorted(str(p.relative_to(REAL)) for p in INPUTS_ANY_DEPTH if p.is_file())
    assert inputs == sorted(REAL_FORMATS)  # every input has a row, every row an input
    found: dict[str, Format | None] = {}
    for name in inputs:
        try:
            found[name] = parse_file(REAL / name).format
        except ParseError:
            found[name] = None
    assert found == REAL_FORMATS


def facts(name: str) -> pl.DataFrame:
    return parse_file(REAL / "tf1-estimator" / name).frame


def readings(frame: pl.DataFrame) -> pl.DataFrame:
    """The rate readings, without the STEPS_COVERED fact that each reading comes with."""
    return frame.filter(pl.col("kind") == vocab.RATE, pl.col("key") != vocab.STEPS_COVERED)


def test_tf114_twins_are_counted_once_and_keep_the_absl_clock() -> None:
    frame = facts("fastertransformer_readme_mrpc_eval_mixed_duplicated_snippet.txt")
    assert frame["key"].to_list() == ["eval_accuracy", "eval_loss", "global_step", "loss"]
    assert frame["line"].to_list() == [4, 6, 8, 10]  # the absl twins
    assert frame["clock"].unique().to_list() == ["local-year-assumed"]


def test_worker_prefixes_split_readings_per_worker() -> None:
    frame = facts("kungfu_osdi20_bert_elastic_mixed_absl_snippet.txt")
    per_worker = frame.group_by("worker").len().sort("worker")
    assert per_worker["worker"].to_list() == [f"127.0.0.1.1000{i}::stderr" for i in range(3)]
    # worker 10002 prints examples/sec 12.6666 as a classic+absl twin: one fact
    assert frame.filter(pl.col("value") == 12.6666).height == 1


def test_eval_blocks_without_header_are_found_by_their_eval_keys() -> None:
    frame = facts("glue_notes_sst_evaluate_three_runs_noheader_snippet.txt")
    assert frame.filter(pl.col("key") == "eval_accuracy")["step"].to_list() == [6312, 13000, 33672]


def test_comment_prefixed_absl_lines() -> None:
    frame = readings(facts("bluebert_chemprot_comment_prefixed_absl_snippet.txt"))
    assert frame["key"].to_list() == ["global_step/sec", "examples/sec"]


def test_loss_step_lines_give_rate_readings_their_step() -> None:
    frame = facts("deepfm_1gpu_loss_step_globalstep_trailing_blank_snippet.txt")
    assert readings(frame)["step"].to_list() == [1140, 1150, 1160]


def test_excerpt_counts_steps_from_the_checkpoint_before_it() -> None:
    frame = facts("zh_notes_run_squad_base_train_tail_snippet.txt")
    assert frame.filter(pl.col("key") == "examples/sec")["step"].to_list() == [7101, 7201, 7301]
    assert frame.filter(pl.col("key") == "final_step_loss")["value"].to_list() == [0.79459095]


def test_absl_year_comes_from_other_clocks_in_the_log() -> None:
    text = (
        "2019-11-04T22:22:29.100000000Z I1104 22:22:29.020849 1400 tpu_estimator.py:2159] global_step/sec: 5\n"
        "2019-11-04T22:22:29.200000000Z I1104 22:22:29.021000 1400 tpu_estimator.py:2160] examples/sec: 160\n"
    )
    frame = readings(parse_text(text).frame)
    assert frame["clock"].to_list() == ["utc", "utc"]  # docker's UTC stamp wins over the local absl one
    assert frame["time"][0] == pytest.approx(1572906149.1, abs=1e-3)
    cpp_then_absl = (
        "2019-11-04 22:22:20.000000: I tensorflow/core/x.cc:1] start\nI1104 22:22:29.5 7 a.py:1] examples/sec: 3\n"
    )
    assert parse_text(cpp_then_absl, utc_offset_s=3600).frame["time"][0] == pytest.approx(1572906149.5 - 3600, abs=1e-3)


def test_crlf_ansi_and_carriage_return_redraws() -> None:
    text = "\x1b[32mINFO:tensorflow:global_step/sec: 5\x1b[0m\r\nprogress 10%\rINFO:tensorflow:examples/sec: 160\r\n"
    frame = readings(parse_text(text).frame)
    assert frame["value"].to_list() == [5.0, 160.0]


def test_training_and_evaluation_config_are_kept_apart() -> None:
    text = "\n".join(
        [
            "INFO:tensorflow:***** Running training *****",
            "INFO:tensorflow:  Num examples = 8551",
            "INFO:tensorflow:  Batch size = 32",
            "INFO:tensorflow:***** Running evaluation *****",
            "INFO:tensorflow:  Num examples = 1043 (1043 actual, 0 padding)",
            "INFO:tensorflow:  Batch size = 8",
            "",
        ]
    )
    config = parse_text(text).frame.filter(pl.col("kind") == vocab.CONFIG)
    values = dict(zip(*config.select("key", "value").to_dict().values(), strict=True))
    assert values == {"num_examples": 8551, "batch_size": 32, "eval_num_examples": 1043, "eval_batch_size": 8}


def test_failures_are_facts() -> None:
    text = (
        "INFO:tensorflow:Model diverged with loss = NaN.\n"
        "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor\n"
    )
    assert parse_text(text).frame["key"].to_list() == ["diverged", "oom"]


def test_smi_table_err_and_mig() -> None:
    a40 = parse_file(REAL / "nvidia-smi-table" / "gsp_xid119_issue_a40x8_525.60.13_ERR_snippet.txt").frame
    assert a40.height == 8
    assert a40.filter(pl.col("gpu") == 4).select("power_w", "util_pct", "temp_c").row(0) == (None, None, None)
    mig = parse_file(REAL / "nvidia-smi-table" / "wuk_reduce_add_log_a100x8_mig_450.80.02_mixed_snippet.log").frame
    assert mig.height == 8  # the MIG devices table's rows are not GPUs
    assert mig["util_pct"].null_count() == 7


def test_smi_table_repeated_tables_are_samples_stamped_by_their_date_line() -> None:
    frame = parse_file(REAL / "nvidia-smi-table" / "guanqun-yang_slurmmwe_l40s_550.54.15_poll_first8.log").frame
    assert frame["sample"].to_list() == list(range(8))
    gaps = frame["time"].diff().drop_nulls()
    assert gaps.min() >= 59 and gaps.max() <= 62  # `nvidia-smi -l 60`


def test_grep_rows_with_date_after_each_sample_and_positional_gpus() -> None:
    row = "| {}%   67C    P2   {}W / 250W |  11636MiB / 12189MiB |     35%      Default |\n"
    text = (
        row.format(39, 113)
        + row.format(40, 120)
        + "1574698172.5\n"
        + row.format(41, 130)
        + row.format(42, 140)
        + "1574698172.81\n"
    )
    frame = parse_text(text).frame
    assert frame.select("sample", "gpu", "power_w", "time").rows() == [
        (0, 0, 113.0, 1574698172.5),
        (0, 1, 120.0, 1574698172.5),
        (1, 0, 130.0, 1574698172.81),
        (1, 1, 140.0, 1574698172.81),
    ]


def test_fan_touching_border_mb_units_and_no_space_before_bar() -> None:
    # DOMAIN.md: a 100% fan touches the border; from 530 the power cell may have no space before `|`
    text = "|100%   74C    P2   250W / 250W|  11000MB / 12000MB |    100%      Default |\n"
    frame = parse_text(text).frame
    assert frame.select("power_w", "power_limit_w", "memory_used_mib", "util_pct").row(0) == (
        250,
        250,
        11000,
        100,
    )


def test_csv_truncated_last_row_is_dropped_with_a_warning(tmp_path: Path) -> None:
    source = (REAL / "nvidia-smi-csv" / "eobo0530_rtx4090_gpu_log_first16k.csv").read_text()
    path = tmp_path / "gpu.csv"
    path.write_text(source + "2026/01/03 15:40:25.845, NVIDIA GeForce RTX 4090, 9")
    parsed = parse_file(path)
    assert parsed.frame.height == 194
    assert parsed.warnings == [f"{path}:196: truncated last line ignored"]


def test_csv_na_and_not_supported_are_null(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        "index, power.draw [W], memory.used [MiB], utilization.gpu [%]\n"
        "0, [N/A], 10 MiB, [Not Supported]\n1, 70.5 W, 20 MiB, 3 %\n"
    )
    frame = parse_file(path).frame
    assert frame.select("sample", "gpu", "power_w", "memory_used_mib", "util_pct").rows() == [
        (0, 0, None, 10.0, None),
        (0, 1, 70.5, 20.0, 3.0),
    ]


def test_csv_timestamps_to_the_millisecond_and_malformed_ones_null(tmp_path: Path) -> None:
    stamps = {
        "2020/02/29 23:59:59.999": 1583020799.999,
        "2019/11/25 14:00:00.1": 1574690400.1,
        "2019/11/25 14:00:00": 1574690400.0,
        "2019/11/25 14:00:00.29": 1574690400.29,
        "2019/02/29 00:00:00.000": None,
        "2019/13/25 14:00:00.000": None,
        "2019/11/25 24:00:00.000": None,
        "2019/11/25T14:00:00.000": None,
    }
    path = tmp_path / "q.csv"
    path.write_text("timestamp, index, utilization.gpu [%]\n" + "".join(f"{s}, 0, 5 %\n" for s in stamps))
    times = parse_file(path).frame["time"].to_list()
    assert [round(t, 3) if t is not None else None for t in times] == list(stamps.values())


def test_source_head_holds_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text(("x" * 99 + "\n") * 5000)  # 500 KB: more than the head
    head = Source(path).head
    assert head.endswith("\n") and set(head.splitlines()) == {"x" * 99}


def test_gzip_is_read_by_content(tmp_path: Path) -> None:
    source = REAL / "tf1-estimator" / "zh_notes_run_squad_base_train_tail_snippet.txt"
    path = tmp_path / "log.txt"  # no .gz in the name
    path.write_bytes(gzip.compress(source.read_bytes()))
    assert_frame_equal(parse_file(path).frame, parse_file(source).frame, check_exact=True)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"\x00\x01\x02binary", "binary file"),
        (
            b"hello world\nnothing to see\n",
            r":1: none of the formats bertlogs reads \(hf-trainer, hf-trainer-state, ",
        ),
        (b"\x1f\x8bnot really gzip", "damaged gzip"),
    ],
)
def test_bad_files_say_where_and_why(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.log"
    path.write_bytes(content)
    with pytest.raises(ParseError, match=reason) as caught:
        parse_file(path)
    assert str(caught.value).startswith(str(path))


def test_evaluation_clocks_in_their_three_forms() -> None:
    text = (
        "INFO:tensorflow:Starting evaluation at 2019-11-25T16:29:32Z\n"  # local time despite the Z
        "INFO:tensorflow:Finished evaluation at 2019-11-25-16:29:40\n"
        "INFO:tensorflow:Starting evaluation at 2019-11-25T16:30:32\n"
    )
    frame = parse_text(text, utc_offset_s=3600).frame
    assert frame.select("kind", "key").rows() == [
        (vocab.PHASE, vocab.EVAL_START),
        (vocab.PHASE, vocab.EVAL_END),
        (vocab.PHASE, vocab.EVAL_START),
    ]
    assert frame["value"].to_list() == [1574699372.0 - 3600, 1574699380.0 - 3600, 1574699432.0 - 3600]


def test_batched_parsing_equals_parsing_one_by_one() -> None:
    from bertlogs.parsers import Parsed, open_file, parse_batch

    opened = [open_file(p) for p in CAPTURES + sorted(DEMO.glob("tiny-*/*"))]
    for fmt in (Format.TF1_LOG, Format.SMI_TABLE):
        sources = [s for s, found in opened if found == fmt]
        assert len(sources) >= 10
        for batched, source in zip(parse_batch(sources, fmt, utc_offsets_s=[0.0] * len(sources)), sources, strict=True):
            assert isinstance(batched, Parsed)
            assert_frame_equal(batched.frame, parse_file(source.path).frame, check_exact=True)


# ---- issue 9: every input ends in a frame or a ParseError (minimal inputs derived from the real fixtures) ----

CSV_V100 = REAL / "nvidia-smi-csv" / "andyzzz_miris_v100s_gpu_log.csv"
CSV_HEADERLESS = REAL / "nvidia-smi-csv" / "beam11221_plato_headerless_query_l5_head61.csv"
TABLE_H100 = REAL / "nvidia-smi-table" / "daisuketakai_h100x2_570.133.20.log"
LOG_DEEPFM = REAL / "tf1-estimator" / "deepfm_1gpu_loss_step_globalstep_trailing_blank_snippet.txt"
LOG_MRPC = REAL / "tf1-estimator" / "glue_notes_mrpc_eval_snippet.txt"
LOG_BASE = DEMO / "base-bs2" / "run_classifier.log"


def derived(tmp_path: Path, source: Path, old: str, new: str, *, count: int = 1, lines: int | None = None) -> Path:
    text = source.read_text()
    assert old in text
    text = text.replace(old, new, count)
    if lines is not None:
        text = "".join(text.splitlines(keepends=True)[:lines])
    path = tmp_path / source.name
    path.write_text(text)
    return path


@pytest.mark.parametrize("index", ["99999999999999999999", "nan", "-1"])
def test_csv_gpu_index_that_is_no_index_is_null(tmp_path: Path, index: str) -> None:
    path = derived(tmp_path, CSV_V100, "195, 0,", f"195, {index},", lines=4)
    frame = parse_file(path).frame
    assert frame["gpu"].to_list() == [None, 0, 0]


@pytest.mark.parametrize("digits", ["99999999999999999999", "\u0660"])
def test_table_index_row_with_overflowing_or_unicode_digits(tmp_path: Path, digits: str) -> None:
    path = derived(tmp_path, TABLE_H100, "|   0  NVIDIA", f"|   {digits}  NVIDIA")
    frame = parse_file(path).frame
    assert frame["gpu"].to_list() == [0, 1]  # by position, as without an index row


@pytest.mark.parametrize("step", ["99999999999999999999999", "nan", "inf"])
def test_eval_global_step_that_is_no_step(tmp_path: Path, step: str) -> None:
    path = derived(tmp_path, LOG_MRPC, "global_step = 343", f"global_step = {step}")
    frame = parse_file(path).frame
    assert frame.filter(pl.col("key") == "eval_accuracy")["step"].to_list() == [None]


@pytest.mark.parametrize("step", ["99999999999999999999999", "\u0661\u0661\u0664\u0660"])
def test_loss_step_with_overflowing_or_unicode_digits(tmp_path: Path, step: str) -> None:
    path = derived(tmp_path, LOG_DEEPFM, "step = 1140", f"step = {step}")
    frame = parse_file(path).frame
    assert readings(frame)["step"].to_list()[1:] == [1150, 1160]


def test_checkpoint_step_near_int64_max_does_not_wrap_rate_steps(tmp_path: Path) -> None:
    path = derived(tmp_path, LOG_BASE, "Saving checkpoints for 0 ", "Saving checkpoints for 9223372036854775807 ")
    steps = parse_file(path).frame.filter(pl.col("kind") == "rate")["step"]
    assert steps.min() == 101  # counted from 0, as when no checkpoint precedes the readings


def test_layer_and_num_steps_beyond_int64_are_no_facts(tmp_path: Path) -> None:
    path = derived(tmp_path, LOG_BASE, "Num steps = 21377", "Num steps = 123456789012345678901234567")
    path.write_text(path.read_text().replace("layer_11/", "layer_99999999999999999999/"))
    frame = parse_file(path).frame
    assert frame.filter(pl.col("key") == "num_steps").is_empty()
    assert frame.filter(pl.col("key") == "layers")["value"].to_list() == [11.0]  # layers 0..10 remain


def test_unicode_digits_are_not_digits(tmp_path: Path) -> None:
    path = derived(tmp_path, LOG_BASE, "Num steps = 21377", "Num steps = \u0661\u0662\u0663")
    assert parse_file(path).frame.filter(pl.col("key") == "num_steps").is_empty()


def test_headerless_csv_row_shorter_than_the_first(tmp_path: Path) -> None:
    path = derived(
        tmp_path,
        CSV_HEADERLESS,
        "2026/04/25 16:06:11.788, 0 %, 0 %, 2 MiB, 20146 MiB, 27, 11.36 W",
        "2026/04/25 16:06:11.788, 0 %",
    )
    frame = parse_file(path).frame
    assert frame.height == 61 and frame["power_w"][1] is None


def test_command_line_before_headerless_csv_names_the_columns(tmp_path: Path) -> None:
    command = (
        "$ nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,memory.total,"
        "temperature.gpu,power.draw --format=csv,noheader -l 5\n"
    )
    path = tmp_path / "gpu_log.csv"
    path.write_text(command + CSV_HEADERLESS.read_text())
    parsed = parse_file(path)
    assert parsed.frame.height == 61 and parsed.warnings == []
    assert parsed.frame["temp_c"][0] == 27.0  # named by the command: a temperature has no unit to tell it


@pytest.mark.parametrize("source", [CSV_V100, TABLE_H100, LOG_DEEPFM, CSV_HEADERLESS], ids=lambda p: p.name)
def test_cr_only_line_ends_read_as_lines(tmp_path: Path, source: Path) -> None:
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes().replace(b"\n", b"\r"))
    assert_frame_equal(parse_file(path).frame, parse_file(source).frame, check_exact=True)


def test_csv_with_some_unknown_columns_names_them(tmp_path: Path) -> None:
    path = derived(tmp_path, CSV_V100, "temperature.gpu\n", "temperature.gpu, fan_rpm\n", lines=3)
    path.write_text(path.read_text().replace(", 27\n", ", 27, 1200\n"))
    parsed = parse_file(path)
    assert parsed.frame.height == 2
    assert parsed.warnings == [f"{path}:1 columns not read: fan_rpm"]


def test_file_that_turns_binary_after_its_head_is_refused_at_the_nul(tmp_path: Path) -> None:
    path = tmp_path / "nvidia-smi.log"
    text = (DEMO / "base-bs2" / "nvidia-smi.log").read_bytes()
    path.write_bytes(text + b"\x00" * 4096 + text)
    with pytest.raises(ParseError, match=f"NUL bytes\\) from byte {len(text)}"):
        parse_file(path)


def test_gzip_of_nul_bytes_is_refused_at_its_first_chunk(tmp_path: Path) -> None:
    path = tmp_path / "nvidia-smi.log"
    with gzip.open(path, "wb") as f:
        for _ in range(64):  # 64 MiB inflated; the check stops at the first 1 MiB
            f.write(bytes(2**20))
    with pytest.raises(ParseError, match="NUL bytes\\) inside the gzip from byte 0"):
        parse_file(path)


def test_gzip_inflating_past_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bertlogs.parsers import text

    monkeypatch.setattr(text, "GUNZIPPED_MAX_BYTES", 2**20)
    path = tmp_path / "nvidia-smi.log"
    path.write_bytes(gzip.compress((DEMO / "base-bs2" / "nvidia-smi.log").read_bytes() * 3))
    with pytest.raises(ParseError, match="gzip inflates past"):
        parse_file(path)


def test_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "nvidia-smi.log"
    os.mkfifo(fifo)
    raised: list[BaseException] = []

    def parse() -> None:
        try:
            parse_file(fifo)
        except ParseError as exc:
            raised.append(exc)

    reader = threading.Thread(target=parse)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # it blocked in open(): release it before failing
        with fifo.open("wb"):
            pass
        reader.join()
        pytest.fail("parse_file waited on a FIFO")
    assert "not a regular file" in str(raised[0])


def test_sniffing_blank_lines_does_not_backtrack() -> None:
    import time

    from bertlogs.parsers import sniff

    started = time.monotonic()
    assert sniff("a word on tensorflow\n" + "\n" * 65536) is None
    assert time.monotonic() - started < 5  # 76 s before `^\s*` became `^[ \t]*`
