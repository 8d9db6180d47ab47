"""HL7 v2 batch files and bodies, streamed: flat memory whatever the number of messages.

Used by ``rcmgw ingest`` for HL7 files and by ``POST /v1/ingest/hl7``. The input is read message
by message (`adapters.hl7v2.stream.read_chunks`: CR/LF/CRLF, BOM, Latin-1, missing trailers, as
`adapters.hl7v2.message.split_envelope`), parsed and checked in a worker thread `batch_size`
messages at a time; each message is answered as `gateway.hl7_intake.Hl7Intake.handle` answers it:

- a bad or unsupported message is quarantined (encrypted) and answered AE/AR on its own, never
  sinking its neighbours;
- the ticket-worthy messages of one batch are normalized, sealed and spooled with ONE durable
  commit (`IngestPipeline.ingest_group`: one spool, audit and lifecycle transaction), and only then
  answered AA; a message that cannot be sealed is quarantined and answered AE 207;
- when the spool cannot commit, that batch's ticket messages and everything after them are
  answered AE 207 "transient" and ``failure`` is set: the input must not be acknowledged.

`ingest_hl7_stream` returns only after the last batch's commit, so the caller may then acknowledge
the input (answer the HTTP request, report the file done). Redelivery is idempotent: a message's
spool dedup key comes from its bytes (or, with the dedup lifecycle, the lifecycle recognises the
input that opened a ticket), so re-ingesting a file after a crash spools nothing twice.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from adapters.base import SourceRecord
from adapters.hl7v2.ack import AckCode, AckError, ack_code_for, build_ack
from adapters.hl7v2.header import MessageHeader
from adapters.hl7v2.intake import ParsedMessage, parse_one
from adapters.hl7v2.message import Chunk
from adapters.hl7v2.stream import StreamState, read_chunks
from fallback.errors import SpoolError
from gateway.hl7_intake import TRANSIENT_TEXT, Hl7Intake
from gateway.pipeline import IngestPipeline, IngestResult, RecordQuarantined
from normalizers.hl7v2 import with_problems
from normalizers.hl7v2_rules import find_problems

log = logging.getLogger("rcmgw.hl7")
BATCH_SIZE = 500
"""Messages per worker-thread parse step and per durable spool commit."""


@dataclass
class Hl7BatchOutcome:
    """What one input gave (counts only: nothing here grows with the input)."""

    messages: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    """MSA-1 codes answered, by code."""
    tickets: int = 0
    new_tickets: int = 0
    commits: int = 0
    batch: bool = False
    """Whether the input was an FHS/BHS batch."""
    failure: SpoolError | OSError | None = None
    """Set when the spool (or the quarantine) could not commit: the input must not be
    acknowledged."""

    @property
    def rejected(self) -> int:
        """Messages answered with an error or reject code (AE/AR/CE/CR)."""
        return sum(count for code, count in self.codes.items() if code not in ("AA", "CA"))


def _take(chunks: Iterator[Chunk], count: int, received_at: datetime) -> list[ParsedMessage]:
    batch: list[ParsedMessage] = []
    for chunk in chunks:
        batch.append(parse_one(chunk, received_at=received_at))
        if len(batch) >= count:
            break
    return batch


def _transient(header: MessageHeader) -> tuple[str, str]:
    error = AckError("207", TRANSIENT_TEXT, application_code="spool.unavailable")
    return ack_code_for(AckCode.ERROR, header), build_ack(header, AckCode.ERROR, error=error)


def _ticket_ack(header: MessageHeader, outcome: IngestResult | RecordQuarantined) -> tuple[str, str]:
    if isinstance(outcome, RecordQuarantined):
        error = AckError(
            "207",
            "the message could not be made into a ticket and was quarantined",
            application_code=outcome.cause_code,
            diagnostic=f"quarantine {outcome.quarantine_id}",
        )
        return ack_code_for(AckCode.ERROR, header), build_ack(header, AckCode.ERROR, error=error)
    return ack_code_for(AckCode.ACCEPT, header), build_ack(header, AckCode.ACCEPT)


async def ingest_hl7_stream(
    stream: BinaryIO,
    pipeline: IngestPipeline,
    intake: Hl7Intake,
    *,
    peer: str,
    on_ack: Callable[[str], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> Hl7BatchOutcome:
    """Answer every message of ``stream`` (seekable: its charset is sniffed in a first pass), in
    order, through ``on_ack``; see the module docstring."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    outcome = Hl7BatchOutcome()
    state = StreamState()
    chunks = read_chunks(stream, state)  # lazy: the charset pass runs in the first `_take`
    received_at = datetime.now(UTC)
    blocked = False
    while parsed := await asyncio.to_thread(_take, chunks, batch_size, received_at):
        answers: list[tuple[str, str] | None] = []
        ticketed: list[tuple[int, MessageHeader, SourceRecord]] = []
        for message in parsed:
            if blocked:
                answers.append(_transient(message.header))
                continue
            checked = await intake.check(message)
            if checked.error is None and checked.record is not None:
                problems = find_problems(checked.record, intake.rules)
                if problems:
                    ticketed.append((len(answers), checked.header, with_problems(checked.record, problems)))
                    answers.append(None)
                    continue
            code, text, blocked = await intake.settle(checked, blocked, peer)
            answers.append((code, text))
        if ticketed and not blocked:
            try:
                results = await pipeline.ingest_group([record for _, _, record in ticketed])
            except SpoolError as failure:
                log.error(
                    "spool unavailable; hl7 batch not accepted",
                    extra={"peer": peer, "code": failure.code, "messages": outcome.messages},
                )
                outcome.failure, blocked = failure, True
                first = ticketed[0][0]
                answers[first:] = [_transient(message.header) for message in parsed[first:]]
            else:
                outcome.commits += 1
                for (slot, header, _), result in zip(ticketed, results, strict=True):
                    answers[slot] = _ticket_ack(header, result)
                    if isinstance(result, IngestResult):
                        outcome.tickets += 1
                        outcome.new_tickets += result.created
        elif ticketed:
            for slot, header, _ in ticketed:
                answers[slot] = _transient(header)
        if blocked and outcome.failure is None:
            outcome.failure = OSError(errno.EIO, "the quarantine could not be written")
        for answer in answers:
            assert answer is not None
            outcome.codes[answer[0]] += 1
            if on_ack is not None:
                on_ack(answer[1])
        outcome.messages += len(parsed)
    outcome.batch = state.batch
    log.info(
        "hl7 input settled",
        extra={
            "peer": peer,
            "messages": outcome.messages,
            "tickets": outcome.tickets,
            "new_tickets": outcome.new_tickets,
            "commits": outcome.commits,
            "rejected": outcome.rejected,
            "transient": outcome.failure is not None,
        },
    )
    return outcome


async def ingest_hl7_file(
    path: Path, pipeline: IngestPipeline, intake: Hl7Intake, *, batch_size: int = BATCH_SIZE
) -> Hl7BatchOutcome:
    """`ingest_hl7_stream` over a file, read in blocks; `SpoolError` propagates (the file is then
    not done: ingest it again, redelivery is idempotent)."""
    with path.open("rb") as handle:
        outcome = await ingest_hl7_stream(
            handle, pipeline, intake, peer=f"file:{path.name}", batch_size=batch_size
        )
    if outcome.failure is not None:
        raise outcome.failure
    return outcome
