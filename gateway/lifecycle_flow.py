"""`LifecycleGate`: the ingest pipeline's dedup lifecycle step, between normalizing a record and
spooling what it delivers. It reads the fingerprint's state from a `LifecycleStore`, fills in the
draft's recurrence counts (for the post-redaction rule stage), seals, decides with
`normalizers.lifecycle` (open / absorb / update / resolve) and hands back what to spool and what
state to save. The pipeline spools the deliveries, then saves the state, then acknowledges; a
crash in between re-runs the same plan on redelivery (puts are idempotent on their dedup keys).

Group-wait flush (`flush_plan`): the ticket that opens a problem is kept with its state as a
*template* (its sealed, PHI-free body, encrypted with the spool cipher, bound to the fingerprint);
when occurrences were absorbed and their hold has passed with no further input, the flusher
(`gateway.lifecycle_flusher`) delivers an update built from that template with the state's counts,
first/last seen and every claim as a child, exactly as an input-triggered update would number it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from adapters.base import SourceRecord
from fallback.cipher import PayloadCipher
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
    flush,
    observe,
    resolve,
)
from normalizers.payload import SubjectRef, TicketPayload
from normalizers.sealed import SealedTicket
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
    plan -> spool -> save so concurrent inputs of one fingerprint cannot both open a ticket; with
    several nodes on one database it is a cross-process lock
    (`gateway.lifecycle_postgres.ClusterLock`). With a ``cipher`` every opened ticket is kept as
    the template of its group-wait flush (`flush_plan`)."""

    def __init__(
        self,
        store: LifecycleStore,
        policy: LifecyclePolicy | None = None,
        *,
        clock: Clock = utc_now,
        lock: AbstractAsyncContextManager[object] | None = None,
        cipher: PayloadCipher | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or LifecyclePolicy()
        self.clock = clock
        self.lock: AbstractAsyncContextManager[object] = lock or asyncio.Lock()
        self.cipher = cipher
        self.flush_interval = 1.0
        """Seconds between group-wait flusher passes (`gateway.lifecycle_flusher`)."""

    async def plan(
        self,
        record: SourceRecord,
        draft: TicketDraft,
        sealer: Sealer,
        *,
        claims: frozenset[str] | None = None,
    ) -> Plan:
        """Decide what ``record`` (normalized as ``draft``) delivers. ``claims``: the draft's
        claim tokens when the caller has them already (`Sealer.claim_tokens`; else computed here).
        Raises `NormalizationError` subclasses from sealing (the caller quarantines)."""
        now = self.clock()
        tokens = sealer.claim_tokens(draft) if claims is None else claims
        if record.record_type in EVIDENCE_RECORD_TYPES:
            return await self._evidence(record, draft, sealer, tokens)
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
            claims=tokens,
            at=now,
        )
        decision = observe(state, observation, self.policy)
        # Only what is delivered is sealed (redacted): an absorbed repeat costs a lookup and a save.
        deliveries: tuple[SealResult, ...] = ()
        saved = decision.state
        if decision.action is Action.OPEN:
            deliveries = (sealer.seal(dataclasses.replace(draft, lifecycle=decision.mark), record),)
            if self.cipher is not None and saved.template is None:
                saved = dataclasses.replace(saved, template=self._wrap(fp, deliveries[0].ticket.body))
        elif decision.action is Action.UPDATE:
            update = dataclasses.replace(
                draft,
                lifecycle=decision.mark,
                dedup_basis=delivery_basis(decision),
                child_tokens=_refs(decision.state.claims),
            )
            deliveries = (sealer.seal(update, record),)
        return Plan(decision.action, saved.ticket_id, fp, deliveries, (saved,))

    async def flush_plan(self, fingerprint: str) -> Plan | None:
        """The group-wait flush of ``fingerprint`` now: an UPDATE plan built from the state's
        template when an update is owed and due, else None. Call it holding `lock` (it re-reads the
        state, so another node's flush or a new input in the meantime is seen)."""
        state = await self.store.get(fingerprint)
        if state is None or state.template is None or self.cipher is None:
            return None
        decision = flush(state, self.clock(), self.policy)
        if decision.action is not Action.UPDATE:
            return None
        opened = SealedTicket.restore(self._unwrap(fingerprint, state.template)).payload
        dedup_key = Sealer.basis_key(delivery_basis(decision))
        update = opened.model_copy(
            update={
                "id": Sealer.ticket_id(dedup_key),
                "lifecycle": decision.mark,
                "children": _merge_children(opened.children, decision.state.claims),
            }
        )
        ticket = SealedTicket.restore(update.canonical_json())
        return Plan(
            Action.UPDATE, state.ticket_id, fingerprint, (SealResult(ticket, dedup_key),), (decision.state,)
        )

    def _wrap(self, fingerprint: str, body: bytes) -> str:
        assert self.cipher is not None
        key_id, blob = self.cipher.encrypt(body, _template_aad(fingerprint))
        return f"{key_id}:{base64.b64encode(blob).decode('ascii')}"

    def _unwrap(self, fingerprint: str, template: str) -> bytes:
        assert self.cipher is not None
        key_id, _, blob = template.partition(":")
        return self.cipher.decrypt(key_id, base64.b64decode(blob), _template_aad(fingerprint))

    async def _evidence(
        self, record: SourceRecord, draft: TicketDraft, sealer: Sealer, tokens: frozenset[str]
    ) -> Plan:
        at = self.clock()
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


def _template_aad(fingerprint: str) -> bytes:
    return f"lifecycle-template|{fingerprint}".encode()


def _merge_children(children: list[SubjectRef], claims: frozenset[str]) -> list[SubjectRef]:
    seen = {ref.token for ref in children}
    return [*children, *(ref for ref in _refs(claims) if ref.token not in seen)]


def _refs(tokens: frozenset[str]) -> tuple[SubjectRef, ...]:
    return tuple(SubjectRef(kind=CLAIM_KIND, token=token) for token in sorted(tokens))
