"""`RedmineSink`: one Redmine issue per problem fingerprint, over the REST API (API key).

Redmine has no idempotency keys and does not enforce unique custom fields, so the sink searches
before it creates: the issue custom field ``external_id_field`` holds the ticket's fingerprint.

* no issue with the fingerprint: create one (subject = summary, description = the ticket's text
  with its id, the custom field), uploading the redacted evidence excerpt first as an attachment;
* an issue exists and already mentions this ticket id (in its description or a note): duplicate,
  nothing is written (a retry or replay);
* an issue exists for the fingerprint but not this ticket: a note records the recurrence (a comment
  instead of a second issue);
* the ticket ``follows`` a resolved ticket of the same fingerprint (a repeat after resolve, see
  docs/two-way-sync.md): a NEW issue is created whose description names the old ticket and issue,
  with a ``relates`` relation to the old issue. The search takes the newest issue of the
  fingerprint, so later updates go to the new issue.

A crash between "create" and "settle" is covered by the search: the next attempt finds the issue.
Two gateway nodes creating the SAME fingerprint at the same instant can still race (Redmine has no
unique constraint); the spool hands one entry to one node, so this needs two different tickets of
one problem at once.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from fallback.errors import PermanentDeliveryError
from fallback.http_sink import HttpSink
from fallback.sink import DeliveryReceipt
from fallback.ticketing_sink import follows, ticket_text
from normalizers.sealed import SealedTicket


class RedmineSink(HttpSink):
    """Delivers to the Redmine at ``url`` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        api_key: str,
        project: str,
        external_id_field: int,
        *,
        name: str = "redmine",
        tracker_id: int | None = None,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ValueError(f"sink {name!r}: the Redmine API key is empty")
        super().__init__(name, url, timeout=timeout, connect_timeout=connect_timeout, transport=transport)
        self._headers = {"X-Redmine-API-Key": api_key}
        self._project = project
        self._field = external_id_field
        self._tracker_id = tracker_id

    async def _deliver(
        self, client: httpx.AsyncClient, ticket: SealedTicket, idempotency_key: str
    ) -> DeliveryReceipt:
        found = await self._find(ticket.fingerprint)
        if found is not None:
            issue_id = str(found["id"])
            if await self._mentions(issue_id, idempotency_key, str(found.get("description") or "")):
                return DeliveryReceipt(remote_id=issue_id, duplicate=True)
            if follows(ticket) is not None:
                return await self._create(ticket, previous=issue_id)
            note = f"Seen again: {ticket.payload.summary}\n\nrcm-gateway ticket: {idempotency_key}"
            await self._call(
                "PUT", f"/issues/{issue_id}.json", json={"issue": {"notes": note}}, headers=self._headers
            )
            return DeliveryReceipt(remote_id=issue_id, duplicate=False)
        return await self._create(ticket)

    async def _create(self, ticket: SealedTicket, previous: str | None = None) -> DeliveryReceipt:
        description = ticket_text(ticket)
        if previous is not None:
            description += f"\nfollows Redmine issue #{previous}"
        issue: dict[str, Any] = {
            "project_id": self._project,
            "subject": ticket.payload.summary[:255],
            "description": description,
            "custom_fields": [{"id": self._field, "value": ticket.fingerprint}],
        }
        if self._tracker_id is not None:
            issue["tracker_id"] = self._tracker_id
        if ticket.payload.evidence:
            token = await self._upload(ticket.payload.evidence.encode("utf-8"))
            issue["uploads"] = [
                {"token": token, "filename": f"evidence-{ticket.id}.txt", "content_type": "text/plain"}
            ]
        response = await self._call("POST", "/issues.json", json={"issue": issue}, headers=self._headers)
        try:
            created = str(response.json()["issue"]["id"])
        except (ValueError, KeyError, TypeError):
            raise PermanentDeliveryError(f"{self.name}: unexpected create response") from None
        if previous is not None:
            relation = {"relation": {"issue_to_id": int(previous), "relation_type": "relates"}}
            # the description names the old issue: a refused relation loses no ticket
            with contextlib.suppress(PermanentDeliveryError):
                await self._call(
                    "POST", f"/issues/{created}/relations.json", json=relation, headers=self._headers
                )
        return DeliveryReceipt(remote_id=created, duplicate=False)

    async def _find(self, fingerprint: str) -> dict[str, Any] | None:
        response = await self._call(
            "GET",
            "/issues.json",
            params={
                "project_id": self._project,
                f"cf_{self._field}": fingerprint,
                "status_id": "*",
                "sort": "id:desc",
                "limit": 1,
            },
            headers=self._headers,
        )
        issues = response.json().get("issues") or []
        return dict(issues[0]) if issues else None

    async def _mentions(self, issue_id: str, key: str, description: str) -> bool:
        if key in description:
            return True
        response = await self._call(
            "GET", f"/issues/{issue_id}.json", params={"include": "journals"}, headers=self._headers
        )
        journals = response.json().get("issue", {}).get("journals") or []
        return any(key in str(j.get("notes") or "") for j in journals)

    async def _upload(self, data: bytes) -> str:
        response = await self._call(
            "POST",
            "/uploads.json",
            content=data,
            headers={**self._headers, "Content-Type": "application/octet-stream"},
        )
        try:
            return str(response.json()["upload"]["token"])
        except (ValueError, KeyError, TypeError):
            raise PermanentDeliveryError(f"{self.name}: unexpected upload response") from None


__all__ = ["RedmineSink", "ticket_text"]
