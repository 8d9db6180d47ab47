"""Cost growth: time and peak memory against input size, for what the other bench scripts lack.

    .venv/bin/python bench/growth.py [--hl7 1000,10000,100000] [--spool 10000,100000,1000000]

- **HL7 v2 batch** of N DFT^P03 messages (the bench message of bench/hl7_mllp.py, one account
  each): `adapters.hl7v2.intake.parse_input` (envelope, parse, header checks, record) and
  `Normalizer.normalize` of every record, in a fresh child process per size; wall time and the
  child's peak RSS. (An MLLP connection parses one frame at a time; a batch file is the case that
  holds every message at once.)
- **Spool depth**: one SQLite spool (WAL, synchronous=FULL) filled to each depth with
  `SqliteSpool.put_batch` (5,000 per transaction; tickets as in bench/spool.py); at each depth:
  the time of one more durable put batch of 1,000, of `depth()`, of leasing 200 entries, the
  database size and the process's peak RSS. One child process for the whole fill.

The 835 sizes (1, 10, 100 MB) are measured by ``bench/x12_835.py --memory MB`` (bench/run_all.py
runs it per size). Each size prints one ``BENCH-RESULT {json}`` line at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hl7_child(count: int) -> dict[str, float]:
    import hl7_mllp

    from adapters.hl7v2.intake import parse_input
    from normalizers.normalizer import Normalizer

    data = b"".join(hl7_mllp.dft(f"G{n:09d}") for n in range(count))
    started = time.perf_counter()
    parsed = parse_input(data, received_at=datetime.now(UTC))
    normalizer = Normalizer()
    drafts = sum(
        1
        for message in parsed.messages
        if message.record is not None and normalizer.normalize(message.record)
    )
    seconds = time.perf_counter() - started
    return {
        "messages": len(parsed.messages),
        "drafts": drafts,
        "seconds": seconds,
        "bytes": len(data),
        "rss_mb": _rss_mb(),
    }


def _db_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.glob("growth.db*")) / 1e6


async def spool_child(depths: list[int]) -> list[dict[str, float]]:
    import spool as spool_bench

    from fallback import PayloadCipher, SqliteSpool

    cipher = PayloadCipher({"k1": bytes(32)}, "k1")
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "growth.db"
        async with SqliteSpool(path, cipher) as spool:
            filled, fill_seconds = 0, 0.0
            template = spool_bench.ticket(0)
            for depth in sorted(depths):
                started = time.perf_counter()
                while filled < depth:
                    size = min(5000, depth - filled)
                    await spool.put_batch([(template, f"g{filled + i}", ["hook"]) for i in range(size)])
                    filled += size
                fill_seconds += time.perf_counter() - started
                extra = [(template, f"x{depth}-{i}", ["hook"]) for i in range(1000)]
                started = time.perf_counter()
                await spool.put_batch(extra)
                put_seconds = time.perf_counter() - started
                filled += 1000
                started = time.perf_counter()
                await spool.depth()
                depth_seconds = time.perf_counter() - started
                started = time.perf_counter()
                leased = await spool.lease(
                    "hook", owner=f"bench-{depth}", limit=200, lease_for=timedelta(minutes=5)
                )
                lease_seconds = time.perf_counter() - started
                size_mb = await asyncio.to_thread(_db_mb, Path(tmp))
                rows.append(
                    {
                        "depth": filled,
                        "fill_seconds": fill_seconds,
                        "put_1000_ms": put_seconds * 1000,
                        "depth_query_ms": depth_seconds * 1000,
                        "lease_200_ms": lease_seconds * 1000,
                        "leased": len(leased),
                        "db_mb": size_mb,
                        "rss_mb": _rss_mb(),
                    }
                )
    return rows


def _child(args: list[str]) -> object:
    done = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hl7", default="1000,10000,100000", help="message counts, comma-separated")
    parser.add_argument("--spool", default="10000,100000,1000000", help="spool depths, comma-separated")
    parser.add_argument("--hl7-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--spool-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hl7_child:
        print(json.dumps(hl7_child(args.hl7_child)))
        return
    if args.spool_child:
        print(json.dumps(asyncio.run(spool_child(_sizes(args.spool_child)))))
        return
    hl7_rows = []
    for count in _sizes(args.hl7):
        row = _child(["--hl7-child", str(count)])
        assert isinstance(row, dict)
        hl7_rows.append(row)
        print(
            f"hl7 batch {count:>9,} messages ({row['bytes'] / 1e6:6.1f} MB): {row['seconds']:7.2f} s "
            f"({count / row['seconds']:8,.0f} msg/s), peak RSS {row['rss_mb']:6.0f} MB"
        )
    spool_rows = _child(["--spool-child", args.spool]) if args.spool else []
    assert isinstance(spool_rows, list)
    for row in spool_rows:
        print(
            f"spool depth {row['depth']:>9,}: filled in {row['fill_seconds']:6.1f} s, put 1,000 "
            f"{row['put_1000_ms']:7.1f} ms, depth() {row['depth_query_ms']:7.1f} ms, lease 200 "
            f"{row['lease_200_ms']:7.1f} ms, db {row['db_mb']:6.0f} MB, peak RSS {row['rss_mb']:5.0f} MB"
        )
    print("BENCH-RESULT " + json.dumps({"bench": "growth", "hl7": hl7_rows, "spool": spool_rows}))


if __name__ == "__main__":
    main()
