"""Extension point: where the console's anomalies page gets its rows.

An `AnomalyFeed` is registered on `Runtime.anomaly_feed` (None: the page says "anomaly detection
not configured"). The anomaly detector of the metrics area implements it; `StaticAnomalyFeed` is
the in-package test double.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class AnomalyRow:
    """One current spike: which series (payer, category, code: ids and codes only, never PHI), the
    count observed in the window against its baseline, and a score (z or Poisson tail)."""

    payer: str
    category: str
    code: str
    window_start: datetime
    observed: int
    baseline: float
    score: float
    ticket_id: str | None = None


@runtime_checkable
class AnomalyFeed(Protocol):
    """A source of current anomalies for the console."""

    async def current(self) -> Sequence[AnomalyRow]:
        """The anomalies open right now, most severe first. Must not raise for "none": return []."""
        ...


class StaticAnomalyFeed:
    """A feed that returns fixed rows (tests, demos)."""

    def __init__(self, rows: Sequence[AnomalyRow] = ()) -> None:
        self.rows = list(rows)

    async def current(self) -> Sequence[AnomalyRow]:
        """The fixed rows."""
        return list(self.rows)


__all__ = ["AnomalyFeed", "AnomalyRow", "StaticAnomalyFeed"]
