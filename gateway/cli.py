"""The ``rcmgw`` command line: serve, ingest, token, check-config.

Exit codes: 0 ok, 2 usage, 65 bad input data, 69 a needed service unavailable, 70 internal error.
Errors go to stderr as one line that says what and where; never a traceback, never PHI.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from gateway.auth.scopes import Scope
from gateway.cli_redact import redact as redact_command
from gateway.cli_reports import markers_app, report_app
from gateway.cli_rules import routing_or_exit, rules_app
from gateway.exit_codes import ExitCode, exit_code_for
from gateway.logs import configure_logging
from gateway.settings import Settings, get_settings

app = typer.Typer(
    name="rcmgw",
    help="rcm-gateway: revenue-cycle errors in, PHI-free tickets out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console(highlight=False, soft_wrap=True)
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file (also $RCMGW_CONFIG).", exists=False)
]


def _fail(message: str, code: ExitCode) -> typer.Exit:
    sys.stderr.write(f"rcmgw: error: {message}\n")
    return typer.Exit(int(code))


def _settings(config: Path | None) -> Settings:
    try:
        return get_settings(config)
    except FileNotFoundError as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    except ValidationError as error:
        first = error.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _fail(f"configuration: {where}: {first['msg']}", ExitCode.DATA_ERROR) from None


def _sample_file() -> Path | None:
    candidate = Path("fixtures/events/denial-co97.json")
    return candidate if candidate.is_file() else None


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the gateway: HTTP API and delivery workers, on embedded defaults unless configured."""
    import uvicorn

    from gateway.app import create_app
    from gateway.banner import quickstart_banner
    from gateway.runtime import Runtime

    settings = _settings(config)
    configure_logging(settings.log_level, settings.log_path)
    runtime = Runtime.build(settings)
    family = socket.AF_INET6 if ":" in settings.http_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.http_host, settings.http_port))
    except OSError as error:
        raise _fail(
            f"cannot listen on {settings.http_host}:{settings.http_port}: {error.strerror}",
            ExitCode.UNAVAILABLE,
        ) from None
    sock.listen(2048)  # connections queue from here on, before uvicorn starts accepting
    port = sock.getsockname()[1]
    mllp = _bind_mllp(tuple(runtime.services), settings)
    host = f"[{settings.http_host}]" if family == socket.AF_INET6 else settings.http_host
    program = sys.argv[0] if "/" in sys.argv[0] else "rcmgw"
    if settings.auth.external:
        sys.stderr.write(
            f"rcmgw: external issuer {settings.auth.issuer_url} configured: no dev token minted\n"
        )
        _out.print(f"rcm-gateway listening on http://{host}:{port}  (health: /healthz)", markup=False)
        _out.print(f"Tickets appear in {settings.outbox_file.resolve()}", markup=False)
    else:
        token = runtime.issuer.mint("quickstart", [Scope.EVENTS_WRITE], ttl=settings.dev_token_ttl_seconds)
        _out.print(
            quickstart_banner(
                f"http://{host}:{port}",
                token,
                settings.outbox_file.resolve(),
                _sample_file(),
                mllp=mllp,
                program=program,
            ),
            markup=False,
        )
    sys.stdout.flush()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, runtime), log_config=None, access_log=False, lifespan="on")
    )
    server.run(sockets=[sock])


def _bind_mllp(services: tuple[object, ...], settings: Settings) -> str | None:
    from gateway.mllp_service import MllpService

    for service in services:
        if isinstance(service, MllpService):
            try:
                port = service.bind()
            except OSError as error:
                where = f"{settings.mllp.host}:{settings.mllp.port}"
                raise _fail(
                    f"cannot listen for MLLP on {where}: {error.strerror}", ExitCode.UNAVAILABLE
                ) from None
            return f"{settings.mllp.host}:{port}"
    return None


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="JSON event or X12 files (told apart by content).", show_default=False),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print sealed tickets; spool nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line on stdout.")] = False,
    config: ConfigOption = None,
    validate: Annotated[
        bool,
        typer.Option(
            "--validate", help="Also run pyx12 IG validation on X12 files; findings become tickets."
        ),
    ] = False,
) -> None:
    """Ingest error files. Each good file is spooled (or printed with --dry-run); a bad one is
    reported on stderr and the rest go on; the exit code is 65 if any file was rejected."""
    from gateway.ingest_files import ingest_paths

    settings = _settings(config)
    configure_logging("WARNING", settings.log_path)
    try:
        worst = asyncio.run(
            ingest_paths(settings, paths, dry_run=dry_run, as_json=as_json, out=_out, validate=validate)
        )
    except Exception as error:  # noqa: BLE001 - the one place a command turns errors into exit codes
        raise _fail(
            f"{type(error).__name__} ({getattr(error, 'code', 'internal')})", exit_code_for(error)
        ) from None
    raise typer.Exit(int(worst))


@app.command()
def token(
    client: Annotated[str, typer.Option("--client", help="Client id (the token's subject).")],
    scope: Annotated[list[Scope], typer.Option("--scope", help="A scope to grant; repeat for more.")],
    ttl: Annotated[int | None, typer.Option("--ttl", help="Lifetime in seconds.")] = None,
    config: ConfigOption = None,
) -> None:
    """Mint an access token from the embedded dev issuer."""
    from gateway.auth.tokens import DevIssuer
    from gateway.keys import load_or_create_keys

    settings = _settings(config)
    if settings.auth.external:
        raise _fail(
            f"an external issuer is configured ({settings.auth.issuer_url}); the dev issuer is off: "
            "get tokens from that issuer",
            ExitCode.USAGE,
        )
    keys = load_or_create_keys(settings.keys_dir)
    issuer = DevIssuer(keys.issuer_key, issuer=settings.token_issuer, audience=settings.token_audience)
    sys.stdout.write(
        issuer.mint(client, [item.value for item in scope], ttl=ttl or settings.dev_token_ttl_seconds)
    )
    sys.stdout.write("\n")


@app.command("check-config")
def check_config(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print settings as JSON.")] = False,
) -> None:
    """Validate the configuration without starting anything."""
    settings = _settings(config)
    routing_or_exit(settings)
    values = json.loads(settings.model_dump_json())
    if as_json:
        sys.stdout.write(json.dumps(values, indent=2) + "\n")
        return
    table = Table(title="rcm-gateway configuration: valid", show_lines=False)
    table.add_column("setting")
    table.add_column("value")
    for key, value in values.items():
        table.add_row(f"RCMGW_{key.upper()}", str(value))
    _out.print(table)


from gateway.cli_fhir import fhir_app  # noqa: E402 - registered after the core commands

app.add_typer(fhir_app, name="fhir")
from gateway import cli_security  # noqa: E402 - the security area's commands

app.add_typer(cli_security.audit_app)
app.add_typer(cli_security.client_app)
app.command("access-review")(cli_security.access_review_command)
app.command("dataflow")(cli_security.dataflow_command)
app.command("redact")(redact_command)
from gateway.cli_spool import spool_app  # noqa: E402 - registered after the core commands

app.add_typer(spool_app, name="spool")
app.add_typer(rules_app)
app.add_typer(markers_app)
app.add_typer(report_app)


def main() -> None:
    """Console-script entry point: any error that escapes a command becomes one line on stderr and
    its exit code; never a traceback (a library's message can quote input)."""
    try:
        app()
    except Exception as error:  # noqa: BLE001 - the last line of defence for the one-line contract
        code = getattr(error, "code", "internal")
        sys.stderr.write(f"rcmgw: error: {type(error).__name__} ({code})\n")
        sys.exit(int(exit_code_for(error)))


__all__ = ["app", "main"]
