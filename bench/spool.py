"""Durable put throughput: single-row commits vs group commit, measured in the same run.

    .venv/bin/python bench/spool.py [N]

Baseline: ``SqliteSpool.put`` one ticket per transaction (WAL, synchronous=FULL, one fsync each),
one caller after another. Group commit: the same number of tickets put by 256 concurrent callers
through `CommitBatcher` (each caller still returns only after the commit holding its ticket).
Prints both rates and the ratio (target >= 3x).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fallback import PayloadCipher, SqliteSpool
from fallback.group_commit import CommitBatcher
from normalizers.payload import RedactionReport, Routing, SourceFormat, SourceInfo, TicketPayload
from normalizers.sealed import SealedTicket


def ticket(n: int) -> SealedTicket:
    from datetime import UTC, datetime

    payload = TicketPayload(
        id=f"tkt_{n:032x}", fingerprint=f"fp_{n:032x}",
        source=SourceInfo(system="bench", format=SourceFormat.HL7V2, control_ids={"MSH-10": f"m{n}"}),
        received_at=datetime.now(UTC), category="eligibility.denied", taxonomy_version="2025.1",
        routing=Routing(queue="billing", rule_id="r-1"), summary=f"bench ticket {n}",
        description="x" * 400, redaction=RedactionReport(policy_version="p1", key_id="k1"),
    )  # fmt: skip
    return SealedTicket.restore(payload.canonical_json())


async def main(n: int) -> None:
    tickets = [ticket(i) for i in range(2 * n)]
    cipher = PayloadCipher({"k1": bytes(32)}, "k1")
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteSpool(Path(tmp) / "single.db", cipher) as spool:
            start = time.perf_counter()
            for t in tickets[:n]:
                await spool.put(t, dedup_key=t.id, sinks=["file"])
            single = n / (time.perf_counter() - start)
        async with SqliteSpool(Path(tmp) / "group.db", cipher) as spool:
            batcher = CommitBatcher(spool)
            queue = list(tickets[n:])

            async def caller() -> None:
                while queue:
                    t = queue.pop()
                    await batcher.put(t, dedup_key=t.id, sinks=["file"])

            start = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(256)))
            group = n / (time.perf_counter() - start)
            assert sum((await spool.depth())["file"].values()) == n
    print(f"single-row synchronous=FULL put: {single:,.0f} tickets/s")
    print(f"group commit put (256 callers):  {group:,.0f} tickets/s")
    print(f"ratio: {group / single:.1f}x (target >= 3x)")
    result = {
        "name": "durable put, group commit vs single-row commit (issue 7)",
        "measured": group,
        "baseline": single,
        "unit": "tickets/s",
        "ratio": group / single,
        "goal": ">= 3x",
        "met": group / single >= 3,
    }
    print("BENCH-RESULT " + json.dumps({"bench": "spool", "n": n, "targets": [result]}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
