"""``POST /v1/sinks/{name}/callback``: ticket status from a ticketing system (two-way sync).

Not guarded by an OAuth scope: Jira, ServiceNow and Zendesk cannot get gateway tokens. Each sink
authenticates its callbacks itself (`gateway.sync_callbacks`: an HMAC signature over timestamp and
body, or a per-sink bearer token, plus a timestamp window and a durable nonce). Without ``sync``
configuration for the sink every callback is rejected (deny by default). Forged, stale and
replayed callbacks are answered with problem+json and audited (``sync.callback_rejected``);
authentic ones answer 202 after the status change is durably recorded. An authentic body that is
not JSON is quarantined (``input.rejected``).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.errors import InputRejected
from fallback.clock import utc_now
from gateway.api.body import read_limited_body
from gateway.auth.errors import CallbackRejected, CallbackReplayed
from gateway.delivery_settings import resolve_secret
from gateway.runtime import Runtime
from gateway.sync_callbacks import parse_events, verify
from gateway.sync_service import sync_service_of
from gateway.sync_status import StatusReport

router = APIRouter(prefix="/v1", tags=["sync"])
log = logging.getLogger("rcmgw.sync")
CALLBACK_PATHS = frozenset({"/v1/sinks/{name}/callback"})
"""Routes authenticated per sink (signature or sink token), not by an OAuth scope."""


async def _reject(runtime: Runtime, sink: str, error: CallbackRejected) -> CallbackRejected:
    if sink not in runtime.settings.sync.sinks:
        sink = "unknown"  # the path is caller-controlled: only configured names are recorded
    await runtime.audit.record(
        "sync.callback_rejected", actor=f"sink:{sink[:40]}", outcome="rejected", reason=error.reason
    )
    log.warning("callback rejected", extra={"sink": sink[:40], "reason": error.reason})
    return error


@router.post(
    "/sinks/{name}/callback",
    status_code=202,
    summary="Ticket status callback from a ticketing system",
    responses={
        401: {"description": "Bad signature or token, or a stale timestamp"},
        409: {"description": "Replayed callback (event id already accepted)"},
        400: {"description": "Authentic but not JSON (quarantined)"},
    },
)
async def sink_callback(name: str, request: Request) -> JSONResponse:
    """Authenticate, de-duplicate and apply one status callback; 202 after the durable commit."""
    runtime: Runtime = request.app.state.runtime
    body = await read_limited_body(request, runtime.settings.max_body_bytes)
    service = sync_service_of(runtime)
    section = runtime.settings.sync.sinks.get(name) if service is not None else None
    if service is None or section is None or section.auth is None:
        raise await _reject(runtime, name, CallbackRejected("not_configured"))
    sync = service.sync
    window = timedelta(seconds=runtime.settings.sync.replay_window_seconds)
    now = utc_now()
    try:
        nonce = verify(
            section.auth, resolve_secret(section.auth.secret), request.headers, body, now=now, window=window
        )
    except CallbackRejected as error:
        raise await _reject(runtime, name, error) from None
    if not await service.links.claim_nonce(name, nonce, now, window * 2):
        raise await _reject(runtime, name, CallbackReplayed("replayed"))
    try:
        try:
            document = json.loads(body)
        except ValueError:
            receipt = runtime.quarantine.put(
                body, source=f"http:/v1/sinks/{name}/callback", code="input.rejected", reason="not JSON"
            )
            rejected = InputRejected("the callback body is not JSON", [("body", "not valid JSON")])
            rejected.quarantine_id = receipt.quarantine_id
            raise rejected from None
        results = []
        for change in parse_events(sync.shape(name), document):
            status = next((s for s in change.statuses if sync.map_state(name, s)), change.statuses[0])
            outcome = await sync.apply(StatusReport(name, change.remote_id, status, via="callback", at=now))
            results.append({"remote_id": change.remote_id, "outcome": outcome})
    except InputRejected:
        raise
    except Exception:
        await service.links.release_nonce(name, nonce)  # not applied: the sender's retry must pass
        raise
    return JSONResponse({"status": "accepted", "results": results}, status_code=202)


__all__ = ["CALLBACK_PATHS", "router"]
