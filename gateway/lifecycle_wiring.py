"""Where the dedup lifecycle state lives for a configuration: in the PostgreSQL spool database when
``spool.backend`` is ``postgresql`` (shared by every node), else beside the SQLite spool."""

from __future__ import annotations

from gateway.delivery_settings import resolve_secret
from gateway.settings import Settings


def lifecycle_dsn(settings: Settings) -> str | None:
    """The PostgreSQL DSN of the lifecycle store (the spool's), or None for SQLite."""
    if settings.spool.backend != "postgresql":
        return None
    if settings.spool.dsn is None:
        raise ValueError("spool.backend is postgresql but spool.dsn (env:NAME or file:PATH) is unset")
    return resolve_secret(settings.spool.dsn)
