"""The `AnomalyStore` contract on SQLite and PostgreSQL, and two gateway nodes on one PostgreSQL
database: their counts add up, a spike split across them is detected, exactly one meta-ticket."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from testkit import canary_event, find_canaries

from adapters.json_event import parse_event
from fallback.cipher import PayloadCipher
from fallback.postgres_spool import PostgresSpool
from gateway.anomaly_detect import Verdict
from gateway.anomaly_engine import AnomalyEngine, build_anomaly
from gateway.anomaly_postgres import PostgresAnomalyStore, anomaly_store_for
from gateway.anomaly_settings import AnomalySettings
from gateway.anomaly_store import AnomalyEvent, AnomalyStore, ClaimBatch, Tally
from gateway.audit import SqliteAuditLog
from gateway.pipeline import IngestPipeline
from gateway.quarantine import Quarantine
from normalizers.normalizer import Normalizer
from normalizers.rule_loader import load_rules
from normalizers.rule_set import Stage
from normalizers.sealing import Sealer
from redaction import Redactor, default_detector_registry
from redaction.testing import deterministic_pseudonymizer

H0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # a Monday, 2 pm
D0 = date(2026, 11, 23)
_DATABASES = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnomalyStore]:
    made: AnomalyStore
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        made = PostgresAnomalyStore(server.create_database(f"anomaly_contract_{next(_DATABASES)}"))
    else:
        made = AnomalyStore(tmp_path / "spool.db")
    yield made
    asyncio.run(made.aclose())


def _tally(
    hourly: dict[tuple[str, datetime], int] | None = None,
    tickets: dict[tuple[str, str, date], list[int]] | None = None,
    claims: list[ClaimBatch] | None = None,
) -> Tally:
    return Tally(dict(hourly or {}), dict(tickets or {}), list(claims or []))


def test_counts_add_up_across_flushes(store: AnomalyStore) -> None:
    async def body() -> None:
        assert await store.counting_since() is None
        assert await store.scopes() == frozenset()
        await store.add(_tally({("payer|87726", H0): 4, ("code|CO-97", H0): 2}), H0)
        await store.add(_tally({("payer|87726", H0): 6, ("payer|87726", H0 - timedelta(hours=2)): 1}), H0)
        assert await store.scopes() == {"payer|87726", "code|CO-97"}
        assert await store.counting_since() == H0 - timedelta(hours=2)
        assert await store.busy_scopes(H0, 5) == {"payer|87726": 10}
        assert await store.busy_scopes(H0, 1) == {"payer|87726": 10, "code|CO-97": 2}
        series = await store.series("payer|87726", H0 - timedelta(hours=3), H0)
        assert series == {H0 - timedelta(hours=2): 1, H0: 10}
        assert await store.series("payer|87726", H0 + timedelta(hours=1), H0 + timedelta(hours=5)) == {}

    asyncio.run(body())


def test_tickets_and_claims_per_day_each_set_once(store: AnomalyStore) -> None:
    async def body() -> None:
        await store.add(_tally(tickets={("87726", "denial-management", D0): [1, 3]}), H0)
        await store.add(_tally(tickets={("87726", "denial-management", D0): [2, 5]}), H0)
        batch = ClaimBatch("set-1", "87726", D0, 40)
        await store.add(_tally(claims=[batch, ClaimBatch("set-2", "87726", D0, 2)]), H0)
        await store.add(_tally(claims=[batch]), H0)  # the same transaction set again: not counted
        assert await store.ticket_days(D0, D0 + timedelta(days=1)) == [
            ("87726", "denial-management", D0, 3, 8)
        ]
        assert await store.ticket_days(D0 + timedelta(days=1), D0 + timedelta(days=2)) == []
        assert await store.claim_days(D0, D0 + timedelta(days=1)) == [("87726", D0, 42)]

    asyncio.run(body())


def test_meta_events_and_markers(store: AnomalyStore) -> None:
    async def body() -> None:
        assert await store.meta("last_judged") is None
        await store.set_meta("last_judged", H0.isoformat())
        await store.set_meta("last_judged", (H0 + timedelta(hours=1)).isoformat())
        assert await store.meta("last_judged") == (H0 + timedelta(hours=1)).isoformat()
        first = AnomalyEvent("payer|87726", H0, 47, 3.0, 12.5, "an_1", "tkt_1", H0 + timedelta(minutes=61))
        later = AnomalyEvent("code|CO-97", H0 + timedelta(hours=1), 30, 2.5, 9.0, "an_2", "tkt_2", H0)
        await store.record_events([first, later])
        await store.record_events([AnomalyEvent("payer|87726", H0, 99, 1.0, 1.0, "an_x", "tkt_x", H0)])
        await store.record_events([])
        assert await store.events(H0) == [later, first], "newest first; the first row of a scope-hour kept"
        assert await store.events(H0, scope="payer|87726") == [first]
        assert await store.events(H0 + timedelta(hours=2)) == []
        a = await store.add_marker("denial-management", D0, "front-end edit", "alice", H0)
        b = await store.add_marker("eligibility", D0 - timedelta(days=1), "new rule", "bob", H0)
        assert a.id != b.id
        assert await store.markers() == [b, a]
        assert await store.markers("denial-management") == [a]
        async with store.judging():
            pass

    asyncio.run(body())


def test_the_store_follows_the_spool_backend(tmp_path: Path) -> None:
    assert type(anomaly_store_for(tmp_path / "s.db", None)) is AnomalyStore
    assert isinstance(anomaly_store_for(tmp_path / "s.db", "host=127.0.0.1 dbname=x"), PostgresAnomalyStore)
    engine = build_anomaly(AnomalySettings(), tmp_path / "s.db", postgres_dsn="host=127.0.0.1 dbname=x")
    assert engine is not None and isinstance(engine.store, PostgresAnomalyStore)


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Node:
    engine: AnomalyEngine
    pipeline: IngestPipeline
    spool: PostgresSpool


def _node(dsn: str, tmp_path: Path, name: str, clock: FakeClock) -> Node:
    """One gateway node: its own anomaly engine, PostgreSQL spool and store connections."""
    spool = PostgresSpool(dsn, PayloadCipher({"k1": b"\x01" * 32}, "k1"))
    engine = AnomalyEngine(AnomalySettings(), PostgresAnomalyStore(dsn), clock=clock)
    pseudonymizer = deterministic_pseudonymizer()
    rules = load_rules()
    sealer = Sealer(
        Redactor(pseudonymizer, default_detector_registry()),
        pseudonymizer,
        post_rules=rules.stage(Stage.SEALED),
    )
    audit = SqliteAuditLog(tmp_path / f"audit-{name}.db", b"k" * 32)
    audit.open()
    cipher = PayloadCipher({"k1": b"\x01" * 32}, "k1")
    pipeline = IngestPipeline(
        Normalizer(rules=rules.stage(Stage.RECORD)),
        sealer,
        spool=spool,
        sinks=["file"],
        quarantine=Quarantine(tmp_path / f"q-{name}", cipher),
        audit=audit,
        observer=engine.observer,
    )
    return Node(engine, pipeline, spool)


def test_two_nodes_add_up_and_open_one_meta_ticket_for_a_split_spike(
    postgres: object, tmp_path: Path
) -> None:
    dsn = postgres.create_database(f"anomaly_nodes_{next(_DATABASES)}")  # type: ignore[attr-defined]
    clock = FakeClock(H0 + timedelta(minutes=5))
    nodes = [_node(dsn, tmp_path, f"n{i}", clock) for i in range(2)]
    (engine_a, pipe_a), (engine_b, pipe_b) = ((n.engine, n.pipeline) for n in nodes)

    async def body() -> None:
        for node in nodes:
            await node.spool.open()
        scope = "code_payer|CARC-16|87726"
        try:
            # Three weeks of 2 an hour, one counted by each node: both flushes add up.
            history = Tally.empty()
            at = H0 - timedelta(weeks=3)
            while at < H0:
                history.hourly[(scope, at)] = 1
                at += timedelta(hours=1)
            await asyncio.gather(engine_a.store.add(history, H0), engine_b.store.add(history, H0))
            hour_before = H0 - timedelta(hours=1)
            assert await engine_a.store.series(scope, hour_before, hour_before) == {hour_before: 2}
            # 18 records in the spike hour, 9 through each node: neither node alone has the
            # min_count (10) a scope needs to be judged; together 18 against a baseline of 2.
            for index in range(18):
                pipe = pipe_a if index % 2 == 0 else pipe_b
                await pipe.ingest(parse_event(json.dumps(canary_event(f"c-{index}")).encode()))
            for engine in (engine_a, engine_b):  # what each node holds, not yet written
                held = engine.observer.take()
                assert held.hourly[(scope, H0)] == 9
                engine.observer.give_back(held)
            await asyncio.gather(engine_a.flush(), engine_b.flush())
            assert (await engine_b.store.busy_scopes(H0, 10))[scope] == 18, "both nodes' counts add up"
            clock.now = H0 + timedelta(hours=1, minutes=1)
            found = await asyncio.gather(
                engine_a.evaluate_hour(H0, pipe_a), engine_b.evaluate_hour(H0, pipe_b)
            )
            events = [event for batch in found for event in batch]
            assert scope in {event.scope for event in events}, "the split spike is detected"
            assert [batch == [] for batch in found].count(True) == 1, (
                "one node judged, the other found it done"
            )
            assert len({event.ticket_id for event in events}) == 1
            # A meta-ticket of the same spike drafted again by the other node is a no-op in the spool.
            judge, other = (engine_a, pipe_b) if found[0] else (engine_b, pipe_a)
            first = next(e for e in events if e.scope == scope)
            stored = await engine_a.store.events(H0, scope=scope)
            assert stored == [first] and await engine_b.store.events(H0, scope=scope) == [first]
            verdict = Verdict(H0, first.observed, first.baseline, 1e-9, True, "seasonal")
            again = await other.spool_draft(*judge.meta_ticket(scope, verdict, first.fingerprint))
            assert again.created is False and again.ticket_id == first.ticket_id
            leased = await nodes[0].spool.lease("file", owner="t", limit=1000, lease_for=timedelta(minutes=5))
            metas = [entry.ticket.payload for entry in leased if "anomaly" in entry.ticket.payload.tags]
            assert [meta.id for meta in metas] == [first.ticket_id], "exactly one meta-ticket"
            assert not find_canaries(metas[0].canonical_json())
        finally:
            for node in nodes:
                await node.engine.store.aclose()
                await node.spool.aclose()

    asyncio.run(body())
