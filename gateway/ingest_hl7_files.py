"""``rcmgw ingest`` for HL7 v2 files (single messages or FHS/BHS batch files of any size).

A file is streamed through `gateway.hl7_batch.ingest_hl7_file` (bounded batches, one durable commit
each); its summary line is printed only after the last commit. A message that is bad or cannot be
made into a ticket is quarantined and makes the exit code 65 without stopping the rest; when the
spool cannot commit, `fallback.errors.SpoolError` propagates (the file is not done; ingesting it
again spools nothing twice).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from adapters.hl7v2.intake import parse_one
from adapters.hl7v2.stream import looks_like_hl7, read_chunks
from gateway.exit_codes import ExitCode
from gateway.hl7_batch import ingest_hl7_file
from gateway.hl7_intake import Hl7Intake
from gateway.runtime import Runtime
from normalizers.errors import NormalizationError
from normalizers.hl7v2 import with_problems
from normalizers.hl7v2_rules import Hl7TicketRules, find_problems
from normalizers.normalizer import Normalizer
from normalizers.sealing import Sealer


def is_hl7_file(path: Path) -> bool:
    """Whether ``path`` starts like HL7 v2 (MSH, FHS or BHS), judged by content."""
    try:
        with path.open("rb") as handle:
            return looks_like_hl7(handle.read(256))
    except OSError:
        return False  # reported by the JSON path with its usual one-line error


def _report(path: Path, rejected: int) -> None:
    sys.stderr.write(
        f"rcmgw: error: {path}: input.hl7.rejected: {rejected} message(s) rejected and quarantined\n"
    )


async def ingest_hl7_path(runtime: Runtime, path: Path, *, as_json: bool, out: Console) -> ExitCode:
    """Ingest one HL7 v2 file and print its summary (see the module docstring)."""
    intake = Hl7Intake(
        runtime.pipeline, runtime.quarantine, runtime.settings.mllp.tickets, metrics=runtime.metrics
    )
    intake.use_strict(runtime.settings.mllp.strict)
    outcome = await ingest_hl7_file(path, runtime.pipeline, intake)
    line = {
        "path": str(path),
        "status": "rejected" if outcome.rejected else "accepted",
        "messages": outcome.messages,
        "tickets": outcome.tickets,
        "new_tickets": outcome.new_tickets,
        "rejected": outcome.rejected,
        "codes": dict(outcome.codes),
    }
    if as_json:
        sys.stdout.write(json.dumps(line) + "\n")
    else:
        out.print(
            f"{path}: {outcome.messages} messages, {outcome.tickets} tickets ({outcome.new_tickets} new),"
            f" {outcome.rejected} rejected",
            markup=False,
        )
    if outcome.rejected:
        _report(path, outcome.rejected)
        return ExitCode.DATA_ERROR
    return ExitCode.OK


def dry_run_hl7(path: Path, normalizer: Normalizer, sealer: Sealer, rules: Hl7TicketRules) -> ExitCode:
    """The sealed tickets of an HL7 v2 file, printed one per line, without spooling anything."""
    rejected = 0
    received_at = datetime.now(UTC)
    with path.open("rb") as handle:
        for chunk in read_chunks(handle):
            message = parse_one(chunk, received_at=received_at)
            if message.record is None:
                rejected += 1
                continue
            problems = find_problems(message.record, rules)
            if not problems:
                continue
            try:
                sealed = sealer.seal(normalizer.normalize(with_problems(message.record, problems)))
            except NormalizationError:
                rejected += 1
                continue
            sys.stdout.write(sealed.ticket.body.decode("utf-8") + "\n")
    if rejected:
        _report(path, rejected)
        return ExitCode.DATA_ERROR
    return ExitCode.OK
