"""`MllpService`: the HL7 v2 MLLP listener as a `BackgroundService` of ``rcmgw serve``."""

from __future__ import annotations

import logging
import socket
import ssl

from adapters.hl7v2.mllp import MllpListener
from gateway.dataflow import PHI, FlowEdge, FlowNode, FlowPart
from gateway.group_ingest import GroupIngest
from gateway.hl7_intake import Hl7Intake, fallback_ack
from gateway.mllp_settings import MllpSettings
from gateway.runtime import Runtime

log = logging.getLogger("rcmgw.mllp")


def build_ssl_context(settings: MllpSettings) -> ssl.SSLContext | None:
    """A server TLS context from the settings (client certificates required when a client CA is
    configured), or None for plain MLLP."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_client_ca_file is not None:
        context.load_verify_locations(cafile=settings.tls_client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class MllpService:
    """Runs the MLLP listener for the life of the gateway. `bind` may be called before `start`
    (``rcmgw serve`` does, to print the bound port); `start` binds otherwise."""

    name = "mllp"

    def __init__(self, settings: MllpSettings) -> None:
        self._settings = settings
        self._socket: socket.socket | None = None
        self._listener: MllpListener | None = None
        self.port: int | None = None

    def dataflow_node(self) -> FlowPart:
        """HL7 v2 senders -> this listener -> normalize; ACKs go back on the same connection."""
        if self._settings.tls_client_ca_file is not None:
            transit = "MLLP over mutual TLS"
        elif self._settings.tls_cert_file is not None:
            transit = "MLLP over TLS"
        elif self._settings.host in ("127.0.0.1", "::1", "localhost"):
            transit = "MLLP on loopback"
        else:
            transit = "MLLP, unencrypted (configure TLS)"
        label = f"HL7 v2 senders via MLLP ({self._settings.host})"
        return FlowPart([FlowNode("mllp", "source", label)], [FlowEdge("mllp", "normalize", PHI, transit)])

    def bind(self) -> int:
        """Bind the listening socket now; returns the port (useful with port 0)."""
        if self._socket is None:
            host = self._settings.host
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, self._settings.port))
            except OSError:
                sock.close()
                raise
            sock.listen(1024)
            sock.setblocking(False)
            self._socket = sock
            self.port = int(sock.getsockname()[1])
        assert self.port is not None
        return self.port

    async def start(self, runtime: Runtime) -> None:
        """Start serving MLLP with the runtime's pipeline and quarantine."""
        self.bind()
        group = GroupIngest(runtime.pipeline, max_group=self._settings.group_commit_max)
        intake = Hl7Intake(
            runtime.pipeline, runtime.quarantine, self._settings.tickets, group=group, metrics=runtime.metrics
        )
        intake.use_strict(self._settings.strict)
        self._listener = MllpListener(
            intake.handle_frame,
            ssl_context=build_ssl_context(self._settings),
            max_frame_bytes=self._settings.max_frame_bytes,
            idle_timeout=self._settings.idle_timeout_seconds,
            fallback_ack=fallback_ack,
        )
        assert self._socket is not None
        await self._listener.start(sock=self._socket)
        log.info(
            "mllp listening",
            extra={
                "host": self._settings.host,
                "port": self.port,
                "tls": self._settings.tls_cert_file is not None,
            },
        )

    async def stop(self) -> None:
        """Stop the listener."""
        if self._listener is not None:
            await self._listener.aclose()
            self._listener = None
        self._socket = None
