"""``rcmgw redact``: redact standard input with the gateway's key and detectors.

``--format x12|hl7|fhir`` first marks the document's identifier fields by position
(`redaction.structure`); ``text`` (the default) relies on detectors alone. Output is the redacted
text, or with ``--json`` one object ``{"text": ..., "findings": [{"start", "end", "kind", "token"}]}``
whose offsets index the input as decoded (UTF-8, Python string offsets). Nothing is written
anywhere else; on failure one line on stderr names the error class, never the input.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gateway.keys import load_or_create_keys
from gateway.settings import get_settings
from redaction import Pseudonymizer, RedactionError, Redactor, default_detector_registry
from redaction.structure import quiet_regions, structural_marks


class InputFormat(StrEnum):
    """How standard input is read."""

    TEXT = "text"
    X12 = "x12"
    HL7 = "hl7"
    FHIR = "fhir"


def redact_document(redactor: Redactor, text: str, fmt: InputFormat) -> dict[str, object]:
    """The ``--json`` answer for ``text`` read as ``fmt``."""
    marks = structural_marks(text, fmt.value)
    redacted, findings = redactor.redact_marked(text, marks, quiet=quiet_regions(text, fmt.value))
    return {
        "text": redacted,
        "findings": [
            {"start": item.start, "end": item.end, "kind": item.kind.value, "token": item.token}
            for item in findings
        ],
    }


def redact(
    fmt: Annotated[InputFormat, typer.Option("--format", "-f", help="How to read stdin.")] = InputFormat.TEXT,
    as_json: Annotated[bool, typer.Option("--json", help="Print text and findings as JSON.")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
) -> None:
    """Redact standard input (X12, HL7 v2, FHIR JSON or plain text) and print the result."""
    settings = get_settings(config)
    keys = load_or_create_keys(settings.keys_dir)
    redactor = Redactor(Pseudonymizer(keys.pseudonym), default_detector_registry())
    text = sys.stdin.buffer.read().decode("utf-8", "replace")
    try:
        answer = redact_document(redactor, text, fmt)
    except RedactionError as error:
        sys.stderr.write(f"rcmgw: error: redaction failed ({error.code}); nothing was printed\n")
        raise typer.Exit(70) from None
    if as_json:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(str(answer["text"]))
