"""The watched X12 inbox: files dropped in a directory become tickets; a file is acknowledged (moved
to ``done/``) only after every record from it is durably spooled.

Directory layout (default ``$RCMGW_HOME/inbox/x12``, setting ``inbox.directory``)::

    inbox/x12/             drop files here
    inbox/x12/processing/  claimed files (renamed here atomically, one at a time)
    inbox/x12/done/        files whose every record is committed to the spool
    inbox/x12/quarantine/  <id>.bin (the file, AES-256-GCM) + <id>.reason (one line) for a bad file

Writers: write under a temporary name (a leading ``.``, or ending in ``.tmp``, ``.part`` or
``.filepart``) and rename when complete; such names are never claimed. A file with any other name
is claimed only after its size and mtime stayed the same across ``inbox.settle_polls`` scans, so a
slow writer that writes in place is not read half-written (a writer stalling longer than the poll
interval can still be cut; use the rename). Sub-directories are ignored.

Crash safety: the claim is a ``rename`` (atomic on one file system). A file left in
``processing/`` by a crash is processed again on start; record ids are positions in the file
(sender, ISA13, GS06, ST02, segment number), so the spool's dedup keys are the same and nothing is
spooled twice. A file with problems is quarantined encrypted (its good transaction sets are still
spooled) and its clear copy removed. When the spool cannot commit, the file stays in
``processing/`` and is tried again on the next scan.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from fallback.cipher import PayloadCipher
from fallback.errors import SpoolError
from fallback.fsync import fsync_directory
from gateway.dataflow import IN_PROCESS, PHI, FlowEdge, FlowNode, FlowPart
from gateway.quarantine import Quarantine
from gateway.x12_ingest import X12Outcome, ingest_x12_file

if TYPE_CHECKING:
    from gateway.runtime import Runtime

log = logging.getLogger("rcmgw.inbox")
TEMP_SUFFIXES = (".tmp", ".part", ".filepart")
PROCESSING, DONE, QUARANTINE = "processing", "done", "quarantine"


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` is a writer's temporary name, never claimed."""
    return name.startswith(".") or name.endswith(TEMP_SUFFIXES)


