"""Status callbacks from ticketing systems: authentication, replay protection and body shapes.

Authentication (per sink, `gateway.sync_settings.CallbackAuth`), both with a timestamp header that
must be within ``replay_window_seconds`` of now (Unix seconds, milliseconds, or ISO 8601):

- ``hmac``: the signature header is HMAC-SHA256(secret, timestamp-header-value + raw body), hex or
  base64 (a ``sha256=`` prefix is accepted). This is Zendesk's webhook signing scheme; Jira
  (webhook secret) and ServiceNow (a business rule's REST message) are configured to send it;
- ``token``: ``Authorization: Bearer <per-sink token>``.

Replay protection: the event id header (or, without one, a digest of the signature / of timestamp
and body) is a nonce, durably claimed in the ticket link store before the status is applied; a
second use is rejected (`CallbackReplayed`), as is a timestamp outside the window
(`CallbackRejected`), so a replay of an old, captured callback cannot move a ticket back.

Shapes (what `parse_events` reads; anything else in the body is ignored, never logged):

- ``jira``: ``{"webhookEvent": "jira:issue_updated", "issue": {"key", "fields": {"status":
  {"name", "statusCategory": {"key"}}}}}``: the status name is mapped first, then its category;
- ``servicenow``: ``{"sys_id", "state"}`` (state number or label), also inside ``"result"``;
- ``zendesk``: ``{"ticket": {"id", "status"}}`` or flat ``{"id"|"ticket_id", "status"}``;
- ``generic``: ``{"remote_id", "status"}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.auth.errors import CallbackRejected
from gateway.sync_settings import CallbackAuth


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """One status change read from a callback body: remote id and status candidates, best first."""

    remote_id: str
    statuses: tuple[str, ...]


def parse_timestamp(value: str) -> datetime:
    """A callback timestamp (Unix seconds or milliseconds, or ISO 8601) as an aware datetime."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise CallbackRejected("bad_timestamp") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if number > 1e11:
        number /= 1000.0
    return datetime.fromtimestamp(number, UTC)


def verify(
    auth: CallbackAuth,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    window: timedelta,
) -> str:
    """Check a callback's authenticity and freshness; returns its nonce (event id). Raises
    `CallbackRejected` with a reason code (``missing_timestamp``, ``stale``, ``bad_signature``,
    ``bad_token``) that is audited, never returned to the caller."""
    stamp = headers.get(auth.timestamp_header)
    if not stamp:
        raise CallbackRejected("missing_timestamp")
    when = parse_timestamp(stamp)
    if abs(now - when) > window:
        raise CallbackRejected("stale")
    if auth.type == "hmac":
        given = (headers.get(auth.signature_header) or "").strip().removeprefix("sha256=")
        digest = hmac.new(secret.encode("utf-8"), stamp.encode("utf-8") + body, hashlib.sha256).digest()
        if auth.encoding == "hex":
            ok = hmac.compare_digest(given.lower(), digest.hex())
        else:
            try:
                ok = hmac.compare_digest(base64.b64decode(given, validate=True), digest)
            except (binascii.Error, ValueError):
                ok = False
        if not given or not ok:
            raise CallbackRejected("bad_signature")
        fallback_nonce = "sig:" + hashlib.sha256(given.encode("utf-8")).hexdigest()
    else:
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), secret.encode()):
            raise CallbackRejected("bad_token")
        fallback_nonce = "body:" + hashlib.sha256(stamp.encode("utf-8") + b"." + body).hexdigest()
    event_id = (headers.get(auth.event_id_header) or "").strip()
    return ("id:" + event_id[:200]) if event_id else fallback_nonce


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:200] or None


def _inner(body: dict[str, Any], key: str) -> dict[str, Any]:
    inner = body.get(key)
    return inner if isinstance(inner, dict) else body


def parse_events(shape: str, body: Any) -> list[RemoteStatus]:
    """The status changes in a callback body of ``shape`` (see the module docstring); ``[]`` for
    an event that is not a status change (e.g. a Jira comment event)."""
    if not isinstance(body, dict):
        return []
    if shape == "jira":
        if body.get("webhookEvent") not in (None, "jira:issue_updated"):
            return []
        issue = _inner(body, "issue")
        status = _inner(_inner(issue, "fields"), "status")
        remote = _text(issue.get("key")) or _text(issue.get("id"))
        candidates = (_text(status.get("name")), _text(_inner(status, "statusCategory").get("key")))
    elif shape == "servicenow":
        record = _inner(body, "result")
        remote = _text(record.get("sys_id"))
        candidates = (_text(record.get("state")), _text(record.get("incident_state")))
    elif shape == "zendesk":
        record = _inner(body, "ticket")
        remote = _text(record.get("id")) or _text(record.get("ticket_id"))
        candidates = (_text(record.get("status")), None)
    else:
        remote = _text(body.get("remote_id"))
        candidates = (_text(body.get("status")), None)
    statuses = tuple(s for s in candidates if s)
    if remote is None or not statuses:
        return []
    return [RemoteStatus(remote, statuses)]


__all__ = ["RemoteStatus", "parse_events", "parse_timestamp", "verify"]
