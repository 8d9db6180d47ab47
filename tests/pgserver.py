"""A throwaway PostgreSQL 15 for tests (importable as ``pgserver``): initdb + pg_ctl in a temp dir,
listening on 127.0.0.1 on a free port, trust authentication, stopped at the end.

initdb refuses to run as root, so as root the cluster is created and run as the unprivileged
``nobody`` user (via ``setpriv``) in a directory that user owns. When the binaries are missing the
fixture skips, except under ``CI=true`` where it fails (CI installs them from .ci/apt.d).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"))


def pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    for directory in PG_BIN_DIRS:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *argv]


@dataclass
class PgServer:
    """A running cluster: ``dsn`` names the database ``postgres`` as the superuser ``rcmgw``."""

    root: Path
    port: int
    bin_dir: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=rcmgw dbname={dbname} connect_timeout=5"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (fresh) and return its DSN."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        subprocess.run(
            _as_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
            check=False,
            timeout=60,
        )


def start_pg(bin_dir: Path) -> PgServer:
    """initdb and start a cluster; raise RuntimeError with the log tail when it fails."""
    root = Path(tempfile.mkdtemp(prefix="rcmgw-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="nobody", group="nogroup")
    os.chmod(root, 0o755)
    port = free_port()
    server = PgServer(root=root, port=port, bin_dir=bin_dir)
    init = subprocess.run(
        _as_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(server.data),
                "-U",
                "rcmgw",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        ),
        capture_output=True,
        check=False,
        timeout=120,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr.decode(errors='replace')[-1000:]}")
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='{root}' "
        "-c fsync=on -c max_connections=50 -c shared_buffers=16MB"
    )
    start = subprocess.run(
        _as_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(server.data),
                "-o",
                options,
                "-l",
                str(root / "pg.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        capture_output=True,
        check=False,
        timeout=90,
    )
    if start.returncode != 0:
        log = (root / "pg.log").read_text(errors="replace") if (root / "pg.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {start.stderr.decode(errors='replace')} {log[-1000:]}")
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not accept connections") from None
            time.sleep(0.05)
    return server


@contextlib.contextmanager
def running_pg() -> Iterator[PgServer]:
    bin_dir = pg_bin()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL binaries (initdb, pg_ctl) are missing")
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("psycopg is not installed (pip install -e '.[dev]')")
    server = start_pg(bin_dir)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


_SERVER: PgServer | None = None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    """One PostgreSQL cluster for the whole test session."""
    with running_pg() as server:
        yield server
