"""835 service lines: each denied or adjusted line the claim record does not stand for becomes an
``x12-835-line`` record with its procedure, amounts, CAS and LQ codes and the claim reference; its
fingerprint includes the procedure; lines of a claim denied for one reason fold into one record."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

from testkit import REPO, find_canaries

from adapters.base import SourceRecord
from adapters.x12.context import X12Problem
from adapters.x12.reader import read_x12
from gateway.keys import load_or_create_keys
from gateway.runtime import build_sealer
from normalizers.fingerprint import fingerprint
from normalizers.normalizer import Normalizer

FIXTURES = REPO / "fixtures" / "x12"


def _records(name: str) -> list[SourceRecord]:
    with (FIXTURES / name).open("rb") as handle:
        items = list(read_x12(handle))
    assert not [item for item in items if isinstance(item, X12Problem)]
    return [item for item in items if isinstance(item, SourceRecord)]


def test_a_denied_line_of_a_paid_claim_is_one_line_record(tmp_path: Path) -> None:
    [record] = _records("line-denied-co97.835")
    assert record.record_type == "x12-835-line"
    facts = record.facts
    assert facts["line.procedure"] == "HC:97110" and facts["line.modifiers"] == "GP"
    assert (facts["adjustment.group"], facts["adjustment.carc"], facts["remarks"]) == ("CO", "97", "HE:M15")
    assert (facts["amount.billed"], facts["amount.paid"]) == (Decimal("50"), Decimal("0"))
    claims = [value for value in record.phi if value.kind == "CLAIM"]
    assert [(value.field, value.value) for value in claims] == [("CLP-01", "PCN-0301")]
    draft = Normalizer().normalize(record)
    codes = [(code.system, code.code) for code in draft.codes]
    assert codes[:4] == [
        ("835-LINE", "CO-97@HC:97110"),
        ("CARC", "97"),
        ("CAS-GROUP", "CO"),
        ("PROCEDURE", "HC:97110"),
    ]
    assert ("RARC", "M15") in codes and draft.category == "denial-management"
    body = sealer_body(tmp_path, record)
    for clear in ("PCN-0301", "PAYERCLM301", "LINE0002", "20240110", "QUIXOTE"):
        assert clear not in body
    assert find_canaries(body) == []
    assert "SVC*HC:97110:GP*50.00*0.00**1~" in json.loads(body)["evidence"]


def sealer_body(tmp_path: Path, record: SourceRecord) -> str:
    sealer = build_sealer(load_or_create_keys(tmp_path / "keys"))
    return sealer.seal(Normalizer().normalize(record)).ticket.body.decode("utf-8")


def test_line_fingerprint_includes_the_procedure_and_not_the_claim() -> None:
    [record] = _records("line-denied-co97.835")
    normalizer = Normalizer()
    base = fingerprint(normalizer.normalize(record))
    other_claim = dataclasses.replace(record, phi=(), idempotency_id="other")
    other_procedure = dataclasses.replace(record, facts={**record.facts, "line.procedure": "HC:97112"})
    assert fingerprint(normalizer.normalize(other_claim)) == base
    assert fingerprint(normalizer.normalize(other_procedure)) != base
    [claim] = _records("denial-co97.835")  # the same CARC at claim level is another problem
    assert fingerprint(normalizer.normalize(claim)) != base


def test_a_claim_with_every_line_denied_for_one_reason_is_one_record() -> None:
    [record] = _records("lines-all-denied-co50.835")
    assert record.record_type == "x12-835-claim"
    assert record.facts["lines.folded"] == 3 and record.facts["lines.separate"] == 0
    assert record.facts["lines.procedures"] == "HC:97110 HC:97112 HC:97140"
    assert (record.facts["adjustment.group"], record.facts["adjustment.carc"]) == ("CO", "50")


def test_lines_with_another_reason_than_the_claim_become_line_records() -> None:
    claim, line = _records("lines-mixed-reasons.835")
    assert (claim.record_type, claim.facts["adjustment.carc"], claim.facts["lines.folded"]) == (
        "x12-835-claim",
        "97",
        1,
    )
    assert claim.facts["lines.separate"] == 1
    assert line.record_type == "x12-835-line"
    assert (line.facts["adjustment.carc"], line.facts["line.procedure"]) == ("16", "HC:36415")
    assert line.facts["remarks"] == "HE:MA130"
    assert line.idempotency_id != claim.idempotency_id
