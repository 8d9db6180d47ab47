"""``POST /v1/adapters/epic`` and ``POST /v1/adapters/cerner``: FHIR R4 resources and Bundles that
vendor platforms push to us (scope ``events:write``).

The body is validated first (a specific 4xx names the element, and the raw body is quarantined);
then each record goes through the pipeline. 202 only after every record's ticket is durably
spooled. A record that cannot be sealed is quarantined without sinking its neighbours; when no
record was accepted the answer is 422.
"""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.errors import InputRejected, InputTooLarge
from adapters.fhir.records import records_from_resource
from adapters.fhir.validation import parse_fhir
from gateway.api.body import read_limited_body
from gateway.auth.deps import EventsWriter
from gateway.pipeline import RecordQuarantined
from gateway.runtime import Runtime

router = APIRouter(prefix="/v1/adapters", tags=["fhir"])
log = logging.getLogger("rcmgw.fhir.push")
Vendor = Literal["epic", "cerner"]


class PushedTicket(BaseModel):
    """One ticket made from the pushed body."""

    ticket_id: str
    fingerprint: str
    duplicate: bool


class PushAccepted(BaseModel):
    """The answer to an accepted push: the tickets made, and any entries quarantined."""

    status: str = "accepted"
    tickets: list[PushedTicket]
    quarantined: list[str]


async def _push(request: Request, vendor: Vendor, client_id: str) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    body = await read_limited_body(request, runtime.settings.max_body_bytes)
    source = f"http:/v1/adapters/{vendor}"
    try:
        resource = parse_fhir(body)
    except InputTooLarge:
        raise
    except InputRejected as error:
        receipt = runtime.quarantine.put(
            body,
            source=source,
            code=error.code,
            reason="; ".join(f"{field}: {message}" for field, message in error.problems)[:500],
        )
        error.quarantine_id = receipt.quarantine_id
        log.info(
            "fhir push rejected",
            extra={"client_id": client_id, "code": error.code, "quarantine_id": receipt.quarantine_id},
        )
        raise
    records = records_from_resource(resource, vendor=vendor, instance="push", origin="push")
    tickets: list[PushedTicket] = []
    quarantined: list[RecordQuarantined] = []
    for record in records:
        try:
            result = await runtime.pipeline.ingest(record)
        except RecordQuarantined as error:
            quarantined.append(error)
            continue
        tickets.append(
            PushedTicket(
                ticket_id=result.ticket_id, fingerprint=result.fingerprint, duplicate=not result.created
            )
        )
    if quarantined and not tickets:
        raise quarantined[0]
    log.info(
        "fhir push accepted",
        extra={
            "client_id": client_id,
            "vendor": vendor,
            "tickets": len(tickets),
            "quarantined": len(quarantined),
        },
    )
    accepted = PushAccepted(tickets=tickets, quarantined=[error.quarantine_id for error in quarantined])
    return JSONResponse(accepted.model_dump(), status_code=202)


_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"description": "Not FHIR JSON, or a FHIR rule broken (the element is named)"},
    401: {"description": "No valid token"},
    403: {"description": "Missing scope events:write"},
    413: {"description": "Body too large"},
    422: {"description": "Nothing could be sealed safely; quarantined"},
    503: {"description": "Spool unavailable; nothing accepted"},
}


@router.post(
    "/epic",
    status_code=202,
    response_model=PushAccepted,
    responses=_RESPONSES,
    summary="Epic pushes a FHIR R4 resource or Bundle",
)
async def push_epic(request: Request, principal: EventsWriter) -> JSONResponse:
    """Validate, map, redact and durably spool every reportable resource; 202 after the commit."""
    return await _push(request, "epic", principal.client_id)


@router.post(
    "/cerner",
    status_code=202,
    response_model=PushAccepted,
    responses=_RESPONSES,
    summary="Cerner (Oracle Health) pushes a FHIR R4 resource or Bundle",
)
async def push_cerner(request: Request, principal: EventsWriter) -> JSONResponse:
    """Validate, map, redact and durably spool every reportable resource; 202 after the commit."""
    return await _push(request, "cerner", principal.client_id)
