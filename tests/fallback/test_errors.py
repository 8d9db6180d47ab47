"""The fallback exception tree, and the mapping of every sqlite3 error at the spool boundary."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from fallback import (
    SQLITE_ERROR_MAP,
    DeliveryError,
    FallbackError,
    LeaseLost,
    PermanentDeliveryError,
    SpoolCorrupt,
    SpoolError,
    SpoolFull,
    SpoolUnavailable,
    TransientDeliveryError,
    translate_sqlite_error,
)

TREE = {
    FallbackError: (Exception, "fallback"),
    SpoolError: (FallbackError, "spool"),
    SpoolUnavailable: (SpoolError, "spool.unavailable"),
    SpoolFull: (SpoolUnavailable, "spool.full"),
    SpoolCorrupt: (SpoolError, "spool.corrupt"),
    LeaseLost: (SpoolError, "spool.lease_lost"),
    DeliveryError: (FallbackError, "delivery"),
    TransientDeliveryError: (DeliveryError, "delivery.transient"),
    PermanentDeliveryError: (DeliveryError, "delivery.permanent"),
}


@pytest.mark.parametrize("klass", list(TREE), ids=lambda k: k.__name__)
def test_tree_and_codes(klass):
    parent, code = TREE[klass]
    assert klass.__bases__ == (parent,)
    assert klass.code == code
    assert klass.__doc__


def test_transient_error_carries_retry_after():
    assert TransientDeliveryError("x", retry_after=30.0).retry_after == 30.0
    assert TransientDeliveryError("x").retry_after is None


def _all_subclasses(klass: type) -> set[type]:
    found = set()
    for sub in klass.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def test_every_sqlite3_error_class_is_mapped():
    classes = {sqlite3.Error, *_all_subclasses(sqlite3.Error)}
    unmapped = sorted(k.__name__ for k in classes if k not in SQLITE_ERROR_MAP)
    assert unmapped == []


@pytest.mark.parametrize(
    "klass", sorted(SQLITE_ERROR_MAP, key=lambda k: k.__name__), ids=lambda k: k.__name__
)
def test_translate_each_class(klass):
    translated = translate_sqlite_error(klass("SELECT secret FROM t WHERE x = 'value'"))
    assert isinstance(translated, SQLITE_ERROR_MAP[klass])
    assert "secret" not in str(translated) and "value" not in str(translated)


# Real errors from a real SQLite, one per failure the spool can meet at its boundary.


def _cantopen(tmp: Path) -> None:
    (tmp / "dir.db").mkdir()
    sqlite3.connect(tmp / "dir.db").execute("SELECT 1")


def _busy(tmp: Path) -> None:
    holder = sqlite3.connect(tmp / "db", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(tmp / "db", timeout=0, isolation_level=None)
    waiter.execute("BEGIN IMMEDIATE")


def _readonly(tmp: Path) -> None:
    sqlite3.connect(tmp / "db").execute("CREATE TABLE t (x)").connection.commit()
    ro = sqlite3.connect(f"file:{tmp / 'db'}?mode=ro", uri=True)
    ro.execute("INSERT INTO t VALUES (1)")


def _full(tmp: Path) -> None:
    conn = sqlite3.connect(tmp / "db", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA max_page_count = 2")
    conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))


def _notadb(tmp: Path) -> None:
    (tmp / "db").write_bytes(b"garbage" * 1000)
    sqlite3.connect(tmp / "db").execute("SELECT * FROM sqlite_master")


def _constraint(tmp: Path) -> None:
    conn = sqlite3.connect(tmp / "db")
    conn.execute("CREATE TABLE t (x PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES ('phi-like-value')")
    conn.execute("INSERT INTO t VALUES ('phi-like-value')")


def _closed(tmp: Path) -> None:
    conn = sqlite3.connect(tmp / "db")
    conn.close()
    conn.execute("SELECT 1")


def _unsupported_type(tmp: Path) -> None:
    sqlite3.connect(tmp / "db").execute("SELECT ?", (object(),))


REAL_ERRORS: dict[str, tuple[Callable[[Path], None], type[SpoolError]]] = {
    "cantopen": (_cantopen, SpoolUnavailable),
    "busy": (_busy, SpoolUnavailable),
    "readonly": (_readonly, SpoolUnavailable),
    "full": (_full, SpoolFull),
    "notadb": (_notadb, SpoolCorrupt),
    "constraint": (_constraint, SpoolUnavailable),
    "closed-connection": (_closed, SpoolUnavailable),
    "unsupported-type": (_unsupported_type, SpoolUnavailable),
}


@pytest.mark.parametrize("scenario", sorted(REAL_ERRORS))
def test_real_sqlite_errors_are_translated(tmp_path, scenario):
    trigger, expected = REAL_ERRORS[scenario]
    with pytest.raises(sqlite3.Error) as caught:
        trigger(tmp_path)
    translated = translate_sqlite_error(caught.value)
    assert type(translated) is expected
    assert "phi-like-value" not in str(translated)


def test_postgres_disk_full_is_spool_full():
    import psycopg

    from fallback.postgres_schema import translate_pg_error

    translated = translate_pg_error(psycopg.errors.DiskFull("could not extend file: phi-like-value"))
    assert type(translated) is SpoolFull
    assert "53100" in str(translated) and "phi-like-value" not in str(translated)
