"""The life of a problem's ticket, as pure decisions over a per-fingerprint state (no I/O, no
clock: time is an argument). The state is kept by a `gateway.lifecycle_store.LifecycleStore`.

One open ticket per fingerprint::

    (none) --observe--> OPEN  (deliver the ticket)
    OPEN   --observe--> OPEN  (count the occurrence, first/last seen, facilities, claims;
                               deliver an UPDATE only when the hold has passed since the last
                               delivery: ``group_wait`` before the first update, then
                               ``repeat_interval``; otherwise absorb: record, deliver nothing)
    OPEN   --evidence-> RESOLVED (deliver a RESOLVE update) when every claim that the ticket
                               stands for has been accepted (277CA) or paid (835)
    RESOLVED --observe-> OPEN (a new ticket whose mark ``follows`` the resolved one)

Group-wait: the first occurrence opens its ticket at once (the spool has no delayed put), and a
burst inside ``group_wait`` folds into it; the first update, carrying the burst's count and all
its claims as children, waits until ``group_wait`` has passed. So 10,000 identical errors in a
minute make one ticket and at most one update, and 500 claims rejected for one reason make one
ticket whose state (and next update) lists all 500 claims.

Auto-resolve evidence contract (the X12 adapter, issue 4, produces these records):

- ``record_type`` ``"x12-277ca-acceptance"`` (a 277CA claim whose STCs all have an accepted
  category, A0/A1/A2/A5/F1) or ``"x12-835-payment"`` (an 835 CLP paid with status 1, 2, 3 or 19-21
  and a paid amount > 0, nothing denied), see `EVIDENCE_RECORD_TYPES` and docs/x12.md;
- the claim's reference (CLM01 as echoed: the 835's CLP01, the 277CA's claim TRN02) as
  ``PhiValue(kind="CLAIM", field=...)`` in ``record.phi``: it is pseudonymized like every claim
  reference, so matching uses the token only, never the clear value;
- facts may carry ``payer.id``, ``amounts.paid``, ``status.code``; the gateway builds the
  resolve update from them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from normalizers.payload import Lifecycle, LifecycleKind

EVIDENCE_RECORD_TYPES: dict[str, str] = {
    "x12-277ca-acceptance": "277CA acceptance",
    "x12-835-payment": "835 payment",
}
"""Record types that are evidence a claim went through, with the reason shown on the resolve."""


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """Timing of deliveries per fingerprint."""

    group_wait: timedelta = timedelta(seconds=30)
    repeat_interval: timedelta = timedelta(hours=4)
    recurrence_window: timedelta = timedelta(hours=24)


class TicketState(StrEnum):
    """Whether the fingerprint's current ticket is open."""

    OPEN = "open"
    RESOLVED = "resolved"


class Action(StrEnum):
    """What the caller does with an observation."""

    OPEN = "open"  # spool the new ticket
    ABSORB = "absorb"  # record the occurrence, deliver nothing
    UPDATE = "update"  # spool an update of the open ticket
    RESOLVE = "resolve"  # spool a resolve update of the ticket


