"""Access tokens: validation (the resource server side) and minting by the embedded dev issuer.

Tokens are JWTs per RFC 9068: header ``typ`` must be ``at+jwt``; ``iss``, ``aud``, ``exp``, ``iat``,
``sub`` and ``client_id`` are required; ``nbf`` and ``exp`` are checked with a leeway of at most
60 s; only the algorithms in `ALLOWED_ALGORITHMS` are accepted (never ``none``, never HMAC), and
only keys from the configured key set (matched by ``kid``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import ECKey, KeySet

from gateway.auth.errors import AuthenticationFailed

ALLOWED_ALGORITHMS = ("ES256", "ES384", "RS256", "RS384", "EdDSA")
MAX_TOKEN_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made the request, and what they may do.

    A *service* authenticates with an access token: ``subject`` and ``client_id`` come from the
    token, ``token_id`` is its ``jti`` (never the token itself). A *person* signs in with SAML and
    holds a server-side session: ``subject`` is the IdP's NameID, ``client_id`` is ``"saml"``,
    ``session_id`` names the session and ``roles`` the job functions their scopes came from. Routes
    see one type either way; `ScopeRequirement` accepts both.
    """

    subject: str
    client_id: str
    scopes: frozenset[str]
    token_id: str | None = None
    kind: str = "service"
    roles: frozenset[str] = frozenset()
    session_id: str | None = None

    @property
    def actor(self) -> str:
        """The id written to the audit log: the client id of a service, the user of a person."""
        return self.client_id if self.kind == "service" else f"user:{self.subject}"

    def has(self, scope: str) -> bool:
        """Whether the principal was granted ``scope`` (``admin`` grants every scope)."""
        return scope in self.scopes or "admin" in self.scopes


class TokenValidator:
    """Validates bearer tokens against a key set, issuer and audience."""

    def __init__(
        self,
        keys: KeySet | Callable[[], KeySet],
        *,
        issuer: str,
        audience: str,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= leeway <= 60:
            raise ValueError("leeway must be between 0 and 60 seconds")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._clock = clock

    def validate(self, token: str) -> Principal:
        """The principal of a valid token; `AuthenticationFailed` with a reason otherwise."""
        if not token or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
            raise AuthenticationFailed("malformed")
        try:
            keys = self._keys() if callable(self._keys) else self._keys
            decoded = jwt.decode(token, keys, algorithms=list(ALLOWED_ALGORITHMS))
        except BadSignatureError:
            raise AuthenticationFailed("bad_signature") from None
        except ValueError as error:
            reason = "unknown_key" if "key" in str(error).lower() else "malformed"
            raise AuthenticationFailed(reason) from None
        except JoseError as error:
            reason = "bad_algorithm" if "algorithm" in str(error).lower() else "malformed"
            raise AuthenticationFailed(reason) from None
        if decoded.header.get("typ") not in ("at+jwt", "application/at+jwt"):
            raise AuthenticationFailed("wrong_type")
        self._check_claims(decoded.claims)
        claims = decoded.claims
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise AuthenticationFailed("malformed")
        return Principal(
            subject=str(claims["sub"]),
            client_id=str(claims.get("client_id", claims["sub"])),
            scopes=frozenset(scope.split()),
            token_id=str(claims["jti"]) if "jti" in claims else None,
        )

    def _check_claims(self, claims: dict[str, object]) -> None:
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=self._leeway,
            iss={"essential": True, "value": self._issuer},
            aud={"essential": True, "value": self._audience},
            exp={"essential": True},
            sub={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise AuthenticationFailed("expired") from None
        except MissingClaimError:
            raise AuthenticationFailed("malformed") from None
        except InvalidClaimError as error:
            reason = {
                "iss": "wrong_issuer",
                "aud": "wrong_audience",
                "nbf": "not_yet_valid",
                "iat": "not_yet_valid",
            }.get(error.claim, "malformed")
            raise AuthenticationFailed(reason) from None
        except JoseError:
            raise AuthenticationFailed("malformed") from None


class DevIssuer:
    """The embedded issuer of the out-of-the-box mode: mints ES256 access tokens with one key."""

    def __init__(
        self, key: ECKey, *, issuer: str, audience: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self._clock = clock

    @property
    def key_set(self) -> KeySet:
        """The public key set that validates this issuer's tokens."""
        return KeySet([ECKey.import_key(self._key.as_dict(private=False))])

    def mint(
        self, client: str, scopes: Iterable[str], *, ttl: int = 3600, not_before: int | None = None
    ) -> str:
        """A signed access token for ``client`` with ``scopes``, valid for ``ttl`` seconds."""
        now = int(self._clock())
        claims: dict[str, object] = {
            "iss": self._issuer,
            "sub": client,
            "client_id": client,
            "aud": self._audience,
            "iat": now,
            "nbf": now if not_before is None else not_before,
            "exp": now + ttl,
            "jti": secrets.token_hex(16),
            "scope": " ".join(sorted(set(scopes))),
        }
        header = {"alg": "ES256", "typ": "at+jwt", "kid": str(self._key.kid)}
        return jwt.encode(header, claims, self._key)
