"""The pull API for ticketing systems that fetch: ``GET /v1/tickets`` (scope ``tickets:read``) and
``POST /v1/tickets/ack`` (scope ``tickets:ack``).

Tickets for a ``pull`` sink are spooled like any other. A GET leases the next ``limit`` due entries
after the cursor, in spool order, to the calling client for ``spool.pull_lease_seconds``, and
returns their sealed (PHI-free) payloads with ``next_cursor``. An ack marks entries delivered. An
entry that is not acknowledged before its lease ends is offered again: to a client that starts over
without a cursor (or any cursor before it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from gateway.auth.deps import ScopeRequirement
from gateway.auth.roles import may_see_ticket
from gateway.auth.scopes import Scope
from gateway.auth.tokens import Principal
from gateway.runtime import Runtime
from gateway.spool_ops import ticket_json
from normalizers.payload import TicketPayload

router = APIRouter(prefix="/v1", tags=["pull"])
TicketsReader = Annotated[Principal, Depends(ScopeRequirement(Scope.TICKETS_READ))]
TicketsAcker = Annotated[Principal, Depends(ScopeRequirement(Scope.TICKETS_ACK))]


class AckRequest(BaseModel):
    """Entries to acknowledge (ids from a GET)."""

    entry_ids: Annotated[list[Annotated[str, Field(pattern=r"^ent_[0-9a-f]{32}$")]], Field(max_length=1000)]
    sink: str | None = None


def _pull_sink(runtime: Runtime, requested: str | None) -> str:
    names = [s.name for s in runtime.settings.sinks if s.kind == "pull"]
    if requested is not None and requested in names:
        return requested
    if requested is None and names:
        return names[0]
    raise HTTPException(404, "no such pull sink")


def _cursor(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or len(value) > 18:
        raise HTTPException(400, "bad cursor")
    return int(value)


@router.get("/tickets", summary="Fetch sealed tickets after a cursor")
async def get_tickets(
    request: Request,
    principal: TicketsReader,
    after: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    sink: Annotated[str | None, Query(max_length=41)] = None,
) -> dict[str, Any]:
    """Lease and return up to ``limit`` tickets after ``after``."""
    runtime: Runtime = request.app.state.runtime
    name = _pull_sink(runtime, sink)
    cursor = _cursor(after)
    entries = await runtime.spool.lease_after(
        name,
        owner=f"pull:{principal.client_id}",
        after=cursor,
        limit=limit,
        lease_for=timedelta(seconds=runtime.settings.spool.pull_lease_seconds),
    )
    next_cursor = str(entries[-1].seq) if entries else str(cursor)
    shown = [e for e in entries if _may_see(principal, e.ticket.payload)]
    return {
        "tickets": [
            {
                "entry_id": e.entry_id,
                "cursor": str(e.seq),
                "lease_expires_at": e.lease_expires_at.isoformat(),
                "ticket": ticket_json(e.ticket.body),
            }
            for e in shown
        ],
        "next_cursor": next_cursor,
        # Tickets this client may not see (sensitive categories without tickets:sensitive, or a
        # person's queue/tier) stay unacknowledged for a client that may.
        "withheld": len(entries) - len(shown),
    }


def _may_see(principal: Principal, payload: TicketPayload) -> bool:
    return may_see_ticket(
        principal,
        category=payload.category,
        tags=payload.tags,
        queue=payload.routing.queue,
        tier=payload.tier,
    )


@router.post("/tickets/ack", summary="Acknowledge fetched tickets")
async def ack_tickets(request: Request, principal: TicketsAcker, body: AckRequest) -> dict[str, Any]:
    """Mark the given entries delivered; returns those acknowledged by this call."""
    runtime: Runtime = request.app.state.runtime
    name = _pull_sink(runtime, body.sink)
    done = await runtime.spool.acknowledge(name, body.entry_ids)
    for entry_id in done:
        await runtime.audit.record(
            "delivery.delivered", actor=principal.client_id, sink=name, entry_id=entry_id, remote_id=None
        )
    return {"acknowledged": done}
