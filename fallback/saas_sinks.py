"""Sinks for hosted ticketing systems, each on `TicketingSink` (search, create, comment, attach):

* `JiraSink`: Jira Cloud REST v3. The fingerprint is a label (``rcm-<fingerprint>``) found by JQL;
  descriptions and comments are Atlassian Document Format; the evidence is uploaded to
  ``/issue/{key}/attachments``; writes to one issue are spaced by ``min_write_interval`` seconds.
  Auth: basic (account e-mail + API token).
* `ServiceNowSink`: Table API, ``incident`` records keyed by ``correlation_id``; recurrences are
  ``work_notes``; evidence via the Attachment API. Auth: basic.
* `ZendeskSink`: Tickets API keyed by ``external_id``; recurrences are private comments; evidence
  via ``/uploads``. Auth: ``{email}/token`` basic. Pair it with the ``zendesk`` rate-limit preset
  (700 requests/min); updates are additionally held to 100/min by an internal limiter.
"""

from __future__ import annotations

from typing import Any

import httpx

from fallback.circuit import PRESETS, RateLimiter
from fallback.errors import PermanentDeliveryError
from fallback.ticketing_sink import TicketingSink, recurrence_text, ticket_text
from normalizers.sealed import SealedTicket


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document (one paragraph per line)."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
        for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def _json(sink: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PermanentDeliveryError(f"{sink}: response is not JSON") from None


class JiraSink(TicketingSink):
    """Jira Cloud (see the module docstring)."""

    def __init__(
        self,
        url: str,
        email: str,
        api_token: str,
        project: str,
        *,
        name: str = "jira",
        issue_type: str = "Task",
        min_write_interval: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, url, **kwargs)
        self._auth = httpx.BasicAuth(email, api_token)
        self._project = project
        self._issue_type = issue_type
        self.min_write_interval = min_write_interval

    async def find(self, fingerprint: str) -> str | None:
        jql = f'project = "{self._project}" AND labels = "rcm-{fingerprint}" ORDER BY created DESC'
        r = await self._call(
            "GET", "/rest/api/3/search/jql",
            params={"jql": jql, "maxResults": 1, "fields": "key"}, auth=self._auth,
        )  # fmt: skip
        issues = _json(self.name, r).get("issues") or []
        return str(issues[0]["key"]) if issues else None

    async def mentions(self, remote_id: str, ticket_id: str) -> bool:
        r = await self._call(
            "GET", f"/rest/api/3/issue/{remote_id}", params={"fields": "labels"}, auth=self._auth
        )
        labels = _json(self.name, r).get("fields", {}).get("labels") or []
        return f"rcm-{ticket_id}" in labels

    async def create(self, ticket: SealedTicket) -> str:
        fields = {
            "project": {"key": self._project},
            "issuetype": {"name": self._issue_type},
            "summary": ticket.payload.summary[:255],
            "description": adf(ticket_text(ticket)),
            "labels": ["rcm-gateway", f"rcm-{ticket.fingerprint}", f"rcm-{ticket.id}"],
        }
        r = await self._call("POST", "/rest/api/3/issue", json={"fields": fields}, auth=self._auth)
        return str(_json(self.name, r)["key"])

    async def comment(self, remote_id: str, ticket: SealedTicket) -> None:
        await self._call(
            "POST", f"/rest/api/3/issue/{remote_id}/comment",
            json={"body": adf(recurrence_text(ticket))}, auth=self._auth,
        )  # fmt: skip
        await self._space(remote_id)
        await self._call(
            "PUT", f"/rest/api/3/issue/{remote_id}",
            json={"update": {"labels": [{"add": f"rcm-{ticket.id}"}]}}, auth=self._auth,
        )  # fmt: skip

    async def attach(self, remote_id: str, filename: str, data: bytes) -> None:
        await self._call(
            "POST", f"/rest/api/3/issue/{remote_id}/attachments",
            files={"file": (filename, data, "text/plain")},
            headers={"X-Atlassian-Token": "no-check"}, auth=self._auth,
        )  # fmt: skip


class ServiceNowSink(TicketingSink):
    """ServiceNow incidents (see the module docstring)."""

    def __init__(
        self, url: str, user: str, password: str, *, name: str = "servicenow", **kwargs: Any
    ) -> None:
        super().__init__(name, url, **kwargs)
        self._auth = httpx.BasicAuth(user, password)

    async def find(self, fingerprint: str) -> str | None:
        r = await self._call(
            "GET", "/api/now/table/incident",
            # newest first: after a repeat after resolve two incidents share the fingerprint, and
            # the Table API's own order is unspecified (updates and replays belong to the newer)
            params={"sysparm_query": f"correlation_id={fingerprint}^ORDERBYDESCsys_created_on",
                    "sysparm_limit": 1, "sysparm_fields": "sys_id,number"},
            auth=self._auth,
        )  # fmt: skip
        rows = _json(self.name, r).get("result") or []
        return str(rows[0]["sys_id"]) if rows else None

    async def mentions(self, remote_id: str, ticket_id: str) -> bool:
        r = await self._call(
            "GET", "/api/now/table/sys_journal_field",
            params={"sysparm_query": f"element_id={remote_id}^valueLIKE{ticket_id}", "sysparm_limit": 1,
                    "sysparm_fields": "sys_id"},
            auth=self._auth,
        )  # fmt: skip
        if _json(self.name, r).get("result"):
            return True
        r = await self._call(
            "GET", f"/api/now/table/incident/{remote_id}",
            params={"sysparm_fields": "description"}, auth=self._auth,
        )  # fmt: skip
        return ticket_id in str(_json(self.name, r).get("result", {}).get("description", ""))

    async def create(self, ticket: SealedTicket) -> str:
        record = {
            "short_description": ticket.payload.summary[:160],
            "description": ticket_text(ticket),
            "correlation_id": ticket.fingerprint,
            "correlation_display": "rcm-gateway",
        }
        r = await self._call("POST", "/api/now/table/incident", json=record, auth=self._auth)
        return str(_json(self.name, r)["result"]["sys_id"])

    async def comment(self, remote_id: str, ticket: SealedTicket) -> None:
        await self._call(
            "PATCH", f"/api/now/table/incident/{remote_id}",
            json={"work_notes": recurrence_text(ticket)}, auth=self._auth,
        )  # fmt: skip

    async def attach(self, remote_id: str, filename: str, data: bytes) -> None:
        await self._call(
            "POST", "/api/now/attachment/file",
            params={"table_name": "incident", "table_sys_id": remote_id, "file_name": filename},
            content=data, headers={"Content-Type": "text/plain"}, auth=self._auth,
        )  # fmt: skip


class ZendeskSink(TicketingSink):
    """Zendesk tickets (see the module docstring)."""

    def __init__(
        self,
        url: str,
        email: str,
        api_token: str,
        *,
        name: str = "zendesk",
        update_limiter: RateLimiter | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, url, **kwargs)
        self._auth = httpx.BasicAuth(f"{email}/token", api_token)
        self._updates = update_limiter or RateLimiter(PRESETS["zendesk_updates"])

    async def find(self, fingerprint: str) -> str | None:
        r = await self._call(
            "GET", "/api/v2/tickets.json", params={"external_id": fingerprint}, auth=self._auth
        )
        tickets = _json(self.name, r).get("tickets") or []
        return str(max(tickets, key=lambda t: int(t["id"]))["id"]) if tickets else None  # the newest

    async def mentions(self, remote_id: str, ticket_id: str) -> bool:
        r = await self._call("GET", f"/api/v2/tickets/{remote_id}/comments.json", auth=self._auth)
        comments = _json(self.name, r).get("comments") or []
        return any(ticket_id in str(c.get("body", "")) for c in comments)

    async def create(self, ticket: SealedTicket) -> str:
        comment: dict[str, Any] = {"body": ticket_text(ticket), "public": False}
        if ticket.payload.evidence:  # Zendesk attaches uploads to a comment: upload first
            comment["uploads"] = [await self._upload(f"evidence-{ticket.id}.txt", ticket.payload.evidence)]
        body = {
            "ticket": {
                "subject": ticket.payload.summary[:255],
                "comment": comment,
                "external_id": ticket.fingerprint,
                "tags": ["rcm-gateway"],
            }
        }
        r = await self._call("POST", "/api/v2/tickets.json", json=body, auth=self._auth)
        return str(_json(self.name, r)["ticket"]["id"])

    async def comment(self, remote_id: str, ticket: SealedTicket) -> None:
        await self._updates.acquire()
        await self._call(
            "PUT", f"/api/v2/tickets/{remote_id}.json",
            json={"ticket": {"comment": {"body": recurrence_text(ticket), "public": False}}},
            auth=self._auth,
        )  # fmt: skip

    async def _upload(self, filename: str, text: str) -> str:
        r = await self._call(
            "POST", "/api/v2/uploads.json", params={"filename": filename},
            content=text.encode(), headers={"Content-Type": "text/plain"}, auth=self._auth,
        )  # fmt: skip
        return str(_json(self.name, r)["upload"]["token"])

    async def attach(self, remote_id: str, filename: str, data: bytes) -> None:
        return  # done with the create comment


__all__ = ["JiraSink", "ServiceNowSink", "ZendeskSink", "adf"]
