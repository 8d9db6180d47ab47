"""``GET /.well-known/jwks.json``: the public keys of the gateway's SMART Backend Services client.

A public route on purpose: Epic (and Cerner's JWT system accounts) fetch the JWK Set URL registered
for a back-end app to verify our client assertions, without credentials. It serves only public key
parameters (`adapters.fhir.signing_keys.KeyRing.jwks`); the keyring file is read on every request,
so a rotation (``rcmgw fhir keys rotate``) is published without a restart.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.fhir.signing_keys import KeyRing
from gateway.runtime import Runtime

JWKS_PATH = "/.well-known/jwks.json"
PUBLIC_PATHS = frozenset({JWKS_PATH})
router = APIRouter(tags=["fhir"])


JWK_SET_SCHEMA = {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array"}}}


@router.get(
    JWKS_PATH,
    summary="The gateway's public signing keys (JWK Set)",
    response_model=None,
    responses={200: {"content": {"application/jwk-set+json": {"schema": JWK_SET_SCHEMA}}}},
)
async def jwks(request: Request) -> JSONResponse:
    """Every active and previous signing key, public parameters only."""
    runtime: Runtime = request.app.state.runtime
    key_set = KeyRing(runtime.settings.keys_dir).jwks()
    return JSONResponse(
        key_set, media_type="application/jwk-set+json", headers={"Cache-Control": "public, max-age=300"}
    )
