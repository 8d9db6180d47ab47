"""schemathesis against the gateway's own OpenAPI spec, in process (ASGI), with a valid token
holding every scope: no route answers 5xx, and every answer conforms to the spec (status code
documented, content type, body schema). The regular suite runs a few examples per operation;
`make fuzz` sets ``RCMGW_FUZZ_EXAMPLES`` (docs/fuzzing.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import create_app
from gateway.auth.scopes import Scope
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings

EXAMPLES = int(os.environ.get("RCMGW_FUZZ_EXAMPLES", "0")) // 20 or 4
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, str]]:
    """The app with its lifespan running (stores opened, services started), and a token with
    every scope. Requests go through this client, in this test's event loop."""
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
        yield client, runtime.issuer.mint("fuzz", [scope.value for scope in Scope])


def _spec() -> dict[str, object]:
    """The app's OpenAPI document (the app does not serve it: /openapi.json would be an open route)."""
    home = Path(tempfile.mkdtemp(prefix="rcmgw-openapi-"))
    try:
        return create_app(get_settings(home=home)).openapi()
    finally:
        shutil.rmtree(home, ignore_errors=True)


@schemathesis.serializer("application/edi-x12")
def _raw_text(ctx: object, value: object) -> bytes:
    """X12 bodies: the generated value as bytes (schemathesis has no serializer for this type)."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


schema = schemathesis.openapi.from_dict(_spec())


def send(client: TestClient, case: schemathesis.Case, token: str) -> httpx.Response:
    """``case`` sent through ``client`` (requests-style keyword arguments mapped to httpx)."""
    kwargs = case.as_transport_kwargs(
        base_url=str(client.base_url), headers={"Authorization": f"Bearer {token}"}
    )
    data = kwargs.pop("data", None)
    if data is not None:
        kwargs["content" if isinstance(data, bytes | str) else "data"] = data
    for unsupported in ("allow_redirects", "verify", "timeout"):
        kwargs.pop(unsupported, None)
    return client.request(**kwargs)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=os.environ.get("RCMGW_FUZZ_EXAMPLES") is None,
)
def test_no_5xx_and_answers_match_the_spec(case: schemathesis.Case, api: tuple[TestClient, str]) -> None:
    client, token = api
    case.validate_response(send(client, case, token), checks=CHECKS)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # schemathesis found: timedelta(days=1.79e308) overflowed into a 500
        ("POST", "/v1/spool/purge", {"older_than_days": 1.7910283724499817e308}),
    ],
)
def test_found_by_schemathesis_now_a_client_error(
    api: tuple[TestClient, str], method: str, path: str, body: dict[str, object]
) -> None:
    client, token = api
    answer = client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
