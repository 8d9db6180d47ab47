"""`SftpMailbox`: one connection to a clearinghouse SFTP mailbox.

Authentication is by client key only (no password, no agent); the server's host key must match
the pinned ``known_hosts`` text, otherwise the connection is refused (`MailboxHostKeyRejected`)
before anything is sent. Downloads go to ``.<name>.part`` beside the target and are fsynced, then
renamed, so a reader never sees half a file. ``acknowledge`` removes the remote file (or renames it
into an archive directory); the caller calls it only after the file's records are committed.

Use as ``async with SftpMailbox(config) as box: ...``; asyncssh errors are translated at this
boundary into `adapters.sftp.errors` classes.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import asyncssh

from adapters.sftp.errors import MailboxHostKeyRejected, MailboxUnavailable


@dataclass(frozen=True, slots=True)
class MailboxConfig:
    """Where the mailbox is and how to log in (see `gateway.x12_settings.SftpSettings`)."""

    host: str
    port: int
    username: str
    private_key_file: Path
    known_hosts: str
    remote_dir: str = "."
    archive_dir: str = ""
    connect_timeout: float = 20.0


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A regular file in the remote directory."""

    name: str
    size: int
    mtime: int


def _safe_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


class SftpMailbox:
    """A connected SFTP mailbox (see the module docstring)."""

    def __init__(self, config: MailboxConfig) -> None:
        self._config = config
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None

    async def __aenter__(self) -> SftpMailbox:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Connect, verify the pinned host key, authenticate with the client key, start SFTP."""
        config = self._config
        try:
            known_hosts = asyncssh.import_known_hosts(config.known_hosts)
            client_key = asyncssh.read_private_key(str(config.private_key_file))
        except (OSError, ValueError, asyncssh.KeyImportError) as error:
            raise MailboxUnavailable(f"sftp configuration unusable ({type(error).__name__})") from None
        try:
            self._conn = await asyncssh.connect(
                config.host,
                port=config.port,
                username=config.username,
                known_hosts=known_hosts,
                client_keys=[client_key],
                agent_path=None,
                password=None,
                preferred_auth="publickey",
                connect_timeout=config.connect_timeout,
                config=None,
            )
            self._sftp = await self._conn.start_sftp_client()
        except asyncssh.HostKeyNotVerifiable:
            await self.aclose()
            raise MailboxHostKeyRejected(
                f"sftp host {config.host}:{config.port} presented a host key that is not pinned"
            ) from None
        except (OSError, asyncssh.Error, TimeoutError) as error:
            await self.aclose()
            raise MailboxUnavailable(
                f"sftp {config.host}:{config.port} unavailable ({type(error).__name__})"
            ) from None

    async def aclose(self) -> None:
        """Close the SFTP session and the connection. Idempotent."""
        sftp, self._sftp = self._sftp, None
        conn, self._conn = self._conn, None
        if sftp is not None:
            sftp.exit()
        if conn is not None:
            conn.close()
            await conn.wait_closed()

    def _client(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            raise MailboxUnavailable("sftp mailbox is not open")
        return self._sftp

    def _remote(self, name: str) -> str:
        return posixpath.join(self._config.remote_dir, name)

    async def list(self) -> list[RemoteFile]:
        """Regular files of the remote directory (sub-directories and odd names skipped)."""
        try:
            entries = await self._client().readdir(self._config.remote_dir)
        except (OSError, asyncssh.Error) as error:
            raise MailboxUnavailable(
                f"sftp cannot list the remote directory ({type(error).__name__})"
            ) from None
        files = []
        for entry in entries:
            name = (
                entry.filename
                if isinstance(entry.filename, str)
                else entry.filename.decode("utf-8", "replace")
            )
            mode = entry.attrs.permissions
            if not _safe_name(name) or mode is None or not stat.S_ISREG(mode):
                continue
            files.append(RemoteFile(name=name, size=entry.attrs.size or 0, mtime=int(entry.attrs.mtime or 0)))
        return sorted(files, key=lambda f: f.name)

    async def download(self, name: str, directory: Path) -> Path:
        """Copy ``name`` to ``directory/name`` via a temporary name, fsynced, then renamed."""
        if not _safe_name(name):
            raise MailboxUnavailable("sftp remote name is not a plain file name")
        target = directory / name
        temp = directory / f".{name}.part"
        try:
            await self._client().get(self._remote(name), str(temp))
        except (OSError, asyncssh.Error) as error:
            temp.unlink(missing_ok=True)
            raise MailboxUnavailable(f"sftp download failed ({type(error).__name__})") from None
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        temp.rename(target)
        return target

    async def acknowledge(self, name: str) -> None:
        """Remove the remote file, or move it into the archive directory. A file already gone
        counts as acknowledged (a crash after the first acknowledgment)."""
        client = self._client()
        try:
            if self._config.archive_dir:
                await client.posix_rename(self._remote(name), posixpath.join(self._config.archive_dir, name))
            else:
                await client.remove(self._remote(name))
        except asyncssh.SFTPNoSuchFile:
            return
        except (OSError, asyncssh.Error) as error:
            raise MailboxUnavailable(f"sftp acknowledge failed ({type(error).__name__})") from None
