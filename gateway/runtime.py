"""Wiring: builds every part of the gateway from `Settings` and owns their life cycle.

This is the only place where adapters, normalizers, redaction and fallback meet.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol

from fallback.cipher import PayloadCipher
from fallback.sink import Sink
from fallback.worker import DeliveryWorker, SettledHook
from gateway.anomaly_engine import AnomalyEngine, AnomalyService, ConsoleAnomalyFeed, build_anomaly
from gateway.audit import AuditLog
from gateway.audit_postgres import build_audit_log
from gateway.auth.services import SecurityServices
from gateway.auth.tokens import DevIssuer, TokenValidator
from gateway.console.feeds import AnomalyFeed
from gateway.delivery_wiring import Spool, build_sinks, build_spool, build_worker
from gateway.fhir_service import build_fhir_services
from gateway.keys import GatewayKeys, load_or_create_keys
from gateway.lifecycle_wiring import lifecycle_dsn
from gateway.metrics import GatewayMetrics
from gateway.pipeline import IngestPipeline
from gateway.quarantine import Quarantine
from gateway.reidentify_vault import build_vault
from gateway.retention import RetentionService
from gateway.rules_settings import LifecycleService, build_lifecycle, build_routing
from gateway.settings import Settings
from normalizers.fingerprint import FINGERPRINT_FIELDS
from normalizers.rules import RuleChain
from normalizers.sealing import Sealer
from redaction import Pseudonymizer, Redactor, TokenObserver, default_detector_registry
from redaction.vault import ReidentificationVault

log = logging.getLogger("rcmgw.runtime")


def build_sealer(
    keys: GatewayKeys,
    vault: TokenObserver | None = None,
    *,
    post_rules: RuleChain | None = None,
    fingerprint_fields: tuple[str, ...] | None = None,
) -> Sealer:
    """The redactor-backed sealer for ``keys``: with a ``vault`` every token written is stored; with
    ``post_rules`` the post-redaction rule stage runs on the sealed text."""
    pseudonymizer = Pseudonymizer(keys.pseudonym)
    return Sealer(
        Redactor(pseudonymizer, default_detector_registry(), observer=vault),
        pseudonymizer,
        post_rules=post_rules,
        fingerprint_fields=fingerprint_fields or FINGERPRINT_FIELDS,
    )


class BackgroundService(Protocol):
    """Something that runs beside the HTTP API for the life of the gateway: an MLLP listener, an
    inbox watcher, a FHIR poller. ``start`` returns once it is running (it creates its own tasks);
    ``stop`` ends them and waits. Services are started in order after the spool is open and stopped
    in reverse order before it closes."""

    name: str

    async def start(self, runtime: Runtime) -> None:
        """Start running."""
        ...

    async def stop(self) -> None:
        """Stop and release everything."""
        ...


@dataclass
class Runtime:
    """Every long-lived object of a running gateway."""

    settings: Settings
    keys: GatewayKeys
    spool: Spool
    sinks: dict[str, Sink]
    pipeline: IngestPipeline
    quarantine: Quarantine
    issuer: DevIssuer
    validator: TokenValidator
    audit: AuditLog
    workers: list[DeliveryWorker] = field(default_factory=list)
    services: list[BackgroundService] = field(default_factory=list)
    security: SecurityServices | None = None
    vault: ReidentificationVault | None = None
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    anomaly_feed: AnomalyFeed | None = None  # shown by the console's anomalies page
    settled_hook: SettledHook | None = None  # also awaited after each settlement (two-way sync)
    anomaly: AnomalyEngine | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        """Create (but do not start) the runtime; generates dev keys on first use."""
        keys = load_or_create_keys(settings.keys_dir)
        vault = build_vault(settings)
        cipher = PayloadCipher(keys.spool_keys, keys.spool_active)
        spool = build_spool(settings, cipher)
        sinks, sink_names = build_sinks(settings)
        quarantine = Quarantine(settings.quarantine_dir, cipher)
        issuer = DevIssuer(keys.issuer_key, issuer=settings.token_issuer, audience=settings.token_audience)
        validator = TokenValidator(
            issuer.key_set,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            leeway=settings.token_leeway_seconds,
        )
        audit = build_audit_log(settings, keys.audit_key)
        workers: list[DeliveryWorker] = []
        metrics = GatewayMetrics()
        metrics.sink_names = tuple(sink_names)

        def notify() -> None:
            for worker in workers:
                worker.notify()

        routing = build_routing(settings.rules, settings.lifecycle)
        lifecycle = build_lifecycle(
            settings.lifecycle, settings.spool_file, postgres_dsn=lifecycle_dsn(settings), cipher=cipher
        )
        anomaly = build_anomaly(settings.anomaly, settings.spool_file, postgres_dsn=lifecycle_dsn(settings))
        pipeline = IngestPipeline(
            routing.normalizer,
            build_sealer(
                keys, vault, post_rules=routing.post_rules, fingerprint_fields=routing.fingerprint_fields
            ),
            spool=spool,
            sinks=sink_names,
            quarantine=quarantine,
            audit=audit,
            on_spooled=notify,
            lifecycle=lifecycle,
            metrics=metrics,
            observer=anomaly.observer if anomaly else None,
        )
        security = SecurityServices.build(settings, dev_issuer=issuer, dev_validator=validator, audit=audit)
        runtime = cls(
            settings=settings,
            keys=keys,
            spool=spool,
            sinks=sinks,
            pipeline=pipeline,
            quarantine=quarantine,
            issuer=issuer,
            validator=validator,
            audit=audit,
            workers=workers,
            services=[*([LifecycleService(lifecycle)] if lifecycle else []), *build_fhir_services(settings)],
            security=security,
            vault=vault,
            metrics=metrics,
            anomaly=anomaly,
        )
        if anomaly is not None:
            runtime.services.append(AnomalyService(anomaly))
            runtime.anomaly_feed = ConsoleAnomalyFeed(anomaly)
        if settings.mllp.enabled:
            from gateway.mllp_service import MllpService

            runtime.services.append(MllpService(settings.mllp))
        runtime.services.append(RetentionService(settings.retention))
        if settings.inbox.enabled:
            from gateway.inbox import inbox_from_runtime

            runtime.services.append(inbox_from_runtime(runtime))
        if settings.sftp.enabled:
            from gateway.sftp_service import sftp_from_runtime

            runtime.services.append(sftp_from_runtime(runtime))
        if settings.sync.enabled:
            from gateway.sync_service import SyncService

            runtime.services.append(SyncService(runtime, lifecycle))
        return runtime

    def notify(self) -> None:
        """Wake every delivery worker (a ticket was just spooled)."""
        for worker in self.workers:
            worker.notify()

    async def start(self, *, delivery: bool | None = None) -> None:
        """Open the spool and sinks; start one delivery worker per sink unless disabled."""
        await self.spool.open()
        self.audit.open()
        if self.security is not None:
            self.security.open()
        if self.vault is not None:
            self.vault.open()
            self.vault.purge_expired()
        await self.audit.record(
            "config.loaded",
            actor="system",
            home=str(self.settings.home),
            sinks=",".join(self.sinks),
            pseudonym_key_id=self.keys.pseudonym.key_id,
            spool_key_id=self.keys.spool_active,
        )
        run_delivery = self.settings.delivery_enabled if delivery is None else delivery
        if not run_delivery:
            return
        owner = f"{socket.gethostname()}:{os.getpid()}"
        for sink in self.sinks.values():
            await sink.open()
            worker = build_worker(
                self.settings,
                self.spool,
                sink,
                f"{owner}:{sink.name}",
                self.audit,
                metrics=self.metrics,
                also=self.settled_hook,
            )
            self.workers.append(worker)
            self._tasks.append(asyncio.create_task(worker.run(self._stop), name=f"deliver-{sink.name}"))
        log.info("delivery started", extra={"sinks": ",".join(self.sinks)})

    async def start_services(self) -> None:
        """Start every background service, in order."""
        for service in self.services:
            await service.start(self)
            log.info("service started", extra={"service": service.name})

    async def stop(self) -> None:
        """Stop services and workers, close sinks and the spool."""
        for service in reversed(self.services):
            await service.stop()
        self._stop.set()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for sink in self.sinks.values():
            await sink.aclose()
        await self.spool.aclose()
        if self.security is not None:
            await self.security.aclose()
        self.audit.close()
        if self.vault is not None:
            self.vault.close()
