"""The SQLite spool's clear search metadata (`fallback.search_meta`): written with each payload,
and backfilled once for the payloads a file held before schema step 4 (by decrypting them)."""

from __future__ import annotations

import sqlite3
from typing import Final

from pydantic import ValidationError

from fallback.cipher import PayloadCipher
from fallback.errors import SpoolError
from fallback.search_meta import SearchMeta, search_meta
from fallback.sqlite_schema import write_transaction
from normalizers.sealed import SealedTicket

BACKFILL_KEY: Final = "search_backfill"
_AAD_PREFIX: Final = b"rcmgw.spool.v1\x00"
_BATCH: Final = 1000


def write_codes(conn: sqlite3.Connection, dedup_key: str, meta: SearchMeta, created_at: int) -> None:
    """Store the code terms of ``meta`` (the payer, fingerprint and category go in ``payloads``)."""
    if meta.code_terms:
        conn.executemany(
            "INSERT OR IGNORE INTO payload_codes (dedup_key, term, created_at) VALUES (?, ?, ?)",
            [(dedup_key, term, created_at) for term in meta.code_terms],
        )


def backfill(conn: sqlite3.Connection, cipher: PayloadCipher) -> int:
    """Decrypt every payload once and store its search metadata, if the file still needs it (the
    ``search_backfill`` mark of schema step 4). Payloads that cannot be decrypted (unconfigured
    key, damaged bytes) are left without payer and codes: the delivery path reports them.
    Returns how many payloads were filled."""
    if conn.execute("SELECT 1 FROM spool_meta WHERE key = ?", (BACKFILL_KEY,)).fetchone() is None:
        return 0
    filled = 0
    after = ""
    while True:
        rows = conn.execute(
            "SELECT dedup_key, key_id, blob, created_at FROM payloads WHERE dedup_key > ?"
            " ORDER BY dedup_key LIMIT ?",
            (after, _BATCH),
        ).fetchall()
        if not rows:
            break
        metas: list[tuple[str, SearchMeta, int]] = []
        for dedup_key, key_id, blob, created_at in rows:
            try:
                body = cipher.decrypt(key_id, blob, _AAD_PREFIX + dedup_key.encode("utf-8"))
                metas.append((dedup_key, search_meta(SealedTicket.restore(body)), created_at))
            except (SpoolError, ValidationError, ValueError):
                continue
        with write_transaction(conn):
            for dedup_key, meta, created_at in metas:
                conn.execute("UPDATE payloads SET payer = ? WHERE dedup_key = ?", (meta.payer, dedup_key))
                write_codes(conn, dedup_key, meta, created_at)
        filled += len(metas)
        after = rows[-1][0]
    with write_transaction(conn):
        conn.execute("DELETE FROM spool_meta WHERE key = ?", (BACKFILL_KEY,))
    return filled


__all__ = ["BACKFILL_KEY", "backfill", "write_codes"]
