"""`SyncService`: wires two-way sync into a running gateway (section ``sync``, off by default).

Built by `Runtime.build` when ``sync.enabled``: the ticket link store (in the spool's SQLite file,
or in the PostgreSQL spool database with ``spool.backend: postgresql``),
the `StatusSync`, the settlement hook that records remote ids (``runtime.settled_hook``), one
`RedminePoller` per ``redmine`` sink, and one sink plus delivery worker per write-back target, so
write-backs use the spool's retry and dead-letter machinery like tickets do.
"""

from __future__ import annotations

import asyncio
import os
import socket
from contextlib import suppress
from typing import TYPE_CHECKING

from fallback.cerner_events_sink import CernerEventsSink
from fallback.mllp_writeback_sink import MllpWritebackSink
from fallback.sink import Sink
from fallback.webhook_sink import WebhookSink
from fallback.worker import DeliveryWorker
from gateway.delivery_settings import resolve_secret
from gateway.delivery_wiring import build_worker
from gateway.lifecycle_flow import LifecycleGate
from gateway.redmine_poller import RedminePoller
from gateway.sync_settings import WritebackTarget
from gateway.sync_status import StatusSync
from gateway.ticket_links import TicketLinks, TicketLinkStore

if TYPE_CHECKING:
    from gateway.dataflow import FlowPart
    from gateway.runtime import Runtime


def writeback_sink(target: WritebackTarget) -> Sink:
    """The (unopened) sink of one write-back target."""
    if target.kind == "hl7":
        assert target.host and target.port
        return MllpWritebackSink(
            target.host, target.port, name=target.name, receiving_app=target.receiving_app,
            receiving_facility=target.receiving_facility, tls=target.tls,
        )  # fmt: skip
    assert target.url is not None
    if target.kind == "cerner":
        assert target.tenant and target.token_url and target.client_id and target.client_secret
        return CernerEventsSink(
            target.url, target.tenant, target.token_url, target.client_id,
            resolve_secret(target.client_secret), name=target.name, scope=target.scope,
        )  # fmt: skip
    return WebhookSink(target.url, [resolve_secret(s) for s in target.secrets], name=target.name)


class SyncService:
    """A `gateway.runtime.BackgroundService` (see the module docstring)."""

    name = "two-way-sync"

    def __init__(self, runtime: Runtime, gate: LifecycleGate | None) -> None:
        from gateway.runtime import build_sealer

        settings = runtime.settings
        self.links: TicketLinks = TicketLinkStore(settings.spool_file)
        if settings.spool.backend == "postgresql" and settings.spool.dsn is not None:
            from gateway.ticket_links_postgres import PostgresTicketLinkStore

            self.links = PostgresTicketLinkStore(resolve_secret(settings.spool.dsn))
        self.sync = StatusSync(
            settings.sync,
            self.links,
            audit=runtime.audit,
            metrics=runtime.metrics,
            spool=runtime.spool,
            sealer=build_sealer(runtime.keys),
            sink_kinds={config.name: config.kind for config in settings.sinks},
            gate=gate,
            notify=runtime.notify,
        )
        self.pollers: list[RedminePoller] = []
        for config in settings.sinks:
            if config.kind == "redmine" and config.url and config.api_key and config.project:
                section = settings.sync.sinks.get(config.name)
                self.pollers.append(
                    RedminePoller(
                        self.sync,
                        config.name,
                        config.url,
                        resolve_secret(config.api_key),
                        config.project,
                        interval=section.poll_seconds if section else 60.0,
                    )
                )
        self.writeback_sinks = [writeback_sink(target) for target in settings.sync.writeback]
        names = {config.name for config in settings.sinks}
        clash = sorted(names & {sink.name for sink in self.writeback_sinks})
        if clash:
            raise ValueError(f"write-back target names must differ from sink names: {', '.join(clash)}")
        self._runtime = runtime
        self._workers: list[DeliveryWorker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        runtime.settled_hook = self.sync.record_settled

    async def start(self, runtime: Runtime) -> None:
        """Start the write-back workers (when delivery runs here) and the pollers."""
        if runtime.settings.delivery_enabled:
            owner = f"{socket.gethostname()}:{os.getpid()}"
            for sink in self.writeback_sinks:
                await sink.open()
                worker = build_worker(
                    runtime.settings, runtime.spool, sink, f"{owner}:{sink.name}", runtime.audit,
                    metrics=runtime.metrics,
                )  # fmt: skip
                self._workers.append(worker)
                runtime.workers.append(worker)
                self._tasks.append(asyncio.create_task(worker.run(self._stop), name=f"writeback-{sink.name}"))
        for poller in self.pollers:
            await poller.start(runtime)

    async def stop(self) -> None:
        """Stop pollers and write-back workers, close sinks and the store."""
        for poller in reversed(self.pollers):
            await poller.stop()
        self._stop.set()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for worker in self._workers:
            with suppress(ValueError):
                self._runtime.workers.remove(worker)
        self._workers.clear()
        for sink in self.writeback_sinks:
            await sink.aclose()
        await self.links.aclose()

    def dataflow_node(self) -> FlowPart:
        """Ticket links (ids, states, times) and the status/write-back flows."""
        from gateway.dataflow import IN_PROCESS, METADATA, PHI_FREE, FlowEdge, FlowNode, FlowPart

        nodes = [
            FlowNode(
                "ticket_links", "store", "ticket links (remote ids, states, times)", at_rest="no PHI stored"
            ),
            FlowNode("ticket_status", "source", "ticketing systems' status (signed callbacks, Redmine poll)"),
        ]
        edges = [
            FlowEdge("spool", "ticket_links", METADATA, IN_PROCESS),
            FlowEdge("ticket_status", "ticket_links", METADATA, "HTTPS, HMAC or sink token"),
            FlowEdge("ticket_links", "audit", METADATA, IN_PROCESS),
        ]
        for target in self._runtime.settings.sync.writeback:
            node_id = "writeback_" + "".join(c if c.isalnum() else "_" for c in target.name)
            nodes.append(
                FlowNode(
                    node_id, "sink", f"write-back {target.name} ({target.kind})", at_rest="remote system"
                )
            )
            edges.append(FlowEdge("spool", node_id, PHI_FREE + " (ids and codes)", "HTTPS"))
        return FlowPart(nodes, edges)


def sync_service_of(runtime: Runtime) -> SyncService | None:
    """The running gateway's sync service, if sync is enabled."""
    return next((s for s in runtime.services if isinstance(s, SyncService)), None)


__all__ = ["SyncService", "sync_service_of", "writeback_sink"]
