"""Sealing: a draft goes through the redactor and comes out as a `SealedTicket`, the only type the
spool accepts. If anything fails here the record fails closed (`SealingFailed`): the caller
quarantines it and never spools it.

Post-redaction rule stage: a `Sealer` may hold ``post_rules`` (the ``sealed`` stage of the rule
set). They run on a view of the draft whose summary, description and evidence are the REDACTED
texts and whose identifiers and children are removed (``redacted=True``), so rules that match text
patterns never see clear PHI.

The dedup key and the ticket id come from the source's own id when it has one, otherwise from a
keyed digest of the raw input (a plain hash of a PHI-bearing body could be brute-forced).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from pydantic import ValidationError

from adapters.base import SourceRecord
from normalizers.draft import TicketDraft
from normalizers.errors import SealingFailed
from normalizers.fingerprint import FINGERPRINT_FIELDS, fingerprint
from normalizers.payload import RedactionReport, Routing, SubjectRef, TicketPayload
from normalizers.rules import RuleChain
from normalizers.sealed import _SEAL_CAPABILITY, SealedTicket
from redaction import Identifier, IdentifierKind, Pseudonymizer, RedactionError, Redactor


@dataclass(frozen=True, slots=True)
class SealResult:
    """A sealed ticket and the spool dedup key of the input it came from."""

    ticket: SealedTicket
    dedup_key: str


class Sealer:
    """Seals drafts with one redactor and pseudonym key."""

    def __init__(
        self,
        redactor: Redactor,
        pseudonymizer: Pseudonymizer,
        *,
        post_rules: RuleChain | None = None,
        fingerprint_fields: tuple[str, ...] = FINGERPRINT_FIELDS,
    ) -> None:
        self.fingerprint_fields = fingerprint_fields
        self._redactor = redactor
        self._pseudonymizer = pseudonymizer
        self._post_rules = post_rules

    def dedup_key(self, draft: TicketDraft) -> str:
        """The spool dedup key: stable for the same input, never derived from clear PHI alone."""
        if draft.dedup_basis:
            return self.basis_key(draft.dedup_basis)
        return "raw:" + self._pseudonymizer.digest(draft.raw_digest_input)

    @staticmethod
    def basis_key(basis: str) -> str:
        """The dedup key of a draft whose ``dedup_basis`` is ``basis`` (a lifecycle delivery)."""
        return "id:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()

    @staticmethod
    def ticket_id(dedup_key: str) -> str:
        """The ticket id that sealing gives a draft with this dedup key."""
        return "tkt_" + hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()[:32]

    def claim_tokens(self, draft: TicketDraft) -> frozenset[str]:
        """The pseudonym tokens sealing would give the draft's claim references (its CLAIM
        identifiers and children), without redacting anything else."""
        return frozenset(
            self._pseudonymizer.token(IdentifierKind.CLAIM, item.value)
            for item in (*draft.identifiers, *draft.children)
            if IdentifierKind.parse(item.kind) is IdentifierKind.CLAIM
        )

    def seal(self, draft: TicketDraft, record: SourceRecord | None = None) -> SealResult:
        """Redact ``draft`` and build its `SealedTicket`; raises `SealingFailed` on any failure.
        ``record`` (non-PHI facts only are read) is handed to the post-redaction rules."""
        marked = (*draft.identifiers, *draft.children)
        identifiers = [
            Identifier(kind=IdentifierKind.parse(item.kind), value=item.value, field=item.field)
            for item in marked
        ]
        texts = {"summary": draft.summary, "description": draft.description, "evidence": draft.evidence}
        try:
            outcome = self._redactor.redact(identifiers, texts)
        except RedactionError as error:
            raise SealingFailed(f"redaction failed ({error.code})") from error
        except Exception as error:
            raise SealingFailed(f"redaction failed ({type(error).__name__})") from error
        subjects: list[SubjectRef] = []
        seen: set[str] = set()
        count = len(draft.identifiers)
        for item, token in zip(draft.identifiers, outcome.tokens[:count], strict=True):
            if item.subject and token not in seen:
                seen.add(token)
                subjects.append(SubjectRef(kind=IdentifierKind.parse(item.kind).value, token=token))
        children: list[SubjectRef] = []
        seen_children: set[str] = set()
        for item, token in zip(draft.children, outcome.tokens[count:], strict=True):
            if token not in seen_children:
                seen_children.add(token)
                children.append(SubjectRef(kind=IdentifierKind.parse(item.kind).value, token=token))
        for ref in draft.child_tokens:
            if ref.token not in seen_children:
                seen_children.add(ref.token)
                children.append(ref)
        dedup_key = self.dedup_key(draft)
        problem = draft.fingerprint_override or fingerprint(draft, self.fingerprint_fields)
        routed = dataclasses.replace(
            draft,
            summary=outcome.texts["summary"],
            description=outcome.texts["description"],
            evidence=outcome.texts["evidence"],
            identifiers=(),
            children=(),
            redacted=True,
        )
        if self._post_rules is not None:
            view = record or SourceRecord(
                record_type="", source_system=draft.source.system, source_format="", facts={}
            )
            routed = self._post_rules.apply(view, routed)
        draft = routed
        try:
            payload = TicketPayload(
                id=self.ticket_id(dedup_key),
                fingerprint=problem,
                source=draft.source,
                received_at=draft.received_at,
                occurred_at=draft.occurred_at,
                origin=draft.origin,
                category=draft.category,
                taxonomy_version=draft.taxonomy_version,
                codes=list(draft.codes),
                payer=draft.payer,
                facility=draft.facility,
                financial=draft.financial,
                subjects=subjects,
                priority=draft.priority,
                tier=draft.tier,
                routing=Routing(queue=draft.queue, rule_id=draft.rule_id, rationale=list(draft.rationale)),
                tags=list(draft.tags),
                summary=draft.summary[:300] or "(no summary)",
                description=draft.description,
                evidence=draft.evidence,
                children=children,
                subcategory=draft.subcategory,
                owner=draft.owner,
                co_owner=draft.co_owner,
                sla=draft.sla,
                override=draft.override,
                lifecycle=draft.lifecycle,
                redaction=RedactionReport(
                    policy_version=outcome.policy_version, key_id=outcome.key_id, counts=dict(outcome.counts)
                ),
            )
        except ValidationError as error:
            fields = sorted({".".join(str(part) for part in item["loc"]) for item in error.errors()})
            raise SealingFailed(f"sealed payload invalid at {', '.join(fields)}") from None
        return SealResult(ticket=SealedTicket._create(_SEAL_CAPABILITY, payload), dedup_key=dedup_key)
