"""Key rotation: one active key writes; tickets record the key id; old tokens map to new ones only
through the explicit re-keying table (which needs the clear values)."""

from __future__ import annotations

import pytest

from redaction import IdentifierKind, PseudonymKey, PseudonymKeyError
from redaction.rotation import PseudonymKeyring, rekey_table

K = IdentifierKind
OLD = PseudonymKey("psn-2025", b"o" * 32)
NEW = PseudonymKey("psn-2026", b"n" * 32)


def test_the_first_key_is_active_and_older_keys_still_recompute() -> None:
    ring = PseudonymKeyring([NEW, OLD])
    assert ring.active.key_id == "psn-2026"
    assert ring.key_ids == ["psn-2026", "psn-2025"]
    old_token = ring.pseudonymizer("psn-2025").token(K.SSN, "123-45-6789")
    assert ring.active.token(K.SSN, "123-45-6789") != old_token
    with pytest.raises(PseudonymKeyError):
        ring.pseudonymizer("psn-1999")
    with pytest.raises(PseudonymKeyError):
        PseudonymKeyring([OLD, OLD])


def test_rekey_table_maps_every_old_token_to_the_new_token_of_the_same_value() -> None:
    ring = PseudonymKeyring([NEW, OLD])
    values = [(K.SSN, "123-45-6789"), (K.NAME, "SMITH^JOHN"), (K.MRN, "MRN-0042")]
    table = rekey_table(values, ring.pseudonymizer("psn-2025"), ring.active)
    for kind, value in values:
        old = ring.pseudonymizer("psn-2025").token(kind, value)
        assert table[old] == ring.active.token(kind, value)
    # Spellings that normalize alike map to the same new token.
    assert table[ring.pseudonymizer("psn-2025").token(K.NAME, "John Smith")] == ring.active.token(
        K.NAME, "SMITH^JOHN"
    )
