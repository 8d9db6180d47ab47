"""GET /metrics: scoped, PHI-free, and counting what a run did."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from testkit import canary_event, find_canaries

from fallback.spool import LeasedEntry, RetryAt
from gateway.app import create_app
from gateway.metrics import GatewayMetrics
from gateway.metrics_settings import MetricsSettings
from gateway.runtime import Runtime
from gateway.settings import Settings


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _scrape(client: TestClient, headers: dict[str, str]) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_a_run_is_counted_and_the_scrape_holds_no_phi(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    reader = {"Authorization": f"Bearer {runtime.issuer.mint('prom', ['metrics:read'])}"}
    assert client.post("/v1/events", json=canary_event(), headers=writer_headers).status_code == 202
    assert client.post("/v1/events", json=canary_event(), headers=writer_headers).json()["duplicate"] is True
    assert client.post("/v1/events", json={"nothing": "useful"}, headers=writer_headers).status_code == 400
    deadline = time.monotonic() + 20
    while True:
        text = _scrape(client, reader)
        samples = _samples(text)
        if samples.get(("rcmgw_delivery_latency_seconds_count", (("sink", "file"),)), 0) >= 1:
            break
        assert time.monotonic() < deadline, "the file sink did not deliver"
        time.sleep(0.02)
    received = "rcmgw_records_received_total"
    assert samples[(received, (("result", "accepted"), ("source_format", "json-event")))] == 1
    assert samples[(received, (("result", "duplicate"), ("source_format", "json-event")))] == 1
    assert samples[(received, (("result", "rejected"), ("source_format", "json-event")))] == 1
    redactions = {labels: v for (name, labels), v in samples.items() if name == "rcmgw_redactions_total"}
    assert redactions and sum(redactions.values()) >= 1
    assert samples[("rcmgw_spool_entries", (("sink", "file"), ("state", "delivered")))] == 1
    assert samples[("rcmgw_spool_entries", (("sink", "file"), ("state", "pending")))] == 0
    assert samples[("rcmgw_spool_oldest_age_seconds", (("sink", "file"), ("state", "pending")))] == 0
    assert samples[("rcmgw_delivery_latency_seconds_bucket", (("le", "+Inf"), ("sink", "file")))] == 1
    assert find_canaries(text) == []


def test_metrics_needs_a_token_with_the_scope(client: TestClient, runtime: Runtime) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = {"Authorization": f"Bearer {runtime.issuer.mint('r', ['tickets:read'])}"}
    assert client.get("/metrics", headers=wrong).status_code == 403


def test_listed_networks_may_scrape_without_a_token(settings: Settings) -> None:
    # TestClient's peer address is "testclient" (not an IP): it never matches a network.
    assert not MetricsSettings(unauthenticated_networks=["0.0.0.0/0"]).allows("testclient")
    allowed = MetricsSettings(unauthenticated_networks=["127.0.0.1/32", "::1"])
    assert allowed.allows("127.0.0.1") and allowed.allows("::1")
    assert not allowed.allows("10.0.0.1") and not MetricsSettings().allows("127.0.0.1")
    with pytest.raises(ValueError):
        MetricsSettings(unauthenticated_networks=["not-a-network"])


@pytest.fixture
def open_client(settings: Settings) -> Iterator[TestClient]:
    opened = settings.model_copy(
        update={
            "metrics": MetricsSettings(unauthenticated_networks=["127.0.0.0/8"]),
            "delivery_enabled": False,
        }
    )
    app = create_app(opened, Runtime.build(opened))
    with TestClient(app, client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def test_a_listed_address_scrapes_without_a_token(open_client: TestClient) -> None:
    assert open_client.get("/metrics").status_code == 200


def test_labels_stay_in_fixed_sets() -> None:
    metrics = GatewayMetrics()
    metrics.sink_names = ("file",)
    metrics.record("patient Jane Doe", "weird")
    metrics.acked(["AA", "ZZ"], 0.01)
    entry = LeasedEntry.__new__(LeasedEntry)
    object.__setattr__(entry, "sink", "unknown-sink")
    metrics.settled(entry, RetryAt(when=None, reason="x"))  # type: ignore[arg-type]
    samples = _samples(metrics.exposition().decode())
    assert samples[("rcmgw_records_received_total", (("result", "other"), ("source_format", "other")))] == 1
    assert samples[("rcmgw_mllp_acks_total", (("code", "AA"),))] == 1
    assert samples[("rcmgw_mllp_acks_total", (("code", "other"),))] == 1
    assert samples[("rcmgw_mllp_ack_latency_seconds_count", ())] == 1
    assert samples[("rcmgw_delivery_retries_total", (("sink", "other"),))] == 1
