"""The on-call operations on the spool, shared by ``rcmgw spool ...`` and ``/v1/spool/...``:
status, selection by filter, replay (audited), purge (audited). Metadata only, except `show`, which
returns the sealed (PHI-free) payload exactly as it is delivered."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fallback.spool import EntryInfo, EntryState
from fallback.spool_admin import SpoolQuery
from gateway.audit import AuditLog
from gateway.delivery_wiring import Spool

MAX_SELECT = 100_000


def info_dict(info: EntryInfo) -> dict[str, Any]:
    """An entry's metadata as JSON-ready values."""
    return {
        "entry_id": info.entry_id,
        "sink": info.sink,
        "ticket_id": info.ticket_id,
        "fingerprint": info.fingerprint,
        "state": info.state.value,
        "attempts": info.attempts,
        "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
        "next_attempt_at": info.next_attempt_at.isoformat() if info.next_attempt_at else None,
        "last_error": info.last_error,
        "remote_id": info.remote_id,
    }


async def status(
    spool: Spool, circuits: Mapping[str, str | None], now: datetime | None = None
) -> dict[str, Any]:
    """Per sink: counts by state, oldest unsettled age in seconds, disabled reason, circuit state."""
    now = now or datetime.now(UTC)
    depth = await spool.depth()
    oldest = await spool.oldest_unsettled()
    disabled = await spool.disabled_sinks()
    names = sorted(set(depth) | set(circuits) | set(disabled))
    sinks = {}
    for name in names:
        counts = depth.get(name, {s.value: 0 for s in EntryState})
        age = (now - oldest[name]).total_seconds() if name in oldest else None
        sinks[name] = {
            "counts": counts,
            "dead_letters": counts.get("dead", 0),
            "oldest_unsettled_seconds": age,
            "disabled": disabled.get(name),
            "circuit": circuits.get(name),
        }
    return {"sinks": sinks}


async def select(
    spool: Spool,
    query: SpoolQuery,
    *,
    entry_ids: Sequence[str] = (),
    all_dead: bool = False,
) -> list[EntryInfo]:
    """Entries named by id, or matching the filter (``all_dead``: state DEAD)."""
    if entry_ids:
        found = [await spool.get(eid) for eid in entry_ids]
        return [info for info in found if info is not None]
    if all_dead:
        query = SpoolQuery(
            state=EntryState.DEAD,
            sink=query.sink,
            category=query.category,
            since=query.since,
            until=query.until,
            limit=query.limit,
        )
    return await spool.find(query)


async def replay(
    spool: Spool,
    entries: Sequence[EntryInfo],
    *,
    audit: AuditLog,
    actor: str,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    chunk: int = 200,
) -> list[str]:
    """Requeue the DEAD/DELIVERED ``entries`` (audited one record per entry as ``spool.replayed``);
    with ``dry_run``, only report which would be. Returns the ids (to be) requeued."""
    eligible = [e for e in entries if e.state in (EntryState.DEAD, EntryState.DELIVERED)]
    if dry_run:
        return [e.entry_id for e in eligible]
    done: list[str] = []
    by_id = {e.entry_id: e for e in eligible}
    for start in range(0, len(eligible), chunk):
        ids = [e.entry_id for e in eligible[start : start + chunk]]
        requeued = await spool.requeue(ids)
        for entry_id in requeued:
            info = by_id[entry_id]
            await audit.record(
                "spool.replayed",
                actor=actor,
                entry_id=entry_id,
                sink=info.sink,
                ticket_id=info.ticket_id,
                previous_state=info.state.value,
                remote_id=info.remote_id,
            )
        done.extend(requeued)
        if progress is not None:
            progress(len(ids))
    return done


async def purge(
    spool: Spool, *, older_than: timedelta, states: Sequence[EntryState], audit: AuditLog, actor: str
) -> dict[str, int]:
    """Purge settled entries older than ``older_than`` (legal holds kept); audited."""
    result = await spool.purge(datetime.now(UTC) - older_than, states)
    await audit.record(
        "spool.purged",
        actor=actor,
        entries=result.entries,
        payloads=result.payloads,
        bytes_freed=result.bytes_freed,
        states=",".join(s.value for s in states),
    )
    return {"entries": result.entries, "payloads": result.payloads, "bytes_freed": result.bytes_freed}


def ticket_json(body: bytes) -> Any:
    """A sealed ticket body as a JSON value."""
    return json.loads(body)


__all__ = ["MAX_SELECT", "info_dict", "purge", "replay", "select", "status", "ticket_json"]
