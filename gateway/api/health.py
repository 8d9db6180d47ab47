"""Health checks: the only routes without authentication. They reveal no data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fallback.errors import SpoolError
from gateway.runtime import Runtime

router = APIRouter(tags=["health"])
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process runs."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the spool can commit a write", response_model=None)
async def readyz(request: Request) -> JSONResponse:
    """200 when the spool accepts a durable write, 503 (with a reason code) when it does not."""
    runtime: Runtime = request.app.state.runtime
    try:
        await runtime.spool.check_writable()
    except SpoolError as error:
        return JSONResponse({"status": "unavailable", "reason": error.code}, status_code=503)
    return JSONResponse({"status": "ready"})
