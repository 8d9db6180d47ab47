"""A throwaway OpenSSH server (importable as ``sshdproc``): internal-sftp on a free loopback port,
temporary host key, key-only login for the current user, stopped by the fixture."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


@dataclass
class SshServer:
    port: int
    user: str
    client_key: Path
    known_hosts: str
    root: Path  # a directory the user can read and write, for remote files


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def run_sshd(tmp: Path) -> Iterator[SshServer]:
    """Start sshd for the current user; yield the server; stop it."""
    if not Path(SSHD).exists() or not Path(SSH_KEYGEN).exists():
        _missing("openssh-server is not installed (.ci/apt.d/x12.txt)")
    if os.geteuid() != 0:
        _missing("sshd needs root to run with its own config here")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    user = pwd.getpwuid(os.geteuid()).pw_name
    _keygen(tmp / "host_key")
    _keygen(tmp / "client_key")
    (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
    port = _free_port()
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\nPidFile {tmp / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PermitRootLogin prohibit-password\nAllowUsers {user}\nSubsystem sftp internal-sftp\n"
        "LogLevel ERROR\n"
    )
    log = (tmp / "sshd.log").open("wb")
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                _missing(f"sshd exited at start: {(tmp / 'sshd.log').read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("sshd did not listen within 10 s") from None
                time.sleep(0.05)
        host_key = (tmp / "host_key.pub").read_text().split()
        known_hosts = f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n"
        root = tmp / "remote"
        root.mkdir()
        yield SshServer(
            port=port, user=user, client_key=tmp / "client_key", known_hosts=known_hosts, root=root
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
