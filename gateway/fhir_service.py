"""FHIR pollers as `BackgroundService`s: one per configured instance, feeding the ingest pipeline.

Each record goes through ``runtime.pipeline.ingest(record, ack)``, so the adapter's cursor moves
only after the durable spool commit. A record that is quarantined is acknowledged too (its raw
input is durably kept in quarantine); a spool failure leaves the record unacknowledged, which
abandons the batch and keeps the cursor.
"""

from __future__ import annotations

import asyncio
import logging
import random
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from adapters.fhir.client import FhirClient
from adapters.fhir.config import FhirInstance
from adapters.fhir.cursors import CursorStore
from adapters.fhir.poller import FhirPollingAdapter
from adapters.fhir.protection import CircuitBreaker, RequestBudget, RequestGuard
from adapters.fhir.signing_keys import KeyRing
from adapters.fhir.smart import SmartTokenSource
from fallback.errors import SpoolError
from gateway.pipeline import RecordQuarantined
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.runtime import BackgroundService, Runtime

log = logging.getLogger("rcmgw.fhir.service")
STOP_TIMEOUT_SECONDS = 10.0


def cursor_path(settings: Settings) -> Path:
    """The SQLite file holding the FHIR cursors."""
    return settings.home / "fhir" / "cursors.db"


def build_polling_adapter(
    settings: Settings,
    instance: FhirInstance,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    rng: random.Random | None = None,
) -> FhirPollingAdapter:
    """The fully wired poller of ``instance`` (keys, tokens, guard, client, cursors)."""
    keyring = KeyRing(settings.keys_dir) if instance.auth == "private_key_jwt" else None
    tokens = SmartTokenSource(
        instance, keyring, min_refresh_seconds=settings.fhir.token_refresh_min_seconds, transport=transport
    )
    guard = RequestGuard(
        RequestBudget(instance.requests_per_hour),
        CircuitBreaker(instance.breaker_failures, instance.breaker_reset_seconds),
        instance.max_concurrency,
    )
    client = FhirClient(instance, tokens, guard, transport=transport)
    return FhirPollingAdapter(instance, client, CursorStore(cursor_path(settings)), rng=rng)


class FhirPollerService:
    """Runs one instance's poller for the life of the gateway."""

    def __init__(self, settings: Settings, instance: FhirInstance) -> None:
        self.name = f"fhir-poller:{instance.name}"
        self._settings = settings
        self._instance = instance
        self._adapter: FhirPollingAdapter | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, runtime: Runtime) -> None:
        """Build the adapter and start polling in a task."""
        self._adapter = build_polling_adapter(self._settings, self._instance)
        await self._adapter.open()
        self._task = asyncio.create_task(self._run(runtime, self._adapter), name=self.name)

    async def _run(self, runtime: Runtime, adapter: FhirPollingAdapter) -> None:
        async for record, ack in adapter.read():
            try:
                await runtime.pipeline.ingest(record, ack)
            except RecordQuarantined:
                await ack()
            except SpoolError as error:
                log.error(
                    "fhir record not spooled; batch will be re-read",
                    extra={"instance": self._instance.name, "code": error.code},
                )
            except Exception as error:  # noqa: BLE001 - a poller must outlive one bad record
                log.error(
                    "fhir record failed",
                    extra={"instance": self._instance.name, "error_class": type(error).__name__},
                )

    def health(self) -> str:
        """One line for the operator console: ids, counts and error codes only."""
        adapter = self._adapter
        if adapter is None:
            return "not started"
        if self._task is not None and self._task.done():
            return "stopped"
        if adapter.outage.since is not None:
            since = adapter.outage.since.strftime("%Y-%m-%d %H:%M")
            return f"failing since {since} UTC ({adapter.outage.last_error})"
        last = adapter.last
        if not last.ok:
            return f"last cycle failed ({last.error_code})"
        return f"ok (cycles {adapter.cycles}, last {last.records} records)"

    async def stop(self) -> None:
        """Stop polling and wait for the task (cancelled if it does not end in time)."""
        if self._adapter is not None:
            await self._adapter.aclose()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                self._task.cancel()
                with suppress(asyncio.CancelledError):
                    await self._task


def build_fhir_services(settings: Settings) -> list[BackgroundService]:
    """One poller service per configured instance (none when the section is disabled)."""
    if not settings.fhir.enabled:
        return []
    return [FhirPollerService(settings, instance) for instance in settings.fhir.instances]
