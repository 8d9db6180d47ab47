"""The error answers of every route, in the OpenAPI document.

FastAPI documents only a route's success answer and a 422 ``HTTPValidationError`` body, but the
gateway answers every failure with RFC 9457 problem+json (`gateway.problems`): invalid parameters
or bodies are 400 (never 422), a missing or bad token 401, a missing scope 403, unknown entries and
unconfigured features (SAML, the dev token endpoint, a pull sink) 404, oversize bodies 413, an
unsupported media type 415, rate limits 429, a spool that cannot commit 503. `document_problems`
adds these to each route, so the spec says what clients really get (tests/fuzz/test_api_schema.py
checks every answer against it with schemathesis).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from gateway.auth.deps import ScopeRequirement
from gateway.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}

COMMON: dict[int, str] = {
    400: "Invalid input (problem+json, with a ``problems`` list naming each bad field)",
    404: "Not found, or the feature is not configured",
    413: "The body is larger than the configured limit",
    415: "Unsupported media type",
    422: "Well formed but not processable",
    429: "Too many requests; honour Retry-After",
    503: "Not ready, or the spool cannot commit; nothing was accepted, retry later",
}
GUARDED: dict[int, str] = {
    401: "No token, or a token that is invalid or expired",
    403: "The token lacks the scope this route requires",
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}


def _guarded_paths(app: FastAPI) -> set[str]:
    """Paths of the routes that depend on a `ScopeRequirement`."""
    found: set[str] = set()
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        stack = [dependant] if dependant is not None else []
        while stack:
            current = stack.pop()
            if isinstance(current.call, ScopeRequirement):
                found.add(str(context.path))
                break
            stack.extend(current.dependencies)
    return found


def add_problem_responses(spec: dict[str, Any], guarded: set[str]) -> dict[str, Any]:
    """``spec`` with the problem+json answers on every operation (401/403 on ``guarded`` paths);
    FastAPI's 422 ``HTTPValidationError`` entry is replaced: validation errors are 400 problems."""
    for path, item in spec.get("paths", {}).items():
        errors = {**COMMON, **(GUARDED if path in guarded else {})}
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in errors.items():
                entry = responses.get(str(status))
                if entry is None or status == 422:
                    responses[str(status)] = _problem(description)
                else:
                    entry.setdefault("content", {}).setdefault(PROBLEM_JSON, {"schema": PROBLEM_SCHEMA})
    return spec


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the problem+json error answers (call after the routers are
    included)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_responses(generate(), _guarded_paths(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
