"""The ticket link stores (SQLite and PostgreSQL, one contract): links by remote id,
first-acknowledged and resolve times, nonces, cursors, durable across a reopen."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pgserver import PgServer

from gateway.ticket_links import TicketLinks, TicketLinkStore
from gateway.ticket_links_postgres import PostgresTicketLinkStore

_DATABASES = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], TicketLinks]:
    if request.param == "sqlite":
        return lambda: TicketLinkStore(tmp_path / "spool.db")
    postgres: PgServer = request.getfixturevalue("postgres")
    dsn = postgres.create_database(f"links_{next(_DATABASES)}")
    return lambda: PostgresTicketLinkStore(dsn)


T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_links_states_times_nonces_and_cursors(make_store: Callable[[], TicketLinks]) -> None:
    async def main() -> None:
        store = make_store()
        facts: dict[str, object] = {"category": "c", "tier": 1}
        assert await store.record_delivery(
            "jira", "tkt_1", fingerprint="fp_1", remote_id=None, at=T0, facts=facts
        )
        assert not await store.record_delivery(
            "jira", "tkt_1", fingerprint="fp_1", remote_id="RCM-1", at=T0 + timedelta(seconds=5), facts={}
        )  # a later settlement only fills the missing remote id
        link = await store.by_remote("jira", "RCM-1")
        assert (
            link is not None and link.ticket_id == "tkt_1" and link.created_at == T0 and link.facts == facts
        )
        acked = await store.set_state(link, "acknowledged", T0 + timedelta(minutes=5))
        again = await store.set_state(acked, "acknowledged", T0 + timedelta(minutes=9))
        resolved = await store.set_state(again, "resolved", T0 + timedelta(hours=1))
        assert resolved.acknowledged_at == T0 + timedelta(minutes=5)
        stored = await store.by_ticket("jira", "tkt_1")
        assert stored == resolved
        reopened = await store.set_state(resolved, "reopened", T0 + timedelta(hours=2))
        assert reopened.resolved_at is None
        assert await store.by_remote("zendesk", "RCM-1") is None

        assert await store.claim_nonce("jira", "n1", T0, timedelta(minutes=10))
        assert not await store.claim_nonce("jira", "n1", T0 + timedelta(minutes=1), timedelta(minutes=10))
        assert await store.claim_nonce("zendesk", "n1", T0, timedelta(minutes=10))  # per sink
        await store.release_nonce("jira", "n1")
        assert await store.claim_nonce("jira", "n1", T0 + timedelta(minutes=2), timedelta(minutes=10))

        assert await store.cursor("redmine:r") is None
        await store.set_cursor("redmine:r", "2026-01-05T09:00:00Z")
        await store.aclose()
        reopened_store = make_store()  # durable across restarts
        assert await reopened_store.cursor("redmine:r") == "2026-01-05T09:00:00Z"
        assert (await reopened_store.by_ticket("jira", "tkt_1")) is not None
        await reopened_store.aclose()
        await reopened_store.aclose()

    asyncio.run(main())
