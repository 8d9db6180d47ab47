"""Counting what the pipeline sees, for anomaly detection and the per-1,000-claims reports.

`IngestObserver` is what `gateway.pipeline.IngestPipeline` calls after a record's ticket (or the
decision that it folds into an open one) is committed, and what X12 ingest calls with the claims
(CLP) of each 835 transaction set. `CountingObserver` keeps the counts in memory (`Tally`) until
the anomaly service flushes them to the `AnomalyStore` (every few seconds and at each hour).

Only fixed-shape ids are counted: payer ids, category keys and codes that match `ID_SHAPE`
(anything else counts as ``other``), never text. The number of distinct scopes is capped
(``anomaly.max_scopes``): past the cap a new scope counts as its kind's ``other``.

Scope keys: ``payer|87726``, ``category|denials-administrative``, ``code|CO-97``,
``code_payer|CO-97|87726``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol

from adapters.base import SourceRecord
from fallback.clock import Clock, utc_now
from gateway.anomaly_store import ClaimBatch, Tally
from normalizers.payload import Code

ID_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$")
OTHER = "other"
NONE = "none"
SCOPE_KINDS = ("code_payer", "code", "payer", "category")
"""Most specific first (the order spikes are judged in, see `gateway.anomaly_engine`)."""


class IngestObserver(Protocol):
    """What the pipeline tells the counters (ids and codes only)."""

    def ticket(self, category: str, payer: str | None, codes: Sequence[Code], *, opened: bool) -> None:
        """One ticket-worthy record was committed; ``opened`` when it opened a new ticket."""
        ...

    def claims(self, batches: Sequence[ClaimBatch]) -> None:
        """835 claims were read (one batch per transaction set)."""
        ...


def fixed(value: str | None) -> str:
    """``value`` when it is a fixed-shape id, ``none`` when empty, else ``other``."""
    if not value:
        return NONE
    return value if ID_SHAPE.match(value) else OTHER


def code_key(codes: Sequence[Code]) -> str:
    """The code a ticket is about: ``CO-97`` (CAS group and CARC) for a denial, else the first
    code as ``SYSTEM:code``; ``none`` without codes."""
    by_system = {code.system: code.code for code in reversed(codes)}
    carc = by_system.get("CARC")
    if carc:
        group = by_system.get("CAS-GROUP")
        return fixed(f"{group}-{carc}" if group else f"CARC-{carc}")
    if not codes:
        return NONE
    return fixed(f"{codes[0].system}:{codes[0].code}")


def scope_parts(scope: str) -> tuple[str, ...]:
    """``code_payer|CO-97|87726`` -> ``("code_payer", "CO-97", "87726")``."""
    return tuple(scope.split("|"))


class CountingObserver:
    """`IngestObserver` that tallies in memory (thread-safe; `take` hands the tally over)."""

    def __init__(self, *, max_scopes: int = 5000, clock: Clock = utc_now) -> None:
        self._max_scopes = max_scopes
        self._clock = clock
        self._known: set[str] = set()
        self._tally = Tally.empty()
        self._lock = threading.Lock()
        self.capped = 0
        """Scopes counted as ``other`` because of the cap (since start)."""

    def know(self, scopes: frozenset[str]) -> None:
        """Scopes already stored (they do not count against the cap again)."""
        with self._lock:
            self._known |= scopes

    def _scope(self, kind: str, *parts: str) -> str:
        scope = "|".join((kind, *parts))
        if scope in self._known:
            return scope
        if len(self._known) >= self._max_scopes:
            self.capped += 1
            scope = "|".join((kind, *([OTHER] * len(parts))))
        self._known.add(scope)
        return scope

    def ticket(self, category: str, payer: str | None, codes: Sequence[Code], *, opened: bool) -> None:
        """Count one committed record in every scope it belongs to."""
        now = self._clock()
        hour = now.replace(minute=0, second=0, microsecond=0)
        payer_id, category_key, code = fixed(payer), fixed(category), code_key(codes)
        with self._lock:
            scopes = [self._scope("payer", payer_id), self._scope("category", category_key)]
            if code != NONE:
                scopes.append(self._scope("code", code))
                if payer_id != NONE:
                    scopes.append(self._scope("code_payer", code, payer_id))
            for scope in scopes:
                key = (scope, hour)
                self._tally.hourly[key] = self._tally.hourly.get(key, 0) + 1
            counts = self._tally.tickets.setdefault((payer_id, category_key, now.date()), [0, 0])
            counts[0] += int(opened)
            counts[1] += 1

    def claims(self, batches: Sequence[ClaimBatch]) -> None:
        """Keep the claim batches for the next flush."""
        with self._lock:
            self._tally.claims.extend(batches)

    def take(self) -> Tally:
        """The counts since the last `take` (the caller stores them or `give_back`s them)."""
        with self._lock:
            tally, self._tally = self._tally, Tally.empty()
            return tally

    def give_back(self, tally: Tally) -> None:
        """Return counts that could not be stored (they go out with the next flush)."""
        with self._lock:
            for key, count in tally.hourly.items():
                self._tally.hourly[key] = self._tally.hourly.get(key, 0) + count
            for tkey, (opened, occurrences) in tally.tickets.items():
                counts = self._tally.tickets.setdefault(tkey, [0, 0])
                counts[0] += opened
                counts[1] += occurrences
            self._tally.claims[:0] = tally.claims


CLAIM_RECORD_TYPES = frozenset({"x12-835-claim", "x12-835-line", "x12-835-payment"})
SET_RECORD_TYPES = frozenset({"x12-835-unbalanced", "x12-835-remittance"})


class ClaimCounter:
    """Counts the claims (CLP) of the 835 transaction sets in the records X12 ingest reads.

    Claims are numbered 1.. in their set (``claim.ordinal``) and every set reports its total
    (``balance.claims``) when it does not balance or gave no other record; so a set's count is
    the larger of its highest ordinal and that total. A paid-in-full claim with nothing to work
    that is last in a balanced set which also gave other records is not seen (the reader makes no
    record of it)."""

    def __init__(self, today: Callable[[], date] | None = None) -> None:
        self._today = today or (lambda: utc_now().date())
        self._sets: dict[str, tuple[str, int]] = {}

    def see(self, record: SourceRecord) -> None:
        """Count ``record`` if it belongs to an 835 set."""
        if record.record_type in CLAIM_RECORD_TYPES:
            count = record.facts.get("claim.ordinal")
        elif record.record_type in SET_RECORD_TYPES:
            count = record.facts.get("balance.claims")
        else:
            return
        if not isinstance(count, int) or isinstance(count, bool):
            return
        ident = record.idempotency_id or ""
        set_id = ident.rsplit("|", 1)[0]
        payer = record.facts.get("payer.id")
        payer_id, seen = self._sets.get(set_id, (fixed(payer if isinstance(payer, str) else None), 0))
        self._sets[set_id] = (payer_id, max(seen, count))

    def batches(self) -> list[ClaimBatch]:
        """One batch per set seen (``set_key`` a digest of the set's control numbers)."""
        day = self._today()
        return [
            ClaimBatch(hashlib.sha256(set_id.encode("utf-8")).hexdigest()[:32], payer, day, count)
            for set_id, (payer, count) in self._sets.items()
            if count > 0
        ]
