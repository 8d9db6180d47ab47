"""`SpoolAdmin.find`'s search filters (fingerprint prefix, payer id, code) over the PHI-free search
metadata kept in clear (`fallback.search_meta`), on every backend; the SQLite in-place migration of an
old-schema file (backfilled by decrypting once); no free text in the clear columns."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fallback import DeadLetter, EntryState, MemorySpool, PayloadCipher, SpoolBackend, SqliteSpool
from fallback.postgres_spool import PostgresSpool
from fallback.spool_admin import SpoolQuery
from fallback.sqlite_schema import MIGRATIONS, SCHEMA_VERSION, to_micros
from normalizers.payload import (
    Code,
    Payer,
    RedactionReport,
    Routing,
    SourceFormat,
    SourceInfo,
    TicketPayload,
)
from normalizers.sealed import SealedTicket

KEY = bytes(range(32))
LEASE = timedelta(seconds=60)
CANARY = "Canary Smith 1970-01-01"
PG_DSNS: dict[Path, str] = {}

BACKENDS: dict[str, Callable[[Path, Any], SpoolBackend]] = {
    "memory": lambda tmp, clock: MemorySpool(clock=clock),
    "sqlite": lambda tmp, clock: SqliteSpool(
        tmp / "spool" / "spool.db", PayloadCipher({"k1": KEY}, "k1"), clock=clock
    ),
    "postgresql": lambda tmp, clock: PostgresSpool(
        PG_DSNS[tmp], PayloadCipher({"k1": KEY}, "k1"), clock=clock
    ),
}


@pytest.fixture(params=sorted(BACKENDS))
def new_spool(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Callable[[], SpoolBackend]:
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        PG_DSNS[tmp_path] = server.create_database(f"search_{abs(hash(tmp_path)):x}")
    return lambda: BACKENDS[request.param](tmp_path, clock)


def ticket(n: int, *, category: str, payer: str | None, codes: list[tuple[str, str]]) -> SealedTicket:
    payload = TicketPayload(
        id=f"tkt_{n:032x}",
        fingerprint=f"fp_{n:032x}",
        source=SourceInfo(system="epic", format=SourceFormat.HL7V2, control_ids={"MSH-10": f"m{n}"}),
        received_at=datetime(2025, 3, 1, tzinfo=UTC),
        category=category,
        taxonomy_version="2025.1",
        codes=[Code(system=s, code=c, description=CANARY) for s, c in codes],
        payer=None if payer is None else Payer(id=payer, name=CANARY),
        routing=Routing(queue="billing", rule_id="r-1"),
        summary=f"{CANARY} summary",
        description=f"{CANARY} description",
        redaction=RedactionReport(policy_version="p1", key_id="k1"),
    )
    return SealedTicket.restore(payload.canonical_json())


# n -> (category, payer, codes); one put every 10 s, sinks jira and file
TICKETS: dict[int, tuple[str, str | None, list[tuple[str, str]]]] = {
    0x10: ("claim.denied", "87726", [("CARC", "45"), ("RARC", "N130")]),
    0x11: ("claim.denied", "60054", [("CARC", "45")]),
    0x12: ("eligibility.denied", "87726", [("CARC", "27")]),
    0x20: ("claim.denied", None, []),
    0x21: ("claim.denied", "87726", [("RARC", "45")]),
}


def test_find_filters_by_fingerprint_payer_and_code(new_spool, clock):
    start = clock.now

    async def main() -> None:
        spool = new_spool()
        await spool.open()
        try:
            ids: dict[int, tuple[str, ...]] = {}
            for n, (category, payer, codes) in TICKETS.items():
                made = ticket(n, category=category, payer=payer, codes=codes)
                ids[n] = (await spool.put(made, dedup_key=f"dk-{n}", sinks=["jira", "file"])).entry_ids
                clock.advance(10)
            (leased,) = await spool.lease("jira", owner="w", limit=1, lease_for=LEASE)
            await spool.settle(leased.entry_id, owner="w", outcome=DeadLetter(reason="delivery.permanent"))

            async def found(**filters: Any) -> list[str]:
                return [e.entry_id for e in await spool.find(SpoolQuery(**filters))]

            def jira(*ns: int) -> list[str]:
                return [ids[n][0] for n in ns]

            assert await found(sink="jira", payer="87726") == jira(0x10, 0x12, 0x21)
            assert await found(payer="87726", limit=2) == [ids[0x10][0], ids[0x10][1]]
            assert await found(sink="jira", payer="nope") == []
            # a bare code matches any system; "system:code" only that system
            assert await found(sink="jira", code="45") == jira(0x10, 0x11, 0x21)
            assert await found(sink="jira", code="CARC:45") == jira(0x10, 0x11)
            assert await found(sink="file", code="RARC:N130") == [ids[0x10][1]]
            assert await found(sink="jira", code="45", payer="87726") == jira(0x10, 0x21)
            assert await found(sink="jira", code="45", category="claim.denied", payer="60054") == jira(0x11)
            # fingerprint: exact or prefix
            assert await found(sink="jira", fingerprint=f"fp_{0x12:032x}") == jira(0x12)
            assert await found(sink="jira", fingerprint=f"fp_{0:030x}1") == jira(0x10, 0x11, 0x12)
            assert await found(sink="jira", fingerprint=f"fp_{0:030x}1", code="CARC:45") == jira(0x10, 0x11)
            # with state and time
            assert await found(state=EntryState.DEAD, payer="87726") == jira(0x10)
            assert await found(state=EntryState.DEAD, payer="60054") == []
            window = {"since": start + timedelta(seconds=10), "until": start + timedelta(seconds=40)}
            assert await found(sink="jira", payer="87726", **window) == jira(0x12)
            assert await found(sink="file", code="45", **window) == [ids[0x11][1]]
            assert await found(sink="jira", fingerprint="fp_", **window) == jira(0x11, 0x12, 0x20)
            # the category alone (SQLite walks the payloads' (category, created_at) index)
            assert await found(sink="file", category="claim.denied") == [
                ids[n][1] for n in (0x10, 0x11, 0x20, 0x21)
            ]
            assert await found(category="claim.denied", state=EntryState.PENDING, limit=3) == [
                ids[0x10][1], ids[0x11][0], ids[0x11][1]
            ]  # fmt: skip
            # a purge takes the payloads' search metadata with them (PostgreSQL/SQLite: cascade)
            for sink in ("jira", "file"):
                for entry in await spool.lease(sink, owner="w", limit=10, lease_for=LEASE):
                    await spool.settle(entry.entry_id, owner="w", outcome=DeadLetter(reason="x"))
            clock.advance(3600)
            purged = await spool.purge(clock.now, states=(EntryState.DEAD,))
            assert purged.entries == 2 * len(TICKETS)
            assert await found(code="45") == [] and await found(payer="87726") == []
        finally:
            await spool.aclose()

    asyncio.run(main())


def _old_schema_file(path: Path, cipher: PayloadCipher) -> None:
    """A spool file as schema version 3 wrote it: no payer column, no code terms."""
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        for step in MIGRATIONS[:3]:
            for statement in step:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 3")
        for n, (category, payer, codes) in TICKETS.items():
            made = ticket(n, category=category, payer=payer, codes=codes)
            dedup_key = f"dk-{n}"
            key_id, blob = cipher.encrypt(made.body, b"rcmgw.spool.v1\x00" + dedup_key.encode())
            at = to_micros(datetime(2025, 3, 1, tzinfo=UTC) + timedelta(seconds=n))
            conn.execute(
                "INSERT INTO payloads (dedup_key, ticket_id, fingerprint, key_id, blob, created_at, category)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (dedup_key, made.id, made.fingerprint, key_id, blob, at, category),
            )
            conn.execute(
                "INSERT INTO entries (entry_id, dedup_key, sink, state, attempts, created_at, updated_at)"
                " VALUES (?, ?, 'file', 'delivered', 1, ?, ?)",
                (f"ent_{n:032x}", dedup_key, at, at),
            )
        # a payload no configured key opens (settled, so the spool still opens): left unsearchable
        conn.execute(
            "INSERT INTO payloads (dedup_key, ticket_id, fingerprint, key_id, blob, created_at, category)"
            " VALUES ('dk-lost', 'tkt_lost', ?, 'gone', ?, 0, 'claim.denied')",
            (f"fp_{0x99:032x}", b"\x00" * 64),
        )
        conn.execute(
            "INSERT INTO entries (entry_id, dedup_key, sink, state, attempts, created_at, updated_at)"
            f" VALUES ('ent_{0x99:032x}', 'dk-lost', 'file', 'dead', 1, 0, 0)"
        )
    finally:
        conn.close()


def test_sqlite_migrates_an_old_file_in_place_and_backfills_once(tmp_path, clock):
    path = tmp_path / "spool" / "spool.db"
    cipher = PayloadCipher({"k1": KEY}, "k1")
    _old_schema_file(path, cipher)

    async def main() -> None:
        async with SqliteSpool(path, cipher, clock=clock) as spool:
            found = await spool.find(SpoolQuery(payer="87726"))
            assert [e.entry_id for e in found] == [f"ent_{n:032x}" for n in (0x10, 0x12, 0x21)]
            found = await spool.find(SpoolQuery(code="CARC:45"))
            assert [e.entry_id for e in found] == [f"ent_{n:032x}" for n in (0x10, 0x11)]
            assert len(await spool.find(SpoolQuery(category="claim.denied"))) == 5
            assert [e.entry_id for e in await spool.find(SpoolQuery(fingerprint=f"fp_{0x99:032x}"))] == [
                f"ent_{0x99:032x}"
            ]
        async with SqliteSpool(path, cipher, clock=clock) as spool:  # reopening does not redo it
            assert len(await spool.find(SpoolQuery(code="45"))) == 3

    asyncio.run(main())
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert (
            conn.execute("SELECT COUNT(*) FROM spool_meta WHERE key = 'search_backfill'").fetchone()[0] == 0
        )
        assert conn.execute("SELECT payer FROM payloads WHERE dedup_key = 'dk-lost'").fetchone()[0] is None
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {
            "payloads_category_created",
            "payloads_payer_created",
            "payloads_fingerprint",
            "payload_codes_term",
            "entries_created",
        } <= indexes
    finally:
        conn.close()


def test_sqlite_search_columns_hold_no_free_text_and_are_purged(tmp_path, clock):
    """The clear columns hold ids and codes only (never summary, description, code descriptions or
    the payer name), and a purge takes a payload's code terms with it."""
    path = tmp_path / "spool" / "spool.db"

    async def main() -> None:
        async with SqliteSpool(path, PayloadCipher({"k1": KEY}, "k1"), clock=clock) as spool:
            for n, (category, payer, codes) in TICKETS.items():
                made = ticket(n, category=category, payer=payer, codes=codes)
                await spool.put(made, dedup_key=f"dk-{n}", sinks=["file"])
            conn = sqlite3.connect(path)
            try:
                clear = [
                    *conn.execute(
                        "SELECT dedup_key, ticket_id, fingerprint, key_id, category, payer FROM payloads"
                    ),
                    *conn.execute("SELECT * FROM payload_codes"),
                ]
                assert clear and not any("Canary" in str(value) for row in clear for value in row)
                assert conn.execute("SELECT COUNT(*) FROM payload_codes").fetchone()[0] == 10
            finally:
                conn.close()
            leased = await spool.lease("file", owner="w", limit=10, lease_for=LEASE)
            for entry in leased:
                await spool.settle(entry.entry_id, owner="w", outcome=DeadLetter(reason="delivery.permanent"))
            clock.advance(3600)
            result = await spool.purge(clock.now, states=(EntryState.DEAD,))
            assert result.payloads == len(TICKETS)
            assert await spool.find(SpoolQuery(code="45")) == []
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("SELECT COUNT(*) FROM payload_codes").fetchone()[0] == 0
        finally:
            conn.close()

    asyncio.run(main())
