"""``rcmgw rules explain FILE...`` and the rules check inside ``rcmgw check-config``.

Explain reads each file through the same function ``rcmgw ingest`` uses, normalizes and seals it
exactly as the pipeline would (record-stage rules, redaction, post-redaction rules) without
spooling, and prints one JSON object per ticket: every rule that matched and why (the routing
rationale, which holds rule ids and condition descriptions, never ticket text) and the final
routing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from adapters.errors import InputRejected
from adapters.json_event import parse_event_file
from gateway.exit_codes import ExitCode
from gateway.keys import load_or_create_keys
from gateway.rules_settings import RoutingParts, build_routing
from gateway.runtime import build_sealer
from gateway.settings import Settings, get_settings
from normalizers.errors import NormalizationError, RuleConfigError

rules_app = typer.Typer(name="rules", help="Inspect the routing rules.", no_args_is_help=True)


def routing_or_exit(settings: Settings) -> RoutingParts:
    """The validated rules; on a bad rules file, one line naming file and line, exit 65."""
    try:
        return build_routing(settings.rules, settings.lifecycle)
    except RuleConfigError as error:
        sys.stderr.write(f"rcmgw: error: rules: {error}\n")
        raise typer.Exit(int(ExitCode.DATA_ERROR)) from None


def explain_line(path: Path, routing: RoutingParts, settings: Settings) -> dict[str, object]:
    """What ``path`` would become: the rules that matched, why, and the final routing."""
    sealer = build_sealer(
        load_or_create_keys(settings.keys_dir),
        post_rules=routing.post_rules,
        fingerprint_fields=routing.fingerprint_fields,
    )
    record = parse_event_file(path)
    payload = sealer.seal(routing.normalizer.normalize(record), record).ticket.payload
    matched = []
    for line in payload.routing.rationale:
        rule, _, why = line.partition(": ")
        matched.append({"rule": rule, "why": why})
    return {
        "path": str(path),
        "ticket_id": payload.id,
        "fingerprint": payload.fingerprint,
        "rules_file": routing.rules.source,
        "matched": matched,
        "routing": {
            "category": payload.category,
            "subcategory": payload.subcategory,
            "queue": payload.routing.queue,
            "tier": payload.tier,
            "priority": payload.priority.value,
            "owner": payload.owner,
            "co_owner": payload.co_owner,
            "override": payload.override,
            "sla": payload.sla.model_dump(mode="json") if payload.sla else None,
            "tags": payload.tags,
            "rule_id": payload.routing.rule_id,
        },
    }


@rules_app.command("explain")
def explain(
    paths: Annotated[
        list[Path], typer.Argument(help="Sample input files (JSON events).", show_default=False)
    ],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
) -> None:
    """For each ticket the samples would produce: the rules that matched, why, and the routing."""
    try:
        settings = get_settings(config)
    except (FileNotFoundError, ValueError) as error:
        sys.stderr.write(f"rcmgw: error: configuration: {type(error).__name__}\n")
        raise typer.Exit(int(ExitCode.USAGE)) from None
    routing = routing_or_exit(settings)
    worst = ExitCode.OK
    for path in paths:
        try:
            line = explain_line(path, routing, settings)
        except (InputRejected, NormalizationError) as error:
            sys.stderr.write(f"rcmgw: error: {path}: {error.code}\n")
            worst = ExitCode.DATA_ERROR
            continue
        except OSError as error:
            sys.stderr.write(f"rcmgw: error: {path}: io: {error.strerror or type(error).__name__}\n")
            worst = ExitCode.DATA_ERROR
            continue
        sys.stdout.write(json.dumps(line) + "\n")
    raise typer.Exit(int(worst))
