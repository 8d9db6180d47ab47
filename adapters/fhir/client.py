"""`FhirClient`: authenticated, guarded GETs against one FHIR R4 server.

Every answer is checked before anyone trusts it: a 2xx must be FHIR JSON (not an HTML error page,
not truncated); an OperationOutcome with an error or fatal issue is a failure even inside a 200;
429 and 503 become `UpstreamThrottled` with the server's ``Retry-After``; a 401 triggers one
re-authentication and one retry. Failures are reported to the instance's circuit breaker.
Nothing from a response body is logged or put in an exception message.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from adapters.fhir.config import FhirInstance
from adapters.fhir.errors import (
    BudgetExhausted,
    CircuitOpen,
    TokenRequestFailed,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamOperationFailed,
    UpstreamThrottled,
    UpstreamUnreachable,
)
from adapters.fhir.protection import RequestGuard
from adapters.fhir.retry_after import parse_retry_after
from adapters.fhir.smart import SmartTokenSource

log = logging.getLogger("rcmgw.fhir.client")
FHIR_JSON = "application/fhir+json"
FAILING_SEVERITIES = frozenset({"error", "fatal"})


def outcome_failed(resource: dict[str, Any]) -> bool:
    """Whether ``resource`` is an OperationOutcome reporting an error or fatal issue."""
    if resource.get("resourceType") != "OperationOutcome":
        return False
    issues = resource.get("issue")
    return isinstance(issues, list) and any(
        isinstance(issue, dict) and issue.get("severity") in FAILING_SEVERITIES for issue in issues
    )


class FhirClient:
    """GETs JSON resources from ``instance.base_url`` with a SMART token, through ``guard``."""

    def __init__(
        self,
        instance: FhirInstance,
        tokens: SmartTokenSource,
        guard: RequestGuard,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._instance = instance
        self._tokens = tokens
        self._guard = guard
        self._http = httpx.AsyncClient(
            transport=transport, timeout=instance.timeout_seconds, follow_redirects=False
        )
        self.requests = 0

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    def url(self, path_or_url: str) -> str:
        """An absolute URL: ``path_or_url`` as is when absolute, else joined to the base URL."""
        if path_or_url.startswith(("https://", "http://")):
            return path_or_url
        return self._instance.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")

    async def get_json(self, path_or_url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """The JSON resource at ``path_or_url``; raises an `UpstreamError` subclass on any failure."""
        try:
            result = await self._get_once(path_or_url, params)
        except (CircuitOpen, BudgetExhausted):
            raise
        except UpstreamError:
            self._guard.failure()
            raise
        self._guard.success()
        return result

    async def _get_once(self, path_or_url: str, params: dict[str, str] | None) -> dict[str, Any]:
        url = self.url(path_or_url)
        token = await self._tokens.access_token()
        response = await self._send(url, params, token)
        if response.status_code == 401:
            log.info("upstream 401; re-authenticating once", extra={"instance": self._instance.name})
            token = await self._tokens.reauthenticate(token)
            response = await self._send(url, params, token)
            if response.status_code == 401:
                raise TokenRequestFailed("the FHIR server rejected a fresh token (401)", status=401)
        return self._check(response)

    async def _send(self, url: str, params: dict[str, str] | None, token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}
        async with self._guard.slot():
            self.requests += 1
            try:
                return await self._http.get(url, params=params, headers=headers)
            except httpx.TimeoutException:
                raise UpstreamUnreachable("request timed out") from None
            except httpx.HTTPError as error:
                raise UpstreamUnreachable(f"request failed ({type(error).__name__})") from None

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status in (429, 503):
            raise UpstreamThrottled(
                f"upstream answered {status}",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                status=status,
            )
        if status >= 500:
            raise UpstreamUnreachable(f"upstream answered {status}", status=status)
        body = self._json(response)
        if status >= 400 or outcome_failed(body):
            raise UpstreamOperationFailed(f"upstream answered {status} with an error outcome", status=status)
        if not 200 <= status < 300:
            raise UpstreamBadResponse(f"unexpected status {status}", status=status)
        return body

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and "json" not in content_type:
            if status >= 400:
                raise UpstreamOperationFailed(f"upstream answered {status} ({content_type})", status=status)
            raise UpstreamBadResponse(f"answer is {content_type}, not FHIR JSON", status=status)
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise UpstreamBadResponse("answer is not valid JSON (truncated?)", status=status) from None
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise UpstreamBadResponse("answer is not a FHIR resource", status=status)
        return body
