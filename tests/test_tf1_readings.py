"""The TF1 parser's shortcuts give what the patterns they stand for give: rate readings read by a split
(not by the fact regex), and the model's size from one group_by over each variable's layer and width."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tf1_batch import tf1_fixtures

from bertlogs import facts as F
from bertlogs.parsers import open_file, tf1
from bertlogs.parsers.text import Source
from bertlogs.schema import conform


def peeled(sources: list[Source]) -> pl.LazyFrame:
    prefixed = tf1._prefixes(tf1._lines(sources, [0.0] * len(sources))).collect()
    return tf1._peel(prefixed, [pl.col("file")], None).collect().lazy()


def by_split_and_by_regex(lines: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The simple facts as parsed (readings split) and as the fact regex alone reads every line."""
    split, regex = (
        conform(facts, tf1._FILE_FACTS).sort("file", "line")
        for facts in (tf1._simple_facts(lines), tf1._matched_facts(lines))
    )
    return split.collect(), regex.collect()


@pytest.mark.parametrize("path", tf1_fixtures(), ids=lambda p: p.name)
def test_readings_split_off_are_the_facts_the_regex_reads(path: Path) -> None:
    split, regex = by_split_and_by_regex(peeled([open_file(path)[0]]))
    assert split.equals(regex, null_equal=True)


# A reading's rest: numbers, words, spaces of every kind (`\S` is Unicode's), another fact's words
rests = st.lists(
    st.sampled_from(
        ["1.5", "-2", "nan", "Inf", "1e3", "x", " ", "\t", "\u00a0", "\u2003", ",", "OOM when allocating tensor"]
    ),
    max_size=4,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["global_step/sec: ", "examples/sec: ", "global_step/sec:", "examples/sec:  "]), rests)
def test_a_reading_with_any_rest_is_read_as_the_regex_reads_it(start: str, rest: str) -> None:
    text = f"INFO:tensorflow:{start}{rest}\nINFO:tensorflow:global_step/sec: 2.5\n"
    split, regex = by_split_and_by_regex(peeled([Source.of_text(text)]))
    assert split.equals(regex, null_equal=True)


def model_facts(variables: list[str]) -> dict[str, float]:
    text = "".join(f"INFO:tensorflow:  name = {v}\n" for v in variables)
    facts = tf1.parse(Source.of_text(text), utc_offset_s=0.0)[0].filter(pl.col("kind") == F.MODEL)
    return dict(zip(facts["key"], facts["value"], strict=True))


def test_the_model_is_the_highest_layer_and_the_first_embeddings_width() -> None:
    embeddings = "bert/embeddings/word_embeddings:0, shape = "
    found = model_facts(
        [
            "bert/encoder/layer_3/output/kernel:0, shape = (768, 768)",
            f"{embeddings}(30522, 128)",
            "bert/encoder/layer_11/output/kernel:0, shape = (768, 768)",
            f"{embeddings}(30522, 768)",
            "bert/encoder/layer_2/output/kernel:0, shape = (768, 768)",
        ]
    )
    assert found == {F.LAYERS: 12.0, F.HIDDEN: 128.0}
    # the first embeddings' width is no number: the log states none (a later one is not taken instead)
    assert model_facts([f"{embeddings}(30522, x)", f"{embeddings}(30522, 768)"]) == {}
