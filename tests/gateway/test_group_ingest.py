"""Group commit for concurrent ingest (`gateway.group_ingest`, `IngestPipeline.ingest_group`):
concurrent callers share one spool, audit and lifecycle commit; each returns only after it; the
lifecycle decides within a group exactly as it would one record after the other."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from testkit import canary_event

from adapters.base import SourceRecord
from adapters.json_event import parse_event
from fallback.cipher import PayloadCipher
from fallback.errors import SpoolUnavailable
from fallback.memory_spool import MemorySpool
from fallback.spool import PutRequest, PutResult
from gateway.audit import AuditEntry, SqliteAuditLog
from gateway.group_ingest import GroupIngest
from gateway.lifecycle_flow import LifecycleGate
from gateway.lifecycle_pending import PendingStates
from gateway.lifecycle_store import LifecycleStore, MemoryLifecycleStore, SqliteLifecycleStore
from gateway.pipeline import IngestPipeline, IngestResult, RecordQuarantined
from gateway.quarantine import Quarantine
from normalizers.draft import TicketDraft
from normalizers.errors import UnsupportedRecord
from normalizers.lifecycle import FingerprintState, LifecyclePolicy, TicketState
from normalizers.normalizer import Normalizer
from normalizers.rule_loader import load_rules
from normalizers.rule_set import Stage
from normalizers.sealing import Sealer
from redaction import Redactor, default_detector_registry
from redaction.testing import deterministic_pseudonymizer

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class CountingSpool(MemorySpool):
    """A memory spool that counts its transactions and can be made to fail."""

    def __init__(self) -> None:
        super().__init__(clock=lambda: T0)
        self.transactions = 0
        self.fail = False

    async def put_many(self, items: Sequence[PutRequest]) -> list[PutResult]:
        if self.fail:
            raise SpoolUnavailable("spool down (test)")
        self.transactions += 1
        return await super().put_many(items)


@dataclass
class Harness:
    pipeline: IngestPipeline
    spool: CountingSpool
    audit: SqliteAuditLog
    store: LifecycleStore | None


def _pipeline(tmp_path: Path, store: LifecycleStore | None) -> Harness:
    rules = load_rules()
    pseudonymizer = deterministic_pseudonymizer()
    sealer = Sealer(
        Redactor(pseudonymizer, default_detector_registry()),
        pseudonymizer,
        post_rules=rules.stage(Stage.SEALED),
    )
    spool = CountingSpool()
    audit = SqliteAuditLog(tmp_path / "audit.db", b"k" * 32)
    audit.open()
    pipeline = IngestPipeline(
        Normalizer(rules=rules.stage(Stage.RECORD)),
        sealer,
        spool=spool,
        sinks=["file"],
        quarantine=Quarantine(tmp_path / "q", PayloadCipher({"k1": b"\x01" * 32}, "k1")),
        audit=audit,
        lifecycle=None if store is None else LifecycleGate(store, LifecyclePolicy(), clock=lambda: T0),
    )
    return Harness(pipeline, spool, audit, store)


@pytest.fixture(params=["no-lifecycle", "memory", "sqlite"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    store: LifecycleStore | None = None
    if request.param == "memory":
        store = MemoryLifecycleStore()
    elif request.param == "sqlite":
        store = SqliteLifecycleStore(tmp_path / "spool.db")
    built = _pipeline(tmp_path, store)
    yield built
    if store is not None:
        asyncio.run(store.aclose())
    built.audit.close()


def _event(n: int, **changes: object) -> SourceRecord:
    return parse_event(json.dumps({**canary_event(f"evt-{n}"), **changes}).encode())


def _claim_event(n: int, claim: str) -> SourceRecord:
    error = {"code": "16", "code_system": "CARC", "message": f"Claim {claim} denied: missing information."}
    return _event(n, error=error, claim={"id": claim}, patient={"mrn": f"MRN{n:06d}"}, note=None)


def _mixed(n: int) -> SourceRecord:
    """Distinct problems (own error code each) with claims of their own."""
    codes = ["16", "18", "29", "50", "96", "97", "109", "119", "167", "197"]
    error = {"code": codes[n % 10], "code_system": "CARC", "message": "Claim denied."}
    return _event(n, error=error, claim={"id": f"CLM{n:05d}"}, patient={"mrn": f"MRN{n:06d}"}, note=None)


def test_concurrent_callers_share_one_commit_each_and_get_their_own_result(
    harness: Harness, tmp_path: Path
) -> None:
    records = [_mixed(n) for n in range(30)]

    async def main() -> list[IngestResult]:
        await harness.spool.open()
        group = GroupIngest(harness.pipeline)
        return await asyncio.gather(*(group.ingest(record) for record in records))

    async def one_by_one() -> list[IngestResult]:
        store = None if harness.store is None else MemoryLifecycleStore()
        built = _pipeline(tmp_path / "apart", store)
        await built.spool.open()
        return [await built.pipeline.ingest(record) for record in records]

    results, apart = asyncio.run(main()), asyncio.run(one_by_one())
    assert [(r.ticket_id, r.created, r.action) for r in results] == [
        (r.ticket_id, r.created, r.action) for r in apart
    ]
    created = sum(result.created for result in results)
    assert created >= 10
    assert harness.spool.transactions == 1  # all 30 were ready together: one spool transaction
    spooled = [r for r in harness.audit.records() if r.event == "input.spooled"]
    assert len(spooled) == created and harness.audit.verify().ok
    if isinstance(harness.store, MemoryLifecycleStore):
        assert harness.store.saves == 1  # one lifecycle commit for the group


def test_a_group_decides_like_records_one_after_the_other(tmp_path: Path) -> None:
    """Repeats of one problem inside one group: the first opens, the rest are absorbed; the first
    input delivered again is a redelivery (the same ticket again)."""
    records = [_claim_event(n, "CLM00001") for n in range(5)] + [_claim_event(0, "CLM00001")]

    async def grouped() -> list[IngestResult]:
        built = _pipeline(tmp_path / "g", MemoryLifecycleStore())
        await built.spool.open()
        group = GroupIngest(built.pipeline)
        return await asyncio.gather(*(group.ingest(record) for record in records))

    async def one_by_one() -> list[IngestResult]:
        built = _pipeline(tmp_path / "s", MemoryLifecycleStore())
        await built.spool.open()
        return [await built.pipeline.ingest(record) for record in records]

    together, apart = asyncio.run(grouped()), asyncio.run(one_by_one())
    assert [r.action for r in together] == [r.action for r in apart] == ["open"] + ["absorb"] * 4 + ["open"]
    assert [r.ticket_id for r in together] == [r.ticket_id for r in apart]
    assert [r.created for r in together] == [True] + [False] * 5


def test_a_failed_commit_fails_every_caller_of_the_group(harness: Harness) -> None:
    async def main() -> list[object]:
        await harness.spool.open()
        harness.spool.fail = True
        group = GroupIngest(harness.pipeline)
        return await asyncio.gather(
            *(group.ingest(_claim_event(n, f"CLM{n:05d}")) for n in range(5)), return_exceptions=True
        )

    outcomes = asyncio.run(main())
    assert all(isinstance(outcome, SpoolUnavailable) for outcome in outcomes)
    assert not [r for r in harness.audit.records() if r.event == "input.spooled"]
    if isinstance(harness.store, MemoryLifecycleStore):
        assert not harness.store.states  # no state saved before its deliveries were spooled


class RefusingNormalizer(Normalizer):
    """Refuses the records of one event id (a record that cannot be made into a ticket)."""

    def normalize(self, record: SourceRecord) -> TicketDraft:
        if "evt-99" in record.raw_digest_input.decode():
            raise UnsupportedRecord("refused (test)")
        return super().normalize(record)


def test_a_quarantined_record_does_not_hold_back_the_rest_of_its_group(harness: Harness) -> None:
    harness.pipeline._normalizer = RefusingNormalizer(rules=load_rules().stage(Stage.RECORD))

    async def main() -> list[object]:
        await harness.spool.open()
        group = GroupIngest(harness.pipeline)
        calls = [group.ingest(_mixed(1)), group.ingest(_event(99)), group.ingest(_mixed(2))]
        return await asyncio.gather(*calls, return_exceptions=True)

    first, middle, last = asyncio.run(main())
    assert isinstance(first, IngestResult) and isinstance(last, IngestResult)
    assert isinstance(middle, RecordQuarantined) and middle.cause_code == UnsupportedRecord.code
    assert harness.spool.transactions == 1


def test_append_many_chains_in_order_in_one_transaction(tmp_path: Path) -> None:
    audit = SqliteAuditLog(tmp_path / "audit.db", b"k" * 32)
    audit.open()
    audit.append("first", actor="t")
    written = audit.append_many([AuditEntry("e", "t", details={"n": n}) for n in range(5)])
    audit.append("last", actor="t")
    assert [r.seq for r in written] == [2, 3, 4, 5, 6]
    assert [r.details["n"] for r in written] == list(range(5))
    assert audit.append_many([]) == []
    assert audit.verify().ok
    audit.close()


def test_pending_states_overlay_the_saved_ones() -> None:
    saved = FingerprintState(
        fingerprint="fp1",
        problem_key="p",
        ticket_id="t1",
        state=TicketState.OPEN,
        opened_by="x",
        occurrences=1,
        first_seen=T0,
        last_seen=T0,
        last_delivery_at=T0,
        facilities=frozenset({"A"}),
        claims=frozenset({"c1"}),
    )
    store = MemoryLifecycleStore()
    pending = PendingStates(store)

    async def main() -> None:
        await store.save(saved)
        closed = dataclasses.replace(saved, state=TicketState.RESOLVED)
        other = dataclasses.replace(saved, fingerprint="fp2", facilities=frozenset({"B"}))
        pending.stage([closed, other])
        assert (await pending.get("fp1")) == closed
        assert await pending.facilities("p", T0) == {"A", "B"}
        assert [s.fingerprint for s in await pending.find_open_by_claims(frozenset({"c1"}))] == ["fp2"]
        assert store.states["fp1"] == saved  # nothing saved before commit
        await pending.commit()
        assert store.states["fp1"] == closed and store.states["fp2"] == other

    asyncio.run(main())
