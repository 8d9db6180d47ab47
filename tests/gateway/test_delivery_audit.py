"""The delivery audit hook: a worker round's settlements become audit records in ONE durable
append, in settlement order, with the same events and details as one at a time, and are counted in
the metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fallback.spool import DeadLetter, Delivered, LeasedEntry, RetryAt
from gateway.audit import SqliteAuditLog
from gateway.delivery_wiring import audit_batch_hook, audit_hook
from gateway.metrics import GatewayMetrics
from normalizers.payload import RedactionReport, Routing, SourceFormat, SourceInfo, TicketPayload
from normalizers.sealed import SealedTicket

KEY = b"k" * 32
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def entry(n: int) -> LeasedEntry:
    payload = TicketPayload(
        id=f"tkt_{n:032x}",
        fingerprint=f"fp_{n:032x}",
        source=SourceInfo(system="epic", format=SourceFormat.HL7V2, control_ids={"MSH-10": f"m{n}"}),
        received_at=NOW,
        category="eligibility.denied",
        taxonomy_version="2025.1",
        routing=Routing(queue="billing", rule_id="r-1"),
        summary=f"ticket {n}",
        redaction=RedactionReport(policy_version="p1", key_id="k1"),
    )
    ticket = SealedTicket.restore(payload.canonical_json())
    return LeasedEntry(f"ent_{n}", "hook", ticket, 0, NOW, NOW + timedelta(minutes=1))


def test_a_round_is_audited_in_one_append_in_order(tmp_path: Path) -> None:
    audit = SqliteAuditLog(tmp_path / "audit.db", KEY)
    audit.open()
    appends: list[int] = []
    append_many = audit.append_many

    def counting(entries):  # type: ignore[no-untyped-def]
        appends.append(len(entries))
        return append_many(entries)

    audit.append_many = counting  # type: ignore[method-assign]
    metrics = GatewayMetrics()
    settled = [
        (entry(1), Delivered(remote_id="R-1")),
        (entry(2), RetryAt(when=NOW + timedelta(seconds=5), reason="delivery.transient:http_503")),
        (entry(3), DeadLetter(reason="delivery.permanent:http_400")),
    ]
    asyncio.run(audit_batch_hook(audit, metrics)(settled))
    asyncio.run(audit_hook(audit)(entry(4), Delivered(remote_id=None)))
    records = audit.records()
    audit.close()
    assert appends == [3, 1]
    assert [(r.event, r.outcome) for r in records] == [
        ("delivery.delivered", "ok"),
        ("delivery.retried", "retry"),
        ("delivery.dead_lettered", "failed"),
        ("delivery.delivered", "ok"),
    ]
    assert records[0].details == {
        "remote_id": "R-1",
        "sink": "hook",
        "entry_id": "ent_1",
        "ticket_id": entry(1).ticket.id,
    }
    assert records[1].details["next_attempt_at"] == (NOW + timedelta(seconds=5)).isoformat()
    assert records[2].details["reason"] == "delivery.permanent:http_400"
    exposition = metrics.exposition().decode().splitlines()
    assert 'rcmgw_delivery_retries_total{sink="hook"} 1.0' in exposition
    assert 'rcmgw_dead_letters_total{sink="hook"} 1.0' in exposition
