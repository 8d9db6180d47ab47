"""``POST /v1/ingest/hl7``: an HL7 v2 message or batch over HTTP; the ACK(s) come back in the body.

The same answers as MLLP (`gateway.hl7_intake`), read and committed in bounded batches
(`gateway.hl7_batch`: one durable commit per batch of messages): 200 with the ACK(s) once every
message is settled (AA only after its durable commit); 503 with the transient AE ACK(s) when the
spool cannot commit.
"""

from __future__ import annotations

import io

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.hl7v2.ack import build_batch_ack
from gateway.api.body import read_limited_body
from gateway.auth.deps import EventsWriter
from gateway.hl7_batch import ingest_hl7_stream
from gateway.hl7_intake import Hl7Intake
from gateway.runtime import Runtime

router = APIRouter(prefix="/v1/ingest", tags=["hl7v2"])
MEDIA_TYPE = "x-application/hl7-v2+er7"


@router.post(
    "/hl7",
    summary="Submit an HL7 v2 message or batch; answered with its ACK(s)",
    response_class=Response,
    responses={
        200: {"description": "ACK(s), one per message (a batch gets BHS/BTS)", "content": {MEDIA_TYPE: {}}},
        401: {"description": "No valid token"},
        403: {"description": "Missing scope events:write"},
        413: {"description": "Body too large"},
        503: {"description": "Spool unavailable; nothing accepted (ACKs say AE, transient)"},
    },
)
async def post_hl7(request: Request, principal: EventsWriter) -> Response:
    """Acknowledge every message of the body (see the module docstring)."""
    runtime: Runtime = request.app.state.runtime
    body = await read_limited_body(request, runtime.settings.max_body_bytes)
    intake = Hl7Intake(
        runtime.pipeline, runtime.quarantine, runtime.settings.mllp.tickets, metrics=runtime.metrics
    )
    intake.use_strict(runtime.settings.mllp.strict)
    acks: list[str] = []
    outcome = await ingest_hl7_stream(
        io.BytesIO(body), runtime.pipeline, intake, peer=f"http:{principal.client_id}", on_ack=acks.append
    )
    payload = build_batch_ack(acks) if outcome.batch or len(acks) > 1 else acks[0]
    return Response(
        content=payload.encode("utf-8"),
        media_type=MEDIA_TYPE,
        status_code=503 if outcome.failure is not None else 200,
    )
