"""`prefetch_states`: read, in one store call, the lifecycle states a group of records will plan
against (`IngestPipeline.ingest_group`, the HL7 v2 MLLP path). Pure key computation (the same
`fingerprint` / `problem_key` `LifecycleGate.plan` uses); the reads then come from
`PendingStates`' snapshot instead of store round trips per record (two per ticket record, one per
auto-resolve evidence record)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from adapters.base import SourceRecord
from gateway.lifecycle_flow import LifecycleGate
from gateway.lifecycle_pending import PendingStates
from normalizers.draft import TicketDraft
from normalizers.fingerprint import fingerprint, problem_key
from normalizers.lifecycle import EVIDENCE_RECORD_TYPES
from normalizers.sealing import Sealer


async def prefetch_states(
    pending: PendingStates,
    records: Sequence[SourceRecord],
    drafts: Mapping[int, TicketDraft],
    sealer: Sealer,
    gate: LifecycleGate,
    *,
    claims: Mapping[int, frozenset[str]],
) -> None:
    """Prefetch the states and recent facilities that ``gate.plan`` will read for ``drafts``
    (index -> draft of ``records[index]``), and the open states that the auto-resolve evidence
    among them names by claim token (``claims``: index -> the draft's claim tokens, as
    `Sealer.claim_tokens` gives them). Call while holding the lifecycle lock."""
    fields = sealer.fingerprint_fields
    fingerprints: list[str] = []
    problems: list[str] = []
    evidence_claims: set[str] = set()
    for index, draft in drafts.items():
        if records[index].record_type in EVIDENCE_RECORD_TYPES:
            evidence_claims |= claims[index]
            continue
        fingerprints.append(fingerprint(draft, fields))
        problems.append(problem_key(draft, fields))
    await pending.prefetch(
        fingerprints, problems, gate.clock() - gate.policy.recurrence_window, evidence_claims
    )


__all__ = ["prefetch_states"]
