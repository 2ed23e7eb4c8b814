"""Text from logs and names made safe to show: on a terminal and in Markdown."""

from __future__ import annotations

import re

# C0 and C1 controls (ESC starts terminal escape sequences) and the bidirectional overrides that reorder text
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def terminal_safe(text: str) -> str:
    """`text` without control characters (newlines and tabs kept): a run name cannot move the cursor,
    recolour or clear the user's terminal."""
    return _CONTROLS.sub("", text)


def markdown_cell(text: str) -> str:
    """`text` as literal text in a Markdown table cell: no HTML, no emphasis or links, one line."""
    flat = " ".join(terminal_safe(text).split())
    return _MARKDOWN.sub(r"\\\1", flat.replace("&", "&amp;"))
