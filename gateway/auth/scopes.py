"""The scopes that guard routes. Every route but the health checks requires one of these."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    """An OAuth 2.0 scope understood by the gateway."""

    EVENTS_WRITE = "events:write"
    TICKETS_READ = "tickets:read"
    TICKETS_ACK = "tickets:ack"
    TICKETS_SENSITIVE = "tickets:sensitive"
    SPOOL_READ = "spool:read"
    SPOOL_REPLAY = "spool:replay"
    AUDIT_READ = "audit:read"
    METRICS_READ = "metrics:read"
    PHI_REIDENTIFY = "phi:reidentify"
    REPORTS_READ = "reports:read"
    MARKERS_WRITE = "markers:write"
    ADMIN = "admin"
