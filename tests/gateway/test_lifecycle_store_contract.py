"""The `LifecycleStore` contract on memory, SQLite and PostgreSQL; the SQLite schema migration; and
two nodes on one PostgreSQL database deciding the same fingerprint at the same moment (one ticket)."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from testkit import canary_event

from adapters.json_event import parse_event
from fallback.cipher import PayloadCipher
from fallback.memory_spool import MemorySpool
from gateway.audit import SqliteAuditLog
from gateway.lifecycle_flow import LifecycleGate
from gateway.lifecycle_postgres import PostgresLifecycleStore
from gateway.lifecycle_store import LifecycleStore, MemoryLifecycleStore, SqliteLifecycleStore
from gateway.pipeline import IngestPipeline
from gateway.quarantine import Quarantine
from normalizers.lifecycle import FingerprintState, LifecyclePolicy, TicketState
from normalizers.normalizer import Normalizer
from normalizers.payload import LifecycleKind
from normalizers.rule_loader import load_rules
from normalizers.rule_set import Stage
from normalizers.sealing import Sealer
from redaction import Redactor, default_detector_registry
from redaction.testing import deterministic_pseudonymizer

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
_DATABASES = itertools.count(1)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LifecycleStore]:
    made: LifecycleStore
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        made = PostgresLifecycleStore(server.create_database(f"lifecycle_contract_{next(_DATABASES)}"))
    elif request.param == "sqlite":
        made = SqliteLifecycleStore(tmp_path / "spool.db")
    else:
        made = MemoryLifecycleStore()
    yield made
    asyncio.run(made.aclose())


def _state(fp: str, **changes: object) -> FingerprintState:
    base = FingerprintState(
        fingerprint=fp,
        problem_key="pk-1",
        ticket_id=f"tkt_{fp}",
        state=TicketState.OPEN,
        opened_by=f"id:{fp}",
        occurrences=1,
        first_seen=T0,
        last_seen=T0,
        last_delivery_at=T0,
        facilities=frozenset({"FAC-A"}),
        claims=frozenset({f"CLAIM-{fp}"}),
        delivered_occurrences=1,
    )
    return FingerprintState(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})  # type: ignore[arg-type]


def test_get_save_round_trip_and_upsert(store: LifecycleStore) -> None:
    async def body() -> None:
        assert await store.get("fp1") is None
        first = _state("fp1", template="k1:AAAA", facilities=frozenset({"FAC-A", "FAC-B"}))
        await store.save(first)
        assert await store.get("fp1") == first
        grown = _state(
            "fp1", occurrences=7, last_seen=T0 + timedelta(seconds=9), updates=1, template="k1:BBBB"
        )
        await store.save(grown)
        assert await store.get("fp1") == grown

    asyncio.run(body())


def test_save_many_is_one_commit_with_latest_state_per_fingerprint(store: LifecycleStore) -> None:
    async def body() -> None:
        await store.save_many([])
        await store.save_many([_state("a"), _state("b"), _state("a", occurrences=3)])
        a, b = await store.get("a"), await store.get("b")
        assert a is not None and a.occurrences == 3 and b is not None and b.occurrences == 1

    asyncio.run(body())


def test_facilities_of_a_problem_since(store: LifecycleStore) -> None:
    async def body() -> None:
        await store.save_many(
            [
                _state("a", facilities=frozenset({"F1"}), last_seen=T0),
                _state("b", facilities=frozenset({"F2", "F3"}), last_seen=T0 + timedelta(hours=2)),
                _state(
                    "c", problem_key="other", facilities=frozenset({"F9"}), last_seen=T0 + timedelta(hours=2)
                ),
            ]
        )
        assert await store.facilities("pk-1", T0) == {"F1", "F2", "F3"}
        assert await store.facilities("pk-1", T0 + timedelta(hours=1)) == {"F2", "F3"}
        assert await store.facilities("none", T0) == frozenset()

    asyncio.run(body())


def test_find_open_by_claims_only_open_states_with_a_token(store: LifecycleStore) -> None:
    async def body() -> None:
        await store.save_many(
            [
                _state("a", claims=frozenset({"T1", "T2"})),
                _state("b", claims=frozenset({"T2"})),
                _state("c", claims=frozenset({"T3"})),
            ]
        )
        assert [s.fingerprint for s in await store.find_open_by_claims(frozenset({"T2"}))] == ["a", "b"]
        await store.save(_state("a", state=TicketState.RESOLVED, claims=frozenset()))
        assert [s.fingerprint for s in await store.find_open_by_claims(frozenset({"T2", "T9"}))] == ["b"]
        assert await store.find_open_by_claims(frozenset()) == []

    asyncio.run(body())


def test_pending_lists_open_states_owing_an_update_oldest_first(store: LifecycleStore) -> None:
    async def body() -> None:
        later = T0 + timedelta(seconds=10)
        await store.save_many(
            [
                _state("quiet"),  # nothing absorbed since its delivery
                _state("owed-new", last_delivery_at=later, occurrences=3),
                _state("owed-old", occurrences=2),
                _state("closed", state=TicketState.RESOLVED, occurrences=2),
                _state("legacy", occurrences=2, delivered_occurrences=None),  # saved before the flusher
            ]
        )
        assert [s.fingerprint for s in await store.pending(later)] == ["owed-old", "owed-new"]
        assert [s.fingerprint for s in await store.pending(T0)] == ["owed-old"]
        assert [s.fingerprint for s in await store.pending(later, limit=1)] == ["owed-old"]

    asyncio.run(body())


def test_aclose_is_idempotent_and_the_store_reopens(store: LifecycleStore) -> None:
    async def body() -> None:
        await store.save(_state("x"))
        await store.aclose()
        await store.aclose()
        if not isinstance(store, MemoryLifecycleStore):
            assert await store.get("x") == _state("x")  # reopened on use, durable

    asyncio.run(body())


def test_sqlite_store_migrates_a_database_without_the_template_column(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE fingerprint_state (fingerprint TEXT PRIMARY KEY, problem_key TEXT NOT NULL,"
            " ticket_id TEXT NOT NULL, state TEXT NOT NULL, opened_by TEXT NOT NULL,"
            " occurrences INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
            " last_delivery_at INTEGER NOT NULL, updates INTEGER NOT NULL, facilities TEXT NOT NULL,"
            " claims TEXT NOT NULL)"
        )
        micros = int(T0.timestamp() * 1_000_000)
        conn.execute(
            "INSERT INTO fingerprint_state VALUES ('old', 'pk-1', 'tkt_old', 'open', 'id:old', 1, ?, ?, ?, 0,"
            " ?, ?)",
            (micros, micros, micros, json.dumps(["FAC-A"]), json.dumps(["CLAIM-old"])),
        )
    store = SqliteLifecycleStore(path)

    async def body() -> None:
        assert await store.get("old") == _state("old", delivered_occurrences=None)  # readable, never flushed
        await store.save(_state("new", template="k1:AAAA"))
        assert (await store.get("new")) == _state("new", template="k1:AAAA")
        await store.aclose()

    asyncio.run(body())


def _node(store: PostgresLifecycleStore, spool: MemorySpool, tmp_path: Path, name: str) -> IngestPipeline:
    """One gateway node's pipeline: its own store connection and cluster lock, a shared spool."""
    rules = load_rules()
    pseudonymizer = deterministic_pseudonymizer()
    sealer = Sealer(Redactor(pseudonymizer, default_detector_registry()), pseudonymizer)
    audit = SqliteAuditLog(tmp_path / f"audit-{name}.db", b"k" * 32)
    audit.open()
    cipher = PayloadCipher({"k1": b"\x01" * 32}, "k1")
    gate = LifecycleGate(store, LifecyclePolicy(), lock=store.cluster_lock(), cipher=cipher)
    return IngestPipeline(
        Normalizer(rules=rules.stage(Stage.RECORD)),
        sealer,
        spool=spool,
        sinks=["file"],
        quarantine=Quarantine(tmp_path / f"q-{name}", cipher),
        audit=audit,
        lifecycle=gate,
    )


