"""The poller: paging, outcome entries, cursors moved only after acks, bad answers, throttling,
outage and recovery records."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from fhirkit import (
    EPIC_BASE,
    EPIC_OID,
    EPIC_TOKEN,
    epic_instance,
    epic_warning,
    error_claim_response,
    searchset,
    stamped,
)

from adapters.base import SourceRecord
from adapters.fhir.client import FhirClient
from adapters.fhir.config import FhirInstance
from adapters.fhir.cursors import CursorStore
from adapters.fhir.poller import FhirPollingAdapter
from adapters.fhir.protection import CircuitBreaker, RequestBudget, RequestGuard
from adapters.fhir.signing_keys import KeyRing
from adapters.fhir.smart import SmartTokenSource

pytestmark = pytest.mark.anyio
TOKEN_OK = {"access_token": "at-1", "token_type": "bearer", "expires_in": 3600}
SEARCH = "ClaimResponse?outcome=error"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Harness:
    def __init__(self, tmp_path: Path, instance: FhirInstance) -> None:
        self.now = T0
        self.cursors = CursorStore(tmp_path / "cursors.db")
        self.instance = instance
        tokens = SmartTokenSource(instance, KeyRing(tmp_path / "keys"))
        guard = RequestGuard(RequestBudget(3600), CircuitBreaker(instance.breaker_failures, 300), 2)
        self.adapter = FhirPollingAdapter(
            instance,
            FhirClient(instance, tokens, guard),
            self.cursors,
            rng=random.Random(3),
            now=lambda: self.now,
        )

    async def cycle(self, *, ack: bool = True, stop_after: int | None = None) -> list[SourceRecord]:
        seen: list[SourceRecord] = []
        async for record, acknowledge in self.adapter.cycle():
            seen.append(record)
            if stop_after is not None and len(seen) > stop_after:
                continue  # consumer failed: no ack
            if ack:
                await acknowledge()
        return seen

    def cursor(self) -> datetime | None:
        return self.cursors.get(self.instance.name, SEARCH)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path, epic_instance(start_from="2026-11-01T00:00:00Z"))


def _page(url: str) -> str:
    return f"{EPIC_BASE}/ClaimResponse?page={url}"


@respx.mock
async def test_pages_are_followed_outcomes_scanned_and_the_cursor_moves_after_the_batch(
    harness: Harness,
) -> None:
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    error = error_claim_response()
    page1 = searchset(
        [stamped(error, "2026-11-19T10:00:00Z", "R1")],
        next_url=_page("2"),
        outcomes=[epic_warning("59100", "Some results were filtered")],
    )
    page2 = searchset([stamped(error, "2026-11-19T12:30:00Z", "R2")])
    first = respx.get(f"{EPIC_BASE}/ClaimResponse", params={"outcome": "error"}).mock(
        return_value=httpx.Response(200, json=page1)
    )
    respx.get(_page("2")).mock(return_value=httpx.Response(200, json=page2))
    records = await harness.cycle()
    query = parse_qs(urlsplit(str(first.calls[0].request.url)).query)
    assert query["_lastUpdated"] == ["gt2026-11-01T00:00:00Z"]
    assert query["_count"] == ["100"]
    kinds = [record.record_type for record in records]
    assert kinds == ["fhir-claim-error", "fhir-operation-outcome", "fhir-claim-error"]
    warning = records[1]
    assert warning.facts["code.1.system"] == EPIC_OID and warning.facts["fhir.origin"] == "poll:outcome"
    assert harness.cursor() == datetime(2026, 11, 19, 12, 30, tzinfo=UTC)
    assert harness.adapter.last.ok and harness.adapter.last.pages == 2


@respx.mock
async def test_an_unacknowledged_record_keeps_the_cursor(harness: Harness) -> None:
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    error = error_claim_response()
    bundle = searchset(
        [stamped(error, "2026-11-19T10:00:00Z", "R1"), stamped(error, "2026-11-19T11:00:00Z", "R2")]
    )
    respx.get(f"{EPIC_BASE}/ClaimResponse").mock(return_value=httpx.Response(200, json=bundle))
    records = await harness.cycle(stop_after=0)
    assert len(records) == 1  # the next record is not offered after an unacknowledged one
    assert harness.cursor() is None
    assert harness.adapter.last.abandoned
    await harness.cycle()
    assert harness.cursor() == datetime(2026, 11, 19, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "page2",
    [
        httpx.Response(200, html="<!DOCTYPE html><html><body>Service Unavailable</body></html>"),
        httpx.Response(
            200,
            content=b'{"resourceType":"Bundle","type":"searchset","entry":[{"reso',
            headers={"content-type": "application/fhir+json"},
        ),
        httpx.Response(
            200,
            json={
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": "exception",
                        "details": {"coding": [{"system": EPIC_OID, "code": "4100"}]},
                    }
                ],
            },
        ),
        httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": None}),
    ],
    ids=["html", "truncated-json", "200-outcome-error", "json-null"],
)
@respx.mock
async def test_a_bad_page_neither_crashes_nor_advances(harness: Harness, page2: httpx.Response) -> None:
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    error = error_claim_response()
    respx.get(f"{EPIC_BASE}/ClaimResponse", params={"outcome": "error"}).mock(
        return_value=httpx.Response(
            200, json=searchset([stamped(error, "2026-11-19T10:00:00Z", "R1")], next_url=_page("2"))
        )
    )
    respx.get(_page("2")).mock(return_value=page2)
    await harness.cycle()
    assert harness.cursor() is None
    assert not harness.adapter.last.ok
    assert harness.adapter.last.error_code in {"source.fhir_bad_response", "source.fhir_outcome"}
    assert harness.adapter.next_delay() > 0


@respx.mock
async def test_throttling_backs_off_at_least_retry_after(harness: Harness) -> None:
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    respx.get(f"{EPIC_BASE}/ClaimResponse").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "900"})
    )
    await harness.cycle()
    assert harness.adapter.last.error_code == "source.fhir_throttled"
    assert harness.adapter.next_delay() >= 900


@respx.mock
async def test_an_offline_upstream_yields_one_outage_record_then_a_resolution(harness: Harness) -> None:
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    search = respx.get(f"{EPIC_BASE}/ClaimResponse").mock(side_effect=httpx.ConnectError("refused"))
    assert await harness.cycle() == []  # first failure starts the streak
    harness.now = T0 + timedelta(seconds=200)
    assert await harness.cycle() == []  # not yet outage_after_seconds (300)
    harness.now = T0 + timedelta(seconds=301)
    records = await harness.cycle()
    assert [r.record_type for r in records] == ["fhir-upstream-status"]
    assert records[0].facts["upstream.state"] == "down"
    assert records[0].facts["upstream.since"] == T0
    harness.now = T0 + timedelta(seconds=900)
    assert await harness.cycle() == []  # reported once, polling continues
    search.side_effect = None
    search.return_value = httpx.Response(200, json=searchset([]))
    harness.now = T0 + timedelta(hours=1)
    harness.adapter._client._guard.breaker.success()  # the breaker's own reset is tested elsewhere
    records = await harness.cycle()
    assert [r.facts["upstream.state"] for r in records] == ["resolved"]
    assert records[0].facts["upstream.until"] == T0 + timedelta(hours=1)
    assert await harness.cycle() == []


@respx.mock
async def test_an_invalid_client_counts_toward_an_outage(tmp_path: Path) -> None:
    harness = Harness(tmp_path, epic_instance(outage_after_seconds=0))
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
    records = await harness.cycle()
    assert harness.adapter.last.error_code == "source.fhir_token"
    assert records[0].facts["upstream.error_code"] == "source.fhir_token"


async def test_read_stops_promptly_after_aclose(harness: Harness) -> None:
    seen: list[Any] = []

    async def consume() -> None:
        async for item in harness.adapter.read():
            seen.append(item)

    import asyncio

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await harness.adapter.aclose()
    await asyncio.wait_for(task, 5)
    assert seen == []


@respx.mock
async def test_a_restart_during_an_outage_keeps_its_clock_and_its_single_down_ticket(tmp_path: Path) -> None:
    instance = epic_instance(start_from="2026-11-01T00:00:00Z")
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    search = respx.get(f"{EPIC_BASE}/ClaimResponse").mock(side_effect=httpx.ConnectError("refused"))
    first = Harness(tmp_path, instance)
    assert await first.cycle() == []  # the streak starts at T0
    first.cursors.close()

    second = Harness(tmp_path, instance)  # restart before the outage was reported
    second.now = T0 + timedelta(seconds=301)
    records = await second.cycle()
    assert [r.facts["upstream.state"] for r in records] == ["down"]
    assert records[0].facts["upstream.since"] == T0  # the clock did not restart
    second.cursors.close()

    third = Harness(tmp_path, instance)  # restart after the down ticket was committed
    third.now = T0 + timedelta(seconds=900)
    assert await third.cycle() == []  # no second down ticket
    search.side_effect = None
    search.return_value = httpx.Response(200, json=searchset([]))
    third.now = T0 + timedelta(hours=1)
    records = await third.cycle()
    assert [r.facts["upstream.state"] for r in records] == ["resolved"]
    assert records[0].facts["upstream.since"] == T0
    assert third.cursors.outage(instance.name) is None
    third.cursors.close()

    fourth = Harness(tmp_path, instance)  # recovered before this restart: nothing pending
    fourth.now = T0 + timedelta(hours=2)
    assert await fourth.cycle() == []


@respx.mock
async def test_an_unacknowledged_down_record_is_offered_again_after_a_restart(tmp_path: Path) -> None:
    instance = epic_instance(outage_after_seconds=0)
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    respx.get(f"{EPIC_BASE}/ClaimResponse").mock(side_effect=httpx.ConnectError("refused"))
    first = Harness(tmp_path, instance)
    down = await first.cycle(ack=False)  # the spool could not commit it
    assert [r.facts["upstream.state"] for r in down] == ["down"]
    first.cursors.close()
    second = Harness(tmp_path, instance)
    second.now = T0 + timedelta(minutes=5)
    again = await second.cycle()
    assert [r.facts["upstream.state"] for r in again] == ["down"]
    assert again[0].idempotency_id == down[0].idempotency_id  # the spool dedups a repeat
    state = second.cursors.outage(instance.name)
    assert state is not None and state.reported and state.since == T0
    assert state.last_error == "source.fhir_unreachable"
