"""Parsing the console's query strings and form fields: empty means "any", times without an offset
are UTC (what an HTML ``datetime-local`` input sends), anything malformed is a 400."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import HTTPException

from fallback.spool import EntryState

ENTRY_ID = re.compile(r"^ent_[0-9a-f]{32}$")
FINGERPRINT = re.compile(r"^fp_[0-9a-f]{1,32}$")
MAX_TEXT = 100


def text(value: str | None, *, max_length: int = MAX_TEXT) -> str | None:
    """A trimmed filter value, None when empty; 400 when too long."""
    if value is None or not value.strip():
        return None
    if len(value) > max_length:
        raise HTTPException(400, "filter value too long")
    return value.strip()


def moment(value: str | None) -> datetime | None:
    """An ISO date-time (UTC when it has no offset), None when empty."""
    value = text(value, max_length=40)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, "times are ISO 8601, e.g. 2026-01-31T14:00") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def state(value: str | None, default: EntryState | None) -> EntryState | None:
    """A spool entry state ("any" for None)."""
    if value is None or value == "":
        return default
    if value == "any":
        return None
    try:
        return EntryState(value)
    except ValueError:
        raise HTTPException(400, "unknown state") from None


def entry_ids(values: list[str]) -> list[str]:
    """Entry ids from a form (at most 1000); 400 on a malformed one."""
    if len(values) > 1000:
        raise HTTPException(400, "at most 1000 entries at once")
    if not all(ENTRY_ID.match(value) for value in values):
        raise HTTPException(400, "malformed entry id")
    return values


def fingerprint(value: str | None) -> str | None:
    """A fingerprint or its prefix (``fp_`` and hex)."""
    value = text(value, max_length=35)
    if value is not None and not FINGERPRINT.match(value):
        raise HTTPException(400, "a fingerprint looks like fp_ followed by hex digits")
    return value


def number(value: str | None, *, default: float, low: float, high: float) -> float:
    """A number within [low, high]."""
    value = text(value, max_length=20)
    if value is None:
        return default
    try:
        parsed = float(value)
    except ValueError:
        raise HTTPException(400, "not a number") from None
    if not low <= parsed <= high:
        raise HTTPException(400, "number out of range")
    return parsed


__all__ = ["entry_ids", "fingerprint", "moment", "number", "state", "text"]
