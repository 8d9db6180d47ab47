"""``rcmgw spool status|list|show|replay|purge|enable``: the on-call view of the spool.

Every command takes ``--json`` (one JSON document on stdout). Output is metadata only, except
``show``, which prints the sealed payload as it is delivered (PHI-free by construction). Changes
(replay, purge, enable) are recorded in the audit log with the operator (``--actor``, default the
OS user).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from fallback.spool import EntryState
from fallback.spool_admin import SpoolQuery
from gateway import spool_ops
from gateway.runtime import Runtime
from gateway.settings import get_settings

T = TypeVar("T")
spool_app = typer.Typer(name="spool", help="Inspect and replay the delivery spool.", no_args_is_help=True)
_out = Console(highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="YAML config file.")]
StateOpt = Annotated[EntryState | None, typer.Option("--state", help="Entry state.")]
SinkOpt = Annotated[str | None, typer.Option("--sink", help="Sink name.")]
CategoryOpt = Annotated[str | None, typer.Option("--category", help="Ticket category.")]
SinceOpt = Annotated[datetime | None, typer.Option("--since", help="Created at or after (UTC if no offset).")]
UntilOpt = Annotated[datetime | None, typer.Option("--until", help="Created before (UTC if no offset).")]


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _with_runtime(config: str | None, action: Callable[[Runtime], Awaitable[T]]) -> T:
    from pathlib import Path

    settings = get_settings(Path(config) if config else None)
    runtime = Runtime.build(settings)

    async def main() -> T:
        await runtime.spool.open()
        runtime.audit.open()
        try:
            return await action(runtime)
        finally:
            await runtime.spool.aclose()
            runtime.audit.close()

    return asyncio.run(main())


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


@spool_app.command("status")
def status_cmd(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Depth, oldest unsettled age, dead letters and disabled flag per sink."""

    async def run(runtime: Runtime) -> dict[str, Any]:
        return await spool_ops.status(runtime.spool, {})

    result = _with_runtime(config, run)
    if as_json:
        _emit_json(result)
        return
    table = Table(title="spool status")
    for column in ("sink", "pending", "leased", "delivered", "dead", "oldest unsettled", "disabled"):
        table.add_column(column)
    for name, row in result["sinks"].items():
        counts, age = row["counts"], row["oldest_unsettled_seconds"]
        table.add_row(
            name,
            *(str(counts.get(s, 0)) for s in ("pending", "leased", "delivered", "dead")),
            "-" if age is None else f"{age:.0f}s",
            row["disabled"] or "",
        )
    _out.print(table)


@spool_app.command("list")
def list_cmd(  # noqa: PLR0917 - typer options
    state: StateOpt = None,
    sink: SinkOpt = None,
    category: CategoryOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Entries matching the filters, oldest first (metadata only)."""
    query = SpoolQuery(state, sink, category, _aware(since), _aware(until), limit)

    async def run(runtime: Runtime) -> list[dict[str, Any]]:
        return [spool_ops.info_dict(e) for e in await runtime.spool.find(query)]

    rows = _with_runtime(config, run)
    if as_json:
        _emit_json({"entries": rows})
        return
    table = Table(title=f"{len(rows)} entries")
    for column in ("entry", "sink", "state", "attempts", "created", "last error", "remote id"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["entry_id"], r["sink"], r["state"], str(r["attempts"]), r["created_at"],
            r["last_error"] or "", r["remote_id"] or "",
        )  # fmt: skip
    _out.print(table)


@spool_app.command("show")
def show_cmd(entry_id: str, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """One entry and its payload as delivered (PHI-free)."""

    async def run(runtime: Runtime) -> dict[str, Any] | None:
        info = await runtime.spool.get(entry_id)
        ticket = await runtime.spool.read_ticket(entry_id) if info else None
        if info is None or ticket is None:
            return None
        return {"entry": spool_ops.info_dict(info), "ticket": spool_ops.ticket_json(ticket.body)}

    result = _with_runtime(config, run)
    if result is None:
        sys.stderr.write(f"rcmgw: error: no spool entry {entry_id}\n")
        raise typer.Exit(65)
    if as_json:
        _emit_json(result)
        return
    _out.print_json(json.dumps(result, default=str))


@spool_app.command("replay")
def replay_cmd(  # noqa: PLR0917 - typer options
    entry_ids: Annotated[list[str] | None, typer.Argument(help="Entry ids.", show_default=False)] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead letter (with filters).")] = False,
    state: StateOpt = None,
    sink: SinkOpt = None,
    category: CategoryOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be replayed.")] = False,
    actor: Annotated[str | None, typer.Option("--actor", help="Operator name for the audit log.")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Replay dead-lettered (or delivered) entries; sinks deduplicate, so no second ticket."""
    ids = entry_ids or []
    if not ids and not all_dead and state is None and since is None:
        sys.stderr.write("rcmgw: error: name entry ids, --all-dead, --state or --since\n")
        raise typer.Exit(2)
    query = SpoolQuery(state, sink, category, _aware(since), _aware(until), spool_ops.MAX_SELECT)
    who = actor or getpass.getuser()

    async def run(runtime: Runtime) -> dict[str, Any]:
        selected = await spool_ops.select(runtime.spool, query, entry_ids=ids, all_dead=all_dead)
        with Progress(console=Console(stderr=True), disable=as_json or dry_run) as bar:
            task = bar.add_task("replaying", total=len(selected))
            done = await spool_ops.replay(
                runtime.spool, selected, audit=runtime.audit, actor=who, dry_run=dry_run,
                progress=lambda n: bar.advance(task, n),
            )  # fmt: skip
        return {"dry_run": dry_run, "selected": len(selected), "replayed": done}

    result = _with_runtime(config, run)
    if as_json:
        _emit_json(result)
        return
    verb = "would replay" if dry_run else "replayed"
    _out.print(f"{verb} {len(result['replayed'])} of {result['selected']} selected entries")


@spool_app.command("purge")
def purge_cmd(
    older_than_days: Annotated[
        float | None, typer.Option("--older-than-days", help="Default: spool.retention_days.")
    ] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Purge dead letters too.")] = False,
    actor: Annotated[str | None, typer.Option("--actor", help="Operator name for the audit log.")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Delete delivered (and with --dead, dead) entries past retention; legal holds are kept."""
    states = [EntryState.DELIVERED, EntryState.DEAD] if dead else [EntryState.DELIVERED]

    async def run(runtime: Runtime) -> dict[str, int]:
        days = runtime.settings.spool.retention_days if older_than_days is None else older_than_days
        return await spool_ops.purge(
            runtime.spool, older_than=timedelta(days=days), states=states, audit=runtime.audit,
            actor=actor or getpass.getuser(),
        )  # fmt: skip

    result = _with_runtime(config, run)
    if as_json:
        _emit_json(result)
        return
    _out.print(
        f"purged {result['entries']} entries, {result['payloads']} payloads, {result['bytes_freed']} bytes"
    )


@spool_app.command("enable")
def enable_cmd(sink: str, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Re-enable a sink that a 410 Gone disabled."""

    async def run(runtime: Runtime) -> None:
        await runtime.spool.set_sink_disabled(sink, None)
        await runtime.audit.record("sink.enabled", actor=getpass.getuser(), sink=sink)

    _with_runtime(config, run)
    if as_json:
        _emit_json({"sink": sink, "enabled": True})
        return
    _out.print(f"sink {sink} enabled")


__all__ = ["spool_app"]
