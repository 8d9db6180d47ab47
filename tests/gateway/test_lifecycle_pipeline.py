"""Dedup lifecycle through the ingest pipeline, in process with an injectable clock (no sleeps):
floods, grouped claims, recurrence across facilities, auto-resolve from 277CA and 835 evidence, the
group-wait flush; on the memory, SQLite and PostgreSQL lifecycle stores."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from testkit import canary_event, find_canaries

from adapters.base import PhiValue, SourceRecord
from adapters.json_event import parse_event
from fallback.cipher import PayloadCipher
from fallback.memory_spool import MemorySpool
from gateway.audit import SqliteAuditLog
from gateway.lifecycle_flow import LifecycleGate
from gateway.lifecycle_store import LifecycleStore, MemoryLifecycleStore, SqliteLifecycleStore
from gateway.pipeline import IngestPipeline
from normalizers.lifecycle import LifecyclePolicy
from normalizers.normalizer import Normalizer
from normalizers.payload import LifecycleKind, TicketPayload
from normalizers.rule_loader import load_rules
from normalizers.rule_set import Stage
from normalizers.sealing import Sealer
from redaction import Redactor, default_detector_registry
from redaction.testing import deterministic_pseudonymizer

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Harness:
    pipeline: IngestPipeline
    spool: MemorySpool
    clock: FakeClock
    store: LifecycleStore

    async def tickets(self) -> list[TicketPayload]:
        leased = await self.spool.lease("file", owner="t", limit=100_000, lease_for=timedelta(minutes=5))
        return [entry.ticket.payload for entry in leased]


_DATABASES = itertools.count(1)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LifecycleStore]:
    if request.param == "postgresql":
        from gateway.lifecycle_postgres import PostgresLifecycleStore

        server = request.getfixturevalue("postgres")
        yield PostgresLifecycleStore(server.create_database(f"lifecycle_pipe_{next(_DATABASES)}"))
        return
    yield MemoryLifecycleStore() if request.param == "memory" else SqliteLifecycleStore(tmp_path / "spool.db")


@pytest.fixture
def harness(tmp_path: Path, store: LifecycleStore) -> Iterator[Harness]:
    clock = FakeClock()
    rules = load_rules()
    pseudonymizer = deterministic_pseudonymizer()
    sealer = Sealer(
        Redactor(pseudonymizer, default_detector_registry()),
        pseudonymizer,
        post_rules=rules.stage(Stage.SEALED),
    )
    spool = MemorySpool(clock=clock)
    audit = SqliteAuditLog(tmp_path / "audit.db", b"k" * 32)
    audit.open()
    from gateway.quarantine import Quarantine

    cipher = PayloadCipher({"k1": b"\x01" * 32}, "k1")
    pipeline = IngestPipeline(
        Normalizer(rules=rules.stage(Stage.RECORD)),
        sealer,
        spool=spool,
        sinks=["file"],
        quarantine=Quarantine(tmp_path / "q", cipher),
        audit=audit,
        lifecycle=LifecycleGate(store, LifecyclePolicy(), clock=clock, cipher=cipher),
    )
    yield Harness(pipeline, spool, clock, store)
    asyncio.run(store.aclose())
    audit.close()


def run(harness: Harness, body: Callable[[], Awaitable[None]]) -> None:
    """Run a test body on a fresh event loop with the spool open."""

    async def main() -> None:
        await harness.spool.open()
        await body()

    asyncio.run(main())


def _event(n: int, **changes: object) -> SourceRecord:
    event = {**canary_event(f"evt-{n}"), **changes}
    return parse_event(json.dumps(event).encode())


def _claim_event(n: int, claim: str, **changes: object) -> SourceRecord:
    """A denial of one claim; its text quotes only that claim's own (structured) identifiers."""
    error = {"code": "16", "code_system": "CARC", "message": f"Claim {claim} denied: missing information."}
    return _event(n, error=error, claim={"id": claim}, patient={"mrn": f"MRN{n:06d}"}, note=None, **changes)


def test_flood_of_identical_errors_makes_one_ticket_and_at_most_one_update(
    harness: Harness, store: LifecycleStore
) -> None:
    async def body() -> None:
        count = 10_000 if isinstance(store, MemoryLifecycleStore) else 300
        acked = 0

        async def ack() -> None:
            nonlocal acked
            acked += 1

        step = 60 / count
        for n in range(count):
            await harness.pipeline.ingest(_event(n), ack)
            harness.clock.advance(seconds=step)
        tickets = await harness.tickets()
        kinds = [t.lifecycle.kind if t.lifecycle else None for t in tickets]
        assert kinds.count(LifecycleKind.OPEN) == 1
        assert kinds.count(LifecycleKind.UPDATE) <= 1 and len(tickets) <= 2
        assert acked == count
        state = await store.get(tickets[0].fingerprint)
        assert state is not None and state.occurrences == count
        update = [t for t in tickets if t.lifecycle and t.lifecycle.kind is LifecycleKind.UPDATE]
        assert all(u.lifecycle and u.lifecycle.of == tickets[0].id for u in update)

    run(harness, body)


