"""The PostgreSQL spool's schema and migrations, and the translation of psycopg errors.

The version lives in ``spool_meta`` (key ``schema_version``). `MIGRATIONS` run inside one
transaction that first takes a transaction-level advisory lock, so several gateway nodes starting on
one new database migrate it once. Times are ``timestamptz`` (microsecond precision, like the SQLite
spool's integer microseconds).
"""

from __future__ import annotations

from typing import Final

import psycopg

from fallback.errors import SpoolCorrupt, SpoolError, SpoolFull, SpoolUnavailable

ADVISORY_LOCK_ID: Final = 0x52434D47  # "RCMG"

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE IF NOT EXISTS spool_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE payloads (
            dedup_key TEXT PRIMARY KEY,
            ticket_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            category TEXT NOT NULL DEFAULT '',
            key_id TEXT NOT NULL,
            blob BYTEA NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        )
        """,
        """
        CREATE TABLE entries (
            seq BIGSERIAL PRIMARY KEY,
            entry_id TEXT NOT NULL UNIQUE,
            dedup_key TEXT NOT NULL REFERENCES payloads (dedup_key),
            sink TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'leased', 'delivered', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            next_attempt_at TIMESTAMPTZ,
            lease_owner TEXT,
            lease_expires_at TIMESTAMPTZ,
            last_error TEXT,
            remote_id TEXT,
            legal_hold BOOLEAN NOT NULL DEFAULT FALSE,
            UNIQUE (dedup_key, sink)
        )
        """,
        "CREATE INDEX entries_due ON entries (sink, state, next_attempt_at)",
        "CREATE INDEX entries_lease ON entries (sink, state, lease_expires_at)",
        "CREATE INDEX entries_state_created ON entries (state, created_at)",
        "CREATE INDEX entries_state_updated ON entries (state, updated_at)",
        "CREATE INDEX entries_sink_seq ON entries (sink, seq)",
        "CREATE INDEX payloads_category ON payloads (category)",
    ),
    # 2: PHI-free search metadata in clear (fallback.search_meta) with the console's indexes; the
    # rows already there are backfilled once by decrypting them (PostgresSpool.open).
    (
        "ALTER TABLE payloads ADD COLUMN payer TEXT",
        """
        CREATE TABLE payload_codes (
            dedup_key TEXT NOT NULL REFERENCES payloads (dedup_key) ON DELETE CASCADE,
            term TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (dedup_key, term)
        )
        """,
        "CREATE INDEX payload_codes_term ON payload_codes (term, created_at)",
        "DROP INDEX payloads_category",
        "CREATE INDEX payloads_category_created ON payloads (category, created_at)",
        "CREATE INDEX payloads_payer_created ON payloads (payer, created_at)",
        'CREATE INDEX payloads_fingerprint ON payloads ((fingerprint COLLATE "C"))',
        "CREATE INDEX entries_created ON entries (created_at, seq)",
        "INSERT INTO spool_meta (key, value) VALUES ('search_backfill', 'pending')"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


async def migrate(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    """Bring the schema to `SCHEMA_VERSION` (one transaction, advisory-locked)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_ID,))
        await conn.execute(MIGRATIONS[0][0])
        cur = await conn.execute("SELECT value FROM spool_meta WHERE key = 'schema_version'")
        row = await cur.fetchone()
        version = int(str(row[0])) if row else 0
        if version > SCHEMA_VERSION:
            raise SpoolUnavailable(
                f"spool schema version {version} is newer than supported ({SCHEMA_VERSION})"
            )
        for step in MIGRATIONS[version:]:
            for statement in step:
                if statement is MIGRATIONS[0][0]:
                    continue
                await conn.execute(statement)
        await conn.execute(
            "INSERT INTO spool_meta (key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )


def translate_pg_error(exc: psycopg.Error) -> SpoolError:
    """A psycopg error as the spool error the caller should see (raise it ``from exc``).

    Data corruption reported by the server (SQLSTATE class XX: internal error, data corrupted,
    index corrupted) becomes `SpoolCorrupt`; disk_full (53100) becomes `SpoolFull`; everything else
    (connection lost, server shutting down, serialization failure, ...) becomes `SpoolUnavailable`.
    The message holds the class name and SQLSTATE only, never SQL text or values.
    """
    sqlstate = getattr(exc, "sqlstate", None) or ""
    name = type(exc).__name__
    if sqlstate in ("XX001", "XX002"):
        return SpoolCorrupt(f"spool database damaged ({name} {sqlstate})")
    if sqlstate == "53100":
        return SpoolFull(f"spool storage full ({name} {sqlstate})")
    return SpoolUnavailable(f"spool storage failed ({name} {sqlstate})".replace(" )", ")"))


__all__ = ["ADVISORY_LOCK_ID", "MIGRATIONS", "SCHEMA_VERSION", "migrate", "translate_pg_error"]
