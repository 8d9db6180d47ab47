"""Keyed pseudonyms: the same identifier gives the same token, and nobody without the key can tell
which identifier a token stands for.

A token is ``[KIND:XXXX-XXXX]``: the kind label (`IdentifierKind.value`) and 40 bits of
``HMAC-SHA256(secret, "rcmgw.token.v1" | kind | normalized value)`` written in the RFC 4648 base32
alphabet (``A-Z2-7``). The value is normalized first (`redaction.normalize`), so ``SMITH^JOHN`` and
``John Smith``, or ``123-45-6789`` and ``123456789``, give one token. 40 bits is enough to group
tickets by patient or claim and too little to be a useful lookup key on its own; a collision merges
two groups, it never reveals a value.

`Pseudonymizer.digest` is the same HMAC under another domain label, for dedup keys of raw inputs (a
plain hash of a PHI-bearing body could be brute-forced).

Key rotation
------------
Tokens are only stable under one key. Every `RedactionOutcome` records the ``key_id`` that made its
tokens, and sealed tickets carry it, so:

1. Generate a new secret (at least 32 random bytes) under a new ``key_id`` and deploy it; the
   gateway pseudonymizes with exactly one key at a time.
2. From then on new tickets carry new tokens and the new ``key_id``. Tickets made before rotation
   keep their old tokens; grouping across the boundary is by ``key_id`` + token, never token alone.
3. Keep the old secret only as long as something must recompute old tokens (for example the
   re-identification vault answering a lookup); then destroy it. Without it old tokens are
   unlinkable to anything, which is the point of rotating after a suspected key exposure.

The secret never appears in ``repr``, ``str``, logs or exception messages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from redaction.errors import PseudonymKeyError
from redaction.kinds import IdentifierKind
from redaction.normalize import normalize

MIN_SECRET_BYTES = 32
TOKEN_PATTERN = r"\[[A-Z][A-Z0-9_]{0,15}:[A-Z2-7]{4}-[A-Z2-7]{4}\]"  # noqa: S105 - a regex, not a secret

_TOKEN_DOMAIN = b"rcmgw.token.v1\x00"
_DIGEST_DOMAIN = b"rcmgw.digest.v1\x00"


_B32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_PAIRS = tuple(a + b for a in _B32_ALPHABET for b in _B32_ALPHABET)  # 10 bits -> 2 characters


def base32_40(data: bytes) -> str:
    """``base64.b32encode(data[:5])`` (40 bits, 8 characters, no padding) by table lookup: the
    standard library's encoder is pure Python and cost as much as the HMAC itself."""
    bits = int.from_bytes(data[:5], "big")
    pairs = _B32_PAIRS
    return pairs[bits >> 30] + pairs[(bits >> 20) & 1023] + pairs[(bits >> 10) & 1023] + pairs[bits & 1023]


@dataclass(frozen=True, slots=True)
class PseudonymKey:
    """A pseudonym secret and the id under which tokens made with it are recorded.

    ``secret`` must be at least 32 bytes (`PseudonymKeyError` otherwise) and is left out of
    ``repr`` and ``str``. ``key_id`` is public: it is written into every redaction report.
    """

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.key_id.strip():
            raise PseudonymKeyError("pseudonym key has an empty key_id")
        secret: object = self.secret
        if not isinstance(secret, bytes):
            raise PseudonymKeyError(f"pseudonym key {self.key_id!r} secret is not bytes")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise PseudonymKeyError(
                f"pseudonym key {self.key_id!r} is {len(self.secret)} bytes; "
                f"at least {MIN_SECRET_BYTES} are required"
            )

    @classmethod
    def generate(cls, key_id: str) -> PseudonymKey:
        """A new key with 32 random bytes from `secrets` (for key creation tooling and tests)."""
        return cls(key_id=key_id, secret=secrets.token_bytes(MIN_SECRET_BYTES))


class Pseudonymizer:
    """Turns identifier values into keyed tokens and raw inputs into keyed digests.

    Contract: ``token(kind, value)`` is a pure function of the key, the kind and the normalized
    value; it always matches `TOKEN_PATTERN`; different keys give (with overwhelming probability)
    different tokens. ``digest(data)`` is 32 lower-case hex characters, pure in the key and data.
    """

    def __init__(self, key: PseudonymKey) -> None:
        self._key = key

    @property
    def key_id(self) -> str:
        """The id of the key in use, recorded beside every token it makes."""
        return self._key.key_id

    def token(self, kind: IdentifierKind, value: str, *, kept: str | None = None) -> str:
        """The token ``[KIND:XXXX-XXXX]`` for ``value`` as an identifier of ``kind``.

        ``kept`` (upper-case letters and digits, at most 6) is a public part written into the label
        as ``[KIND_KEPT:XXXX-XXXX]`` (`redaction.render`); it does not change the code.
        """
        return self.token_pair(kind, value, kept=kept)[1]

    def token_pair(self, kind: IdentifierKind, value: str, *, kept: str | None = None) -> tuple[str, str]:
        """``(token(kind, value), token(kind, value, kept=kept))`` with one HMAC."""
        label = kind.value
        message = _TOKEN_DOMAIN + label.encode("ascii") + b"\x00" + normalize(kind, value).encode("utf-8")
        mac = hmac.digest(self._key.secret, message, "sha256")
        code = base32_40(mac)
        plain = f"[{label}:{code[:4]}-{code[4:]}]"
        if kept is None:
            return plain, plain
        if not (kept.isascii() and kept.isalnum() and kept.upper() == kept and len(kept) <= 6):
            raise ValueError("a kept part is at most 6 upper-case letters or digits")
        return plain, f"[{label}_{kept}:{code[:4]}-{code[4:]}]"

    def digest(self, data: bytes) -> str:
        """A keyed digest of ``data`` (32 hex characters), for dedup keys of raw PHI-bearing inputs."""
        return hmac.new(self._key.secret, _DIGEST_DOMAIN + data, hashlib.sha256).hexdigest()[:32]

    def __repr__(self) -> str:
        return f"Pseudonymizer(key_id={self.key_id!r})"
