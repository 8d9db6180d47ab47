"""The FastAPI application factory."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from gateway.api.openapi_problems import document_problems
from gateway.api.router import api_router
from gateway.logs import REQUEST_ID
from gateway.problems import install_problem_handlers
from gateway.runtime import Runtime
from gateway.settings import Settings

log = logging.getLogger("rcmgw.http")


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """The gateway app. ``runtime`` is built from ``settings`` when not given; it starts and stops
    with the app's lifespan."""
    runtime = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        await runtime.start_services()
        log.info("gateway started", extra={"home": str(settings.home)})
        try:
            yield
        finally:
            await runtime.stop()
            log.info("gateway stopped")

    app = FastAPI(
        title="rcm-gateway",
        version="0.1.0",
        summary="Revenue-cycle errors in, PHI-free tickets out.",
        lifespan=lifespan,
        # Deny by default: the interactive docs and the spec would be open routes. The spec is
        # published as a file instead (`app.openapi()`).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.runtime = runtime
    app.state.token_validator = runtime.validator
    install_problem_handlers(app)
    app.include_router(api_router)
    document_problems(app)  # the problem+json error answers, in the OpenAPI document

    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.request_id = secrets.token_hex(8)
        bound = REQUEST_ID.set(request.state.request_id)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            REQUEST_ID.reset(bound)
        route = request.scope.get("route")
        log.info(
            "request",
            extra={
                "request_id": request.state.request_id,
                "method": request.method,
                "route": getattr(route, "path", "<unmatched>"),
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    return app
