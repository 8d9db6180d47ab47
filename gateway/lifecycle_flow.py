"""`LifecycleGate`: the ingest pipeline's dedup lifecycle step, between normalizing a record and
spooling what it delivers. It reads the fingerprint's state from a `LifecycleStore`, fills in the
draft's recurrence counts (for the post-redaction rule stage), seals, decides with
`normalizers.lifecycle` (open / absorb / update / resolve) and hands back what to spool and what
state to save. The pipeline spools the deliveries, then saves the state, then acknowledges; a
crash in between re-runs the same plan on redelivery (puts are idempotent on their dedup keys).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

from adapters.base import SourceRecord
from fallback.clock import Clock, utc_now
from gateway.lifecycle_store import LifecycleStore
from normalizers.draft import Recurrence, TicketDraft
from normalizers.fingerprint import fingerprint, problem_key
from normalizers.lifecycle import (
    EVIDENCE_RECORD_TYPES,
    Action,
    FingerprintState,
    LifecyclePolicy,
    Observation,
    TicketState,
    delivery_basis,
    observe,
    resolve,
)
from normalizers.payload import SubjectRef, TicketPayload
from normalizers.sealing import Sealer, SealResult

CLAIM_KIND = "CLAIM"


def claim_tokens(payload: TicketPayload) -> frozenset[str]:
    """The claim pseudonym tokens a sealed ticket stands for (subjects and children)."""
    return frozenset(ref.token for ref in (*payload.subjects, *payload.children) if ref.kind == CLAIM_KIND)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one record leads to: deliveries to spool, states to save, for which ticket."""

    action: Action | None
    ticket_id: str
    fingerprint: str
    deliveries: tuple[SealResult, ...] = ()
    saves: tuple[FingerprintState, ...] = field(default=())


class LifecycleGate:
    """Dedup lifecycle for the ingest pipeline (see the module docstring). ``lock`` serializes
    plan -> spool -> save so concurrent inputs of one fingerprint cannot both open a ticket."""

    def __init__(
        self, store: LifecycleStore, policy: LifecyclePolicy | None = None, *, clock: Clock = utc_now
    ) -> None:
        self.store = store
        self.policy = policy or LifecyclePolicy()
        self.clock = clock
        self.lock = asyncio.Lock()

    async def plan(self, record: SourceRecord, draft: TicketDraft, sealer: Sealer) -> Plan:
        """Decide what ``record`` (normalized as ``draft``) delivers. Raises `NormalizationError`
        subclasses from sealing (the caller quarantines)."""
        now = self.clock()
        if record.record_type in EVIDENCE_RECORD_TYPES:
            return await self._evidence(record, draft, sealer)
        fields = sealer.fingerprint_fields
        fp, problem = fingerprint(draft, fields), problem_key(draft, fields)
        state = await self.store.get(fp)
        facilities = await self.store.facilities(problem, now - self.policy.recurrence_window)
        if draft.facility:
            facilities |= {draft.facility}
        is_open = state is not None and state.state is TicketState.OPEN
        recurrence = Recurrence(
            occurrences=state.occurrences + 1 if state is not None and is_open else 1,
            facilities=max(len(facilities), 1),
        )
        draft = dataclasses.replace(draft, recurrence=recurrence)
        dedup_key = sealer.dedup_key(draft)
        observation = Observation(
            fingerprint=fp,
            problem_key=problem,
            ticket_id=sealer.ticket_id(dedup_key),
            dedup_key=dedup_key,
            facility=draft.facility,
            claims=sealer.claim_tokens(draft),
            at=now,
        )
        decision = observe(state, observation, self.policy)
        # Only what is delivered is sealed (redacted): an absorbed repeat costs a lookup and a save.
        deliveries: tuple[SealResult, ...] = ()
        if decision.action is Action.OPEN:
            deliveries = (sealer.seal(dataclasses.replace(draft, lifecycle=decision.mark), record),)
        elif decision.action is Action.UPDATE:
            update = dataclasses.replace(
                draft,
                lifecycle=decision.mark,
                dedup_basis=delivery_basis(decision),
                child_tokens=_refs(decision.state.claims),
            )
            deliveries = (sealer.seal(update, record),)
        return Plan(decision.action, decision.state.ticket_id, fp, deliveries, (decision.state,))

    async def _evidence(self, record: SourceRecord, draft: TicketDraft, sealer: Sealer) -> Plan:
        at = self.clock()
        tokens = sealer.claim_tokens(draft)
        reason = EVIDENCE_RECORD_TYPES[record.record_type]
        deliveries: list[SealResult] = []
        saves: list[FingerprintState] = []
        action: Action | None = None
        ticket_id = sealer.ticket_id(sealer.dedup_key(draft))
        fp = fingerprint(draft, sealer.fingerprint_fields)
        for state in await self.store.find_open_by_claims(tokens):
            decision = resolve(state, tokens, reason, at)
            saves.append(decision.state)
            action = decision.action if action is not Action.RESOLVE else action
            ticket_id, fp = state.ticket_id, state.fingerprint
            if decision.action is Action.RESOLVE:
                closing = dataclasses.replace(
                    draft,
                    lifecycle=decision.mark,
                    dedup_basis=delivery_basis(decision),
                    fingerprint_override=state.fingerprint,
                )
                deliveries.append(sealer.seal(closing, record))
        return Plan(action, ticket_id, fp, tuple(deliveries), tuple(saves))

    async def commit(self, plan: Plan) -> None:
        """Durably save the plan's states (after its deliveries are spooled)."""
        for state in plan.saves:
            await self.store.save(state)


def _refs(tokens: frozenset[str]) -> tuple[SubjectRef, ...]:
    return tuple(SubjectRef(kind=CLAIM_KIND, token=token) for token in sorted(tokens))
