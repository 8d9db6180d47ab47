"""Budget, breaker, backoff, jitter and peak windows, on a hand-driven clock."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, time

import pytest
from fhirkit import epic_instance

from adapters.fhir.config import PeakWindow
from adapters.fhir.errors import BudgetExhausted, CircuitOpen
from adapters.fhir.protection import Backoff, CircuitBreaker, RequestBudget, RequestGuard, jittered
from adapters.fhir.retry_after import parse_retry_after


def test_budget_allows_a_burst_then_refills_at_the_hourly_rate() -> None:
    clock = [0.0]
    budget = RequestBudget(360, burst=3, clock=lambda: clock[0])
    for _ in range(3):
        budget.take()
    with pytest.raises(BudgetExhausted) as caught:
        budget.take()
    assert caught.value.retry_after == pytest.approx(10.0)  # 360/h = one every 10 s
    clock[0] = 10.0
    budget.take()


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = [0.0]
    breaker = CircuitBreaker(2, 60, clock=lambda: clock[0])
    breaker.failure()
    breaker.before()
    breaker.failure()
    with pytest.raises(CircuitOpen):
        breaker.before()
    clock[0] = 61.0
    breaker.before()  # the one trial request
    with pytest.raises(CircuitOpen):
        breaker.before()
    breaker.failure()  # trial failed: open again
    assert breaker.state == "open"
    clock[0] = 122.0
    breaker.before()
    breaker.success()
    assert breaker.state == "closed"


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    backoff = Backoff(base=10, cap=100, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    assert delays[0] <= 10 and delays[-1] <= 100 and delays[-1] >= 50
    backoff.reset()
    assert backoff.next_delay(retry_after=90) >= 90
    assert backoff.next_delay(retry_after=10_000) == 100


def test_jitter_spreads_instances() -> None:
    rng = random.Random(7)
    values = {round(jittered(300, 0.1, rng), 3) for _ in range(20)}
    assert len(values) > 10 and all(270 <= value <= 330 for value in values)


def test_peak_windows_lengthen_the_interval() -> None:
    instance = epic_instance(
        peak_windows=[
            {"start": "08:00", "end": "18:00", "days": [1, 2, 3, 4, 5], "timezone": "America/New_York"}
        ]
    )
    monday_noon_ny = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)
    sunday_noon_ny = datetime(2026, 11, 1, 17, 0, tzinfo=UTC)
    monday_night_ny = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
    assert instance.interval_at(monday_noon_ny) == instance.peak_interval_seconds
    assert instance.interval_at(sunday_noon_ny) == instance.interval_seconds
    assert instance.interval_at(monday_night_ny) == instance.interval_seconds


def test_a_window_over_midnight() -> None:
    window = PeakWindow(start=time(22, 0), end=time(2, 0), days=[5])
    assert window.contains(datetime(2026, 11, 6, 23, 0, tzinfo=UTC))  # Friday 23:00
    assert window.contains(datetime(2026, 11, 7, 1, 0, tzinfo=UTC))  # Saturday 01:00, Friday's window
    assert not window.contains(datetime(2026, 11, 8, 1, 0, tzinfo=UTC))


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Mon, 02 Nov 2026 12:01:00 GMT", now=now) == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_concurrency_cap_holds() -> None:
    guard = RequestGuard(RequestBudget(3600, burst=100), CircuitBreaker(5, 60), max_concurrency=2)

    async def one() -> None:
        async with guard.slot():
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(8)))

    asyncio.run(main())
    assert guard.peak_in_flight == 2
