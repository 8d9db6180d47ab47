"""Deny by default: every route but the health checks depends on a scope requirement."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from gateway.api import jwks
from gateway.api.health import PUBLIC_PATHS
from gateway.api.oauth import TOKEN_PATHS
from gateway.api.saml import SIGN_IN_PATHS
from gateway.api.sync import CALLBACK_PATHS
from gateway.app import create_app
from gateway.auth.deps import ScopeRequirement
from gateway.auth.scopes import Scope
from gateway.console.access import SIGN_IN_PATHS as CONSOLE_SIGN_IN_PATHS
from gateway.settings import Settings


def route_scopes(app: FastAPI) -> dict[str, list[Scope]]:
    """Every route's path -> the scopes its dependencies require (an empty list: unguarded)."""
    found: dict[str, list[Scope]] = {}
    for context in iter_route_contexts(app.routes):
        scopes: list[Scope] = []
        dependant = getattr(context, "dependant", None)
        stack = [dependant] if dependant is not None else []
        while stack:
            current = stack.pop()
            if isinstance(current.call, ScopeRequirement):
                scopes.append(current.call.scope)
            stack.extend(current.dependencies)
        found[str(context.path)] = scopes
    return found


def test_every_route_requires_a_scope_except_health(settings: Settings) -> None:
    scopes = route_scopes(create_app(settings))
    assert {"/v1/events", "/healthz", "/readyz"} <= set(scopes)
    # TOKEN_PATHS (/oauth/token, the dev issuer's token endpoint) is open by nature: it is how a
    # service gets a scope, and it authenticates the client itself (client secret, RFC 6749 2.3.1).
    open_paths = PUBLIC_PATHS | SIGN_IN_PATHS | jwks.PUBLIC_PATHS | TOKEN_PATHS
    open_paths |= CONSOLE_SIGN_IN_PATHS  # console sign-in/out: each checks what it receives itself
    # CALLBACK_PATHS (ticketing systems' status callbacks) authenticate per sink: HMAC signature or
    # sink token, timestamp window and nonce (tests/gateway/test_sync_callbacks.py).
    open_paths |= CALLBACK_PATHS
    unguarded = sorted(path for path, required in scopes.items() if not required and path not in open_paths)
    assert unguarded == []


def test_sign_in_routes_are_only_the_saml_endpoints(settings: Settings) -> None:
    paths = {path for path in route_scopes(create_app(settings)) if path.startswith("/saml")}
    assert paths == SIGN_IN_PATHS


def test_console_pages_require_scopes_and_only_sign_in_is_open(settings: Settings) -> None:
    scopes = route_scopes(create_app(settings))
    console = {path: required for path, required in scopes.items() if path.startswith("/console")}
    assert {path for path, required in console.items() if not required} == CONSOLE_SIGN_IN_PATHS
    assert console["/console/entries/replay"] == [Scope.SPOOL_REPLAY]
    assert console["/console/spool/purge"] == [Scope.SPOOL_REPLAY]
    assert console["/console/audit"] == [Scope.AUDIT_READ]


def test_the_enumeration_catches_an_unguarded_route(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/v1/oops")
    async def oops() -> dict[str, str]:
        return {}

    assert route_scopes(app)["/v1/oops"] == []


def test_events_route_requires_events_write(settings: Settings) -> None:
    assert route_scopes(create_app(settings))["/v1/events"] == [Scope.EVENTS_WRITE]


def test_security_routes_require_audit_read(settings: Settings) -> None:
    scopes = route_scopes(create_app(settings))
    assert scopes["/v1/audit"] == [Scope.AUDIT_READ]
    assert scopes["/v1/dataflow"] == [Scope.AUDIT_READ]


def test_public_paths_are_only_health() -> None:
    assert frozenset({"/healthz", "/readyz"}) == PUBLIC_PATHS


def test_the_only_other_public_path_is_the_jwk_set(settings: Settings) -> None:
    # Epic fetches the JWK Set URL of a back-end app without credentials; nothing else is public.
    assert frozenset({"/.well-known/jwks.json"}) == jwks.PUBLIC_PATHS
    assert route_scopes(create_app(settings))["/.well-known/jwks.json"] == []


def test_fhir_push_routes_require_events_write(settings: Settings) -> None:
    scopes = route_scopes(create_app(settings))
    assert scopes["/v1/adapters/epic"] == [Scope.EVENTS_WRITE]
    assert scopes["/v1/adapters/cerner"] == [Scope.EVENTS_WRITE]


def test_the_token_endpoint_is_the_only_oauth_path(settings: Settings) -> None:
    paths = {path for path in route_scopes(create_app(settings)) if path.startswith("/oauth")}
    assert frozenset({"/oauth/token"}) == TOKEN_PATHS == paths
