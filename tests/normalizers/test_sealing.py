"""Sealing: every marked value becomes a token, every text is redacted, failures fail closed."""

from __future__ import annotations

import dataclasses
import json

import pytest
from testkit import canary_event, find_canaries

from adapters.json_event import parse_event
from normalizers.draft import DraftIdentifier
from normalizers.errors import SealingFailed
from normalizers.normalizer import Normalizer
from normalizers.sealing import Sealer
from redaction import Redactor
from redaction.testing import FailingDetector, deterministic_pseudonymizer


def _sealer(*detectors: object) -> Sealer:
    from redaction import default_detector_registry

    pseudonymizer = deterministic_pseudonymizer()
    chosen = list(detectors) or list(default_detector_registry())
    return Sealer(Redactor(pseudonymizer, chosen), pseudonymizer)  # type: ignore[arg-type]


def _draft():  # type: ignore[no-untyped-def]
    return Normalizer().normalize(parse_event(json.dumps(canary_event()).encode()))


def test_sealed_ticket_has_tokens_and_no_canary() -> None:
    result = _sealer().seal(_draft())
    assert find_canaries(result.ticket.body) == []
    kinds = {subject.kind for subject in result.ticket.payload.subjects}
    assert kinds == {"NAME", "SSN", "DOB", "PHONE", "EMAIL", "MRN", "CLAIM"}
    assert result.ticket.payload.redaction.counts["NAME"] >= 3


def test_children_and_evidence_are_tokenized_and_redacted() -> None:
    draft = dataclasses.replace(
        _draft(),
        children=(
            DraftIdentifier("CLAIM", "CLP01", "PCN-0001"),
            DraftIdentifier("CLAIM", "CLP01", "PCN-0002"),
            DraftIdentifier("CLAIM", "CLP01", "PCN-0001"),
        ),
        evidence="CLP*PCN-0001*4*100*0~NM1*QC*1*QUIXOTE*ZEBEDIAH~CLP*PCN-0002*4*50*0~",
    )
    payload = _sealer().seal(draft).ticket.payload
    assert len(payload.children) == 2 and all(child.kind == "CLAIM" for child in payload.children)
    assert "PCN-000" not in payload.evidence and "QUIXOTE" not in payload.evidence
    assert payload.children[0].token in payload.evidence
    assert {s.token for s in payload.subjects}.isdisjoint(
        {c.token for c in payload.children} - {s.token for s in payload.subjects}
    )


def test_same_input_gives_same_ticket_id_and_fingerprint() -> None:
    first, second = _sealer().seal(_draft()), _sealer().seal(_draft())
    assert (first.ticket.id, first.ticket.fingerprint, first.dedup_key) == (
        second.ticket.id,
        second.ticket.fingerprint,
        second.dedup_key,
    )


def test_redaction_failure_fails_closed_without_quoting_values() -> None:
    with pytest.raises(SealingFailed) as caught:
        _sealer(FailingDetector()).seal(_draft())
    assert find_canaries(str(caught.value)) == []
