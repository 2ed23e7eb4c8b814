"""A summary row holds only what its columns' dtypes can: `check` finds any other value (a bug) by column."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bertlogs.columns import Row, Status, check


def row(**values: object) -> Row:
    return Row(**{"run": "r", "path": "p", "status": Status.OK, "warnings": ""} | values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "values",
    [{}, {"layers": 12, "batch_size": -(2**63) + 1}, {"power_w": 1.5, "epochs": 3, "util_pct": np.float64(2.0)}],
)
def test_a_row_of_values_its_columns_hold_passes(values: dict[str, object]) -> None:
    check(row(**values))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("layers", 12.0),
        ("layers", True),
        ("layers", 2**63),
        ("layers", np.int64(12)),
        ("power_w", True),
        ("power_w", "1.5"),
        ("model", 3),
        ("warnings", b"odd"),
    ],
)
def test_a_value_its_column_cannot_hold_is_named(column: str, value: object) -> None:
    with pytest.raises(TypeError, match=f"summary column {column} .* cannot hold {re.escape(repr(value))}"):
        check(row(**{column: value}))
