"""`PayloadCipher`: AES-256-GCM round trips, authentication failures, rotation, key hygiene."""

from __future__ import annotations

import pytest

from fallback import PayloadCipher, SpoolCorrupt

K1 = bytes(range(32))
K2 = bytes(range(32, 64))


def test_round_trip_with_fresh_nonces():
    cipher = PayloadCipher({"k1": K1}, "k1")
    key_id, blob1 = cipher.encrypt(b'{"id": "x"}', b"aad")
    _, blob2 = cipher.encrypt(b'{"id": "x"}', b"aad")
    assert key_id == "k1"
    assert blob1 != blob2
    assert b'"id"' not in blob1
    assert cipher.decrypt("k1", blob1, b"aad") == b'{"id": "x"}'


@pytest.mark.parametrize(
    "tamper",
    [
        lambda blob: (blob[:-1] + bytes([blob[-1] ^ 1]), b"aad", "k1"),
        lambda blob: (blob, b"other-aad", "k1"),
        lambda blob: (blob, b"aad", "unknown"),
        lambda blob: (blob[:10], b"aad", "k1"),
        lambda blob: (b"", b"aad", "k1"),
    ],
    ids=["flipped-bit", "wrong-aad", "unknown-key-id", "truncated", "empty"],
)
def test_decrypt_failures_are_spool_corrupt(tamper):
    cipher = PayloadCipher({"k1": K1, "k2": K2}, "k1")
    _, blob = cipher.encrypt(b"payload", b"aad")
    changed, aad, key_id = tamper(blob)
    with pytest.raises(SpoolCorrupt):
        cipher.decrypt(key_id, changed, aad)


def test_wrong_key_under_the_same_id_fails():
    _, blob = PayloadCipher({"k1": K1}, "k1").encrypt(b"payload", b"aad")
    with pytest.raises(SpoolCorrupt):
        PayloadCipher({"k1": K2}, "k1").decrypt("k1", blob, b"aad")


def test_rotation_encrypts_with_active_and_decrypts_with_all():
    old = PayloadCipher({"k1": K1}, "k1")
    _, old_blob = old.encrypt(b"old", b"a")
    rotated = PayloadCipher({"k1": K1, "k2": K2}, "k2")
    key_id, new_blob = rotated.encrypt(b"new", b"a")
    assert key_id == "k2" == rotated.active_key_id
    assert rotated.key_ids == {"k1", "k2"}
    assert rotated.decrypt("k1", old_blob, b"a") == b"old"
    assert rotated.decrypt("k2", new_blob, b"a") == b"new"


@pytest.mark.parametrize(
    ("keys", "active"),
    [({"k1": b"short"}, "k1"), ({"k1": K1}, "k2"), ({"": K1}, ""), ({}, "k1")],
    ids=["short-key", "active-missing", "empty-id", "no-keys"],
)
def test_bad_configuration_is_rejected(keys, active):
    with pytest.raises(ValueError):
        PayloadCipher(keys, active)


def test_generated_keys_are_32_random_bytes_and_never_shown():
    key = PayloadCipher.generate_key()
    assert len(key) == 32 and key != PayloadCipher.generate_key()
    cipher = PayloadCipher({"k1": key}, "k1")
    assert key.hex() not in repr(cipher) and repr(key) not in repr(cipher)
