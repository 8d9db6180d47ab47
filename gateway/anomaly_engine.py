"""The anomaly engine: judges each finished hour of every busy scope and opens meta-tickets.

`AnomalyEngine.evaluate_hour` loads, for every scope with at least ``min_count`` occurrences in the
hour, its hourly series (``weeks`` weeks back plus a day) and runs the pure
`gateway.anomaly_detect.evaluate`. Scopes are judged most specific first (code x payer, code,
payer, category): a broader scope whose spike a narrower flagged scope explains (at least half of
the excess, and the same code or payer) is recorded with the narrower one's meta-ticket instead of
opening its own. A spike of a scope that spiked within ``cooldown_hours`` joins that episode's
meta-ticket. Otherwise ONE meta-ticket is built ("CO-97 denials from payer 87726: 47 in the last
hour against a baseline of 3"), routed to the taxonomy category owned by ``anomaly.owner``
(revenue integrity, tier 2), sealed and spooled through `IngestPipeline.spool_draft` (redaction,
post-redaction rules, spool, audit) and delivered by the sinks like any ticket. Its dedup key is a
digest of scope and window, so evaluating an hour again never makes a second ticket; the event row
(scope, hour) is saved after the spool commit.

`AnomalyService` is the `BackgroundService`: it flushes counts every ``flush_seconds`` and judges
each hour ``grace_seconds`` after it ends; after a restart it first judges the hours it missed (at
most `CATCH_UP_HOURS`). `AnomalyFeed.current()` gives the console its rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

from adapters.base import SourceRecord
from fallback.clock import Clock, utc_now
from fallback.errors import SpoolError
from gateway.anomaly_counts import NONE, OTHER, SCOPE_KINDS, CountingObserver, scope_parts
from gateway.anomaly_detect import HOUR, WEEK, Verdict, evaluate
from gateway.anomaly_settings import AnomalySettings
from gateway.anomaly_store import AnomalyEvent, AnomalyStore
from gateway.console import feeds as console_feeds
from gateway.pipeline import RecordQuarantined
from normalizers.draft import TicketDraft
from normalizers.payload import Code, Payer, Priority, SourceFormat, SourceInfo
from normalizers.taxonomy import Category, load_taxonomy

if TYPE_CHECKING:
    from gateway.dataflow import FlowPart
    from gateway.pipeline import IngestPipeline
    from gateway.runtime import Runtime

log = logging.getLogger("rcmgw.anomaly")
SOURCE_SYSTEM = "rcm-gateway"
RECORD_TYPE = "anomaly-meta"
CATCH_UP_HOURS = 24
"""After a restart, the finished hours not yet judged are judged first, at most this many."""


@dataclass(frozen=True, slots=True)
class AnomalyRow:
    """One current spike for the console: scope (kind and its payer / category / code), window
    start, observed count, baseline, score and the meta-ticket that reports it."""

    scope: str
    kind: str
    payer: str | None
    category: str | None
    code: str | None
    window_start: datetime
    observed: int
    baseline: float
    score: float
    meta_ticket_id: str


def row_of(event: AnomalyEvent) -> AnomalyRow:
    """The console row of a stored event."""
    kind, *parts = scope_parts(event.scope)
    payer = parts[-1] if kind in {"payer", "code_payer"} else None
    code = parts[0] if kind in {"code", "code_payer"} else None
    category = parts[0] if kind == "category" else None
    return AnomalyRow(
        event.scope,
        kind,
        payer,
        category,
        code,
        event.hour,
        event.observed,
        event.baseline,
        event.score,
        event.ticket_id,
    )


def describe(scope: str) -> str:
    """Words for a scope: ``CO-97 denials from payer 87726``."""
    kind, *parts = scope_parts(scope)
    if kind == "code_payer":
        return f"{_code_words(parts[0])} from payer {parts[1]}"
    if kind == "code":
        return f"{_code_words(parts[0])} (all payers)"
    if kind == "payer":
        return f"Tickets for payer {parts[0]}"
    return f"{parts[0]} tickets"


def _code_words(code: str) -> str:
    group, _, carc = code.partition("-")
    return f"{code} denials" if carc and group.isalpha() and len(group) == 2 else code


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


def meta_summary(scope: str, observed: int, baseline: float) -> str:
    """``CO-97 denials from payer 87726: 47 in the last hour against a baseline of 3``."""
    return f"{describe(scope)}: {observed} in the last hour against a baseline of {_number(baseline)}"


def anomaly_fingerprint(scope: str, hour: datetime) -> str:
    """The id of a spike: a digest of its scope and window start."""
    return "an_" + hashlib.sha256(f"{scope}|{hour.isoformat()}".encode()).hexdigest()[:32]


def _explains(narrow: tuple[str, Verdict], broad: tuple[str, Verdict]) -> bool:
    """Whether the flagged narrower scope accounts for the broader scope's spike."""
    (n_scope, n_verdict), (b_scope, b_verdict) = narrow, broad
    n_kind, *n_parts = scope_parts(n_scope)
    b_kind, *b_parts = scope_parts(b_scope)
    if SCOPE_KINDS.index(n_kind) >= SCOPE_KINDS.index(b_kind):
        return False
    related = b_kind == "category" or (b_parts and b_parts[0] in n_parts)
    excess = b_verdict.observed - b_verdict.baseline
    return bool(related) and n_verdict.observed >= 0.5 * excess


