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


# CI machines are shared and slow at times: a property test is judged by its result, not its speed
from hypothesis import settings  # noqa: E402

settings.register_profile("bertlogs", deadline=None)
settings.load_profile("bertlogs")
