"""`RedminePoller` paging and cursor (respx double of Redmine's issues API): every page is read,
statuses go through `StatusSync`, and the newest ``updated_on`` becomes the saved cursor."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx

from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings
from gateway.sync_service import sync_service_of

REDMINE = "http://127.0.0.1:9"


def _ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def poll_settings(home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("T_REDMINE_KEY", "k")
    sink = {"name": "redmine", "kind": "redmine", "url": REDMINE, "api_key": "env:T_REDMINE_KEY",
            "project": "rcm", "external_id_field": 3}  # fmt: skip
    sync = {"enabled": True, "sinks": {"redmine": {"states": {"Waiting for payer": "acknowledged"}}}}
    return get_settings(home=home, delivery_enabled=False, sinks=[sink], sync=sync)


def test_pages_statuses_and_cursor(poll_settings: Settings) -> None:
    runtime = Runtime.build(poll_settings)
    service = sync_service_of(runtime)
    assert service is not None and len(service.pollers) == 1
    poller = service.pollers[0]
    issues = [
        {"id": 1, "status": {"id": 3, "name": "Resolved"}, "updated_on": _ago(30)},
        {"id": 2, "status": {"id": 9, "name": "Waiting for payer"}, "updated_on": _ago(20)},
        {"id": 3, "status": {"id": 8, "name": "Escalated to CFO"}, "updated_on": _ago(10)},
    ]
    seen_params: list[dict[str, str]] = []

    def page(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen_params.append(params)
        offset, limit = int(params["offset"]), 2
        return httpx.Response(
            200, json={"issues": issues[offset : offset + limit], "total_count": len(issues)}
        )

    async def main() -> None:
        runtime.audit.open()
        links = service.links
        now = datetime.now(UTC)
        for n in (1, 2):
            await links.record_delivery(
                "redmine",
                f"tkt_{n}",
                fingerprint=f"fp_{n}",
                remote_id=str(n),
                at=now,
                facts={"category": "c"},
            )
        with respx.mock() as mock:
            mock.get(f"{REDMINE}/issues.json").mock(side_effect=page)
            assert await poller.poll_once() == 3
        assert (await links.by_ticket("redmine", "tkt_1")).state == "resolved"  # type: ignore[union-attr]
        assert (await links.by_ticket("redmine", "tkt_2")).state == "acknowledged"  # type: ignore[union-attr]
        assert await links.cursor(poller.cursor_name) == issues[2]["updated_on"]
        await links.aclose()
        runtime.audit.close()

    asyncio.run(main())
    assert [p["offset"] for p in seen_params] == ["0", "2"]
    assert all(p["status_id"] == "*" and p["sort"] == "updated_on" for p in seen_params)
    assert seen_params[0]["updated_on"].startswith(">=")
    unmapped = runtime.audit.records(event="sync.status_unmapped")
    assert [r.details["remote_id"] for r in unmapped] == ["3"]
