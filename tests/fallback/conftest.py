"""Fixtures for the fallback tests: sealed tickets without a redactor, and a clock tests move by hand.

There is no redactor here, so tickets are made the way the spool makes them: a `TicketPayload`
serialised and passed through `SealedTicket.restore`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pgserver import postgres  # noqa: F401 - the session's PostgreSQL, for the contract suite
from redmineserver import redmine  # noqa: F401 - the session's Redmine, for the redmine sink

from normalizers.payload import (
    RedactionReport,
    Routing,
    SourceFormat,
    SourceInfo,
    TicketPayload,
)
from normalizers.sealed import SealedTicket

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that stands still until ``advance`` is called."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        self.now += timedelta(seconds=seconds, **kwargs)
        return self.now


TicketFactory = Callable[..., SealedTicket]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_ticket() -> TicketFactory:
    """``make_ticket(description="...", number=None)`` -> a valid `SealedTicket` with a fresh id
    (or ``tkt_`` + ``number`` in hex when given)."""
    counter = itertools.count(1)

    def build(description: str = "", number: int | None = None) -> SealedTicket:
        n = next(counter) if number is None else number
        payload = TicketPayload(
            id=f"tkt_{n:032x}",
            fingerprint=f"fp_{n:032x}",
            source=SourceInfo(system="epic", format=SourceFormat.HL7V2, control_ids={"MSH-10": f"m{n}"}),
            received_at=START,
            category="eligibility.denied",
            taxonomy_version="2025.1",
            routing=Routing(queue="billing", rule_id="r-1"),
            summary=f"test ticket {n}",
            description=description,
            redaction=RedactionReport(policy_version="p1", key_id="k1"),
        )
        return SealedTicket.restore(payload.canonical_json())

    return build
