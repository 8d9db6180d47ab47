"""`PseudonymKey` and `Pseudonymizer`: stable, keyed, normalized tokens that never show the secret."""

from __future__ import annotations

import base64
import os
import re

import pytest

from redaction import IdentifierKind, Pseudonymizer, PseudonymKey
from redaction.errors import PseudonymKeyError, RedactionError
from redaction.normalize import normalize
from redaction.pseudonym import base32_40

TOKEN = re.compile(r"^\[[A-Z][A-Z0-9_]{0,15}:[A-Z2-7]{4}-[A-Z2-7]{4}\]$")
SECRET = bytes(range(32))
K = IdentifierKind


@pytest.fixture
def keyed() -> Pseudonymizer:
    return Pseudonymizer(PseudonymKey("k1", SECRET))


@pytest.mark.parametrize("kind", list(IdentifierKind))
def test_token_matches_the_pattern_for_every_kind(keyed: Pseudonymizer, kind: IdentifierKind) -> None:
    token = keyed.token(kind, "some value 123")
    assert TOKEN.match(token)
    assert token.startswith(f"[{kind.value}:")


def test_token_is_stable_across_instances(keyed: Pseudonymizer) -> None:
    other = Pseudonymizer(PseudonymKey("k1", SECRET))
    assert keyed.token(K.SSN, "123-45-6789") == other.token(K.SSN, "123-45-6789")


@pytest.mark.parametrize(
    ("kind", "one", "other"),
    [
        (K.NAME, "SMITH^JOHN", "John Smith"),
        (K.NAME, "SMITH^JOHN", "Smith, John"),
        (K.NAME, "SMITH^JOHN^^^", "  JOHN   SMITH "),
        (K.SSN, "123-45-6789", "123 45 6789"),
        (K.SSN, "123-45-6789", "123456789"),
        (K.MRN, "mrn-00123", "MRN00123"),
        (K.MEMBER_ID, "xyz 123.456", "XYZ123456"),
        (K.CLAIM, "CLM-2024/0001", "clm20240001"),
        (K.PHONE, "(555) 123-4567", "+1 555 123 4567"),
        (K.FAX, "555.123.4567", "15551234567"),
        (K.DOB, "1980-01-05", "01/05/1980"),
        (K.DOB, "19800105", "Jan 5, 1980"),
        (K.DOB, "1/5/1980", "5 January 1980"),
        (K.DATE, "198001051030-0500", "1980-01-05T10:30:00Z"),
        (K.EMAIL, "Jo@Example.org", " jo@example.org "),
        (K.ADDRESS, "12 Main St.", "12  main st"),
    ],
)
def test_variants_of_one_identifier_give_one_token(
    keyed: Pseudonymizer, kind: IdentifierKind, one: str, other: str
) -> None:
    assert keyed.token(kind, one) == keyed.token(kind, other)


@pytest.mark.parametrize(
    ("kind", "value", "normal"),
    [
        (K.NAME, "SMITH^JOHN^Q.", "john q smith"),
        (K.SSN, "123-45-6789", "123456789"),
        (K.PHONE, "+1 (555) 123-4567", "5551234567"),
        (K.DOB, "01/05/1980", "1980-01-05"),
        (K.DOB, "not a date", "not a date"),
        (K.EMAIL, " Jo@X.org", "jo@x.org"),
        (K.ADDRESS, "12 Main St.", "12 main st"),
    ],
)
def test_normal_forms(kind: IdentifierKind, value: str, normal: str) -> None:
    assert normalize(kind, value) == normal


def test_different_values_and_kinds_give_different_tokens(keyed: Pseudonymizer) -> None:
    assert keyed.token(K.SSN, "123-45-6789") != keyed.token(K.SSN, "123-45-6788")
    assert keyed.token(K.NAME, "SMITH^JOHN") != keyed.token(K.NAME, "SMITH^JANE")
    assert keyed.token(K.DOB, "1980-01-05")[5:] != keyed.token(K.DATE, "1980-01-05")[6:]


def test_a_different_key_gives_different_tokens_and_key_id(keyed: Pseudonymizer) -> None:
    rotated = Pseudonymizer(PseudonymKey("k2", bytes(range(1, 33))))
    assert rotated.key_id == "k2"
    assert keyed.key_id == "k1"
    assert rotated.token(K.SSN, "123-45-6789") != keyed.token(K.SSN, "123-45-6789")
    assert rotated.digest(b"body") != keyed.digest(b"body")


@pytest.mark.parametrize("length", [0, 1, 16, 31])
def test_a_short_secret_is_refused(length: int) -> None:
    with pytest.raises(PseudonymKeyError) as caught:
        PseudonymKey("short", b"s" * length)
    assert isinstance(caught.value, RedactionError)
    assert caught.value.code == "redaction.key"
    assert "s" * max(length, 2) not in str(caught.value).replace("short", "")


def test_an_empty_key_id_or_non_bytes_secret_is_refused() -> None:
    with pytest.raises(PseudonymKeyError):
        PseudonymKey("  ", SECRET)
    with pytest.raises(PseudonymKeyError):
        PseudonymKey("k", "x" * 40)  # type: ignore[arg-type]


def test_the_secret_never_shows(keyed: Pseudonymizer) -> None:
    key = PseudonymKey("k1", b"TOPSECRET-" * 4)
    for rendered in (repr(key), str(key), repr(keyed), str(keyed)):
        assert "TOPSECRET" not in rendered
        assert "\\x00\\x01" not in rendered
    assert "k1" in repr(key)


def test_generated_keys_are_long_and_distinct() -> None:
    first, second = PseudonymKey.generate("a"), PseudonymKey.generate("a")
    assert len(first.secret) >= 32
    assert first.secret != second.secret


def test_digest_is_keyed_hex_and_stable(keyed: Pseudonymizer) -> None:
    digest = keyed.digest(b"ISA*00*...~")
    assert re.fullmatch(r"[0-9a-f]{32}", digest)
    assert digest == keyed.digest(b"ISA*00*...~")
    assert digest != keyed.digest(b"ISA*00*..~")


def test_base32_40_is_the_standard_encoding_of_five_bytes() -> None:
    samples = [bytes(5), b"\xff" * 5, *(os.urandom(32) for _ in range(2000))]
    for data in samples:
        assert base32_40(data) == base64.b32encode(data[:5]).decode("ascii")
