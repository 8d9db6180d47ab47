"""Intake per source and minute for the console's overview: a bounded in-memory tally fed by
`GatewayMetrics.record` (source formats and results are the metric's bounded label values).

It covers this process since it started, the last `MINUTES` minutes; the cumulative totals across
restarts and nodes are the Prometheus counters (``rcmgw_records_received``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime

MINUTES = 60


def _minute(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(second=0, microsecond=0)


class MinuteTally:
    """Counts of ``(source_format, result)`` per UTC minute, the last `MINUTES` minutes."""

    def __init__(self, minutes: int = MINUTES) -> None:
        self.minutes = minutes
        self._buckets: OrderedDict[datetime, dict[tuple[str, str], int]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, source_format: str, result: str, now: datetime | None = None) -> None:
        """Count one record."""
        minute = _minute(now or datetime.now(UTC))
        with self._lock:
            bucket = self._buckets.get(minute)
            if bucket is None:
                bucket = self._buckets[minute] = {}
                while len(self._buckets) > self.minutes:
                    self._buckets.popitem(last=False)
            key = (source_format, result)
            bucket[key] = bucket.get(key, 0) + 1

    def rows(self) -> list[tuple[datetime, str, str, int]]:
        """``(minute, source_format, result, count)``, newest minute first."""
        with self._lock:
            items = [(m, dict(b)) for m, b in self._buckets.items()]
        return [
            (minute, source, result, count)
            for minute, bucket in reversed(items)
            for (source, result), count in sorted(bucket.items())
        ]


__all__ = ["MINUTES", "MinuteTally"]
