"""A repeat after resolve opens a new ticket whose lifecycle mark ``follows`` the resolved one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from normalizers.lifecycle import Action, LifecyclePolicy, Observation, TicketState, observe
from normalizers.payload import LifecycleKind

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _obs(ticket: str, dedup: str, at: datetime) -> Observation:
    return Observation(
        fingerprint="fp_" + "1" * 32, problem_key="pk", ticket_id=ticket, dedup_key=dedup, facility=None,
        claims=frozenset(), at=at,
    )  # fmt: skip


def test_first_open_follows_nothing_and_a_repeat_after_resolve_follows_the_old_ticket() -> None:
    old, new = "tkt_" + "a" * 32, "tkt_" + "b" * 32
    first = observe(None, _obs(old, "d1", T0), LifecyclePolicy())
    assert first.action is Action.OPEN and first.mark is not None and first.mark.follows is None
    resolved = dataclasses.replace(first.state, state=TicketState.RESOLVED)
    again = observe(resolved, _obs(new, "d2", T0 + timedelta(hours=1)), LifecyclePolicy())
    assert again.action is Action.OPEN and again.state.ticket_id == new
    assert again.mark is not None and again.mark.kind is LifecycleKind.OPEN
    assert again.mark.follows == old and again.mark.of is None


def test_a_repeat_while_open_follows_nothing() -> None:
    first = observe(None, _obs("tkt_" + "a" * 32, "d1", T0), LifecyclePolicy())
    update = observe(first.state, _obs("tkt_" + "c" * 32, "d3", T0 + timedelta(hours=5)), LifecyclePolicy())
    assert update.action is Action.UPDATE and update.mark is not None and update.mark.follows is None
