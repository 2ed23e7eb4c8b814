"""Neighbours of the formats bertlogs reads, found in the same archives and recognised so that a refusal names
them: what a file is (an MLPerf log, an `nvidia-smi -q` report) says more than "none of the formats"."""

from __future__ import annotations

import re

# (what the file is, a pattern its head shows), most specific first; judged from content only, like sniffing
_NEIGHBOURS: list[tuple[str, re.Pattern[str]]] = [
    ("an MLPerf log (:::MLLOG lines)", re.compile(r"^.{0,80}:::MLL?OG |^.{0,80}:::MLPv[0-9]", re.MULTILINE)),
    (
        "an nvidia-smi -q report (NVSMI LOG)",
        re.compile(r"^=+NVSMI LOG=+[ \t]*$|^Attached GPUs +: [0-9]+", re.MULTILINE),
    ),
    ("an nvidia-smi -q -x report (XML)", re.compile(r"<nvidia_smi_log>|<!DOCTYPE nvidia_smi_log")),
    (
        "an nvidia-smi --query-compute-apps CSV (processes, not GPU samples)",
        re.compile(r"^[ \t]*(?:[a-z_.]+(?: \[[^\]]*\])?, )*pid, process_name", re.MULTILINE),
    ),
    (
        "an nvidia-smi pmon capture (processes, not GPU samples)",
        re.compile(r"^[ \t#>]*(?:Date[ \t]+)?(?:Time[ \t]+)?gpu[ \t]+pid[ \t]+type[ \t]", re.MULTILINE),
    ),
    (
        "a Weights & Biases wandb-summary.json",
        re.compile(r'^\s*\{.*"_wandb": \{|^\s*\{.*"_runtime": [0-9.]+, "_step"', re.DOTALL),
    ),
    (
        "a PyTorch Lightning metrics.csv (CSVLogger)",
        re.compile(r"^(?=[^\n]*\bepoch\b)(?=[^\n]*\bstep\b)[a-z_/0-9]+(?:,[a-z_/0-9]+)+\n", re.IGNORECASE),
    ),
]


def what(head: str) -> str | None:
    """What a head that is none of bertlogs' formats is, when it is a known neighbour (else None)."""
    return next((name for name, shows in _NEIGHBOURS if shows.search(head)), None)
