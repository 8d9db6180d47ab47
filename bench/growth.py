"""Cost growth: time and peak memory against input size, for what the other bench scripts lack.

    .venv/bin/python bench/growth.py [--hl7 1000,10000,100000] [--spool 10000,100000,1000000]
        [--hl7-ingest 1000,100000] [--hl7-oneshot 1000,10000]

- **HL7 v2 batch** file (FHS/BHS ... BTS/FTS) of N DFT^P03 messages (the bench message of
  bench/hl7_mllp.py, one account each), written to a temporary file: streamed read
  (`adapters.hl7v2.stream.read_chunks`), `parse_one` (parse, header checks, record) and
  `Normalizer.normalize` of every record, 500 messages at a time as `gateway.hl7_batch` does, in a
  fresh child process per size; wall time and the child's peak RSS. With ``--hl7-ingest`` also the
  whole ingest path (`gateway.hl7_batch.ingest_hl7_file`: + rules, seal, durable SQLite spool
  commit per 500 messages, dedup lifecycle on as by default) into a temporary home. With
  ``--hl7-oneshot`` also the one-shot `parse_input` of the whole file (what batches used before
  they streamed; it holds every message at once).
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
from itertools import islice
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hl7_file(folder: Path, count: int) -> Path:
    import hl7_mllp

    path = folder / "batch.hl7"
    with path.open("wb") as handle:
        handle.write(b"FHS|^~\\&|EPIC|HOSP\rBHS|^~\\&|EPIC|HOSP\r")
        for n in range(count):
            handle.write(hl7_mllp.dft(f"G{n:09d}"))
        handle.write(f"BTS|{count}\rFTS|1\r".encode())
    return path


def hl7_child(count: int, mode: str) -> dict[str, float | str]:
    from adapters.hl7v2.intake import parse_input, parse_one
    from adapters.hl7v2.stream import read_chunks
    from normalizers.normalizer import Normalizer

    with tempfile.TemporaryDirectory() as tmp:
        path = _hl7_file(Path(tmp), count)
        size = path.stat().st_size
        normalizer = Normalizer()
        started = time.perf_counter()
        messages: int = 0
        drafts: int = 0
        if mode == "stream":
            now = datetime.now(UTC)
            with path.open("rb") as handle:
                chunks = read_chunks(handle)
                while batch := [parse_one(chunk, received_at=now) for chunk in islice(chunks, 500)]:
                    messages += len(batch)
                    drafts += sum(
                        int(m.record is not None and bool(normalizer.normalize(m.record))) for m in batch
                    )
        elif mode == "oneshot":
            parsed = parse_input(path.read_bytes(), received_at=datetime.now(UTC))
            messages = len(parsed.messages)
            drafts = sum(
                int(m.record is not None and bool(normalizer.normalize(m.record))) for m in parsed.messages
            )
        else:
            outcome, seconds = asyncio.run(_hl7_ingest(Path(tmp), path))
            messages, drafts = outcome.messages, outcome.tickets
        if mode != "ingest":
            seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "messages": messages,
        "drafts": drafts,
        "seconds": seconds,
        "bytes": size,
        "rss_mb": _rss_mb(),
    }


async def _hl7_ingest(home: Path, path: Path) -> tuple[Any, float]:
    import os

    for key in [key for key in os.environ if key.startswith("RCMGW_")]:
        del os.environ[key]
    from gateway.hl7_batch import ingest_hl7_file
    from gateway.hl7_intake import Hl7Intake
    from gateway.runtime import Runtime
    from gateway.settings import get_settings

    settings = get_settings(home=home / "home")
    runtime = Runtime.build(settings)
    await runtime.start(delivery=False)
    try:
        intake = Hl7Intake(runtime.pipeline, runtime.quarantine, settings.mllp.tickets)
        started = time.perf_counter()  # the ingest only, not the runtime's start (keys, schema)
        outcome = await ingest_hl7_file(path, runtime.pipeline, intake)
        return outcome, time.perf_counter() - started
    finally:
        await runtime.stop()


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
    parser.add_argument("--hl7-ingest", default="", help="message counts for the whole ingest path")
    parser.add_argument("--hl7-oneshot", default="", help="message counts for one-shot parse_input")
    parser.add_argument("--hl7-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--hl7-mode", default="stream", help=argparse.SUPPRESS)
    parser.add_argument("--spool-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hl7_child:
        print(json.dumps(hl7_child(args.hl7_child, args.hl7_mode)))
        return
    if args.spool_child:
        print(json.dumps(asyncio.run(spool_child(_sizes(args.spool_child)))))
        return
    runs = {
        "stream": _sizes(args.hl7),
        "ingest": _sizes(args.hl7_ingest),
        "oneshot": _sizes(args.hl7_oneshot),
    }
    rows_by_mode: dict[str, list[dict[str, Any]]] = {}
    for mode, counts in runs.items():
        for count in counts:
            row = _child(["--hl7-child", str(count), "--hl7-mode", mode])
            assert isinstance(row, dict)
            rows_by_mode.setdefault(mode, []).append(row)
            print(
                f"hl7 batch {mode:>7} {count:>9,} messages ({row['bytes'] / 1e6:6.1f} MB): "
                f"{row['seconds']:7.2f} s ({count / row['seconds']:8,.0f} msg/s), "
                f"peak RSS {row['rss_mb']:6.0f} MB"
            )
        rows = rows_by_mode.get(mode, [])
        if len(rows) > 1:
            print(
                f"hl7 batch {mode:>7}: peak RSS at {rows[-1]['messages']:,} messages is "
                f"{rows[-1]['rss_mb'] / rows[0]['rss_mb']:.2f}x that at {rows[0]['messages']:,}"
            )
    hl7_rows = rows_by_mode.get("stream", [])
    spool_rows = _child(["--spool-child", args.spool]) if args.spool else []
    assert isinstance(spool_rows, list)
    for row in spool_rows:
        print(
            f"spool depth {row['depth']:>9,}: filled in {row['fill_seconds']:6.1f} s, put 1,000 "
            f"{row['put_1000_ms']:7.1f} ms, depth() {row['depth_query_ms']:7.1f} ms, lease 200 "
            f"{row['lease_200_ms']:7.1f} ms, db {row['db_mb']:6.0f} MB, peak RSS {row['rss_mb']:5.0f} MB"
        )
    result = {"bench": "growth", "hl7": hl7_rows, "spool": spool_rows}
    result |= {f"hl7_{mode}": rows for mode, rows in rows_by_mode.items() if mode != "stream"}
    print("BENCH-RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
