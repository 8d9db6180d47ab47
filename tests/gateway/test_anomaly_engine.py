"""The anomaly engine end to end: records counted by the pipeline, a spike opens ONE sealed,
PHI-free meta-ticket routed to revenue integrity, however often the hour is judged."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from testkit import canary_event, find_canaries

from adapters.json_event import parse_event
from gateway.anomaly_counts import ClaimCounter, CountingObserver, code_key, fixed
from gateway.anomaly_engine import AnomalyEngine, AnomalyFeed, ConsoleAnomalyFeed, meta_summary
from gateway.anomaly_store import AnomalyStore, Tally
from gateway.runtime import Runtime
from gateway.settings import Settings
from normalizers.payload import Code, TicketPayload

SPIKE = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # a Monday, 2 pm


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def _tickets(runtime: Runtime) -> list[TicketPayload]:
    sink = next(iter(runtime.sinks))
    leased = await runtime.spool.lease(sink, owner="t", limit=10_000, lease_for=timedelta(minutes=5))
    return [entry.ticket.payload for entry in leased]


async def _history(store: AnomalyStore, scopes: frozenset[str], hour: datetime, per_hour: int = 3) -> None:
    """Three weeks of ``per_hour`` an hour for every scope, ending the hour before ``hour``."""
    start = hour - timedelta(weeks=3)
    tally = Tally.empty()
    at = start
    while at < hour:
        for scope in scopes:
            tally.hourly[(scope, at)] = per_hour
        at += timedelta(hours=1)
    await store.add(tally, start)


def test_spike_opens_one_phi_free_meta_ticket_however_often_judged(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        clock = FakeClock(SPIKE + timedelta(minutes=5))
        engine = AnomalyEngine(settings.anomaly, AnomalyStore(tmp_path / "anomaly.db"), clock=clock)
        runtime.pipeline.observer = engine.observer
        try:
            await runtime.pipeline.ingest(parse_event(json.dumps(canary_event("c-0")).encode()))
            await engine.flush()
            scopes = await engine.store.scopes()
            assert "code_payer|CARC-16|87726" in scopes
            assert all(not find_canaries(scope) for scope in scopes)
            await _history(engine.store, scopes, SPIKE)
            for index in range(1, 47):
                await runtime.pipeline.ingest(parse_event(json.dumps(canary_event(f"c-{index}")).encode()))
            clock.now = SPIKE + timedelta(hours=1, minutes=1)
            before = len(await _tickets(runtime))
            events = await engine.evaluate_hour(SPIKE, runtime.pipeline)
            again = await engine.evaluate_hour(SPIKE, runtime.pipeline)
            metas = [t for t in await _tickets(runtime) if "anomaly" in t.tags]
            rows = await AnomalyFeed(engine).current()
            assert isinstance(runtime.anomaly_feed, ConsoleAnomalyFeed), "the console is wired to the engine"
            console_rows = await ConsoleAnomalyFeed(engine).current()
        finally:
            await runtime.stop()
        assert before >= 0
        assert again == []
        assert {e.scope for e in events} >= {"code_payer|CARC-16|87726", "payer|87726", "code|CARC-16"}
        assert len({e.ticket_id for e in events}) == 1, "one spike, one meta-ticket"
        assert len(metas) == 1
        meta = metas[0]
        assert meta.summary == "CARC-16 from payer 87726: 47 in the last hour against a baseline of 3"
        assert meta.routing.queue == "revenue-integrity"
        assert meta.tier == 2
        assert meta.owner == "revenue-integrity"
        assert meta.payer is not None and meta.payer.id == "87726"
        assert meta.id == events[0].ticket_id
        assert not find_canaries(meta.canonical_json())
        assert {row.meta_ticket_id for row in rows} == {meta.id}
        assert {row.ticket_id for row in console_rows} == {meta.id}, "the console's anomalies page shows it"
        assert ("CARC-16", "87726", 47) in {(r.code, r.payer, r.observed) for r in console_rows}
        row = next(r for r in rows if r.kind == "code_payer")
        assert (row.code, row.payer, row.observed, row.window_start) == ("CARC-16", "87726", 47, SPIKE)
        assert row.baseline == pytest.approx(3, abs=0.5)
        assert row.score > 10
        assert not find_canaries(caplog.text)

    asyncio.run(body())


def test_no_spike_at_the_usual_level(settings: Settings, tmp_path: Path) -> None:
    async def body() -> None:
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        clock = FakeClock(SPIKE + timedelta(minutes=5))
        engine = AnomalyEngine(settings.anomaly, AnomalyStore(tmp_path / "anomaly.db"), clock=clock)
        try:
            scopes = frozenset({"payer|87726", "code|CO-97", "code_payer|CO-97|87726"})
            await _history(engine.store, scopes, SPIKE, per_hour=12)
            tally = Tally.empty()
            tally.hourly.update({(scope, SPIKE): 14 for scope in scopes})
            await engine.store.add(tally, SPIKE)
            assert await engine.evaluate_hour(SPIKE, runtime.pipeline) == []
        finally:
            await runtime.stop()
            await engine.store.aclose()

    asyncio.run(body())


def test_counts_are_fixed_shape_ids_and_capped() -> None:
    clock = FakeClock(SPIKE)
    observer = CountingObserver(max_scopes=10, clock=clock)
    carc = [Code(system="CARC", code="97"), Code(system="CAS-GROUP", code="CO")]
    observer.ticket("denials", "87726", carc, opened=True)
    observer.ticket("denials", "Zebediah Quixote 1957", carc, opened=False)
    for payer in range(20):
        observer.ticket("denials", f"P{payer}", (), opened=False)
    tally = observer.take()
    scopes = {scope for scope, _ in tally.hourly}
    assert "code_payer|CO-97|87726" in scopes
    assert "payer|other" in scopes and not find_canaries(" ".join(scopes))
    assert len(scopes) <= 10 + 4
    assert observer.capped > 0
    assert tally.tickets[("87726", "denials", SPIKE.date())] == [1, 1]
    assert code_key([Code(system="HL7", code="207")]) == "HL7:207"
    assert fixed("") == "none"
    assert meta_summary("code_payer|CO-97|87726", 47, 3.0) == (
        "CO-97 denials from payer 87726: 47 in the last hour against a baseline of 3"
    )


def test_claim_counter_counts_each_set_once(tmp_path: Path) -> None:
    from adapters.base import SourceRecord

    def record(kind: str, ident: str, **facts: int) -> SourceRecord:
        return SourceRecord(kind, "x12", "x12", {"payer.id": "87726", **facts}, idempotency_id=ident)

    counter = ClaimCounter(today=SPIKE.date)
    counter.see(record("x12-835-claim", "S|1|1|0001|CLP@5", **{"claim.ordinal": 1}))
    counter.see(record("x12-835-payment", "S|1|1|0001|CLP@9", **{"claim.ordinal": 3}))
    counter.see(record("x12-835-remittance", "S|1|1|0002|BPR", **{"balance.claims": 4}))
    batches = counter.batches()
    assert sorted(b.claims for b in batches) == [3, 4]

    async def body() -> None:
        store = AnomalyStore(tmp_path / "a.db")
        for _ in range(2):  # the same file twice: counted once
            tally = Tally.empty()
            tally.claims.extend(batches)
            await store.add(tally, SPIKE)
        assert await store.claim_days(SPIKE.date(), SPIKE.date() + timedelta(days=1)) == [
            ("87726", SPIKE.date(), 7)
        ]
        await store.aclose()

    asyncio.run(body())


def test_open_anomalies_gauge_on_metrics(client: TestClient, runtime: Runtime) -> None:
    reader = {"Authorization": f"Bearer {runtime.issuer.mint('prom', ['metrics:read'])}"}
    text = client.get("/metrics", headers=reader).text
    assert 'rcmgw_anomalies_open{scope_kind="code_payer"} 0.0' in text
    engine = runtime.anomaly
    assert engine is not None
    hour = engine.clock().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    scope = "code_payer|CO-97|87726"

    async def spike() -> None:
        await _history(engine.store, frozenset({scope}), hour)
        tally = Tally.empty()
        tally.hourly[(scope, hour)] = 47
        await engine.store.add(tally, hour)
        (event,) = await engine.evaluate_hour(hour, runtime.pipeline)
        assert event.scope == scope

    client.portal.call(spike)  # type: ignore[union-attr]
    text = client.get("/metrics", headers=reader).text
    assert 'rcmgw_anomalies_open{scope_kind="code_payer"} 1.0' in text
    assert 'rcmgw_anomalies_open{scope_kind="payer"} 0.0' in text
    assert not find_canaries(text)


def test_the_service_judges_each_hour_after_it_ends(settings: Settings, tmp_path: Path) -> None:
    from gateway.anomaly_engine import AnomalyService
    from gateway.anomaly_settings import AnomalySettings

    async def body() -> None:
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        clock = FakeClock(SPIKE + timedelta(minutes=59))
        quick = AnomalySettings(flush_seconds=0.01, grace_seconds=0)
        engine = AnomalyEngine(quick, AnomalyStore(tmp_path / "anomaly.db"), clock=clock)
        scope = "code_payer|CO-97|87726"
        await _history(engine.store, frozenset({scope}), SPIKE)
        tally = Tally.empty()
        tally.hourly[(scope, SPIKE)] = 47
        await engine.store.add(tally, SPIKE)
        service = AnomalyService(engine)
        await service.start(runtime)
        try:
            assert await engine.store.events(SPIKE) == []
            clock.now = SPIKE + timedelta(hours=1, seconds=1)
            deadline = asyncio.get_running_loop().time() + 20
            while not await engine.store.events(SPIKE):
                assert asyncio.get_running_loop().time() < deadline, "the hour was not judged"
                await asyncio.sleep(0.01)
        finally:
            await service.stop()
            await runtime.stop()

    asyncio.run(body())


def test_after_a_restart_missed_hours_are_judged_first(settings: Settings, tmp_path: Path) -> None:
    from gateway.anomaly_engine import AnomalyService
    from gateway.anomaly_settings import AnomalySettings

    async def body() -> None:
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        clock = FakeClock(SPIKE + timedelta(hours=3, minutes=10))
        quick = AnomalySettings(flush_seconds=0.01, grace_seconds=0)
        engine = AnomalyEngine(quick, AnomalyStore(tmp_path / "anomaly.db"), clock=clock)
        scope = "code_payer|CO-97|87726"
        await _history(engine.store, frozenset({scope}), SPIKE)
        tally = Tally.empty()
        tally.hourly[(scope, SPIKE)] = 47
        await engine.store.add(tally, SPIKE)
        await engine.store.set_meta("last_judged", (SPIKE - timedelta(hours=1)).isoformat())
        service = AnomalyService(engine)
        await service.start(runtime)
        try:
            deadline = asyncio.get_running_loop().time() + 20
            while await engine.last_judged() != SPIKE + timedelta(hours=2):
                assert asyncio.get_running_loop().time() < deadline, "missed hours were not judged"
                await asyncio.sleep(0.01)
            (event,) = await engine.store.events(SPIKE)
            assert event.scope == scope and event.hour == SPIKE
        finally:
            await service.stop()
            await runtime.stop()

    asyncio.run(body())


def test_without_the_lifecycle_only_new_tickets_are_counted(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway.rules_settings import LifecycleSettings

    async def body() -> None:
        runtime = Runtime.build(settings.model_copy(update={"lifecycle": LifecycleSettings(enabled=False)}))
        await runtime.start(delivery=False)
        observer = CountingObserver(clock=FakeClock(SPIKE))
        runtime.pipeline.observer = observer
        try:
            record = parse_event(json.dumps(canary_event("n-1", distinct=True)).encode())
            await runtime.pipeline.ingest(record)
            await runtime.pipeline.ingest(record)  # redelivered: a duplicate, not a new occurrence
            others = [parse_event(json.dumps(canary_event(f"n-{i}", distinct=True)).encode()) for i in (2, 3)]
            await runtime.pipeline.ingest_group(others)
            await runtime.pipeline.ingest_many([*others, record], source="test")
        finally:
            await runtime.stop()
        tally = observer.take()
        assert tally.hourly[("payer|87726", SPIKE)] == 3
        batch = [json.loads(line) for line in caplog.text.splitlines() if '"tickets spooled"' in line]
        assert batch[-1]["first_control_ids"] == {"event_id": "n-2"}
        assert batch[-1]["last_control_ids"] == {"event_id": "n-1"}
        assert tally.tickets[("87726", next(k[1] for k in tally.tickets), SPIKE.date())] == [3, 3]

    asyncio.run(body())


def test_the_feed_is_empty_when_detection_is_disabled() -> None:
    assert asyncio.run(AnomalyFeed(None).current()) == []
