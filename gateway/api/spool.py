"""On-call spool operations over HTTP: ``/v1/spool/...``. Reading needs ``spool:read``; replay,
purge and re-enabling a sink need ``spool:replay``. Every change is audited with the caller."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from fallback.spool import EntryState
from fallback.spool_admin import SpoolQuery
from gateway import spool_ops
from gateway.auth.deps import ScopeRequirement
from gateway.auth.roles import is_sensitive
from gateway.auth.scopes import Scope
from gateway.auth.tokens import Principal
from gateway.runtime import Runtime

router = APIRouter(prefix="/v1/spool", tags=["spool"])
SpoolReader = Annotated[Principal, Depends(ScopeRequirement(Scope.SPOOL_READ))]
SpoolReplayer = Annotated[Principal, Depends(ScopeRequirement(Scope.SPOOL_REPLAY))]
EntryId = Annotated[str, Field(pattern=r"^ent_[0-9a-f]{32}$")]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _circuits(runtime: Runtime) -> dict[str, str | None]:
    return {w.sink_name: w.circuit_state for w in runtime.workers}


class ReplayRequest(BaseModel):
    """Which entries to replay: ids, or a filter (``all_dead`` selects dead letters)."""

    entry_ids: Annotated[list[EntryId], Field(max_length=10000)] = Field(default_factory=list)
    all_dead: bool = False
    state: EntryState | None = None
    sink: str | None = None
    category: str | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: Annotated[int, Field(ge=1, le=spool_ops.MAX_SELECT)] = 1000
    dry_run: bool = False


class PurgeRequest(BaseModel):
    """Purge settled entries older than ``older_than_days`` (held entries are kept)."""

    older_than_days: Annotated[float, Field(ge=0, le=36500)]  # a timedelta overflows far above
    states: list[EntryState] = Field(default_factory=lambda: [EntryState.DELIVERED])


@router.get("/status", summary="Depth, oldest age, dead letters and circuit per sink")
async def spool_status(request: Request, principal: SpoolReader) -> dict[str, Any]:
    """Per-sink status."""
    runtime = _runtime(request)
    return await spool_ops.status(runtime.spool, _circuits(runtime))


@router.get("/entries", summary="List entries (metadata only)")
async def list_entries(  # noqa: PLR0917 - FastAPI query parameters
    request: Request,
    principal: SpoolReader,
    state: EntryState | None = None,
    sink: Annotated[str | None, Query(max_length=41)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Entries matching the filters, oldest first."""
    for value in (since, until):
        if value is not None and value.tzinfo is None:
            raise HTTPException(400, "since/until need a UTC offset")
    query = SpoolQuery(state=state, sink=sink, category=category, since=since, until=until, limit=limit)
    entries = await _runtime(request).spool.find(query)
    return {"entries": [spool_ops.info_dict(e) for e in entries]}


@router.get("/entries/{entry_id}", summary="One entry and its payload as delivered (PHI-free)")
async def show_entry(request: Request, principal: SpoolReader, entry_id: str) -> dict[str, Any]:
    """Metadata and the sealed payload."""
    spool = _runtime(request).spool
    info = await spool.get(entry_id)
    ticket = await spool.read_ticket(entry_id) if info is not None else None
    if info is None or ticket is None:
        raise HTTPException(404, "no such entry")
    payload = ticket.payload
    if is_sensitive(payload.category, payload.tags) and not principal.has(Scope.TICKETS_SENSITIVE.value):
        return {"entry": spool_ops.info_dict(info), "ticket": None, "withheld": "sensitive category"}
    return {"entry": spool_ops.info_dict(info), "ticket": spool_ops.ticket_json(ticket.body)}


@router.post("/replay", summary="Replay dead-lettered or delivered entries")
async def replay(request: Request, principal: SpoolReplayer, body: ReplayRequest) -> dict[str, Any]:
    """Requeue the selected entries (sinks deduplicate, so no second ticket is created)."""
    runtime = _runtime(request)
    if not body.entry_ids and not body.all_dead and body.state is None and body.since is None:
        raise HTTPException(400, "name entry_ids, all_dead, state or since")
    query = SpoolQuery(
        state=body.state, sink=body.sink, category=body.category, since=body.since, until=body.until,
        limit=body.limit,
    )  # fmt: skip
    selected = await spool_ops.select(runtime.spool, query, entry_ids=body.entry_ids, all_dead=body.all_dead)
    ids = await spool_ops.replay(
        runtime.spool, selected, audit=runtime.audit, actor=principal.client_id, dry_run=body.dry_run
    )
    if ids and not body.dry_run:
        runtime.notify()
    return {"dry_run": body.dry_run, "selected": len(selected), "replayed": ids}


@router.post("/purge", summary="Purge old settled entries")
async def purge(request: Request, principal: SpoolReplayer, body: PurgeRequest) -> dict[str, Any]:
    """Delete settled entries past retention (legal holds kept) and return the space."""
    runtime = _runtime(request)
    try:
        return await spool_ops.purge(
            runtime.spool,
            older_than=timedelta(days=body.older_than_days),
            states=body.states,
            audit=runtime.audit,
            actor=principal.client_id,
        )
    except ValueError:
        raise HTTPException(400, "only delivered and dead entries can be purged") from None


@router.post("/sinks/{sink}/enable", summary="Re-enable a sink disabled by a 410")
async def enable_sink(request: Request, principal: SpoolReplayer, sink: str) -> dict[str, Any]:
    """Clear the sink's disabled flag (all nodes pick it up on their next round)."""
    runtime = _runtime(request)
    await runtime.spool.set_sink_disabled(sink, None)
    await runtime.audit.record("sink.enabled", actor=principal.client_id, sink=sink)
    runtime.notify()
    return {"sink": sink, "enabled": True}
