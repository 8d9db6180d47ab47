"""HTTP for sinks: one place that turns responses and transport failures into delivery errors.

Status classes (what the worker then does):

* 2xx: delivered.
* 408, 409, 425, 429 and 5xx: `TransientDeliveryError`, with the remote's ``Retry-After`` (seconds or
  an HTTP date) as the floor of the next attempt.
* 410: `SinkGone`: the sink is disabled until an operator re-enables it.
* any other 3xx/4xx: `PermanentDeliveryError`, dead-lettered at once with ``http_<status>``.

Transport failures: a refused or failed *connection* (the request never left) is retried in the
call with tenacity (a few quick tries); everything else (timeouts, a connection dropped mid-way)
becomes a `TransientDeliveryError` and the spool schedules the retry. Remote URLs must be https;
plain http is allowed for loopback only (tests, a local relay). Messages carry the sink name, the
status and exception class names only: never the remote's body (it can echo PHI back).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from fallback.errors import PermanentDeliveryError, SinkGone, TransientDeliveryError

TRANSIENT_4XX: Final = frozenset({408, 409, 425, 429})
CONNECT_TRIES: Final = 3


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (>= 0): delta-seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def check_response(sink: str, response: httpx.Response) -> None:
    """Raise the delivery error ``response``'s status calls for (see the module docstring)."""
    check_status(sink, response.status_code, response.headers.get("retry-after"))


def check_status(sink: str, status: int, retry_after: str | None) -> None:
    """`check_response` for a bare status and ``Retry-After`` value (the lean webhook client)."""
    if 200 <= status < 300:
        return
    error: TransientDeliveryError | PermanentDeliveryError
    if status in TRANSIENT_4XX or status >= 500:
        error = TransientDeliveryError(
            f"{sink}: remote answered {status}",
            retry_after=parse_retry_after(retry_after),
        )
    elif status == 410:
        error = SinkGone(f"{sink}: remote answered 410 Gone; sink disabled")
    else:
        error = PermanentDeliveryError(f"{sink}: remote answered {status}")
    error.status = status
    raise error


def require_safe_url(sink: str, url: str) -> str:
    """``url`` unchanged if it is https, or http to a loopback host; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        return url
    raise ValueError(f"sink {sink!r}: remote URLs must use https (plain http only for loopback)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def send(sink: str, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request with in-call retries of connection failures; any other transport error becomes
    `TransientDeliveryError`. The status is NOT checked here (see `check_response`)."""
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((httpx.ConnectError, httpx.ConnectTimeout)),
            stop=stop_after_attempt(CONNECT_TRIES),
            wait=wait_exponential(multiplier=0.05, max=0.5),
            reraise=True,
        ):
            with attempt:
                return await client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"{sink}: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise TransientDeliveryError(f"{sink}: {type(exc).__name__}") from None
    raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying returns or raises


async def call(sink: str, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """`send` then `check_response`: returns only 2xx responses."""
    response = await send(sink, client, method, url, **kwargs)
    check_response(sink, response)
    return response


__all__ = [
    "CONNECT_TRIES",
    "TRANSIENT_4XX",
    "call",
    "check_response",
    "check_status",
    "parse_retry_after",
    "require_safe_url",
    "send",
]
