"""What two-way sync costs on the delivery path, and how fast status changes are applied.

    .venv/bin/python bench/two_way_sync.py [N]

1. Drains N spooled tickets (default 5,000) from the SQLite spool to an in-memory sink with one
   delivery worker (batches of 200), twice: the baseline with the audit hook only, then with the
   sync hook too (one ticket link recorded per delivery, in the spool's SQLite file). Prints both
   rates and the ratio (sync / baseline).
2. Applies N remote status changes (``acknowledged``) through `StatusSync.apply` (link lookup by
   remote id, state and times, metrics, audit record) and prints the rate.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from spool import ticket

from fallback import PayloadCipher, RetryPolicy, SqliteSpool
from fallback.memory_sink import MemorySink
from fallback.spool import PutRequest
from fallback.worker import DeliveryWorker
from gateway.audit import SqliteAuditLog
from gateway.delivery_wiring import audit_hook, chain_hooks
from gateway.keys import load_or_create_keys
from gateway.metrics import GatewayMetrics
from gateway.runtime import build_sealer
from gateway.sync_settings import SyncSettings
from gateway.sync_status import StatusReport, StatusSync
from gateway.ticket_links import TicketLinkStore


async def drain(root: Path, n: int, *, with_sync: bool) -> tuple[float, StatusSync | None]:
    cipher = PayloadCipher({"k1": bytes(32)}, "k1")
    audit = SqliteAuditLog(root / "audit.db", bytes(32))
    audit.open()
    spool = SqliteSpool(root / "spool.db", cipher)
    await spool.open()
    for start in range(0, n, 500):
        await spool.put_many(
            [PutRequest(t, t.id, ("mem",)) for t in map(ticket, range(start, min(n, start + 500)))]
        )
    hook = audit_hook(audit)
    sync: StatusSync | None = None
    if with_sync:
        keys = load_or_create_keys(root / "keys")
        sync = StatusSync(
            SyncSettings(enabled=True), TicketLinkStore(root / "spool.db"), audit=audit,
            metrics=GatewayMetrics(), spool=spool, sealer=build_sealer(keys), sink_kinds={"mem": "generic"},
        )  # fmt: skip
        hook = chain_hooks(hook, sync.record_settled)
    sink = MemorySink("mem")
    await sink.open()
    worker = DeliveryWorker(spool, sink, policy=RetryPolicy(), owner="bench", batch_size=200, on_settled=hook)
    started = time.perf_counter()
    done = 0
    while done < n:
        done += await worker.run_once()
    rate = n / (time.perf_counter() - started)
    return rate, sync


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        base, _ = await drain(Path(a), n, with_sync=False)
        with_sync, sync = await drain(Path(b), n, with_sync=True)
        print(f"delivery, audit hook only (baseline): {base:,.0f} tickets/s")
        print(f"delivery, audit + ticket links:       {with_sync:,.0f} tickets/s")
        print(f"ratio sync/baseline:                   {with_sync / base:.2f}")
        assert sync is not None
        store = sync.links
        assert isinstance(store, TicketLinkStore)
        conn = store._connect()  # bench set-up only
        conn.execute("UPDATE ticket_links SET remote_id = ticket_id")  # remote id = ticket id, for lookups
        started = time.perf_counter()
        for i in range(n):
            await sync.apply(StatusReport("mem", ticket(i).id, "acknowledged", via="poll"))
        print(f"status changes applied:               {n / (time.perf_counter() - started):,.0f} /s")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
