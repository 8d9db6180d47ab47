"""`OutageTracker`: turns a streak of failed polls into one "upstream down" record and, when the
upstream answers again, one "resolved" record.

The down record appears once the first failure of the streak is ``outage_after`` seconds old; its
dedup key is (instance, since), so a restart or a repeat produces no second ticket for the same
outage, and its fingerprint is the same for every outage of the instance, so they group. The
resolved record is a second ticket with a ``resolved`` tag and the same fingerprint: ticket
updates (comment and close) belong to the delivery lifecycle, a later issue.

With a `CursorStore` the streak is persisted (its start, whether the down record was committed,
the last error code): after a restart during an outage the clock keeps running from the first
failure, no second down record is raised, and the resolved record still follows on recovery.
Without a store (unit tests) the streak lives in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from adapters.base import SourceRecord
from adapters.fhir.config import FhirInstance
from adapters.fhir.cursors import CursorStore, OutageState

RECORD_TYPE = "fhir-upstream-status"


@dataclass
class OutageTracker:
    """Failure streak of one instance."""

    instance: FhirInstance
    since: datetime | None = None
    last_error: str = ""
    reported: bool = False
    store: CursorStore | None = None

    def __post_init__(self) -> None:
        if self.store is not None and self.since is None:
            state = self.store.outage(self.instance.name)
            if state is not None:
                self.since, self.reported, self.last_error = state.since, state.reported, state.last_error

    def _save(self) -> None:
        if self.store is not None and self.since is not None:
            self.store.save_outage(
                self.instance.name, OutageState(self.since, self.reported, self.last_error[:64])
            )

    def failure(self, now: datetime, code: str) -> SourceRecord | None:
        """Record a failed poll; the down record while the outage is reportable and not yet
        reported (the caller calls `mark_reported` once it is committed)."""
        starts = self.since is None
        if self.since is None:
            self.since = now
        changed = starts or code[:64] != self.last_error[:64]
        self.last_error = code
        if changed:
            self._save()
        if self.reported or (now - self.since).total_seconds() < self.instance.outage_after_seconds:
            return None
        return self._record("down", now)

    def mark_reported(self) -> None:
        """The down record was committed."""
        self.reported = True
        self._save()

    def success(self, now: datetime) -> SourceRecord | None:
        """Record a successful poll; the resolved record when a reported outage just ended (the
        caller calls `clear` once it is committed)."""
        if not self.reported:
            self.clear()
            return None
        return self._record("resolved", now)

    def clear(self) -> None:
        """Forget the streak."""
        had_streak = self.since is not None
        self.since, self.reported, self.last_error = None, False, ""
        if had_streak and self.store is not None:
            self.store.clear_outage(self.instance.name)

    def _record(self, state: str, now: datetime) -> SourceRecord:
        assert self.since is not None
        host = urlsplit(self.instance.base_url).netloc[:100]
        return SourceRecord(
            record_type=RECORD_TYPE,
            source_system=self.instance.vendor,
            source_format="fhir",
            facts={
                "source.instance": self.instance.name,
                "source.module": "poller",
                "fhir.resource_type": "Upstream",
                "upstream.state": state,
                "upstream.since": self.since,
                "upstream.until": now if state == "resolved" else None,
                "upstream.error_code": self.last_error[:64],
                "upstream.host": host,
            },
            control_ids={"upstream_since": self.since.isoformat()},
            received_at=now,
            idempotency_id=f"upstream|{state}|{self.since.isoformat()}",
            raw_digest_input=f"{self.instance.name}|{state}|{self.since.isoformat()}".encode(),
        )
