"""`CursorStore`: the ``_lastUpdated`` high-water mark of every (instance, search), in SQLite.

A cursor moves only through `CursorStore.commit`, which the poller calls after every record of a
batch has been acknowledged (its ticket durably spooled or its input quarantined). Writes are
committed with ``synchronous = FULL``; a crash before the commit means the batch is read again,
and the spool's dedup key makes the repeat harmless.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fhir_cursor (
    instance   TEXT NOT NULL,
    search     TEXT NOT NULL,
    high_water TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (instance, search)
)
"""


class CursorStore:
    """High-water marks in ``path`` (created with its directory on first use)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(_SCHEMA)

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    def get(self, instance: str, search: str) -> datetime | None:
        """The committed high-water mark, or None before the first committed batch."""
        row = self._db.execute(
            "SELECT high_water FROM fhir_cursor WHERE instance = ? AND search = ?", (instance, search)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def commit(self, instance: str, search: str, high_water: datetime) -> None:
        """Store ``high_water`` durably; never moves a cursor backwards."""
        current = self.get(instance, search)
        if current is not None and high_water <= current:
            return
        self._db.execute(
            "INSERT INTO fhir_cursor (instance, search, high_water, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (instance, search) DO UPDATE SET high_water = excluded.high_water, "
            "updated_at = excluded.updated_at",
            (instance, search, high_water.astimezone(UTC).isoformat(), datetime.now(UTC).isoformat()),
        )

    def all(self) -> dict[tuple[str, str], datetime]:
        """Every cursor, for operators and tests."""
        rows = self._db.execute("SELECT instance, search, high_water FROM fhir_cursor").fetchall()
        return {(row[0], row[1]): datetime.fromisoformat(row[2]) for row in rows}

    def close(self) -> None:
        """Close the database."""
        self._db.close()
