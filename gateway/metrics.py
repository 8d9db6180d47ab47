"""Prometheus metrics: one `GatewayMetrics` per runtime, with its own `CollectorRegistry`.

Never the process-global default registry: several apps (tests, one process per gateway) must not
share counters. Label values come only from fixed sets (source formats, results, identifier kinds,
ACK codes, spool states) or from the configured sink names, so no label is unbounded and none can
carry PHI; an unknown value is reported as ``other``. docs/metrics.md lists every metric.

Spool depth, oldest entry age and circuit states are read at scrape time (`GatewayMetrics.refresh`):
one ``depth`` query plus one indexed ``list_entries(limit=1)`` per configured sink and state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from fallback.spool import DeadLetter, Delivered, EntryState, LeasedEntry, Outcome, SpoolBackend
from gateway.console.intake import MinuteTally
from normalizers.sealed import SealedTicket
from redaction.kinds import IdentifierKind

if TYPE_CHECKING:
    from fallback.worker import DeliveryWorker

OTHER = "other"
SOURCE_FORMATS = frozenset({"json-event", "hl7v2", "x12", "fhir"})
RESULTS = frozenset({"accepted", "duplicate", "quarantined", "rejected"})
REDACTION_KINDS = frozenset(kind.value for kind in IdentifierKind)
ACK_CODES = frozenset({"AA", "AE", "AR", "CA", "CE", "CR"})
CIRCUIT_STATES = ("closed", "open", "half_open")
AGE_STATES = (EntryState.PENDING, EntryState.LEASED, EntryState.DEAD)
"""The states whose oldest entry's age is reported (delivered entries are history, not backlog)."""

DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
TICKET_AGE_BUCKETS = (
    60,
    300,
    900,
    1800,
    3600,
    4 * 3600,
    8 * 3600,
    24 * 3600,
    3 * 86400,
    7 * 86400,
    30 * 86400,
)
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _bounded(value: str, allowed: frozenset[str]) -> str:
    return value if value in allowed else OTHER


