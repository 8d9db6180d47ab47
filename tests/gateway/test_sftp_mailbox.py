"""The SFTP mailbox against a real OpenSSH server (internal-sftp on loopback): files are ingested,
removed (or archived) remotely only after the commit, staged files are finished idempotently, and
an unpinned host key is refused before anything is read."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sshdproc import SSH_KEYGEN, SshServer, run_sshd
from testkit import REPO, find_canaries

from adapters.sftp.errors import MailboxHostKeyRejected, MailboxUnavailable
from adapters.sftp.mailbox import MailboxConfig, SftpMailbox
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.sftp_service import SftpMailboxService, sftp_from_runtime

FIXTURES = REPO / "fixtures" / "x12"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    yield from run_sshd(tmp_path_factory.mktemp("sshd"))


@pytest.fixture
def remote(sshd: SshServer, tmp_path: Path) -> Path:
    path = sshd.root / tmp_path.name
    path.mkdir()
    return path


def _config(sshd: SshServer, remote: Path, **changes: object) -> MailboxConfig:
    config = MailboxConfig(
        host="127.0.0.1",
        port=sshd.port,
        username=sshd.user,
        private_key_file=sshd.client_key,
        known_hosts=sshd.known_hosts,
        remote_dir=str(remote),
        connect_timeout=10,
    )
    return replace(config, **changes)  # type: ignore[arg-type]


def _with_service(
    settings: Settings,
    config: MailboxConfig,
    scenario: Callable[[SftpMailboxService, Runtime], Awaitable[None]],
) -> None:
    async def main() -> None:
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        service = SftpMailboxService(config, settings.inbox_dir, poll_interval=3600)
        service.prepare(runtime)
        try:
            await scenario(service, runtime)
        finally:
            await runtime.stop()

    asyncio.run(main())


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def _spooled(runtime: Runtime) -> int:
    return sum(sum(states.values()) for states in (await runtime.spool.depth()).values())


def test_files_are_ingested_then_removed_remotely(sshd: SshServer, remote: Path, settings: Settings) -> None:
    (remote / "denial.835").write_bytes((FIXTURES / "denial-co97.835").read_bytes())
    (remote / "bad.835").write_bytes((FIXTURES / "bad-se-count.835").read_bytes())
    (remote / "upload.835.part").write_bytes(b"ISA*half")

    async def scenario(service: SftpMailboxService, runtime: Runtime) -> None:
        assert await service.poll() == 0, "first sight: the mailbox may still be writing"
        assert _names(remote) == ["bad.835", "denial.835", "upload.835.part"]
        assert await service.poll() == 2
        assert _names(remote) == ["upload.835.part"]
        assert [p.name for p in service.done.iterdir()] == ["denial.835"]
        assert list(service.staging.iterdir()) == []
        [reason] = service.quarantine_dir.glob("*.reason")
        assert "interchange 000000107" in reason.read_text()
        for blob in service.quarantine_dir.glob("*.bin"):
            assert find_canaries(blob.read_bytes()) == []
        assert await _spooled(runtime) == 2  # the denial, and the good claim of the bad file

    _with_service(settings, _config(sshd, remote), scenario)


def test_archive_dir_keeps_the_remote_file(sshd: SshServer, remote: Path, settings: Settings) -> None:
    archive = remote / "archive"
    archive.mkdir()
    (remote / "denial.835").write_bytes((FIXTURES / "denial-co97.835").read_bytes())

    async def scenario(service: SftpMailboxService, runtime: Runtime) -> None:
        await service.poll()
        assert await service.poll() == 1
        assert _names(archive) == ["denial.835"]
        assert "denial.835" not in _names(remote)

    _with_service(settings, _config(sshd, remote, archive_dir=str(archive)), scenario)


def test_a_crash_after_download_is_finished_without_duplicates(
    sshd: SshServer, remote: Path, settings: Settings
) -> None:
    data = (FIXTURES / "277ca-batch-a7-562.277").read_bytes()
    (remote / "batch.277").write_bytes(data)

    async def scenario(service: SftpMailboxService, runtime: Runtime) -> None:
        await service.poll()
        await service.poll()
        spooled = await _spooled(runtime)
        assert spooled >= 1 and "batch.277" not in _names(remote)
        # as if the process died after the commit, before the remote remove and the local move:
        (remote / "batch.277").write_bytes(data)
        (service.staging / "batch.277").write_bytes(data)
        (service.staging / ".other.835.part").write_bytes(b"ISA")
        service.prepare(runtime)  # a restart drops half-downloaded files
        assert await service.poll() == 1
        assert "batch.277" not in _names(remote)
        assert list(service.staging.iterdir()) == []
        assert await _spooled(runtime) == spooled

    _with_service(settings, _config(sshd, remote), scenario)


def test_an_unpinned_host_key_is_refused(sshd: SshServer, remote: Path, tmp_path: Path) -> None:
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    kind, key = (tmp_path / "other.pub").read_text().split()[:2]
    (remote / "denial.835").write_bytes((FIXTURES / "denial-co97.835").read_bytes())

    async def main() -> None:
        for known in (f"[127.0.0.1]:{sshd.port} {kind} {key}\n", f"[otherhost]:22 {kind} {key}\n"):
            with pytest.raises(MailboxHostKeyRejected):
                await SftpMailbox(_config(sshd, remote, known_hosts=known)).open()

    asyncio.run(main())
    assert _names(remote) == ["denial.835"]


def test_a_wrong_client_key_is_unavailable(sshd: SshServer, remote: Path, tmp_path: Path) -> None:
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True
    )

    async def main() -> None:
        with pytest.raises(MailboxUnavailable) as caught:
            await SftpMailbox(_config(sshd, remote, private_key_file=tmp_path / "stranger")).open()
        assert not isinstance(caught.value, MailboxHostKeyRejected)

    asyncio.run(main())


def test_settings_build_the_service(settings: Settings, sshd: SshServer, remote: Path) -> None:
    configured = settings.model_copy(
        update={
            "sftp": settings.sftp.model_copy(
                update={
                    "enabled": True,
                    "host": "127.0.0.1",
                    "port": sshd.port,
                    "username": sshd.user,
                    "private_key_file": sshd.client_key,
                    "known_hosts": sshd.known_hosts,
                    "remote_dir": str(remote),
                }
            )
        }
    )
    runtime = Runtime.build(configured)
    names = [s.name for s in runtime.services]
    assert names.index("x12-inbox") < names.index("sftp-mailbox")
    assert isinstance(sftp_from_runtime(runtime), SftpMailboxService)
