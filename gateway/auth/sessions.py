"""People's sessions: server side, with HIPAA automatic logoff.

The cookie (`SESSION_COOKIE`: ``Secure; HttpOnly; SameSite=Strict; Path=/``) carries only a random
256-bit id; the database keeps its SHA-256. A session ends after ``idle`` without a request and
``absolute`` after sign-in whatever happens (defaults 15 minutes and 12 hours). Signing out ends
every session of that user ("logout everywhere"). Each session has a CSRF token; state-changing
requests made with the cookie must echo it in the ``X-CSRF-Token`` header.

The clock is injectable so the timeouts are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from gateway.auth.errors import AuthenticationFailed, SessionExpired
from gateway.auth.store import AuthStore, SessionRow, id_hash

SESSION_COOKIE = "__Host-rcmgw_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class NewSession:
    """What sign-in hands out: the cookie value and the CSRF token (both secrets)."""

    session_id: str
    csrf_token: str
    row: SessionRow


class SessionManager:
    """Creates, checks and ends sessions."""

    def __init__(self, store: AuthStore, *, idle: timedelta, absolute: timedelta) -> None:
        self.store = store
        self.idle = idle
        self.absolute = absolute

    def cookie_header(self, session_id: str) -> str:
        """The ``Set-Cookie`` value for a new session."""
        return f"{SESSION_COOKIE}={session_id}; Path=/; Secure; HttpOnly; SameSite=Strict"

    @staticmethod
    def clearing_cookie_header() -> str:
        """The ``Set-Cookie`` value that removes the cookie."""
        return f"{SESSION_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"

    def create(
        self, subject: str, roles: Iterable[str], scopes: Iterable[str], *, saml_session_index: str | None
    ) -> NewSession:
        """Start a session for ``subject``."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.store.clock()
        row = SessionRow(
            id_hash(session_id),
            subject,
            frozenset(roles),
            frozenset(scopes),
            csrf,
            saml_session_index,
            now,
            now,
        )
        self.store.insert_session(row)
        return NewSession(session_id, csrf, row)

    def resolve(self, session_id: str) -> SessionRow:
        """The live session for a cookie value, its idle clock restarted; `AuthenticationFailed`
        (``no_session``) or `SessionExpired` (``idle_timeout`` / ``absolute_timeout``)."""
        if not session_id or len(session_id) > 100:
            raise AuthenticationFailed("no_session")
        hashed = id_hash(session_id)
        row = self.store.session(hashed)
        if row is None:
            raise AuthenticationFailed("no_session")
        now = self.store.clock()
        reason = None
        if now - row.created_at >= self.absolute:
            reason = "absolute_timeout"
        elif now - row.last_seen >= self.idle:
            reason = "idle_timeout"
        if reason is not None:
            self.store.delete_session(hashed)
            raise SessionExpired(reason, row.subject)
        self.store.touch_session(hashed, now)
        return row

    async def aresolve(self, session_id: str) -> SessionRow:
        """`resolve` off the event loop."""
        return await asyncio.to_thread(self.resolve, session_id)

    @staticmethod
    def csrf_ok(row: SessionRow, presented: str | None) -> bool:
        """Whether ``presented`` is the session's CSRF token."""
        return presented is not None and hmac.compare_digest(row.csrf.encode(), presented.encode())

    def end_everywhere(self, subject: str) -> int:
        """End every session of ``subject``; how many ended."""
        return self.store.delete_sessions_of(subject)
