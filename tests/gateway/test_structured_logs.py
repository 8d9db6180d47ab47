"""Structured logs (issue 10 item 5): JSON lines carrying the request id of the HTTP request they
were written for and the input's control ids, never payloads."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from testkit import canary_event, find_canaries


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(line) for line in caplog.text.splitlines() if line.startswith("{")]


def test_records_of_a_request_carry_its_id_and_control_ids_never_payloads(
    client: TestClient, writer_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    response = client.post("/v1/events", json=canary_event("log-0001"), headers=writer_headers)
    assert response.status_code == 202, response.text
    request_id = response.headers["X-Request-ID"]
    lines = _lines(caplog)
    spooled = [line for line in lines if line["event"] == "ticket spooled"]
    assert spooled, "the pipeline logs each spooled ticket"
    assert all(line["request_id"] == request_id for line in spooled)
    assert spooled[0]["control_ids"] == {"event_id": "log-0001"}
    access = [line for line in lines if line["event"] == "request" and line.get("route") == "/v1/events"]
    assert access and access[0]["request_id"] == request_id
    assert not find_canaries(caplog.text)


def test_rejected_input_logs_its_request_id_never_the_body(
    client: TestClient, writer_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    event = canary_event("log-0002")
    event["origin"] = "not-an-origin"  # the adapter rejects it: quarantined, 400
    response = client.post("/v1/events", json=event, headers=writer_headers)
    assert response.status_code == 400, response.text
    request_id = response.headers["X-Request-ID"]
    lines = _lines(caplog)
    (rejected,) = [line for line in lines if line["event"] == "event rejected"]
    assert rejected["request_id"] == request_id
    assert all(line.get("request_id") in {None, request_id} for line in lines)
    assert not find_canaries(caplog.text)


def test_records_outside_requests_have_no_request_id(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.clear()
    logging.getLogger("rcmgw.test").info("outside", extra={"ticket_id": "tkt_x"})
    (line,) = [line for line in _lines(caplog) if line["event"] == "outside"]
    assert "request_id" not in line
