"""One X12 file through the pipeline: read (streaming), normalize, seal, spool; then report.

Used by ``rcmgw ingest``, ``POST /v1/ingest/x12`` and the inbox watcher. Records are read, sealed
and spooled in batches of `BATCH_SIZE` (reading and sealing in a worker thread, each batch one
durable `put_many` commit); every record of the file is spooled before `ingest_x12_stream`
returns, so the caller may acknowledge the file (move it to done/, answer 202) afterwards.
Evidence records (accepted statuses, paid claims) make no ticket. With the dedup lifecycle on, the
auto-resolve evidence among them (``x12-277ca-acceptance``, ``x12-835-payment``) goes through the
pipeline too: the lifecycle resolves the open ticket whose claims they account for (spooling a
resolve update, reported in `X12Outcome.resolved`) and spools nothing when they match no ticket.
A file with any problem is quarantined,
encrypted, with the first problem as its one-line reason; its good transaction sets are still
spooled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from adapters.base import SourceRecord
from adapters.x12.context import EVIDENCE, X12Problem
from adapters.x12.errors import X12NotRecognized, X12Rejected
from adapters.x12.reader import read_x12
from adapters.x12.tokenizer import looks_like_x12
from gateway.anomaly_counts import ClaimCounter
from gateway.pipeline import IngestPipeline, IngestResult, RecordQuarantined
from gateway.quarantine import Quarantine
from normalizers.errors import NormalizationError
from normalizers.lifecycle import EVIDENCE_RECORD_TYPES
from normalizers.normalizer import Normalizer
from normalizers.sealing import Sealer, SealResult

log = logging.getLogger("rcmgw.x12")
BATCH_SIZE = 500
"""Records per durable spool commit (setting ``x12.batch_size``)."""


@dataclass
class X12Outcome:
    """What one file gave: results of spooled tickets (or sealed tickets in a dry run), evidence
    records kept without a ticket, resolve updates spooled for tickets that evidence closed, and
    problems (each names interchange, segment and reason)."""

    results: list[IngestResult] = field(default_factory=list)
    sealed: list[SealResult] = field(default_factory=list)
    evidence: int = 0
    resolved: list[IngestResult] = field(default_factory=list)
    """Results of the evidence records that resolved tickets (their ``resolved`` names them)."""
    problems: list[str] = field(default_factory=list)
    quarantine_id: str | None = None
    not_x12: bool = False
    """True when the input is not X12 at all (no ISA header)."""
    claims: ClaimCounter = field(default_factory=ClaimCounter)
    """The 835 claims (CLP) read, per transaction set (for tickets per 1,000 claims)."""

    @property
    def rejected(self) -> bool:
        """Whether the file had any problem (exit 65, quarantined)."""
        return bool(self.problems)


def is_x12_file(path: Path) -> bool:
    """Whether ``path`` starts like X12 (ISA after an optional BOM), judged by content."""
    with path.open("rb") as handle:
        return looks_like_x12(handle.read(256))


def _items(stream: BinaryIO, outcome: X12Outcome, *, resolve: bool = False) -> Iterator[SourceRecord]:
    """Records that go to the pipeline; evidence is counted, and yielded only when ``resolve``
    (the lifecycle is on) and it is auto-resolve evidence."""
    try:
        for item in read_x12(stream):
            if isinstance(item, X12Problem):
                outcome.problems.append(str(item))
                continue
            outcome.claims.see(item)
            if item.facts.get(EVIDENCE):
                outcome.evidence += 1
                if resolve and item.record_type in EVIDENCE_RECORD_TYPES:
                    yield item
            else:
                yield item
    except X12Rejected as error:
        outcome.not_x12 = isinstance(error, X12NotRecognized)
        outcome.problems.append(error.message)


def _take(items: Iterator[SourceRecord], count: int) -> list[SourceRecord]:
    batch: list[SourceRecord] = []
    for record in items:
        batch.append(record)
        if len(batch) >= count:
            break
    return batch


def seal_x12(stream: BinaryIO, normalizer: Normalizer, sealer: Sealer) -> X12Outcome:
    """Dry run: the sealed tickets of ``stream`` without spooling anything."""
    outcome = X12Outcome()
    for record in _items(stream, outcome):
        try:
            outcome.sealed.append(sealer.seal(normalizer.normalize(record)))
        except NormalizationError as error:
            outcome.problems.append(f"record {record.record_type}: {error.code}")
    return outcome


async def ingest_x12_stream(
    stream: BinaryIO,
    pipeline: IngestPipeline,
    quarantine: Quarantine,
    *,
    source: str,
    raw: Path | bytes | Callable[[], bytes],
    batch_size: int = BATCH_SIZE,
) -> X12Outcome:
    """Spool every record of ``stream``; quarantine ``raw`` (the file, its bytes or a function that
    returns them) on any problem.
    `fallback.errors.SpoolUnavailable` propagates: then nothing may be acknowledged."""
    outcome = X12Outcome()
    items = _items(stream, outcome, resolve=pipeline.resolves_from_evidence)
    while batch := await asyncio.to_thread(_take, items, batch_size):
        results = await pipeline.ingest_many(batch, source=source)
        for record, result in zip(batch, results, strict=True):
            if isinstance(result, RecordQuarantined):
                outcome.problems.append(f"record {record.record_type}: {result.cause_code}")
            elif record.record_type in EVIDENCE_RECORD_TYPES:
                if result.resolved:
                    outcome.resolved.append(result)
            else:
                outcome.results.append(result)
    if pipeline.observer is not None:
        pipeline.observer.claims(outcome.claims.batches())
    if outcome.problems:
        data = _raw_bytes(raw)
        receipt = quarantine.put(data, source=source, code=X12Rejected.code, reason=outcome.problems[0][:500])
        outcome.quarantine_id = receipt.quarantine_id
        log.warning(
            "x12 input quarantined",
            extra={
                "quarantine_id": receipt.quarantine_id,
                "code": X12Rejected.code,
                "problems": len(outcome.problems),
                "tickets": len(outcome.results),
            },
        )
    return outcome


def _raw_bytes(raw: Path | bytes | Callable[[], bytes]) -> bytes:
    if isinstance(raw, Path):
        return raw.read_bytes()
    return raw if isinstance(raw, bytes) else raw()


async def ingest_x12_file(
    path: Path, pipeline: IngestPipeline, quarantine: Quarantine, *, batch_size: int = BATCH_SIZE
) -> X12Outcome:
    """`ingest_x12_stream` over a file, read in chunks."""
    with path.open("rb") as handle:
        return await ingest_x12_stream(
            handle, pipeline, quarantine, source=f"file:{path.name}", raw=path, batch_size=batch_size
        )
