"""``rcmgw ingest``: files through the same pipeline as HTTP, one file at a time, a bad file never
stopping the good ones."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from rich.console import Console

from adapters.errors import InputRejected
from adapters.json_event import parse_event_file
from adapters.x12.errors import X12Rejected
from adapters.x12.validation import validate_x12
from gateway.exit_codes import ExitCode
from gateway.ingest_hl7_files import dry_run_hl7, ingest_hl7_path, is_hl7_file
from gateway.keys import load_or_create_keys
from gateway.pipeline import RecordQuarantined
from gateway.runtime import Runtime, build_sealer
from gateway.settings import Settings
from gateway.x12_ingest import X12Outcome, ingest_x12_file, is_x12_file, seal_x12
from normalizers.errors import NormalizationError
from normalizers.normalizer import Normalizer
from normalizers.sealing import Sealer


def _report_rejection(path: Path, code: str, message: str) -> None:
    sys.stderr.write(f"rcmgw: error: {path}: {code}: {message}\n")


async def ingest_paths(
    settings: Settings,
    paths: list[Path],
    *,
    dry_run: bool,
    as_json: bool,
    out: Console,
    validate: bool = False,
) -> ExitCode:
    """Ingest each path; return the worst exit code (0 or 65). Spool outages raise. With
    ``validate``, X12 files are also checked against their implementation guide (pyx12) and each
    finding becomes an ``x12-validation-finding`` ticket (findings do not change the exit code)."""
    worst = ExitCode.OK
    if dry_run:
        normalizer, sealer = Normalizer(), build_sealer(load_or_create_keys(settings.keys_dir))
        for path in paths:
            if _is_x12(path):
                worst = max(worst, _dry_run_x12(path, normalizer, sealer))
                if validate:
                    for finding in await asyncio.to_thread(validate_x12, path):
                        sys.stdout.write(
                            sealer.seal(normalizer.normalize(finding)).ticket.body.decode() + "\n"
                        )
                continue
            if is_hl7_file(path):
                worst = max(worst, dry_run_hl7(path, normalizer, sealer, settings.mllp.tickets))
                continue
            try:
                sealed = sealer.seal(normalizer.normalize(parse_event_file(path)))
            except (InputRejected, NormalizationError, OSError) as error:
                _report_rejection(path, *_describe(error))
                worst = ExitCode.DATA_ERROR
                continue
            sys.stdout.write(sealed.ticket.body.decode("utf-8") + "\n")
        return worst
    runtime = Runtime.build(settings)
    await runtime.start(delivery=False)
    try:
        for path in paths:
            if _is_x12(path):
                worst = max(worst, await _ingest_x12(runtime, path, as_json=as_json, out=out))
                if validate:
                    await _validate_x12(runtime, path, as_json=as_json, out=out)
                continue
            if is_hl7_file(path):
                worst = max(worst, await ingest_hl7_path(runtime, path, as_json=as_json, out=out))
                continue
            try:
                record = parse_event_file(path)
                result = await runtime.pipeline.ingest(record)
            except (InputRejected, RecordQuarantined, OSError) as error:
                _report_rejection(path, *_describe(error))
                worst = ExitCode.DATA_ERROR
                continue
            line = {
                "path": str(path),
                "status": "duplicate" if not result.created else "accepted",
                "ticket_id": result.ticket_id,
                "fingerprint": result.fingerprint,
            }
            if as_json:
                sys.stdout.write(json.dumps(line) + "\n")
            else:
                out.print(f"{path}: {line['status']} {result.ticket_id}", markup=False)
    finally:
        await runtime.stop()
    return worst


def _is_x12(path: Path) -> bool:
    try:
        return is_x12_file(path)
    except OSError:
        return False  # reported by the JSON path with its usual one-line error


def _x12_problem_line(path: Path, outcome: X12Outcome) -> None:
    more = f" (and {len(outcome.problems) - 1} more)" if len(outcome.problems) > 1 else ""
    where = f" [quarantined as {outcome.quarantine_id}]" if outcome.quarantine_id else ""
    _report_rejection(path, X12Rejected.code, outcome.problems[0] + more + where)


def _dry_run_x12(path: Path, normalizer: Normalizer, sealer: Sealer) -> ExitCode:
    with path.open("rb") as handle:
        outcome = seal_x12(handle, normalizer, sealer)
    for result in outcome.sealed:
        sys.stdout.write(result.ticket.body.decode("utf-8") + "\n")
    if outcome.rejected:
        _x12_problem_line(path, outcome)
        return ExitCode.DATA_ERROR
    return ExitCode.OK


async def _ingest_x12(runtime: Runtime, path: Path, *, as_json: bool, out: Console) -> ExitCode:
    outcome = await ingest_x12_file(
        path, runtime.pipeline, runtime.quarantine, batch_size=runtime.settings.x12.batch_size
    )
    created = sum(1 for result in outcome.results if result.created)
    line = {
        "path": str(path),
        "status": "rejected" if outcome.rejected else "accepted",
        "tickets": len(outcome.results),
        "new_tickets": created,
        "evidence": outcome.evidence,
        "resolved_ticket_ids": [ticket_id for result in outcome.resolved for ticket_id, _ in result.resolved],
        "problems": len(outcome.problems),
        "ticket_ids": [result.ticket_id for result in outcome.results],
    }
    if as_json:
        sys.stdout.write(json.dumps(line) + "\n")
    else:
        out.print(
            f"{path}: {len(outcome.results)} tickets ({created} new), {outcome.evidence} evidence records"
            f" ({sum(len(result.resolved) for result in outcome.resolved)} tickets resolved)",
            markup=False,
        )
    if outcome.rejected:
        _x12_problem_line(path, outcome)
        return ExitCode.DATA_ERROR
    return ExitCode.OK


async def _validate_x12(runtime: Runtime, path: Path, *, as_json: bool, out: Console) -> None:
    findings = await asyncio.to_thread(validate_x12, path)
    results = await runtime.pipeline.ingest_many(findings, source=f"validate:{path.name}")
    tickets = [result for result in results if not isinstance(result, RecordQuarantined)]
    line = {
        "path": str(path),
        "status": "validated",
        "findings": len(findings),
        "new_tickets": sum(1 for result in tickets if result.created),
        "ticket_ids": [result.ticket_id for result in tickets],
    }
    if as_json:
        sys.stdout.write(json.dumps(line) + "\n")
    else:
        out.print(f"{path}: {len(findings)} implementation-guide findings", markup=False)


def _describe(error: Exception) -> tuple[str, str]:
    if isinstance(error, InputRejected):
        details = "; ".join(f"{field}: {message}" for field, message in error.problems)
        return error.code, f"{error.message}{': ' + details if details else ''}"
    if isinstance(error, RecordQuarantined | NormalizationError):
        return error.code, str(error)
    if isinstance(error, OSError):
        return "io", error.strerror or type(error).__name__
    return "internal", type(error).__name__