@pytest.mark.parametrize("path", ["one record", "group"])
def test_two_nodes_on_one_database_seeing_one_fingerprint_at_once_open_one_ticket(
    postgres: object, tmp_path: Path, path: str
) -> None:
    """Per record (`ingest`) and per group (`ingest_group`: MLLP groups, X12 batches, whose reads
    come from one prefetched snapshot taken under the cluster lock)."""
    dsn = postgres.create_database(f"lifecycle_nodes_{next(_DATABASES)}")  # type: ignore[attr-defined]
    spool = MemorySpool()
    stores = [PostgresLifecycleStore(dsn), PostgresLifecycleStore(dsn)]
    nodes = [_node(store, spool, tmp_path, f"n{i}") for i, store in enumerate(stores)]
    rounds = 8

    async def body() -> None:
        await spool.open()
        for r in range(rounds):
            # One new problem per round (its own facility), one input of it to each node at once.
            events = [{**canary_event(f"race-{r}-{i}"), "facility": f"FAC-{r}"} for i in range(2)]
            records = [parse_event(json.dumps(e).encode()) for e in events]
            if path == "group":
                groups = await asyncio.gather(
                    *(node.ingest_group([rec]) for node, rec in zip(nodes, records, strict=True))
                )
                results = [group[0] for group in groups]
            else:
                results = await asyncio.gather(
                    *(node.ingest(rec) for node, rec in zip(nodes, records, strict=True))
                )
            assert sorted(result.action for result in results) == ["absorb", "open"], r
            assert results[0].ticket_id == results[1].ticket_id
        leased = await spool.lease("file", owner="t", limit=1000, lease_for=timedelta(minutes=5))
        kinds = [entry.ticket.payload.lifecycle.kind for entry in leased if entry.ticket.payload.lifecycle]
        assert kinds.count(LifecycleKind.OPEN) == rounds == len(leased)
        state = await stores[0].get(leased[0].ticket.fingerprint)
        assert state is not None and state.occurrences == 2
        for node_store, node in zip(stores, nodes, strict=True):
            await node_store.aclose()
            gate = node.lifecycle
            assert gate is not None
            await gate.lock.aclose()  # type: ignore[attr-defined]  # the node's ClusterLock

    asyncio.run(body())
