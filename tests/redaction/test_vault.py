"""The re-identification vault: encrypted at rest, bound to its token, retention, key rotation."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from redaction import Identifier, IdentifierKind, Redactor
from redaction.errors import VaultError
from redaction.testing import deterministic_pseudonymizer
from redaction.vault import ReidentificationVault

K = IdentifierKind
KEY_A, KEY_B = b"a" * 32, b"b" * 32


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _vault(
    path: Path, clock: Clock, keys: dict[str, bytes] | None = None, active: str = "v1"
) -> ReidentificationVault:
    vault = ReidentificationVault(
        path, keys or {"v1": KEY_A}, active, retention=timedelta(days=2), clock=clock
    )
    vault.open()
    return vault


def test_values_come_back_and_are_not_stored_in_clear(tmp_path: Path) -> None:
    vault = _vault(tmp_path / "v.db", Clock())
    vault.remember("[SSN:ABCD-EFGH]", K.SSN, "219-09-9999")
    entry = vault.lookup("[SSN:ABCD-EFGH]")
    assert entry is not None and (entry.kind, entry.value) == (K.SSN, "219-09-9999")
    assert "219-09-9999" not in repr(entry)
    vault.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"219-09-9999" not in data and b"219099999" not in data
    assert vault_lookup_unknown(tmp_path) is None


def vault_lookup_unknown(tmp_path: Path) -> object:
    return _vault(tmp_path / "v.db", Clock()).lookup("[SSN:ZZZZ-ZZZZ]")


def test_a_row_moved_to_another_token_does_not_decrypt(tmp_path: Path) -> None:
    vault = _vault(tmp_path / "v.db", Clock())
    vault.remember("[SSN:ABCD-EFGH]", K.SSN, "219-09-9999")
    vault.remember("[SSN:WXYZ-WXYZ]", K.SSN, "078-05-1120")
    with sqlite3.connect(tmp_path / "v.db") as conn:
        conn.execute(
            "UPDATE vault SET blob = (SELECT blob FROM vault WHERE token = '[SSN:ABCD-EFGH]')"
            " WHERE token = '[SSN:WXYZ-WXYZ]'"
        )
    with pytest.raises(VaultError) as caught:
        vault.lookup("[SSN:WXYZ-WXYZ]")
    assert "219" not in str(caught.value)


def test_retention_expires_rows_and_a_new_write_refreshes_them(tmp_path: Path) -> None:
    clock = Clock()
    vault = _vault(tmp_path / "v.db", clock)
    vault.remember("[MRN:AAAA-AAAA]", K.MRN, "MRN1")
    vault.remember("[MRN:BBBB-BBBB]", K.MRN, "MRN2")
    clock.now += timedelta(days=1)
    vault.remember("[MRN:BBBB-BBBB]", K.MRN, "MRN2")
    clock.now += timedelta(days=1, hours=1)
    assert vault.lookup("[MRN:AAAA-AAAA]") is None
    assert vault.lookup("[MRN:BBBB-BBBB]") is not None
    assert vault.purge_expired() == 1


def test_vault_key_rotation_keeps_old_rows_readable(tmp_path: Path) -> None:
    clock = Clock()
    _vault(tmp_path / "v.db", clock).remember("[SSN:ABCD-EFGH]", K.SSN, "219-09-9999")
    rotated = _vault(tmp_path / "v.db", clock, {"v2": KEY_B, "v1": KEY_A}, active="v2")
    rotated.remember("[SSN:WXYZ-WXYZ]", K.SSN, "078-05-1120")
    assert rotated.lookup("[SSN:ABCD-EFGH]").value == "219-09-9999"  # type: ignore[union-attr]
    without_old = _vault(tmp_path / "v.db", clock, {"v2": KEY_B}, active="v2")
    assert without_old.lookup("[SSN:WXYZ-WXYZ]").value == "078-05-1120"  # type: ignore[union-attr]
    with pytest.raises(VaultError, match="v1"):
        without_old.lookup("[SSN:ABCD-EFGH]")


def test_bad_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VaultError):
        ReidentificationVault(tmp_path / "v.db", {"v1": b"short"}, "v1", retention=timedelta(days=1))
    with pytest.raises(VaultError):
        ReidentificationVault(tmp_path / "v.db", {"v1": KEY_A}, "v9", retention=timedelta(days=1))


def test_the_redactor_stores_every_token_it_writes(tmp_path: Path) -> None:
    vault = _vault(tmp_path / "v.db", Clock())
    from redaction import default_detector_registry

    redactor = Redactor(deterministic_pseudonymizer(), default_detector_registry(), observer=vault)
    outcome = redactor.redact(
        [Identifier(K.NAME, "QUIXOTE^ZEBEDIAH", "PID-5")],
        {"note": "Zebediah Quixote, SSN 219-09-9999, lives at 12 Main St, Boston, MA 02115."},
    )
    assert vault.lookup(outcome.tokens[0]).value == "QUIXOTE^ZEBEDIAH"  # type: ignore[union-attr]
    for finding in outcome.findings["note"]:
        entry = vault.lookup(finding.token)
        assert entry is not None, finding.kind
    ssn = next(f for f in outcome.findings["note"] if f.kind is K.SSN)
    assert vault.lookup(ssn.token).value == "219-09-9999"  # type: ignore[union-attr]
    zip_token = next(f.token for f in outcome.findings["note"] if f.kind is K.ZIP)
    assert zip_token.startswith("[ZIP_021:")
