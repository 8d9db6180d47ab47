"""The clock the spool, the worker and the retry policy read time from.

Everything in this package takes its time from an injectable ``Clock`` (a zero-argument callable
returning an aware datetime), so tests move time forward instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time as a timezone-aware datetime."""


def utc_now() -> datetime:
    """The default clock: the current time in UTC."""
    return datetime.now(UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` unchanged; raise ValueError if it is naive (has no UTC offset)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value


__all__ = ["Clock", "require_aware", "utc_now"]
