"""An in-process gateway (TestClient runs the app's lifespan) for API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pgserver import postgres  # noqa: F401 - the session's PostgreSQL, for the PostgreSQL audit log

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    return Runtime.build(settings)


@pytest.fixture
def client(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def writer_headers(runtime: Runtime) -> dict[str, str]:
    return {"Authorization": f"Bearer {runtime.issuer.mint('writer', ['events:write'])}"}
