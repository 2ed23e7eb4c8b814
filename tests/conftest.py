from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
REAL = FIXTURES / "real"
DEMO = FIXTURES / "cola-sweep"


@pytest.fixture
def real() -> Path:
    return REAL
