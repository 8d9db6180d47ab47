"""One place that maps every exception class to its HTTP problem+json response (RFC 9457).

Bodies carry a type URI, a title, the status, a short ``detail`` that never quotes input values,
the error ``code``, the request id, and for rejected input the list of ``problems`` (field ->
what is wrong). No stack traces, no exception text from libraries or remote systems.

A browser on a console page (a ``/console...`` request that accepts ``text/html``) gets the same
status, title, detail, code and request id as a console HTML page instead (`for_console_browsers`
wraps every handler), so a person without a page's scope sees a page that says so, not raw JSON.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.errors import InputRejected, InputTooLarge, UnsupportedInput
from fallback.errors import SpoolError
from gateway.auth.errors import (
    AuthenticationFailed,
    CallbackRejected,
    CallbackReplayed,
    CsrfRejected,
    ScopeDenied,
)
from gateway.pipeline import RecordQuarantined

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://rcm-gateway.example/problems/"
log = logging.getLogger("rcmgw.http")


def request_id(request: Request) -> str:
    """The request's id (set by the middleware; generated if missing)."""
    value = getattr(request.state, "request_id", None)
    if not isinstance(value, str):
        value = secrets.token_hex(8)
        request.state.request_id = value
    return value


def problem(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    extra: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, object] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id(request),
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def _console_path(request: Request) -> bool:
    return request.url.path.startswith("/console")


def for_console_browsers(handler: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    """``handler``, with its problem+json answer turned into a console page (`gateway.console.
    render.page`, template ``error.html``) for a browser on a console page; the answer's other
    headers (``WWW-Authenticate``, ``Retry-After``) are kept."""

    async def handle(request: Request, error: Exception) -> Response:
        answer = await handler(request, error)
        browser = _console_path(request) and "text/html" in request.headers.get("accept", "")
        if not browser or answer.status_code < 400:  # the sign-in redirect (303) stays as it is
            return answer
        from gateway.console.render import page

        body = json.loads(bytes(answer.body))
        shown = page(
            request,
            "error.html",
            status_code=answer.status_code,
            **{key: body[key] for key in ("status", "title", "detail", "code", "request_id")},
        )
        for name, value in answer.headers.items():
            if name not in ("content-type", "content-length"):
                shown.headers[name] = value
        return shown

    return handle


def _problems_list(error: InputRejected) -> list[dict[str, str]]:
    return [{"field": field, "message": message} for field, message in error.problems]


async def _input_rejected(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InputRejected)
    if isinstance(error, InputTooLarge):
        return problem(request, 413, error.code, "Request body too large", error.message)
    status = 422 if isinstance(error, UnsupportedInput) else 400
    extra: dict[str, object] = {"problems": _problems_list(error)}
    quarantine_id = getattr(error, "quarantine_id", None)
    if quarantine_id:
        extra["quarantine_id"] = quarantine_id
    return problem(request, status, error.code, "Invalid input", error.message, extra=extra)


async def _quarantined(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RecordQuarantined)
    return problem(
        request,
        422,
        error.code,
        "Input could not be processed safely",
        f"the input was quarantined ({error.cause_code}); it was not accepted",
        extra={"quarantine_id": error.quarantine_id},
    )


async def _auth_failed(request: Request, error: Exception) -> JSONResponse:
    return problem(
        request,
        401,
        "auth.failed",
        "Unauthorized",
        "a valid bearer token is required",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def _scope_denied(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ScopeDenied)
    return problem(
        request,
        403,
        "auth.scope",
        "Forbidden",
        f"this route requires the scope {error.required}",
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{error.required}"'},
    )


async def _csrf_rejected(request: Request, error: Exception) -> JSONResponse:
    return problem(request, 403, "auth.csrf", "Forbidden", "this request needs the session's CSRF token")


async def _callback_rejected(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, CallbackReplayed):
        return problem(
            request, 409, error.code, "Replayed callback", "this callback event was already accepted"
        )
    return problem(
        request, 401, "auth.callback", "Unauthorized", "the callback signature or token is not valid"
    )


async def _spool_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.error(
        "spool unavailable",
        extra={"code": getattr(error, "code", "spool"), "request_id": request_id(request)},
    )
    return problem(
        request,
        503,
        "spool.unavailable",
        "Service unavailable",
        "the spool cannot commit right now; nothing was accepted, retry later",
        headers={"Retry-After": "5"},
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http")
    return problem(
        request,
        error.status_code,
        code,
        "Request failed",
        # console routes raise only fixed, PHI-free texts (gateway.api.console, gateway.console.forms)
        error.detail if _console_path(request) and isinstance(error.detail, str) else "see status",
        headers=dict(error.headers) if error.headers else None,
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"field": ".".join(str(part) for part in item.get("loc", ())), "message": str(item.get("msg", ""))}
        for item in error.errors()
    ]
    return problem(
        request,
        400,
        "input.rejected",
        "Invalid input",
        "the request is not valid",
        extra={"problems": problems},
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.error(
        "unhandled error", extra={"error_class": type(error).__name__, "request_id": request_id(request)}
    )
    return problem(
        request, 500, "internal", "Internal error", "an internal error occurred; see the log by request id"
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register every exception -> problem+json mapping on ``app`` (HTML for console browsers)."""
    app.add_exception_handler(InputRejected, for_console_browsers(_input_rejected))
    app.add_exception_handler(RecordQuarantined, for_console_browsers(_quarantined))
    app.add_exception_handler(AuthenticationFailed, for_console_browsers(_auth_failed))
    app.add_exception_handler(ScopeDenied, for_console_browsers(_scope_denied))
    app.add_exception_handler(CsrfRejected, for_console_browsers(_csrf_rejected))
    app.add_exception_handler(CallbackRejected, for_console_browsers(_callback_rejected))
    app.add_exception_handler(SpoolError, for_console_browsers(_spool_unavailable))
    app.add_exception_handler(StarletteHTTPException, for_console_browsers(_http_error))
    app.add_exception_handler(RequestValidationError, for_console_browsers(_validation_error))
    app.add_exception_handler(Exception, for_console_browsers(_unexpected))
