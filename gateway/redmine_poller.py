"""`RedminePoller`: Redmine has no webhooks, so status comes back by polling its REST API.

Each round asks ``GET /issues.json?project_id=P&status_id=*&updated_on=>=CURSOR&sort=updated_on``
(paged by ``offset``), hands every issue's status name to `gateway.sync_status.StatusSync.apply`
and saves the newest ``updated_on`` seen as the cursor (in the ticket link store, so a restart
resumes there). Redmine's filter is inclusive and its times have one-second resolution, so the
newest second is read again next round: harmless, an unchanged status changes nothing. Without a
saved cursor the first round starts ``initial_lookback`` before the service started.

Errors are logged by class name and HTTP status only, and the next round tries again.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

import httpx

from fallback.clock import utc_now
from gateway.sync_status import StatusReport, StatusSync

log = logging.getLogger("rcmgw.sync.redmine")
PAGE = 100


class RedminePoller:
    """A `gateway.runtime.BackgroundService` polling one Redmine sink (see the module docstring)."""

    def __init__(
        self,
        sync: StatusSync,
        sink: str,
        url: str,
        api_key: str,
        project: str,
        *,
        interval: float = 60.0,
        initial_lookback: timedelta = timedelta(days=1),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = f"redmine-poller-{sink}"
        self.sync = sync
        self.sink = sink
        self._url = url.rstrip("/")
        self._headers = {"X-Redmine-API-Key": api_key}
        self._project = project
        self._interval = interval
        self._lookback = initial_lookback
        self._transport = transport
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.rounds = 0

    @property
    def cursor_name(self) -> str:
        """Where this poller's cursor is saved."""
        return f"redmine:{self.sink}"

    async def poll_once(self) -> int:
        """One polling round; returns how many issues were read."""
        since = await self.sync.links.cursor(self.cursor_name)
        if since is None:
            since = _stamp(utc_now() - self._lookback)
        newest = since
        seen = 0
        async with httpx.AsyncClient(timeout=30, transport=self._transport) as client:
            offset = 0
            while True:
                response = await client.get(
                    f"{self._url}/issues.json",
                    params={
                        "project_id": self._project,
                        "status_id": "*",
                        "updated_on": f">={since}",
                        "sort": "updated_on",
                        "limit": PAGE,
                        "offset": offset,
                    },
                    headers=self._headers,
                )
                response.raise_for_status()
                body: dict[str, Any] = response.json()
                issues = body.get("issues") or []
                for issue in issues:
                    seen += 1
                    status = str((issue.get("status") or {}).get("name") or "")
                    updated = str(issue.get("updated_on") or "")
                    at = _parse(updated)
                    await self.sync.apply(
                        StatusReport(self.sink, str(issue["id"]), status, via="poll", at=at)
                    )
                    newest = max(newest, updated)
                offset += len(issues)
                if not issues or offset >= int(body.get("total_count") or 0):
                    break
        if newest != since:
            await self.sync.links.set_cursor(self.cursor_name, newest)
        self.rounds += 1
        return seen

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.poll_once()
            except httpx.HTTPStatusError as error:
                log.warning(
                    "redmine poll failed", extra={"sink": self.sink, "status": error.response.status_code}
                )
            except Exception as error:  # noqa: BLE001 - the poller must survive one bad round
                log.warning(
                    "redmine poll failed", extra={"sink": self.sink, "error_class": type(error).__name__}
                )
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._interval)

    async def start(self, runtime: object) -> None:
        """Start polling."""
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop polling and wait for the round in progress."""
        self._stop.set()
        if self._task is not None:
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


__all__ = ["RedminePoller"]
