"""The SFTP mailbox service: polls a clearinghouse mailbox and ingests its X12 files.

Handshake (nothing is removed remotely before it is committed locally)::

    remote file --download (.name.part, fsync, rename)--> inbox/x12/sftp/name
                --ingest_x12_file: every record durably spooled (or the file quarantined)-->
                --acknowledge: remote remove (or rename into sftp.archive_dir)-->
                local copy moved to inbox/x12/done/ (a quarantined file's clear copy is deleted)

A crash anywhere leaves the file either remote (downloaded again next poll) or in the staging
directory ``inbox/x12/sftp/``, which is handled first on every poll: the file is ingested again
(dedup keys are positions in the file, so no duplicate tickets), the remote copy acknowledged (a
file already gone counts as acknowledged), and the local copy moved on. A remote file is taken only
once its size and mtime are the same as at the previous poll (the clearinghouse may still be
writing it); names starting with ``.`` or ending in ``.tmp``/``.part``/``.filepart`` are skipped.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.sftp.errors import MailboxUnavailable
from adapters.sftp.mailbox import MailboxConfig, RemoteFile, SftpMailbox
from fallback.cipher import PayloadCipher
from fallback.errors import SpoolError
from fallback.fsync import fsync_directory
from gateway.dataflow import PHI, FlowEdge, FlowNode, FlowPart
from gateway.inbox import DONE, QUARANTINE, free_name, is_temporary_name
from gateway.quarantine import Quarantine
from gateway.x12_ingest import ingest_x12_file

if TYPE_CHECKING:
    from gateway.runtime import Runtime

log = logging.getLogger("rcmgw.sftp")
STAGING = "sftp"


class SftpMailboxService:
    """A `gateway.runtime.BackgroundService` polling one SFTP mailbox (see the module docstring)."""

    name = "sftp-mailbox"

    def __init__(self, config: MailboxConfig, inbox_dir: Path, *, poll_interval: float) -> None:
        self._config = config
        self.staging = inbox_dir / STAGING
        self.done = inbox_dir / DONE
        self.quarantine_dir = inbox_dir / QUARANTINE
        self._poll_interval = poll_interval
        self._seen: dict[str, tuple[int, int]] = {}
        self._runtime: Runtime | None = None
        self._quarantine: Quarantine | None = None
        self._task: asyncio.Task[None] | None = None

    def dataflow_node(self) -> FlowPart:
        """The clearinghouse mailbox -> (SSH) -> local staging -> normalize."""
        label = f"SFTP mailbox {self._config.host}:{self._config.port}"
        return FlowPart(
            [FlowNode("sftp_mailbox", "source", label)],
            [FlowEdge("sftp_mailbox", "normalize", PHI, "SFTP (SSH, pinned host key)")],
        )

    def prepare(self, runtime: Runtime) -> None:
        """Create the local directories and bind to ``runtime`` without polling."""
        for path in (self.staging, self.done, self.quarantine_dir):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        for leftover in self.staging.glob(".*.part"):
            leftover.unlink()
        self._runtime = runtime
        cipher = PayloadCipher(runtime.keys.spool_keys, runtime.keys.spool_active)
        self._quarantine = Quarantine(self.quarantine_dir, cipher)

    async def start(self, runtime: Runtime) -> None:
        """Start polling."""
        self.prepare(runtime)
        self._task = asyncio.create_task(self._run(), name=self.name)
        log.info("sftp mailbox polling", extra={"host": self._config.host, "port": self._config.port})

    async def stop(self) -> None:
        """Stop polling; a file in flight stays in staging and is finished on the next start."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except (MailboxUnavailable, SpoolError) as error:
                log.warning(
                    "sftp poll failed", extra={"code": error.code, "error_class": type(error).__name__}
                )
            except OSError as error:
                log.error("sftp poll failed", extra={"error_class": type(error).__name__})
            await asyncio.sleep(self._poll_interval)

    async def poll(self) -> int:
        """One poll: finish staged files, then take settled remote files. Returns files handled."""
        handled = 0
        async with SftpMailbox(self._config) as mailbox:
            for path in sorted(self.staging.iterdir()):
                if path.is_file() and not is_temporary_name(path.name):
                    await self._handle(mailbox, path)
                    handled += 1
            for remote in self._settled(await mailbox.list()):
                local = await mailbox.download(remote.name, self.staging)
                fsync_directory(self.staging)
                await self._handle(mailbox, local)
                handled += 1
        return handled

    def _settled(self, listing: list[RemoteFile]) -> list[RemoteFile]:
        previous, self._seen = self._seen, {}
        ready = []
        for remote in listing:
            if is_temporary_name(remote.name):
                continue
            signature = (remote.size, remote.mtime)
            self._seen[remote.name] = signature
            if previous.get(remote.name) == signature:
                ready.append(remote)
        return ready

    async def _handle(self, mailbox: SftpMailbox, path: Path) -> None:
        runtime, quarantine = self._runtime, self._quarantine
        assert runtime is not None and quarantine is not None, "prepare() first"
        outcome = await ingest_x12_file(
            path, runtime.pipeline, quarantine, batch_size=runtime.settings.x12.batch_size
        )
        await mailbox.acknowledge(path.name)  # only now: every record is committed
        await asyncio.to_thread(self._settle_local, path, outcome.rejected)
        self._seen.pop(path.name, None)
        log.info(
            "sftp file ingested",
            extra={
                "file_name": path.name,
                "tickets": len(outcome.results),
                "problems": len(outcome.problems),
                "quarantine_id": outcome.quarantine_id,
            },
        )
        await runtime.audit.record(
            "sftp.file",
            actor=self.name,
            outcome="rejected" if outcome.rejected else "ok",
            host=self._config.host,
            tickets=len(outcome.results),
            problems=len(outcome.problems),
            quarantine_id=outcome.quarantine_id,
        )

    def _settle_local(self, path: Path, rejected: bool) -> None:
        if rejected:
            path.unlink()  # the encrypted copy is in quarantine/
        else:
            path.rename(free_name(self.done, path.name))
            fsync_directory(self.done)
        fsync_directory(self.staging)


def sftp_from_runtime(runtime: Runtime) -> SftpMailboxService:
    """The mailbox service configured by ``runtime.settings.sftp`` (which must be enabled)."""
    settings = runtime.settings
    sftp = settings.sftp
    if sftp.private_key_file is None or not sftp.host or not sftp.username or not sftp.known_hosts.strip():
        raise ValueError("sftp needs host, username, private_key_file and known_hosts")
    config = MailboxConfig(
        host=sftp.host,
        port=sftp.port,
        username=sftp.username,
        private_key_file=sftp.private_key_file,
        known_hosts=sftp.known_hosts,
        remote_dir=sftp.remote_dir,
        archive_dir=sftp.archive_dir,
        connect_timeout=sftp.connect_timeout,
    )
    return SftpMailboxService(config, settings.inbox_dir, poll_interval=sftp.poll_interval)
