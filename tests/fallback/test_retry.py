"""`RetryPolicy` and its wait strategies: pure functions of their inputs."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from fallback import (
    STANDARD_WEBHOOKS_SCHEDULE,
    DeadLetter,
    ExponentialFullJitter,
    ProportionalJitter,
    RetryAfterWait,
    RetryAt,
    RetryPolicy,
    RetryState,
    ScheduleWait,
    WaitMax,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def state(attempts: int = 1, retry_after: float | None = None, seed: int = 7) -> RetryState:
    return RetryState(attempts, T0, T0, retry_after, random.Random(seed))


def test_default_policy_follows_the_standard_webhooks_schedule():
    policy = RetryPolicy()
    assert STANDARD_WEBHOOKS_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert policy.max_attempts == 8 and policy.max_age == timedelta(days=3)
    now = T0
    for attempts, delay in enumerate(STANDARD_WEBHOOKS_SCHEDULE, start=1):
        decision = policy.decide(attempts, T0, now, None, random.Random(1))
        assert decision == RetryAt(when=now + timedelta(seconds=delay), reason="delivery.transient")
        now = decision.when
    assert policy.decide(8, T0, now, None, random.Random(1)) == DeadLetter(
        reason="attempts_exhausted:delivery.transient"
    )


def test_retry_after_is_a_floor():
    policy = RetryPolicy()
    rng = random.Random(1)
    assert policy.decide(1, T0, T0, 120.0, rng).when == T0 + timedelta(seconds=120)
    assert policy.decide(1, T0, T0, 1.0, rng).when == T0 + timedelta(seconds=5)


@pytest.mark.parametrize("nonsense", [-5.0, math.nan])
def test_nonsense_retry_after_is_ignored(nonsense):
    assert RetryPolicy().decide(1, T0, T0, nonsense, random.Random(1)).when == T0 + timedelta(seconds=5)


def test_retry_after_beyond_max_age_dead_letters():
    policy = RetryPolicy()
    assert policy.decide(1, T0, T0, math.inf, random.Random(1)) == DeadLetter(
        reason="max_age:delivery.transient"
    )
    assert isinstance(policy.decide(1, T0, T0, 4 * 86400.0, random.Random(1)), DeadLetter)


def test_max_age_stops_retries_that_would_land_after_the_deadline():
    policy = RetryPolicy(max_age=timedelta(hours=1))
    late = T0 + timedelta(minutes=59)
    assert policy.decide(1, T0, late, None, random.Random(1)) == RetryAt(
        when=late + timedelta(seconds=5), reason="delivery.transient"
    )
    assert policy.decide(2, T0, late, None, random.Random(1)) == DeadLetter(
        reason="max_age:delivery.transient"
    )


def test_reason_is_carried_into_the_outcome():
    policy = RetryPolicy(max_attempts=2)
    assert policy.decide(1, T0, T0, None, random.Random(1), reason="x:Timeout").reason == "x:Timeout"
    assert policy.decide(2, T0, T0, None, random.Random(1), reason="x:Timeout").reason == (
        "attempts_exhausted:x:Timeout"
    )


def test_naive_datetimes_are_rejected():
    naive = datetime(2025, 3, 1, 12, 0)  # naive on purpose
    with pytest.raises(ValueError):
        RetryPolicy().decide(1, naive, T0, None, random.Random(1))
    with pytest.raises(ValueError):
        RetryPolicy().decide(1, T0, naive, None, random.Random(1))


def test_schedule_repeats_its_last_delay():
    wait = ScheduleWait((1.0, 2.0))
    assert [wait(state(n)) for n in (1, 2, 3, 50)] == [1.0, 2.0, 2.0, 2.0]


@pytest.mark.parametrize("delays", [(), (1.0, -1.0)])
def test_bad_schedules_are_rejected(delays):
    with pytest.raises(ValueError):
        ScheduleWait(delays)


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"max_age": timedelta(0)}])
def test_bad_policies_are_rejected(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize("attempts", [1, 2, 5, 12, 10_000])
def test_full_jitter_stays_within_its_envelope(attempts):
    wait = ExponentialFullJitter(base=5.0, cap=36000.0)
    ceiling = min(36000.0, 5.0 * 2 ** min(attempts - 1, 62))
    values = [wait(state(attempts, seed=seed)) for seed in range(50)]
    assert all(0.0 <= v <= ceiling for v in values)
    assert len(set(values)) > 1


def test_strategies_are_reproducible_with_a_seeded_rng():
    wait = ProportionalJitter(ExponentialFullJitter(), fraction=0.2)
    assert wait(state(4, seed=3)) == wait(state(4, seed=3))


def test_proportional_jitter_bounds():
    wait = ProportionalJitter(ScheduleWait((100.0,)), fraction=0.1)
    values = [wait(state(1, seed=seed)) for seed in range(100)]
    assert all(90.0 <= v <= 110.0 for v in values)


def test_wait_max_composes():
    wait = WaitMax((ScheduleWait((10.0,)), RetryAfterWait()))
    assert wait(state(1)) == 10.0
    assert wait(state(1, retry_after=60.0)) == 60.0
    assert WaitMax(())(state(1)) == 0.0


def test_policy_with_a_composed_wait():
    policy = RetryPolicy(wait=ExponentialFullJitter(base=1.0, cap=10.0), max_attempts=3)
    decision = policy.decide(2, T0, T0, None, random.Random(5))
    assert isinstance(decision, RetryAt)
    assert T0 <= decision.when <= T0 + timedelta(seconds=2)
