"""Cost of sharing the dedup lifecycle across nodes: ingest through the lifecycle gate on the
PostgreSQL lifecycle store, measured in the same run.

    .venv/bin/python bench/lifecycle_pg.py [N]

Starts a throwaway PostgreSQL (tests/pgserver.py). Every record opens a ticket of its own problem
(the worst case: a state read, a facilities read and an upsert each). The spool is the in-memory
double so only the lifecycle's cost is measured.

- baseline: one node, the process-local asyncio lock (no cross-node safety);
- cluster lock: one node, `ClusterLock` (pg_advisory_lock / unlock around each decision);
- two nodes: two pipelines, each with its own store connection and cluster lock, sharing the load.

Prints records/s and the ratio to the baseline.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import running_pg  # noqa: E402
from testkit import canary_event  # noqa: E402

from adapters.base import SourceRecord  # noqa: E402
from adapters.json_event import parse_event  # noqa: E402
from fallback.cipher import PayloadCipher  # noqa: E402
from fallback.memory_spool import MemorySpool  # noqa: E402
from gateway.audit import SqliteAuditLog  # noqa: E402
from gateway.lifecycle_flow import LifecycleGate  # noqa: E402
from gateway.lifecycle_postgres import PostgresLifecycleStore  # noqa: E402
from gateway.pipeline import IngestPipeline  # noqa: E402
from gateway.quarantine import Quarantine  # noqa: E402
from normalizers.lifecycle import LifecyclePolicy  # noqa: E402
from normalizers.normalizer import Normalizer  # noqa: E402
from normalizers.rule_loader import load_rules  # noqa: E402
from normalizers.rule_set import Stage  # noqa: E402
from normalizers.sealing import Sealer  # noqa: E402
from redaction import Redactor, default_detector_registry  # noqa: E402
from redaction.testing import deterministic_pseudonymizer  # noqa: E402


def records(prefix: str, n: int) -> list[SourceRecord]:
    return [
        parse_event(json.dumps({**canary_event(f"{prefix}-{i}"), "facility": f"{prefix}-{i}"}).encode())
        for i in range(n)
    ]


def pipeline(
    store: PostgresLifecycleStore, spool: MemorySpool, cluster: bool, tmp: Path, name: str
) -> IngestPipeline:
    pseudonymizer = deterministic_pseudonymizer()
    cipher = PayloadCipher({"k1": b"\x01" * 32}, "k1")
    audit = SqliteAuditLog(tmp / f"audit-{name}.db", b"k" * 32)
    audit.open()
    lock = store.cluster_lock() if cluster else None
    return IngestPipeline(
        Normalizer(rules=load_rules().stage(Stage.RECORD)),
        Sealer(Redactor(pseudonymizer, default_detector_registry()), pseudonymizer),
        spool=spool,
        sinks=["file"],
        quarantine=Quarantine(tmp / f"q-{name}", cipher),
        audit=audit,
        lifecycle=LifecycleGate(store, LifecyclePolicy(), lock=lock, cipher=cipher),
    )


async def run(nodes: list[IngestPipeline], batches: list[list[SourceRecord]]) -> float:
    async def feed(node: IngestPipeline, batch: list[SourceRecord]) -> None:
        for record in batch:
            await node.ingest(record)

    start = time.perf_counter()
    await asyncio.gather(*(feed(node, batch) for node, batch in zip(nodes, batches, strict=True)))
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


async def main(n: int) -> None:
    with running_pg() as server, TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        rates: dict[str, float] = {}
        for label, cluster, count in (
            ("baseline", False, 1),
            ("cluster lock", True, 1),
            ("two nodes", True, 2),
        ):
            dsn = server.create_database(f"bench_{label.replace(' ', '_')}")
            stores = [PostgresLifecycleStore(dsn) for _ in range(count)]
            spool = MemorySpool()
            await spool.open()
            nodes = [pipeline(s, spool, cluster, tmp, f"{label}-{i}") for i, s in enumerate(stores)]
            await nodes[0].ingest(records(f"warm-{label}", 1)[0])  # schema + connections
            batches = [records(f"{label}-{i}", n // count) for i in range(count)]
            rates[label] = await run(nodes, batches)
            for store, node in zip(stores, nodes, strict=True):
                await store.aclose()
                gate = node.lifecycle
                close = getattr(gate.lock, "aclose", None) if gate else None
                if close is not None:
                    await close()
        base = rates["baseline"]
        print(f"records: {n} (each opens its own ticket), spool: in-memory double")
        for label, rate in rates.items():
            print(f"{label:>13}: {rate:8.0f} records/s  ratio {rate / base:.2f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
