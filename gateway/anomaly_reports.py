"""Reports over the anomaly store: tickets per 1,000 claims, improvement around change markers, and
the top recurring fingerprints (from the lifecycle store) for root-cause reviews.

- **Tickets per 1,000 claims**: for days in ``[start, end)``, per payer (or payer and category),
  tickets opened and occurrences (every ticket-worthy record, repeats folded into open tickets
  included) against the 835 claims (every CLP) of that payer; payers without 835 claims have no
  rate (``null``). ``total`` is every ticket of payers with claims against every claim.
- **Improvement**: for each change marker (category, day), tickets opened in that category per
  1,000 claims (all payers) in the ``days`` days before the marker and the ``days`` days from it
  (the after window ends today at the latest: ``after_days`` says how many days it covers).
- **Top fingerprints**: the fingerprints with most occurrences (last seen within ``days``), with
  their ticket, state and first/last seen: ids and counts only.

The pure functions take rows and are tested on small fixtures; `ReportService` reads the stores.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from gateway.anomaly_store import AnomalyStore, ChangeMarker
from gateway.keys import GatewayKeys
from redaction import Pseudonymizer, Redactor, default_detector_registry

TicketRow = tuple[str, str, date, int, int]
"""``(payer, category, day, opened, occurrences)``."""
ClaimRow = tuple[str, date, int]
"""``(payer, day, claims)``."""
Grouping = Literal["payer", "payer_category"]


def _rate(count: int, claims: int) -> float | None:
    return round(count * 1000 / claims, 3) if claims else None


def per_1000_claims(
    tickets: Sequence[TicketRow], claims: Sequence[ClaimRow], *, by: Grouping = "payer"
) -> dict[str, object]:
    """Rows per payer (or payer and category) and the total (see the module docstring)."""
    claims_by_payer: dict[str, int] = {}
    for payer, _, count in claims:
        claims_by_payer[payer] = claims_by_payer.get(payer, 0) + count
    groups: dict[tuple[str, str], list[int]] = {}
    for payer, category, _, opened, occurrences in tickets:
        key = (payer, category if by == "payer_category" else "*")
        counts = groups.setdefault(key, [0, 0])
        counts[0] += opened
        counts[1] += occurrences
    for payer in claims_by_payer:
        if not any(key[0] == payer for key in groups):
            groups[(payer, "*")] = [0, 0]
    rows = []
    for (payer, category), (opened, occurrences) in sorted(groups.items()):
        payer_claims = claims_by_payer.get(payer, 0)
        row: dict[str, object] = {"payer": payer}
        if by == "payer_category":
            row["category"] = category
        row |= {
            "claims": payer_claims,
            "tickets_opened": opened,
            "occurrences": occurrences,
            "tickets_per_1000_claims": _rate(opened, payer_claims),
            "occurrences_per_1000_claims": _rate(occurrences, payer_claims),
        }
        rows.append(row)
    all_claims = sum(claims_by_payer.values())
    opened_total = sum(t[3] for t in tickets if t[0] in claims_by_payer)
    occurrences_total = sum(t[4] for t in tickets if t[0] in claims_by_payer)
    return {
        "rows": rows,
        "total": {
            "claims": all_claims,
            "tickets_opened": opened_total,
            "occurrences": occurrences_total,
            "tickets_per_1000_claims": _rate(opened_total, all_claims),
            "occurrences_per_1000_claims": _rate(occurrences_total, all_claims),
        },
    }


@dataclass(frozen=True, slots=True)
class Window:
    """One side of a marker: days covered, tickets opened in the category, claims, the rate."""

    start: date
    end: date
    days: int
    tickets_opened: int
    claims: int
    tickets_per_1000_claims: float | None


def _window(
    category: str, start: date, end: date, tickets: Sequence[TicketRow], claims: Sequence[ClaimRow]
) -> Window:
    opened = sum(t[3] for t in tickets if t[1] == category and start <= t[2] < end)
    claim_count = sum(c[2] for c in claims if start <= c[1] < end)
    return Window(start, end, max(0, (end - start).days), opened, claim_count, _rate(opened, claim_count))


def improvement(
    markers: Sequence[ChangeMarker],
    tickets: Sequence[TicketRow],
    claims: Sequence[ClaimRow],
    *,
    today: date,
    days: int = 90,
) -> list[dict[str, object]]:
    """Before and after each marker (see the module docstring); ``change_pct`` is the relative
    change of the rate (None when either rate is unknown or the before rate is 0)."""
    report: list[dict[str, object]] = []
    for marker in markers:
        before = _window(marker.category, marker.day - timedelta(days=days), marker.day, tickets, claims)
        after_end = min(marker.day + timedelta(days=days), today + timedelta(days=1))
        after = _window(marker.category, marker.day, max(marker.day, after_end), tickets, claims)
        change = None
        if before.tickets_per_1000_claims and after.tickets_per_1000_claims is not None:
            change = round(
                (after.tickets_per_1000_claims - before.tickets_per_1000_claims)
                * 100
                / before.tickets_per_1000_claims,
                1,
            )
        report.append(
            {
                "marker": marker_json(marker),
                "before": _window_json(before),
                "after": _window_json(after),
                "change_pct": change,
            }
        )
    return report


def _window_json(window: Window) -> dict[str, object]:
    data = asdict(window)
    data["start"], data["end"] = window.start.isoformat(), window.end.isoformat()
    return data


def marker_json(marker: ChangeMarker) -> dict[str, object]:
    """A marker as JSON."""
    return {
        "id": marker.id,
        "category": marker.category,
        "date": marker.day.isoformat(),
        "note": marker.note,
        "actor": marker.actor,
        "created_at": marker.created_at.isoformat(),
    }


def top_fingerprints(
    spool_file: Path, *, limit: int = 20, since: datetime | None = None
) -> list[dict[str, object]]:
    """The lifecycle store's fingerprints with most occurrences (ids and counts only); empty when
    the lifecycle store was never used."""
    if not spool_file.exists():
        return []
    conn = sqlite3.connect(f"file:{spool_file}?mode=ro", uri=True, timeout=5)
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fingerprint_state'"
        ).fetchone()
        if not exists:
            return []
        micros = int(since.timestamp() * 1_000_000) if since else 0
        rows = conn.execute(
            "SELECT fingerprint, ticket_id, state, occurrences, first_seen, last_seen, facilities "
            "FROM fingerprint_state WHERE last_seen >= ? ORDER BY occurrences DESC, last_seen DESC LIMIT ?",
            (micros, limit),
        ).fetchall()
    finally:
        conn.close()
    return [
        {
            "fingerprint": str(fp),
            "ticket_id": str(ticket),
            "state": str(state),
            "occurrences": int(occ),
            "first_seen": datetime.fromtimestamp(int(first) / 1_000_000, UTC).isoformat(),
            "last_seen": datetime.fromtimestamp(int(last) / 1_000_000, UTC).isoformat(),
            "facilities": len(json.loads(str(facilities))),
        }
        for fp, ticket, state, occ, first, last, facilities in rows
    ]


class ReportService:
    """The reports of one gateway home, read from its stores."""

    def __init__(self, store: AnomalyStore, spool_file: Path) -> None:
        self.store = store
        self.spool_file = spool_file

    async def per_1000_claims(self, start: date, end: date, *, by: Grouping = "payer") -> dict[str, object]:
        """Tickets per 1,000 claims for days in ``[start, end)``."""
        tickets = await self.store.ticket_days(start, end)
        claims = await self.store.claim_days(start, end)
        return {"start": start.isoformat(), "end": end.isoformat(), **per_1000_claims(tickets, claims, by=by)}

    async def improvement(
        self, *, today: date, days: int = 90, category: str | None = None
    ) -> list[dict[str, object]]:
        """Before/after each marker (of ``category`` when given)."""
        markers = await self.store.markers(category)
        if not markers:
            return []
        first = min(m.day for m in markers) - timedelta(days=days)
        last = max(m.day for m in markers) + timedelta(days=days)
        tickets = await self.store.ticket_days(first, last)
        claims = await self.store.claim_days(first, last)
        return improvement(markers, tickets, claims, today=today, days=days)

    async def top_fingerprints(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[dict[str, object]]:
        """Top recurring fingerprints."""
        return await asyncio.to_thread(top_fingerprints, self.spool_file, limit=limit, since=since)


def redact_note(keys: GatewayKeys, note: str) -> str:
    """A marker note as stored and shown: through the redactor (notes are typed by people and
    must not carry PHI anywhere)."""
    redactor = Redactor(Pseudonymizer(keys.pseudonym), default_detector_registry())
    return redactor.redact([], {"note": note}).texts["note"]
