"""Fixtures of the chaos battery: the seed (printed, settable) and the size (reduced or full).

RCMGW_CHAOS_SEED=1234     replay a run (the seed is printed by every run and named in failures)
RCMGW_CHAOS_FULL=1        the full battery (``make chaos``): 20 kill cycles instead of 3
RCMGW_CHAOS_CYCLES=N      any other number of cycles
"""

from __future__ import annotations

import os
import random
import sys

import pytest
from pgserver import postgres  # noqa: F401

FULL_CYCLES = 20
REDUCED_CYCLES = 3


def chaos_full() -> bool:
    """Whether the full-size battery was asked for (``make chaos``)."""
    return os.environ.get("RCMGW_CHAOS_FULL") == "1"


@pytest.fixture
def chaos_seed(request: pytest.FixtureRequest) -> int:
    """The RNG seed of this test: ``RCMGW_CHAOS_SEED`` or a fresh one; printed either way."""
    raw = os.environ.get("RCMGW_CHAOS_SEED")
    seed = int(raw) if raw else random.SystemRandom().randrange(2**32)
    sys.stderr.write(f"\n[chaos] {request.node.nodeid}: seed {seed} (replay: RCMGW_CHAOS_SEED={seed})\n")
    request.node.user_properties.append(("chaos_seed", seed))
    return seed


@pytest.fixture
def chaos_cycles() -> int:
    """Kill cycles: ``RCMGW_CHAOS_CYCLES``, else 20 with ``RCMGW_CHAOS_FULL=1``, else 3."""
    raw = os.environ.get("RCMGW_CHAOS_CYCLES")
    if raw:
        return int(raw)
    return FULL_CYCLES if chaos_full() else REDUCED_CYCLES


@pytest.fixture
def chaos_size() -> int:
    """A multiplier for the fault tests: 1 in the regular suite, 3 with ``RCMGW_CHAOS_FULL=1``."""
    return 3 if chaos_full() else 1
