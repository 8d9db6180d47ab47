"""``POST /v1/phi/reidentify``: what one pseudonym token stands for, from the re-identification vault.

Only with scope ``phi:reidentify``; the token travels in the body, never in a URL (URLs end up in
access logs and browser histories). Every request that reaches the vault is audited as
``phi.reidentified`` with the client id as actor and the token (never the value) as detail; the
answer is marked ``Cache-Control: no-store``. When the vault is off (the default) the route answers
404 ``phi.vault_disabled``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth.deps import ScopeRequirement
from gateway.auth.scopes import Scope
from gateway.auth.tokens import Principal
from gateway.problems import problem
from gateway.runtime import Runtime
from redaction.pseudonym import TOKEN_PATTERN

router = APIRouter(prefix="/v1/phi", tags=["phi"])
PhiReidentifier = Annotated[Principal, Depends(ScopeRequirement(Scope.PHI_REIDENTIFY))]
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ReidentifyRequest(BaseModel):
    """The token to look up, exactly as it appears in a ticket (``[MRN:K7Q2-M9XD]``)."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(pattern=f"^{TOKEN_PATTERN}$", max_length=40)


class Reidentified(BaseModel):
    """What the token stands for. ``value`` is clear PHI."""

    token: str
    kind: str
    value: str


@router.post(
    "/reidentify",
    response_model=Reidentified,
    summary="Look up the clear value behind one pseudonym token (audited)",
    responses={
        401: {"description": "No valid token"},
        403: {"description": "Missing scope phi:reidentify"},
        404: {"description": "Vault disabled, or token unknown or expired"},
    },
)
async def reidentify(body: ReidentifyRequest, request: Request, principal: PhiReidentifier) -> JSONResponse:
    """The value behind ``body.token``; every lookup is audited."""
    runtime: Runtime = request.app.state.runtime
    vault = runtime.vault
    if vault is None:
        return problem(
            request,
            404,
            "phi.vault_disabled",
            "Not found",
            "the re-identification vault is not enabled",
            headers=_NO_STORE,
        )
    entry = vault.lookup(body.token)
    await runtime.audit.record(
        "phi.reidentified",
        actor=principal.client_id,
        outcome="ok" if entry is not None else "not_found",
        token=body.token,
        token_id=principal.token_id,
    )
    if entry is None:
        return problem(
            request,
            404,
            "phi.token_unknown",
            "Not found",
            "the token is unknown or its retention has passed",
            headers=_NO_STORE,
        )
    answer = Reidentified(token=entry.token, kind=entry.kind.value, value=entry.value)
    return JSONResponse(answer.model_dump(), headers=_NO_STORE)
