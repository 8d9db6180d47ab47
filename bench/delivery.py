"""Drain spooled tickets to a loopback webhook receiver, signed per Standard Webhooks.

    .venv/bin/python bench/delivery.py [N] [WORKERS] [CONCURRENCY]

The receiver is a minimal asyncio HTTP/1.1 server in a separate process that answers 200 to every
POST. Measured in the same run:

1. baseline, the receiver alone: a bare asyncio client (pre-built requests of the same size, no
   spool, no signing) posting min(N, 20,000) requests over WORKERS x CONCURRENCY keep-alive
   connections: the most this receiver can take on this machine at this moment;
2. the drain through httpx (the transport the webhook sink used before), min(N, 5,000) tickets;
3. the drain: N tickets (default 100,000) spooled in the SQLite spool (group commit), then WORKERS
   delivery workers (default 4, distinct lease owners, one `WebhookSink` each with its lean
   keep-alive client, up to CONCURRENCY sends in flight per worker, default 8, batches of 200
   leased and settled in one transaction each) until every entry is DELIVERED.

Prints tickets/s (target >= 3,000/s), the ratio of the drain to the receiver-alone baseline, and the
gateway process's CPU time per ticket ("us CPU/t") (all threads: event loop and SQLite), which the load from
other processes changes far less than the rates.
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
import httpx
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


async def bare_client(port: int, n: int, connections: int) -> float:
    """Requests/s of pre-built POSTs (the same size as a ticket) over keep-alive connections."""
    body = ticket(0).body
    request = (
        f"POST /hook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"webhook-id: tkt_0\r\nwebhook-timestamp: 0\r\nwebhook-signature: v1,{'A' * 44}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def one(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(count):
            writer.write(request)
            await reader.readuntil(b"\r\n\r\n")  # the receiver answers with an empty body
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one(n // connections) for _ in range(connections)))
    return (n // connections * connections) / (time.perf_counter() - start)


async def drain(
    spool: SqliteSpool, url: str, workers: int, n: int, concurrency: int = 1, via_httpx: bool = False
) -> tuple[float, float]:
    """(tickets/s, CPU microseconds per ticket) of draining ``n`` spooled tickets."""
    transport = httpx.AsyncHTTPTransport if via_httpx else (lambda: None)
    sinks = [
        WebhookSink(url, ["whsec_YmVuY2gtc2VjcmV0"], name="hook", transport=transport())
        for _ in range(workers)
    ]
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
    start, cpu = time.perf_counter(), time.process_time()

    async def loop(worker: DeliveryWorker) -> None:
        while await worker.run_once():
            pass

    await asyncio.gather(*(loop(w) for w in runners))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    for sink in sinks:
        await sink.aclose()
    assert (await spool.depth())["hook"]["delivered"] == n
    return n / elapsed, cpu / n * 1e6


async def spooled(path: Path, cipher: PayloadCipher, prefix: str, n: int) -> SqliteSpool:
    spool = SqliteSpool(path, cipher)
    await spool.open()
    for start in range(0, n, 5000):
        await spool.put_batch(
            [(ticket(i), f"{prefix}{i}", ["hook"]) for i in range(start, min(start + 5000, n))]
        )
    return spool


async def main(n: int, workers: int, concurrency: int) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    proc = multiprocessing.Process(target=receiver, args=(sock,), daemon=True)
    proc.start()
    cipher = PayloadCipher({"k1": bytes(32)}, "k1")
    base_n, httpx_n = min(20_000, n), min(5_000, n)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            baseline = await bare_client(port, base_n, workers * concurrency)
            spool = await spooled(Path(tmp) / "httpx.db", cipher, "h", httpx_n)
            via_httpx, httpx_cpu = await drain(spool, url, workers, httpx_n, concurrency, via_httpx=True)
            await spool.aclose()
            spool = await spooled(Path(tmp) / "spool.db", cipher, "d", n)
            rate, cpu = await drain(spool, url, workers, n, concurrency)
            await spool.aclose()
    finally:
        proc.terminate()
    shape = f"{workers}x{concurrency} in flight"
    print(f"receiver alone, bare client, {workers * concurrency} connections: {baseline:,.0f} requests/s")
    print(
        f"drain via httpx, {shape}, {httpx_n:,} tickets: {via_httpx:,.0f} tickets/s, {httpx_cpu:.0f} us CPU/t"
    )
    print(f"drain, {shape}, {n:,} tickets: {rate:,.0f} tickets/s, {cpu:.0f} us CPU/t")
    print(f"ratio drain / receiver alone: {rate / baseline:.2f}; drain / via httpx: {rate / via_httpx:.1f}x")
    print(f"target >= 3,000 tickets/s: {'met' if rate >= 3000 else 'NOT met'} ({rate:,.0f}/s)")
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
            int(sys.argv[3]) if len(sys.argv) > 3 else 8,
        )
    )
