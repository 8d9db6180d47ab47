"""The SQLite spool's schema, its migrations, and how times are stored.

The schema version lives in ``PRAGMA user_version``; `migrate` applies the missing steps inside one
``BEGIN IMMEDIATE`` transaction, so two processes opening the same new file cannot both migrate it.
A file with a newer version than this code knows is refused rather than guessed at.

Times are stored as integer microseconds since the Unix epoch in UTC, so comparisons in SQL are
exact and independent of the offset the clock happened to return.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Final

from fallback.errors import SpoolUnavailable

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Every step is a tuple of single statements: sqlite3's executescript() would COMMIT our transaction.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE spool_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE payloads (
            dedup_key TEXT PRIMARY KEY,
            ticket_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            key_id TEXT NOT NULL,
            blob BLOB NOT NULL,
            created_at INTEGER NOT NULL
        )
        """,
        """
        CREATE TABLE entries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            entry_id TEXT NOT NULL UNIQUE,
            dedup_key TEXT NOT NULL REFERENCES payloads (dedup_key),
            sink TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'leased', 'delivered', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            next_attempt_at INTEGER,
            lease_owner TEXT,
            lease_expires_at INTEGER,
            last_error TEXT,
            remote_id TEXT,
            UNIQUE (dedup_key, sink)
        )
        """,
        "CREATE INDEX entries_due ON entries (sink, state, next_attempt_at)",
        "CREATE INDEX entries_lease ON entries (sink, state, lease_expires_at)",
        "CREATE INDEX entries_state_created ON entries (state, created_at)",
    ),
    # 2: operator queries (category filter, retention by updated_at), legal hold, pull cursor.
    (
        "ALTER TABLE payloads ADD COLUMN category TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE entries ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX entries_sink_seq ON entries (sink, seq)",
        "CREATE INDEX entries_state_updated ON entries (state, updated_at)",
        "CREATE INDEX payloads_category ON payloads (category)",
    ),
    # 3: lease in (created_at, seq) order straight from an index (no sort of every due entry);
    # next_attempt_at rides along so not-yet-due entries are skipped without reading their rows.
    ("CREATE INDEX entries_lease_order ON entries (sink, state, created_at, seq, next_attempt_at)",),
    # 4: PHI-free search metadata in clear (fallback.search_meta) with the console's indexes; the
    # rows already there are backfilled once by decrypting them (fallback.sqlite_search.backfill).
    (
        "ALTER TABLE payloads ADD COLUMN payer TEXT",
        """
        CREATE TABLE payload_codes (
            dedup_key TEXT NOT NULL REFERENCES payloads (dedup_key) ON DELETE CASCADE,
            term TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (dedup_key, term)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX payload_codes_term ON payload_codes (term, created_at)",
        "DROP INDEX payloads_category",
        "CREATE INDEX payloads_category_created ON payloads (category, created_at)",
        "CREATE INDEX payloads_payer_created ON payloads (payer, created_at)",
        "CREATE INDEX payloads_fingerprint ON payloads (fingerprint)",
        "CREATE INDEX entries_created ON entries (created_at, seq)",
        "INSERT OR REPLACE INTO spool_meta (key, value) VALUES ('search_backfill', 'pending')",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on an autocommit connection; rolls back on any error,
    including a failed COMMIT. Takes the write lock up front so readers never need upgrading."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):  # the original error is the one worth raising
                conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to `SCHEMA_VERSION`. Raises `SpoolUnavailable` for a newer file."""
    with write_transaction(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise SpoolUnavailable(
                f"spool schema version {version} is newer than supported ({SCHEMA_VERSION})"
            )
        for step in MIGRATIONS[version:]:
            for statement in step:
                conn.execute(statement)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")


def to_micros(value: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch."""
    return (value - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    """Inverse of `to_micros`, in UTC."""
    return _EPOCH + timedelta(microseconds=value)


def optional_from_micros(value: int | None) -> datetime | None:
    """`from_micros` that passes None through."""
    return None if value is None else from_micros(value)


__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "from_micros",
    "migrate",
    "optional_from_micros",
    "to_micros",
    "write_transaction",
]
