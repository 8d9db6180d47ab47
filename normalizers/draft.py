"""`TicketDraft`: a ticket being built by the normalizer and its rules, before redaction.

A draft may still hold PHI: in ``identifiers`` and ``children`` (values the adapter marked) and in
``summary``, ``description`` and ``evidence`` (built from source text). Only
`normalizers.sealing.seal` turns it into a `SealedTicket`, through the redactor. Rules work on
drafts with `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from normalizers.payload import (
    Code,
    Financial,
    Lifecycle,
    Origin,
    Payer,
    Priority,
    Sla,
    SourceInfo,
    SubjectRef,
)


@dataclass(frozen=True, slots=True)
class DraftIdentifier:
    """An identifier to pseudonymize: its kind label, where it came from, and whether the ticket
    should list its token as a subject (patient, claim, account)."""

    kind: str
    field: str
    value: str = dataclasses.field(repr=False)
    subject: bool = True


@dataclass(frozen=True, slots=True)
class Recurrence:
    """How often the draft's problem was seen recently (filled in by the ingest pipeline from the
    lifecycle store before the post-redaction rule stage; 1/1 when nothing is known)."""

    occurrences: int = 1
    facilities: int = 1


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """Everything a ticket will carry, with text not yet redacted."""

    source: SourceInfo
    received_at: datetime
    category: str
    taxonomy_version: str
    summary: str
    occurred_at: datetime | None = None
    origin: Origin = Origin.SYSTEM_GENERATED
    codes: tuple[Code, ...] = ()
    payer: Payer | None = None
    facility: str | None = None
    financial: Financial = dataclasses.field(default_factory=Financial)
    priority: Priority = Priority.NORMAL
    tier: int = 1
    queue: str = "unrouted"
    rule_id: str = "none"
    rationale: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = dataclasses.field(default="", repr=False)
    identifiers: tuple[DraftIdentifier, ...] = ()
    evidence: str = dataclasses.field(default="", repr=False)
    children: tuple[DraftIdentifier, ...] = ()
    dedup_basis: str = dataclasses.field(default="", repr=False)
    raw_digest_input: bytes = dataclasses.field(default=b"", repr=False)
    # Routing extensions (payload 1.2) and what the post-redaction rule stage and lifecycle need.
    subcategory: str | None = None
    owner: str | None = None
    co_owner: str | None = None
    sla: Sla | None = None
    override: str | None = None
    recurrence: Recurrence = dataclasses.field(default_factory=Recurrence)
    redacted: bool = False
    lifecycle: Lifecycle | None = None
    child_tokens: tuple[SubjectRef, ...] = ()
    fingerprint_override: str | None = None
