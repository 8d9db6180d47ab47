"""The canonical ticket payload, `TicketPayload`, version 1.

Every ticket that leaves the gateway, whatever its source, has this shape. It is frozen and forbids
unknown fields so that a typo or a stray PHI-bearing field can never slip through unnoticed. Its JSON
Schema is committed at ``schemas/ticket-v1.json`` and a test fails when model and file drift.

Versioning: ``schema_version`` is ``"1.MINOR"``. A minor version only *adds* optional fields with
defaults, so every v1.0 payload is a valid v1.x payload; consumers that need the new fields check the
minor number (1.1 added ``evidence`` and ``children``; 1.2 added ``subcategory``, ``owner``,
``co_owner``, ``sla``, ``override`` and ``lifecycle``; 1.3 added ``lifecycle.follows``). Anything
that renames, removes or changes the meaning of a field is version 2, with its own model and
schema file beside this one.

Nothing in here may hold PHI. Subjects (patient, claim, account ...) appear only as pseudonym tokens
made by the redactor (``[MRN:K7Q2-M9XD]``); free text fields hold redacted text only.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_MAJOR = 1
SCHEMA_VERSION = "1.3"
PSEUDONYM_PATTERN = r"^\[[A-Z][A-Z0-9_]{0,15}:[A-Z2-7]{4}-[A-Z2-7]{4}\]$"

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
CodeText = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PseudonymToken = Annotated[str, StringConstraints(pattern=PSEUDONYM_PATTERN)]
Money = Annotated[Decimal, Field(max_digits=14, decimal_places=2)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Origin(StrEnum):
    """Who raised the problem: a system (adapter) or a person (a user report)."""

    SYSTEM_GENERATED = "system-generated"
    USER_REPORTED = "user-reported"


class Priority(StrEnum):
    """Ticket priority, highest first."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class SourceFormat(StrEnum):
    """The wire format the error arrived in."""

    JSON_EVENT = "json-event"
    X12 = "x12"
    HL7V2 = "hl7v2"
    FHIR = "fhir"


class SourceInfo(_Frozen):
    """Where the error came from. ``control_ids`` holds non-PHI ids only (ISA13, GS06, ST02, MSH-10,
    a FHIR resource id, an event id), keyed by their standard name."""

    system: ShortText
    instance: ShortText = "default"
    module: ShortText | None = None
    format: SourceFormat
    control_ids: dict[CodeText, Annotated[str, StringConstraints(max_length=80)]] = Field(
        default_factory=dict
    )


class Code(_Frozen):
    """One coded fact: CARC, RARC, 277 category/status, 999 IK3/IK4, HL7 ERR, FHIR issue, vendor."""

    system: CodeText
    code: CodeText
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class Payer(_Frozen):
    """The payer an error concerns (payer ids are business identifiers, not PHI)."""

    id: CodeText | None = None
    name: ShortText | None = None


class Financial(_Frozen):
    """Money involved. ``exposure`` is what is at risk (for a denial, usually billed less paid)."""

    currency: Literal["USD"] = "USD"
    billed: Money | None = None
    paid: Money | None = None
    exposure: Money | None = None


class SubjectRef(_Frozen):
    """A reference to a person or claim as a pseudonym token; never a clear value."""

    kind: CodeText
    token: PseudonymToken


class Routing(_Frozen):
    """Where the ticket goes and why. ``rationale`` lists each decision in order."""

    queue: ShortText
    rule_id: ShortText
    rationale: list[Annotated[str, StringConstraints(max_length=300)]] = Field(default_factory=list)


class RedactionReport(_Frozen):
    """What redaction did: the policy version, how many values of each identifier kind it replaced
    and the pseudonym key id. Never the values."""

    policy_version: ShortText
    key_id: ShortText
    counts: dict[CodeText, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)


class Sla(_Frozen):
    """SLA targets set by routing rules, in minutes. ``paused_reason`` is set while the clock is
    stopped by a state outside the provider's control (the payer is still adjudicating)."""

    response_minutes: Annotated[int, Field(ge=1)] | None = None
    resolve_minutes: Annotated[int, Field(ge=1)] | None = None
    paused_reason: CodeText | None = None


