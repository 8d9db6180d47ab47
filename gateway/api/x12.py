"""``POST /v1/ingest/x12``: one X12 file (835, 277CA, 999/997, TA1) per request.

The body is streamed to an encrypted scratch file (limit: the larger of ``max_body_bytes`` and
``x12.max_body_bytes``), then read, sealed and spooled by `ingest_x12_stream`. The answer comes only
after every ticket of the file is durably committed:

- **202** ``{"status": "accepted", "tickets": [...], "new_tickets", "duplicates", "evidence"}``: the
  whole file was read without a problem. Each ticket is ``{"ticket_id", "fingerprint",
  "duplicate"}``; ``duplicate`` is true when the same record was spooled before (re-posting a file
  creates nothing new). ``evidence`` counts records kept without a ticket (accepted statuses, paid
  claims). ``resolved`` lists the earlier tickets that this file's 277CA acceptances or 835
  payments resolved (a resolve update was spooled for each; ``duplicate`` when it was spooled
  before); evidence for claims that opened no ticket resolves nothing and is only counted.
- **400** problem+json, code ``input.x12`` (``input.x12.not_x12`` when the body is not X12): the
  file has at least one problem. ``problems`` lists each as ``{"field": "interchange <ISA13>,
  segment <n>", "message": <reason>}``, ``quarantine_id`` names the encrypted copy of the whole
  file, and ``accepted`` lists the tickets of the good transaction sets, which ARE durably spooled
  (a bad set never sinks the good ones; re-posting the corrected file does not duplicate them).
- 401/403 without a token with ``events:write``; 413 over the limit; 503 when the spool cannot
  commit (nothing of the file may be considered accepted; retry).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.errors import InputTooLarge
from adapters.x12.errors import X12NotRecognized, X12Rejected
from gateway.auth.deps import EventsWriter
from gateway.ephemeral_file import EphemeralFile
from gateway.problems import problem
from gateway.runtime import Runtime
from gateway.x12_ingest import X12Outcome, ingest_x12_stream

router = APIRouter(prefix="/v1", tags=["x12"])
log = logging.getLogger("rcmgw.x12.http")
SOURCE = "http:/v1/ingest/x12"


class X12Ticket(BaseModel):
    """One ticket made from the file."""

    ticket_id: str
    fingerprint: str
    duplicate: bool


class X12Accepted(BaseModel):
    """The answer to a file read without problems (see the module docstring)."""

    status: str = "accepted"
    tickets: list[X12Ticket]
    new_tickets: int
    duplicates: int
    evidence: int
    resolved: list[X12Ticket] = []


def _tickets(outcome: X12Outcome) -> list[X12Ticket]:
    return [
        X12Ticket(ticket_id=result.ticket_id, fingerprint=result.fingerprint, duplicate=not result.created)
        for result in outcome.results
    ]


def _resolved(outcome: X12Outcome) -> list[X12Ticket]:
    return [
        X12Ticket(ticket_id=ticket_id, fingerprint=fingerprint, duplicate=not result.created)
        for result in outcome.resolved
        for ticket_id, fingerprint in result.resolved
    ]


def _problem_items(outcome: X12Outcome) -> list[dict[str, str]]:
    items = []
    for text in outcome.problems[:100]:
        where, _, reason = text.partition(": ")
        items.append({"field": where, "message": reason})
    return items


@router.post(
    "/ingest/x12",
    status_code=202,
    response_model=X12Accepted,
    summary="Submit one X12 file (835, 277CA, 999/997, TA1)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/edi-x12": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        400: {"description": "The file has problems; see problems, quarantine_id and accepted"},
        401: {"description": "No valid token"},
        403: {"description": "Missing scope events:write"},
        413: {"description": "Body too large"},
        503: {"description": "Spool unavailable; nothing accepted"},
    },
)
async def post_x12(request: Request, principal: EventsWriter) -> JSONResponse:
    """Read, seal and durably spool every record of one X12 file; answer after the commit."""
    runtime: Runtime = request.app.state.runtime
    limit = max(runtime.settings.max_body_bytes, runtime.settings.x12.max_body_bytes)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InputTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    with EphemeralFile(runtime.settings.home / "tmp") as body:
        async for chunk in request.stream():
            if body.size + len(chunk) > limit:
                raise InputTooLarge(f"request body exceeds the limit of {limit} bytes")
            body.write(chunk)
        outcome = await ingest_x12_stream(
            body.reader(),
            runtime.pipeline,
            runtime.quarantine,
            source=SOURCE,
            raw=body.read_all,
            batch_size=runtime.settings.x12.batch_size,
        )
    tickets = _tickets(outcome)
    log.info(
        "x12 file ingested",
        extra={
            "client_id": principal.client_id,
            "tickets": len(tickets),
            "problems": len(outcome.problems),
            "quarantine_id": outcome.quarantine_id,
        },
    )
    if outcome.rejected:
        code = X12NotRecognized.code if outcome.not_x12 else X12Rejected.code
        return problem(
            request,
            400,
            code,
            "Invalid X12 input",
            outcome.problems[0][:300],
            extra={
                "problems": _problem_items(outcome),
                "quarantine_id": outcome.quarantine_id,
                "accepted": [ticket.model_dump() for ticket in tickets],
            },
        )
    accepted = X12Accepted(
        tickets=tickets,
        new_tickets=sum(not ticket.duplicate for ticket in tickets),
        duplicates=sum(ticket.duplicate for ticket in tickets),
        evidence=outcome.evidence,
        resolved=_resolved(outcome),
    )
    return JSONResponse(accepted.model_dump(), status_code=202)