@dataclass(frozen=True, slots=True)
class FingerprintState:
    """What the store keeps per fingerprint (ids, counts, times, pseudonym tokens: no PHI)."""

    fingerprint: str
    problem_key: str
    ticket_id: str
    state: TicketState
    opened_by: str
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    last_delivery_at: datetime
    updates: int = 0
    facilities: frozenset[str] = frozenset()
    claims: frozenset[str] = frozenset()
    template: str | None = None
    """The opening ticket's sealed body, encrypted by the gateway (opaque here): what a group-wait
    flush (`flush`) builds its update from when no further input arrives."""
    delivered_occurrences: int | None = None
    """``occurrences`` as of the last delivery (None: state saved before this was kept)."""

    @property
    def pending(self) -> bool:
        """Whether occurrences were absorbed since the last delivery (an update is owed)."""
        return (
            self.state is TicketState.OPEN
            and self.delivered_occurrences is not None
            and self.occurrences > self.delivered_occurrences
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """One occurrence of a problem, as sealed: its fingerprint, the ticket it would open, the
    dedup key of its input, its facility and the claim tokens it concerns."""

    fingerprint: str
    problem_key: str
    ticket_id: str
    dedup_key: str
    facility: str | None
    claims: frozenset[str]
    at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """The action, the state to save, and the lifecycle mark for the delivery (if any)."""

    action: Action
    state: FingerprintState
    mark: Lifecycle | None = None

    @property
    def delivers(self) -> bool:
        """Whether a ticket is spooled for this decision."""
        return self.action is not Action.ABSORB


def _mark(
    kind: LifecycleKind, state: FingerprintState, reason: str | None = None, follows: str | None = None
) -> Lifecycle:
    return Lifecycle(
        follows=follows,
        kind=kind,
        of=None if kind is LifecycleKind.OPEN else state.ticket_id,
        occurrences=state.occurrences,
        first_seen=state.first_seen,
        last_seen=state.last_seen,
        reason=reason,
    )


def open_state(obs: Observation) -> FingerprintState:
    """The state of a ticket that ``obs`` opens."""
    return FingerprintState(
        fingerprint=obs.fingerprint,
        problem_key=obs.problem_key,
        ticket_id=obs.ticket_id,
        state=TicketState.OPEN,
        opened_by=obs.dedup_key,
        occurrences=1,
        first_seen=obs.at,
        last_seen=obs.at,
        last_delivery_at=obs.at,
        facilities=frozenset({obs.facility}) if obs.facility else frozenset(),
        claims=obs.claims,
        delivered_occurrences=1,
    )


def observe(state: FingerprintState | None, obs: Observation, policy: LifecyclePolicy) -> Decision:
    """What to do with one occurrence given the fingerprint's stored state."""
    if state is None or state.state is TicketState.RESOLVED:
        opened = open_state(obs)
        follows = state.ticket_id if state is not None and state.ticket_id != opened.ticket_id else None
        return Decision(Action.OPEN, opened, _mark(LifecycleKind.OPEN, opened, follows=follows))
    if obs.dedup_key == state.opened_by:
        # The input that opened the ticket, delivered again (not acked before a crash): put the
        # same ticket again; the spool's dedup key makes that a no-op if it was committed.
        return Decision(Action.OPEN, state, _mark(LifecycleKind.OPEN, state))
    grown = dataclasses.replace(
        state,
        occurrences=state.occurrences + 1,
        last_seen=max(state.last_seen, obs.at),
        facilities=state.facilities | ({obs.facility} if obs.facility else set()),
        claims=state.claims | obs.claims,
    )
    hold = policy.group_wait if state.updates == 0 else policy.repeat_interval
    if obs.at - state.last_delivery_at < hold:
        return Decision(Action.ABSORB, grown)
    updated = dataclasses.replace(
        grown, updates=grown.updates + 1, last_delivery_at=obs.at, delivered_occurrences=grown.occurrences
    )
    return Decision(Action.UPDATE, updated, _mark(LifecycleKind.UPDATE, updated))


def due_at(state: FingerprintState, policy: LifecyclePolicy) -> datetime | None:
    """When the update owed for ``state``'s absorbed occurrences is due (None if none is owed):
    ``group_wait`` after the opening for the first update, ``repeat_interval`` after the last
    delivery for later ones (the same holds `observe` applies)."""
    if not state.pending:
        return None
    hold = policy.group_wait if state.updates == 0 else policy.repeat_interval
    return state.last_delivery_at + hold


def flush(state: FingerprintState, at: datetime, policy: LifecyclePolicy) -> Decision:
    """The update a background flusher delivers at ``at`` for occurrences absorbed since the last
    delivery, without further input (Alertmanager's group_wait / group_interval): UPDATE when one
    is owed and due, otherwise ABSORB (nothing to deliver, state unchanged)."""
    due = due_at(state, policy)
    if due is None or at < due:
        return Decision(Action.ABSORB, state)
    updated = dataclasses.replace(
        state, updates=state.updates + 1, last_delivery_at=at, delivered_occurrences=state.occurrences
    )
    return Decision(Action.UPDATE, updated, _mark(LifecycleKind.UPDATE, updated))


def resolve(state: FingerprintState, evidence_claims: frozenset[str], reason: str, at: datetime) -> Decision:
    """What evidence that ``evidence_claims`` went through does to an open ticket: drop those
    claims from it, and resolve it when none is left (otherwise absorb: record only)."""
    remaining = state.claims - evidence_claims
    if remaining or state.state is not TicketState.OPEN:
        return Decision(Action.ABSORB, dataclasses.replace(state, claims=remaining))
    closed = dataclasses.replace(
        state,
        state=TicketState.RESOLVED,
        claims=frozenset(),
        last_delivery_at=at,
        delivered_occurrences=state.occurrences,
    )
    return Decision(Action.RESOLVE, closed, _mark(LifecycleKind.RESOLVE, closed, reason))


def delivery_basis(decision: Decision) -> str:
    """The dedup basis of an update or resolve delivery: stable per ticket and update number, so
    a redelivered input never spools the same update twice."""
    state = decision.state
    if decision.action is Action.RESOLVE:
        return f"lifecycle|{state.ticket_id}|resolve"
    return f"lifecycle|{state.ticket_id}|update|{state.updates}"
