"""``GET /v1/audit`` (audit records with filters) and ``GET /v1/dataflow`` (the live data-flow
diagram). Both need ``audit:read`` (``admin`` includes it)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from gateway.audit_export import as_json
from gateway.auth.deps import AuditReader
from gateway.dataflow import build_dataflow
from gateway.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["security"])


@router.get("/audit", summary="Audit records, oldest first", response_model=None)
async def get_audit(
    *,
    request: Request,
    principal: AuditReader,
    event: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Records matching every filter given; page with ``after_seq`` (the last ``seq`` seen)."""
    runtime: Runtime = request.app.state.runtime
    records = await asyncio.to_thread(
        runtime.audit.records,
        event=event,
        actor=actor,
        outcome=outcome,
        since=since,
        until=until,
        after_seq=after_seq,
        limit=limit,
    )
    body = "[" + ",".join(as_json(record) for record in records) + "]"
    return Response(body, media_type="application/json")


@router.get(
    "/dataflow",
    summary="The data-flow diagram of the running configuration",
    response_model=None,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},  # mermaid, dot
)
async def get_dataflow(
    request: Request,
    principal: AuditReader,
    fmt: Annotated[Literal["json", "mermaid", "dot"], Query(alias="format")] = "json",
) -> Response:
    """Sources, stages, stores and sinks with the data class and protection of each edge."""
    flow = build_dataflow(request.app.state.runtime)
    if fmt == "json":
        return Response(flow.to_json(), media_type="application/json")
    return PlainTextResponse(flow.render(fmt))