class AnomalyEngine:
    """Counting, storage and judgement of one gateway (see the module docstring)."""

    def __init__(self, settings: AnomalySettings, store: AnomalyStore, *, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.observer = CountingObserver(max_scopes=settings.max_scopes, clock=clock)
        self._lock = asyncio.Lock()
        self._category = _owned_category(settings.owner)
        self._gauge: Gauge | None = None

    def register_metrics(self, registry: CollectorRegistry) -> None:
        """Add ``rcmgw_anomalies_open{scope_kind}`` to ``registry`` (once)."""
        if self._gauge is not None:
            return
        self._gauge = Gauge(
            "rcmgw_anomalies_open",
            "Anomaly episodes (meta-tickets) detected within the cooldown window, by scope kind.",
            ["scope_kind"],
            registry=registry,
        )
        for kind in SCOPE_KINDS:
            self._gauge.labels(kind).set(0)

    async def flush(self) -> None:
        """Write the counts held in memory (kept for the next flush when the store fails)."""
        tally = self.observer.take()
        if not tally:
            return
        try:
            await self.store.add(tally, self.clock())
        except Exception:
            self.observer.give_back(tally)
            raise

    async def start(self) -> None:
        """Load the known scopes (for the cap) and the gauge."""
        self.observer.know(await self.store.scopes())
        await self.refresh_gauge()

    async def evaluate_hour(self, hour: datetime, pipeline: IngestPipeline) -> list[AnomalyEvent]:
        """Judge ``hour`` (an hour start) for every busy scope; open meta-tickets for new spikes;
        return the events recorded by this call (none when the hour was judged before)."""
        hour = hour.replace(minute=0, second=0, microsecond=0)
        async with self._lock, self.store.judging():  # one node at a time on a shared store
            await self.flush()
            events = await self._judge(hour, pipeline)
            last = await self.last_judged()
            if last is None or hour > last:
                await self.store.set_meta("last_judged", hour.isoformat())
        await self.refresh_gauge()
        return events

    async def _judge(self, hour: datetime, pipeline: IngestPipeline) -> list[AnomalyEvent]:
        policy = self.settings.policy()
        since = await self.store.counting_since()
        busy = await self.store.busy_scopes(hour, policy.min_count)
        if since is None or not busy:
            return []
        done = {event.scope for event in await self.store.events(hour, limit=100_000) if event.hour == hour}
        window = hour - policy.weeks * WEEK - policy.trend_hours * HOUR
        flagged: list[tuple[str, Verdict]] = []
        for scope in sorted(busy, key=lambda s: (SCOPE_KINDS.index(scope_parts(s)[0]), s)):
            if OTHER in scope_parts(scope)[1:] or NONE in scope_parts(scope)[1:]:
                continue
            series = await self.store.series(scope, max(window, since), hour)
            verdict = evaluate(series, hour, policy, start=since)
            if verdict.spike:
                flagged.append((scope, verdict))
        events: list[AnomalyEvent] = []
        by_scope: dict[str, AnomalyEvent] = {}
        for scope, verdict in flagged:
            if scope in done:
                continue
            event = await self._event_for(scope, verdict, flagged, by_scope, pipeline)
            by_scope[scope] = event
            events.append(event)
        await self.store.record_events(events)
        return events

    async def _event_for(
        self,
        scope: str,
        verdict: Verdict,
        flagged: Sequence[tuple[str, Verdict]],
        by_scope: dict[str, AnomalyEvent],
        pipeline: IngestPipeline,
    ) -> AnomalyEvent:
        now = self.clock()
        fingerprint = anomaly_fingerprint(scope, verdict.hour)
        for other in flagged:
            if other[0] in by_scope and _explains(other, (scope, verdict)):
                ticket_id = by_scope[other[0]].ticket_id
                return _event(scope, verdict, fingerprint, ticket_id, now)
        cooldown = verdict.hour - timedelta(hours=self.settings.cooldown_hours)
        recent = [e for e in await self.store.events(cooldown, scope=scope) if e.hour < verdict.hour]
        if recent:
            return _event(scope, verdict, recent[0].fingerprint, recent[0].ticket_id, now)
        draft, record = self.meta_ticket(scope, verdict, fingerprint)
        result = await pipeline.spool_draft(draft, record)
        log.warning(
            "anomaly detected",
            extra={
                "scope_kind": scope_parts(scope)[0],
                "anomaly_id": fingerprint,
                "ticket_id": result.ticket_id,
                "observed": verdict.observed,
                "baseline": verdict.baseline,
                "window_start": verdict.hour.isoformat(),
            },
        )
        return _event(scope, verdict, fingerprint, result.ticket_id, now)

    def meta_ticket(self, scope: str, verdict: Verdict, fingerprint: str) -> tuple[TicketDraft, SourceRecord]:
        """The meta-ticket draft of a spike and the record it is sealed with (ids and counts only)."""
        kind, *parts = scope_parts(scope)
        payer = parts[-1] if kind in {"payer", "code_payer"} else None
        codes = [Code(system="RCMGW-ANOMALY", code=kind)]
        if kind in {"code", "code_payer"}:
            group, _, carc = parts[0].partition("-")
            if carc and len(group) == 2:
                codes += [Code(system="CARC", code=carc), Code(system="CAS-GROUP", code=group)]
        window = f"{verdict.hour.isoformat()} to {(verdict.hour + HOUR).isoformat()}"
        description = "\n".join(
            (
                f"Scope: {scope}",
                f"Window: {window}",
                f"Observed: {verdict.observed}",
                f"Baseline: {verdict.baseline} ({verdict.method})",
                f"Score: {verdict.score:.1f} (p = {verdict.p_value:.3g})",
                f"Anomaly id: {fingerprint}",
            )
        )
        category = self._category
        now = self.clock()
        draft = TicketDraft(
            source=SourceInfo(
                system=SOURCE_SYSTEM,
                instance="anomaly-detection",
                module="anomaly",
                format=SourceFormat.JSON_EVENT,
                control_ids={"anomaly_id": fingerprint},
            ),
            received_at=now,
            occurred_at=verdict.hour,
            category=category.key,
            taxonomy_version=load_taxonomy().version,
            summary=meta_summary(scope, verdict.observed, verdict.baseline),
            description=description,
            codes=tuple(codes),
            payer=Payer(id=payer) if payer else None,
            priority=Priority.HIGH,
            tier=category.tier,
            queue=category.queue,
            owner=category.owner,
            rule_id="anomaly-detection",
            rationale=(
                f"spike: {verdict.observed} >= {self.settings.min_ratio} x baseline {verdict.baseline}",
            ),
            tags=("anomaly", kind),
            dedup_basis=f"anomaly|{fingerprint}",
        )
        record = SourceRecord(
            record_type=RECORD_TYPE,
            source_system=SOURCE_SYSTEM,
            source_format="internal",
            facts={"anomaly.scope_kind": kind, "anomaly.observed": verdict.observed},
            control_ids={"anomaly_id": fingerprint},
            received_at=now,
            idempotency_id=fingerprint,
        )
        return draft, record

    async def last_judged(self) -> datetime | None:
        """The latest hour `evaluate_hour` judged, or None."""
        value = await self.store.meta("last_judged")
        return None if value is None else datetime.fromisoformat(value)

    async def current(self, hours: int | None = None) -> list[AnomalyRow]:
        """Spikes of the last ``hours`` (default the cooldown window), newest first."""
        span = timedelta(hours=hours if hours is not None else max(self.settings.cooldown_hours, 1))
        since = self.clock().replace(minute=0, second=0, microsecond=0) - span
        return [row_of(event) for event in await self.store.events(since)]

    async def refresh_gauge(self) -> None:
        """Set the open-anomalies gauge from the stored events."""
        if self._gauge is None:
            return
        rows = await self.current()
        for kind in SCOPE_KINDS:
            self._gauge.labels(kind).set(len({row.meta_ticket_id for row in rows if row.kind == kind}))


def _event(scope: str, verdict: Verdict, fingerprint: str, ticket_id: str, now: datetime) -> AnomalyEvent:
    return AnomalyEvent(
        scope,
        verdict.hour,
        verdict.observed,
        verdict.baseline,
        round(verdict.score, 2),
        fingerprint,
        ticket_id,
        now,
    )


def _owned_category(owner: str) -> Category:
    taxonomy = load_taxonomy()
    for category in taxonomy.categories.values():
        if category.owner == owner:
            return category
    raise ValueError(f"no taxonomy v{taxonomy.version} category is owned by {owner!r}")


class AnomalyFeed:
    """The console's anomalies page source: ``await AnomalyFeed(runtime.anomaly).current()`` (rows
    of `AnomalyRow`; none when anomaly detection is disabled and ``engine`` is None)."""

    def __init__(self, engine: AnomalyEngine | None) -> None:
        self._engine = engine

    async def current(self) -> Sequence[AnomalyRow]:
        """Spikes within the cooldown window, newest first."""
        return [] if self._engine is None else await self._engine.current()


class ConsoleAnomalyFeed:
    """The console's `gateway.console.feeds.AnomalyFeed` over the engine: each current spike as the
    anomalies page shows it ("any" where the scope does not fix payer, category or code)."""

    def __init__(self, engine: AnomalyEngine | None) -> None:
        self._feed = AnomalyFeed(engine)

    async def current(self) -> Sequence[console_feeds.AnomalyRow]:
        """The engine's current spikes, newest first."""
        return [
            console_feeds.AnomalyRow(
                payer=row.payer or "any",
                category=row.category or "any",
                code=row.code or "any",
                window_start=row.window_start,
                observed=row.observed,
                baseline=row.baseline,
                score=row.score,
                ticket_id=row.meta_ticket_id,
            )
            for row in await self._feed.current()
        ]


class AnomalyService:
    """`BackgroundService`: flush counts every ``flush_seconds``, judge each finished hour."""

    name = "anomaly-detection"

    def __init__(self, engine: AnomalyEngine) -> None:
        self.engine = engine
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self, runtime: Runtime) -> None:
        """Load state and start the loop."""
        await self.engine.start()
        self.engine.register_metrics(runtime.metrics.registry)
        await self.engine.refresh_gauge()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(runtime.pipeline), name="anomaly-detection")

    async def _run(self, pipeline: IngestPipeline) -> None:
        settings = self.engine.settings
        clock = self.engine.clock
        current = clock().replace(minute=0, second=0, microsecond=0)
        next_hour = current + HOUR
        last = await self.engine.last_judged()
        if last is not None:  # catch up on the hours missed while stopped (at most a day)
            next_hour = min(next_hour, max(last + 2 * HOUR, current - (CATCH_UP_HOURS - 1) * HOUR))
        while not self._stop.is_set():
            due = next_hour + timedelta(seconds=settings.grace_seconds)
            wait = min(settings.flush_seconds, max(0.0, (due - clock()).total_seconds()))
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=wait)
            try:
                if clock() >= due:
                    await self.engine.evaluate_hour(next_hour - HOUR, pipeline)
                    next_hour += HOUR
                else:
                    await self.engine.flush()
            except (SpoolError, RecordQuarantined) as error:  # the loop outlives a failing store
                log.warning("anomaly pass failed", extra={"error_class": type(error).__name__})

    async def stop(self) -> None:
        """Stop the loop, write what is counted, close the store."""
        self._stop.set()
        if self._task is not None:
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with suppress(SpoolError):
            await self.engine.flush()
        await self.engine.store.aclose()

    def dataflow_node(self) -> FlowPart:
        """Counts keyed by payer ids, category keys and codes; meta-tickets go through sealing."""
        from gateway.dataflow import IN_PROCESS, METADATA, FlowEdge, FlowNode, FlowPart

        node = FlowNode("anomaly", "store", "anomaly counts and change markers", at_rest="no PHI stored")
        return FlowPart(
            [node],
            [
                FlowEdge("redact", "anomaly", METADATA, IN_PROCESS),
                FlowEdge("anomaly", "redact", METADATA, IN_PROCESS),
            ],
        )


def build_anomaly(
    settings: AnomalySettings, spool_file: Path, *, postgres_dsn: str | None = None
) -> AnomalyEngine | None:
    """The engine on the spool database file, or on the PostgreSQL spool database when
    ``postgres_dsn`` is given (``spool.backend = postgresql``: shared by every node), or None when
    disabled."""
    if not settings.enabled:
        return None
    if postgres_dsn is not None:
        from gateway.anomaly_postgres import PostgresAnomalyStore

        return AnomalyEngine(settings, PostgresAnomalyStore(postgres_dsn))
    return AnomalyEngine(settings, AnomalyStore(spool_file))
