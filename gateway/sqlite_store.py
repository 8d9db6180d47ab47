"""The shared base of the gateway's small SQLite stores (lifecycle state, ticket links, anomaly
counts): one lazily opened connection (WAL, ``synchronous=FULL``), its schema, and every call made
under one lock in a worker thread, with SQLite and file errors turned into the spool's errors."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from fallback.errors import SpoolUnavailable, translate_sqlite_error

R = TypeVar("R")


class SqliteStore:
    """A store in one SQLite file; subclasses name themselves and create their schema."""

    label: ClassVar[str] = "store"
    """How errors name the store ("lifecycle store cannot open ...")."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Create (or migrate) the store's tables on a new connection."""
        raise NotImplementedError

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=5)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._prepare(conn)
            self._conn = conn
        return self._conn

    def _call(self, work: Callable[[sqlite3.Connection], R]) -> R:
        with self._lock:
            try:
                return work(self._connect())
            except sqlite3.Error as error:
                raise translate_sqlite_error(error) from error
            except OSError as error:
                raise SpoolUnavailable(f"{self.label} cannot open ({type(error).__name__})") from None

    async def _run(self, work: Callable[[sqlite3.Connection], R]) -> R:
        return await asyncio.to_thread(self._call, work)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def aclose(self) -> None:
        """`close` in a worker thread."""
        await asyncio.to_thread(self.close)


__all__ = ["SqliteStore"]
