"""Drain spooled tickets to a loopback webhook receiver, signed per Standard Webhooks.

    .venv/bin/python bench/delivery.py [N] [WORKERS] [CONCURRENCY]

Spools N tickets (default 100,000) in the SQLite spool (group commit), then runs WORKERS delivery
workers (default 4, distinct lease owners, one `WebhookSink` each, up to CONCURRENCY sends in flight
per worker, default 1, batches of 200 settled in one transaction) until every entry is DELIVERED.
The receiver is a minimal asyncio HTTP/1.1 server in a separate process that answers 200 to every
POST. Prints tickets/s (target >= 3,000/s) and, as the same-run baseline, one worker sending one by
one (concurrency 1; still with batched settlement).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import socket
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spool import ticket

from fallback import PayloadCipher, RetryPolicy, SqliteSpool
from fallback.webhook_sink import WebhookSink
from fallback.worker import DeliveryWorker

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def receiver(sock: socket.socket) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(OK)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, sock=sock)
        await server.serve_forever()

    asyncio.run(serve())


async def drain(spool: SqliteSpool, url: str, workers: int, n: int, concurrency: int = 1) -> float:
    sinks = [WebhookSink(url, ["whsec_YmVuY2gtc2VjcmV0"], name="hook") for _ in range(workers)]
    for sink in sinks:
        await sink.open()
    runners = [
        DeliveryWorker(
            spool,
            sink,
            policy=RetryPolicy(),
            owner=f"w{i}",
            batch_size=200,
            lease_for=timedelta(minutes=10),
            rng=random.Random(i),
            concurrency=concurrency,
        )
        for i, sink in enumerate(sinks)
    ]
    start = time.perf_counter()

    async def loop(worker: DeliveryWorker) -> None:
        while await worker.run_once():
            pass

    await asyncio.gather(*(loop(w) for w in runners))
    elapsed = time.perf_counter() - start
    for sink in sinks:
        await sink.aclose()
    assert (await spool.depth())["hook"]["delivered"] == n
    return n / elapsed


async def main(n: int, workers: int, concurrency: int) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    proc = multiprocessing.Process(target=receiver, args=(sock,), daemon=True)
    proc.start()
    cipher = PayloadCipher({"k1": bytes(32)}, "k1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with SqliteSpool(Path(tmp) / "base.db", cipher) as spool:
                base_n = min(2000, n)
                await spool.put_batch([(ticket(i), f"b{i}", ["hook"]) for i in range(base_n)])
                baseline = await drain(spool, url, 1, base_n)
            async with SqliteSpool(Path(tmp) / "spool.db", cipher) as spool:
                for start in range(0, n, 5000):
                    items = [(ticket(i), f"d{i}", ["hook"]) for i in range(start, min(start + 5000, n))]
                    await spool.put_batch(items)
                rate = await drain(spool, url, workers, n, concurrency)
    finally:
        proc.terminate()
    print(f"1 worker (baseline, {base_n} tickets): {baseline:,.0f} tickets/s")
    print(f"{workers}x{concurrency} in flight, {n:,} tickets: {rate:,.0f} tickets/s; target >= 3,000/s")
    print(f"ratio: {rate / baseline:.1f}x")
    drained = {
        "name": f"drain to a loopback webhook, {n:,} tickets (issue 7; target names 100,000)",
        "measured": rate,
        "baseline": baseline,
        "unit": "tickets/s",
        "ratio": rate / baseline,
        "goal": ">= 3,000 tickets/s",
        "met": rate >= 3000,
    }
    print("BENCH-RESULT " + json.dumps({"bench": "delivery", "n": n, "targets": [drained]}))


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 4,
            int(sys.argv[3]) if len(sys.argv) > 3 else 1,
        )
    )
