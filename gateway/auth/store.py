"""The auth database (``$RCMGW_HOME/auth/auth.db``, SQLite, WAL, ``synchronous=FULL``).

Tables:
- ``principals``: every service client and person seen, with roles, scopes and last use (for the
  access review). Written when a token or session is accepted, at most once a minute each.
- ``sessions``: people's server-side sessions (the cookie holds only a random id; the row holds a
  SHA-256 of it, the CSRF token, the roles and scopes, and the sign-in and last-seen times).
- ``saml_requests``: AuthnRequest ids the gateway issued, consumed by the response answering them.
- ``saml_assertions``: ids of accepted assertions, kept until they expire (replay cache).
No PHI is stored here; user ids are workforce identities from the IdP.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS principals (
    kind TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    roles TEXT NOT NULL,
    scopes TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_used TEXT NOT NULL,
    PRIMARY KEY (kind, principal_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    roles TEXT NOT NULL,
    scopes TEXT NOT NULL,
    csrf TEXT NOT NULL,
    saml_session_index TEXT,
    created_at TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_subject ON sessions (subject);
CREATE TABLE IF NOT EXISTS saml_requests (
    request_id TEXT PRIMARY KEY,
    issued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS saml_assertions (
    assertion_id TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
"""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def id_hash(secret_id: str) -> str:
    """How a session id is stored: its SHA-256, so a copy of the database opens no session."""
    return hashlib.sha256(secret_id.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class PrincipalUse:
    """One row of the access review."""

    kind: str
    principal_id: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    first_seen: datetime | None
    last_used: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A stored session."""

    id_hash: str
    subject: str
    roles: frozenset[str]
    scopes: frozenset[str]
    csrf: str
    saml_session_index: str | None
    created_at: datetime
    last_seen: datetime


class AuthStore:
    """The auth database. Thread-safe; callers run it off the event loop (``asyncio.to_thread``)."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        """Create the database if needed."""
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def execute(self, sql: str, params: Iterable[object] = ()) -> list[tuple[object, ...]]:
        """Run one statement (autocommit) and return its rows."""
        with self._lock:
            if self._conn is None:
                self.open()
            assert self._conn is not None
            return self._conn.execute(sql, tuple(params)).fetchall()

    # --- principals -------------------------------------------------------------------------
    def record_use(self, kind: str, principal_id: str, roles: Iterable[str], scopes: Iterable[str]) -> None:
        """Note that ``principal_id`` was just accepted (creating its row on first use)."""
        now = _iso(self.clock())
        self.execute(
            "INSERT INTO principals (kind, principal_id, roles, scopes, first_seen, last_used)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, principal_id) DO UPDATE SET"
            " roles = excluded.roles, scopes = excluded.scopes, last_used = excluded.last_used",
            (kind, principal_id, json.dumps(sorted(roles)), json.dumps(sorted(scopes)), now, now),
        )

    def principals(self) -> list[PrincipalUse]:
        """Every principal seen, by kind and id."""
        rows = self.execute(
            "SELECT kind, principal_id, roles, scopes, first_seen, last_used FROM principals"
            " ORDER BY kind, principal_id"
        )
        return [
            PrincipalUse(
                str(r[0]),
                str(r[1]),
                tuple(json.loads(str(r[2]))),
                tuple(json.loads(str(r[3]))),
                datetime.fromisoformat(str(r[4])),
                datetime.fromisoformat(str(r[5])),
            )
            for r in rows
        ]

    # --- sessions ---------------------------------------------------------------------------
    def insert_session(self, row: SessionRow) -> None:
        """Store a new session."""
        self.execute(
            "INSERT INTO sessions (id_hash, subject, roles, scopes, csrf, saml_session_index,"
            " created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.id_hash,
                row.subject,
                json.dumps(sorted(row.roles)),
                json.dumps(sorted(row.scopes)),
                row.csrf,
                row.saml_session_index,
                _iso(row.created_at),
                _iso(row.last_seen),
            ),
        )

    def session(self, hashed: str) -> SessionRow | None:
        """The session with this id hash, if any."""
        rows = self.execute(
            "SELECT id_hash, subject, roles, scopes, csrf, saml_session_index, created_at, last_seen"
            " FROM sessions WHERE id_hash = ?",
            (hashed,),
        )
        if not rows:
            return None
        r = rows[0]
        return SessionRow(
            str(r[0]),
            str(r[1]),
            frozenset(json.loads(str(r[2]))),
            frozenset(json.loads(str(r[3]))),
            str(r[4]),
            None if r[5] is None else str(r[5]),
            datetime.fromisoformat(str(r[6])),
            datetime.fromisoformat(str(r[7])),
        )

    def touch_session(self, hashed: str, at: datetime) -> None:
        """Move a session's last-seen time."""
        self.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?", (_iso(at), hashed))

    def delete_session(self, hashed: str) -> None:
        """Remove one session."""
        self.execute("DELETE FROM sessions WHERE id_hash = ?", (hashed,))

    def delete_sessions_of(self, subject: str) -> int:
        """Remove every session of ``subject``; how many there were."""
        rows = self.execute("DELETE FROM sessions WHERE subject = ? RETURNING id_hash", (subject,))
        return len(rows)

    # --- SAML request ids and the assertion replay cache ------------------------------------
    def remember_request(self, request_id: str) -> None:
        """Note an AuthnRequest id the gateway issued."""
        self.execute(
            "INSERT OR REPLACE INTO saml_requests (request_id, issued_at) VALUES (?, ?)",
            (request_id, _iso(self.clock())),
        )

    def consume_request(self, request_id: str, max_age: timedelta) -> bool:
        """True (once) when ``request_id`` was issued by us within ``max_age``."""
        rows = self.execute(
            "DELETE FROM saml_requests WHERE request_id = ? RETURNING issued_at", (request_id,)
        )
        if not rows:
            return False
        return self.clock() - datetime.fromisoformat(str(rows[0][0])) <= max_age

    def remember_assertion(self, assertion_id: str, expires_at: datetime) -> bool:
        """Record an accepted assertion id until it expires; False when it was seen before."""
        now = _iso(self.clock())
        self.execute("DELETE FROM saml_assertions WHERE expires_at < ?", (now,))
        rows = self.execute(
            "INSERT INTO saml_assertions (assertion_id, expires_at) VALUES (?, ?)"
            " ON CONFLICT (assertion_id) DO NOTHING RETURNING assertion_id",
            (assertion_id, _iso(expires_at)),
        )
        return bool(rows)
