"""Builds the spool, the sinks and the delivery workers from the ``spool`` and ``sinks`` settings,
and the hook that audits every settlement. Used by `gateway.runtime.Runtime`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from fallback.cipher import PayloadCipher
from fallback.circuit import CircuitBreaker, RateLimiter, rate_limit
from fallback.file_sink import FileSink
from fallback.postgres_spool import PostgresSpool
from fallback.redmine_sink import RedmineSink
from fallback.rest_sink import RestSink, RestSpec
from fallback.retry import RetryPolicy, schedule_wait
from fallback.saas_sinks import JiraSink, ServiceNowSink, ZendeskSink
from fallback.sink import Sink
from fallback.spool import DeadLetter, Delivered, LeasedEntry, Outcome, SpoolBackend
from fallback.sqlite_spool import SqliteSpool
from fallback.webhook_sink import WebhookSink
from fallback.worker import DeliveryWorker
from gateway.audit import AuditEntry, AuditLog
from gateway.delivery_settings import SinkConfig, resolve_secret
from gateway.metrics import GatewayMetrics
from gateway.settings import Settings

log = logging.getLogger("rcmgw.delivery")
Spool = SqliteSpool | PostgresSpool


def build_spool(settings: Settings, cipher: PayloadCipher) -> Spool:
    """The configured spool backend (unopened)."""
    if settings.spool.backend == "postgresql":
        if settings.spool.dsn is None:
            raise ValueError("spool.backend is postgresql but spool.dsn (env:NAME or file:PATH) is unset")
        return PostgresSpool(resolve_secret(settings.spool.dsn), cipher)
    return SqliteSpool(settings.spool_file, cipher)


def _need(config: SinkConfig, value: object, what: str) -> None:
    if value is None or value in ([], ""):
        raise ValueError(f"sink {config.name!r} ({config.kind}) needs {what}")


def build_sink(settings: Settings, config: SinkConfig) -> Sink | None:
    """One configured sink (unopened); None for ``pull`` (served by the pull API, not a worker)."""
    timeout = config.timeout_seconds
    if config.kind == "file":
        return FileSink(config.path or settings.outbox_file, name=config.name)
    if config.kind == "pull":
        return None
    if config.kind == "webhook":
        _need(config, config.url, "url")
        _need(config, config.secrets, "secrets")
        assert config.url is not None
        return WebhookSink(
            config.url, [resolve_secret(s) for s in config.secrets], name=config.name, timeout=timeout
        )
    if config.kind == "redmine":
        for value, what in ((config.url, "url"), (config.api_key, "api_key"), (config.project, "project")):
            _need(config, value, what)
        _need(config, config.external_id_field, "external_id_field")
        assert config.url and config.api_key and config.project and config.external_id_field
        return RedmineSink(
            config.url,
            resolve_secret(config.api_key),
            config.project,
            config.external_id_field,
            name=config.name,
            timeout=timeout,
        )
    if config.kind in ("jira", "servicenow", "zendesk"):
        return _saas_sink(config, timeout)
    if config.kind == "rest":
        _need(config, config.url, "url")
        assert config.url is not None
        spec = RestSpec.model_validate(config.options)
        return RestSink(config.url, spec, resolve=resolve_secret, name=config.name, timeout=timeout)
    raise ValueError(f"sink kind {config.kind!r} is not available in this build")


def _saas_sink(config: SinkConfig, timeout: float) -> Sink:
    user = str(config.options.get("user") or config.options.get("email") or "")
    for value, what in ((config.url, "url"), (config.api_key, "api_key"), (user, "options.user/email")):
        _need(config, value, what)
    assert config.url and config.api_key
    secret = resolve_secret(config.api_key)
    if config.kind == "jira":
        _need(config, config.project, "project")
        assert config.project
        return JiraSink(config.url, user, secret, config.project, name=config.name, timeout=timeout)
    if config.kind == "servicenow":
        return ServiceNowSink(config.url, user, secret, name=config.name, timeout=timeout)
    return ZendeskSink(config.url, user, secret, name=config.name, timeout=timeout)


def build_sinks(settings: Settings) -> tuple[dict[str, Sink], list[str]]:
    """Worker-delivered sinks by name, and every sink name in put order (pull sinks included)."""
    sinks: dict[str, Sink] = {}
    names: list[str] = []
    for config in settings.sinks:
        if config.name in names:
            raise ValueError(f"sink name {config.name!r} is used twice")
        names.append(config.name)
        sink = build_sink(settings, config)
        if sink is not None:
            sinks[config.name] = sink
    return sinks, names


def retry_policy(settings: Settings) -> RetryPolicy:
    """The configured retry schedule and limits."""
    spool = settings.spool
    limits = {"max_attempts": spool.max_attempts, "max_age": timedelta(hours=spool.max_age_hours)}
    if spool.schedule_seconds:
        return RetryPolicy(wait=schedule_wait(spool.schedule_seconds), **limits)  # type: ignore[arg-type]
    return RetryPolicy(**limits)  # type: ignore[arg-type]


def _audit_entry(entry: LeasedEntry, outcome: Outcome) -> AuditEntry:
    common = {"sink": entry.sink, "entry_id": entry.entry_id, "ticket_id": entry.ticket.id}
    if isinstance(outcome, Delivered):
        return AuditEntry("delivery.delivered", "system", details={"remote_id": outcome.remote_id, **common})
    if isinstance(outcome, DeadLetter):
        return AuditEntry("delivery.dead_lettered", "system", "failed", {"reason": outcome.reason, **common})
    details = {"reason": outcome.reason, "next_attempt_at": outcome.when.isoformat(), **common}
    return AuditEntry("delivery.retried", "system", "retry", details)


def audit_hook(audit: AuditLog) -> Callable[[LeasedEntry, Outcome], Awaitable[None]]:
    """Records ``delivery.delivered`` / ``delivery.retried`` / ``delivery.dead_lettered``."""

    async def hook(entry: LeasedEntry, outcome: Outcome) -> None:
        await audit.record_many([_audit_entry(entry, outcome)])

    return hook


def audit_batch_hook(
    audit: AuditLog, metrics: GatewayMetrics | None = None
) -> Callable[[Sequence[tuple[LeasedEntry, Outcome]]], Awaitable[None]]:
    """`audit_hook` for a worker's whole round: the records of every settlement in ONE durable
    append (`AuditLog.record_many`), in settlement order; observes each outcome in ``metrics``."""

    async def hook(settled: Sequence[tuple[LeasedEntry, Outcome]]) -> None:
        if metrics is not None:
            for entry, outcome in settled:
                metrics.settled(entry, outcome)
        await audit.record_many([_audit_entry(entry, outcome) for entry, outcome in settled])

    return hook


def chain_hooks(
    first: Callable[[LeasedEntry, Outcome], Awaitable[None]],
    then: Callable[[LeasedEntry, Outcome], Awaitable[None]],
) -> Callable[[LeasedEntry, Outcome], Awaitable[None]]:
    """One settlement hook that awaits ``first``, then ``then`` (two-way sync's link recording)."""

    async def hook(entry: LeasedEntry, outcome: Outcome) -> None:
        await first(entry, outcome)
        await then(entry, outcome)

    return hook


def build_worker(
    settings: Settings,
    spool: SpoolBackend,
    sink: Sink,
    owner: str,
    audit: AuditLog,
    *,
    metrics: GatewayMetrics | None = None,
    also: Callable[[LeasedEntry, Outcome], Awaitable[None]] | None = None,
) -> DeliveryWorker:
    """A delivery worker for ``sink`` with its circuit breaker, rate limit and audit hook."""
    config = next((c for c in settings.sinks if c.name == sink.name), None)
    limiter = RateLimiter(rate_limit(config.rate_limit)) if config and config.rate_limit else None
    breaker = CircuitBreaker() if config is None or config.circuit_breaker else None
    return DeliveryWorker(
        spool,
        sink,
        policy=retry_policy(settings),
        owner=owner,
        poll_interval=settings.delivery_poll_interval,
        lease_for=timedelta(seconds=settings.spool.lease_seconds),
        breaker=breaker,
        limiter=limiter,
        on_settled=also,  # per settlement, after the spool commit (two-way sync's link recording)
        on_settled_batch=audit_batch_hook(audit, metrics),  # one audit append per round
        concurrency=config.concurrency if config else 1,
    )


__all__ = [
    "Spool",
    "audit_batch_hook",
    "audit_hook",
    "build_sink",
    "build_sinks",
    "build_spool",
    "build_worker",
    "retry_policy",
]
