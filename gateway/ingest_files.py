"""``rcmgw ingest``: files through the same pipeline as HTTP, one file at a time, a bad file never
stopping the good ones."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from adapters.errors import InputRejected
from adapters.json_event import parse_event_file
from gateway.exit_codes import ExitCode
from gateway.keys import load_or_create_keys
from gateway.pipeline import RecordQuarantined
from gateway.runtime import Runtime, build_sealer
from gateway.settings import Settings
from normalizers.errors import NormalizationError
from normalizers.normalizer import Normalizer


def _report_rejection(path: Path, code: str, message: str) -> None:
    sys.stderr.write(f"rcmgw: error: {path}: {code}: {message}\n")


async def ingest_paths(
    settings: Settings, paths: list[Path], *, dry_run: bool, as_json: bool, out: Console
) -> ExitCode:
    """Ingest each path; return the worst exit code (0 or 65). Spool outages raise."""
    worst = ExitCode.OK
    if dry_run:
        normalizer, sealer = Normalizer(), build_sealer(load_or_create_keys(settings.keys_dir))
        for path in paths:
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


def _describe(error: Exception) -> tuple[str, str]:
    if isinstance(error, InputRejected):
        details = "; ".join(f"{field}: {message}" for field, message in error.problems)
        return error.code, f"{error.message}{': ' + details if details else ''}"
    if isinstance(error, RecordQuarantined | NormalizationError):
        return error.code, str(error)
    if isinstance(error, OSError):
        return "io", error.strerror or type(error).__name__
    return "internal", type(error).__name__
