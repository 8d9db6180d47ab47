"""Pseudonym key rotation: which key writes, and how old tokens are carried over.

Exactly one key writes tokens at a time (the *active* key, the first one in the key file); every
ticket records the ``key_id`` that made its tokens. After a rotation, tokens made under the old key
and the new key differ for the same value, so grouping across the boundary needs a translation.
`rekey_table` is that translation: given the clear values (only the re-identification vault has
them) it maps every old token to the new token of the same value. Without the vault, old tokens
stay grouped by ``(key_id, token)`` and are never linked to new ones; after a suspected key
exposure that is the point. See docs/redaction.md, "Key rotation".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from redaction.errors import PseudonymKeyError
from redaction.kinds import IdentifierKind
from redaction.pseudonym import Pseudonymizer, PseudonymKey


class PseudonymKeyring:
    """Every pseudonym key still held, the first one active.

    Contract: ``active`` writes new tokens; ``pseudonymizer(key_id)`` recomputes tokens of an older
    key (for re-keying); key ids are unique.
    """

    def __init__(self, keys: Sequence[PseudonymKey]) -> None:
        if not keys:
            raise PseudonymKeyError("a keyring needs at least one pseudonym key")
        ids = [key.key_id for key in keys]
        if len(set(ids)) != len(ids):
            raise PseudonymKeyError("pseudonym key ids must be unique")
        self._keys = {key.key_id: key for key in keys}
        self._active = keys[0].key_id

    @property
    def active(self) -> Pseudonymizer:
        """The pseudonymizer that writes new tokens."""
        return Pseudonymizer(self._keys[self._active])

    @property
    def key_ids(self) -> list[str]:
        """Every key id, active first."""
        return list(self._keys)

    def pseudonymizer(self, key_id: str) -> Pseudonymizer:
        """The pseudonymizer of ``key_id``; `PseudonymKeyError` when that key is not held."""
        try:
            return Pseudonymizer(self._keys[key_id])
        except KeyError:
            raise PseudonymKeyError(f"pseudonym key {key_id!r} is not in the keyring") from None


def rekey_table(
    values: Iterable[tuple[IdentifierKind, str]], old: Pseudonymizer, new: Pseudonymizer
) -> dict[str, str]:
    """Old token -> new token for each ``(kind, value)`` (the values come from the vault)."""
    return {old.token(kind, value): new.token(kind, value) for kind, value in values}
