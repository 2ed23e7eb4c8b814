"""The cheap tests on a file's bytes and head (sniffing's, the batch readers' newline count) say what the slower
searches they replace say."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bertlogs.parsers import text, tf1

# the characters the head tests look for, and a few others
heads = st.text(alphabet=st.sampled_from(list("<>/brplit&;\"' \t\r\n*sec:.pyentsorfw_0ü")), max_size=60)


@settings(max_examples=500, deadline=None)
@given(heads, st.text(alphabet=st.sampled_from(list("\"' \t\r\nab<")), min_size=1, max_size=4))
def test_holds_is_a_substring_test(head: str, word: str) -> None:
    assert text.holds(head, word) == (word in head)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet=st.sampled_from(list("\n\r a\x00")), max_size=300).map(str.encode))
def test_count_newlines_is_bytes_count(data: bytes) -> None:
    """`count_newlines` is `bytes.count(b"\\n")`: the newline counts that split a batch's joined bytes back into its
    files (smi-table, TF1)."""
    assert text.count_newlines(data) == data.count(b"\n")


def test_count_newlines_counts_across_its_pieces() -> None:
    rng = random.Random(5)
    data = bytes(rng.choice(b"\n\ra ") for _ in range(2 * text.PIECE_BYTES + 7))
    assert text.count_newlines(data) == data.count(b"\n") > 0
    assert text.count_newlines(b"\n" * (text.PIECE_BYTES + 1)) == text.PIECE_BYTES + 1


@settings(max_examples=500, deadline=None)
@given(heads)
def test_one_search_finds_what_any_html_hint_finds(head: str) -> None:
    assert (text._HTML_HINT.search(head) is not None) == any(hint in head for hint in text._HTML_HINTS)


# pieces of TF1 markers, whole and cut: a head made of them may hold a marker's word and not the marker, or
# the reverse (`global_step/sec:1` is a marker without the word `/sec: `)
FRAGMENTS = ["INFO:", "tensorflow", "global_step", "examples", "/sec:", " ", "1.5", "\n", "*****", "Eval results"]
FRAGMENTS += ["Running training", "I1104 22:22:29.020849 ", "123 ", "a.py:12]", ".py:", "x"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12))
def test_tf1_sniffing_says_what_its_words_and_markers_say(fragments: list[str]) -> None:
    head = "".join(fragments)
    words = any(word in head for word in ("tensorflow", "/sec: ", "***** ", ".py:"))
    assert tf1.looks_like(head) == (words and tf1._MARKERS.search(head) is not None)
