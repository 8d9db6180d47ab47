"""Benchmark: what anomaly counting costs the ingest path, and how long one hourly judgement takes.

    .venv/bin/python bench/anomaly.py                     # 2,000-claim 835, 1,000 busy scopes
    .venv/bin/python bench/anomaly.py --claims 10000 --scopes 5000

A: the same generated 835 (30% denied) through the full runtime (lifecycle on, SQLite spool) with
   anomaly counting on and off, in the same run: the ratio of the rates (target >= 0.95).
B: `AnomalyEngine.evaluate_hour` over ``--scopes`` busy scopes with 4 weeks and a day of history
   each, against the time to only read those series from the store (the baseline in the same run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))

from x12gen import make_835  # noqa: E402

from gateway.anomaly_engine import AnomalyEngine  # noqa: E402
from gateway.anomaly_settings import AnomalySettings  # noqa: E402
from gateway.anomaly_store import AnomalyStore, Tally  # noqa: E402
from gateway.runtime import Runtime  # noqa: E402
from gateway.settings import get_settings  # noqa: E402
from gateway.x12_ingest import ingest_x12_stream  # noqa: E402


async def ingest(data: bytes, *, anomaly: bool) -> float:
    """Seconds to ingest ``data`` into a fresh home."""
    with tempfile.TemporaryDirectory() as home:
        settings = get_settings(
            home=Path(home), anomaly=AnomalySettings(enabled=anomaly), delivery_enabled=False
        )
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        try:
            import io

            started = time.perf_counter()
            await ingest_x12_stream(
                io.BytesIO(data), runtime.pipeline, runtime.quarantine, source="bench", raw=data
            )
            if runtime.anomaly is not None:
                await runtime.anomaly.flush()
            return time.perf_counter() - started
        finally:
            await runtime.stop()


async def judge(scopes: int) -> tuple[float, float, int]:
    """(seconds to read every series, seconds for evaluate_hour, spikes found)."""
    hour = datetime(2026, 11, 23, 14, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as home:
        store = AnomalyStore(Path(home) / "a.db")
        engine = AnomalyEngine(
            AnomalySettings(max_scopes=scopes * 2), store, clock=lambda: hour + timedelta(hours=1)
        )
        names = [f"code_payer|CO-{n % 300}|P{n:05d}" for n in range(scopes)]
        tally = Tally.empty()
        at = hour - timedelta(weeks=4, days=1)
        while at <= hour:
            for index, name in enumerate(names):
                tally.hourly[(name, at)] = 10 + (index + at.hour) % 5
            at += timedelta(hours=1)
        await store.add(tally, hour)
        started = time.perf_counter()
        for name in names:
            await store.series(name, hour - timedelta(weeks=4, days=1), hour)
        read = time.perf_counter() - started

        class _NoPipeline:
            async def spool_draft(self, *_: object) -> object:
                raise AssertionError("no spike expected")

        started = time.perf_counter()
        events = await engine.evaluate_hour(hour, _NoPipeline())  # type: ignore[arg-type]
        judged = time.perf_counter() - started
        await store.aclose()
        return read, judged, len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--scopes", type=int, default=1000)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    data = make_835(args.claims, 0.3)
    off = asyncio.run(ingest(data, anomaly=False))
    on = asyncio.run(ingest(data, anomaly=True))
    print(
        f"A  835 with {args.claims} claims: counting off {args.claims / off:,.0f} claims/s, "
        f"on {args.claims / on:,.0f}"
    )
    print(f"   ratio on/off (rate): {off / on:.3f}  (target >= 0.95)")
    read, judged, spikes = asyncio.run(judge(args.scopes))
    print(
        f"B  evaluate_hour over {args.scopes} busy scopes: {judged:.2f} s "
        f"(reading the series alone {read:.2f} s)"
    )
    print(
        f"   ratio judge/read: {judged / read:.2f}; share of the hour: {judged / 3600:.5f}; spikes: {spikes}"
    )


if __name__ == "__main__":
    main()
