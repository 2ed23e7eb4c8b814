"""A bounded run of tests/benchmarks/fuzz.py's campaign: real fixtures, mutated, raise only ParseError."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_SPEC = importlib.util.spec_from_file_location("fuzz", Path(__file__).parent / "benchmarks" / "fuzz.py")
assert _SPEC is not None and _SPEC.loader is not None
fuzz = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(fuzz)

# the small real fixtures: the big cola-sweep captures would make each example slow
SEEDS = [p for p in fuzz.seeds() if p.stat().st_size < 64 * 1024]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.sampled_from(SEEDS),
    mutations=st.lists(st.sampled_from([*fuzz.MUTATIONS, fuzz.gzipped]), min_size=1, max_size=3),
    rng=st.randoms(use_true_random=False),
)
def test_mutated_real_fixtures_raise_only_parse_errors(
    tmp_path: Path, seed: Path, mutations: list, rng: random.Random
) -> None:
    data = seed.read_bytes()
    for mutation in mutations:
        data = mutation(rng, data)
    path = tmp_path / seed.name
    path.write_bytes(data)
    fuzz.parse_every_way(path, rng)  # a foreign exception fails the test; ParseError is caught inside
