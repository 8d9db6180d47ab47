"""``POST /v1/events``: generic JSON error events. 202 only after the durable spool commit."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.errors import InputRejected, InputTooLarge
from adapters.json_event import JsonEvent, parse_event
from gateway.api.body import read_limited_body
from gateway.auth.deps import EventsWriter
from gateway.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["events"])
log = logging.getLogger("rcmgw.events")


class Accepted(BaseModel):
    """The answer to an accepted event: the ticket's id and fingerprint. ``duplicate`` is true when
    the same event (same ``event_id``, or byte-identical body) was accepted before."""

    status: str = "accepted"
    ticket_id: str
    fingerprint: str
    duplicate: bool


@router.post(
    "/events",
    status_code=202,
    response_model=Accepted,
    summary="Submit one error event",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": JsonEvent.model_json_schema()}},
        }
    },
    responses={
        400: {"description": "Invalid event"},
        401: {"description": "No valid token"},
        403: {"description": "Missing scope events:write"},
        413: {"description": "Body too large"},
        503: {"description": "Spool unavailable; nothing accepted"},
    },
)
async def post_event(request: Request, principal: EventsWriter) -> JSONResponse:
    """Validate, normalize, redact and durably spool one event; answer 202 after the commit."""
    runtime: Runtime = request.app.state.runtime
    body = await read_limited_body(request, runtime.settings.max_body_bytes)
    try:
        record = parse_event(body, max_bytes=runtime.settings.max_body_bytes)
    except InputTooLarge:
        raise
    except InputRejected as error:
        receipt = runtime.quarantine.put(
            body,
            source="http:/v1/events",
            code=error.code,
            reason="; ".join(f"{field}: {message}" for field, message in error.problems)[:500],
        )
        error.quarantine_id = receipt.quarantine_id
        runtime.metrics.record("json-event", "rejected")
        log.info(
            "event rejected",
            extra={
                "client_id": principal.client_id,
                "code": error.code,
                "quarantine_id": receipt.quarantine_id,
            },
        )
        raise
    result = await runtime.pipeline.ingest(record)
    accepted = Accepted(
        ticket_id=result.ticket_id, fingerprint=result.fingerprint, duplicate=not result.created
    )
    return JSONResponse(accepted.model_dump(), status_code=202)
