"""Per-sink health: a circuit breaker and a rate limiter, both on an injected monotonic clock.

`CircuitBreaker` (defaults from the issue): it OPENs when, over the last ``window`` seconds, at least
``min_attempts`` attempts were made and at least ``failure_ratio`` of them failed; after
``half_open_after`` seconds it lets ONE trial through (HALF_OPEN); the trial's success closes it
(and forgets the window), its failure opens it again. Only transient failures count (timeouts,
5xx, 429, refused connections); a 4xx about one ticket says nothing about the sink's health.

`RateLimiter` is a token bucket: ``rate`` requests per second with ``burst`` in hand. `PRESETS`
names the limits of the backends we ship sinks for.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class CircuitState(StrEnum):
    """Where a breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """See the module docstring. ``clock`` returns monotonic seconds."""

    def __init__(
        self,
        *,
        failure_ratio: float = 0.7,
        min_attempts: int = 10,
        window: float = 300.0,
        half_open_after: float = 30.0,
        clock: Monotonic = time.monotonic,
    ) -> None:
        if not 0 < failure_ratio <= 1 or min_attempts < 1 or window <= 0 or half_open_after <= 0:
            raise ValueError("circuit breaker settings out of range")
        self._ratio = failure_ratio
        self._min = min_attempts
        self._window = window
        self._half_open_after = half_open_after
        self._clock = clock
        self._events: deque[tuple[float, bool]] = deque()
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> CircuitState:
        """The current state (moves OPEN -> HALF_OPEN by time alone)."""
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self._half_open_after:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def allow(self) -> bool:
        """May an attempt start now? In HALF_OPEN only one trial at a time."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record(self, success: bool) -> None:
        """Record the outcome of an attempt that `allow` let through."""
        now = self._clock()
        if self._opened_at is not None:  # this was the half-open trial
            self._trial_running = False
            if success:
                self._opened_at = None
                self._events.clear()
            else:
                self._opened_at = now
            return
        self._events.append((now, success))
        while self._events and self._events[0][0] <= now - self._window:
            self._events.popleft()
        total = len(self._events)
        failures = sum(1 for _, ok in self._events if not ok)
        if total >= self._min and failures / total >= self._ratio:
            self._opened_at = now

    def reset(self) -> None:
        """Close the breaker and forget history (an operator re-enabled the sink)."""
        self._opened_at = None
        self._trial_running = False
        self._events.clear()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` requests per second, ``burst`` at most in one go; rate 0 means unlimited."""

    rate: float
    burst: int = 1


PRESETS: Final[dict[str, RateLimit]] = {
    "unlimited": RateLimit(0.0, 1),
    "webhook": RateLimit(50.0, 50),
    "redmine": RateLimit(10.0, 10),
    "jira": RateLimit(5.0, 5),  # Jira Cloud: stay well inside the per-user cost budget
    "servicenow": RateLimit(10.0, 10),
    "zendesk": RateLimit(700 / 60, 10),  # 700 requests/min (Suite Professional)
    "zendesk_updates": RateLimit(100 / 60, 5),  # ticket updates: 100/min per account
}
"""Named rate limits for sink configuration (``rate_limit: zendesk``)."""


class RateLimiter:
    """A token bucket (see `RateLimit`). ``acquire`` waits (via ``sleep``) for a token."""

    def __init__(
        self, limit: RateLimit, *, clock: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        if limit.rate < 0 or limit.burst < 1:
            raise ValueError("rate must be >= 0 and burst >= 1")
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(limit.burst)
        self._at = clock()

    async def acquire(self) -> None:
        """Take one token, waiting as long as needed."""
        if self._limit.rate == 0:
            return
        while True:
            now = self._clock()
            self._tokens = min(self._limit.burst, self._tokens + (now - self._at) * self._limit.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            await self._sleep((1 - self._tokens) / self._limit.rate)


def rate_limit(value: str | float | None) -> RateLimit:
    """A preset name, a number of requests per second, or None (unlimited)."""
    if value is None:
        return PRESETS["unlimited"]
    if isinstance(value, str):
        if value not in PRESETS:
            raise ValueError(f"unknown rate limit preset {value!r} (known: {', '.join(sorted(PRESETS))})")
        return PRESETS[value]
    return RateLimit(float(value), max(int(value), 1))


__all__ = [
    "PRESETS",
    "CircuitBreaker",
    "CircuitState",
    "RateLimit",
    "RateLimiter",
    "rate_limit",
]
