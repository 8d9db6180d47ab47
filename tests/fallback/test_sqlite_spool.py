"""What only the SQLite spool promises: encryption at rest, key rotation, durability across reopen,
corruption handling, and `SpoolUnavailable` when it cannot write."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from fallback import (
    EntryState,
    PayloadCipher,
    SpoolCorrupt,
    SpoolUnavailable,
    SqliteSpool,
)
from fallback.sqlite_schema import SCHEMA_VERSION

LEASE = timedelta(seconds=60)
K1 = bytes(range(32))
K2 = bytes(range(32, 64))
MARKER = "ZZ-PLAINTEXT-MARKER-4c1d"


def spool_files(db: Path) -> list[Path]:
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def assert_no_marker(db: Path, *, expect_wal: bool = False) -> None:
    files = spool_files(db)
    assert db in files
    assert not expect_wal or Path(f"{db}-wal") in files
    for path in files:
        data = path.read_bytes()
        assert MARKER.encode() not in data, path.name
        assert b'"summary"' not in data, path.name


def test_payloads_are_encrypted_at_rest(tmp_path, make_ticket, clock):
    db = tmp_path / "spool.db"

    async def main():
        ticket = make_ticket(description=f"redacted note {MARKER} end")
        async with SqliteSpool(db, PayloadCipher({"k1": K1}, "k1"), clock=clock) as spool:
            await spool.put(ticket, dedup_key="dk", sinks=["jira", "file"])
            assert_no_marker(db, expect_wal=True)
            (entry,) = await spool.lease("jira", owner="w", limit=1, lease_for=LEASE)
            assert MARKER in entry.ticket.body.decode()  # the marker really was in the payload
        assert_no_marker(db)

    asyncio.run(main())


def test_wal_journal_is_used(tmp_path, clock):
    db = tmp_path / "spool.db"

    async def main():
        async with SqliteSpool(db, PayloadCipher({"k1": K1}, "k1"), clock=clock):
            conn = sqlite3.connect(db)
            try:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            finally:
                conn.close()

    asyncio.run(main())


def test_entries_survive_close_and_reopen(tmp_path, make_ticket, clock):
    db = tmp_path / "nested" / "dir" / "spool.db"
    cipher = PayloadCipher({"k1": K1}, "k1")
    ticket = make_ticket()

    async def main():
        async with SqliteSpool(db, cipher, clock=clock) as spool:
            put = await spool.put(ticket, dedup_key="dk", sinks=["jira", "file"])
            depth = await spool.depth()
        async with SqliteSpool(db, cipher, clock=clock) as reopened:
            assert await reopened.depth() == depth
            again = await reopened.put(ticket, dedup_key="dk", sinks=["jira", "file"])
            assert again.created is False and again.entry_ids == put.entry_ids
            (entry,) = await reopened.lease("jira", owner="w", limit=5, lease_for=LEASE)
            assert entry.ticket.body == ticket.body

    asyncio.run(main())


def test_old_entries_still_decrypt_after_key_rotation(tmp_path, make_ticket, clock):
    db = tmp_path / "spool.db"
    old, new = make_ticket(), make_ticket()

    async def main():
        async with SqliteSpool(db, PayloadCipher({"k1": K1}, "k1"), clock=clock) as spool:
            await spool.put(old, dedup_key="old", sinks=["jira"])
        rotated = PayloadCipher({"k1": K1, "k2": K2}, "k2")
        async with SqliteSpool(db, rotated, clock=clock) as spool:
            await spool.put(new, dedup_key="new", sinks=["jira"])
            leased = await spool.lease("jira", owner="w", limit=5, lease_for=LEASE)
            assert [e.ticket.body for e in leased] == [old.body, new.body]
        conn = sqlite3.connect(db)
        try:
            rows = dict(conn.execute("SELECT dedup_key, key_id FROM payloads"))
        finally:
            conn.close()
        assert rows == {"old": "k1", "new": "k2"}

    asyncio.run(main())


def test_missing_key_for_unsettled_entries_fails_open(tmp_path, make_ticket, clock):
    db = tmp_path / "spool.db"

    async def main():
        async with SqliteSpool(db, PayloadCipher({"k1": K1}, "k1"), clock=clock) as spool:
            await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])
        spool = SqliteSpool(db, PayloadCipher({"k2": K2}, "k2"), clock=clock)
        with pytest.raises(SpoolCorrupt, match="k1"):
            await spool.open()
        with pytest.raises(SpoolUnavailable):
            await spool.check_writable()

    asyncio.run(main())


def test_corrupted_ciphertext_is_dead_lettered_not_delivered(tmp_path, make_ticket, clock):
    db = tmp_path / "spool.db"
    cipher = PayloadCipher({"k1": K1}, "k1")
    good, bad = make_ticket(), make_ticket()

    async def main():
        async with SqliteSpool(db, cipher, clock=clock) as spool:
            (bad_id,) = (await spool.put(bad, dedup_key="bad", sinks=["jira"])).entry_ids
            (good_id,) = (await spool.put(good, dedup_key="good", sinks=["jira"])).entry_ids
        conn = sqlite3.connect(db)
        try:
            (blob,) = conn.execute("SELECT blob FROM payloads WHERE dedup_key = 'bad'").fetchone()
            flipped = bytes([blob[0]]) + bytes([blob[1] ^ 0xFF]) + blob[2:]
            conn.execute("UPDATE payloads SET blob = ? WHERE dedup_key = 'bad'", (flipped,))
            conn.commit()
        finally:
            conn.close()
        with pytest.raises(SpoolCorrupt):
            cipher.decrypt("k1", flipped, b"rcmgw.spool.v1\x00bad")
        async with SqliteSpool(db, cipher, clock=clock) as spool:
            leased = await spool.lease("jira", owner="w", limit=5, lease_for=LEASE)
            assert [e.entry_id for e in leased] == [good_id]
            info = await spool.get(bad_id)
            assert info.state is EntryState.DEAD
            assert info.last_error == "spool.corrupt"

    asyncio.run(main())


def test_blob_moved_to_another_row_fails_authentication(tmp_path, make_ticket, clock):
    db = tmp_path / "spool.db"
    cipher = PayloadCipher({"k1": K1}, "k1")

    async def main():
        async with SqliteSpool(db, cipher, clock=clock) as spool:
            (a_id,) = (await spool.put(make_ticket(), dedup_key="a", sinks=["jira"])).entry_ids
            await spool.put(make_ticket(), dedup_key="b", sinks=["jira"])
        conn = sqlite3.connect(db)
        try:
            conn.execute("UPDATE payloads SET blob = (SELECT blob FROM payloads WHERE dedup_key = 'b')"
                         " WHERE dedup_key = 'a'")  # fmt: skip
            conn.commit()
        finally:
            conn.close()
        async with SqliteSpool(db, cipher, clock=clock) as spool:
            leased = await spool.lease("jira", owner="w", limit=5, lease_for=LEASE)
            assert len(leased) == 1
            assert (await spool.get(a_id)).state is EntryState.DEAD

    asyncio.run(main())


def test_path_that_is_a_directory_is_unavailable(tmp_path, make_ticket, clock):
    db = tmp_path / "spool.db"
    db.mkdir()

    async def main():
        spool = SqliteSpool(db, PayloadCipher({"k1": K1}, "k1"), clock=clock)
        with pytest.raises(SpoolUnavailable):
            await spool.open()
        with pytest.raises(SpoolUnavailable):
            await spool.check_writable()
        with pytest.raises(SpoolUnavailable):
            await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])

    asyncio.run(main())


def test_parent_that_is_a_file_is_unavailable(tmp_path, clock):
    (tmp_path / "not-a-dir").write_text("x")

    async def main():
        spool = SqliteSpool(tmp_path / "not-a-dir" / "spool.db", PayloadCipher({"k1": K1}, "k1"), clock=clock)
        with pytest.raises(SpoolUnavailable):
            await spool.open()

    asyncio.run(main())


def test_locked_database_is_unavailable_then_recovers(tmp_path, make_ticket, clock):
    db = tmp_path / "spool.db"
    cipher = PayloadCipher({"k1": K1}, "k1")

    async def main():
        spool = SqliteSpool(db, cipher, clock=clock, busy_timeout=timedelta(milliseconds=20))
        async with spool:
            other = sqlite3.connect(db, isolation_level=None)
            try:
                other.execute("BEGIN EXCLUSIVE")
                with pytest.raises(SpoolUnavailable, match="SQLITE_BUSY"):
                    await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])
                with pytest.raises(SpoolUnavailable):
                    await spool.check_writable()
                other.execute("ROLLBACK")
            finally:
                other.close()
            await spool.check_writable()
            result = await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])
            assert result.created is True

    asyncio.run(main())


def test_newer_schema_version_is_refused(tmp_path, clock):
    db = tmp_path / "spool.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    async def main():
        with pytest.raises(SpoolUnavailable, match="newer"):
            await SqliteSpool(db, PayloadCipher({"k1": K1}, "k1"), clock=clock).open()

    asyncio.run(main())


def test_not_a_database_is_corrupt(tmp_path, clock):
    db = tmp_path / "spool.db"
    db.write_bytes(b"this is not a sqlite database at all, just some bytes" * 100)

    async def main():
        with pytest.raises(SpoolCorrupt):
            await SqliteSpool(db, PayloadCipher({"k1": K1}, "k1"), clock=clock).open()

    asyncio.run(main())
