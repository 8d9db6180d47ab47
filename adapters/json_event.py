"""Generic JSON error events, as revenue platforms and scripts post them to ``POST /v1/events``.

An event names its source, an error code and its code system, a message, and optionally the payer,
amounts and the patient or claim it concerns. Patient and claim fields are PHI: they go to the
record's ``phi`` part, never to its facts. ``message`` and ``note`` are free text and are scanned.

Validation errors name the field and the problem, never the value (values may be PHI). Unknown keys
are named only when they look like plain field names (lower-case ASCII identifiers); any other key
is reported as ``<unknown field>`` because a key can itself hold PHI.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from adapters.base import Ack, FactValue, PhiValue, SourceRecord
from adapters.errors import InputRejected, InputTooLarge

RECORD_TYPE = "json-event"
DEFAULT_MAX_BYTES = 1024 * 1024
_SAFE_KEY = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")

Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Clear = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Amount = Annotated[Decimal, Field(max_digits=14, decimal_places=2, ge=Decimal("-999999999999.99"))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventSource(_Strict):
    """Which system raised the error."""

    system: Token
    instance: Token = "default"
    module: Label | None = None


class EventError(_Strict):
    """The error itself: a code in a code system, and a human message (free text, may hold PHI)."""

    code: Token
    code_system: Token
    message: Annotated[str, StringConstraints(max_length=10_000)] = ""


class EventPayer(_Strict):
    """The payer concerned (ids and names of payers are not PHI)."""

    id: Token | None = None
    name: Label | None = None


class EventAmounts(_Strict):
    """Money involved, as decimal strings or numbers."""

    billed: Amount | None = None
    paid: Amount | None = None


class EventPatient(_Strict):
    """Patient identifiers. Every field is PHI and is replaced by a pseudonym."""

    name: Clear | None = None
    mrn: Clear | None = None
    dob: Clear | None = None
    ssn: Clear | None = None
    phone: Clear | None = None
    email: Clear | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=400)] | None = None
    member_id: Clear | None = None


class EventClaim(_Strict):
    """Claim and account numbers (PHI: patient control and account numbers identify a person)."""

    id: Clear | None = None
    account: Clear | None = None


class JsonEvent(_Strict):
    """A generic error event. See docs/events.md for the full description and an example."""

    event_id: Token | None = None
    source: EventSource
    error: EventError
    occurred_at: AwareDatetime | None = None
    origin: Literal["system-generated", "user-reported"] = "system-generated"
    payer: EventPayer | None = None
    facility: Token | None = None
    amounts: EventAmounts | None = None
    patient: EventPatient | None = None
    claim: EventClaim | None = None
    note: Annotated[str, StringConstraints(max_length=10_000)] | None = None


_PATIENT_KINDS: dict[str, str] = {
    "name": "NAME",
    "mrn": "MRN",
    "dob": "DOB",
    "ssn": "SSN",
    "phone": "PHONE",
    "email": "EMAIL",
    "address": "ADDR",
    "member_id": "MEMBER",
}
_CLAIM_KINDS: dict[str, str] = {"id": "CLAIM", "account": "ACCT"}


def _location(loc: Iterable[int | str], error_type: str) -> str:
    parts: list[str] = []
    items = list(loc)
    for index, item in enumerate(items):
        text = str(item)
        is_unknown_key = error_type == "extra_forbidden" and index == len(items) - 1
        if is_unknown_key and not _SAFE_KEY.match(text):
            text = "<unknown field>"
        parts.append(text)
    return ".".join(parts) or "<body>"


def problems_from(error: ValidationError) -> list[tuple[str, str]]:
    """(location, message) pairs for a validation error, without the offending values."""
    problems: list[tuple[str, str]] = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        error_type = str(item["type"])
        message = "unknown field" if error_type == "extra_forbidden" else str(item["msg"])
        problems.append((_location(item["loc"], error_type), message))
    return problems


def parse_event(
    body: bytes, *, received_at: datetime | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> SourceRecord:
    """Validate one JSON event and turn it into a `SourceRecord`.

    Raises `InputTooLarge` past ``max_bytes`` and `InputRejected` (with field-level problems) when
    the body is not a valid event.
    """
    if len(body) > max_bytes:
        raise InputTooLarge(f"event body is {len(body)} bytes; the limit is {max_bytes}")
    try:
        event = JsonEvent.model_validate_json(body)
    except ValidationError as error:
        raise InputRejected("the event is not valid", problems_from(error)) from None
    return record_from_event(event, body, received_at or datetime.now(UTC))


def record_from_event(event: JsonEvent, raw: bytes, received_at: datetime) -> SourceRecord:
    """Split a validated event into facts, PHI values and free texts."""
    facts: dict[str, FactValue] = {
        "source.system": event.source.system,
        "source.instance": event.source.instance,
        "source.module": event.source.module,
        "error.code": event.error.code,
        "error.code_system": event.error.code_system,
        "origin": event.origin,
        "occurred_at": event.occurred_at,
        "facility": event.facility,
        "payer.id": event.payer.id if event.payer else None,
        "payer.name": event.payer.name if event.payer else None,
        "amounts.billed": event.amounts.billed if event.amounts else None,
        "amounts.paid": event.amounts.paid if event.amounts else None,
    }
    phi: list[PhiValue] = []
    if event.patient is not None:
        for name, kind in _PATIENT_KINDS.items():
            value = getattr(event.patient, name)
            if value:
                phi.append(PhiValue(kind=kind, field=f"patient.{name}", value=value))
    if event.claim is not None:
        for name, kind in _CLAIM_KINDS.items():
            value = getattr(event.claim, name)
            if value:
                phi.append(PhiValue(kind=kind, field=f"claim.{name}", value=value))
    texts = {"message": event.error.message}
    if event.note:
        texts["note"] = event.note
    control_ids = {"event_id": event.event_id} if event.event_id else {}
    return SourceRecord(
        record_type=RECORD_TYPE,
        source_system=event.source.system,
        source_format=RECORD_TYPE,
        facts=facts,
        phi=tuple(phi),
        texts=texts,
        control_ids=control_ids,
        received_at=received_at,
        idempotency_id=event.event_id,
        raw_digest_input=raw,
    )


class JsonEventFileAdapter:
    """Reads JSON event files, one event per file.

    ``read()`` yields one record per file and raises `InputRejected` at the first invalid file;
    callers that must go on past a bad file (``rcmgw ingest``) call `parse_event_file` per path.
    Each record's ack is a no-op: a file named on the command line stays the caller's to keep.
    """

    name: ClassVar[str] = "json-event-files"

    def __init__(self, paths: Iterable[Path], *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._paths = list(paths)
        self._max_bytes = max_bytes
        self._closed = False

    async def open(self) -> None:
        """Nothing to prepare."""

    async def read(self) -> AsyncIterator[tuple[SourceRecord, Ack]]:
        """Yield each file's record; raise `InputRejected` for the first bad file."""
        for path in self._paths:
            if self._closed:
                return
            yield parse_event_file(path, max_bytes=self._max_bytes), _noop_ack

    async def aclose(self) -> None:
        """Stop reading."""
        self._closed = True


def parse_event_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SourceRecord:
    """Read and parse one event file; `InputRejected` names the file, `OSError` propagates."""
    size = path.stat().st_size
    if size > max_bytes:
        raise InputTooLarge(f"{path.name}: {size} bytes; the limit is {max_bytes}")
    return parse_event(path.read_bytes(), max_bytes=max_bytes)


async def _noop_ack() -> None:
    return None
