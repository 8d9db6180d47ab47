"""HL7 v2 intake: one input (MLLP frame or HTTP body) in, its ACK(s) out, after durable commits.

Per message, in order, each on its own:

- parse error or failed validation -> raw message quarantined (encrypted), ``AE`` (``CE``) + ERR;
- unsupported type, version or processing id -> quarantined, ``AR`` (``CR``) + ERR;
- a ticket-worthy problem (`normalizers.hl7v2_rules`) -> `IngestPipeline.ingest` (normalize, seal,
  durable spool commit) and only then ``AA`` (``CA``); concurrent connections share those commits
  (`gateway.group_ingest.GroupIngest`: one spool, audit and lifecycle transaction per group, each
  ACK only after the commits holding its message);
- no problem -> ``AA`` at once, without a spool write or an audit record: nothing was accepted
  that must survive a crash, and the sender keeps the message (docs/hl7v2.md says why);
- spool unavailable -> ``AE`` (``CE``) with ERR 207 "transient"; the rest of the input is not
  attempted (answered the same way), so the sender resends it all.

ACKs never contain message values other than MSH-10 (echoed in MSA-2) and MSH-3..6 (swapped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.hl7v2.ack import AckCode, AckError, ack_code_for, build_ack, build_batch_ack
from adapters.hl7v2.errors import Hl7Unsupported
from adapters.hl7v2.header import MessageHeader, salvage_header
from adapters.hl7v2.intake import ParsedMessage, parse_input
from adapters.hl7v2.message import Chunk, decode, lines_of
from adapters.hl7v2.mllp import FrameTooLarge
from adapters.hl7v2.strict import StrictValidationSettings, validate_strict
from fallback.errors import SpoolError
from gateway.group_ingest import GroupIngest
from gateway.metrics import GatewayMetrics
from gateway.pipeline import IngestPipeline, RecordQuarantined
from gateway.quarantine import Quarantine
from normalizers.hl7v2 import with_problems
from normalizers.hl7v2_rules import Hl7TicketRules, find_problems

log = logging.getLogger("rcmgw.hl7")
SOURCE = "hl7v2"
TRANSIENT_TEXT = "transient: the gateway cannot store messages now; nothing was accepted, resend later"


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """The answer to one input: the ACK payload and per-message MSA-1 codes."""

    payload: bytes
    codes: tuple[str, ...]
    transient: bool


class Hl7Intake:
    """Turns HL7 v2 inputs into ACKs (see the module docstring)."""

    def __init__(
        self,
        pipeline: IngestPipeline,
        quarantine: Quarantine,
        rules: Hl7TicketRules,
        *,
        group: GroupIngest | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._group = group or GroupIngest(pipeline)
        self._quarantine = quarantine
        self._rules = rules
        self._metrics = metrics
        self._strict = StrictValidationSettings()

    def use_strict(self, settings: StrictValidationSettings) -> None:
        """Validate messages against hl7apy's structures as ``settings`` say (`adapters.hl7v2.strict`)."""
        self._strict = settings

    async def _strictly(self, message: ParsedMessage) -> ParsedMessage:
        if message.error is not None or not self._strict.applies_to(message.header):
            return message
        error = await asyncio.to_thread(validate_strict, message.raw, message.header)
        if error is None:
            return message
        return ParsedMessage(header=message.header, raw=message.raw, error=error)

    @property
    def rules(self) -> Hl7TicketRules:
        """The ticket rules this intake applies."""
        return self._rules

    async def check(self, message: ParsedMessage) -> ParsedMessage:
        """``message`` after strict validation (when it applies): for batching callers
        (`gateway.hl7_batch`)."""
        return await self._strictly(message)

    async def settle(self, message: ParsedMessage, blocked: bool, peer: str) -> tuple[str, str, bool]:
        """Answer one message on its own: ``(MSA-1, ACK, blocked)``, as `handle` does per message.
        Batching callers (`gateway.hl7_batch`) use it for messages that spool nothing."""
        return await self._one(message, blocked, peer)

    async def handle(self, data: bytes, *, peer: str = "-") -> IntakeResult:
        """ACK every message of ``data`` (see the module docstring)."""
        parsed = parse_input(data, received_at=datetime.now(UTC))
        acks: list[str] = []
        codes: list[str] = []
        blocked = False
        for message in parsed.messages:
            if not blocked:
                message = await self._strictly(message)  # noqa: PLW2901 - strict mode may reject it
            code, text, blocked = await self._one(message, blocked, peer)
            acks.append(text)
            codes.append(code)
        payload = build_batch_ack(acks) if parsed.batch or len(acks) > 1 else acks[0]
        return IntakeResult(_encode(payload), tuple(codes), blocked)

    async def handle_frame(self, frame: bytes | FrameTooLarge, peer: str) -> bytes:
        """The MLLP listener's handler."""
        started = time.perf_counter()
        if isinstance(frame, FrameTooLarge):
            header = salvage_header(Chunk(lines_of(decode(frame.head))[:1]))
            log.warning("mllp frame too large", extra={"peer": peer, "limit": frame.limit})
            error = AckError(
                "102",
                f"the MLLP frame exceeds {frame.limit} bytes and was discarded",
                ("MSH", 1, 0),
                application_code="input.hl7.frame_too_large",
            )
            payload = _encode(build_ack(header, AckCode.ERROR, error=error))
            codes: tuple[str, ...] = (ack_code_for(AckCode.ERROR, header),)
        else:
            result = await self.handle(frame, peer=peer)
            payload, codes = result.payload, result.codes
        if self._metrics is not None:
            self._metrics.acked(codes, time.perf_counter() - started)
        return payload

    async def _one(self, message: ParsedMessage, blocked: bool, peer: str) -> tuple[str, str, bool]:
        header = message.header
        if blocked:
            return self._transient(header)
        if message.error is not None:
            error = message.error
            try:
                receipt = await asyncio.to_thread(
                    self._quarantine.put,
                    message.raw,
                    source=SOURCE,
                    code=error.code,
                    reason=f"{type(error).__name__}: {error.message}",
                )
            except OSError as failure:
                log.error("quarantine write failed", extra={"error_class": type(failure).__name__})
                return self._transient(header)
            code = AckCode.REJECT if isinstance(error, Hl7Unsupported) else AckCode.ERROR
            if self._metrics is not None:
                self._metrics.record(SOURCE, "rejected")
            log.warning(
                "hl7 message rejected",
                extra={
                    "peer": peer,
                    "control_id": header.control_id,
                    "code": error.code,
                    "hl7_code": error.hl7_code,
                    "quarantine_id": receipt.quarantine_id,
                },
            )
            ack_error = AckError(
                error.hl7_code,
                error.message,
                error.location,
                application_code=error.code,
                diagnostic=f"quarantine {receipt.quarantine_id}",
            )
            ack = build_ack(header, code, error=ack_error)
            return ack_code_for(code, header), ack, False
        assert message.record is not None
        problems = find_problems(message.record, self._rules)
        if problems:
            try:
                await self._group.ingest(with_problems(message.record, problems))
            except RecordQuarantined as quarantined:
                ack_error = AckError(
                    "207",
                    "the message could not be made into a ticket and was quarantined",
                    application_code=quarantined.cause_code,
                    diagnostic=f"quarantine {quarantined.quarantine_id}",
                )
                return (
                    ack_code_for(AckCode.ERROR, header),
                    build_ack(header, AckCode.ERROR, error=ack_error),
                    False,
                )
            except SpoolError as failure:
                log.error(
                    "spool unavailable; hl7 message not accepted",
                    extra={"control_id": header.control_id, "code": failure.code},
                )
                return self._transient(header)
        else:
            log.debug(
                "hl7 message needs no ticket",
                extra={"control_id": header.control_id, "record_type": message.record.record_type},
            )
        ack = build_ack(header, AckCode.ACCEPT)
        return ack_code_for(AckCode.ACCEPT, header), ack, False

    @staticmethod
    def _transient(header: MessageHeader) -> tuple[str, str, bool]:
        error = AckError("207", TRANSIENT_TEXT, application_code="spool.unavailable")
        return ack_code_for(AckCode.ERROR, header), build_ack(header, AckCode.ERROR, error=error), True


def _encode(text: str) -> bytes:
    return text.encode("utf-8")


def fallback_ack(frame: bytes | FrameTooLarge) -> bytes:
    """An ``AE`` 207 for a frame whose handling failed unexpectedly (the listener always answers)."""
    head = frame.head if isinstance(frame, FrameTooLarge) else frame[:512]
    header = salvage_header(Chunk(lines_of(decode(head))[:1]))
    error = AckError("207", "internal error while handling the message; resend later", ("", 0, 0))
    return _encode(build_ack(header, AckCode.ERROR, error=error))
