"""The searches of one instance run concurrently, bounded by the instance's concurrency cap and
request budget; each search's cursor moves only after its own batch was acknowledged.

The fake upstream counts the requests it is serving at once; it yields to the event loop a few
times inside each request so that concurrent requests overlap. No timing is asserted."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fhirkit import EPIC_BASE, EPIC_TOKEN, epic_instance, error_claim_response, searchset, stamped

from adapters.base import SourceRecord
from adapters.fhir.client import FhirClient
from adapters.fhir.config import FhirInstance
from adapters.fhir.cursors import CursorStore
from adapters.fhir.poller import FhirPollingAdapter
from adapters.fhir.protection import CircuitBreaker, RequestBudget, RequestGuard
from adapters.fhir.signing_keys import KeyRing
from adapters.fhir.smart import SmartTokenSource

pytestmark = pytest.mark.anyio
SEARCHES = 7
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PAGE_TIMES = {"1": "2026-11-19T10:00:00Z", "2": "2026-11-19T12:30:00Z"}


class FakeUpstream:
    """Two pages per search; counts requests in flight."""

    def __init__(self, broken: frozenset[str] = frozenset()) -> None:
        self.broken = broken
        self.in_flight = 0
        self.peak = 0
        self.searches_served = 0
        self.per_search_in_flight: dict[str, int] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == EPIC_TOKEN:
            return httpx.Response(
                200, json={"access_token": "at", "token_type": "bearer", "expires_in": 3600}
            )
        query = parse_qs(urlsplit(str(request.url)).query)
        tag, page = query["_tag"][0], query.get("page", ["1"])[0]
        self.searches_served += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.per_search_in_flight[tag] = self.per_search_in_flight.get(tag, 0) + 1
        assert self.per_search_in_flight[tag] == 1, "pages of one search overlapped"
        try:
            for _ in range(10):
                await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
            self.per_search_in_flight[tag] -= 1
        if tag in self.broken:
            return httpx.Response(200, html="<html>maintenance</html>")
        resource = stamped(error_claim_response(), PAGE_TIMES[page], f"R-{tag}-{page}")
        next_url = f"{EPIC_BASE}/ClaimResponse?_tag={tag}&page=2" if page == "1" else None
        return httpx.Response(200, json=searchset([resource], next_url=next_url))


def _instance(max_concurrency: int) -> FhirInstance:
    return epic_instance(
        max_concurrency=max_concurrency,
        start_from="2026-11-01T00:00:00Z",
        searches=[
            {"resource": "ClaimResponse", "params": {"outcome": "error", "_tag": f"s{n}"}}
            for n in range(SEARCHES)
        ],
    )


def _adapter(
    tmp_path: Path, instance: FhirInstance, fake: FakeUpstream, budget: RequestBudget
) -> tuple[FhirPollingAdapter, CursorStore]:
    transport = httpx.MockTransport(fake)
    tokens = SmartTokenSource(instance, KeyRing(tmp_path / "keys"), transport=transport)
    guard = RequestGuard(budget, CircuitBreaker(5, 300), instance.max_concurrency)
    cursors = CursorStore(tmp_path / "cursors.db")
    adapter = FhirPollingAdapter(
        instance,
        FhirClient(instance, tokens, guard, transport=transport),
        cursors,
        rng=random.Random(1),
        now=lambda: T0,
    )
    return adapter, cursors


def _tag(record: SourceRecord) -> tuple[str, str]:
    _, tag, page = record.control_ids["fhir_resource"].split("-")
    return tag, page


def _key(tag: str) -> str:
    return f"ClaimResponse?_tag={tag}&outcome=error"


@pytest.mark.parametrize("cap", [1, 3])
async def test_searches_run_concurrently_up_to_the_cap(tmp_path: Path, cap: int) -> None:
    fake = FakeUpstream()
    instance = _instance(cap)
    adapter, cursors = _adapter(tmp_path, instance, fake, RequestBudget(3600, burst=100))
    seen: list[tuple[str, str]] = []
    async for record, ack in adapter.cycle():
        tag, page = _tag(record)
        seen.append((tag, page))
        # a cursor is committed only after the last record of its search's batch was acked
        assert cursors.get(instance.name, _key(tag)) is None
        await ack()
    assert fake.peak == cap
    assert fake.searches_served == 2 * SEARCHES
    assert sorted(seen) == sorted((f"s{n}", page) for n in range(SEARCHES) for page in "12")
    for n in range(SEARCHES):  # pages of one search are delivered in order
        assert seen.index((f"s{n}", "1")) < seen.index((f"s{n}", "2"))
        assert cursors.get(instance.name, _key(f"s{n}")) == datetime(2026, 11, 19, 12, 30, tzinfo=UTC)
    assert adapter.last.ok and adapter.last.pages == 2 * SEARCHES


async def test_the_request_budget_is_never_exceeded(tmp_path: Path) -> None:
    fake = FakeUpstream()
    instance = _instance(3)
    budget = RequestBudget(3600, burst=5, clock=lambda: 0.0)  # a clock that never refills
    adapter, cursors = _adapter(tmp_path, instance, fake, budget)
    acked: dict[str, int] = {}
    async for record, ack in adapter.cycle():
        await ack()
        tag, _ = _tag(record)
        acked[tag] = acked.get(tag, 0) + 1
    assert fake.searches_served == 5
    assert fake.peak <= 3
    assert adapter.last.error_code == "source.fhir_budget"
    assert adapter.last.retry_after is not None and adapter.last.retry_after > 0
    committed = {search for (_, search) in cursors.all()}
    assert committed == {_key(tag) for tag, count in acked.items() if count == 2}
    assert len(committed) <= 2
    assert adapter.next_delay() >= adapter.last.retry_after


async def test_an_unacknowledged_record_stops_every_search_without_moving_cursors(tmp_path: Path) -> None:
    fake = FakeUpstream()
    instance = _instance(3)
    adapter, cursors = _adapter(tmp_path, instance, fake, RequestBudget(3600, burst=100))
    offered = 0
    async for _record, _ack in adapter.cycle():
        offered += 1  # never acknowledged
    assert offered == 1
    assert adapter.last.abandoned and not adapter.last.ok
    assert cursors.all() == {}
    assert fake.searches_served < 2 * SEARCHES


async def test_a_bad_answer_to_one_search_does_not_stop_the_others(tmp_path: Path) -> None:
    fake = FakeUpstream(broken=frozenset({"s2"}))
    instance = _instance(2)
    adapter, cursors = _adapter(tmp_path, instance, fake, RequestBudget(3600, burst=100))
    async for _record, ack in adapter.cycle():
        await ack()
    assert not adapter.last.ok and adapter.last.error_code == "source.fhir_bad_response"
    assert {search for (_, search) in cursors.all()} == {_key(f"s{n}") for n in range(SEARCHES) if n != 2}