def test_absorbed_occurrence_is_committed_before_the_ack(harness: Harness, store: LifecycleStore) -> None:
    async def body() -> None:
        seen: list[int] = []
        await harness.pipeline.ingest(_event(1))
        fingerprint = (await harness.tickets())[0].fingerprint

        async def ack() -> None:
            state = await store.get(fingerprint)
            assert state is not None
            seen.append(state.occurrences)

        result = await harness.pipeline.ingest(_event(2), ack)
        assert result.action == "absorb" and not result.created and seen == [2]

    run(harness, body)


def test_repeat_interval_then_resolve_then_new_ticket(harness: Harness) -> None:
    async def body() -> None:
        first = await harness.pipeline.ingest(_claim_event(1, "PCN-1"))
        harness.clock.advance(seconds=31)
        assert (await harness.pipeline.ingest(_claim_event(2, "PCN-1"))).action == "update"
        harness.clock.advance(hours=1)
        assert (await harness.pipeline.ingest(_claim_event(3, "PCN-1"))).action == "absorb"
        harness.clock.advance(hours=4)
        assert (await harness.pipeline.ingest(_claim_event(4, "PCN-1"))).action == "update"
        evidence = SourceRecord(
            record_type="x12-277ca-acceptance",
            source_system="clearinghouse",
            source_format="x12",
            facts={"status.code": "A1"},
            phi=(PhiValue(kind="CLAIM", field="TRN02", value="PCN-1"),),
            idempotency_id="277ca-1",
        )
        resolved = await harness.pipeline.ingest(evidence)
        assert resolved.action == "resolve" and resolved.ticket_id == first.ticket_id
        again = await harness.pipeline.ingest(_claim_event(5, "PCN-1"))
        assert again.action == "open" and again.created and again.ticket_id != first.ticket_id

    run(harness, body)


def test_batch_of_500_claims_one_reason_is_one_ticket_with_500_children(harness: Harness) -> None:
    async def body() -> None:
        claims = [f"PCN-{n:04d}" for n in range(500)]
        for n, claim in enumerate(claims):
            await harness.pipeline.ingest(_claim_event(n, claim))
            harness.clock.advance(milliseconds=20)
        harness.clock.advance(seconds=30)
        await harness.pipeline.ingest(_claim_event(500, claims[0]))
        tickets = await harness.tickets()
        assert [t.lifecycle.kind for t in tickets if t.lifecycle] == [
            LifecycleKind.OPEN,
            LifecycleKind.UPDATE,
        ]
        update = tickets[1]
        assert len(update.children) == 500 and {c.kind for c in update.children} == {"CLAIM"}
        assert update.lifecycle is not None and update.lifecycle.occurrences == 501
        assert find_canaries(b"".join(t.canonical_json() for t in tickets)) == []
        assert "PCN-0001" not in update.canonical_json().decode()

    run(harness, body)


@pytest.mark.parametrize(
    ("record_type", "facts"),
    [
        ("x12-277ca-acceptance", {"status.code": "A2"}),
        ("x12-835-payment", {"status.code": "1", "amounts.paid": Decimal("310.00")}),
    ],
)
def test_auto_resolve_from_evidence_only_when_every_claim_went_through(
    harness: Harness, record_type: str, facts: dict[str, object]
) -> None:
    async def body() -> None:
        opened = await harness.pipeline.ingest(_claim_event(1, "PCN-A"))
        await harness.pipeline.ingest(_claim_event(2, "PCN-B"))

        def evidence(claim: str, n: int) -> SourceRecord:
            return SourceRecord(
                record_type=record_type,
                source_system="clearinghouse",
                source_format="x12",
                facts=facts,  # type: ignore[arg-type]
                phi=(PhiValue(kind="CLAIM", field="CLP01", value=claim),),
                idempotency_id=f"{record_type}-{n}",
            )

        unrelated = await harness.pipeline.ingest(evidence("PCN-OTHER", 0))
        assert unrelated.action == "none" and unrelated.entry_ids == ()
        partial = await harness.pipeline.ingest(evidence("PCN-A", 1))
        assert partial.action == "absorb" and partial.entry_ids == ()
        done = await harness.pipeline.ingest(evidence("PCN-B", 2))
        assert done.action == "resolve" and done.ticket_id == opened.ticket_id
        tickets = await harness.tickets()
        resolve = tickets[-1]
        assert resolve.lifecycle is not None and resolve.lifecycle.kind is LifecycleKind.RESOLVE
        assert resolve.lifecycle.of == opened.ticket_id and resolve.fingerprint == tickets[0].fingerprint
        assert (
            find_canaries(resolve.canonical_json()) == [] and "PCN-B" not in resolve.canonical_json().decode()
        )

    run(harness, body)