class GatewayMetrics:
    """Every metric of one gateway (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.received = Counter(
            "rcmgw_records_received",
            "Input records by source format and result (accepted, duplicate, quarantined, rejected).",
            ["source_format", "result"],
            registry=reg,
        )
        self.redactions = Counter(
            "rcmgw_redactions",
            "Values replaced by redaction in newly spooled tickets, by kind.",
            ["kind"],
            registry=reg,
        )
        self.spool_entries = Gauge(
            "rcmgw_spool_entries",
            "Spool entries by sink and state (read at scrape time).",
            ["sink", "state"],
            registry=reg,
        )
        self.spool_oldest_age = Gauge(
            "rcmgw_spool_oldest_age_seconds",
            "Age of the oldest spool entry by sink and state (pending, leased, dead); 0 when none.",
            ["sink", "state"],
            registry=reg,
        )
        self.delivery_latency = Histogram(
            "rcmgw_delivery_latency_seconds",
            "Time from spool put to delivery, per sink.",
            ["sink"],
            buckets=DELIVERY_BUCKETS,
            registry=reg,
        )
        self.retries = Counter(
            "rcmgw_delivery_retries", "Delivery attempts settled as retry, per sink.", ["sink"], registry=reg
        )
        self.dead_letters = Counter(
            "rcmgw_dead_letters", "Spool entries settled as dead letters, per sink.", ["sink"], registry=reg
        )
        self.circuit_state = Gauge(
            "rcmgw_circuit_state",
            "1 for the circuit breaker's current state per sink (closed, open, half_open), else 0.",
            ["sink", "state"],
            registry=reg,
        )
        self.ack_latency = Histogram(
            "rcmgw_mllp_ack_latency_seconds",
            "Time from receiving an MLLP frame to its ACK being ready.",
            buckets=ACK_BUCKETS,
            registry=reg,
        )
        self.acks = Counter("rcmgw_mllp_acks", "MLLP ACK messages by MSA-1 code.", ["code"], registry=reg)
        self.sink_names: tuple[str, ...] = ()
        self.intake = MinuteTally()  # per-minute view for the console overview
        self.time_to_acknowledge = Histogram(
            "rcmgw_ticket_time_to_acknowledge_seconds",
            "Time from a ticket's delivery to its first acknowledgement in the ticketing system.",
            ["category", "payer", "tier"],
            buckets=TICKET_AGE_BUCKETS,
            registry=reg,
        )
        self.time_to_resolve = Histogram(
            "rcmgw_ticket_time_to_resolve_seconds",
            "Time from a ticket's delivery to its resolution (in the ticketing system or by evidence).",
            ["category", "payer", "tier"],
            buckets=TICKET_AGE_BUCKETS,
            registry=reg,
        )
        self.label_cap = 50
        self._label_values: dict[str, set[str]] = {"category": set(), "payer": set()}
        # labelled children of the per-message counters, by (counter, label values), the values
        # from bounded sets: looked up once, since `labels()` validates and locks on every call
        self._children: dict[tuple[Counter, tuple[str, ...]], Counter] = {}

    def _child(self, counter: Counter, *labels: str) -> Counter:
        """``counter.labels(*labels)``, remembered (call it only with bounded label values)."""
        key = (counter, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(*labels)
        return child

    # -- ingest -------------------------------------------------------------------------------
    def record(self, source_format: str, result: str) -> None:
        """Count one input record's outcome."""
        labels = (_bounded(source_format, SOURCE_FORMATS), _bounded(result, RESULTS))
        self._child(self.received, *labels).inc()
        self.intake.add(*labels)

    def spooled(self, source_format: str, created: bool, tickets: Iterable[SealedTicket] = ()) -> None:
        """Count one record that reached the spool: ``accepted`` when it created a ticket (its
        ``tickets``' redaction counts are added), ``duplicate`` otherwise."""
        self.record(source_format, "accepted" if created else "duplicate")
        for ticket in tickets:
            self.redacted(ticket)

    def redacted(self, ticket: SealedTicket) -> None:
        """Add the redaction report counts of one newly spooled ticket."""
        for kind, count in ticket.payload.redaction.counts.items():
            if count:
                self._child(self.redactions, _bounded(kind, REDACTION_KINDS)).inc(count)

    # -- delivery -----------------------------------------------------------------------------
    def settled(self, entry: LeasedEntry, outcome: Outcome, now: datetime | None = None) -> None:
        """Observe one settled delivery attempt."""
        sink = self._sink(entry.sink)
        if isinstance(outcome, Delivered):
            now = now or datetime.now(UTC)
            self.delivery_latency.labels(sink).observe(max(0.0, (now - entry.created_at).total_seconds()))
        elif isinstance(outcome, DeadLetter):
            self.dead_letters.labels(sink).inc()
        else:
            self.retries.labels(sink).inc()

    def settled_hook(
        self, inner: Callable[[LeasedEntry, Outcome], Awaitable[None]] | None = None
    ) -> Callable[[LeasedEntry, Outcome], Awaitable[None]]:
        """A worker ``on_settled`` hook that observes the outcome, then awaits ``inner``."""

        async def hook(entry: LeasedEntry, outcome: Outcome) -> None:
            self.settled(entry, outcome)
            if inner is not None:
                await inner(entry, outcome)

        return hook

    def _sink(self, name: str) -> str:
        return name if not self.sink_names or name in self.sink_names else OTHER

    # -- two-way sync -------------------------------------------------------------------------
    def ticket_timing(self, what: str, seconds: float, category: str, payer: str | None, tier: int) -> None:
        """Observe a ticket's time to ``acknowledge`` or ``resolve``. Category and payer labels are
        capped at ``label_cap`` distinct values each (later ones count as ``other``)."""
        histogram = self.time_to_acknowledge if what == "acknowledge" else self.time_to_resolve
        labels = (self._capped("category", category), self._capped("payer", payer or "none"), str(tier))
        histogram.labels(*labels).observe(max(0.0, seconds))

    def _capped(self, label: str, value: str) -> str:
        seen = self._label_values[label]
        if value in seen:
            return value
        if len(seen) >= self.label_cap or len(value) > 64:
            return OTHER
        seen.add(value)
        return value

    # -- MLLP ---------------------------------------------------------------------------------
    def acked(self, codes: Sequence[str], seconds: float) -> None:
        """Observe one MLLP frame's ACK: its latency and the MSA-1 code of each message."""
        self.ack_latency.observe(seconds)
        for code in codes:
            self._child(self.acks, _bounded(code, ACK_CODES)).inc()

    # -- scrape -------------------------------------------------------------------------------
    async def refresh(self, spool: SpoolBackend, workers: Sequence[DeliveryWorker]) -> None:
        """Read spool depth, oldest ages and circuit states now (called by each scrape)."""
        now = datetime.now(UTC)
        depth = await spool.depth()
        sinks = self.sink_names or tuple(depth)
        for sink in sinks:
            counts = depth.get(sink, {})
            for state in EntryState:
                self.spool_entries.labels(sink, state.value).set(counts.get(state.value, 0))
            for state in AGE_STATES:
                age = 0.0
                if counts.get(state.value, 0):
                    oldest = await spool.list_entries(state=state, sink=sink, limit=1)
                    if oldest:
                        age = max(0.0, (now - oldest[0].created_at).total_seconds())
                self.spool_oldest_age.labels(sink, state.value).set(age)
        for worker in workers:
            current = worker.circuit_state
            if current is None:
                continue
            sink = self._sink(worker.sink_name)
            for circuit in CIRCUIT_STATES:
                self.circuit_state.labels(sink, circuit).set(1 if current == circuit else 0)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "GatewayMetrics"]
