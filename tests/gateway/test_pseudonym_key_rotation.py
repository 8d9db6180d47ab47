"""Rotating the gateway's pseudonym key file: the first key writes, tickets record its key id, and
old tokens map to new ones through `redaction.rotation.rekey_table`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from testkit import CANARY, canary_event

from adapters.json_event import parse_event
from gateway.keys import load_or_create_keys
from gateway.runtime import build_sealer
from normalizers.normalizer import Normalizer
from redaction import IdentifierKind, PseudonymKey
from redaction.rotation import PseudonymKeyring, rekey_table

OLD = PseudonymKey("psn-2025", b"o" * 32)
NEW = PseudonymKey("psn-2026", b"n" * 32)


def _write_keys(path: Path, keys: list[PseudonymKey]) -> None:
    entries = [{"key_id": k.key_id, "secret": base64.b64encode(k.secret).decode()} for k in keys]
    path.write_text(json.dumps({"keys": entries}))


def test_rotating_the_key_file_changes_tokens_and_the_recorded_key_id(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    load_or_create_keys(keys_dir)
    draft = Normalizer().normalize(parse_event(json.dumps(canary_event()).encode()))
    _write_keys(keys_dir / "pseudonym.json", [OLD])
    before = build_sealer(load_or_create_keys(keys_dir)).seal(draft).ticket.payload
    _write_keys(keys_dir / "pseudonym.json", [NEW, OLD])  # rotation: the new key goes first
    after = build_sealer(load_or_create_keys(keys_dir)).seal(draft).ticket.payload
    assert (before.redaction.key_id, after.redaction.key_id) == ("psn-2025", "psn-2026")
    old_ssn = next(s.token for s in before.subjects if s.kind == "SSN")
    new_ssn = next(s.token for s in after.subjects if s.kind == "SSN")
    assert old_ssn != new_ssn
    ring = PseudonymKeyring([NEW, OLD])
    table = rekey_table([(IdentifierKind.SSN, CANARY["ssn"])], ring.pseudonymizer("psn-2025"), ring.active)
    assert table == {old_ssn: new_ssn}