def test_recurrence_across_facilities_escalates_to_tier_3_systemic(harness: Harness) -> None:
    async def body() -> None:
        for n, facility in enumerate(["north", "south", "east"]):
            await harness.pipeline.ingest(_event(n, facility=facility))
        tickets = await harness.tickets()
        assert [t.tier for t in tickets] == [1, 1, 3]
        assert "systemic" in tickets[2].tags and tickets[2].co_owner == "integration-engineering"
        assert any(
            line.startswith("escalation.systemic: facilities >= 3") for line in tickets[2].routing.rationale
        )

    run(harness, body)


def test_text_rules_see_only_redacted_text(harness: Harness, store: LifecycleStore) -> None:
    async def body() -> None:
        event = canary_event("t-1")
        event["error"] = {**event["error"], "message": "Connection refused for Zebediah Quixote"}  # type: ignore[dict-item]
        await harness.pipeline.ingest(parse_event(json.dumps(event).encode()))
        ticket = (await harness.tickets())[0]
        assert "connectivity" in ticket.tags
        assert find_canaries(json.dumps(ticket.routing.rationale)) == []

    run(harness, body)


def _kinds(tickets: list[TicketPayload]) -> list[LifecycleKind | None]:
    return [t.lifecycle.kind if t.lifecycle else None for t in tickets]


def test_group_wait_flush_delivers_a_lone_repeat_without_further_input(harness: Harness) -> None:
    async def body() -> None:
        first = await harness.pipeline.ingest(_claim_event(1, "PCN-1"))
        harness.clock.advance(seconds=5)
        assert (await harness.pipeline.ingest(_claim_event(2, "PCN-2"))).action == "absorb"
        harness.clock.advance(seconds=20)  # 25 s after the opening: not due yet
        assert await harness.pipeline.flush_lifecycle() == 0
        harness.clock.advance(seconds=5)  # 30 s: group_wait has passed, no further input
        assert await harness.pipeline.flush_lifecycle() == 1
        assert await harness.pipeline.flush_lifecycle() == 0  # flushed once
        tickets = await harness.tickets()
        assert _kinds(tickets) == [LifecycleKind.OPEN, LifecycleKind.UPDATE]
        update = tickets[1]
        assert update.lifecycle is not None and update.lifecycle.of == first.ticket_id
        assert update.lifecycle.occurrences == 2 and update.fingerprint == first.fingerprint
        assert len({ref.token for ref in update.children}) == 2  # both claims, pseudonymized
        assert not find_canaries(update.canonical_json().decode())
        # A repeat after the flush waits for the repeat interval, then is flushed in its turn.
        harness.clock.advance(minutes=1)
        assert (await harness.pipeline.ingest(_claim_event(3, "PCN-3"))).action == "absorb"
        assert await harness.pipeline.flush_lifecycle() == 0
        harness.clock.advance(hours=4)
        assert await harness.pipeline.flush_lifecycle() == 1
        last = (await harness.tickets())[-1]
        assert last.lifecycle is not None and last.lifecycle.occurrences == 3

    run(harness, body)


def test_flush_and_input_number_the_same_update_so_it_is_spooled_once(harness: Harness) -> None:
    async def body() -> None:
        await harness.pipeline.ingest(_event(1))
        harness.clock.advance(seconds=5)
        await harness.pipeline.ingest(_event(2))
        harness.clock.advance(seconds=30)
        assert await harness.pipeline.flush_lifecycle() == 1
        # The next input after the flush is inside the repeat interval: absorbed, not a 2nd update.
        assert (await harness.pipeline.ingest(_event(3))).action == "absorb"
        assert _kinds(await harness.tickets()) == [LifecycleKind.OPEN, LifecycleKind.UPDATE]

    run(harness, body)


def test_nothing_is_flushed_without_absorbed_repeats_or_after_resolve(harness: Harness) -> None:
    async def body() -> None:
        await harness.pipeline.ingest(_claim_event(1, "PCN-9"))
        harness.clock.advance(hours=5)
        assert await harness.pipeline.flush_lifecycle() == 0  # a lone opening owes no update
        await harness.pipeline.ingest(_claim_event(2, "PCN-9"))  # after the hold: an update at once
        harness.clock.advance(seconds=1)
        await harness.pipeline.ingest(_claim_event(3, "PCN-9"))  # absorbed
        evidence = SourceRecord(
            record_type="x12-835-payment",
            source_system="clearinghouse",
            source_format="x12",
            facts={"amounts.paid": "10.00"},
            phi=(PhiValue(kind="CLAIM", field="CLP01", value="PCN-9"),),
            idempotency_id="835-9",
        )
        assert (await harness.pipeline.ingest(evidence)).action == "resolve"
        harness.clock.advance(hours=5)
        assert await harness.pipeline.flush_lifecycle() == 0  # resolved: nothing owed

    run(harness, body)
