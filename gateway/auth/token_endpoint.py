"""The embedded dev issuer's token endpoint (``POST /oauth/token``), built on authlib.

authlib's `AuthorizationServer` and `ClientCredentialsGrant` (RFC 6749 section 4.4) run the grant:
client authentication (``client_secret_basic`` or ``client_secret_post``), ``grant_type`` dispatch
and the standard error responses. This module supplies what authlib leaves to a framework:

- clients come from `ClientRegistry` (secrets stored only as scrypt hashes); an unknown client and
  a wrong secret get the same answer, ``invalid_client`` with HTTP 401 and ``WWW-Authenticate``;
- the requested scopes must be a subset of the client's allowed scopes (its own plus its roles'),
  else ``invalid_scope``; no scope asks for all of them;
- the token is the same RFC 9068 ``at+jwt`` ES256 token `DevIssuer` mints for ``rcmgw token``.

`DevTokenEndpoint.respond` returns a `TokenOutcome` (status, body, headers, and what the audit log
needs: the client id, the granted scopes, the token's ``jti`` or the OAuth error code). It is
synchronous (the scrypt check is deliberately slow); the route runs it in a thread.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from starlette.datastructures import Headers

from gateway.auth.clients import ClientRegistry, RegisteredClient, hash_secret, secret_matches
from gateway.auth.tokens import DevIssuer

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# Checked against when the client id is unknown, so both failures take the same time.
_DUMMY_HASH = hash_secret("not-a-client-secret")


class DevClient(ClientMixin):  # type: ignore[misc]  # authlib is untyped
    """A `RegisteredClient` as authlib sees it: confidential, client-credentials only."""

    def __init__(self, registered: RegisteredClient) -> None:
        self.registered = registered

    def get_client_id(self) -> str:
        """The client id."""
        return self.registered.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        """Whether ``client_secret`` matches the stored hash (constant time)."""
        return secret_matches(client_secret, self.registered.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Only secret-based authentication at the token endpoint."""
        return endpoint == "token" and method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        """Only the client-credentials grant."""
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes the client may have (all of its scopes when none was asked for)."""
        allowed = self.registered.allowed_scopes
        asked = set(scope_to_list(scope) or []) if scope else set(allowed)
        return " ".join(sorted(asked & allowed))


class _FormRequest(OAuth2Request):  # type: ignore[misc]  # authlib is untyped
    """An `OAuth2Request` over an already-read form body (the route reads it asynchronously)."""

    def __init__(self, method: str, uri: str, form: Mapping[str, str], headers: Mapping[str, str]) -> None:
        super().__init__(method, uri, headers=Headers(headers=dict(headers)))
        self._form = dict(form)
        self.payload = BasicOAuth2Payload(self._form)

    @property
    def form(self) -> dict[str, str]:
        """The form fields."""
        return self._form


class _Grant(ClientCredentialsGrant):  # type: ignore[misc]  # authlib is untyped
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        scope = self.request.payload.scope
        if not scope:
            return
        client: DevClient = self.request.client
        if not set(scope_to_list(scope)) <= client.registered.allowed_scopes:
            raise InvalidScopeError(description="The client may not request this scope.")


@dataclass
class TokenOutcome:
    """One answer of the token endpoint, with what the audit record needs (never the token)."""

    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]]
    client_id: str | None = None
    scope: str = ""
    token_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        """The OAuth error code, None on success."""
        value = self.body.get("error")
        return value if isinstance(value, str) else None


class DevTokenEndpoint(AuthorizationServer):  # type: ignore[misc]  # authlib is untyped
    """authlib's authorization server with the client-credentials grant over `ClientRegistry`."""

    def __init__(self, registry: ClientRegistry, issuer: DevIssuer, *, ttl: int) -> None:
        super().__init__()
        self.registry = registry
        self.issuer = issuer
        self.ttl = ttl
        self.register_grant(_Grant)
        self.register_token_generator("client_credentials", self._generate)
        self.register_client_auth_method("client_secret_basic", self._basic)
        self.register_client_auth_method("client_secret_post", self._post)

    def query_client(self, client_id: str) -> DevClient | None:
        """The registered client with this id."""
        registered = self.registry.get(client_id)
        return None if registered is None else DevClient(registered)

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        """`respond` builds the request itself."""
        return request

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Nothing to store: the tokens are self-contained JWTs (audited by ``jti``)."""

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        """No signal system."""

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> TokenOutcome:
        """The framework-neutral answer."""
        return TokenOutcome(status, dict(body), list(headers))

    def _check(self, client_id: str | None, secret: str | None) -> DevClient | None:
        if not client_id or not secret:
            return None
        client = self.query_client(client_id)
        if client is None:
            secret_matches(secret, _DUMMY_HASH)
            return None
        return client if client.check_client_secret(secret) else None

    def _basic(self, _query: object, request: OAuth2Request) -> DevClient | None:
        return self._check(*extract_basic_authorization(request.headers))

    def _post(self, _query: object, request: OAuth2Request) -> DevClient | None:
        form = request.form
        return self._check(form.get("client_id"), form.get("client_secret"))

    def _generate(
        self,
        *,
        grant_type: str,
        client: DevClient,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        granted = client.get_allowed_scope(scope)
        token = self.issuer.mint(client.get_client_id(), granted.split(), ttl=self.ttl)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl, "scope": granted}

    def respond(
        self, *, method: str, uri: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> TokenOutcome:
        """Run the token request; always a `TokenOutcome` (errors as OAuth error responses)."""
        try:
            request = _FormRequest(method, uri, form, headers)
        except OAuth2Error as error:  # insecure_transport: a secret sent in the clear off loopback
            return self.handle_response(*error())
        outcome: TokenOutcome = self.create_token_response(request)
        if request.client is not None:
            outcome.client_id = request.client.get_client_id()
        else:
            claimed = extract_basic_authorization(request.headers)[0] or form.get("client_id")
            if claimed:
                outcome.extra["claimed_client"] = claimed
        if outcome.status == 200:
            outcome.scope = str(outcome.body.get("scope", ""))
            outcome.token_id = _jti(str(outcome.body["access_token"]))
        return outcome


def _jti(token: str) -> str | None:
    """The ``jti`` of a token this process just minted (read back without re-verifying)."""
    body = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    jti = claims.get("jti") if isinstance(claims, dict) else None
    return jti if isinstance(jti, str) else None
