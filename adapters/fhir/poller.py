"""`FhirPollingAdapter`: polls one FHIR instance's searches on a jittered schedule.

Each cycle runs every configured search from its own committed ``_lastUpdated`` cursor. The
searches run concurrently, at most ``max_concurrency`` at a time, and every request goes through
the instance's `RequestGuard` (the same concurrency cap, the request budget, the circuit breaker);
the pages of one search (Bundle ``next`` links, at most ``max_pages``) are read one after another.
Each search yields one record per reportable entry, the ``search.mode = outcome`` OperationOutcomes
of every successful page included (less those the instance ignores). Records reach the consumer
one at a time; a search offers its next record only after its previous one was acknowledged, and a
record left unacknowledged (the spool could not commit) abandons the cycle. A search's cursor is
committed only after every record of that search's batch was acknowledged, so a crash or a
failure re-reads the batch (the spool dedups it).

A page that is not a usable Bundle (HTML, truncated JSON, a 200 carrying an error
OperationOutcome, JSON that breaks FHIR rules) fails its search without moving its cursor; a
failure of the whole upstream (unreachable, throttled, circuit open, budget spent, token refused)
stops the cycle's other searches too. Failures back off (honouring ``Retry-After``, the circuit
breaker's reset and the request budget); in peak windows the interval is the longer peak
interval. A streak of failures older than ``outage_after_seconds`` yields one upstream-down
record; the first success after it yields the resolved record.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from adapters.base import Ack, SourceRecord
from adapters.errors import InputRejected
from adapters.fhir.client import FhirClient
from adapters.fhir.config import FhirInstance, FhirSearch
from adapters.fhir.cursors import CursorStore
from adapters.fhir.errors import (
    BudgetExhausted,
    CircuitOpen,
    TokenRefreshTooSoon,
    TokenRequestFailed,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamThrottled,
    UpstreamUnreachable,
)
from adapters.fhir.outage import OutageTracker
from adapters.fhir.outcome_filter import drop_ignored_outcomes
from adapters.fhir.protection import Backoff, jittered
from adapters.fhir.records import high_water, records_from_resource
from adapters.fhir.validation import validate_resource

log = logging.getLogger("rcmgw.fhir.poller")
# Failures that concern the whole upstream: the other searches of the cycle stop too. A bad answer
# to one search (HTML, truncated JSON, an error outcome) fails only that search.
UPSTREAM_WIDE = (
    UpstreamUnreachable,
    UpstreamThrottled,
    CircuitOpen,
    BudgetExhausted,
    TokenRequestFailed,
    TokenRefreshTooSoon,
)


class _Abandoned(Exception):
    """The consumer did not acknowledge a record: stop the batch, keep the cursor."""


@dataclass
class _Acked:
    done: bool = False

    async def __call__(self) -> None:
        self.done = True


@dataclass
class _Offer:
    """A record a search task hands to the cycle; ``answer`` becomes whether it was acknowledged."""

    record: SourceRecord
    answer: asyncio.Future[bool]


@dataclass
class CycleReport:
    """What the last cycle did (for logs, tests and operators)."""

    ok: bool = True
    records: int = 0
    pages: int = 0
    error_code: str | None = None
    retry_after: float | None = None
    abandoned: bool = False
    ignored_issues: int = 0
    committed: dict[str, datetime] = field(default_factory=dict)


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


class FhirPollingAdapter:
    """The polling `Adapter` of one instance. ``read()`` runs until `aclose`."""

    name: ClassVar[str] = "fhir-poll"

    def __init__(
        self,
        instance: FhirInstance,
        client: FhirClient,
        cursors: CursorStore,
        *,
        rng: random.Random | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.instance = instance
        self._client = client
        self._cursors = cursors
        self._rng = rng or random.Random()  # noqa: S311 - schedule jitter, not security
        self._now = now
        self._backoff = Backoff(
            base=min(30.0, instance.interval_seconds), cap=instance.backoff_max_seconds, rng=self._rng
        )
        self.outage = OutageTracker(instance, store=cursors)
        self._closed = asyncio.Event()
        self.last = CycleReport()
        self.cycles = 0

    async def open(self) -> None:
        """Nothing to connect ahead of the first poll (tokens are fetched on demand)."""

    async def aclose(self) -> None:
        """Stop after the current request; close the HTTP client."""
        self._closed.set()
        await self._client.aclose()

    async def read(self) -> AsyncIterator[tuple[SourceRecord, Ack]]:
        """Poll forever: a first jittered wait, then cycles separated by `next_delay`."""
        await self._wait(self._rng.uniform(0, self.instance.jitter * self.instance.interval_seconds))
        while not self._closed.is_set():
            async for item in self.cycle():
                yield item
            await self._wait(self.next_delay())

    async def _wait(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout=max(seconds, 0.0))

    def next_delay(self) -> float:
        """Seconds until the next cycle, from the last cycle's outcome."""
        if self.last.ok:
            self._backoff.reset()
            return jittered(self.instance.interval_at(self._now()), self.instance.jitter, self._rng)
        if self.last.abandoned:
            return self._backoff.next_delay(None)
        return self._backoff.next_delay(self.last.retry_after)

    async def cycle(self) -> AsyncIterator[tuple[SourceRecord, Ack]]:
        """One pass over every search; yields records, then the outage / recovery record if due.

        The searches run concurrently, at most ``max_concurrency`` at a time (each request also
        goes through the instance's `RequestGuard`: the same cap, the budget, the breaker). The
        pages of one search are read one after another. Records reach the consumer one at a time;
        a search offers its next record only after its previous one was acknowledged."""
        self.cycles += 1
        report = CycleReport()
        self.last = report
        queue: asyncio.Queue[_Offer | None] = asyncio.Queue()
        gate = asyncio.Semaphore(self.instance.max_concurrency)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self._run_search(search, report, queue, gate, stop))
            for search in self.instance.effective_searches()
        ]
        try:
            running = len(tasks)
            while running:
                offer = await queue.get()
                if offer is None:
                    running -= 1
                    continue
                acked = _Acked()
                yield offer.record, acked
                if not offer.answer.done():
                    offer.answer.set_result(acked.done)
                if not acked.done:  # the spool could not commit: no further record this cycle
                    report.ok, report.abandoned = False, True
                    break
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                raise outcome
        if self._closed.is_set() or report.abandoned:
            return
        moment = self._now()
        status = (
            self.outage.success(moment) if report.ok else self.outage.failure(moment, report.error_code or "")
        )
        if status is not None:
            acked = _Acked()
            yield status, acked
            if acked.done and report.ok:
                self.outage.clear()
            elif acked.done:
                self.outage.mark_reported()

    async def _run_search(
        self,
        search: FhirSearch,
        report: CycleReport,
        queue: asyncio.Queue[_Offer | None],
        gate: asyncio.Semaphore,
        stop: asyncio.Event,
    ) -> None:
        """One search as a task of the cycle; failures land in ``report``; a failure that concerns
        the whole upstream (or an unacknowledged record) sets ``stop`` for the other searches."""
        try:
            async with gate:
                if stop.is_set() or self._closed.is_set():
                    return
                await self._search(search, report, queue, stop)
        except _Abandoned:
            report.ok, report.abandoned = False, True
            stop.set()
            log.warning(
                "fhir batch abandoned", extra={"instance": self.instance.name, "search": search.resource}
            )
        except UpstreamError as error:
            if report.ok:
                report.ok, report.error_code = False, error.code
            if error.retry_after is not None:
                report.retry_after = max(report.retry_after or 0.0, error.retry_after)
            if isinstance(error, UPSTREAM_WIDE):
                stop.set()
            log.warning(
                "fhir poll failed",
                extra={
                    "instance": self.instance.name,
                    "search": search.resource,
                    "code": error.code,
                    "status": error.status,
                    "retry_after": error.retry_after,
                },
            )
        finally:
            queue.put_nowait(None)

    async def _search(
        self,
        search: FhirSearch,
        report: CycleReport,
        queue: asyncio.Queue[_Offer | None],
        stop: asyncio.Event,
    ) -> None:
        name = self.instance.name
        since = self._cursors.get(name, search.key) or self.instance.initial_cursor(self._now())
        params: dict[str, str] | None = {
            **search.params,
            "_lastUpdated": f"gt{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
            "_count": str(self.instance.page_size),
        }
        url: str | None = search.resource
        latest: datetime | None = None
        pages = 0
        while url is not None and pages < self.instance.max_pages:
            if stop.is_set() or self._closed.is_set():
                return
            bundle = await self._client.get_json(url, params)
            if bundle.get("resourceType") != "Bundle":
                raise UpstreamBadResponse("search answer is not a Bundle")
            try:
                validate_resource(bundle)
                reportable, ignored = drop_ignored_outcomes(bundle, self.instance)
                records = records_from_resource(
                    reportable, vendor=self.instance.vendor, instance=name, origin="poll"
                )
            except InputRejected as error:
                raise UpstreamBadResponse(f"search Bundle rejected ({error.code})") from None
            pages += 1
            report.pages += 1
            report.ignored_issues += ignored
            for record in records:
                offer = _Offer(record, asyncio.get_running_loop().create_future())
                await queue.put(offer)
                if not await offer.answer:
                    raise _Abandoned
                report.records += 1
            moment = high_water(bundle)
            if moment is not None and (latest is None or moment > latest):
                latest = moment
            url, params = _next_link(bundle), None
        if url is not None:
            log.warning(
                "fhir search exceeded max_pages; cursor held",
                extra={"instance": name, "search": search.resource, "pages": pages},
            )
            return
        if latest is not None:
            self._cursors.commit(name, search.key, latest)
            report.committed[search.key] = latest
        log.info(
            "fhir search polled",
            extra={"instance": name, "search": search.resource, "pages": pages, "records": report.records},
        )