class X12Inbox:
    """A `gateway.runtime.BackgroundService` that watches one directory (see the module docstring)."""

    name = "x12-inbox"

    def __init__(self, directory: Path, *, poll_interval: float, settle_polls: int = 1) -> None:
        self.directory = directory
        self.processing = directory / PROCESSING
        self.done = directory / DONE
        self.quarantine_dir = directory / QUARANTINE
        self._poll_interval = poll_interval
        self._settle_polls = settle_polls
        self._seen: dict[str, tuple[tuple[int, int], int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._runtime: Runtime | None = None
        self._quarantine: Quarantine | None = None

    def dataflow_node(self) -> FlowPart:
        """Files dropped into the inbox (local disk, PHI in the clear until processed) -> normalize;
        rejected files go to quarantine, encrypted."""
        label = "X12 inbox (watched directory, see inbox settings)"
        return FlowPart(
            [FlowNode("x12_inbox", "source", label)],
            [
                FlowEdge("x12_inbox", "normalize", PHI, "local file"),
                FlowEdge("x12_inbox", "quarantine", PHI, IN_PROCESS),
            ],
        )

    async def start(self, runtime: Runtime) -> None:
        """Create the directories and start scanning (files left in processing/ come first)."""
        self.prepare(runtime)
        self._task = asyncio.create_task(self._run(), name=self.name)
        log.info("inbox watching", extra={"directory": str(self.directory)})

    def prepare(self, runtime: Runtime) -> None:
        """Create the directories and bind to ``runtime``, without scanning (`scan` by hand)."""
        for path in (self.directory, self.processing, self.done, self.quarantine_dir):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._runtime = runtime
        cipher = PayloadCipher(runtime.keys.spool_keys, runtime.keys.spool_active)
        self._quarantine = Quarantine(self.quarantine_dir, cipher)

    async def stop(self) -> None:
        """Stop scanning. A file being processed stays in processing/ and is redone on start."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Scan now instead of at the next interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.scan()
            except SpoolError as error:
                log.warning("inbox waits for the spool", extra={"code": error.code})
            except OSError as error:
                log.error("inbox scan failed", extra={"error_class": type(error).__name__})
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()

    async def scan(self) -> int:
        """One pass: finish claimed files, then claim and process the settled new ones. Returns the
        number of files acknowledged or quarantined."""
        handled = 0
        for path in sorted(self.processing.iterdir()):
            if path.is_file():
                await self.process(path)
                handled += 1
        for path in self._settled_files():
            claimed = self._claim(path)
            if claimed is not None:
                await self.process(claimed)
                handled += 1
        return handled

    def _settled_files(self) -> list[Path]:
        ready: list[Path] = []
        current: dict[str, tuple[tuple[int, int], int]] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if is_temporary_name(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
                signature = (stat.st_size, stat.st_mtime_ns)
                previous = self._seen.get(entry.name)
                stable = previous[1] + 1 if previous is not None and previous[0] == signature else 0
                current[entry.name] = (signature, stable)
                if stable >= self._settle_polls:
                    ready.append(Path(entry.path))
        self._seen = current
        return sorted(ready)

    def _claim(self, path: Path) -> Path | None:
        target = self._free_name(self.processing, path.name)
        try:
            path.rename(target)
        except FileNotFoundError:
            return None  # another process claimed it
        fsync_directory(self.processing)
        self._seen.pop(path.name, None)
        log.info("inbox file claimed", extra={"file_name": target.name})
        return target

    async def process(self, path: Path) -> X12Outcome:
        """Ingest one claimed file; move it to done/ after the commit or drop its clear copy once
        it is quarantined. `SpoolError` propagates and leaves the file where it is."""
        runtime, quarantine = self._runtime, self._quarantine
        assert runtime is not None and quarantine is not None, "start() first"
        outcome = await ingest_x12_file(
            path, runtime.pipeline, quarantine, batch_size=runtime.settings.x12.batch_size
        )
        await asyncio.to_thread(self._settle_file, path, outcome.rejected)
        status = "quarantined" if outcome.rejected else "done"
        log.info(
            "inbox file " + status,
            extra={
                "file_name": path.name,
                "tickets": len(outcome.results),
                "new_tickets": sum(1 for r in outcome.results if r.created),
                "evidence": outcome.evidence,
                "resolved": sum(len(result.resolved) for result in outcome.resolved),
                "problems": len(outcome.problems),
                "quarantine_id": outcome.quarantine_id,
            },
        )
        await runtime.audit.record(
            "inbox.file",
            actor=self.name,
            outcome="rejected" if outcome.rejected else "ok",
            tickets=len(outcome.results),
            problems=len(outcome.problems),
            quarantine_id=outcome.quarantine_id,
        )
        return outcome

    def _settle_file(self, path: Path, rejected: bool) -> None:
        """Acknowledge: done/ after the commit, or drop the clear copy of a quarantined file."""
        if rejected:
            path.unlink()
        else:
            path.rename(self._free_name(self.done, path.name))
            fsync_directory(self.done)
        fsync_directory(self.processing)

    @staticmethod
    def _free_name(directory: Path, name: str) -> Path:
        return free_name(directory, name)


def free_name(directory: Path, name: str) -> Path:
    """``directory/name``, or a variant with a random tag when that name is taken."""
    target = directory / name
    if not target.exists():
        return target
    stem, dot, suffix = name.rpartition(".")
    tag = secrets.token_hex(4)
    return directory / (f"{stem}.{tag}.{suffix}" if dot else f"{name}.{tag}")


def inbox_from_runtime(runtime: Runtime) -> X12Inbox:
    """The inbox configured by ``runtime.settings``."""
    settings = runtime.settings
    return X12Inbox(
        settings.inbox_dir,
        poll_interval=settings.inbox.poll_interval,
        settle_polls=settings.inbox.settle_polls,
    )