class LifecycleKind(StrEnum):
    """What a delivery is in the life of its problem's ticket."""

    OPEN = "open"
    UPDATE = "update"
    RESOLVE = "resolve"


class Lifecycle(_Frozen):
    """The ticket's place in its fingerprint's life: ``open`` is a new ticket; ``update`` and
    ``resolve`` refer to the ticket they change (``of``), which sinks comment on or close instead
    of creating a new one. ``occurrences`` counts the repeats folded into the ticket so far."""

    kind: LifecycleKind = LifecycleKind.OPEN
    of: Annotated[str, StringConstraints(pattern=r"^tkt_[0-9a-f]{32}$")] | None = None
    occurrences: Annotated[int, Field(ge=1)] = 1
    first_seen: AwareDatetime | None = None
    last_seen: AwareDatetime | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
    # 1.3: an ``open`` after the fingerprint's previous ticket was resolved names that ticket, so
    # sinks create a new remote ticket that links the old one instead of commenting on it.
    follows: Annotated[str, StringConstraints(pattern=r"^tkt_[0-9a-f]{32}$")] | None = None


class TicketPayload(_Frozen):
    """The canonical, PHI-free ticket. See the module docstring for the versioning rules."""

    schema_version: Annotated[str, StringConstraints(pattern=r"^1\.\d+$")] = SCHEMA_VERSION
    id: Annotated[str, StringConstraints(pattern=r"^tkt_[0-9a-f]{32}$")]
    fingerprint: Annotated[str, StringConstraints(pattern=r"^fp_[0-9a-f]{32}$")]
    source: SourceInfo
    received_at: AwareDatetime
    occurred_at: AwareDatetime | None = None
    origin: Origin = Origin.SYSTEM_GENERATED
    category: ShortText
    taxonomy_version: ShortText
    codes: list[Code] = Field(default_factory=list)
    payer: Payer | None = None
    facility: ShortText | None = None
    financial: Financial = Field(default_factory=Financial)
    subjects: list[SubjectRef] = Field(default_factory=list)
    priority: Priority = Priority.NORMAL
    tier: Annotated[int, Field(ge=1, le=3)] = 1
    routing: Routing
    tags: list[CodeText] = Field(default_factory=list)
    summary: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    description: Annotated[str, StringConstraints(max_length=20000)] = ""
    redaction: RedactionReport
    # 1.1: the source's own words (offending segments, message text) as a redacted excerpt, and
    # the items a grouped ticket stands for (claims of a batch rejected for one reason).
    evidence: Annotated[str, StringConstraints(max_length=50000)] = ""
    children: list[SubjectRef] = Field(default_factory=list)
    # 1.2: taxonomy subcategory, owner team and co-owner (hybrid issues), SLA targets, an override
    # that bypasses queue order (clinical urgency), and the ticket's lifecycle (open/update/resolve).
    subcategory: CodeText | None = None
    owner: ShortText | None = None
    co_owner: ShortText | None = None
    sla: Sla | None = None
    override: CodeText | None = None
    lifecycle: Lifecycle | None = None

    def canonical_json(self) -> bytes:
        """The payload as compact UTF-8 JSON, the exact bytes stored and delivered."""
        return self.model_dump_json(exclude_none=False).encode("utf-8")


def ticket_json_schema() -> dict[str, object]:
    """The JSON Schema of `TicketPayload` as committed in ``schemas/ticket-v1.json``."""
    schema = TicketPayload.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://rcm-gateway.example/schemas/ticket-v1.json"
    return schema


__all__ = [
    "PSEUDONYM_PATTERN",
    "SCHEMA_MAJOR",
    "SCHEMA_VERSION",
    "Code",
    "Financial",
    "Lifecycle",
    "LifecycleKind",
    "Origin",
    "Payer",
    "Priority",
    "RedactionReport",
    "Routing",
    "Sla",
    "SourceFormat",
    "SourceInfo",
    "SubjectRef",
    "TicketPayload",
    "ticket_json_schema",
]
