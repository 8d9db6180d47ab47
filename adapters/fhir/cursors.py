"""`CursorStore`: the ``_lastUpdated`` high-water mark of every (instance, search), in SQLite,
and the upstream-outage state of every instance (`OutageState`), so that a restart during an
outage neither restarts its clock nor raises a second "down" ticket.

A cursor moves only through `CursorStore.commit`, which the poller calls after every record of a
batch has been acknowledged (its ticket durably spooled or its input quarantined). Writes are
committed with ``synchronous = FULL``; a crash before the commit means the batch is read again,
and the spool's dedup key makes the repeat harmless.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fhir_cursor (
    instance   TEXT NOT NULL,
    search     TEXT NOT NULL,
    high_water TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (instance, search)
);
CREATE TABLE IF NOT EXISTS fhir_outage (
    instance   TEXT PRIMARY KEY,
    since      TEXT NOT NULL,
    reported   INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class OutageState:
    """A failure streak of one instance: since when, whether its "down" record was committed,
    and the last error code (a code, never a response body)."""

    since: datetime
    reported: bool
    last_error: str


class CursorStore:
    """High-water marks in ``path`` (created with its directory on first use)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(_SCHEMA)

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

    def outage(self, instance: str) -> OutageState | None:
        """The stored failure streak of ``instance``, or None when it is healthy."""
        row = self._db.execute(
            "SELECT since, reported, last_error FROM fhir_outage WHERE instance = ?", (instance,)
        ).fetchone()
        return OutageState(datetime.fromisoformat(row[0]), bool(row[1]), str(row[2])) if row else None

    def save_outage(self, instance: str, state: OutageState) -> None:
        """Store the failure streak of ``instance`` durably."""
        self._db.execute(
            "INSERT INTO fhir_outage (instance, since, reported, last_error, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (instance) DO UPDATE SET since = excluded.since, "
            "reported = excluded.reported, last_error = excluded.last_error, "
            "updated_at = excluded.updated_at",
            (
                instance,
                state.since.astimezone(UTC).isoformat(),
                int(state.reported),
                state.last_error,
                datetime.now(UTC).isoformat(),
            ),
        )

    def clear_outage(self, instance: str) -> None:
        """Forget the failure streak of ``instance`` (it recovered)."""
        self._db.execute("DELETE FROM fhir_outage WHERE instance = ?", (instance,))

    def close(self) -> None:
        """Close the database."""
        self._db.close()
