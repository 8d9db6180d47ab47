"""``rcmgw`` commands of the security area: ``audit verify|export``, ``access-review``,
``dataflow``, ``client add|list|remove``.

Exit codes: ``audit verify`` returns 65 (data error) naming the first bad record when the chain is
broken; everything else follows `gateway.exit_codes`.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from gateway.audit import AuditLog
from gateway.audit_export import as_json, as_syslog, iter_records
from gateway.audit_postgres import build_audit_log
from gateway.auth.roles import Role
from gateway.auth.scopes import Scope
from gateway.exit_codes import ExitCode
from gateway.keys import load_or_create_keys
from gateway.settings import Settings, get_settings

audit_app = typer.Typer(name="audit", help="Verify and export the audit log.", no_args_is_help=True)
client_app = typer.Typer(
    name="client", help="Service clients of the embedded dev issuer.", no_args_is_help=True
)
_out = Console(highlight=False, soft_wrap=True)
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file (also $RCMGW_CONFIG).")
]


class ExportFormat(StrEnum):
    """How `audit export` writes records."""

    JSONL = "jsonl"
    SYSLOG = "syslog"


class FlowFormat(StrEnum):
    """How `dataflow` renders."""

    MERMAID = "mermaid"
    DOT = "dot"
    JSON = "json"


def _fail(message: str, code: ExitCode) -> typer.Exit:
    sys.stderr.write(f"rcmgw: error: {message}\n")
    return typer.Exit(int(code))


def _settings(config: Path | None) -> Settings:
    try:
        return get_settings(config)
    except FileNotFoundError as error:
        raise _fail(str(error), ExitCode.USAGE) from None


def open_audit(settings: Settings) -> AuditLog:
    """The audit log beside ``settings``'s spool (opened): the SQLite file in the home, or the
    ``audit_log`` table of the PostgreSQL spool database."""
    if settings.spool.backend != "postgresql":
        path = settings.home / "audit" / "audit.db"
        if not path.is_file():
            raise _fail(f"no audit log at {path}", ExitCode.USAGE)
    try:
        log = build_audit_log(settings, load_or_create_keys(settings.keys_dir).audit_key)
    except ValueError as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    try:
        log.open()
    except psycopg.Error as error:
        raise _fail(
            f"cannot open the audit log in the spool database ({type(error).__name__})", ExitCode.UNAVAILABLE
        ) from None
    return log


@audit_app.command("verify")
def audit_verify(config: ConfigOption = None) -> None:
    """Recompute the HMAC chain; name the first edited, removed or reordered record."""
    log = open_audit(_settings(config))
    try:
        result = log.verify()
    finally:
        log.close()
    if not result.ok:
        raise _fail(
            f"audit chain broken at record {result.first_bad_seq}: {result.problem}", ExitCode.DATA_ERROR
        )
    sys.stdout.write(f"audit log intact: {result.records} records verified\n")


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"--since {value!r} is not an ISO 8601 date or time", ExitCode.USAGE) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit_app.command("export")
def audit_export(
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601 time (UTC if no zone).")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl or syslog (RFC 5424).")] = (
        ExportFormat.JSONL
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default stdout).")] = None,
    config: ConfigOption = None,
) -> None:
    """Write audit records for a SIEM: JSON lines or RFC 5424 syslog, oldest first."""
    moment = _parse_since(since)
    log = open_audit(_settings(config))
    render = as_json if fmt is ExportFormat.JSONL else as_syslog
    handle = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for record in iter_records(log, since=moment):
            handle.write(render(record) + "\n")
    finally:
        log.close()
        if output:
            handle.close()


def access_review_command(
    as_json_out: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
    config: ConfigOption = None,
) -> None:
    """List every principal (service clients, SAML users) with roles, scopes and last use; flag
    those unused for `auth.unused_after_days` (90)."""
    from gateway.access_review import access_review
    from gateway.auth.clients import ClientRegistry
    from gateway.auth.store import AuthStore

    settings = _settings(config)
    store = AuthStore(settings.home / "auth" / "auth.db")
    try:
        rows = access_review(
            store,
            ClientRegistry(settings.home / "auth" / "clients.json"),
            unused_after_days=settings.auth.unused_after_days,
        )
    finally:
        store.close()
    if as_json_out:
        sys.stdout.write(json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
        return
    table = Table(title=f"access review (unused: > {settings.auth.unused_after_days} days)")
    for column in ("kind", "id", "roles", "scopes", "last used", "flag"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.kind,
            row.principal_id,
            " ".join(row.roles) or "-",
            " ".join(row.scopes) or "-",
            row.last_used.isoformat(timespec="seconds") if row.last_used else "never",
            "UNUSED" if row.unused else "",
        )
    _out.print(table)


def dataflow_command(
    fmt: Annotated[FlowFormat, typer.Option("--format", help="mermaid, dot or json.")] = FlowFormat.MERMAID,
    config: ConfigOption = None,
) -> None:
    """Print the data-flow diagram of the configuration: sources, stages, stores, sinks, the data
    class on each edge and its protection at rest and in transit."""
    from gateway.dataflow import build_dataflow
    from gateway.runtime import Runtime

    sys.stdout.write(build_dataflow(Runtime.build(_settings(config))).render(fmt.value))


@client_app.command("add")
def client_add(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    role: Annotated[list[Role] | None, typer.Option("--role", help="A role; repeat for more.")] = None,
    scope: Annotated[list[Scope] | None, typer.Option("--scope", help="A scope; repeat for more.")] = None,
    config: ConfigOption = None,
) -> None:
    """Register a client (or give it a new secret); prints the secret once."""
    from gateway.auth.clients import ClientRegistry

    settings = _settings(config)
    if settings.auth.external:
        raise _fail("an external issuer is configured; register clients there", ExitCode.USAGE)
    if not role and not scope:
        raise _fail("give at least one --role or --scope", ExitCode.USAGE)
    secret = ClientRegistry(settings.home / "auth" / "clients.json").add(
        client_id, roles=list(role or []), scopes=[item.value for item in scope or []]
    )
    sys.stdout.write(f"client_id={client_id}\nclient_secret={secret}\n")


@client_app.command("list")
def client_list(config: ConfigOption = None) -> None:
    """List registered clients (never their secrets)."""
    from gateway.auth.clients import ClientRegistry

    settings = _settings(config)
    for client in ClientRegistry(settings.home / "auth" / "clients.json").all():
        scopes = " ".join(sorted(client.allowed_scopes))
        sys.stdout.write(f"{client.client_id}\troles={','.join(client.roles) or '-'}\tscopes={scopes}\n")


@client_app.command("remove")
def client_remove(
    client_id: Annotated[str, typer.Argument(help="The client id.")], config: ConfigOption = None
) -> None:
    """Unregister a client."""
    from gateway.auth.clients import ClientRegistry

    settings = _settings(config)
    if not ClientRegistry(settings.home / "auth" / "clients.json").remove(client_id):
        raise _fail(f"no client {client_id!r}", ExitCode.USAGE)
