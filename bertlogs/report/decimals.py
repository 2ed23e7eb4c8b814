"""Numbers written as text a whole array at a time, character for character as Python's `f"{v:.Nf}"` writes them.

A drawing's coordinates (hundreds a run, thousands of runs) formatted one by one in Python cost more than the
rest of the report; here they become rows of ASCII bytes with numpy, and rows of text are joined in one pass.
Python rounds the exact binary value of v x 10^N, ties to even: so does `fixed`, from the exact product.
"""

from __future__ import annotations

import itertools

import numpy as np

_SPLIT = 134217729.0  # 2^27 + 1: splits a double into two halves whose products are exact (Dekker)


def _words(texts: list[str]) -> np.ndarray:
    """Each text (up to 4 ASCII characters) as one 4-byte word, NUL-padded: a row of text is a row of words."""
    return np.frombuffer("".join(t.ljust(4, "\0") for t in texts).encode(), np.uint8).view(np.uint32)


# Three digits to a word, after a sign byte (NUL, or "-" before a number's first group): a number's leading
# group unpadded ("7"), the groups after it padded ("007"), or nothing (a leading group of zeros)
_GROUPS = _words(
    [sign + text for sign in "\0-" for text in [*map(str, range(1000)), *(f"{i:03d}" for i in range(1000)), ""]]
)
_PADDED, _NOTHING, _NEGATIVE = 1000, 2000, 2001
_FRACTIONS = {n: _words([f".{i:0{n}d}" for i in range(10**n)]) for n in (1, 2, 3)}  # ".0" .. ".999"


def _exact_product(values: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """(p, e): p = values x factor rounded, p + e the exact product (Dekker's TwoProduct)."""
    p = values * factor
    c = _SPLIT * values
    high = c - (c - values)
    low = values - high
    f_high = _SPLIT * factor - (_SPLIT * factor - factor)
    f_low = factor - f_high
    return p, ((high * f_high - p) + high * f_low + low * f_high) + low * f_low


def _rounded(values: np.ndarray, decimals: int) -> np.ndarray:
    """values x 10^decimals rounded to a whole number as Python rounds it: the exact product, ties to even."""
    if not decimals:
        return np.rint(values)
    p, error = _exact_product(values, 10.0**decimals)
    # p is exactly halfway between two whole numbers: the exact product lies on the side of its error
    halfway = p - np.floor(p) == 0.5
    return np.where(halfway & (error > 0), np.ceil(p), np.where(halfway & (error < 0), np.floor(p), np.rint(p)))


def fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """Each value as `f"{value:.{decimals}f}"` writes it (decimals 0 to 3), one row of 4-byte words per value,
    NUL-padded (`texts` drops the NULs). For finite values with |value| x 10^decimals under 2^52 (4.5e15), where
    halves are exact: a drawing's coordinates."""
    values = np.asarray(values, dtype=np.float64)
    scaled = np.abs(_rounded(values, decimals)).astype(np.int64)
    rest, fraction = np.divmod(scaled, 10**decimals) if decimals else (scaled, scaled)
    groups = max(1, -(-len(str(rest.max(initial=0))) // 3))
    parts = []
    for _ in range(groups - 1):  # three digits at a time, the lowest first
        rest, part = np.divmod(rest, 1000)
        parts.append(part)
    top, *lower = [rest, *reversed(parts)]
    words = np.empty((len(values), groups + (decimals > 0)), np.uint32)
    index = np.where(top == 0, _NOTHING, top) if lower else top  # a lone group of zeros is "0"
    words[:, 0] = _GROUPS[index + _NEGATIVE * np.signbit(values)]  # the sign first: "-0" too, as Python writes it
    started = top != 0  # a higher group was not zero
    for group, part in enumerate(lower, 1):
        index = np.where(started, part + _PADDED, part)
        if group < groups - 1:
            index[~started & (part == 0)] = _NOTHING
        words[:, group] = _GROUPS[index]
        started |= part != 0
    if decimals:
        words[:, groups] = _FRACTIONS[decimals][fraction]
    return words


def texts(counts: list[int], *columns: np.ndarray | str) -> list[str]:
    """Row by row, the columns side by side (a `fixed` array, or a str that every row repeats), as the texts of
    consecutive pieces of `counts` rows each: several lines of a drawing in one pass."""
    blocks = [_words([c[i : i + 4] for i in range(0, len(c), 4)]) if isinstance(c, str) else c for c in columns]
    text = np.empty((sum(counts), sum(b.shape[-1] for b in blocks)), np.uint32)
    at = 0
    for block in blocks:  # a few columns
        text[:, at : at + block.shape[-1]] = block
        at += block.shape[-1]
    whole = text.tobytes().translate(None, b"\0").decode("ascii")
    bounds = np.cumsum([0, *counts]).tolist()
    ends = np.cumsum([0] + [np.count_nonzero(text[a:b].view(np.uint8)) for a, b in itertools.pairwise(bounds)])
    return [whole[a:b] for a, b in itertools.pairwise(ends.tolist())]
