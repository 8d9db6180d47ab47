"""The spool's retry schedule: when a failed delivery is tried again, and when to give up.

Built like tenacity's ``wait``/``stop`` modules: small frozen strategy objects, each a pure function
of one `RetryState`, that compose (`WaitMax` takes the largest of several waits). `RetryPolicy`
combines a wait strategy with the two limits (attempts and age) and turns a failure into a spool
settlement: `RetryAt` or `DeadLetter`.

The default follows the Standard Webhooks schedule: after the first attempt, retry after 5 s, 5 min,
30 min, 2 h, 5 h, 10 h and 10 h: eight attempts in about 28 hours, well inside the three-day age
limit. A remote's ``Retry-After`` is always honoured as a floor.

Nothing here reads a clock or a global random generator: time and the `random.Random` come in as
arguments, so every decision is reproducible in tests.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from fallback.clock import require_aware
from fallback.spool import DeadLetter, RetryAt

STANDARD_WEBHOOKS_SCHEDULE: Final[tuple[float, ...]] = (5, 300, 1800, 7200, 18000, 36000, 36000)
"""Seconds to wait after failed attempt 1, 2, 3 ...; the last value repeats."""


@dataclass(frozen=True, slots=True)
class RetryState:
    """Everything a wait strategy may look at.

    ``attempts`` counts the attempts made so far, including the one that just failed (>= 1);
    ``first_at`` is when the entry was spooled; ``retry_after`` is the remote's requested wait in
    seconds, if any; ``rng`` supplies jitter.
    """

    attempts: int
    first_at: datetime
    now: datetime
    retry_after: float | None
    rng: random.Random


class WaitStrategy(Protocol):
    """Seconds to wait before the next attempt. Must be pure (no clock, no global state)."""

    def __call__(self, state: RetryState) -> float:
        """The wait in seconds (>= 0)."""
        ...


@dataclass(frozen=True, slots=True)
class ScheduleWait:
    """Wait ``delays[attempts - 1]`` seconds; past the end of the list, repeat the last delay."""

    delays: tuple[float, ...] = STANDARD_WEBHOOKS_SCHEDULE

    def __post_init__(self) -> None:
        if not self.delays or any(d < 0 for d in self.delays):
            raise ValueError("a retry schedule needs at least one delay, none negative")

    def __call__(self, state: RetryState) -> float:
        return self.delays[min(max(state.attempts, 1), len(self.delays)) - 1]


@dataclass(frozen=True, slots=True)
class ExponentialFullJitter:
    """AWS "full jitter": uniform in ``[0, min(cap, base * 2 ** (attempts - 1))]`` seconds."""

    base: float = 5.0
    cap: float = 10 * 3600.0

    def __call__(self, state: RetryState) -> float:
        exponent = min(max(state.attempts - 1, 0), 62)  # 2**62 * base already exceeds any cap
        return state.rng.uniform(0.0, min(self.cap, self.base * 2.0**exponent))


@dataclass(frozen=True, slots=True)
class ProportionalJitter:
    """``inner``'s wait spread uniformly by +/- ``fraction`` (0.1 = +/-10 %), to avoid herds."""

    inner: WaitStrategy
    fraction: float = 0.1

    def __call__(self, state: RetryState) -> float:
        wait = self.inner(state)
        return max(0.0, wait * (1.0 + state.rng.uniform(-self.fraction, self.fraction)))


@dataclass(frozen=True, slots=True)
class RetryAfterWait:
    """The remote's ``Retry-After`` in seconds, or 0 when it sent none (or nonsense)."""

    def __call__(self, state: RetryState) -> float:
        value = state.retry_after
        if value is None or math.isnan(value) or value < 0:
            return 0.0
        return value


@dataclass(frozen=True, slots=True)
class WaitMax:
    """The largest of several waits, e.g. ``WaitMax((ScheduleWait(), RetryAfterWait()))``."""

    strategies: tuple[WaitStrategy, ...]

    def __call__(self, state: RetryState) -> float:
        return max((strategy(state) for strategy in self.strategies), default=0.0)


def _default_wait() -> WaitStrategy:
    return ScheduleWait(STANDARD_WEBHOOKS_SCHEDULE)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Decides what happens to an entry after a failed delivery (see the module docstring).

    An entry gets at most ``max_attempts`` attempts in total, and no attempt is scheduled later than
    ``max_age`` after it was spooled. ``wait`` picks the delay; ``Retry-After`` is applied on top as
    a floor whatever ``wait`` is.
    """

    wait: WaitStrategy = field(default_factory=_default_wait)
    max_attempts: int = 8
    max_age: timedelta = timedelta(days=3)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_age <= timedelta(0):
            raise ValueError("max_age must be positive")

    def decide(
        self,
        attempts: int,
        first_at: datetime,
        now: datetime,
        retry_after: float | None,
        rng: random.Random,
        *,
        reason: str = "delivery.transient",
    ) -> RetryAt | DeadLetter:
        """After failed attempt number ``attempts`` (1 = the first), return `RetryAt` (``when`` =
        ``now`` + the wait, never sooner than ``retry_after``) or `DeadLetter` once the attempts are
        used up or the next attempt would fall after ``first_at + max_age``. ``reason`` (a code or
        error class name) is carried into the outcome, prefixed on dead letters by the limit hit:
        ``attempts_exhausted:`` or ``max_age:``. Raises ValueError on naive datetimes."""
        require_aware(first_at, "first_at")
        require_aware(now, "now")
        if attempts >= self.max_attempts:
            return DeadLetter(reason=f"attempts_exhausted:{reason}")
        state = RetryState(attempts, first_at, now, retry_after, rng)
        delay = max(self.wait(state), RetryAfterWait()(state), 0.0)
        deadline = first_at + self.max_age
        # Clamp before building a timedelta so an absurd Retry-After cannot overflow.
        limit = max((deadline - now).total_seconds(), 0.0) + 1.0
        when = now + timedelta(seconds=min(delay, limit))
        if when > deadline:
            return DeadLetter(reason=f"max_age:{reason}")
        return RetryAt(when=when, reason=reason)


def schedule_wait(delays: Sequence[float]) -> ScheduleWait:
    """`ScheduleWait` from any sequence of seconds (e.g. a list read from configuration)."""
    return ScheduleWait(tuple(float(d) for d in delays))


__all__ = [
    "STANDARD_WEBHOOKS_SCHEDULE",
    "ExponentialFullJitter",
    "ProportionalJitter",
    "RetryAfterWait",
    "RetryPolicy",
    "RetryState",
    "ScheduleWait",
    "WaitMax",
    "WaitStrategy",
    "schedule_wait",
]
