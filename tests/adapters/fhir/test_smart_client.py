"""SMART Backend Services tokens and guarded FHIR GETs, against realistic respx answers."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
import respx
from fhirkit import (
    CERNER_BASE,
    CERNER_TOKEN,
    EPIC_BASE,
    EPIC_TOKEN,
    cerner_instance,
    epic_instance,
    searchset,
)

from adapters.fhir.client import FhirClient
from adapters.fhir.errors import (
    CircuitOpen,
    TokenRefreshTooSoon,
    TokenRequestFailed,
    UpstreamBadResponse,
    UpstreamOperationFailed,
    UpstreamThrottled,
    UpstreamUnreachable,
)
from adapters.fhir.protection import CircuitBreaker, RequestBudget, RequestGuard
from adapters.fhir.signing_keys import KeyRing
from adapters.fhir.smart import SmartTokenSource

pytestmark = pytest.mark.anyio
TOKEN_OK = {"access_token": "at-1", "token_type": "bearer", "expires_in": 3600, "scope": "system/*.read"}


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys")


def _guard(failures: int = 5) -> RequestGuard:
    return RequestGuard(RequestBudget(3600), CircuitBreaker(failures, 300), 2)


@respx.mock
async def test_token_is_cached_until_shortly_before_expiry(ring: KeyRing) -> None:
    clock = [0.0]
    route = respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    tokens = SmartTokenSource(epic_instance(), ring, clock=lambda: clock[0])
    assert await tokens.access_token() == "at-1"
    clock[0] = 3500.0
    await tokens.access_token()
    assert route.call_count == 1
    clock[0] = 3545.0  # inside the 60 s margin before expires_in
    await tokens.access_token()
    assert route.call_count == 2


@respx.mock
async def test_invalid_client_is_reported_with_its_oauth_code(ring: KeyRing) -> None:
    respx.post(EPIC_TOKEN).mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_client", "error_description": "The client_assertion is invalid."}
        )
    )
    with pytest.raises(TokenRequestFailed) as caught:
        await SmartTokenSource(epic_instance(), ring).access_token()
    assert caught.value.oauth_error == "invalid_client"
    assert "client_assertion is invalid" not in str(caught.value)  # remote text is never quoted


@respx.mock
async def test_token_endpoint_throttling_carries_retry_after(ring: KeyRing) -> None:
    respx.post(EPIC_TOKEN).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "42"}, text="slow down")
    )
    with pytest.raises(UpstreamThrottled) as caught:
        await SmartTokenSource(epic_instance(), ring).access_token()
    assert caught.value.retry_after == 42


@respx.mock
async def test_token_endpoint_html_error_page_is_a_bad_response(ring: KeyRing) -> None:
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, html="<html>maintenance</html>"))
    with pytest.raises((UpstreamBadResponse, TokenRequestFailed)):
        await SmartTokenSource(epic_instance(), ring).access_token()


@respx.mock
async def test_cerner_discovers_its_token_endpoint_and_uses_basic_auth() -> None:
    discovery = respx.get(f"{CERNER_BASE}/.well-known/smart-configuration").mock(
        return_value=httpx.Response(
            200, json={"token_endpoint": CERNER_TOKEN, "capabilities": ["client-confidential-symmetric"]}
        )
    )
    token = respx.post(CERNER_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    tokens = SmartTokenSource(cerner_instance(), None, environ={"CERNER_SECRET": "s3cret"})
    assert await tokens.access_token() == "at-1"
    assert discovery.call_count == 1
    sent = token.calls[0].request
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"system-account-1:s3cret").decode()
    assert b"client_assertion" not in sent.content


@respx.mock
async def test_no_token_refresh_more_often_than_once_a_minute(ring: KeyRing) -> None:
    clock = [0.0]
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json={**TOKEN_OK, "expires_in": 30}))
    tokens = SmartTokenSource(epic_instance(), ring, clock=lambda: clock[0], min_refresh_seconds=60)
    await tokens.access_token()
    clock[0] = 40.0  # the 30 s token is stale, but the last request was 40 s ago
    with pytest.raises(TokenRefreshTooSoon) as caught:
        await tokens.access_token()
    assert caught.value.retry_after == pytest.approx(20.0)
    clock[0] = 61.0
    assert await tokens.access_token() == "at-1"


@respx.mock
async def test_a_401_triggers_exactly_one_reauthentication(ring: KeyRing) -> None:
    clock = [0.0]
    token = respx.post(EPIC_TOKEN).mock(
        side_effect=[
            httpx.Response(200, json={**TOKEN_OK, "access_token": "revoked"}),
            httpx.Response(200, json={**TOKEN_OK, "access_token": "fresh"}),
        ]
    )
    search = respx.get(f"{EPIC_BASE}/ClaimResponse").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=searchset([]))]
    )
    tokens = SmartTokenSource(epic_instance(), ring, clock=lambda: clock[0], min_refresh_seconds=0)
    client = FhirClient(epic_instance(), tokens, _guard())
    assert (await client.get_json("ClaimResponse"))["resourceType"] == "Bundle"
    assert token.call_count == 2
    assert search.calls[1].request.headers["authorization"] == "Bearer fresh"
    await client.aclose()


@respx.mock
async def test_a_second_401_is_not_retried_again(ring: KeyRing) -> None:
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    search = respx.get(f"{EPIC_BASE}/ClaimResponse").mock(return_value=httpx.Response(401))
    client = FhirClient(
        epic_instance(), SmartTokenSource(epic_instance(), ring, min_refresh_seconds=0), _guard()
    )
    with pytest.raises(TokenRequestFailed):
        await client.get_json("ClaimResponse")
    assert search.call_count == 2
    await client.aclose()


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(429, headers={"Retry-After": "120"}), UpstreamThrottled),
        (httpx.Response(503, headers={"Retry-After": "30"}), UpstreamThrottled),
        (httpx.Response(502, text="bad gateway"), UpstreamUnreachable),
        (httpx.Response(200, html="<html><body>Epic Interconnect error</body></html>"), UpstreamBadResponse),
        (
            httpx.Response(
                200,
                content=b'{"resourceType": "Bundle", "entry": [',
                headers={"content-type": "application/fhir+json"},
            ),
            UpstreamBadResponse,
        ),
        (
            httpx.Response(
                200,
                json={
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "processing"}],
                },
            ),
            UpstreamOperationFailed,
        ),
        (
            httpx.Response(
                400,
                json={
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "fatal", "code": "invalid"}],
                },
            ),
            UpstreamOperationFailed,
        ),
    ],
    ids=["429", "503", "502", "html", "truncated-json", "200-outcome-error", "400-outcome"],
)
@respx.mock
async def test_unusable_answers_become_specific_errors(
    ring: KeyRing, response: httpx.Response, error: type[Exception]
) -> None:
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    respx.get(f"{EPIC_BASE}/ClaimResponse").mock(return_value=response)
    client = FhirClient(epic_instance(), SmartTokenSource(epic_instance(), ring), _guard())
    with pytest.raises(error) as caught:
        await client.get_json("ClaimResponse")
    if "Retry-After" in response.headers:
        assert caught.value.retry_after == float(response.headers["Retry-After"])  # type: ignore[attr-defined]
    await client.aclose()


@respx.mock
async def test_the_breaker_opens_and_stops_sending(ring: KeyRing) -> None:
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    search = respx.get(f"{EPIC_BASE}/ClaimResponse").mock(return_value=httpx.Response(500))
    client = FhirClient(epic_instance(), SmartTokenSource(epic_instance(), ring), _guard(failures=3))
    for _ in range(3):
        with pytest.raises(UpstreamUnreachable):
            await client.get_json("ClaimResponse")
    with pytest.raises(CircuitOpen):
        await client.get_json("ClaimResponse")
    assert search.call_count == 3
    await client.aclose()
