"""Keeping our polls from hurting production: a request budget, a concurrency cap, a circuit
breaker, backoff that honours ``Retry-After``, and jittered schedules.

Each piece is a small object over an injected clock (``time.monotonic`` by default) so tests drive
time by hand. `RequestGuard` composes them for one instance: every request to that upstream, token
requests included, goes through ``guard.slot()``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from adapters.fhir.errors import BudgetExhausted, CircuitOpen

Clock = Callable[[], float]


class RequestBudget:
    """A token bucket: at most ``per_hour`` requests an hour, in bursts of at most ``burst``."""

    def __init__(self, per_hour: int, *, burst: int | None = None, clock: Clock = time.monotonic) -> None:
        self._rate = per_hour / 3600.0
        self._capacity = float(burst if burst is not None else max(1, min(per_hour, 60)))
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    def take(self) -> None:
        """Spend one request; `BudgetExhausted` (with ``retry_after``) when none is left."""
        self._refill()
        if self._tokens < 1.0:
            raise BudgetExhausted("request budget spent", retry_after=(1.0 - self._tokens) / self._rate)
        self._tokens -= 1.0

    @property
    def remaining(self) -> float:
        """Requests that may be sent now."""
        self._refill()
        return self._tokens


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures; open for ``reset_seconds`` (no
    request is sent); then half-open: one trial request closes it on success or reopens it."""

    def __init__(self, failures: int, reset_seconds: float, *, clock: Clock = time.monotonic) -> None:
        self._threshold = failures
        self._reset = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._reset:
            return "half-open"
        return "open"

    def before(self) -> None:
        """Raise `CircuitOpen` unless a request may be sent now."""
        state = self.state
        if state == "open":
            assert self._opened_at is not None
            raise CircuitOpen("circuit open", retry_after=self._reset - (self._clock() - self._opened_at))
        if state == "half-open":
            if self._trial:
                raise CircuitOpen("circuit half-open; a trial request is in flight", retry_after=1.0)
            self._trial = True

    def cancel_trial(self) -> None:
        """The trial request was not sent after all."""
        self._trial = False

    def success(self) -> None:
        """A request succeeded: close."""
        self._failures = 0
        self._opened_at = None
        self._trial = False

    def failure(self) -> None:
        """A request failed (unreachable, throttled, bad answer): count it; open at the threshold."""
        self._failures += 1
        if self._trial or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._trial = False


@dataclass
class Backoff:
    """Exponential backoff with full jitter, floored by the server's ``Retry-After``."""

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        """The wait before the next attempt; grows with each call until `reset`."""
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        delay: float = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return delay

    def reset(self) -> None:
        """Back to the first step (after a success)."""
        self.attempt = 0


def jittered(interval: float, fraction: float, rng: random.Random) -> float:
    """``interval`` moved by up to ``fraction`` either way, so instances do not align."""
    return interval * (1.0 + rng.uniform(-fraction, fraction))


class RequestGuard:
    """Budget, concurrency cap and breaker of one instance. Use ``async with guard.slot():`` around
    each request and report the outcome with `success` / `failure`."""

    def __init__(self, budget: RequestBudget, breaker: CircuitBreaker, max_concurrency: int) -> None:
        self.budget = budget
        self.breaker = breaker
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self.in_flight = 0
        self.peak_in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a concurrency slot, then check the breaker and spend budget."""
        async with self._semaphore:
            self.breaker.before()
            try:
                self.budget.take()
            except BudgetExhausted:
                self.breaker.cancel_trial()
                raise
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1

    def success(self) -> None:
        """Report a usable answer."""
        self.breaker.success()

    def failure(self) -> None:
        """Report a failed request."""
        self.breaker.failure()
