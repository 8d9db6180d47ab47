"""``POST /oauth/token``: the embedded dev issuer's token endpoint (client-credentials grant).

An open route on purpose (`TOKEN_PATHS`): it cannot require a scope because it is how a service
gets one; it authenticates the client itself (``client_secret_basic`` or ``client_secret_post``,
secrets checked against their stored hashes). It answers 404 when an external issuer is configured
(the dev issuer is then switched off). Every answer is audited: ``token.issued`` (client, scopes,
the token's ``jti``) or ``token.refused`` (the OAuth error code); never a secret or a token.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gateway.auth.deps import security_of
from gateway.auth.token_endpoint import TOKEN_PATH, DevTokenEndpoint
from gateway.runtime import Runtime

TOKEN_PATHS = frozenset({TOKEN_PATH})
MAX_FORM_FIELDS = 8
router = APIRouter(tags=["oauth"])


OAUTH_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
            }
        }
    }
}


@router.post(
    TOKEN_PATH,
    summary="Dev issuer: client-credentials token endpoint",
    response_model=None,
    # RFC 6749 section 5.2: errors are JSON objects with an ``error`` code, not problem+json
    responses={400: OAUTH_ERROR, 401: OAUTH_ERROR},
)
async def token(request: Request) -> JSONResponse:
    """Issue an RFC 9068 access token to a registered client (RFC 6749 section 4.4)."""
    runtime: Runtime = request.app.state.runtime
    security = security_of(request)
    if security.dev_issuer is None:
        raise HTTPException(404)
    endpoint = DevTokenEndpoint(
        security.clients, security.dev_issuer, ttl=runtime.settings.dev_token_ttl_seconds
    )
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    outcome = await asyncio.to_thread(
        endpoint.respond,
        method=request.method,
        uri=str(request.url),
        form=fields,
        headers=dict(request.headers),
    )
    if outcome.error is None:
        await runtime.audit.record(
            "token.issued",
            actor=outcome.client_id or "anonymous",
            scope=outcome.scope,
            token_id=outcome.token_id,
            grant="client_credentials",
        )
    else:
        await runtime.audit.record(
            "token.refused",
            actor=outcome.client_id or "anonymous",
            outcome="denied",
            reason=outcome.error,
            **outcome.extra,
        )
    return JSONResponse(outcome.body, status_code=outcome.status, headers=dict(outcome.headers))
